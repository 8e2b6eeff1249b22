package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The GPU side of the convolution family (semantics in ops/def_conv.go):
// Conv (conv.comp, with a fused activation), MaxPool, AveragePool and the
// global pools (pool.comp), BatchNormalization (batchnorm.comp).

func init() {
	Register(ops.OpConv, buildConv)
	Register(ops.OpMaxPool, buildPool(ops.OpMaxPool))
	Register(ops.OpAveragePool, buildPool(ops.OpAveragePool))
	Register(ops.OpGlobalAveragePool, buildPool(ops.OpGlobalAveragePool))
	Register(ops.OpGlobalMaxPool, buildPool(ops.OpGlobalMaxPool))
	Register(ops.OpBatchNormalization, buildBatchNorm)
}

// conv is ONNX Conv plus a fused activation. Weights and bias are
// uploaded at build when constant, or read from runtime inputs.
type conv struct {
	d           *engine.Device
	a           ops.Attrs
	group       int
	w, b        operand
	hasB        bool
	noBias      *engine.Buffer // bound in place of an absent bias
	act         ops.Activation
	alpha, beta float32
}

func buildConv(b *Build, mn *model.Node) (l Layer, err error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	c := &conv{d: b.Dev, a: a, group: int(a.Int("group"))}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.act, c.alpha, c.beta = ops.ConvActivation(a)
	rt := 1
	if c.w, err = n.operand(1, &rt); err != nil {
		return nil, err
	}
	if c.hasB = n.input(2) != ""; c.hasB {
		if c.b, err = n.operand(2, &rt); err != nil {
			return nil, err
		}
	} else {
		if c.noBias, err = upload(b.Dev, &model.Tensor{Name: n.Name + ".nobias", Shape: []int{1}, Data: []float32{0}}); err != nil {
			return nil, err
		}
		c.b = operand{rt: -1, buf: c.noBias}
	}
	return c, nil
}

func (c *conv) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	ws := c.w.shapeOf(shapes)
	g, err := ops.ConvWindow(c.a, shapes[0], ws)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	m := ws[0]
	if g.N*m*g.OH*g.OW == 0 {
		return nil
	}
	mb, pb := convBlocks(m, c.group, g.OW)
	count := g.N * ((m + mb - 1) / mb) * g.OH * ((g.OW + pb - 1) / pb)
	hasB := uint32(0)
	if c.hasB {
		hasB = 1
	}
	p, err := c.d.Pipeline("conv", engine.Spec{"local_size_x": elementLocal(c.d, count), "HAS_BIAS": hasB, "ACT": uint32(c.act),
		"MB": uint32(mb), "PB": uint32(pb)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), u32(g.C), u32(g.H), u32(g.W), u32(m), u32(g.OH), u32(g.OW), u32(g.KH), u32(g.KW),
		u32(g.SH), u32(g.SW), u32(g.DH), u32(g.DW), u32(g.PadT), u32(g.PadL), u32(g.C / c.group), u32(m / c.group),
		math.Float32bits(c.alpha), math.Float32bits(c.beta)}
	bufs := []*engine.Buffer{in[0], c.w.bufOf(in), c.b.bufOf(in), out[0]}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}

// convBlocks returns conv.comp's register block: MB output channels (all
// in one group) x PB output columns per invocation.
func convBlocks(m, group, ow int) (mb, pb int) {
	mg := m / group
	switch {
	case group == 1 || mg%8 == 0:
		mb = 8
	case mg%4 == 0:
		mb = 4
	case mg%2 == 0:
		mb = 2
	default:
		mb = 1
	}
	mb = min(mb, m)
	pb = min(4, ow)
	return mb, pb
}

func (c *conv) Close() {
	if c.noBias != nil {
		c.noBias.Close()
	}
	for _, o := range []operand{c.w, c.b} {
		if o.rt < 0 && o.buf != nil && o.buf != c.noBias {
			o.buf.Close()
		}
	}
}

// pool is MaxPool, AveragePool, GlobalAveragePool or GlobalMaxPool.
type pool struct {
	d    *engine.Device
	a    ops.Attrs
	mode uint32 // pool.comp MODE
}

func buildPool(op string) Builder {
	return func(b *Build, mn *model.Node) (Layer, error) {
		n := node{mn, b}
		a, err := n.resolve()
		if err != nil {
			return nil, err
		}
		if err := n.runtimeData(); err != nil {
			return nil, err
		}
		l := &pool{d: b.Dev, a: a}
		switch op {
		case ops.OpAveragePool:
			l.mode = 1
			if a.Bool("count_include_pad") {
				l.mode = 2
			}
		case ops.OpGlobalAveragePool:
			l.mode = 1
		}
		return l, nil
	}
}

func (l *pool) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	var g ops.Window
	var err error
	switch l.a.Node.Op {
	case ops.OpGlobalAveragePool, ops.OpGlobalMaxPool:
		g, err = ops.GlobalPoolWindow(l.a, shapes[0])
	default:
		g, err = ops.PoolWindow(l.a, shapes[0])
	}
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	count := g.N * g.C * g.OH * g.OW
	if count == 0 {
		return nil
	}
	p, err := l.d.Pipeline("pool", engine.Spec{"local_size_x": elementLocal(l.d, count), "MODE": l.mode})
	if err != nil {
		return fmt.Errorf("layers: %s %q: %w", l.a.Node.Op, l.a.Node.Name, err)
	}
	push := []uint32{u32(count), u32(g.H), u32(g.W), u32(g.OH), u32(g.OW), u32(g.KH), u32(g.KW), u32(g.SH), u32(g.SW),
		u32(g.DH), u32(g.DW), u32(g.PadT), u32(g.PadL), u32(g.H + g.PadB), u32(g.W + g.PadR)}
	return r.Dispatch(p, []*engine.Buffer{in[0], out[0]}, push, l.d.Grid(p, uint64(count)))
}

func (l *pool) Close() {}

// batchNorm is inference-mode BatchNormalization (batchnorm.comp); the
// statistics are constants uploaded at build or runtime inputs. One that
// follows a Conv is folded into its weights by the planner instead.
type batchNorm struct {
	d   *engine.Device
	a   ops.Attrs
	eps float32
	p   [4]operand // scale, bias, mean, var
}

func buildBatchNorm(b *Build, mn *model.Node) (l Layer, err error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	bn := &batchNorm{d: b.Dev, a: a, eps: a.Float("epsilon")}
	defer func() {
		if err != nil {
			bn.Close()
		}
	}()
	for i := range bn.p {
		bn.p[i].rt = -1
	}
	rt := 1
	for i := range bn.p {
		if bn.p[i], err = n.operand(i+1, &rt); err != nil {
			return nil, err
		}
	}
	return bn, nil
}

func (l *batchNorm) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	s := shapes[0]
	count := s.Elems()
	if count == 0 {
		return nil
	}
	if len(s) < 2 {
		return fmt.Errorf("layers: BatchNormalization %q: input %v, want [N, C, ...]", l.a.Node.Name, s)
	}
	c := s[1]
	for _, p := range l.p {
		if ps := p.shapeOf(shapes); !ps.Equal(Shape{c}) {
			return fmt.Errorf("layers: BatchNormalization %q: input %v with a statistic of shape %v, want [%d]", l.a.Node.Name, s, ps, c)
		}
	}
	inner := count / (s[0] * c)
	if l.d.KernelFits("batchnorm") != nil {
		// Six storage buffers exceed the device's per-stage limit (the
		// spec minimum is 4): three dispatches of four.
		return l.recordSplit(r, in, out[0], count, inner, c)
	}
	p, err := l.d.Pipeline("batchnorm", engine.Spec{"local_size_x": elementLocal(l.d, count)})
	if err != nil {
		return fmt.Errorf("layers: BatchNormalization %q: %w", l.a.Node.Name, err)
	}
	bufs := []*engine.Buffer{in[0], l.p[0].bufOf(in), l.p[1].bufOf(in), l.p[2].bufOf(in), l.p[3].bufOf(in), out[0]}
	return r.Dispatch(p, bufs, []uint32{u32(count), u32(inner), u32(c), math.Float32bits(l.eps)}, l.d.Grid(p, uint64(count)))
}

// recordSplit records the BatchNormalization as batchnorm_split.comp's
// three dispatches: k = scale/sqrt(var+eps) and the interleaved (mean, bias)
// into temporaries, then y from x, k and them.
func (l *batchNorm) recordSplit(r *engine.Recorder, in []*engine.Buffer, y *engine.Buffer, count, inner, c int) error {
	fail := func(err error) error {
		return fmt.Errorf("layers: BatchNormalization %q: %w", l.a.Node.Name, err)
	}
	k, err := r.Temp(int64(4 * c))
	if err != nil {
		return fail(err)
	}
	mb, err := r.Temp(int64(8 * c))
	if err != nil {
		return fail(err)
	}
	scale, bias, mean, variance := l.p[0].bufOf(in), l.p[1].bufOf(in), l.p[2].bufOf(in), l.p[3].bufOf(in)
	eps := math.Float32bits(l.eps)
	steps := []struct {
		mode  uint32
		n     int
		bufs  []*engine.Buffer
		inner int
	}{
		{0, c, []*engine.Buffer{scale, variance, scale, k}, 1},
		{1, c, []*engine.Buffer{mean, bias, mean, mb}, 1},
		{2, count, []*engine.Buffer{in[0], k, mb, y}, inner},
	}
	for _, st := range steps {
		p, err := l.d.Pipeline("batchnorm_split", engine.Spec{"local_size_x": elementLocal(l.d, st.n), "MODE": st.mode})
		if err != nil {
			return fail(err)
		}
		if err := r.Dispatch(p, st.bufs, []uint32{u32(st.n), u32(st.inner), u32(c), eps}, l.d.Grid(p, uint64(st.n))); err != nil {
			return fail(err)
		}
	}
	return nil
}

func (l *batchNorm) Close() {
	for _, p := range l.p {
		if p.rt < 0 && p.buf != nil {
			p.buf.Close()
		}
	}
}
