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

// The variant "winograd" (convVariant): prepared only when $VKINFER_CONV
// is winograd or all (the measured choice then times it per layer). auto
// leaves it out: measured on the loaded machine it was slower than the
// GEMM path in wall time on most layers (SwiftShader: all), though it used
// less CPU time on lavapipe (docs/PERFORMANCE.md, "Winograd"), it costs
// seconds of pipeline compilation per layer on lavapipe, and no GPU has
// measured it. Where prepared it runs every input shape (always), so U is
// the weights' only copy.
func init() {
	registerConvVariant(&convVariant{name: "winograd", prepare: (*conv).prepareWinograd,
		always:   func(c *conv) bool { return c.wino != nil },
		eligible: (*conv).winogradEligibleFor, record: (*conv).recordWinograd,
		release: func(c *conv) { c.wino.Close(); c.wino = nil }})
}

// winograd is a Conv's weights in the Winograd domain.
type winograd struct {
	u    *engine.Buffer // U = G g Gᵀ in conv_winograd.glsl's layout
	m, c int            // output and input channels
	mb   int            // output channels per invocation (4 or 8)
	tt   int            // 2x2 tiles per invocation (1 to 8)
	// local, when nonzero, is the workgroup size (winogradBlocks).
	local int
}

// winogradBlocks, when set (tests and TestConvSpeed), overrides the
// kernel's blocks: MB output channels x TT tiles per invocation, and the
// workgroup size.
var winogradBlocks struct{ mb, tt, local int }

// winogradEligible reports whether a Conv with resolved attributes a,
// group and constant weights wt (nil when they are runtime inputs) can run
// as Winograd F(2x2, 3x3) on d: 2-D, a 3x3 kernel, strides and dilations 1,
// group 1, and U within one storage-buffer range. Pads may be anything.
func winogradEligible(d *engine.Device, a ops.Attrs, group int, wt *model.Tensor) bool {
	if wt == nil || group != 1 || len(wt.Shape) != 4 || wt.Shape[2] != 3 || wt.Shape[3] != 3 || len(wt.Data) == 0 {
		return false
	}
	m, c := wt.Shape[0], wt.Shape[1]
	// Strides and dilations do not depend on the input size: resolve the
	// window on a stand-in input.
	g, err := ops.ConvWindow(a, []int{1, c, 8, 8}, wt.Shape)
	if err != nil || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 {
		return false
	}
	if c > MaxInvocationLoops {
		return false // one invocation loops over the input channels
	}
	return uint64(winogradFloats(m, c, winogradBlock(d, m))*4) <= uint64(d.Info().Limits.MaxStorageBufferRange)
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

// winogradFloats is the size of U for m output and c input channels in
// blocks of mb: channels padded to a whole block.
func winogradFloats(m, c, mb int) int { return roundUp(m, mb) * c * 16 }

// winogradU returns U = G g Gᵀ for every filter g of w ([m, c, 3, 3]
// row-major), computed in float64 and rounded once, in
// conv_winograd.glsl's layout: float ((blk*c + ci)*16 + k)*mb + q holds
// element k (row-major 4x4) of output channel blk*mb + q, input channel ci;
// zeros for channels past m.
//
//	G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
func winogradU(w []float32, m, c, mb int) []float32 {
	g := [4][3]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}}
	u := make([]float32, winogradFloats(m, c, mb))
	for mi := 0; mi < m; mi++ {
		blk, q := mi/mb, mi%mb
		for ci := 0; ci < c; ci++ {
			f := w[(mi*c+ci)*9:]
			var gf [4][3]float64 // G f
			for i := range 4 {
				for j := range 3 {
					gf[i][j] = g[i][0]*float64(f[j]) + g[i][1]*float64(f[3+j]) + g[i][2]*float64(f[6+j])
				}
			}
			for i := range 4 {
				for k := range 4 { // (G f) Gᵀ
					v := gf[i][0]*g[k][0] + gf[i][1]*g[k][1] + gf[i][2]*g[k][2]
					u[((blk*c+ci)*16+i*4+k)*mb+q] = float32(v)
				}
			}
		}
	}
	return u
}

// prepareWinograd uploads U for constant weights wt [m, c, 3, 3] where
// the layer can run as Winograd and $VKINFER_CONV asks for it (winograd,
// or all for the measured choice).
func (c *conv) prepareWinograd(wt *model.Tensor) error {
	mode, err := convMode()
	if err != nil || mode != "winograd" && mode != "all" || !winogradEligible(c.d, c.a, c.group, wt) {
		return err
	}
	m, ci := wt.Shape[0], wt.Shape[1]
	mb := winogradBlock(c.d, m)
	u, err := uploadData(c.d, winogradU(wt.Data, m, ci, mb), true)
	if err != nil {
		return fmt.Errorf("layers: Winograd weights: %w", err)
	}
	c.wino = &winograd{u: u, m: m, c: ci, mb: mb, tt: winogradTiles(c.d), local: winogradBlocks.local}
	return nil
}

// winogradEligibleFor: U is prepared for this layer (window g is 3x3,
// stride 1, dilation 1 by its attributes; m and C as prepared).
func (c *conv) winogradEligibleFor(g ops.Window, m int) bool {
	w := c.wino
	return w != nil && m == w.m && g.C == w.c && g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1
}

func (w *winograd) Close() {
	if w != nil {
		w.u.Close()
	}
}

// recordWinograd records the Conv as conv_winograd(_texel).comp (where
// winogradEligibleFor): g the resolved window, m output channels.
func (c *conv) recordWinograd(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
	w := c.wino
	bias := c.b.bufOf(in)
	count := g.N * ceilDiv(m, w.mb) * ceilDiv(g.OH, 2) * ceilDiv(ceilDiv(g.OW, 2), w.tt)
	bufs := []*engine.Buffer{in[0], w.u, bias, out}
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
	p, err := c.d.Pipeline(name, engine.Spec{"local_size_x": local, "HAS_BIAS": hasB, "ACT": uint32(c.act),
		"MB": u32(w.mb), "C": u32(g.C), "H": u32(g.H), "W": u32(g.W), "M": u32(m), "OH": u32(g.OH), "OW": u32(g.OW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL), "TT": u32(w.tt)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), math.Float32bits(c.alpha), math.Float32bits(c.beta)}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}
