package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// UnaryOp selects the function of shaders/unary.comp (its OP constant).
type UnaryOp uint32

// The unary functions; Unary.Alpha and Unary.Beta are their parameters.
const (
	UnaryIdentity  UnaryOp = iota // x (a copy)
	UnaryRelu                     // x < 0 ? 0 : x
	UnaryLeakyRelu                // x < 0 ? Alpha*x : x
	UnarySigmoid                  // 1 / (1 + exp(-x)), stable
	UnaryTanh                     // tanh(x), stable
	UnaryClip                     // x < Alpha ? Alpha : x, then > Beta ? Beta : x
	numUnaryOps
)

func (op UnaryOp) String() string {
	switch op {
	case UnaryIdentity:
		return "Identity"
	case UnaryRelu:
		return "Relu"
	case UnaryLeakyRelu:
		return "LeakyRelu"
	case UnarySigmoid:
		return "Sigmoid"
	case UnaryTanh:
		return "Tanh"
	case UnaryClip:
		return "Clip"
	}
	return fmt.Sprintf("UnaryOp(%d)", uint32(op))
}

// Unary describes y[OffY+i] = Op(x[OffX+i]) for i < N, for RecordUnary.
// Offsets are in elements; with UnaryIdentity it copies a range.
type Unary struct {
	Op          UnaryOp
	Alpha, Beta float32
	N           int
	OffX, OffY  int
}

// RecordUnary records u from x into y. N = 0 records nothing.
func RecordUnary(r *engine.Recorder, d *engine.Device, u Unary, x, y *engine.Buffer) error {
	if u.Op >= numUnaryOps {
		return fmt.Errorf("layers: unary: unknown op %d", uint32(u.Op))
	}
	if u.N < 0 || u.OffX < 0 || u.OffY < 0 {
		return fmt.Errorf("layers: unary %v: negative size or offset in %+v", u.Op, u)
	}
	if x.Len() < u.OffX+u.N || y.Len() < u.OffY+u.N {
		return fmt.Errorf("layers: unary %v of %d elements at x+%d, y+%d: buffers hold %d and %d", u.Op, u.N, u.OffX, u.OffY, x.Len(), y.Len())
	}
	if u.N == 0 {
		return nil
	}
	p, err := d.Pipeline("unary", engine.Spec{"local_size_x": elementLocal(d, u.N), "OP": uint32(u.Op)})
	if err != nil {
		return fmt.Errorf("layers: unary %v: %w", u.Op, err)
	}
	push := []uint32{u32(u.N), u32(u.OffX), u32(u.OffY), math.Float32bits(u.Alpha), math.Float32bits(u.Beta)}
	return r.Dispatch(p, []*engine.Buffer{x, y}, push, d.Grid(p, uint64(u.N)))
}

// ONNX op names of the element-wise layers registered here.
const (
	OpLeakyRelu = "LeakyRelu"
	OpSigmoid   = "Sigmoid"
	OpTanh      = "Tanh"
	OpClip      = "Clip"
	OpIdentity  = "Identity"
	OpDropout   = "Dropout"
)

func init() {
	Register(OpLeakyRelu, buildLeakyRelu)
	Register(OpSigmoid, buildPlainUnary(UnarySigmoid))
	Register(OpTanh, buildPlainUnary(UnaryTanh))
	Register(OpClip, buildClip)
	Register(OpIdentity, buildPlainUnary(UnaryIdentity))
	Register(OpDropout, buildDropout)
}

// unary is an element-wise layer of one runtime input.
type unary struct {
	d    *engine.Device
	op   string
	name string
	u    Unary
}

func newUnary(n node, u Unary) (Layer, error) {
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	return &unary{d: n.b.Dev, op: n.Op, name: n.Name, u: u}, nil
}

func buildPlainUnary(op UnaryOp) Builder {
	return func(b *Build, mn *model.Node) (Layer, error) {
		n := node{mn, b}
		if err := n.inputs(1, 1); err != nil {
			return nil, err
		}
		if err := n.allow(); err != nil {
			return nil, err
		}
		return newUnary(n, Unary{Op: op})
	}
}

func buildLeakyRelu(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(1, 1); err != nil {
		return nil, err
	}
	if err := n.allow("alpha"); err != nil {
		return nil, err
	}
	alpha, err := n.float("alpha", 0.01)
	if err != nil {
		return nil, err
	}
	if math.IsInf(float64(alpha), 0) {
		return nil, n.errorf("alpha is %v", alpha)
	}
	return newUnary(n, Unary{Op: UnaryLeakyRelu, Alpha: alpha})
}

// buildClip takes min and max as float attributes (the importer's form for
// constant bounds) or, as ONNX opset 11 and later write them, as optional
// scalar inputs 1 and 2, constant or computed at run time. A bound given at
// run time is applied by binary.comp's max/min (one more dispatch each);
// constant ones by the unary kernel.
func buildClip(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(1, 3); err != nil {
		return nil, err
	}
	if err := n.allow("min", "max"); err != nil {
		return nil, err
	}
	lo, err := n.float("min", float32(math.Inf(-1)))
	if err != nil {
		return nil, err
	}
	hi, err := n.float("max", float32(math.Inf(1)))
	if err != nil {
		return nil, err
	}
	var runtime [2]bool
	for i, bound := range []*float32{&lo, &hi} {
		name := n.input(i + 1)
		if name == "" {
			continue
		}
		if _, dup := n.Attr([]string{"min", "max"}[i]); dup {
			return nil, n.errorf("%s given both as an attribute and as input %q", []string{"min", "max"}[i], name)
		}
		t := n.constant(i + 1)
		if t == nil {
			runtime[i] = true
			continue
		}
		if len(t.Data) != 1 {
			return nil, n.errorf("bound %q has shape %v, want a scalar", name, t.Shape)
		}
		if math.IsNaN(float64(t.Data[0])) {
			return nil, n.errorf("bound %q is NaN", name)
		}
		*bound = t.Data[0]
	}
	if n.input(0) == "" || n.constant(0) != nil {
		return nil, n.errorf("input %q must be computed at run time", n.input(0))
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	if !runtime[0] && !runtime[1] {
		return newUnary(n, Unary{Op: UnaryClip, Alpha: lo, Beta: hi})
	}
	return &clipLayer{d: b.Dev, name: n.Name, lo: lo, hi: hi, runtime: runtime}, nil
}

// clipLayer is Clip with at least one bound computed at run time (a scalar
// runtime input): y = min(max(x, lo), hi), as ONNX Runtime computes it (so
// hi wins when lo > hi), each bound from its constant or its input.
type clipLayer struct {
	d       *engine.Device
	name    string
	lo, hi  float32 // the constant bounds (±Inf when absent)
	runtime [2]bool // min, max given at run time
}

func (l *clipLayer) rt() int {
	n := 1
	for _, r := range l.runtime {
		if r {
			n++
		}
	}
	return n
}

func (l *clipLayer) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(OpClip, l.name, in, l.rt()); err != nil {
		return nil, err
	}
	for _, s := range in[1:] {
		if s.Elems() != 1 {
			return nil, fmt.Errorf("layers: Clip %q: a bound has shape %v, want a scalar", l.name, s)
		}
	}
	return []Shape{append(Shape{}, in[0]...)}, nil
}

// Record writes y in steps, each reading the previous result in place:
// max with the lower bound, then min with the upper, each by the unary
// kernel when constant or binary.comp when given at run time.
func (l *clipLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	n := shapes[0].Elems()
	src, next := in[0], 1
	for i, c := range []Unary{{Op: UnaryClip, Alpha: l.lo, Beta: float32(math.Inf(1))}, {Op: UnaryClip, Alpha: float32(math.Inf(-1)), Beta: l.hi}} {
		if !l.runtime[i] && math.IsInf(float64([]float32{l.lo, l.hi}[i]), 0) {
			continue // no bound
		}
		var err error
		if l.runtime[i] {
			op := []BinaryOp{BinaryMax, BinaryMin}[i]
			err = RecordBinary(r, l.d, Binary{Op: op, A: shapes[0], B: shapes[next]}, src, in[next], out[0])
			next++
		} else {
			c.N = n
			err = RecordUnary(r, l.d, c, src, out[0])
		}
		if err != nil {
			return fmt.Errorf("layers: Clip %q: %w", l.name, err)
		}
		src = out[0]
	}
	return nil
}

func (l *clipLayer) Close() {}

// buildDropout is the inference form of Dropout: the identity. The ratio
// (attribute or input 1) is ignored; training_mode (input 2, opset 12+)
// must be absent or a constant 0; the optional mask output is not made.
func buildDropout(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(1, 3); err != nil {
		return nil, err
	}
	if err := n.allow("ratio", "seed", "is_test"); err != nil {
		return nil, err
	}
	if v, err := n.int("is_test", 1); err != nil {
		return nil, err
	} else if v == 0 {
		return nil, n.errorf("is_test = 0 (training): %w", ErrUnsupported)
	}
	if name := n.input(1); name != "" && n.constant(1) == nil {
		return nil, n.errorf("ratio %q is computed at run time: %w", name, ErrUnsupported)
	}
	if name := n.input(2); name != "" {
		t := n.constant(2)
		if t == nil {
			return nil, n.errorf("training_mode %q is computed at run time: %w", name, ErrUnsupported)
		}
		if len(t.Data) != 1 || t.Data[0] != 0 {
			return nil, n.errorf("training_mode %q is not a constant false: %w (inference only)", name, ErrUnsupported)
		}
	}
	if len(n.Outputs) > 1 {
		return nil, n.errorf("the mask output %q: %w (inference only; drop it at import)", n.Outputs[1], ErrUnsupported)
	}
	return newUnary(n, Unary{Op: UnaryIdentity})
}

func (l *unary) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(l.op, l.name, in, 1); err != nil {
		return nil, err
	}
	return []Shape{append(Shape{}, in[0]...)}, nil
}

func (l *unary) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	u := l.u
	u.N = shapes[0].Elems()
	return RecordUnary(r, l.d, u, in[0], out[0])
}

func (l *unary) Close() {}
