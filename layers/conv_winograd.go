package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Winograd F(2x2, 3x3) for 3x3, stride-1, dilation-1, group-1 Convs with
// constant weights (shaders/conv_winograd.glsl): one fused dispatch, no
// patch matrix, 16 multiplications per 2x2 output tile and channel pair
// where the direct sum and the GEMM take 36. Formulas: A. Lavin and
// S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
// (arXiv:1509.09308), section 4.1.

// The variant "winograd" (convVariant) reads the GEMM path's weights (the
// K-major panels of GemmWeights: gemm_texel's 8 columns on lavapipe,
// gemm_subgroup's 16 on SwiftShader) and transforms each filter, U = G g
// Gᵀ, inside the kernel: no copy of its own, so taking it costs no device
// memory (resnet18 stays within TestVisionDeviceMemory's bound) and the
// build no host work. The shape is push constants, ReLU a floor in one:
// the layers of a model share one pipeline (lavapipe compiles a pipeline at
// its first dispatch: ~1.5 s of CPU for this kernel, against ~1 s for each
// layer's own before). auto prepares it on lavapipe only (GemmTexel),
// where the measured choice times it against the GEMM path per layer and
// takes it where it is over 5 % faster (resnet18's 56² and 28² layers,
// squeezenet's first expand: docs/PERFORMANCE.md, "Winograd"); SwiftShader
// ran it 1.6-4x slower than the GEMM path, and no GPU has measured it.
// $VKINFER_CONV=winograd or all prepare it on every device, on panels of
// its own where the GEMM path has none (GPUs, VKINFER_GEMM=gemv).
func init() {
	registerConvVariant(&convVariant{name: "winograd", shares: "gemm", prepare: (*conv).prepareWinograd,
		always:   func(c *conv) bool { return c.wino != nil },
		eligible: (*conv).winogradEligibleFor, record: (*conv).recordWinograd,
		release: (*conv).releaseWinograd})
}

// winograd is how a Conv runs as Winograd F(2x2, 3x3), when prepared; the
// filters are the GEMM path's (conv.gw) or, where it has none, its own.
type winograd struct {
	m, c int // output and input channels
	mb   int // output channels per invocation (4 or 8; divides the panel)
	tt   int // 2x2 tiles per invocation (1 to 8)
	// local, when nonzero, is the workgroup size (winogradBlocks).
	local int
	// own, when set, are panels of its own (the GEMM path has none:
	// prepareWinograd); else it reads conv.gw.
	own *GemmWeights
}

// winogradBlocks, when set (tests and TestConvSpeed), overrides the
// kernel's blocks: MB output channels x TT tiles per invocation, and the
// workgroup size.
var winogradBlocks struct{ mb, tt, local int }

// winogradEligible reports whether a Conv with resolved attributes a,
// group and constant weights wt (nil when they are runtime inputs) can run
// as Winograd F(2x2, 3x3): 2-D, a 3x3 kernel, strides and dilations 1,
// group 1, at most MaxInvocationLoops input channels. Pads may be
// anything.
func winogradEligible(a ops.Attrs, group int, wt *model.Tensor) bool {
	if wt == nil || group != 1 || len(wt.Shape) != 4 || wt.Shape[2] != 3 || wt.Shape[3] != 3 || len(wt.Data) == 0 {
		return false
	}
	c := wt.Shape[1]
	// Strides and dilations do not depend on the input size: resolve the
	// window on a stand-in input.
	g, err := ops.ConvWindow(a, []int{1, c, 8, 8}, wt.Shape)
	if err != nil || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 {
		return false
	}
	return c <= MaxInvocationLoops // one invocation loops over the input channels
}

// winogradReads reports whether the kernel can read weights gw (nil: none)
// with a channel block of mb: fp32 panels whose width mb divides.
func winogradReads(gw *GemmWeights, mb int) bool {
	return gw != nil && gw.b.layout == bPanels && !gw.b.f16 && gw.b.panel%mb == 0
}

// winogradBlock is the kernel's output-channel block MB for m channels on
// d: 4 on lavapipe (the texel kernel), else 8 (m <= 4: 4). Measured with
// TestConvSpeed (docs/PERFORMANCE.md, "Winograd").
func winogradBlock(d *engine.Device, m int) int {
	if winogradBlocks.mb != 0 {
		return winogradBlocks.mb
	}
	if m <= 4 || ChooseGemmKernel(d.Info(), 64, 64, 64) == GemmTexel {
		return 4
	}
	return 8
}

// winogradTiles is the kernel's tiles per invocation TT on d: 4 on
// lavapipe, else 2 (TestConvSpeed: docs/PERFORMANCE.md, "Winograd").
func winogradTiles(d *engine.Device) int {
	if winogradBlocks.tt != 0 {
		return winogradBlocks.tt
	}
	if ChooseGemmKernel(d.Info(), 64, 64, 64) == GemmTexel {
		return 4
	}
	return 2
}

// prepareWinograd enables Winograd for constant weights wt [m, c, 3, 3]
// where the layer can run it and $VKINFER_CONV allows it: auto on lavapipe
// (GemmTexel), on the GEMM path's panels (prepared before it); winograd or
// all on any device, on panels of its own where the GEMM path has none
// (GPUs, VKINFER_GEMM=gemv, a layer too large for the texel view).
func (c *conv) prepareWinograd(wt *model.Tensor) error {
	mode, err := convMode()
	if err != nil || !winogradEligible(c.a, c.group, wt) {
		return err
	}
	m, k := wt.Shape[0], len(wt.Data)/wt.Shape[0]
	w := &winograd{m: m, c: wt.Shape[1], mb: winogradBlock(c.d, m), tt: winogradTiles(c.d), local: winogradBlocks.local}
	switch {
	case mode == "" && ChooseGemmKernel(c.d.Info(), 64, 64, 64) == GemmTexel && winogradReads(c.gw, w.mb):
	case mode == "winograd" || mode == "all":
		if winogradReads(c.gw, w.mb) {
			break
		}
		const panel = 8 // gemm_texel's; any multiple of MB works
		if uint64(packedBLen(k, m, panel))*4 > uint64(c.d.Info().Limits.MaxStorageBufferRange) {
			return nil
		}
		buf, err := uploadData(c.d, packPanels(wt.Data, m, k, k, 1, panel), true)
		if err != nil {
			return fmt.Errorf("layers: Winograd weights: %w", err)
		}
		w.own = &GemmWeights{K: k, N: m, b: operandB{buf: buf, layout: bPanels, ld: roundUp(k, 4), panel: panel}}
	default:
		return nil
	}
	c.wino = w
	return nil
}

// releaseWinograd frees the kernel's own panels, if any, and turns it off.
func (c *conv) releaseWinograd() {
	if c.wino != nil {
		c.wino.own.Close()
		c.wino = nil
	}
}

// panels returns the weights the kernel reads: its own, else the GEMM
// path's.
func (w *winograd) panels(c *conv) *GemmWeights {
	if w.own != nil {
		return w.own
	}
	return c.gw
}

// winogradEligibleFor: U is prepared for this layer (window g is 3x3,
// stride 1, dilation 1 by its attributes; m and C as prepared).
func (c *conv) winogradEligibleFor(g ops.Window, m int) bool {
	w := c.wino
	return w != nil && w.panels(c) != nil && m == w.m && g.C == w.c && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1
}

// recordWinograd records the Conv as conv_winograd(_texel).comp (where
// winogradEligibleFor): g the resolved window, m output channels.
func (c *conv) recordWinograd(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
	w := c.wino
	bias := c.b.bufOf(in)
	th, twg, mblk := ceilDiv(g.OH, 2), ceilDiv(ceilDiv(g.OW, 2), w.tt), ceilDiv(m, w.mb)
	count := g.N * mblk * th * twg
	wp := w.panels(c)
	bufs := []*engine.Buffer{in[0], wp.b.buf, bias, out}
	name := "conv_winograd"
	if c.directTexel(bufs[:3]) {
		name = "conv_winograd_texel"
	}
	hasB := uint32(0)
	if c.hasB {
		hasB = 1
	}
	local := elementLocal(c.d, count)
	if w.local != 0 {
		local = uint32(w.local)
	}
	// ReLU as a floor of 0 in a push constant, so that a model's layers with
	// and without it share one pipeline (lavapipe compiles each at its
	// first dispatch: ~1.5 s of CPU for this kernel).
	act, lo := c.act, float32(math.Inf(-1))
	if act == ops.ActReLU {
		act, lo = ops.ActNone, 0
	}
	p, err := c.d.Pipeline(name, engine.Spec{"local_size_x": local, "HAS_BIAS": hasB, "ACT": uint32(act),
		"MB": u32(w.mb), "TT": u32(w.tt), "P": u32(wp.b.panel)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), math.Float32bits(c.alpha), math.Float32bits(c.beta), u32(g.C), u32(g.H), u32(g.W),
		u32(m), u32(g.OH), u32(g.OW), uint32(int32(g.PadT)), uint32(int32(g.PadL)), u32(wp.b.ld), u32(th), u32(twg), u32(mblk),
		math.Float32bits(lo)}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}
