package layers

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/ops"
)

// The depthwise Conv kernel (conv_dw.glsl): group = C channels, each output
// channel m reading input channel m / (M/C) (a channel multiplier M/C >= 1).
// Each invocation computes a strip of adjacent output columns of one row
// and channel from input row segments loaded once per window row (see
// docs/PERFORMANCE.md, "Depthwise"). It is the Conv variant "dw", before
// the direct kernel in the static rule.

// Bounds on what conv_dw takes: its loops over a row segment and the strip
// must unroll (lavapipe's NIR unrolls up to 32 iterations; a register
// array indexed in a loop that is not unrolled becomes memory), and the
// loop over the window's rows is one invocation's. Other layers run
// conv.comp.
const (
	dwMaxSeg     = 32 // floats of one input row segment
	dwMaxRows    = 64 // KH
	dwStripCols  = 8  // output columns per invocation, usually
	dwStripMax   = 16 // ... at most
	dwStripFloor = 2  // ... and at least, unless OW is smaller
)

func init() {
	registerConvVariant(&convVariant{name: "dw", eligible: (*conv).dwEligible,
		record: func(c *conv, r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
			cols, _ := depthwiseStrip(g, m, c.group)
			return c.recordDepthwise(r, g, m, cols, in, out)
		}})
}

// dwEligible: conv_dw reads the direct kernel's weights (runtime, or its
// copy: conv_dw prepares none) and takes the window (depthwiseStrip).
func (c *conv) dwEligible(g ops.Window, m int) bool {
	if c.w.rt < 0 && c.w.buf == nil {
		return false
	}
	_, ok := depthwiseStrip(g, m, c.group)
	return ok
}

// dwStripOverride, when nonzero, is the strip conv_dw runs with, for tests
// and TestConvSpeed (SetConvDepthwiseStrip).
var dwStripOverride atomic.Int32

// depthwiseStrip returns conv_dw's strip (output columns per invocation) for
// window g with m output channels and the given group, and whether conv_dw
// takes the layer at all.
func depthwiseStrip(g ops.Window, m, group int) (cols int, ok bool) {
	if group != g.C || group < 1 || m%group != 0 || g.KH > dwMaxRows {
		return 0, false
	}
	seg := func(cols int) int { return (cols-1)*g.SW + (g.KW-1)*g.DW + 1 }
	// The strip: a whole row up to dwStripMax columns, else the one of
	// dwStripCols..dwStripMax that wastes the fewest columns at the row's
	// end (the shortest of equals): fewer, longer strips pay the
	// per-invocation work (indices, weights) less often.
	cols = g.OW
	if cols > dwStripMax || seg(cols) > dwMaxSeg {
		cols = dwStripCols
		for c := dwStripCols + 1; c <= dwStripMax && seg(c) <= dwMaxSeg; c++ {
			if ceilDiv(g.OW, c)*c < ceilDiv(g.OW, cols)*cols {
				cols = c
			}
		}
	}
	if v := int(dwStripOverride.Load()); v != 0 {
		cols = min(v, g.OW)
	}
	for cols > min(dwStripFloor, g.OW) && seg(cols) > dwMaxSeg {
		cols--
	}
	if seg(cols) > dwMaxSeg {
		return 0, false
	}
	return cols, true
}

// recordDepthwise records the Conv as conv_dw (depthwiseStrip said it
// takes it) with strips of cols output columns.
func (c *conv) recordDepthwise(r *engine.Recorder, g ops.Window, m, cols int, in []*engine.Buffer, out *engine.Buffer) error {
	count := g.N * m * g.OH * ceilDiv(g.OW, cols)
	hasB := uint32(0)
	if c.hasB {
		hasB = 1
	}
	bufs := []*engine.Buffer{in[0], c.w.bufOf(in), c.b.bufOf(in), out}
	name := "conv_dw"
	if c.directTexel(bufs[:3]) {
		name = "conv_dw_texel"
	}
	p, err := c.d.Pipeline(name, engine.Spec{"local_size_x": elementLocal(c.d, count), "HAS_BIAS": hasB, "ACT": uint32(c.act),
		"PB": u32(cols), "C": u32(g.C), "H": u32(g.H), "W": u32(g.W), "M": u32(m), "OH": u32(g.OH),
		"OW": u32(g.OW), "KH": u32(g.KH), "KW": u32(g.KW), "SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL), "MG": u32(m / c.group)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), math.Float32bits(c.alpha), math.Float32bits(c.beta)}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}
