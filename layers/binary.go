package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// BinaryOp selects the operation of shaders/binary.comp (its OP constant).
type BinaryOp uint32

// The binary operations.
const (
	BinaryAdd   BinaryOp = iota // a + b
	BinarySub                   // a - b
	BinaryMul                   // a * b
	BinaryDiv                   // a / b
	BinaryAxpby                 // Alpha*a + Beta*b
	BinaryMax                   // a < b ? b : a (NaN in a stays, NaN in b is ignored: Clip's comparison)
	BinaryMin                   // a > b ? b : a (likewise)
	BinaryPRelu                 // a < 0 ? a * b : a (ONNX PRelu, b the slope)
	numBinaryOps
)

func (op BinaryOp) String() string {
	switch op {
	case BinaryAdd:
		return "Add"
	case BinarySub:
		return "Sub"
	case BinaryMul:
		return "Mul"
	case BinaryDiv:
		return "Div"
	case BinaryAxpby:
		return "Axpby"
	case BinaryMax:
		return "Max"
	case BinaryMin:
		return "Min"
	case BinaryPRelu:
		return "PRelu"
	}
	return fmt.Sprintf("BinaryOp(%d)", uint32(op))
}

// MaxBinaryRank is the most dimensions binary.comp indexes once the host
// has merged the dimensions that broadcast alike (so a higher-rank tensor
// works when its dimensions merge to at most this many).
const MaxBinaryRank = 6

// Binary describes y = a Op b with a of shape A and b of shape B broadcast
// to y's shape (numpy rules), for RecordBinary.
type Binary struct {
	Op          BinaryOp
	A, B        Shape
	Alpha, Beta float32 // BinaryAxpby only
	// General forces the general strided indexing even where a fast path
	// applies (for tests).
	General bool
}

// binary.comp's MODE values.
const (
	binaryGeneral = iota
	binarySame
	binaryBRepeats
	binaryARepeats
)

// binaryPlan is how binary.comp runs one broadcast.
type binaryPlan struct {
	out          Shape // y's shape
	count        int
	mode, period int
	dims, sa, sb []int // coalesced, outermost first
}

// BroadcastShapes returns the shape a and b broadcast to (numpy rules), or
// an error saying which dimensions clash.
func BroadcastShapes(a, b Shape) (Shape, error) {
	n := max(len(a), len(b))
	out := make(Shape, n)
	for i := range n {
		da, db := dimFromEnd(a, n-1-i), dimFromEnd(b, n-1-i)
		switch {
		case da < 0 || db < 0:
			return nil, fmt.Errorf("layers: broadcast %v with %v: negative dimension", a, b)
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("layers: shapes %v and %v do not broadcast (dimension %d: %d against %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

func dimFromEnd(s Shape, k int) int {
	if k >= len(s) {
		return 1
	}
	return s[len(s)-1-k]
}

// stridesIn returns the element strides of a tensor of shape s read as
// out's shape: 0 along dimensions where s broadcasts.
func stridesIn(s, out Shape) []int {
	st := make([]int, len(out))
	stride := 1
	for k := 0; k < len(s) && k < len(out); k++ {
		d := s[len(s)-1-k]
		if d != 1 {
			st[len(out)-1-k] = stride
		}
		stride *= d
	}
	return st
}

// planBinary broadcasts and merges dimensions: size-1 dimensions are
// dropped, and neighbours merged where both operands step through them
// alike. It then picks the fastest indexing mode.
func planBinary(g Binary) (binaryPlan, error) {
	out, err := BroadcastShapes(g.A, g.B)
	if err != nil {
		return binaryPlan{}, err
	}
	p := binaryPlan{out: out, count: out.Elems()}
	sa, sb := stridesIn(g.A, out), stridesIn(g.B, out)
	for i, d := range out {
		if d == 1 {
			continue
		}
		k := len(p.dims) - 1
		if k >= 0 && p.sa[k] == sa[i]*d && p.sb[k] == sb[i]*d {
			p.dims[k] *= d
			p.sa[k], p.sb[k] = sa[i], sb[i]
			continue
		}
		p.dims = append(p.dims, d)
		p.sa = append(p.sa, sa[i])
		p.sb = append(p.sb, sb[i])
	}
	p.mode = binaryGeneral
	switch r := len(p.dims); {
	case g.General:
	case r == 0:
		p.mode = binarySame
	case r == 1:
		switch {
		case p.sa[0] == 1 && p.sb[0] == 1:
			p.mode = binarySame
		case p.sa[0] == 1 && p.sb[0] == 0:
			p.mode, p.period = binaryBRepeats, 1
		case p.sa[0] == 0 && p.sb[0] == 1:
			p.mode, p.period = binaryARepeats, 1
		}
	case r == 2:
		switch {
		case p.sa[0] == p.dims[1] && p.sa[1] == 1 && p.sb[0] == 0 && p.sb[1] == 1:
			p.mode, p.period = binaryBRepeats, p.dims[1]
		case p.sb[0] == p.dims[1] && p.sb[1] == 1 && p.sa[0] == 0 && p.sa[1] == 1:
			p.mode, p.period = binaryARepeats, p.dims[1]
		}
	}
	if p.mode == binaryGeneral && len(p.dims) > MaxBinaryRank {
		return p, fmt.Errorf("layers: %v of %v and %v: %d dimensions after merging, the kernel indexes %d: %w",
			g.Op, g.A, g.B, len(p.dims), MaxBinaryRank, ErrUnsupported)
	}
	return p, nil
}

// RecordBinary records g on a and b into y (y holds the broadcast shape).
// An empty result records nothing.
func RecordBinary(r *engine.Recorder, d *engine.Device, g Binary, a, b, y *engine.Buffer) error {
	if g.Op >= numBinaryOps {
		return fmt.Errorf("layers: binary: unknown op %d", uint32(g.Op))
	}
	p, err := planBinary(g)
	if err != nil {
		return err
	}
	if p.count == 0 {
		return nil
	}
	if a.Len() < g.A.Elems() || b.Len() < g.B.Elems() || y.Len() < p.count {
		return fmt.Errorf("layers: %v of %v and %v: buffers hold %d, %d and %d elements", g.Op, g.A, g.B, a.Len(), b.Len(), y.Len())
	}
	if v, ok := planBinary4(d, g, p, a, b); ok {
		pipe, err := d.Pipeline(v.kernel, engine.Spec{"local_size_x": elementLocal(d, p.count/4), "OP": uint32(g.Op), "MODE": u32(v.mode)})
		if err != nil {
			return fmt.Errorf("layers: %v: %w", g.Op, err)
		}
		push := []uint32{u32(p.count / 4), u32(v.period), u32(v.inner), math.Float32bits(g.Alpha), math.Float32bits(g.Beta)}
		return r.Dispatch(pipe, []*engine.Buffer{a, b, y}, push, d.Grid(pipe, uint64(p.count/4)))
	}
	pipe, err := d.Pipeline("binary", engine.Spec{"local_size_x": elementLocal(d, p.count), "OP": uint32(g.Op), "MODE": u32(p.mode)})
	if err != nil {
		return fmt.Errorf("layers: %v: %w", g.Op, err)
	}
	push := make([]uint32, 5+3*MaxBinaryRank)
	push[0], push[1], push[2] = u32(p.count), u32(len(p.dims)), u32(p.period)
	push[3], push[4] = math.Float32bits(g.Alpha), math.Float32bits(g.Beta)
	if p.mode == binaryGeneral {
		for i := range p.dims {
			push[5+i] = u32(p.dims[i])
			push[5+MaxBinaryRank+i] = u32(p.sa[i])
			push[5+2*MaxBinaryRank+i] = u32(p.sb[i])
		}
	}
	return r.Dispatch(pipe, []*engine.Buffer{a, b, y}, push, d.Grid(pipe, uint64(p.count)))
}

// binaryForce, when not empty, is the kernel RecordBinary uses wherever it
// can run ("binary", "binary4", "binary4_texel": benchmarks and tests
// compare the variants).
var binaryForce string

// binary4.glsl's MODE values (1 to 3 as binary.comp's).
const (
	binary4BSpreads = 4
	binary4ASpreads = 5
)

// binary4Plan is how binary4.comp or binary4_texel.comp runs one broadcast.
type binary4Plan struct {
	kernel              string
	mode, period, inner int
}

// planBinary4 picks the four-elements-per-invocation kernels where they
// apply (binary4.glsl): y's element count a multiple of 4, and the same
// shapes, a repeating suffix of y's shape whose period is a multiple of 4,
// or one operand spreading each of its elements over a run of y's innermost
// elements whose length is a multiple of 4 (a per-channel scale or bias
// over NCHW, a scalar). The texel kernel on lavapipe where both operands'
// views hold what is read; else the storage kernel where both buffers hold
// whole vec4s.
func planBinary4(d *engine.Device, g Binary, p binaryPlan, a, b *engine.Buffer) (binary4Plan, bool) {
	if binaryForce == "binary" || g.General || p.count%4 != 0 {
		return binary4Plan{}, false
	}
	v := binary4Plan{mode: p.mode, period: p.period}
	switch p.mode {
	case binarySame:
	case binaryBRepeats, binaryARepeats:
		if p.period == 1 { // a scalar: it spreads over all of y
			v.mode, v.period, v.inner = binary4BSpreads, 1, p.count
			if p.mode == binaryARepeats {
				v.mode = binary4ASpreads
			}
		} else if p.period%4 != 0 {
			return v, false
		}
	default:
		// y [..., period, inner]: one operand contiguous (strides of y),
		// the other [period] or [N, period] spread over inner.
		r := len(p.dims)
		if r < 2 || r > 3 || p.dims[r-1]%4 != 0 {
			return v, false
		}
		full, spread := p.sa, p.sb
		v.mode = binary4BSpreads
		if p.sa[r-1] == 0 {
			full, spread, v.mode = p.sb, p.sa, binary4ASpreads
		}
		stride := 1
		for k := r - 1; k >= 0; k-- {
			if full[k] != stride {
				return v, false
			}
			stride *= p.dims[k]
		}
		if spread[r-1] != 0 || spread[r-2] != 1 || (r == 3 && spread[0] != 0) {
			return v, false
		}
		v.period, v.inner = p.dims[r-2], p.dims[r-1]
	}
	info := d.Info()
	texel := texelFits(info, g.A.Elems()) && texelFits(info, g.B.Elems())
	whole := a.Len()%4 == 0 && b.Len()%4 == 0
	switch {
	case binaryForce == "binary4_texel" && texel, binaryForce == "" && texel && info.DriverID == engine.DriverLavapipe:
		v.kernel = "binary4_texel"
	case whole && (binaryForce == "" || binaryForce == "binary4"):
		v.kernel = "binary4"
	default:
		return v, false
	}
	return v, true
}

// ONNX op names of the arithmetic layers.
const (
	OpAdd = "Add"
	OpSub = "Sub"
	OpMul = "Mul"
	OpDiv = "Div"
)

func init() {
	Register(OpAdd, buildBinary(BinaryAdd))
	Register(OpSub, buildBinary(BinarySub))
	Register(OpMul, buildBinary(BinaryMul))
	Register(OpDiv, buildBinary(BinaryDiv))
}

// binaryLayer is Add, Sub, Mul or Div (ONNX opset 7+ multidirectional
// broadcasting); either input may be a constant, uploaded at build time.
type binaryLayer struct {
	d    *engine.Device
	op   BinaryOp
	name string
	a, b operand
	rt   int // runtime inputs
}

func buildBinary(op BinaryOp) Builder {
	return func(b *Build, mn *model.Node) (Layer, error) {
		n := node{mn, b}
		if err := n.inputs(2, 2); err != nil {
			return nil, err
		}
		if n.input(0) == "" || n.input(1) == "" {
			return nil, n.errorf("both inputs are required")
		}
		// opset 1-6 "broadcast"/"axis" (legacy unidirectional broadcasting)
		// are not supported; the importer upgrades them.
		if err := n.allow(); err != nil {
			return nil, err
		}
		if err := n.outputs(1); err != nil {
			return nil, err
		}
		l := &binaryLayer{d: b.Dev, op: op, name: n.Name}
		var err error
		if l.a, err = n.operand(0, &l.rt); err != nil {
			return nil, err
		}
		if l.b, err = n.operand(1, &l.rt); err != nil {
			l.Close()
			return nil, err
		}
		if l.rt == 0 {
			// Both constant: check the shapes now.
			if _, err := planBinary(Binary{Op: op, A: l.a.shape, B: l.b.shape}); err != nil {
				l.Close()
				return nil, n.errorf("%w", err)
			}
		}
		return l, nil
	}
}

func (l *binaryLayer) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(l.op.String(), l.name, in, l.rt); err != nil {
		return nil, err
	}
	p, err := planBinary(Binary{Op: l.op, A: l.a.shapeOf(in), B: l.b.shapeOf(in)})
	if err != nil {
		return nil, fmt.Errorf("layers: %v %q: %w", l.op, l.name, err)
	}
	return []Shape{p.out}, nil
}

func (l *binaryLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	g := Binary{Op: l.op, A: l.a.shapeOf(shapes), B: l.b.shapeOf(shapes)}
	if err := RecordBinary(r, l.d, g, l.a.bufOf(in), l.b.bufOf(in), out[0]); err != nil {
		return fmt.Errorf("layers: %v %q: %w", l.op, l.name, err)
	}
	return nil
}

func (l *binaryLayer) Close() {
	l.a.buf.Close()
	l.b.buf.Close()
}
