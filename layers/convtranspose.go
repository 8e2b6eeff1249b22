package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The GPU side of ConvTranspose (semantics in ops/def_convtranspose.go):
// convtranspose.comp, a direct gather kernel, one invocation per MB output
// channels (8, 4, 2 or 1: the largest dividing M/group) by PB (up to 4)
// output columns of one phase.

func init() {
	Register(ops.OpConvTranspose, buildConvTranspose)
}

// MaxConvTransposeLoop bounds the loop iterations of one convtranspose.comp
// invocation (about kh·kw·C/group·(MB + PB·(MB + 1)), MB output channels
// by PB columns per invocation): lavapipe (Mesa 22) leaves every
// loop of an invocation once it has run 65,535 iterations in all, so a
// layer past this is refused (ErrUnsupported) rather than computed short.
const MaxConvTransposeLoop = 60000

// convTranspose is ONNX ConvTranspose; weights and bias are uploaded at
// build when constant, or read from runtime inputs.
type convTranspose struct {
	d      *engine.Device
	a      ops.Attrs
	group  int
	w, b   operand
	hasB   bool
	noBias *engine.Buffer // bound in place of an absent bias
}

func buildConvTranspose(b *Build, mn *model.Node) (l Layer, err error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	c := &convTranspose{d: b.Dev, a: a, group: int(a.Int("group"))}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	rt := 1
	if c.w, err = n.operand(1, &rt); err != nil {
		return nil, err
	}
	if c.b, c.noBias, err = n.biasOperand(2, &rt); err != nil {
		return nil, err
	}
	c.hasB = c.noBias == nil
	return c, nil
}

func (c *convTranspose) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	ws := c.w.shapeOf(shapes)
	g, err := ops.ConvTransposeWindow(c.a, shapes[0], ws)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	m := ws[1] * c.group
	mg := m / c.group
	cg := g.C / c.group
	mb := 1
	for _, v := range []int{8, 4, 2} {
		if mg%v == 0 {
			mb = v
			break
		}
	}
	if g.N*m*g.OH*g.OW == 0 {
		return nil
	}
	q := (g.OW + g.SW - 1) / g.SW // output columns of one phase
	pb := min(4, q)
	// Loop iterations per invocation, counting the MB and PB loops as if
	// the driver did not unroll them; past the bound, no blocking.
	loop := func(mb, pb int) int { return g.KH + g.KH*g.KW*(cg*(mb+pb*(mb+1)+1)+1) }
	if loop(mb, pb) > MaxConvTransposeLoop {
		mb, pb = 1, 1
	}
	if loop(mb, pb) > MaxConvTransposeLoop {
		return fmt.Errorf("layers: ConvTranspose %q: kernel %dx%d over %d channels per group is %d loop iterations per output, over %d (lavapipe ends longer loops early): %w",
			c.a.Node.Name, g.KH, g.KW, cg, loop(mb, pb), MaxConvTransposeLoop, ErrUnsupported)
	}
	count := g.N * (m / mb) * g.OH * g.SW * ((q + pb - 1) / pb) // see convtranspose.comp
	hasB := uint32(0)
	if c.hasB {
		hasB = 1
	}
	p, err := c.d.Pipeline("convtranspose", engine.Spec{"local_size_x": elementLocal(c.d, count), "HAS_BIAS": hasB,
		"MB": uint32(mb), "SH": uint32(g.SH), "SW": uint32(g.SW), "PB": uint32(pb)})
	if err != nil {
		return fmt.Errorf("layers: ConvTranspose %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), u32(g.C), u32(g.H), u32(g.W), u32(m), u32(g.OH), u32(g.OW), u32(g.KH), u32(g.KW),
		u32(g.DH), u32(g.DW), u32(g.PadT), u32(g.PadL), u32(cg), u32(mg)}
	bufs := []*engine.Buffer{in[0], c.w.bufOf(in), c.b.bufOf(in), out[0]}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}

func (c *convTranspose) Close() {
	if c.noBias != nil {
		c.noBias.Close()
	}
	for _, o := range []operand{c.w, c.b} {
		if o.rt < 0 && o.buf != nil && o.buf != c.noBias {
			o.buf.Close()
		}
	}
}
