package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// SetChainLocalSize sets the workgroup size c records with, so tests run
// the wide-workgroup path (GPUs) on CPU drivers too.
func SetChainLocalSize(c *DenseChain, n int) {
	c.ls = n
	if c.head != nil {
		c.head.ls = n
		SetChainLocalSize(c.tail, n)
	}
}

// SetChainSplit sets the column groups per workgroup of c's split form
// (0: none), so tests cover an uneven last workgroup and one workgroup.
func SetChainSplit(c *DenseChain, groups int) {
	if c.head != nil {
		c.head.split = groups
		c.tail.Budget = c.Budget
	}
}

// ChainSplit returns the column groups per workgroup of c's split form
// (0: none).
func ChainSplit(c *DenseChain) int {
	if c.head == nil {
		return 0
	}
	return c.head.split
}

// SetConvChunkFloats sets the patch-matrix bound of Conv's GEMM path (so
// tests run its chunking) and returns the previous one.
func SetConvChunkFloats(n int) int { return int(convChunkFloats.Swap(int64(n))) }

// SetConvSplit makes Conv's GEMM path record only the patch matrix (1) or
// only the GEMM (2), 0 both, for timing the halves; it returns the previous
// setting.
func SetConvSplit(v int) int { return int(convSplit.Swap(int32(v))) }

// InferNode returns n's output shapes for its runtime input shapes, through
// package ops (the op's definition), for tests that build layers by hand:
// constant inputs are read from consts.
func InferNode(n *model.Node, consts func(string) *model.Tensor, in []Shape) ([]Shape, error) {
	vals := make([]ops.Value, len(n.Inputs))
	rt := 0
	for i, name := range n.Inputs {
		switch t := consts(name); {
		case name == "":
			vals[i].Absent = true
		case t != nil:
			vals[i] = ops.Value{Shape: t.Shape, Const: ops.F32(t.Shape, t.Data)}
		default:
			if rt >= len(in) {
				return nil, fmt.Errorf("layers: %s %q: %d runtime input shape(s) for more inputs", n.Op, n.Name, len(in))
			}
			vals[i] = ops.Value{Shape: in[rt]}
			rt++
		}
	}
	if rt != len(in) {
		return nil, fmt.Errorf("layers: %s %q takes %d runtime input(s), got %d", n.Op, n.Name, rt, len(in))
	}
	outs, err := ops.Infer(n, vals)
	if err != nil {
		return nil, err
	}
	res := make([]Shape, len(outs))
	for i, s := range outs {
		res[i] = s
	}
	return res, nil
}

// LastGemmKernel is the kernel family the latest RecordGemm or
// RecordGemmWeights call recorded.
func LastGemmKernel() GemmKernel { return GemmKernel(lastKernel.Load()) }

// F32ToF16 is the host fp32 -> binary16 conversion of fp16 weights.
var F32ToF16 = f32ToF16

// SetReduceKernel makes reduction layers record with kernel k (ReduceAuto
// restores the choice by size) and returns the previous setting.
func SetReduceKernel(k ReduceKernel) ReduceKernel {
	return ReduceKernel(forceReduceKernel.Swap(int32(k)))
}

// SetStridedRun sets the most elements a strided invocation writes on CPU
// drivers (1: what GPUs run) and returns the function that restores it.
func SetStridedRun(n int) func() {
	old := stridedRun
	stridedRun = n
	return func() { stridedRun = old }
}

// ConvWeightCopies reports which copies of its constant weights a Conv
// layer holds: direct (the direct kernel's), gemm (the GEMM path's
// prepared layout) and wino (Winograd enabled: it reads the GEMM path's
// layout).
func ConvWeightCopies(l Layer) (direct, gemm, wino bool) {
	c := l.(*conv)
	return c.w.rt < 0 && c.w.buf != nil, c.gw != nil, c.wino != nil
}

// SetWinogradBlocks makes Conv layers built from now on run Winograd with
// mb output channels x tt tiles per invocation in workgroups of local
// invocations (0: the default) and
// returns the function that restores the previous setting.
func SetWinogradBlocks(mb, tt, local int) func() {
	old := winogradBlocks
	winogradBlocks.mb, winogradBlocks.tt, winogradBlocks.local = mb, tt, local
	return func() { winogradBlocks = old }
}

// SetConvDepthwiseStrip makes conv_dw run strips of cols output columns
// (0: its own choice) and returns the previous setting.
func SetConvDepthwiseStrip(cols int) int { return int(dwStripOverride.Swap(int32(cols))) }

// UnaryKernels are RecordUnary's kernels (unaryKernel).
var UnaryKernels = []string{"unary", "unary4", "unary4_texel"}

// ForceUnary makes RecordUnary use kernel k wherever it can run (""
// restores the choice).
func ForceUnary(k string) { unaryForce = k }

// BinaryKernels are RecordBinary's kernels (planBinary4).
var BinaryKernels = []string{"binary", "binary4", "binary4_texel"}

// ForceBinary makes RecordBinary use kernel k wherever it can run (""
// restores the choice).
func ForceBinary(k string) { binaryForce = k }

// BinaryKernel is the kernel RecordBinary runs g with on a and b.
func BinaryKernel(d *engine.Device, g Binary, a, b *engine.Buffer) string {
	p, err := planBinary(g)
	if err != nil {
		return ""
	}
	if v, ok := planBinary4(d, g, p, a, b); ok {
		return v.kernel
	}
	return "binary"
}

// RecordDepthwiseC4 records conv_dw_c4 (conv_dw_c4_texel on lavapipe), the
// depthwise kernel on channels packed by 4 of the layout measurement
// (docs/PERFORMANCE.md), for window g (resolved; group = C = M channels)
// with strips of cols pixels: x [N, C4, H, W, 4], w [C4, KH, KW, 4], b
// [C4*4] or nil, y [N, C4, OH, OW, 4] with C4 = ceil(C/4).
func RecordDepthwiseC4(r *engine.Recorder, d *engine.Device, g ops.Window, cols int, x, w, b, y *engine.Buffer, act ops.Activation, alpha, beta float32) error {
	c4 := ceilDiv(g.C, 4)
	count := g.N * c4 * g.OH * ceilDiv(g.OW, cols)
	hasB := uint32(1)
	if b == nil {
		b, hasB = w, 0
	}
	name := "conv_dw_c4"
	if info := d.Info(); ChooseGemmKernel(info, 64, 64, 64) == GemmTexel && texelFits(info, x.Len()) && texelFits(info, w.Len()) {
		name = "conv_dw_c4_texel"
	}
	p, err := d.Pipeline(name, engine.Spec{"local_size_x": elementLocal(d, count), "HAS_BIAS": hasB, "ACT": uint32(act),
		"PB": u32(cols), "C4": u32(c4), "H": u32(g.H), "W": u32(g.W), "OH": u32(g.OH), "OW": u32(g.OW),
		"KH": u32(g.KH), "KW": u32(g.KW), "SH": u32(g.SH), "SW": u32(g.SW), "DH": u32(g.DH), "DW": u32(g.DW),
		"PAD_T": u32(g.PadT), "PAD_L": u32(g.PadL)})
	if err != nil {
		return err
	}
	push := []uint32{u32(count), math.Float32bits(alpha), math.Float32bits(beta)}
	return r.Dispatch(p, []*engine.Buffer{x, w, b, y}, push, d.Grid(p, uint64(count)))
}

// SetPoolStrip makes windowed pools run strips of n outputs where a strip
// can run (1: none; 0: the default) and returns the previous setting.
func SetPoolStrip(n int) int {
	old := poolStripOverride
	poolStripOverride = n
	return old
}

// SetTexelOrder overrides gemm_texel's invocation order (0 the static rule,
// 1 panels fastest, 2 row blocks fastest) and returns the previous setting.
func SetTexelOrder(v int) int { return int(texelOrder.Swap(int32(v))) }

// SetIgemmBlocks makes conv_igemm run blocks of tm output pixels x mb
// output channels (0: its own choice) and returns the function that
// restores the previous setting.
func SetIgemmBlocks(tm, mb int) func() {
	old := igemmBlocks
	igemmBlocks.tm, igemmBlocks.mb = tm, mb
	return func() { igemmBlocks = old }
}

// SetGemmShuffle overrides when recordGemm runs gemm_shuffle in place of
// gemm_texel (0 the measured rule, 1 never, 2 wherever it reads both
// operands in place); it returns the previous setting.
func SetGemmShuffle(v int) int { return int(shuffleMode.Swap(int32(v))) }

// SetShuffleTile forces gemm_shuffle's block (rows per lane, panels of 8
// columns; 0, 0: chosen by shape).
func SetShuffleTile(rh, p int) {
	shuffleTileForced.rh, shuffleTileForced.p = rh, p
}

// ShuffleCapable reports whether the device can run gemm_shuffle.
func ShuffleCapable(info engine.DeviceInfo) bool { return shuffleCapable(info) }

// SetIgemmChannels makes conv_igemm take cu input channels per loop
// iteration (1, 2 or 4; 0: its own choice) and returns the function that
// restores the previous setting.
func SetIgemmChannels(cu int) func() {
	old := igemmBlocks
	igemmBlocks.cu = cu
	return func() { igemmBlocks = old }
}

// SetIgemmShuffle switches conv_igemm's weights handed round the subgroup
// on lavapipe and returns the function that restores the previous setting.
func SetIgemmShuffle(on bool) func() {
	old := igemmShuffle
	igemmShuffle = on
	return func() { igemmShuffle = old }
}

// ConvIgemmTexel reports whether conv_igemm runs its texel variant on d
// (lavapipe), where the weights are handed round the subgroup.
func ConvIgemmTexel(d *engine.Device) bool {
	info := d.Info()
	return ChooseGemmKernel(info, 64, 64, 64) == GemmTexel && info.SubgroupOps&subgroupOpsShuffle == subgroupOpsShuffle
}
