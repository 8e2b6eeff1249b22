package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// OpBiasAdd is y = x + b with a constant b broadcast over the last axis.
const OpBiasAdd = "BiasAdd"

func init() { Register(OpBiasAdd, buildBias) }

type biasAdd struct {
	d    *engine.Device
	name string
	b    *engine.Buffer
	n    int
}

func buildBias(b *Build, n *model.Node) (Layer, error) {
	if len(n.Inputs) != 2 {
		return nil, fmt.Errorf("layers: BiasAdd %q takes inputs (x, b), got %d", n.Name, len(n.Inputs))
	}
	t := b.Const(n.Inputs[1])
	if t == nil {
		return nil, fmt.Errorf("layers: BiasAdd %q: bias %q must be a constant: %w", n.Name, n.Inputs[1], ErrUnsupported)
	}
	buf, err := upload(b.Dev, t)
	if err != nil {
		return nil, err
	}
	return &biasAdd{d: b.Dev, name: n.Name, b: buf, n: t.Elements()}, nil
}

func (l *biasAdd) Infer(in []Shape) ([]Shape, error) {
	if err := oneInput("BiasAdd", in); err != nil {
		return nil, err
	}
	s := in[0]
	if len(s) == 0 || s[len(s)-1] != l.n {
		return nil, fmt.Errorf("layers: BiasAdd %q takes [..., %d], got %v", l.name, l.n, s)
	}
	return []Shape{append(Shape(nil), s...)}, nil
}

func (l *biasAdd) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return RecordBias(r, l.d, in[0], l.b, out[0], shapes[0].Elems(), l.n)
}

func (l *biasAdd) Close() { l.b.Close() }
