package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Unary describes y[OffY+i] = Op(x[OffX+i]) for i < N, for RecordUnary.
// Offsets are in elements; with UnaryIdentity it copies a range.
type Unary struct {
	Op          ops.UnaryOp // shaders/unary.comp's OP constant is its value
	Alpha, Beta float32
	N           int
	OffX, OffY  int
}

// RecordUnary records u from x into y. N = 0 records nothing.
func RecordUnary(r *engine.Recorder, d *engine.Device, u Unary, x, y *engine.Buffer) error {
	if u.Op >= ops.NumUnaryOps {
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
	kernel, n, offX, offY := unaryKernel(d, u), u.N, u.OffX, u.OffY
	if kernel != "unary" {
		n, offX, offY = n/4, offX/4, offY/4
	}
	p, err := d.Pipeline(kernel, engine.Spec{"local_size_x": elementLocal(d, n), "OP": uint32(u.Op)})
	if err != nil {
		return fmt.Errorf("layers: unary %v: %w", u.Op, err)
	}
	push := []uint32{u32(n), u32(offX), u32(offY), math.Float32bits(u.Alpha), math.Float32bits(u.Beta)}
	return r.Dispatch(p, []*engine.Buffer{x, y}, push, d.Grid(p, uint64(n)))
}

// unaryForce, when not empty, is the kernel RecordUnary uses wherever it
// can run (benchmarks and tests compare the variants).
var unaryForce string

// unaryKernel picks RecordUnary's kernel: four elements per invocation
// (unary4.comp) when the count and both offsets are multiples of 4, reading
// x as a texel buffer on lavapipe (unary4_texel.comp: vector loads where a
// storage-buffer load is a loop over the lanes) when its view holds every
// texel read; else one element per invocation (unary.comp).
func unaryKernel(d *engine.Device, u Unary) string {
	if u.N%4 != 0 || u.OffX%4 != 0 || u.OffY%4 != 0 || unaryForce == "unary" {
		return "unary"
	}
	info := d.Info()
	texel := texelFits(info, u.OffX+u.N)
	if unaryForce != "" && (unaryForce != "unary4_texel" || texel) {
		return unaryForce
	}
	if info.DriverID == engine.DriverLavapipe && texel {
		return "unary4_texel"
	}
	return "unary4"
}

func init() {
	Register(ops.OpLeakyRelu, buildUnary(ops.UnaryLeakyRelu, func(a ops.Attrs, _ []*ops.Tensor) (float32, float32, error) {
		return a.Float("alpha"), 0, nil
	}))
	Register(ops.OpSigmoid, buildUnary(ops.UnarySigmoid, nil))
	Register(ops.OpTanh, buildUnary(ops.UnaryTanh, nil))
	Register(ops.OpNeg, buildUnary(ops.UnaryNeg, nil))
	Register(ops.OpHardSigmoid, buildUnary(ops.UnaryHardSigmoid, func(a ops.Attrs, _ []*ops.Tensor) (float32, float32, error) {
		return a.Float("alpha"), a.Float("beta"), nil
	}))
	Register(ops.OpHardSwish, buildUnary(ops.UnaryHardSwish, nil))
	Register(ops.OpClip, buildClip)
	Register(ops.OpIdentity, buildUnary(ops.UnaryIdentity, nil))
	Register(ops.OpDropout, buildUnary(ops.UnaryIdentity, dropoutChecks))
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

// buildUnary returns the builder of an element-wise op: its attributes are
// read and checked by package ops (Resolve); params turns them into the
// kernel's alpha and beta (nil: none).
func buildUnary(op ops.UnaryOp, params func(a ops.Attrs, consts []*ops.Tensor) (float32, float32, error)) Builder {
	return func(b *Build, mn *model.Node) (Layer, error) {
		n := node{mn, b}
		a, err := n.resolve()
		if err != nil {
			return nil, err
		}
		u := Unary{Op: op}
		if params != nil {
			consts := make([]*ops.Tensor, len(mn.Inputs))
			for i := 1; i < len(mn.Inputs); i++ {
				if name := n.input(i); name != "" {
					t := n.constant(i)
					if t == nil {
						return nil, n.errorf("input %d %q is computed at run time: %w (only constants)", i, name, ErrUnsupported)
					}
					consts[i] = ops.F32(t.Shape, t.Data)
				}
			}
			if u.Alpha, u.Beta, err = params(a, consts); err != nil {
				return nil, err
			}
		}
		return newUnary(n, u)
	}
}

// dropoutChecks is Dropout's inference form: the identity, once ops has
// checked is_test and training_mode.
func dropoutChecks(a ops.Attrs, consts []*ops.Tensor) (float32, float32, error) {
	in := make([]ops.Value, len(consts))
	for i, t := range consts {
		in[i] = ops.Value{Const: t, Absent: t == nil}
	}
	in[0] = ops.Value{Shape: []int{1}}
	_, err := ops.Infer(a.Node, in)
	return 0, 0, err
}

func (l *unary) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	u := l.u
	u.N = shapes[0].Elems()
	return RecordUnary(r, l.d, u, in[0], out[0])
}

func (l *unary) Close() {}

// buildClip takes min and max as float attributes (the importer's form for
// constant bounds) or, as ONNX opset 11 and later write them, as optional
// scalar inputs 1 and 2, constant or computed at run time (ops.ClipBounds
// reads the constant ones). A bound given at run time is applied by
// binary.comp's max/min (one more dispatch each); constant ones by the
// unary kernel.
func buildClip(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	consts := make([]*ops.Tensor, len(mn.Inputs))
	var runtime [2]bool
	for i := 1; i < len(mn.Inputs); i++ {
		if name := n.input(i); name != "" {
			if t := n.constant(i); t != nil {
				consts[i] = ops.F32(t.Shape, t.Data)
			} else {
				runtime[i-1] = true
			}
		}
	}
	lo, hi, err := ops.ClipBounds(a, consts)
	if err != nil {
		return nil, err
	}
	if !runtime[0] && !runtime[1] {
		return newUnary(n, Unary{Op: ops.UnaryClip, Alpha: lo, Beta: hi})
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
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

// Record writes y in steps, each reading the previous result in place:
// max with the lower bound, then min with the upper, each by the unary
// kernel when constant or binary.comp when given at run time.
func (l *clipLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	n := shapes[0].Elems()
	src, next := in[0], 1
	for i, c := range []Unary{{Op: ops.UnaryClip, Alpha: l.lo, Beta: float32(math.Inf(1))}, {Op: ops.UnaryClip, Alpha: float32(math.Inf(-1)), Beta: l.hi}} {
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
