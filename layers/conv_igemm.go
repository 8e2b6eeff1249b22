package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The implicit-GEMM Conv kernel (shaders/conv_igemm.glsl): a group-1 Conv
// as the GEMM path's product (rows = output pixels, columns = output
// channels, the reduction over C x KH x KW) with the A operand read straight
// from the input: no patch matrix, one dispatch. Each invocation computes a
// block of TM adjacent output pixels of one row for MB output channels and
// loads each (input channel, window row)'s input span once for all the
// window's columns. It reads the GEMM path's prepared weights (GemmWeights
// panels), so where both can run a layer the weights exist once and the
// measured choice times the two against each other at no memory cost.
//
// The variant "igemm" (convVariant): under auto on lavapipe wherever the
// GEMM path's panels exist (texel views, conv_igemm_texel.comp), so the
// measured choice times it against gemm per layer. Under VKINFER_CONV=igemm
// or all on every device: SwiftShader reads the GEMM path's panels through
// storage buffers (conv_igemm.comp; auto leaves it out there, as it
// measured 1.5-3.6x slower than the GEMM path), and where the GEMM path has
// no panels (GPUs, devices with small limits) it lays out panels of its
// own.
func init() {
	registerConvVariant(&convVariant{name: "igemm", prepare: (*conv).prepareIgemm, always: (*conv).igemmAlways,
		eligible: (*conv).igemmEligible, record: (*conv).recordIgemm, shares: "gemm",
		release: func(c *conv) { c.ig.Close(); c.ig = nil }})
}

// Bounds on conv_igemm's blocks: the loops over the pixels of a block and
// over the input span must unroll (lavapipe's NIR unrolls up to 32
// iterations; an array indexed in a loop that does not unroll becomes
// memory).
const (
	igemmMaxSeg = 32 // floats of one input row span
	igemmTM     = 8  // output pixels per invocation, usually
	igemmTMMin  = 4  // ... at least, unless OW is smaller
	igemmTMMax  = 12 // ... at most by choice
	igemmTMCap  = 16 // ... at most (conv_igemm.glsl's epilogue)
)

// igemmBlocks, when set (tests and TestConvSpeed: SetIgemmBlocks), overrides
// the pixels (tm) and output channels (mb, 4 or 8) per invocation.
var igemmBlocks struct{ tm, mb, cu int }

// igemmShuffle: on lavapipe (subgroups of 8) the weights of an iteration
// are fetched once per subgroup and handed round (conv_igemm.glsl SHUF).
// Tests and TestConvSpeed switch it (SetIgemmShuffle).
var igemmShuffle = true

// subgroupOpsShuffle is the feature bits conv_igemm_texel.comp needs:
// basic and shuffle (VkSubgroupFeatureFlagBits).
const subgroupOpsShuffle = 0x1 | 0x10

// igemmChannels is conv_igemm's input channels per loop iteration for
// window g (CU): 4 for windows up to 3 wide, else 1. With 4 the 1x1 layers
// took 0.75-0.85x the CPU time of 1 and the 3x3 ones 0.85-1.05x; the 7x7
// stem the same at 1 and 4 (TestConvSpeed, igemm/0x0xCU, load 10-14).
func igemmChannels(g ops.Window) int {
	if igemmBlocks.cu != 0 {
		return igemmBlocks.cu
	}
	if g.KW <= 3 {
		return 4
	}
	return 1
}

// igemmWeights returns the panels conv_igemm reads: the GEMM path's, else
// its own (prepareIgemm), else nil.
func (c *conv) igemmWeights() *GemmWeights {
	if c.gw != nil {
		return c.gw
	}
	return c.ig
}

// prepareIgemm makes sure the weights exist as panels where conv_igemm may
// run the layer: the GEMM path's layout (prepareGemm: under auto it has run
// already; under VKINFER_CONV=igemm it runs here), else, under
// VKINFER_CONV=igemm or all, panels of 8 columns of its own. It records in
// c.igemmOK whether the kernel is a candidate for the layer: the window fits
// (igemmFits), and lavapipe or VKINFER_CONV=igemm|all.
func (c *conv) prepareIgemm(wt *model.Tensor) error {
	if wt == nil || c.group != 1 || len(wt.Shape) < 3 || len(wt.Data) == 0 {
		return nil
	}
	// The window's kernel, strides and dilations do not depend on the
	// input size: resolve it on a large stand-in input.
	x := []int{1, wt.Shape[1] * c.group}
	for range wt.Shape[2:] {
		x = append(x, 4096)
	}
	g, err := ops.ConvWindow(c.a, x, wt.Shape)
	if err != nil || !igemmFits(g) {
		return nil // a window that cannot run reports its error when recorded
	}
	mode, err := convMode()
	if err != nil {
		return err
	}
	asked := mode == "igemm" || mode == "all"
	// auto: on lavapipe only (the texel kernel); the storage-buffer kernel
	// measured 1.5-3.6x slower than the GEMM path on SwiftShader.
	if !asked && ChooseGemmKernel(c.d.Info(), 64, 64, 64) != GemmTexel {
		return nil
	}
	c.igemmOK = true
	if c.gw != nil {
		return nil
	}
	if err := c.prepareGemm(wt); err != nil || c.gw != nil || !asked {
		return err
	}
	m := wt.Shape[0]
	k := len(wt.Data) / m
	buf, err := uploadData(c.d, packPanels(wt.Data, m, k, k, 1, 8), true)
	if err != nil {
		return fmt.Errorf("layers: implicit-GEMM weights: %w", err)
	}
	c.ig = &GemmWeights{K: k, N: m, b: operandB{buf: buf, layout: bPanels, ld: roundUp(k, 4), panel: 8}}
	return nil
}

// igemmFits reports whether conv_igemm takes window g at all: one pixel's
// span within igemmMaxSeg floats and the loop over (input channel, window
// row) within one invocation's loop limit. It does not depend on the
// input's batch or spatial size.
func igemmFits(g ops.Window) bool {
	return (g.KW-1)*g.DW+1 <= igemmMaxSeg && g.C*g.KH <= MaxInvocationLoops
}

// igemmAlways: with its weights prepared conv_igemm runs every input shape
// of the layer, except where the bias is a runtime input (kept as the GEMM
// path keeps it: the direct kernel's copy stays beside it).
func (c *conv) igemmAlways() bool {
	return c.igemmOK && c.igemmWeights() != nil && !(c.hasB && c.b.rt >= 0)
}

// igemmEligible: panels prepared for this layer's channels and window.
func (c *conv) igemmEligible(g ops.Window, m int) bool {
	w := c.igemmWeights()
	return c.igemmOK && w != nil && w.b.layout == bPanels && m == w.N && g.C*g.KH*g.KW == w.K && igemmFits(g)
}

// igemmTile returns conv_igemm's block for window g with m output channels
// and weights in panels of p columns: tm adjacent output pixels (the one of
// igemmTMMin..igemmTMMax that wastes the fewest columns at the row's end,
// the fewest blocks among equals; the whole row when it is that short) and
// mb output channels (8 where the panels hold 8 and the window is at most
// 3 wide, else 4), the span within igemmMaxSeg floats.
func igemmTile(g ops.Window, m, p int) (tm, mb int) {
	// 8 channels (two texels of weights a tap) for windows up to 3 wide;
	// wider ones at 8 ran slower than the GEMM path (resnet18's 7x7 stem:
	// 65 ms of CPU against 36 at 4 and 48 for the GEMM path, TestConvSpeed,
	// load 8-10): the loop over a row's taps no longer unrolls.
	mb = 4
	if p%8 == 0 && m > 4 && g.KW <= 3 {
		mb = 8
	}
	seg := func(tm int) int { return (tm-1)*g.SW + (g.KW-1)*g.DW + 1 }
	waste := func(tm int) int { return ceilDiv(g.OW, tm)*tm - g.OW }
	if g.OW <= igemmTMMax {
		tm = g.OW
	} else {
		tm = igemmTM
		for t := igemmTMMin; t <= igemmTMMax; t++ {
			if waste(t) < waste(tm) || waste(t) == waste(tm) && ceilDiv(g.OW, t) < ceilDiv(g.OW, tm) {
				tm = t
			}
		}
	}
	if igemmBlocks.tm != 0 {
		tm = min(igemmBlocks.tm, g.OW, igemmTMCap)
	}
	if igemmBlocks.mb != 0 {
		mb = igemmBlocks.mb
	}
	for tm > 1 && seg(tm) > igemmMaxSeg {
		tm--
	}
	return tm, mb
}

// recordIgemm records the Conv as conv_igemm(_texel).comp (where
// igemmEligible): g the resolved window, m output channels.
func (c *conv) recordIgemm(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
	w := c.igemmWeights()
	tm, mb := igemmTile(g, m, w.b.panel)
	bufs := []*engine.Buffer{in[0], w.b.buf, c.b.bufOf(in), out}
	name := "conv_igemm"
	info := c.d.Info()
	shuf := false
	if w.b.panel%4 == 0 && info.SubgroupOps&subgroupOpsShuffle == subgroupOpsShuffle && c.directTexel(bufs[:3]) {
		name = "conv_igemm_texel"
		shuf = info.SubgroupSize == 8 && igemmShuffle
	}
	rb := g.OH * ceilDiv(g.OW, tm) // invocations per (image, channel block)
	if shuf {
		rb = roundUp(rb, 8)
	}
	count := g.N * ceilDiv(m, mb) * rb
	padded := g.PadT != 0 || g.PadL != 0 || g.PadB != 0 || g.PadR != 0 || g.OW%tm != 0
	p, err := c.d.Pipeline(name, engine.Spec{"local_size_x": elementLocal(c.d, count), "HAS_BIAS": b2u(c.hasB),
		"ACT": uint32(c.act), "TM": u32(tm), "MB": u32(mb), "P": u32(w.b.panel), "K4": u32(w.b.ld),
		"C": u32(g.C), "H": u32(g.H), "W": u32(g.W), "M": u32(m), "OH": u32(g.OH), "OW": u32(g.OW),
		"KH": u32(g.KH), "KW": u32(g.KW), "SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL), "PADDED": b2u(padded), "CU": u32(igemmChannels(g)), "SHUF": b2u(shuf)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), math.Float32bits(c.alpha), math.Float32bits(c.beta)}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}
