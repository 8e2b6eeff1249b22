package vkinfer

import (
	"fmt"

	"github.com/vkinfer/vkinfer/layers"
)

// Reserve plans and records the model for inputs of the given shapes (one
// per input, in the order of Spec().Inputs, batch dimension included) and
// allocates that plan's activations, without running it: the first Run at
// these shapes then starts at once, and Device.Stats shows the memory the
// plan holds. A server calls it at start-up for the batch sizes it expects.
// The plan stays cached as one a Run made would (at most 8 per model, the
// least recently used leaving first). Errors wrap ErrShape for shapes the
// model does not take.
func (m *Model) Reserve(shapes ...[]int) error {
	want := m.spec.Inputs
	if len(shapes) != len(want) {
		return fmt.Errorf("vkinfer: %w: reserve: model takes %d input(s) %v, got %d shapes", ErrShape, len(want), names(want), len(shapes))
	}
	sh := make([]layers.Shape, len(shapes))
	for i, s := range shapes {
		ok := want[i].Takes(s)
		for _, d := range s {
			ok = ok && d > 0
		}
		if !ok {
			return fmt.Errorf("vkinfer: %w: reserve: input %q takes shape %v (-1 = any size, every dimension > 0), got %v", ErrShape, want[i].Name, want[i].Shape, s)
		}
		sh[i] = append(layers.Shape(nil), s...)
	}
	p, err := m.acquire(sh)
	if err != nil {
		return err
	}
	m.release(p)
	return nil
}
