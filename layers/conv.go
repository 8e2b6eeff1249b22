package layers

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The GPU side of the convolution family (semantics in ops/def_conv.go):
// Conv (with a fused activation: as a GEMM, conv_im2col.comp plus the CPU
// drivers' GEMM kernels, or direct, conv.comp), MaxPool, AveragePool and the
// global pools (pool.comp), BatchNormalization (batchnorm.comp). On lavapipe
// the direct, im2col and pool kernels read through texel views (*_texel).

func init() {
	Register(ops.OpConv, buildConv)
	Register(ops.OpMaxPool, buildPool(ops.OpMaxPool))
	Register(ops.OpAveragePool, buildPool(ops.OpAveragePool))
	Register(ops.OpGlobalAveragePool, buildPool(ops.OpGlobalAveragePool))
	Register(ops.OpGlobalMaxPool, buildPool(ops.OpGlobalMaxPool))
	Register(ops.OpBatchNormalization, buildBatchNorm)
}

// conv is ONNX Conv plus a fused activation. Weights and bias are
// uploaded at build when constant (the weights in the layouts the kernels
// that may run read: see gemmAlways), or read from runtime inputs.
type conv struct {
	d           *engine.Device
	a           ops.Attrs
	group       int
	w, b        operand
	hasB        bool
	noBias      *engine.Buffer // bound in place of an absent bias
	act         ops.Activation
	alpha, beta float32
	// gw is the weights as the B operand of the convolution as a GEMM
	// ([M, C*KH*KW] as prepared GemmWeights, N = M), for a group-1 Conv
	// with constant weights on a device whose GEMM kernel takes the NCHW
	// store (GemmTexel, GemmSubgroup); nil otherwise.
	gw *GemmWeights
	// wino is how the layer runs as Winograd F(2x2, 3x3)
	// (conv_winograd.go), when prepared (it reads gw, or panels of its own).
	wino *winograd
	// ig is conv_igemm's own panels where the GEMM path has none
	// (conv_igemm.go); igemmOK: its window fits that kernel.
	ig      *GemmWeights
	igemmOK bool
	// forced is the variant $VKINFER_CONV names ("" = auto): it runs
	// wherever it is eligible, the static rule elsewhere.
	forced string
	// kept are the variants recorded for good (RecordVariant): their
	// weights stay (DropUnused).
	kept map[string]bool
	// off are the variants DropUnused retired (their weights freed, or
	// still read by a kept one: gemm's under igemm or winograd): no longer
	// offered or picked.
	off map[string]bool
}

// ConvKernelEnv names the environment variable that says how Conv runs,
// for tests and measurements: auto (or empty: the measured choice among the
// kernels whose weights the layer holds, or the static rule), all (every
// kernel's weights are laid out at build, so the measured choice times them
// all; the losers' weights are freed after the first plan), or a variant's
// name (ConvVariants: direct, conv.comp everywhere; gemm, the GEMM path
// wherever it can run, see recordGemm; and any registered later). A forced
// variant's weights are the only ones laid out besides the direct kernel's
// fallback copy; where it is not eligible the static rule runs the layer.
// With auto, constant weights exist once on the device where one variant
// runs every input shape of the layer (convVariant.always: the GEMM path,
// conv.gemmAlways), else also as the direct kernel reads them.
const ConvKernelEnv = "VKINFER_CONV"

// convMode parses $VKINFER_CONV: "" for auto, "all", or a variant's name.
func convMode() (string, error) {
	v := strings.ToLower(os.Getenv(ConvKernelEnv))
	if v == "" || v == "auto" {
		return "", nil
	}
	if v == "all" || convVariantNamed(v) != nil {
		return v, nil
	}
	return "", fmt.Errorf("layers: %s=%q: want auto, all or one of %s", ConvKernelEnv, v, strings.Join(ConvVariants(), ", "))
}

// convVariant is one kernel that can run a Conv: the hook for the measured
// per-layer choice (docs/PERFORMANCE.md "Measured Conv kernels"). A new
// kernel (depthwise, Winograd, ...) is a convVariant registered with
// registerConvVariant from its own file's init; nothing else in this file
// changes. The static rule (measuring off, or nothing to measure) runs the
// first eligible variant in convVariants' order; the measured choice times
// every eligible one on zeroed inputs of the layer's shapes and caches the
// fastest (vkinfer's choose.go).
type convVariant struct {
	// name identifies the variant in $VKINFER_CONV, the choices cache and
	// profiles: lower case, no spaces, unique.
	name string
	// prepare, at build, lays out the constant weights wt [M, C/group, KH,
	// KW] as the variant reads them (in a device block of their own:
	// uploadData(d, data, true), so that release returns the memory) and
	// keeps them in c (its own field), or
	// does nothing where the variant cannot run the layer (group, kernel
	// size, device). wt is nil for runtime weights. Variants are prepared
	// in convVariants' order; direct (last) is skipped when a variant
	// prepared before it is always (its copy would never run). Nil:
	// nothing to prepare.
	prepare func(c *conv, wt *model.Tensor) error
	// always reports whether the variant, as prepared, runs every input
	// shape the built layer can be given (eligible never refuses one): then
	// the other variants' weights are not needed as a fallback.
	always func(c *conv) bool
	// eligible reports whether the variant can run the layer for window g
	// (m output channels): its weights are prepared (or runtime) and the
	// shape is within its limits. It must not record or allocate.
	eligible func(c *conv, g ops.Window, m int) bool
	// record records the layer with the variant (only called when
	// eligible): in are the runtime inputs (X, then any runtime weights and
	// bias: use c.w.bufOf(in), c.b.bufOf(in)), out the output.
	record func(c *conv, r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error
	// release frees what prepare made (after a measured choice the losers'
	// weights are dropped where the winner runs every shape). Nil: nothing.
	// A variant without prepare reads the direct kernel's weights (c.w, as
	// dw does): they stay while it is kept.
	release func(c *conv)
	// shares names the variant whose prepared weights this one reads as
	// well (igemm and winograd read gemm's panels): they are prepared where
	// this one is forced, and stay while it is kept (DropUnused then
	// retires that variant without freeing them).
	shares string
}

// convVariants are the Conv kernels in the static rule's order of
// preference: the GEMM path first, the direct kernel (which runs every
// Conv) last.
var convVariants = []*convVariant{
	{name: "gemm", prepare: (*conv).prepareGemm, always: (*conv).gemmAlways, eligible: (*conv).gemmEligible,
		record: (*conv).recordGemm, release: func(c *conv) { c.gw.Close(); c.gw = nil }},
	{name: "direct", prepare: (*conv).prepareDirect, always: func(*conv) bool { return true },
		eligible: (*conv).directEligible, record: (*conv).recordDirect, release: (*conv).releaseDirect},
}

// registerConvVariant adds v to the Conv kernels, before the direct kernel
// (the static rule prefers a specialised kernel to the general one). Call
// it from an init function.
func registerConvVariant(v *convVariant) {
	if v.name == "" || v.eligible == nil || v.record == nil || convVariantNamed(v.name) != nil {
		panic("layers: registerConvVariant: a variant needs a new name, eligible and record")
	}
	n := len(convVariants)
	convVariants = append(convVariants[:n-1:n-1], v, convVariants[n-1])
}

// convVariantNamed returns the variant called name, or nil.
func convVariantNamed(name string) *convVariant {
	for _, v := range convVariants {
		if v.name == name {
			return v
		}
	}
	return nil
}

// ConvVariants returns the names of the Conv kernels in the static rule's
// order of preference (the values $VKINFER_CONV takes besides auto).
func ConvVariants() []string {
	s := make([]string, len(convVariants))
	for i, v := range convVariants {
		s[i] = v.name
	}
	return s
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
	var wt *model.Tensor // the constant weights, else nil
	if c.w, wt, err = n.operandLazy(1, &rt); err != nil {
		return nil, err
	}
	if c.b, c.noBias, err = n.biasOperand(2, &rt); err != nil {
		return nil, err
	}
	c.hasB = c.noBias == nil
	if c.forced, err = convMode(); err != nil {
		return nil, n.errorf("%w", err)
	}
	all := c.forced == "all"
	if all {
		c.forced = ""
	}
	always := false // a variant prepared so far runs every shape
	forced := convVariantNamed(c.forced)
	for _, v := range convVariants {
		if v.prepare == nil || forced != nil && v.name != c.forced && v.name != "direct" && v.name != forced.shares {
			continue
		}
		if v.name == "direct" && always && !all {
			continue // the fallback copy is not needed: the weights exist once
		}
		if err := v.prepare(c, wt); err != nil {
			return nil, n.errorf("%w", err)
		}
		always = always || v.always != nil && v.always(c)
	}
	return c, nil
}

// prepareDirect uploads the direct kernel's copy of constant weights
// (buildConv skips it when another prepared variant runs every shape).
func (c *conv) prepareDirect(wt *model.Tensor) (err error) {
	if wt == nil {
		return nil
	}
	data := wt.Data
	if len(data) == 0 {
		data = []float32{0}
	}
	c.w.buf, err = uploadData(c.d, data, true)
	return err
}

// releaseDirect frees the direct kernel's copy of constant weights.
func (c *conv) releaseDirect() {
	if c.w.rt < 0 && c.w.buf != nil {
		c.w.buf.Close()
		c.w.buf = nil
	}
}

// gemmAlways reports whether recordGemm runs this Conv for every input
// shape it can be given: every refusal there that does not depend on the
// input's batch or spatial size, evaluated for the built layer (rows are
// chunked, so any number of output pixels runs; the patch row K is fixed by
// the weights). A shape with another K is an error there, not a fallback.
func (c *conv) gemmAlways() bool {
	if c.gw == nil {
		return false
	}
	info := c.d.Info()
	texel := c.gw.b.panel == 8
	if c.hasB && (c.b.rt >= 0 || texel && !texelFits(info, c.b.buf.Len())) {
		return false // a runtime bias's size is known only when recorded
	}
	if !texel && !subgroupCapable(info) {
		return false
	}
	return c.patchLDA() <= c.patchFloatsMax()
}

// patchLDA is the patch matrix's row stride for the prepared weights:
// rows aligned to texels for the texel kernel (one fetch per 4 k).
func (c *conv) patchLDA() int {
	if c.gw.b.panel == 8 {
		return roundUp(c.gw.K, 4)
	}
	return c.gw.K
}

// patchFloatsMax is the most floats the patch-matrix temporary may hold on
// this device: one storage-buffer range, and one texel view for the texel
// kernel.
func (c *conv) patchFloatsMax() int {
	info := c.d.Info()
	n := int(info.Limits.MaxStorageBufferRange / 4)
	if c.gw.b.panel == 8 {
		n = min(n, 4*int(info.Limits.MaxTexelBufferElements))
	}
	return n
}

// prepareGemm lays out constant weights w [M, C, KH, KW] as GemmWeights
// when the convolution can run as a GEMM on this device (group 1, a GEMM
// kernel with the NCHW store, weights in that kernel's panels).
func (c *conv) prepareGemm(w *model.Tensor) error {
	d := c.d
	if c.group != 1 || w == nil || len(w.Shape) < 3 || len(w.Data) == 0 {
		return nil
	}
	m := w.Shape[0]
	k := len(w.Data) / m
	switch ChooseGemmKernel(d.Info(), 64, m, k) {
	case GemmTexel, GemmSubgroup, GemmShuffle:
	default:
		return nil
	}
	gw, err := newGemmWeights(d, w.Data, k, m, true, true)
	if err != nil {
		return err
	}
	if gw.b.layout != bPanels {
		gw.Close() // too large for the texel kernel's view: the direct kernel
		return nil
	}
	c.gw = gw
	return nil
}

func (c *conv) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return c.RecordVariant(r, in, shapes, out, "")
}

// window returns the layer's geometry for its input shapes and its output
// channels; m*N*OH*OW == 0: nothing to record.
func (c *conv) window(shapes []Shape) (ops.Window, int, error) {
	ws := c.w.shapeOf(shapes)
	g, err := ops.ConvWindow(c.a, shapes[0], ws)
	if err != nil {
		return g, 0, fmt.Errorf("layers: %w", err)
	}
	return g, ws[0], nil
}

// Variants returns the names of the kernels that can run the layer for
// these input shapes (VariantLayer): the forced one alone where
// $VKINFER_CONV names an eligible one, else every eligible one with the
// static rule's choice first. Nil for an empty output.
func (c *conv) Variants(shapes []Shape) []string {
	g, m, err := c.window(shapes)
	if err != nil || g.N*m*g.OH*g.OW == 0 {
		return nil
	}
	var names []string
	for _, v := range convVariants {
		if !c.off[v.name] && v.eligible(c, g, m) {
			if v.name == c.forced {
				return []string{v.name}
			}
			names = append(names, v.name)
		}
	}
	return names
}

// VariantKey names the layer's choice (VariantLayer): the geometry of
// ops.Window, the output channels, group, fused activation and bias.
func (c *conv) VariantKey(shapes []Shape) string {
	g, m, err := c.window(shapes)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("Conv n%d c%d h%d w%d m%d k%dx%d s%dx%d d%dx%d p%d,%d,%d,%d g%d act%d,%g,%g bias%t",
		g.N, g.C, g.H, g.W, m, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PadT, g.PadL, g.PadB, g.PadR, c.group,
		c.act, c.alpha, c.beta, c.hasB)
}

// RecordVariant records the layer with the named kernel (VariantLayer);
// "" or a kernel not eligible for these shapes: the first of Variants.
func (c *conv) RecordVariant(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer, variant string) error {
	return c.recordVariant(r, in, shapes, out, variant, true)
}

// TrialVariant records the named kernel for timing (VariantLayer).
func (c *conv) TrialVariant(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer, variant string) error {
	return c.recordVariant(r, in, shapes, out, variant, false)
}

// DropUnused retires the variants not kept and frees their weights (those
// a kept variant reads stay), where a kept variant runs every shape
// (VariantLayer).
func (c *conv) DropUnused() {
	always := false
	for _, v := range convVariants {
		always = always || c.kept[v.name] && v.always != nil && v.always(c)
	}
	if !always {
		return
	}
	read := map[string]bool{} // weights a kept variant reads
	for _, v := range convVariants {
		switch {
		case !c.kept[v.name]:
		case v.shares != "":
			read[v.shares] = true
		case v.prepare == nil:
			read["direct"] = true
		}
	}
	for _, v := range convVariants {
		if c.kept[v.name] {
			continue
		}
		if v.release != nil && !read[v.name] {
			v.release(c)
		}
		if c.off == nil {
			c.off = map[string]bool{}
		}
		c.off[v.name] = true // retired, its weights freed or read by a kept one
	}
}

func (c *conv) recordVariant(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer, variant string, keep bool) error {
	g, m, run, err := c.choose(shapes, variant, keep)
	if run == nil {
		return err
	}
	return run.record(c, r, g, m, in, out[0])
}

// choose resolves the window for shapes (m output channels) and the variant
// that records it (pick), marking that variant kept when keep. run is nil
// with a nil error when the output is empty (nothing to record), nil with
// the refusal when no variant runs the shape.
func (c *conv) choose(shapes []Shape, variant string, keep bool) (g ops.Window, m int, run *convVariant, err error) {
	g, m, err = c.window(shapes)
	if err != nil || g.N*m*g.OH*g.OW == 0 {
		return g, m, nil, err
	}
	if run = c.pick(g, m, variant); run == nil {
		return g, m, nil, c.refusal(g, shapes[0])
	}
	if keep {
		if c.kept == nil {
			c.kept = map[string]bool{}
		}
		c.kept[run.name] = true
	}
	return g, m, run, nil
}

// pick returns the variant called name where it is eligible for window g,
// else the forced one where eligible, else the first eligible one (the
// static rule); nil when none is.
func (c *conv) pick(g ops.Window, m int, name string) *convVariant {
	for i, want := range []string{name, c.forced, ""} {
		if want == "" && i < 2 {
			continue // no name, or nothing forced: the static rule, last
		}
		for _, v := range convVariants {
			if (want == "" || v.name == want) && !c.off[v.name] && v.eligible(c, g, m) {
				return v
			}
		}
	}
	return nil
}

// refusal is the error for a shape no variant runs.
func (c *conv) refusal(g ops.Window, x Shape) error {
	if c.w.rt < 0 && c.w.buf == nil {
		// An always variant promised to run every shape; a refusal is a
		// bug there.
		return fmt.Errorf("layers: Conv %q: no kernel runs input %v and the weights are only in the layouts of kernels that refused it", c.a.Node.Name, x)
	}
	// conv.comp sums C/group·KH·KW products in one invocation (its block
	// loops over MB and PB unroll): past lavapipe's loop limit it would
	// stop short.
	loops := g.C / c.group * g.KH * g.KW
	return fmt.Errorf("layers: Conv %q: %d channels per group x a %dx%d kernel loops %d times per output in the direct kernel, more than one invocation may (%d; lavapipe stops loops after 65,535 iterations), and the GEMM path cannot run it (it takes up to about 240,000 with constant weights, group 1): %w",
		c.a.Node.Name, g.C/c.group, g.KH, g.KW, loops, MaxInvocationLoops, ErrUnsupported)
}

// directEligible: the direct kernel has the weights (runtime, or its own
// copy) and loops at most MaxInvocationLoops times per output.
func (c *conv) directEligible(g ops.Window, m int) bool {
	if c.w.rt < 0 && c.w.buf == nil {
		return false
	}
	return g.C/c.group*g.KH*g.KW <= MaxInvocationLoops
}

// recordDirect records conv.comp (conv_texel.comp on lavapipe).
func (c *conv) recordDirect(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
	mb, pb := convBlocks(m, c.group, g.OW)
	count := g.N * ((m + mb - 1) / mb) * g.OH * ((g.OW + pb - 1) / pb)
	hasB := uint32(0)
	if c.hasB {
		hasB = 1
	}
	bufs := []*engine.Buffer{in[0], c.w.bufOf(in), c.b.bufOf(in), out}
	name := "conv"
	if c.directTexel(bufs[:3]) {
		name = "conv_texel"
	}
	p, err := c.d.Pipeline(name, engine.Spec{"local_size_x": elementLocal(c.d, count), "HAS_BIAS": hasB, "ACT": uint32(c.act),
		"MB": uint32(mb), "PB": uint32(pb), "C": u32(g.C), "H": u32(g.H), "W": u32(g.W), "M": u32(m), "OH": u32(g.OH),
		"OW": u32(g.OW), "KH": u32(g.KH), "KW": u32(g.KW), "SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL), "CG": u32(g.C / c.group), "MG": u32(m / c.group)})
	if err != nil {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	push := []uint32{u32(count), math.Float32bits(c.alpha), math.Float32bits(c.beta)}
	return r.Dispatch(p, bufs, push, c.d.Grid(p, uint64(count)))
}

// convChunkFloats bounds the patch-matrix temporary of one Conv (default
// 4Mi floats, 16 MiB): larger products run in chunks of rows that reuse it.
// Tests lower it to run the chunking. Below it, the temporary is held to
// a sixteenth of the layer's output, or convChunkMinFloats when that is
// larger (convChunkTarget), so that it is small beside the activations that
// are live anyway: at batch 1 the patch matrices would otherwise outweigh
// them (resnet18: 7.4 MB of temporaries for 4.0 MB of activations).
var convChunkFloats atomic.Int64

func init() { convChunkFloats.Store(4 << 20) }

// convChunkMinFloats is the least patch-matrix chunk convChunkTarget asks
// for, 64Ki floats (256 KiB): smaller chunks mean more dispatches.
const convChunkMinFloats = 64 << 10

// convChunkTarget is the patch-matrix chunk, in floats, for a Conv whose
// output holds outFloats (see convChunkFloats).
func convChunkTarget(outFloats int) int {
	return min(int(convChunkFloats.Load()), max(convChunkMinFloats, outFloats/16))
}

// convSplit, for TestConvSpeed only (export_test.go), records one half of
// the GEMM path: 1 the patch matrix alone, 2 the GEMM alone (on whatever the
// temporary holds). 0, the default, records both.
var convSplit atomic.Int32

// gemmEligible reports whether recordGemm can run the layer for window g:
// weights prepared for the GEMM, a bias within one texel view on the texel
// kernel, subgroup support on the subgroup kernel, and either the in-place
// 1x1 form or a patch row within the device's limits.
func (c *conv) gemmEligible(g ops.Window, m int) bool {
	if c.gw == nil {
		return false
	}
	info := c.d.Info()
	texel := c.gw.b.panel == 8
	if c.hasB && texel && !texelFits(info, m) {
		return false
	}
	if !texel && !subgroupCapable(info) {
		return false
	}
	return c.pointwiseGemm(g) || c.patchLDA() <= c.patchFloatsMax()
}

// pointwiseGemm reports whether the GEMM path reads X in place as Aᵀ: a
// 1x1, stride-1, unpadded Conv (on the texel kernel: an image within a
// texel view and H*W a multiple of 4). An image after the first is read
// through a view starting at its offset, so with N > 1 each image's C*H*W
// floats must be a multiple of the device's binding alignment.
func (c *conv) pointwiseGemm(g ops.Window) bool {
	pointwise := g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PadT == 0 && g.PadL == 0 && g.OH == g.H && g.OW == g.W
	rows, k := g.OH*g.OW, g.C
	if !pointwise || g.N > 1 && int64(4*rows*k)%c.d.Alignment() != 0 {
		return false
	}
	return c.gw.b.panel != 8 || texelFits(c.d.Info(), rows*k) && rows%4 == 0
}

// recordGemm records the convolution as a GEMM (where gemmEligible): per
// chunk of output pixels, conv_im2col.comp writes the patch matrix A
// [pixels, C*KH*KW] into a temporary, and the device's GEMM kernel
// multiplies it by the prepared weights Wᵀ [C*KH*KW, M], adds the bias,
// applies the activation and stores the result as NCHW. A 1x1, stride-1,
// unpadded Conv reads its input in place as Aᵀ (image n of X is [C, H*W]),
// one GEMM per image: no patch matrix.
func (c *conv) recordGemm(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer) error {
	return c.recordGemmImages(r, g, m, in, out, 0)
}

// recordGemmImages is recordGemm with the output's image n at element
// n*stride of out (0: m*OH*OW, contiguous): patch-matrix chunks end at
// image ends and each GEMM stores into a view of its image.
func (c *conv) recordGemmImages(r *engine.Recorder, g ops.Window, m int, in []*engine.Buffer, out *engine.Buffer, stride int) error {
	d := c.d
	info := d.Info()
	k := g.C * g.KH * g.KW
	rows := g.N * g.OH * g.OW
	if k != c.gw.K || m != c.gw.N {
		return fmt.Errorf("layers: Conv %q: input %dx%d channels x window with weights prepared for %d", c.a.Node.Name, g.C, g.KH*g.KW, c.gw.K)
	}
	texel := c.gw.b.panel == 8
	fail := func(err error) error {
		return fmt.Errorf("layers: Conv %q: %w", c.a.Node.Name, err)
	}
	gm := Gemm{M: rows, N: m, K: k, Act: c.act, Alpha: c.alpha, Beta: c.beta, OutHW: g.OH * g.OW}
	if c.hasB {
		gm.Bias = c.b.bufOf(in)
	}
	hw := g.OH * g.OW
	// image returns out, or a view of image n's place in it when the
	// images are apart.
	image := func(n int) (*engine.Buffer, error) {
		if stride == 0 {
			return out, nil
		}
		return r.View(out, 4*int64(n)*int64(stride), 4*int64(m*hw))
	}
	if c.pointwiseGemm(g) {
		gm.TransA = true
		if g.N == 1 && stride == 0 {
			if err := RecordGemmWeights(r, d, gm, in[0], c.gw, out); err != nil {
				return fail(err)
			}
			return nil
		}
		// One GEMM per image: A is the image's [C, H*W] plane set, its
		// rows pixel n*H*W + p of the NCHW store (OutRow0), or pixel p of
		// its image's view.
		for n := 0; n < g.N; n++ {
			x, err := r.View(in[0], int64(4*n*k*hw), int64(4*k*hw))
			if err != nil {
				return fail(err)
			}
			gc := gm
			gc.M, gc.OutRow0 = hw, n*hw
			y, err := image(n)
			if err != nil {
				return fail(err)
			}
			if stride > 0 {
				gc.OutRow0 = 0
			}
			if err := RecordGemmWeights(r, d, gc, x, c.gw, y); err != nil {
				return fail(err)
			}
		}
		return nil
	}
	lda := c.patchLDA()
	// convChunkFloats is a target, the device's limits a bound: a row
	// longer than the target runs one row a chunk.
	chunk := min(rows, max(1, min(convChunkTarget(rows*m), c.patchFloatsMax())/lda))
	if chunk < rows && chunk >= 8 {
		chunk -= chunk % 8 // whole register blocks
	}
	a, err := r.Temp(int64(4 * chunk * lda))
	if err != nil {
		return fail(err)
	}
	im2col := "conv_im2col"
	if texel && texelFits(info, in[0].Len()) {
		im2col = "conv_im2col_texel" // lda % 4 == 0
	}
	spec := engine.Spec{"local_size_x": 64, "C": u32(g.C), "H": u32(g.H), "W": u32(g.W), "OH": u32(g.OH), "OW": u32(g.OW),
		"KH": u32(g.KH), "KW": u32(g.KW), "SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL), "K": u32(k), "LDA": u32(lda)}
	p, err := d.Pipeline(im2col, spec)
	if err != nil {
		return fail(err)
	}
	for row0 := 0; row0 < rows; {
		n := min(chunk, rows-row0)
		y, outRow0 := out, row0
		if stride > 0 { // the chunk ends at its image's end
			img := row0 / hw
			n = min(n, (img+1)*hw-row0)
			if y, err = image(img); err != nil {
				return fail(err)
			}
			outRow0 = row0 - img*hw
		}
		count := n * ceilDiv(lda, 4)
		push := []uint32{u32(count), u32(row0)}
		if convSplit.Load() != 2 {
			if err := r.Dispatch(p, []*engine.Buffer{in[0], a}, push, d.Grid(p, uint64(count))); err != nil {
				return fail(err)
			}
		}
		row0 += n
		if convSplit.Load() == 1 {
			continue
		}
		gc := gm
		gc.M, gc.OutRow0, gc.LDA = n, outRow0, lda
		if err := RecordGemmWeights(r, d, gc, a, c.gw, y); err != nil {
			return fail(err)
		}
	}
	return nil
}

// ByImage reports whether writing the Conv's output images apart
// (RecordStrided) costs about what the batch does (ByImageLayer): with
// constant weights, yes: the GEMM path keeps its patch-matrix chunks (cut
// at image ends) and the other kernels work per output block anyway.
func (c *conv) ByImage(x Shape) bool {
	return c.w.rt < 0 && c.b.rt < 0
}

// RecordStrided records the Conv with its output's image n at element
// n*stride of out (StridedLayer): the GEMM path with its chunks cut at
// image ends, each chunk's GEMM storing into a view of its image; another
// kernel image by image on views of X and out.
func (c *conv) RecordStrided(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out *engine.Buffer, stride int, variant string) error {
	g, m, run, err := c.choose(shapes, variant, true)
	if run == nil {
		return err
	}
	outImg := int64(m * g.OH * g.OW)
	if run.name == "gemm" {
		return c.recordGemmImages(r, g, m, in, out, stride)
	}
	inImg := int64(shapes[0].Elems() / g.N)
	g1 := g
	g1.N = 1
	for n := range int64(g.N) {
		x, err := r.View(in[0], 4*n*inImg, 4*inImg)
		if err != nil {
			return err
		}
		y, err := r.View(out, 4*n*int64(stride), 4*outImg)
		if err != nil {
			return err
		}
		if err := run.record(c, r, g1, m, append([]*engine.Buffer{x}, in[1:]...), y); err != nil {
			return err
		}
	}
	return nil
}

// directTexel reports whether the direct kernel reads its inputs through
// texel views (conv_texel.comp): on lavapipe (the device whose GEMM kernel
// is GemmTexel), when each fits one view.
func (c *conv) directTexel(in []*engine.Buffer) bool {
	info := c.d.Info()
	if ChooseGemmKernel(info, 64, 64, 64) != GemmTexel {
		return false
	}
	for _, b := range in {
		if !texelFits(info, b.Len()) {
			return false
		}
	}
	return true
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
	c.gw.Close()
	c.releaseWinograd()
	c.ig.Close()
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
	if loops := g.KH * (g.KW + 1); loops > MaxInvocationLoops {
		// One invocation per output would loop over the window past
		// lavapipe's loop limit: a global pool is a reduction, which
		// spreads a plane over a workgroup.
		global := g.OH == 1 && g.OW == 1 && g.KH == g.H && g.KW == g.W && g.PadT == 0 && g.PadL == 0 && g.PadB == 0 && g.PadR == 0 && g.DH == 1 && g.DW == 1
		if !global {
			return fmt.Errorf("layers: %s %q: a %dx%d window loops %d times per output, more than one invocation may (%d; lavapipe stops loops after 65,535 iterations): %w",
				l.a.Node.Op, l.a.Node.Name, g.KH, g.KW, loops, MaxInvocationLoops, ErrUnsupported)
		}
		op := ops.ReduceMax
		if l.mode != 0 {
			op = ops.ReduceMean
		}
		rg := Reduce{Op: op, Shape: Shape{g.N * g.C, g.H * g.W}, Axes: []bool{false, true}}
		if err := RecordReduce(r, l.d, rg, in[0], out[0]); err != nil {
			return fmt.Errorf("layers: %s %q: %w", l.a.Node.Op, l.a.Node.Name, err)
		}
		return nil
	}
	name := "pool"
	info := l.d.Info()
	texel := ChooseGemmKernel(info, 64, 64, 64) == GemmTexel && texelFits(info, in[0].Len())
	spec := engine.Spec{"MODE": l.mode,
		"H": u32(g.H), "W": u32(g.W), "OH": u32(g.OH), "OW": u32(g.OW), "KH": u32(g.KH), "KW": u32(g.KW),
		"SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW), "PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL),
		"END_H": u32(g.H + g.PadB), "END_W": u32(g.W + g.PadR)}
	// Strips on lavapipe (texel loads) only: on SwiftShader they measured
	// slower (BenchmarkPool); tests force them there too.
	if strip := poolStrip(g); strip > 1 && (texel || poolStripOverride > 1) {
		name, spec["STRIP"] = "pool_strip", u32(strip)
		count = g.N * g.C * g.OH * ceilDiv(g.OW, strip)
	}
	if texel {
		name += "_texel"
	}
	spec["local_size_x"] = elementLocal(l.d, count)
	p, err := l.d.Pipeline(name, spec)
	if err != nil {
		return fmt.Errorf("layers: %s %q: %w", l.a.Node.Op, l.a.Node.Name, err)
	}
	push := []uint32{u32(count)}
	return r.Dispatch(p, []*engine.Buffer{in[0], out[0]}, push, l.d.Grid(p, uint64(count)))
}

// poolStripOverride, when not 0, is the strip poolStrip returns where a
// strip can run (1: none; tests and benchmarks).
var poolStripOverride int

// poolStrip is how many outputs of a row one invocation of the windowed
// pool computes (pool_strip.glsl: the input rows their windows cover are
// loaded once), or 1 (pool.glsl): a row of one output, a strip whose input
// span would not fit in registers (64 values), or one that would loop past
// lavapipe's limit.
func poolStrip(g ops.Window) int {
	strip := 4 // over 1 and 8: BenchmarkPool, docs/PERFORMANCE.md
	if poolStripOverride != 0 {
		strip = poolStripOverride
	}
	strip = min(strip, g.OW)
	span := (strip-1)*g.SW + (g.KW-1)*g.DW + 1
	if strip <= 1 || span > 64 || g.KH*(span+strip*(g.KW+1)) > MaxInvocationLoops {
		return 1
	}
	return strip
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
