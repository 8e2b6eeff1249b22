package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// ONNX op names of the shape-only layers.
const (
	OpFlatten = "Flatten"
	OpReshape = "Reshape"
)

// Attribute names of Reshape. The importer turns Reshape's "shape" input
// into the ints attribute "shape".
const (
	AttrShape     = "shape"
	AttrAllowZero = "allowzero"
)

func init() {
	Register(OpFlatten, buildFlatten)
	Register(OpReshape, buildReshape)
}

// reshape is Flatten or Reshape: a new shape for the same row-major data,
// inferred from the runtime input shape (so a dynamic batch works), and a
// copy of the data (the facade gives every output its own buffer, which may
// be larger than the tensor, so the copy is a unary.comp identity dispatch,
// not a whole-buffer copy).
type reshape struct {
	d        *engine.Device
	op, name string
	infer    func(Shape) (Shape, error)
}

func buildFlatten(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(1, 1); err != nil {
		return nil, err
	}
	if err := n.allow(model.AttrAxis); err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	axis, err := n.int(model.AttrAxis, 1)
	if err != nil {
		return nil, err
	}
	l := &reshape{d: b.Dev, op: n.Op, name: n.Name}
	l.infer = func(s Shape) (Shape, error) { return FlattenShape(s, int(axis)) }
	return l, nil
}

// FlattenShape is ONNX Flatten's output shape: [prod(s[:axis]),
// prod(s[axis:])], axis in [-rank, rank] (negative counts from the end).
func FlattenShape(s Shape, axis int) (Shape, error) {
	r := len(s)
	if axis < -r || axis > r {
		return nil, fmt.Errorf("axis %d is out of range for shape %v", axis, s)
	}
	if axis < 0 {
		axis += r
	}
	return Shape{s[:axis].Elems(), s[axis:].Elems()}, nil
}

func buildReshape(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(1, 2); err != nil {
		return nil, err
	}
	if err := n.allow(AttrShape, AttrAllowZero); err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	allowZero, err := n.bool(AttrAllowZero, false)
	if err != nil {
		return nil, err
	}
	var target []int64
	a, hasAttr := n.Attr(AttrShape)
	switch {
	case hasAttr && n.input(1) != "":
		return nil, n.errorf("shape given both as an attribute and as input %q", n.input(1))
	case hasAttr:
		if a.Kind != model.AttrInts {
			return nil, n.errorf("attribute shape must be ints, is %s", a.Kind)
		}
		target = a.Ints
	case n.input(1) != "":
		t := n.constant(1)
		if t == nil {
			return nil, n.errorf("shape %q is computed at run time: %w (give it as a constant or the shape attribute)", n.input(1), ErrUnsupported)
		}
		if len(t.Shape) != 1 {
			return nil, n.errorf("shape %q has shape %v, want 1-D", t.Name, t.Shape)
		}
		for _, v := range t.Data {
			if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<30 {
				return nil, n.errorf("shape %q holds %v, not an integer", t.Name, v)
			}
			target = append(target, int64(v))
		}
	default:
		return nil, n.errorf("no target shape (attribute shape or input 1)")
	}
	want := make([]int, len(target))
	for i, v := range target {
		if v < -1 || v > math.MaxInt32 {
			return nil, n.errorf("shape %v: dimension %d is %d", target, i, v)
		}
		want[i] = int(v)
	}
	// Structural checks now (several -1, -1 with allowzero's literal 0),
	// against a stand-in input of ones; sizes are checked at run time.
	ones := make(Shape, len(want))
	for i := range ones {
		ones[i] = 1
	}
	if _, err := ReshapeShape(ones, want, allowZero); err != nil && !isSizeMismatch(err) {
		return nil, n.errorf("%w", err)
	}
	l := &reshape{d: b.Dev, op: n.Op, name: n.Name}
	l.infer = func(s Shape) (Shape, error) { return ReshapeShape(s, want, allowZero) }
	return l, nil
}

// errReshapeSize is ReshapeShape's error for element counts that differ.
type errReshapeSize struct{ in, out string }

func (e errReshapeSize) Error() string {
	return fmt.Sprintf("cannot reshape %s into %s: element counts differ", e.in, e.out)
}

func isSizeMismatch(err error) bool { _, ok := err.(errReshapeSize); return ok }

// ReshapeShape resolves ONNX Reshape's target shape for input shape s:
// 0 copies the input's dimension at the same index (unless allowZero, where
// 0 is a zero dimension), -1 is inferred from the element count (at most
// one). The result has as many elements as s.
func ReshapeShape(s Shape, target []int, allowZero bool) (Shape, error) {
	out := make(Shape, len(target))
	infer := -1
	zero := false
	known := 1
	for i, d := range target {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d < -1:
			return nil, fmt.Errorf("shape %v: dimension %d is %d", target, i, d)
		case d == 0 && !allowZero:
			if i >= len(s) {
				return nil, fmt.Errorf("shape %v copies dimension %d (0) of the rank-%d input %v", target, i, len(s), s)
			}
			out[i] = s[i]
		case d == 0:
			zero = true
		default:
			out[i] = d
		}
		known *= out[i]
	}
	total := s.Elems()
	if infer >= 0 {
		if zero {
			return nil, fmt.Errorf("shape %v has both -1 and a literal 0 (allowzero)", target)
		}
		if known == 0 {
			return nil, fmt.Errorf("shape %v: -1 is ambiguous next to a zero dimension (input %v)", target, s)
		}
		out[infer] = total / known
	}
	if out.Elems() != total {
		return nil, errReshapeSize{Shape(s).String(), out.String()}
	}
	return out, nil
}

func (l *reshape) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(l.op, l.name, in, 1); err != nil {
		return nil, err
	}
	out, err := l.infer(in[0])
	if err != nil {
		return nil, fmt.Errorf("layers: %s %q: %w", l.op, l.name, err)
	}
	return []Shape{out}, nil
}

func (l *reshape) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return RecordUnary(r, l.d, Unary{Op: UnaryIdentity, N: shapes[0].Elems()}, in[0], out[0])
}

func (l *reshape) Close() {}
