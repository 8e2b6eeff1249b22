package layers_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/ops"
)

// The GPU kernels (GemmTiled, GemmGEMV) forced on whatever device runs the
// tests, at awkward sizes, every layout, aligned (vec4 loads) and not,
// with bias and ReLU; the kernel that ran must be the one forced.
func TestGemmGPUKernels(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(11))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {7, 13, 127}, {13, 127, 257}, {8, 64, 64}, {127, 257, 13}, {3, 5, 2049}, {130, 68, 300},
	}
	for _, kernel := range []layers.GemmKernel{layers.GemmTiled, layers.GemmGEMV} {
		for _, s := range shapes {
			for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
				relu := (s.m+s.k)%2 == 1
				name := fmt.Sprintf("%v/%dx%dx%d_tA%v_tB%v", kernel, s.m, s.n, s.k, tr.a, tr.b)
				t.Run(name, func(t *testing.T) {
					a, b, bias := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.n)
					A, B, Bias := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, bias)
					C := newBuf(t, d, make([]float32, s.m*s.n))
					g := layers.Gemm{M: s.m, N: s.n, K: s.k, TransA: tr.a, TransB: tr.b, Bias: Bias, ReLU: relu, Kernel: kernel}
					got := run(t, d, C, s.m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					want := kernel
					if kernel == layers.GemmGEMV && s.m > 8 {
						want = layers.GemmTiled
					}
					require.Equal(t, want, layers.LastGemmKernel())
					checkGemm(t, got, a, b, bias, s.m, s.n, s.k, tr.a, tr.b, relu, name)
				})
			}
		}
	}
}

// Explicit GemmTiled tiles: warp tiles of 1 to 64 lanes, every block of the
// table, BK = 4, split-K into chunks that do and do not divide K, and tiles
// that divide nothing.
func TestGemmTiledTiles(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	lim := d.Info().Limits
	r := rand.New(rand.NewSource(12))
	tiles := []layers.GemmTile{
		{BM: 16, BN: 16, BK: 4, WM: 4, WN: 4, TM: 4, TN: 4},
		{BM: 32, BN: 32, BK: 16, WM: 8, WN: 8, TM: 4, TN: 4},
		{BM: 32, BN: 64, BK: 8, WM: 16, WN: 32, TM: 4, TN: 4},
		{BM: 64, BN: 64, BK: 16, WM: 32, WN: 16, TM: 8, TN: 4},
		{BM: 64, BN: 128, BK: 16, WM: 32, WN: 64, TM: 8, TN: 8},
		{BM: 128, BN: 128, BK: 8, WM: 64, WN: 64, TM: 8, TN: 8},
		{BM: 32, BN: 32, BK: 8, WM: 32, WN: 32, TM: 4, TN: 4, Split: 3},
		{BM: 16, BN: 32, BK: 4, WM: 16, WN: 8, TM: 4, TN: 8, Split: 7},
		{BM: 64, BN: 64, BK: 16, WM: 32, WN: 32, TM: 8, TN: 4, Split: 16},
	}
	// Each tile on two shapes, one aligned for vec4 loads, in alternating
	// layouts (pipelines take ~1 s each to create on SwiftShader).
	shapes := []struct{ m, n, k int }{{37, 53, 29}, {1, 132, 300}}
	for i, tile := range tiles {
		for j, s := range shapes {
			for _, tr := range []struct{ a, b bool }{{(i+j)%2 == 1, (i+j)%4 < 2}} {
				name := fmt.Sprintf("%v/%dx%dx%d_tA%v_tB%v", tile, s.m, s.n, s.k, tr.a, tr.b)
				t.Run(name, func(t *testing.T) {
					a, b, bias := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.n)
					A, B, Bias := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, bias)
					C := newBuf(t, d, make([]float32, s.m*s.n))
					tl := tile
					g := layers.Gemm{M: s.m, N: s.n, K: s.k, TransA: tr.a, TransB: tr.b, Bias: Bias, ReLU: true, Tile: &tl}
					if tile.Invocations() > int(lim.MaxComputeWorkGroupInvocations) || tile.SharedBytes() > int(lim.MaxComputeSharedMemorySize) {
						// Past the device's limits (VKINFER_LIMITS=min): refused, not run.
						err := layers.RecordGemm(d.NewRecorder(), d, g, A, B, C)
						require.ErrorContains(t, err, "the device allows")
						return
					}
					got := run(t, d, C, s.m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					require.Equal(t, layers.GemmTiled, layers.LastGemmKernel())
					checkGemm(t, got, a, b, bias, s.m, s.n, s.k, tr.a, tr.b, true, name)
				})
			}
		}
	}
	t.Run("bad tiles", func(t *testing.T) {
		A, B, C := newBuf(t, d, make([]float32, 64)), newBuf(t, d, make([]float32, 64)), newBuf(t, d, make([]float32, 64))
		for _, bad := range []layers.GemmTile{
			{BM: 16, BN: 16, BK: 6, WM: 4, WN: 4, TM: 4, TN: 4},   // BK not a multiple of 4
			{BM: 16, BN: 16, BK: 4, WM: 8, WN: 4, TM: 3, TN: 4},   // TM
			{BM: 16, BN: 16, BK: 4, WM: 12, WN: 4, TM: 4, TN: 4},  // WM does not divide BM
			{BM: 512, BN: 512, BK: 4, WM: 4, WN: 4, TM: 4, TN: 4}, // invocations
			{BM: 64, BN: 64, BK: 256, WM: 8, WN: 8, TM: 8, TN: 8}, // shared memory
			{},
		} {
			tl := bad
			err := layers.RecordGemm(d.NewRecorder(), d, layers.Gemm{M: 8, N: 8, K: 8, Tile: &tl}, A, B, C)
			require.Error(t, err, "%v", bad)
		}
	})
}

// Batched products address matrices by offsets; the GPU kernels take them
// in place (vec4 loads only when they are multiples of 4).
func TestGemmGPUOffsets(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(13))
	for _, kernel := range []layers.GemmKernel{layers.GemmTiled, layers.GemmGEMV} {
		for _, off := range [][3]int{{4, 8, 12}, {1, 3, 5}} {
			for _, s := range []struct{ m, n, k int }{{2, 12, 8}, {5, 9, 7}, {33, 16, 20}} {
				name := fmt.Sprintf("%v/%dx%dx%d_off%v", kernel, s.m, s.n, s.k, off)
				t.Run(name, func(t *testing.T) {
					a, b := randSlice(r, off[0]+s.m*s.k), randSlice(r, off[1]+s.k*s.n)
					A, B := newBuf(t, d, a), newBuf(t, d, b)
					C := newBuf(t, d, make([]float32, off[2]+s.m*s.n))
					g := layers.Gemm{M: s.m, N: s.n, K: s.k, TransB: true, Kernel: kernel, OffA: off[0], OffB: off[1], OffC: off[2]}
					got := run(t, d, C, off[2]+s.m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					for i := 0; i < off[2]; i++ {
						require.Zero(t, got[i], "C before its offset was written")
					}
					checkGemm(t, got[off[2]:], a[off[0]:], b[off[1]:], nil, s.m, s.n, s.k, false, true, false, name)
				})
			}
		}
	}
}

// NaN and Inf through split-K: partial sums carry them to exactly the
// outputs they reach in the reference.
func TestGemmSplitKSpecialValues(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(14))
	m, n, k := 9, 21, 301
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	a[0*k+3] = float32(math.NaN())         // row 0, first chunk
	a[4*k+k-1] = float32(math.Inf(1))      // row 4, last chunk
	b[(k-1)*n+n-1] = float32(math.Inf(-1)) // last column, last chunk
	b[150*n+5] = float32(math.MaxFloat32)  // overflow in a middle chunk
	A, B := newBuf(t, d, a), newBuf(t, d, b)
	C := newBuf(t, d, make([]float32, m*n))
	tile := layers.GemmTile{BM: 16, BN: 16, BK: 4, WM: 4, WN: 4, TM: 4, TN: 4, Split: 5}
	g := layers.Gemm{M: m, N: n, K: k, ReLU: true, Tile: &tile}
	got := run(t, d, C, m*n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
	want := ops.Gemm(a, b, nil, m, n, k, false, false, ops.ActReLU)
	bound := gemmBound(a, b, m, n, k, false, false)
	for i := range want {
		w, g := float64(want[i]), float64(got[i])
		switch {
		case math.IsNaN(w):
			require.True(t, math.IsNaN(g), "C[%d,%d] = %v, want NaN", i/n, i%n, g)
		case math.IsInf(w, 0):
			require.Equal(t, w, g, "C[%d,%d]", i/n, i%n)
		default:
			require.False(t, math.IsNaN(g), "C[%d,%d] = %v, want %v", i/n, i%n, g, w)
			require.InDelta(t, w, g, gemmRelTol*(bound[i]+1), "C[%d,%d]", i/n, i%n)
		}
	}
}

// ChooseGemmTile's tiles fit every device class's limits, including the
// Vulkan minimums (16 KiB shared memory, 128 invocations), with warp tiles
// of at most one subgroup; split-K only for products with few blocks.
func TestChooseGemmTile(t *testing.T) {
	type dev struct {
		name   string
		typ    engine.DeviceType
		sg     uint32
		inv    uint32
		shared uint32
	}
	devs := []dev{
		{"nvidia", engine.TypeDiscrete, 32, 1024, 48 << 10},
		{"amd wave64", engine.TypeDiscrete, 64, 1024, 64 << 10},
		{"intel", engine.TypeIntegrated, 8, 1024, 64 << 10},
		{"mali", engine.TypeIntegrated, 16, 512, 32 << 10},
		{"vulkan minimum", engine.TypeDiscrete, 32, 128, 16 << 10},
		{"swiftshader", engine.TypeCPU, 4, 256, 32 << 10},
		{"lavapipe", engine.TypeCPU, 8, 1024, 32 << 10},
		{"no subgroup info", engine.TypeOther, 0, 128, 16 << 10},
	}
	shapes := []struct{ m, n, k int }{{4096, 4096, 4096}, {1024, 1024, 1024}, {256, 128, 784}, {9, 4096, 784}, {1, 1, 1}, {100000, 10, 50}}
	for _, dv := range devs {
		info := engine.DeviceInfo{Type: dv.typ, SubgroupSize: dv.sg}
		info.Limits.MaxComputeWorkGroupInvocations = dv.inv
		info.Limits.MaxComputeWorkGroupSize = [3]uint32{dv.inv, dv.inv, 64}
		info.Limits.MaxComputeSharedMemorySize = dv.shared
		for _, s := range shapes {
			tile := layers.ChooseGemmTile(info, s.m, s.n, s.k)
			what := fmt.Sprintf("%s %dx%dx%d: %v", dv.name, s.m, s.n, s.k, tile)
			require.LessOrEqual(t, tile.Invocations(), int(dv.inv), what)
			require.LessOrEqual(t, tile.SharedBytes(), int(dv.shared), what)
			require.Zero(t, tile.BM%tile.WM+tile.BN%tile.WN+tile.WM%tile.TM+tile.WN%tile.TN+tile.TM%4+tile.TN%4+tile.BK%4, what)
			lanes := tile.WM / tile.TM * tile.WN / tile.TN
			if dv.sg > 0 {
				require.LessOrEqual(t, lanes, int(dv.sg), what)
			}
			blocks := (s.m + tile.BM - 1) / tile.BM * ((s.n + tile.BN - 1) / tile.BN)
			if tile.Split > 1 {
				require.Less(t, blocks, 128, what)
				require.GreaterOrEqual(t, s.k/tile.Split, 256, what)
			}
			t.Log(what)
		}
	}
}

// f16ToF32 widens an IEEE binary16 value exactly (the test's reference).
func f16ToF32(h uint16) float32 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	man := float64(h & 0x3ff)
	switch exp {
	case 0x1f:
		if man != 0 {
			return float32(math.NaN())
		}
		return float32(math.Inf(int(sign)))
	case 0:
		return float32(sign * math.Ldexp(man, -24))
	}
	return float32(sign * math.Ldexp(1024+man, exp-25))
}

// Every binary16 value survives the round trip; values between two halves
// round to the nearer, ties to the even one; overflow is Inf.
func TestF32ToF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		got := layers.F32ToF16(f)
		if math.IsNaN(float64(f)) {
			require.True(t, got&0x7c00 == 0x7c00 && got&0x3ff != 0, "NaN %#04x -> %#04x", h, got)
			continue
		}
		require.Equal(t, uint16(h), got, "%#04x (%g)", h, f)
		if h&0x7fff >= 0x7bff {
			continue // the largest finite half and Inf have no next half
		}
		next := f16ToF32(uint16(h + 1))
		mid := (float64(f) + float64(next)) / 2 // exact in float32
		even := uint16(h)
		if h&1 == 1 {
			even = uint16(h + 1)
		}
		require.Equal(t, even, layers.F32ToF16(float32(mid)), "tie above %#04x", h)
		above := math.Nextafter32(float32(mid), float32(next))
		require.Equal(t, uint16(h+1), layers.F32ToF16(above), "just above the tie after %#04x", h)
		below := math.Nextafter32(float32(mid), f)
		require.Equal(t, uint16(h), layers.F32ToF16(below), "just below the tie after %#04x", h)
	}
	require.Equal(t, uint16(0x7c00), layers.F32ToF16(65520)) // rounds past 65504
	require.Equal(t, uint16(0x7bff), layers.F32ToF16(65519)) // stays
	require.Equal(t, uint16(0xfc00), layers.F32ToF16(float32(math.Inf(-1))))
	require.Equal(t, uint16(0x8000), layers.F32ToF16(-1e-10))
}

// fp16 weights through both GPU kernels (GEMV for M <= 8, tiled beyond, and
// split-K): equal to the fp32 product of the rounded weights within the
// fp32 tolerance, and within 2^-11 sum|a b| of the fp32 product; special
// values in the weights reach the outputs they should. Devices without
// 16-bit storage refuse with ErrNoStorage16.
func TestGemmWeightsF16(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	if !d.Info().Storage16 {
		_, err := layers.NewGemmWeightsF16(d, make([]float32, 4), 2, 2, false)
		require.ErrorIs(t, err, layers.ErrNoStorage16)
		return
	}
	r := rand.New(rand.NewSource(15))
	for _, s := range []struct{ n, k int }{{1, 1}, {7, 13}, {129, 65}, {64, 784}, {33, 2050}} {
		for _, transB := range []bool{true, false} {
			w := randSlice(r, s.n*s.k)
			rounded := make([]float32, len(w))
			for i, v := range w {
				rounded[i] = f16ToF32(layers.F32ToF16(v))
			}
			W, err := layers.NewGemmWeightsF16(d, w, s.k, s.n, transB)
			require.NoError(t, err)
			bias := randSlice(r, s.n)
			Bias := newBuf(t, d, bias)
			for _, m := range []int{1, 3, 8, 13, 70} {
				name := fmt.Sprintf("%dx%dx%d_tB%v", m, s.n, s.k, transB)
				t.Run(name, func(t *testing.T) {
					a := randSlice(r, m*s.k)
					A := newBuf(t, d, a)
					C := newBuf(t, d, make([]float32, m*s.n))
					g := layers.Gemm{M: m, N: s.n, K: s.k, Bias: Bias, ReLU: m%2 == 1}
					got := run(t, d, C, m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemmWeights(rec, d, g, A, W, C) })
					want := layers.GemmGEMV
					if m > 8 {
						want = layers.GemmTiled
					}
					require.Equal(t, want, layers.LastGemmKernel())
					checkGemm(t, got, a, rounded, bias, m, s.n, s.k, false, transB, g.ReLU, name)
					act := ops.ActNone
					if g.ReLU {
						act = ops.ActReLU
					}
					exact := ops.Gemm(a, w, bias, m, s.n, s.k, false, transB, act)
					bound := gemmBound(a, w, m, s.n, s.k, false, transB)
					for i := range exact {
						tol := (math.Ldexp(1, -11)+gemmRelTol)*bound[i] + gemmRelTol*(math.Abs(float64(bias[i%s.n]))+1)
						require.LessOrEqual(t, math.Abs(float64(got[i]-exact[i])), tol, "%s: C[%d,%d] against fp32 weights", name, i/s.n, i%s.n)
					}
				})
			}
			W.Close()
		}
	}
	t.Run("special values", func(t *testing.T) {
		m, n, k := 2, 5, 6
		w := randSlice(r, n*k) // N x K
		w[0*k+2] = float32(math.NaN())
		w[1*k+5] = float32(math.Inf(1))
		w[2*k+0] = 1e6 // past fp16: +Inf
		W, err := layers.NewGemmWeightsF16(d, w, k, n, true)
		require.NoError(t, err)
		defer W.Close()
		a := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
		A, C := newBuf(t, d, a), newBuf(t, d, make([]float32, m*n))
		for _, tile := range []*layers.GemmTile{nil, {BM: 16, BN: 16, BK: 4, WM: 4, WN: 4, TM: 4, TN: 4, Split: 2}} {
			got := run(t, d, C, m*n, func(rec *engine.Recorder) error {
				return layers.RecordGemmWeights(rec, d, layers.Gemm{M: m, N: n, K: k, Tile: tile}, A, W, C)
			})
			for i := 0; i < m; i++ {
				require.True(t, math.IsNaN(float64(got[i*n+0])), "NaN column")
				require.True(t, math.IsInf(float64(got[i*n+1]), 1), "Inf column")
				require.True(t, math.IsInf(float64(got[i*n+2]), 1), "overflowed column")
				require.False(t, math.IsNaN(float64(got[i*n+3])) || math.IsInf(float64(got[i*n+3]), 0))
			}
		}
	})
}

// The kernel choice per device class: the CPU drivers keep their kernels,
// GPUs get GemmGEMV for at most 8 rows and GemmTiled beyond; $VKINFER_GEMM
// overrides it.
func TestChooseGemmKernel(t *testing.T) {
	t.Setenv(layers.GemmKernelEnv, "")
	big := engine.Limits{MaxTexelBufferElements: 1 << 27, MaxStorageBufferRange: 1 << 31}
	lavapipe := engine.DeviceInfo{Type: engine.TypeCPU, DriverID: engine.DriverLavapipe, Limits: big}
	swiftshader := engine.DeviceInfo{Type: engine.TypeCPU, DriverID: engine.DriverSwiftShader, SubgroupSize: 4, SubgroupOps: 0xff}
	otherCPU := engine.DeviceInfo{Type: engine.TypeCPU}
	for _, c := range []struct {
		info engine.DeviceInfo
		m    int
		want layers.GemmKernel
	}{
		{lavapipe, 1, layers.GemmTexel}, {swiftshader, 64, layers.GemmSubgroup}, {otherCPU, 64, layers.GemmStorage},
		{engine.DeviceInfo{Type: engine.TypeDiscrete}, 1, layers.GemmGEMV},
		{engine.DeviceInfo{Type: engine.TypeDiscrete}, 8, layers.GemmGEMV},
		{engine.DeviceInfo{Type: engine.TypeDiscrete}, 9, layers.GemmTiled},
		{engine.DeviceInfo{Type: engine.TypeIntegrated}, 256, layers.GemmTiled},
		{engine.DeviceInfo{Type: engine.TypeVirtual}, 2, layers.GemmGEMV},
	} {
		require.Equal(t, c.want, layers.ChooseGemmKernel(c.info, c.m, 64, 64), "%v m=%d", c.info.Type, c.m)
	}
	t.Setenv(layers.GemmKernelEnv, "gemv")
	require.Equal(t, layers.GemmGEMV, layers.ChooseGemmKernel(lavapipe, 8, 64, 64))
	require.Equal(t, layers.GemmTiled, layers.ChooseGemmKernel(lavapipe, 9, 64, 64))
	t.Setenv(layers.GemmKernelEnv, "Tiled")
	require.Equal(t, layers.GemmTiled, layers.ChooseGemmKernel(swiftshader, 1, 64, 64))
}

// An unknown $VKINFER_GEMM is an error naming the variable, not a silent
// default.
func TestGemmKernelEnvInvalid(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	t.Setenv(layers.GemmKernelEnv, "fastest")
	A, B, C := newBuf(t, d, make([]float32, 4)), newBuf(t, d, make([]float32, 4)), newBuf(t, d, make([]float32, 4))
	err := layers.RecordGemm(d.NewRecorder(), d, layers.Gemm{M: 2, N: 2, K: 2}, A, B, C)
	require.ErrorContains(t, err, "VKINFER_GEMM")
	_, err = layers.NewGemmWeights(d, make([]float32, 4), 2, 2, false)
	require.ErrorContains(t, err, "VKINFER_GEMM")
}
