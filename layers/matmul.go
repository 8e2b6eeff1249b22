package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// ONNX op names of the matrix-product layers.
const (
	OpMatMul = "MatMul"
	OpGemm   = "Gemm"
)

func init() {
	Register(OpMatMul, buildMatMul)
	Register(OpGemm, buildGemm)
}

// temp returns a program-owned buffer of elems floats (engine.Recorder.Temp):
// it lives as long as the recorded program, so each batch size's program
// has its own and they are freed with it.
func temp(r *engine.Recorder, elems int) (*engine.Buffer, error) {
	b, err := r.Temp(int64(4 * max(elems, 1)))
	if err != nil {
		return nil, fmt.Errorf("layers: temporary buffer: %w", err)
	}
	return b, nil
}

// matMulPlan is a MatMul resolved for concrete shapes.
type matMulPlan struct {
	out     Shape
	m, n, k int
	batch   Shape
	sa, sb  []int // matrix strides of A and B along batch (0: broadcast)
}

// planMatMul applies numpy matmul rules (ONNX MatMul): 1-D operands are
// promoted to matrices and the promoted dimension dropped from the result;
// batch dimensions broadcast.
func planMatMul(as, bs Shape) (matMulPlan, error) {
	if len(as) == 0 || len(bs) == 0 {
		return matMulPlan{}, fmt.Errorf("%v · %v: scalars are not matrices", as, bs)
	}
	a, b := as, bs
	if len(a) == 1 {
		a = Shape{1, a[0]}
	}
	if len(b) == 1 {
		b = Shape{b[0], 1}
	}
	p := matMulPlan{m: a[len(a)-2], k: a[len(a)-1], n: b[len(b)-1]}
	if k2 := b[len(b)-2]; k2 != p.k {
		return p, fmt.Errorf("%v · %v: inner dimensions %d and %d differ", as, bs, p.k, k2)
	}
	batch, err := BroadcastShapes(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return p, fmt.Errorf("%v · %v: batch dimensions: %w", as, bs, err)
	}
	p.batch = batch
	p.sa = stridesIn(a[:len(a)-2], batch)
	p.sb = stridesIn(b[:len(b)-2], batch)
	p.out = append(Shape{}, batch...)
	if len(as) > 1 {
		p.out = append(p.out, p.m)
	}
	if len(bs) > 1 {
		p.out = append(p.out, p.n)
	}
	return p, nil
}

// matMul is ONNX MatMul (opsets 1-13 semantics; float32): either operand
// may be a constant. A constant B of rank 1 or 2 is laid out once for the
// device's GEMM kernel (NewGemmWeights); others are uploaded as they are.
type matMul struct {
	d    *engine.Device
	name string
	a, b operand
	w    *GemmWeights // constant B of rank <= 2 (then b has no buffer)
	rt   int
}

func buildMatMul(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(2, 2); err != nil {
		return nil, err
	}
	if n.input(0) == "" || n.input(1) == "" {
		return nil, n.errorf("both inputs are required")
	}
	if err := n.allow(); err != nil {
		return nil, err
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	l := &matMul{d: b.Dev, name: n.Name}
	var err error
	if l.a, err = n.operand(0, &l.rt); err != nil {
		return nil, err
	}
	if t := n.constant(1); t != nil && (len(t.Shape) == 1 || len(t.Shape) == 2) && t.Elements() > 0 && t.Elements() == len(t.Data) {
		k, cols := t.Shape[0], 1
		if len(t.Shape) == 2 {
			cols = t.Shape[1]
		}
		l.b = operand{rt: -1, shape: append(Shape{}, t.Shape...)}
		if l.w, err = NewGemmWeights(b.Dev, t.Data, k, cols, false); err != nil {
			l.Close()
			return nil, n.errorf("B %q: %w", t.Name, err)
		}
	} else if l.b, err = n.operand(1, &l.rt); err != nil {
		l.Close()
		return nil, err
	}
	if l.rt == 0 {
		if _, err := planMatMul(l.a.shape, l.b.shape); err != nil {
			l.Close()
			return nil, n.errorf("%w", err)
		}
	}
	return l, nil
}

func (l *matMul) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(OpMatMul, l.name, in, l.rt); err != nil {
		return nil, err
	}
	p, err := planMatMul(l.a.shapeOf(in), l.b.shapeOf(in))
	if err != nil {
		return nil, fmt.Errorf("layers: MatMul %q: %w", l.name, err)
	}
	if p.k == 0 && p.out.Elems() > 0 {
		return nil, fmt.Errorf("layers: MatMul %q: %v · %v has K = 0: %w", l.name, l.a.shapeOf(in), l.b.shapeOf(in), ErrUnsupported)
	}
	return []Shape{p.out}, nil
}

func (l *matMul) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	if _, err := l.Infer(shapes); err != nil {
		return err
	}
	p, _ := planMatMul(l.a.shapeOf(shapes), l.b.shapeOf(shapes))
	if err := l.record(r, p, l.a.bufOf(in), l.b.bufOf(in), out[0]); err != nil {
		return fmt.Errorf("layers: MatMul %q: %w", l.name, err)
	}
	return nil
}

// record records a planned (batched) product into c.
func (l *matMul) record(r *engine.Recorder, p matMulPlan, a, b, c *engine.Buffer) error {
	if p.out.Elems() == 0 {
		return nil
	}
	nb := p.batch.Elems()
	bShared := true // B is one matrix for every batch entry
	for _, st := range p.sb {
		bShared = bShared && st == 0
	}
	if bShared {
		// A's batch entries are consecutive M x K matrices and C's
		// consecutive M x N ones: one product with nb*M rows. (With B
		// shared, A carries every batch dimension, unbroadcast.)
		g := Gemm{M: nb * p.m, N: p.n, K: p.k}
		if l.w != nil {
			return RecordGemmWeights(r, l.d, g, a, l.w, c)
		}
		return RecordGemm(r, l.d, g, a, b, c)
	}
	// One product per batch matrix, at element offsets into A, B and C.
	idx := make([]int, len(p.batch))
	for i := 0; i < nb; i++ {
		ia, ib := 0, 0
		for j, v := range idx {
			ia += v * p.sa[j]
			ib += v * p.sb[j]
		}
		g := Gemm{M: p.m, N: p.n, K: p.k, OffA: ia * p.m * p.k, OffB: ib * p.k * p.n, OffC: i * p.m * p.n}
		if err := RecordGemm(r, l.d, g, a, b, c); err != nil {
			return err
		}
		for j := len(idx) - 1; j >= 0; j-- {
			if idx[j]++; idx[j] < p.batch[j] {
				break
			}
			idx[j] = 0
		}
	}
	return nil
}

func (l *matMul) Close() {
	l.a.buf.Close()
	l.b.buf.Close()
	l.w.Close()
}

// gemm is ONNX Gemm (opsets 7-13 semantics): Y = alpha·op(A)·op(B) + beta·C
// with C optional and unidirectionally broadcast to [M, N].
//
// It is one GEMM dispatch where it can be: alpha is folded into a constant B
// (or A) and beta into a constant C at build time (a constant B is then laid
// out once for the device's kernel, NewGemmWeights), and a C that is one row
// ([N] or [1, N]) with nothing left to scale becomes the GEMM's per-column
// bias. Otherwise the product goes to a temporary buffer and one binary.comp
// dispatch finishes: y = alpha·P + beta·C (Axpby, C broadcast) or
// y = alpha·P (Mul by a scalar).
type gemm struct {
	d              *engine.Device
	name           string
	a, b, c        operand
	hasC           bool
	alpha, beta    float32 // what is left after folding
	transA, transB bool
	alphaBuf       *engine.Buffer // [alpha] for the Mul epilogue
	w              *GemmWeights   // a constant B (then b has no buffer)
	rt             int
}

func buildGemm(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if err := n.inputs(2, 3); err != nil {
		return nil, err
	}
	if n.input(0) == "" || n.input(1) == "" {
		return nil, n.errorf("inputs A and B are required")
	}
	// "broadcast" is opset 6's flag; with it or without, the shapes it
	// allows are ones opset 7 broadcasting handles.
	if err := n.allow("alpha", "beta", "transA", "transB", "broadcast"); err != nil {
		return nil, err
	}
	if err := n.outputs(1); err != nil {
		return nil, err
	}
	l := &gemm{d: b.Dev, name: n.Name}
	var err error
	if l.alpha, err = n.float("alpha", 1); err != nil {
		return nil, err
	}
	if l.beta, err = n.float("beta", 1); err != nil {
		return nil, err
	}
	if l.transA, err = n.bool("transA", false); err != nil {
		return nil, err
	}
	if l.transB, err = n.bool("transB", false); err != nil {
		return nil, err
	}
	if _, err = n.bool("broadcast", true); err != nil {
		return nil, err
	}
	// Fold alpha into a constant operand, beta into a constant C.
	scaled := func(i int, f float32) *model.Tensor {
		t := n.constant(i)
		if t == nil || f == 1 {
			return t
		}
		s := &model.Tensor{Name: t.Name, Shape: t.Shape, Data: make([]float32, len(t.Data))}
		for j, v := range t.Data {
			s.Data[j] = f * v
		}
		return s
	}
	// Inputs that share a name are not folded (the scale would apply twice).
	shared := func(i int) bool {
		for j := 0; j < 3; j++ {
			if j != i && n.input(j) == n.input(i) {
				return true
			}
		}
		return false
	}
	constOf := map[int]*model.Tensor{}
	switch {
	case l.alpha == 1:
	case n.constant(1) != nil && !shared(1):
		constOf[1], l.alpha = scaled(1, l.alpha), 1
	case n.constant(0) != nil && !shared(0):
		constOf[0], l.alpha = scaled(0, l.alpha), 1
	}
	l.hasC = n.input(2) != "" && l.beta != 0
	if l.hasC && n.constant(2) != nil && !shared(2) {
		constOf[2], l.beta = scaled(2, l.beta), 1
	}
	nb := *b
	nb.Const = func(name string) *model.Tensor {
		for i, t := range constOf {
			if n.input(i) == name {
				return t
			}
		}
		return b.Const(name)
	}
	fn := node{mn, &nb}
	for i, o := range []*operand{&l.a, &l.b, &l.c} {
		if i == 2 && !l.hasC {
			if n.input(2) != "" && n.constant(2) == nil {
				// beta = 0: C is not read, but it is still a runtime input.
				l.rt++
			}
			break
		}
		if t := fn.constant(1); i == 1 && t != nil && len(t.Shape) == 2 && t.Elements() > 0 && t.Elements() == len(t.Data) {
			// A constant B is laid out once for the device's GEMM kernel.
			k, cols := t.Shape[0], t.Shape[1]
			if l.transB {
				k, cols = cols, k
			}
			l.b = operand{rt: -1, shape: append(Shape{}, t.Shape...)}
			if l.w, err = NewGemmWeights(b.Dev, t.Data, k, cols, l.transB); err != nil {
				l.Close()
				return nil, n.errorf("B %q: %w", t.Name, err)
			}
			continue
		}
		if *o, err = fn.operand(i, &l.rt); err != nil {
			l.Close()
			return nil, err
		}
	}
	if l.alpha != 1 {
		if l.alphaBuf, err = upload(b.Dev, &model.Tensor{Name: n.Name + ".alpha", Shape: []int{1}, Data: []float32{l.alpha}}); err != nil {
			l.Close()
			return nil, n.errorf("%w", err)
		}
	}
	for i, o := range []operand{l.a, l.b} {
		if o.rt < 0 && len(o.shape) != 2 {
			l.Close()
			return nil, n.errorf("%s %q has shape %v, want a matrix", []string{"A", "B"}[i], n.input(i), o.shape)
		}
	}
	if l.a.rt < 0 && l.b.rt < 0 && (!l.hasC || l.c.rt < 0) {
		// Every operand read is a constant: check the shapes now.
		if _, _, err := l.plan(nil); err != nil {
			l.Close()
			return nil, n.errorf("%w", err)
		}
	}
	return l, nil
}

// plan returns M, N, K for the runtime shapes and checks C.
func (l *gemm) plan(in []Shape) (g Gemm, out Shape, err error) {
	as, bs := l.a.shapeOf(in), l.b.shapeOf(in)
	if len(as) != 2 || len(bs) != 2 {
		return g, nil, fmt.Errorf("operands A %v and B %v must both be matrices", as, bs)
	}
	g = Gemm{M: as[0], K: as[1], N: bs[1], TransA: l.transA, TransB: l.transB}
	if l.transA {
		g.M, g.K = as[1], as[0]
	}
	k2 := bs[0]
	if l.transB {
		g.N, k2 = bs[0], bs[1]
	}
	if g.K != k2 {
		return g, nil, fmt.Errorf("op(A) is %dx%d, op(B) is %dx%d: inner dimensions differ", g.M, g.K, k2, g.N)
	}
	out = Shape{g.M, g.N}
	if l.hasC {
		cs := l.c.shapeOf(in)
		ok := len(cs) <= 2
		for i := 0; ok && i < len(cs); i++ {
			d := cs[len(cs)-1-i]
			ok = d == 1 || d == out[1-i]
		}
		if !ok {
			return g, nil, fmt.Errorf("operand C %v does not broadcast to %v", cs, out)
		}
	}
	return g, out, nil
}

func (l *gemm) Infer(in []Shape) ([]Shape, error) {
	if err := checkRuntime(OpGemm, l.name, in, l.rt); err != nil {
		return nil, err
	}
	g, out, err := l.plan(in)
	if err != nil {
		return nil, fmt.Errorf("layers: Gemm %q: %w", l.name, err)
	}
	if g.K == 0 && out.Elems() > 0 {
		return nil, fmt.Errorf("layers: Gemm %q: K = 0: %w", l.name, ErrUnsupported)
	}
	return []Shape{out}, nil
}

func (l *gemm) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	if _, err := l.Infer(shapes); err != nil {
		return err
	}
	g, outShape, _ := l.plan(shapes)
	if err := l.record(r, g, outShape, in, shapes, out[0]); err != nil {
		return fmt.Errorf("layers: Gemm %q: %w", l.name, err)
	}
	return nil
}

func (l *gemm) record(r *engine.Recorder, g Gemm, outShape Shape, in []*engine.Buffer, shapes []Shape, y *engine.Buffer) error {
	if outShape.Elems() == 0 {
		return nil
	}
	a, b := l.a.bufOf(in), l.b.bufOf(in)
	product := func(c *engine.Buffer) error {
		if l.w != nil {
			return RecordGemmWeights(r, l.d, g, a, l.w, c)
		}
		return RecordGemm(r, l.d, g, a, b, c)
	}
	var cs Shape
	if l.hasC {
		cs = l.c.shapeOf(shapes)
	}
	// One row of C, nothing to scale: the GEMM's bias.
	row := l.hasC && l.alpha == 1 && l.beta == 1 && cs.Elems() == g.N && (len(cs) < 2 || cs[0] == 1)
	if !l.hasC && l.alpha == 1 || row {
		if row {
			g.Bias = l.c.bufOf(in)
		}
		return product(y)
	}
	p, err := temp(r, g.M*g.N)
	if err != nil {
		return err
	}
	if err := product(p); err != nil {
		return err
	}
	if !l.hasC {
		return RecordBinary(r, l.d, Binary{Op: BinaryMul, A: outShape, B: Shape{1}}, p, l.alphaBuf, y)
	}
	return RecordBinary(r, l.d, Binary{Op: BinaryAxpby, A: outShape, B: cs, Alpha: l.alpha, Beta: l.beta}, p, l.c.bufOf(in), y)
}

func (l *gemm) Close() {
	l.a.buf.Close()
	l.b.buf.Close()
	l.c.buf.Close()
	l.alphaBuf.Close()
	l.w.Close()
}
