package layers

import (
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func init() {
	Register(ops.OpFlatten, buildReshape)
	Register(ops.OpReshape, buildReshape)
}

// reshape is Flatten or Reshape: a new shape for the same row-major data
// (ops.FlattenShape, ops.ReshapeShape, resolved when a plan is made, so a
// dynamic batch works). Where the planner cannot alias the buffers it
// records a copy of the data: a unary.comp identity dispatch, not a
// whole-buffer copy, since buffers may be larger than the tensor.
type reshape struct {
	d *engine.Device
}

func buildReshape(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if _, err := n.resolve(); err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	if name := n.input(1); name != "" && n.constant(1) == nil {
		return nil, n.errorf("shape %q is computed at run time: %w (give it as a constant or the shape attribute)", name, ErrUnsupported)
	}
	return &reshape{d: b.Dev}, nil
}

func (l *reshape) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return RecordUnary(r, l.d, Unary{Op: ops.UnaryIdentity, N: shapes[0].Elems()}, in[0], out[0])
}

func (l *reshape) Close() {}
