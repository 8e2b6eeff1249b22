package layers

import (
	"fmt"
	"math"
	"sort"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// node wraps a model node for builders: errors that name it, attribute
// readers that check kinds, and input classification.
type node struct {
	*model.Node
	b *Build
}

// errorf returns an error naming the node: "layers: Op "name": ...".
func (n node) errorf(format string, args ...any) error {
	return fmt.Errorf("layers: %s %q: %w", n.Op, n.Name, fmt.Errorf(format, args...))
}

// resolve checks the node against its op's definition (arity, attributes)
// and returns its attributes with defaults.
func (n node) resolve() (ops.Attrs, error) {
	_, a, err := ops.Resolve(n.Node)
	if err != nil {
		return a, fmt.Errorf("layers: %w", err)
	}
	return a, nil
}

// allow rejects attributes outside names (ErrUnsupported): an attribute
// this build does not know may change the op's meaning.
func (n node) allow(names ...string) error {
	var extra []string
	for k := range n.Attrs {
		known := false
		for _, a := range names {
			known = known || a == k
		}
		if !known {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return n.errorf("attribute(s) %v: %w (supported: %v)", extra, ErrUnsupported, names)
	}
	return nil
}

// int returns the int attribute name, or def when absent.
func (n node) int(name string, def int64) (int64, error) {
	a, ok := n.Attr(name)
	if !ok {
		return def, nil
	}
	if a.Kind != model.AttrInt {
		return 0, n.errorf("attribute %s must be an int, is %s", name, a.Kind)
	}
	return a.Int, nil
}

// bool returns the 0/1 int attribute name, or def when absent.
func (n node) bool(name string, def bool) (bool, error) {
	d := int64(0)
	if def {
		d = 1
	}
	v, err := n.int(name, d)
	if err != nil {
		return false, err
	}
	if v != 0 && v != 1 {
		return false, n.errorf("attribute %s is %d, want 0 or 1", name, v)
	}
	return v == 1, nil
}

// float returns the float attribute name, or def when absent. An int
// attribute is accepted too (exporters sometimes write alpha=1 as an int).
func (n node) float(name string, def float32) (float32, error) {
	a, ok := n.Attr(name)
	if !ok {
		return def, nil
	}
	switch a.Kind {
	case model.AttrFloat:
		if math.IsNaN(float64(a.Float)) {
			return 0, n.errorf("attribute %s is NaN", name)
		}
		return a.Float, nil
	case model.AttrInt:
		return float32(a.Int), nil
	}
	return 0, n.errorf("attribute %s must be a float, is %s", name, a.Kind)
}

// input returns the name of input i, "" when absent or empty (an omitted
// optional input).
func (n node) input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// constant returns the constant input i, nil when it is absent or computed
// at run time.
func (n node) constant(i int) *model.Tensor {
	name := n.input(i)
	if name == "" {
		return nil
	}
	return n.b.Const(name)
}

// inputs checks the input count is within [lo, hi].
func (n node) inputs(lo, hi int) error {
	if len(n.Inputs) < lo || len(n.Inputs) > hi {
		if lo == hi {
			return n.errorf("takes %d inputs, got %d", lo, len(n.Inputs))
		}
		return n.errorf("takes %d to %d inputs, got %d", lo, hi, len(n.Inputs))
	}
	return nil
}

// outputs checks the node has exactly k outputs.
func (n node) outputs(k int) error {
	if len(n.Outputs) != k {
		return n.errorf("makes %d output(s), the node names %d: %w", k, len(n.Outputs), ErrUnsupported)
	}
	return nil
}

// runtimeData requires input 0 to be computed at run time.
func (n node) runtimeData() error {
	if n.input(0) == "" {
		return n.errorf("has no data input")
	}
	if n.constant(0) != nil {
		return n.errorf("data input %q is a constant: %w (fold the node at import)", n.input(0), ErrUnsupported)
	}
	return nil
}

// operand is an input that is either a runtime input (index into the
// layer's runtime inputs) or a constant uploaded at build time.
type operand struct {
	rt    int // runtime input index, -1 for a constant
	shape Shape
	buf   *engine.Buffer
}

// biasOperand is operand for an optional bias input i (Conv's and
// ConvTranspose's B): when the node has none, a one-float zero buffer is
// uploaded and bound in its place, and returned as noBias for the layer
// to close (nil when the bias is given).
func (n node) biasOperand(i int, rt *int) (b operand, noBias *engine.Buffer, err error) {
	if n.input(i) != "" {
		b, err = n.operand(i, rt)
		return b, nil, err
	}
	if noBias, err = upload(n.b.Dev, &model.Tensor{Name: n.Name + ".nobias", Shape: []int{1}, Data: []float32{0}}); err != nil {
		return operand{}, nil, err
	}
	return operand{rt: -1, buf: noBias}, noBias, nil
}

// operand classifies input i and uploads it when it is a constant; *rt
// counts the runtime inputs so far.
func (n node) operand(i int, rt *int) (operand, error) {
	o, t, err := n.operandLazy(i, rt)
	if err != nil || t == nil {
		return o, err
	}
	if o.buf, err = uploadPadded(n.b.Dev, t); err != nil {
		return operand{}, n.errorf("%w", err)
	}
	return o, nil
}

// operandLazy is operand without the upload: for a constant it returns the
// checked tensor and an operand with its shape and no buffer, for a layer
// that uploads it only when a kernel reads it in that layout.
func (n node) operandLazy(i int, rt *int) (operand, *model.Tensor, error) {
	t := n.constant(i)
	if t == nil {
		o := operand{rt: *rt}
		*rt++
		return o, nil, nil
	}
	if t.Elements() < 0 || t.Elements() != len(t.Data) {
		return operand{}, nil, n.errorf("constant %q has shape %v and %d values", t.Name, t.Shape, len(t.Data))
	}
	return operand{rt: -1, shape: append(Shape{}, t.Shape...)}, t, nil
}

// shapeOf returns the operand's shape given the runtime input shapes.
func (o operand) shapeOf(in []Shape) Shape {
	if o.rt >= 0 {
		return in[o.rt]
	}
	return o.shape
}

// bufOf returns the operand's buffer given the runtime input buffers.
func (o operand) bufOf(in []*engine.Buffer) *engine.Buffer {
	if o.rt >= 0 {
		return in[o.rt]
	}
	return o.buf
}

// uploadPadded is upload that also takes empty tensors (a buffer of one
// unread element: buffers cannot be empty).
func uploadPadded(d *engine.Device, t *model.Tensor) (*engine.Buffer, error) {
	if len(t.Data) > 0 {
		return upload(d, t)
	}
	return upload(d, &model.Tensor{Name: t.Name, Shape: []int{1}, Data: []float32{0}})
}

// checkRuntime checks the count of runtime input shapes.
func checkRuntime(op, name string, in []Shape, want int) error {
	if len(in) != want {
		return fmt.Errorf("layers: %s %q takes %d runtime input(s), got %d", op, name, want, len(in))
	}
	return nil
}
