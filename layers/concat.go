package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Concat (semantics in ops/def_data.go) on the GPU: for each index of the
// dimensions before the axis, each input's contiguous chunk is copied to
// its place in the output with unary.comp's identity at element offsets:
// outer × inputs range copies (one per input when the axis is the first
// dimension that is not 1, e.g. channels at batch 1). An input that is
// already in its place in the output (the planner had its producer write
// it there: planner.Step.InPlace, at batch > 1 image by image) is not
// copied.
type concat struct {
	d   *engine.Device
	a   ops.Attrs
	ins []operand
}

func init() { Register(ops.OpConcat, buildConcat) }

func buildConcat(b *Build, mn *model.Node) (l Layer, err error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	c := &concat{d: b.Dev, a: a}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	rt := 0
	for i := range n.Inputs {
		if n.input(i) == "" {
			return nil, n.errorf("input %d is empty", i)
		}
		o, err := n.operand(i, &rt)
		if err != nil {
			return nil, err
		}
		c.ins = append(c.ins, o)
	}
	if rt == 0 {
		return nil, n.errorf("all inputs are constants: %w (fold the node at import)", ErrUnsupported)
	}
	return c, nil
}

func (c *concat) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	vals := make([]ops.Value, len(c.ins))
	for i, o := range c.ins {
		vals[i] = ops.Value{Shape: o.shapeOf(shapes)}
	}
	os, err := ops.Lookup(ops.OpConcat).Infer(c.a, vals)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	shape := os[0]
	axis := int(c.a.Int(ops.AttrAxis))
	if axis < 0 {
		axis += len(shape)
	}
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	outChunk := shape[axis] * inner
	off := 0
	for i, o := range c.ins {
		chunk := vals[i].Shape[axis] * inner
		if o.rt >= 0 {
			// Written in place by its producer (planner: Step.InPlace; at
			// outer > 1 image by image, its images a stride of outChunk
			// apart there: planner.Plan.SlotStride): nothing to copy.
			if at, ok := in[o.rt].OffsetIn(out[0]); ok && at == 4*int64(off) {
				off += chunk
				continue
			}
		}
		for k := 0; k < outer && chunk > 0; k++ {
			u := Unary{Op: ops.UnaryIdentity, N: chunk, OffX: k * chunk, OffY: k*outChunk + off}
			if err := RecordUnary(r, c.d, u, o.bufOf(in), out[0]); err != nil {
				return fmt.Errorf("layers: Concat %q: %w", c.a.Node.Name, err)
			}
		}
		off += chunk
	}
	return nil
}

func (c *concat) Close() {
	for _, o := range c.ins {
		if o.rt < 0 && o.buf != nil {
			o.buf.Close()
		}
	}
}
