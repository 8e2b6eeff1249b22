package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// OpLogSoftmax is ONNX LogSoftmax; Softmax is ops.OpSoftmax.
const OpLogSoftmax = "LogSoftmax"

func init() {
	Register(ops.OpSoftmax, buildSoftmax(false))
	Register(OpLogSoftmax, buildSoftmax(true))
}

// AttrCoerce2D is the int attribute of Softmax and LogSoftmax that selects
// ONNX opset 1-12 semantics (1): the input is coerced to a 2-D matrix
// [prod(shape[:axis]), prod(shape[axis:])] and normalised along its rows.
// The default (0) is opset 13: normalise along the one axis.
const AttrCoerce2D = "coerce_2d"

// softmax normalises along one axis, numerically stable. The axis defaults
// to -1 when absent (mlp.bin's Softmax; the ONNX importer always writes it).
type softmax struct {
	d        *engine.Device
	op, name string
	axis     int
	log      bool
	coerce   bool
}

func buildSoftmax(log bool) Builder {
	return func(b *Build, mn *model.Node) (Layer, error) {
		n := node{mn, b}
		if err := n.inputs(1, 1); err != nil {
			return nil, err
		}
		if err := n.allow(ops.AttrAxis, AttrCoerce2D); err != nil {
			return nil, err
		}
		if err := n.runtimeData(); err != nil {
			return nil, err
		}
		if err := n.outputs(1); err != nil {
			return nil, err
		}
		axis, err := n.int(ops.AttrAxis, -1)
		if err != nil {
			return nil, err
		}
		coerce, err := n.bool(AttrCoerce2D, false)
		if err != nil {
			return nil, err
		}
		if axis < -1<<20 || axis > 1<<20 {
			return nil, n.errorf("axis %d is out of range", axis)
		}
		return &softmax{d: b.Dev, op: n.Op, name: n.Name, axis: int(axis), log: log, coerce: coerce}, nil
	}
}

// split returns the [Outer, N, Inner] view of shape s.
func (l *softmax) split(s Shape) (Softmax, error) {
	r := len(s)
	if r == 0 {
		return Softmax{}, fmt.Errorf("layers: %s %q of a scalar", l.op, l.name)
	}
	axis := l.axis
	if axis < -r || axis >= r {
		return Softmax{}, fmt.Errorf("layers: %s %q: axis %d is out of range for shape %v", l.op, l.name, l.axis, s)
	}
	if axis < 0 {
		axis += r
	}
	sm := Softmax{Outer: 1, N: 1, Inner: 1, Log: l.log}
	for i, d := range s {
		switch {
		case i < axis:
			sm.Outer *= d
		case i == axis || l.coerce:
			sm.N *= d
		default:
			sm.Inner *= d
		}
	}
	return sm, nil
}

func (l *softmax) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(l.op, l.name, in, 1); err != nil {
		return nil, err
	}
	if _, err := l.split(in[0]); err != nil {
		return nil, err
	}
	return []Shape{append(Shape{}, in[0]...)}, nil
}

func (l *softmax) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	sm, err := l.split(shapes[0])
	if err != nil {
		return err
	}
	return RecordSoftmaxAxis(r, l.d, sm, in[0], out[0])
}

func (l *softmax) Close() {}
