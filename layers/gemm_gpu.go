package layers

import (
	"errors"
	"fmt"
	"math"
	"math/bits"

	"github.com/vkinfer/vkinfer/engine"
)

// GemmTile is the tile of GemmTiled (shaders/gemm_tiled.glsl): a workgroup
// computes a BM x BN block of C, staging BK values of k at a time in shared
// memory; the block is divided into warp tiles of WM x WN, each computed by
// (WM/TM)*(WN/TN) consecutive invocations (one subgroup when the device's
// subgroup has that many lanes), each invocation a TM x TN register tile.
// Split > 1 divides K into that many chunks (split-K): partial products go
// to a program temporary and a second pass adds them.
//
// Valid tiles: TM, TN, BK multiples of 4; WM a multiple of TM dividing BM,
// WN a multiple of TN dividing BN; the workgroup (BM/WM)*(BN/WN)*(WM/TM)*
// (WN/TN) = BM*BN/(TM*TN) invocations within the device's limits; shared
// memory 16*BK*(BM/4+1+BN/4+1) bytes within maxComputeSharedMemorySize.
type GemmTile struct {
	BM, BN, BK int
	WM, WN     int
	TM, TN     int
	Split      int
}

func (t GemmTile) String() string {
	s := fmt.Sprintf("block %dx%dx%d, warp %dx%d, thread %dx%d", t.BM, t.BN, t.BK, t.WM, t.WN, t.TM, t.TN)
	if t.Split > 1 {
		s += fmt.Sprintf(", split-K %d", t.Split)
	}
	return s
}

// Invocations is the workgroup size of the tile.
func (t GemmTile) Invocations() int { return t.BM * t.BN / (t.TM * t.TN) }

// SharedBytes is the shared memory the tile uses.
func (t GemmTile) SharedBytes() int { return 16 * t.BK * (t.BM/4 + 1 + t.BN/4 + 1) }

// check reports why t cannot run on a device with lim, or nil.
func (t GemmTile) check(lim engine.Limits) error {
	switch {
	case t.BM <= 0 || t.BN <= 0 || t.BK <= 0 || t.WM <= 0 || t.WN <= 0 || t.TM <= 0 || t.TN <= 0:
		return fmt.Errorf("layers: gemm tile %v: every size must be positive", t)
	case t.TM%4 != 0 || t.TN%4 != 0 || t.BK%4 != 0:
		return fmt.Errorf("layers: gemm tile %v: TM, TN and BK must be multiples of 4", t)
	case t.WM%t.TM != 0 || t.BM%t.WM != 0 || t.WN%t.TN != 0 || t.BN%t.WN != 0:
		return fmt.Errorf("layers: gemm tile %v: need TM | WM | BM and TN | WN | BN", t)
	case t.Invocations() > int(lim.MaxComputeWorkGroupInvocations) || t.Invocations() > int(lim.MaxComputeWorkGroupSize[0]):
		return fmt.Errorf("layers: gemm tile %v: %d invocations, the device allows %d", t, t.Invocations(), min(lim.MaxComputeWorkGroupInvocations, lim.MaxComputeWorkGroupSize[0]))
	case t.SharedBytes() > int(lim.MaxComputeSharedMemorySize):
		return fmt.Errorf("layers: gemm tile %v: %d bytes of shared memory, the device allows %d", t, t.SharedBytes(), lim.MaxComputeSharedMemorySize)
	}
	return nil
}

// gemmBlocks are the block tiles ChooseGemmTile tries, largest first. The
// register tile is 8x8 (64 accumulators, 4 vec4 loads from shared memory
// per 64 multiply-adds) where the block allows 256 invocations, 8x4 for
// 128, 4x4 for the smallest blocks.
var gemmBlocks = []GemmTile{
	{BM: 128, BN: 128, BK: 16, TM: 8, TN: 8}, // 256 invocations, 16.9 KiB (BK 8: 8.4 KiB)
	{BM: 64, BN: 128, BK: 16, TM: 8, TN: 8},  // 128 invocations, 12.6 KiB
	{BM: 64, BN: 64, BK: 16, TM: 8, TN: 4},   // 128 invocations, 8.4 KiB
	{BM: 32, BN: 64, BK: 16, TM: 4, TN: 4},   // 128 invocations, 6.3 KiB
	{BM: 32, BN: 32, BK: 16, TM: 4, TN: 4},   // 64 invocations, 4.2 KiB
}

// gemmWaveTarget is how many workgroups a product should have to fill the
// device before split-K is used: the engine cannot ask Vulkan for the
// number of compute units, so it is a guess per device type (an RTX 4090
// has 128 SMs, a laptop iGPU 24-96 EUs in 3-12 subslices).
func gemmWaveTarget(info engine.DeviceInfo) int {
	switch info.Type {
	case engine.TypeDiscrete:
		return 128
	case engine.TypeIntegrated:
		return 24
	}
	return 8
}

// ChooseGemmTile picks GemmTiled's tile for an m x n x k product on a
// device (documented in docs/PERFORMANCE.md, "The GPU GEMM"):
//   - the largest block of gemmBlocks whose rows and columns the product
//     fills (m >= BM/2 and n >= BN/2) and that gives at least
//     gemmWaveTarget workgroups, else the smallest that fits the shape;
//     blocks that exceed the device's invocation or shared-memory limits
//     are skipped (BK is halved first, down to 4);
//   - warp tiles of one subgroup: its lanes arranged about square
//     (LN = 2^ceil(log2(lanes)/2) along n), so WM = TM*lanes/LN, WN = TN*LN;
//   - split-K when the blocks still do not fill the device and K is long:
//     up to 16 chunks of at least 256 k each.
func ChooseGemmTile(info engine.DeviceInfo, m, n, k int) GemmTile {
	lim := info.Limits
	target := gemmWaveTarget(info)
	var fits []GemmTile
	for _, t := range gemmBlocks {
		for t.BK > 4 && t.SharedBytes() > int(lim.MaxComputeSharedMemorySize) {
			t.BK /= 2
		}
		t.WM, t.WN = t.TM, t.TN
		if t.check(lim) == nil {
			fits = append(fits, t)
		}
	}
	if len(fits) == 0 {
		// Below the Vulkan minimum limits; 4x4 threads, 16 invocations.
		fits = []GemmTile{{BM: 16, BN: 16, BK: 4, WM: 4, WN: 4, TM: 4, TN: 4}}
	}
	t := fits[len(fits)-1]
	for _, c := range fits {
		if m >= c.BM/2 && n >= c.BN/2 && ceilDiv(m, c.BM)*ceilDiv(n, c.BN) >= target {
			t = c
			break
		}
	}
	t.WM, t.WN = warpTile(t, int(info.SubgroupSize))
	blocks := ceilDiv(m, t.BM) * ceilDiv(n, t.BN)
	if blocks < target {
		s := min(ceilDiv(target, blocks), k/256, 16)
		if s >= 2 {
			t.Split = s
		}
	}
	return t
}

// warpTile returns the warp tile of t for subgroups of sg lanes: the lanes
// arranged about square, LN along n and LM along m, within the block.
func warpTile(t GemmTile, sg int) (wm, wn int) {
	if sg <= 0 {
		sg = 32
	}
	lanes := 1 << (bits.Len(uint(sg)) - 1) // a power of 2
	lanes = min(lanes, t.Invocations())
	ln := 1 << ((bits.Len(uint(lanes)) - 1 + 1) / 2) // 2^ceil(log2(lanes)/2)
	ln = min(ln, t.BN/t.TN)
	lm := max(lanes/ln, 1)
	lm = min(lm, t.BM/t.TM)
	return lm * t.TM, ln * t.TN
}

// vec4OK reports whether an operand whose contiguous dimension has extent
// `ext` and row stride ld, at element offset off, can be read as aligned
// vec4s: each group of 4 along the contiguous dimension starts on a 16-byte
// boundary and lies wholly inside the row (or its zero padding, padded).
func vec4OK(ext, ld, off int, padded bool) bool {
	return ld%4 == 0 && off%4 == 0 && (ext%4 == 0 || padded)
}

// recordTiled records gemm_tiled.comp (and gemm_reduce.comp for split-K).
// It returns errCannot (nothing recorded) when the grid exceeds the
// device's workgroup counts.
func recordTiled(r *engine.Recorder, d *engine.Device, g Gemm, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	info := d.Info()
	lim := info.Limits
	t := ChooseGemmTile(info, g.M, g.N, g.K)
	if g.Tile != nil {
		t = *g.Tile
	}
	if err := t.check(lim); err != nil {
		return err
	}
	if b.f16 && !info.Storage16 {
		return fmt.Errorf("layers: gemm: fp16 weights on a device without 16-bit storage")
	}
	gx, gy := ceilDiv(g.N, t.BN), ceilDiv(g.M, t.BM)
	split := max(t.Split, 1)
	kChunk := roundUp(ceilDiv(g.K, split), t.BK)
	split = ceilDiv(g.K, kChunk)
	// Each step of BK runs the K loop once and the staging loops over A's
	// and B's block slices: keep one invocation under lavapipe's loop limit
	// by splitting K further.
	inv := t.Invocations()
	perStep := 1 + ceilDiv(t.BK*t.BM/4, inv) + ceilDiv(t.BK*t.BN/4, inv)
	if maxChunk := max(MaxInvocationLoops/perStep, 1) * t.BK; kChunk > maxChunk {
		kChunk = maxChunk
		split = ceilDiv(g.K, kChunk)
	}
	if gx > int(lim.MaxComputeWorkGroupCount[0]) || gy > int(lim.MaxComputeWorkGroupCount[1]) || split > int(lim.MaxComputeWorkGroupCount[2]) {
		return errCannot
	}
	lda := g.K
	vecA := vec4OK(g.K, lda, g.OffA, false)
	if g.TransA {
		lda = g.M
		vecA = vec4OK(g.M, lda, g.OffA, false)
	}
	vecB := vec4OK(g.N, b.ld, g.OffB, b.ld > g.N)
	if b.layout == bTransposed {
		vecB = vec4OK(g.K, b.ld, g.OffB, b.ld > g.K)
	}
	bias := g.Bias
	if bias == nil {
		bias = b.buf // bound but never read
	}
	spec := engine.Spec{
		"local_size_x": u32(t.Invocations()),
		"BM":           u32(t.BM), "BN": u32(t.BN), "BK": u32(t.BK),
		"WM": u32(t.WM), "WN": u32(t.WN), "TM": u32(t.TM), "TN": u32(t.TN),
		"TRANS_A": b2u(g.TransA), "TRANS_B": b2u(b.layout == bTransposed),
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": b2u(g.ReLU),
		"VEC_A": b2u(vecA), "VEC_B": b2u(vecB), "PARTIAL": b2u(split > 1),
	}
	name := "gemm_tiled"
	if b.f16 {
		name = "gemm_tiled_f16"
	}
	p, err := d.Pipeline(name, spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	push := []uint32{u32(g.M), u32(g.N), u32(g.K), u32(lda), u32(b.ld), u32(g.OffA), u32(g.OffB), u32(g.OffC), u32(kChunk)}
	if split == 1 {
		return r.Dispatch(p, []*engine.Buffer{a, b.buf, bias, c}, push, [3]uint32{u32(gx), u32(gy), 1})
	}
	count := g.M * g.N
	part, err := r.Temp(int64(4 * split * count))
	if err != nil {
		return fmt.Errorf("layers: gemm: split-K partials: %w", err)
	}
	push[7] = 0 // partials start at 0 in the temporary
	if err := r.Dispatch(p, []*engine.Buffer{a, b.buf, bias, part}, push, [3]uint32{u32(gx), u32(gy), u32(split)}); err != nil {
		return err
	}
	rp, err := d.Pipeline("gemm_reduce", engine.Spec{"local_size_x": 64, "HAS_BIAS": b2u(g.Bias != nil), "ACT": b2u(g.ReLU)})
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	rpush := []uint32{u32(count), u32(g.N), u32(split), u32(g.OffC)}
	return r.Dispatch(rp, []*engine.Buffer{part, bias, c}, rpush, d.Grid(rp, uint64(count)))
}

// gemvQuads is how many groups of 4 columns a GemmGEMV workgroup covers
// when B is K x N: a row segment of 128 bytes (one cache line) per k-slice.
const gemvQuads = 8

// gemvMaxRows is the largest M GemmGEMV runs (its accumulators are MR vec4
// per invocation).
const gemvMaxRows = 8

// gemvShape picks GemmGEMV's workgroup size and lanes per column (TRANS_B)
// or k-slices per column group (else) for an m x n x k product: 32 lanes
// per column (a whole row of 128 floats per step) for K >= 512, fewer for
// short rows; the workgroup as large as the shared-memory reduction
// (16*WG*MR bytes, at most half the device's) and invocation limit allow,
// up to 256.
func gemvShape(info engine.DeviceInfo, m, k int, transB bool) (wg, lpc int) {
	lim := info.Limits
	wg = 256
	for wg > 32 && (wg > int(lim.MaxComputeWorkGroupInvocations) || wg > int(lim.MaxComputeWorkGroupSize[0]) || 16*wg*m > int(lim.MaxComputeSharedMemorySize)/2) {
		wg /= 2
	}
	if transB {
		switch {
		case k >= 512:
			lpc = 32
		case k >= 64:
			lpc = 8
		default:
			lpc = 2
		}
	} else {
		// k-slices: gemvQuads column groups of 4 per workgroup (128
		// contiguous bytes of a row of B per slice), the rest of the
		// workgroup splits k.
		lpc = max(wg/gemvQuads, 1)
	}
	return wg, min(lpc, wg)
}

// recordGEMV records gemm_gemv.comp. It returns errCannot when M exceeds
// gemvMaxRows.
func recordGEMV(r *engine.Recorder, d *engine.Device, g Gemm, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	info := d.Info()
	if g.M > gemvMaxRows {
		return errCannot
	}
	if b.f16 && !info.Storage16 {
		return fmt.Errorf("layers: gemm: fp16 weights on a device without 16-bit storage")
	}
	transB := b.layout == bTransposed
	wg, lpc := gemvShape(info, g.M, g.K, transB)
	lda := g.K
	if g.TransA {
		lda = g.M
	}
	vecB := vec4OK(g.N, b.ld, g.OffB, b.ld > g.N)
	cols := wg / lpc * 4 // columns per workgroup
	if transB {
		vecB = vec4OK(g.K, b.ld, g.OffB, b.ld > g.K)
		cols = wg / lpc
	}
	bias := g.Bias
	if bias == nil {
		bias = b.buf // bound but never read
	}
	spec := engine.Spec{
		"local_size_x": u32(wg), "LPC": u32(lpc), "MR": u32(g.M),
		"TRANS_A": b2u(g.TransA), "TRANS_B": b2u(transB),
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": b2u(g.ReLU), "VEC_B": b2u(vecB),
	}
	name := "gemm_gemv"
	if b.f16 {
		name = "gemm_gemv_f16"
	}
	p, err := d.Pipeline(name, spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	push := []uint32{u32(g.M), u32(g.N), u32(g.K), u32(lda), u32(b.ld), u32(g.OffA), u32(g.OffB), u32(g.OffC)}
	groups := ceilDiv(g.N, cols)
	return r.Dispatch(p, []*engine.Buffer{a, b.buf, bias, c}, push, d.Grid(p, uint64(groups*wg)))
}

// ErrNoStorage16 is returned by NewGemmWeightsF16 on a device without
// storageBuffer16BitAccess.
var ErrNoStorage16 = errors.New("the device has no 16-bit storage buffer access (storageBuffer16BitAccess)")

// NewGemmWeightsF16 uploads B, given as K x N row-major (or N x K when
// transB), as IEEE binary16 in the GPU kernels' layout (K x N row-major,
// rows padded with zeros to a multiple of 4 so that every load is an aligned
// 4-vector): half the memory and bandwidth of fp32.
// Products with them run GemmGEMV or GemmTiled on every device (their
// gemm_*_f16 variants widen B to fp32 on load; A, C, the bias and the
// accumulation stay fp32). Each weight is rounded to nearest even; values
// past ±65504 become ±Inf, NaN stays NaN. A result is therefore within
// 2^-11 * sum_k |a_ik b_kj| of the fp32 product, plus the fp32 GEMM's own
// error (docs/PERFORMANCE.md, "fp16 weights"). Fails with ErrNoStorage16
// where the device lacks 16-bit storage (SwiftShader).
func NewGemmWeightsF16(d *engine.Device, data []float32, k, n int, transB bool) (*GemmWeights, error) {
	if k <= 0 || n <= 0 || len(data) != k*n {
		return nil, fmt.Errorf("layers: gemm weights %dx%d from %d floats", k, n, len(data))
	}
	if !d.Info().Storage16 {
		return nil, fmt.Errorf("layers: fp16 gemm weights on %s: %w", d.Info().Name, ErrNoStorage16)
	}
	rs, ks := 1, n // element (k, j) of B is data[j*rs + k*ks]
	if transB {
		rs, ks = k, 1
	}
	n4 := roundUp(n, 4)
	host := make([]float32, k*n4/2) // pairs of halves, little-endian
	for kk := 0; kk < k; kk++ {
		for j := 0; j < n; j += 2 {
			lo := uint32(f32ToF16(data[j*rs+kk*ks]))
			var hi uint32
			if j+1 < n {
				hi = uint32(f32ToF16(data[(j+1)*rs+kk*ks]))
			}
			host[(kk*n4+j)/2] = math.Float32frombits(lo | hi<<16)
		}
	}
	buf, err := d.NewBuffer(engine.Weights, int64(4*len(host)))
	if err != nil {
		return nil, fmt.Errorf("layers: gemm weights: %w", err)
	}
	if err := buf.Write(host); err != nil {
		buf.Close()
		return nil, fmt.Errorf("layers: gemm weights: %w", err)
	}
	return &GemmWeights{K: k, N: n, b: operandB{buf: buf, layout: bRowMajor, ld: n4, f16: true}}, nil
}

// f32ToF16 converts to IEEE binary16, rounding to nearest even; overflow
// gives ±Inf, NaN a quiet NaN, tiny values subnormals or ±0.
func f32ToF16(f float32) uint16 {
	x := math.Float32bits(f)
	sign := uint16(x>>16) & 0x8000
	exp := int(x>>23) & 0xff
	man := x & 0x7fffff
	switch {
	case exp == 0xff && man != 0:
		return sign | 0x7e00 // NaN
	case exp == 0xff:
		return sign | 0x7c00 // Inf
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // overflow
	}
	if e <= 0 {
		// Subnormal half (or zero): shift the full significand right.
		if e < -10 {
			return sign // rounds to ±0
		}
		m := man | 0x800000
		shift := uint(14 - e) // 13 bits of precision drop plus 1-e
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++
		}
		return sign | uint16(r) // a carry into the exponent is correct
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // may carry into the exponent, up to Inf: correct
	}
	return sign | uint16(r)
}
