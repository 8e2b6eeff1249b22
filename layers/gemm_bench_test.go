package layers_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/ops"
)

// gemmBenchShapes are the GEMM benchmark shapes (M x N x K): aligned cubes,
// then non-multiples next to their aligned neighbours (1000^3 ~ 1024^3,
// 257x129x65 ~ 256x128x64, a batch-1 Dense layer 1x4096x784 ~ 1x4096x768),
// then a skinny product with a long K.
var gemmBenchShapes = []struct{ m, n, k int }{
	{256, 256, 256}, {1024, 1024, 1024}, {2048, 2048, 2048},
	{1000, 1000, 1000},
	{256, 128, 64}, {257, 129, 65},
	{1, 4096, 768}, {1, 4096, 784},
	{256, 128, 784}, // an MNIST batch-256 layer: few blocks, long K (split-K on GPUs)
}

// gemmBenchKernels are the kernel choices each GEMM benchmark runs, side by
// side in one run: the device's own choice (auto: texel on lavapipe,
// subgroup on SwiftShader, the GPU kernels on GPUs), the storage kernel
// (the portable one GPUs had before the GPU kernels), and the GPU kernels
// forced (gpu: GemmGEMV for M <= 8, GemmTiled otherwise, weights prepared
// for them) through $VKINFER_GEMM. BenchmarkGemm adds gpu-f16: the GPU
// kernels with fp16 weights (NewGemmWeightsF16; skipped without 16-bit
// storage).
var gemmBenchKernels = []struct {
	name, env string
	f16       bool
}{
	{"auto", "", false}, {"storage", "storage", false}, {"gpu", "gemv", false},
}

// BenchmarkGemm times C = A·Wᵀ with W prepared once (NewGemmWeights, the
// Dense layer's path) and all data resident on the device. The timed loop
// is device work alone: one Program run (submit + wait, no host transfer:
// C is not a program output) per iteration; GFLOP/s and µs/run come from
// it. The download of C to the host (a staging copy on discrete GPUs, a
// copy from mapped memory elsewhere) is timed separately, after, as
// download-µs (median of 5). The result is checked against layers/ref
// once before timing (a sample of entries for the largest shapes).
func BenchmarkGemm(b *testing.B) {
	shapes := gemmBenchShapes
	if os.Getenv("VKINFER_BENCH_LARGE") != "" { // ./build.sh gpu: GPUs do 4096^3 in milliseconds
		shapes = append(shapes, struct{ m, n, k int }{4096, 4096, 4096})
	}
	kernels := append(gemmBenchKernels[:len(gemmBenchKernels):len(gemmBenchKernels)], gemmBenchKernels[2])
	kernels[len(kernels)-1].name, kernels[len(kernels)-1].f16 = "gpu-f16", true
	for _, s := range shapes {
		for _, kern := range kernels {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, kern.name), func(b *testing.B) {
				b.Setenv(layers.GemmKernelEnv, kern.env)
				benchGemm(b, s.m, s.n, s.k, true, kern.f16)
			})
		}
	}
}

// BenchmarkGemmUnprepared times RecordGemm on plain row-major buffers
// (B is K x N, not prepared), packing inside the program where the kernel
// needs it; timed as BenchmarkGemm.
func BenchmarkGemmUnprepared(b *testing.B) {
	for _, s := range gemmBenchShapes {
		for _, kern := range gemmBenchKernels {
			b.Run(fmt.Sprintf("%dx%dx%d/%s", s.m, s.n, s.k, kern.name), func(b *testing.B) {
				b.Setenv(layers.GemmKernelEnv, kern.env)
				benchGemm(b, s.m, s.n, s.k, false, false)
			})
		}
	}
}

func benchGemm(b *testing.B, m, n, k int, prepared, f16 bool) {
	d := gputest.Open(b, engine.Options{})
	if f16 && !d.Info().Storage16 {
		b.Skip("no 16-bit storage")
	}
	r := rand.New(rand.NewSource(int64(m*n + k)))
	a := randSlice(r, m*k)
	w := randSlice(r, n*k) // prepared: W is N x K (Dense); else B is K x N
	A := devBuf(b, d, a)
	C := devBuf(b, d, make([]float32, m*n))
	rec := d.NewRecorder()
	g := layers.Gemm{M: m, N: n, K: k}
	if prepared {
		newW := layers.NewGemmWeights
		if f16 {
			newW = layers.NewGemmWeightsF16
		}
		W, err := newW(d, w, k, n, true)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(W.Close)
		err = layers.RecordGemmWeights(rec, d, g, A, W, C)
		if err != nil {
			b.Fatal(err)
		}
	} else {
		if err := layers.RecordGemm(rec, d, g, A, devBuf(b, d, w), C); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%v on %s", layers.LastGemmKernel(), d.Info().Name)
	p, err := rec.Finish() // C is not an output: no transfer in the timed loop
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// The download alone: a program whose only work is declaring C an
	// output (a staging copy where C is not host-visible).
	drec := d.NewRecorder()
	if err := drec.Output(C); err != nil {
		b.Fatal(err)
	}
	down, err := drec.Finish()
	if err != nil {
		b.Fatal(err)
	}
	defer down.Close()
	ctx := context.Background()
	got := make([]float32, m*n)
	if err := p.Run(ctx, nil, nil); err != nil {
		b.Fatal(err)
	}
	if err := down.Run(ctx, nil, []engine.IO{{Buf: C, Data: got}}); err != nil {
		b.Fatal(err)
	}
	if f16 {
		// Checked against the product with the weights as stored.
		for i, v := range w {
			w[i] = f16ToF32(layers.F32ToF16(v))
		}
	}
	checkGemmSample(b, a, w, got, m, n, k, prepared)

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Run(ctx, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	var downs []float64
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		if err := down.Run(ctx, nil, []engine.IO{{Buf: C, Data: got}}); err != nil {
			b.Fatal(err)
		}
		downs = append(downs, time.Since(t0).Seconds())
	}
	sort.Float64s(downs)
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)/sec/1e9, "GFLOP/s")
	b.ReportMetric(sec*1e6, "µs/run")
	b.ReportMetric(downs[len(downs)/2]*1e6, "download-µs")
}

// checkGemmSample compares got with the reference: every entry when the
// product is small, else 512 random entries computed directly.
func checkGemmSample(tb testing.TB, a, w, got []float32, m, n, k int, transB bool) {
	tb.Helper()
	bAt := func(kk, j int) float32 {
		if transB {
			return w[j*k+kk]
		}
		return w[kk*n+j]
	}
	check := func(i, j int, want float64) {
		var bound float64
		for kk := 0; kk < k; kk++ {
			bound += math.Abs(float64(a[i*k+kk]) * float64(bAt(kk, j)))
		}
		if diff := math.Abs(float64(got[i*n+j]) - want); !(diff <= gemmRelTol*(bound+1)) {
			tb.Fatalf("C[%d,%d] = %g, want %g", i, j, got[i*n+j], want)
		}
	}
	if m*n*k <= 1<<27 {
		want := ops.Gemm(a, w, nil, m, n, k, false, transB, ops.ActNone)
		for i := range want {
			check(i/n, i%n, float64(want[i]))
		}
		return
	}
	r := rand.New(rand.NewSource(7))
	for s := 0; s < 512; s++ {
		i, j := r.Intn(m), r.Intn(n)
		if s < 4 { // the corners
			i, j = (s&1)*(m-1), (s>>1)*(n-1)
		}
		var want float64
		for kk := 0; kk < k; kk++ {
			want += float64(a[i*k+kk]) * float64(bAt(kk, j))
		}
		check(i, j, want)
	}
}

// devBuf is newBuf for benchmarks.
func devBuf(tb testing.TB, d *engine.Device, data []float32) *engine.Buffer {
	tb.Helper()
	buf, err := d.NewBuffer(engine.Activations, int64(4*len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(buf.Close)
	if err := buf.Write(data); err != nil {
		tb.Fatal(err)
	}
	return buf
}

// gemmTexelBenchShapes are products gemm_texel runs inside models (M x N x
// K): batched Dense layers (mnist at batch 16-64), the Convs of resnet18's
// layer3 and layer4 as GEMMs (pixels x channels x patch), a 1x1 Conv with
// a small K (mobilenet_v2), and 1024^3.
var gemmTexelBenchShapes = []struct{ m, n, k int }{
	{16, 128, 784}, {32, 128, 784}, {64, 128, 784}, {16, 256, 784}, {64, 256, 784},
	{49, 512, 4608}, {196, 256, 2304}, {12544, 96, 16}, {1024, 1024, 1024},
}

// TestGemmTexelSpeed (with VKINFER_GEMM_BENCH=1, on lavapipe) times
// gemm_texel and gemm_shuffle side by side (VKINFER_GEMM_BENCH=orders:
// gemm_texel's invocation orders instead; VKINFER_SHUFFLE_TILES=2x2,4x2
// adds gemm_shuffle blocks; VKINFER_GEMM_SHAPES=64x256x784,... picks
// shapes), interleaved run by run, on gemmTexelBenchShapes with prepared
// weights, and logs the medians of wall and process CPU time:
// `VKINFER_GEMM_BENCH=1 VKINFER_VALIDATION=0 go test ./layers -run
// TestGemmTexelSpeed -v`. Not a pass/fail test (each variant's result is
// checked against the reference once).
func TestGemmTexelSpeed(t *testing.T) {
	if os.Getenv("VKINFER_GEMM_BENCH") == "" {
		t.Skip("set VKINFER_GEMM_BENCH=1 to time gemm_texel's variants")
	}
	d := gputest.Open(t, engine.Options{})
	if layers.ChooseGemmKernel(d.Info(), 64, 64, 64) != layers.GemmTexel {
		t.Skip("the device does not run gemm_texel")
	}
	type variant struct {
		name           string
		order, shuffle int // SetTexelOrder, SetGemmShuffle
		rh, p          int // SetShuffleTile (0: by shape)
	}
	variants := []variant{{"texel", 0, 1, 0, 0}, {"shuffle", 0, 2, 0, 0}}
	if os.Getenv("VKINFER_GEMM_BENCH") == "orders" {
		variants = []variant{{"auto", 0, 1, 0, 0}, {"panels", 1, 1, 0, 0}, {"rows", 2, 1, 0, 0}}
	}
	// VKINFER_SHUFFLE_TILES=2x2,2x4 adds gemm_shuffle at those blocks
	// (rows per lane x panels).
	for _, f := range strings.Split(os.Getenv("VKINFER_SHUFFLE_TILES"), ",") {
		var v variant
		if _, err := fmt.Sscanf(f, "%dx%d", &v.rh, &v.p); err == nil {
			v.name, v.shuffle = "shuffle"+f, 2
			variants = append(variants, v)
		}
	}
	set := func(v variant) func() {
		o, sh := layers.SetTexelOrder(v.order), layers.SetGemmShuffle(v.shuffle)
		layers.SetShuffleTile(v.rh, v.p)
		return func() {
			layers.SetTexelOrder(o)
			layers.SetGemmShuffle(sh)
			layers.SetShuffleTile(0, 0)
		}
	}
	shapes := gemmTexelBenchShapes
	if f := os.Getenv("VKINFER_GEMM_SHAPES"); f != "" {
		shapes = nil
		for _, s := range gemmTexelBenchShapes {
			if strings.Contains(","+f+",", fmt.Sprintf(",%dx%dx%d,", s.m, s.n, s.k)) {
				shapes = append(shapes, s)
			}
		}
	}
	runs := 9
	ctx := context.Background()
	for _, s := range shapes {
		r := rand.New(rand.NewSource(int64(s.m*s.n + s.k)))
		a := randSlice(r, s.m*s.k)
		w := randSlice(r, s.n*s.k)
		A := devBuf(t, d, a)
		C := devBuf(t, d, make([]float32, s.m*s.n))
		W, err := layers.NewGemmWeights(d, w, s.k, s.n, true)
		if err != nil {
			t.Fatal(err)
		}
		progs := make([]*engine.Program, len(variants))
		for i, v := range variants {
			reset := set(v)
			rec := d.NewRecorder()
			err := layers.RecordGemmWeights(rec, d, layers.Gemm{M: s.m, N: s.n, K: s.k}, A, W, C)
			reset()
			if err != nil {
				t.Fatal(err)
			}
			if err := rec.Output(C); err != nil {
				t.Fatal(err)
			}
			if progs[i], err = rec.Finish(); err != nil {
				t.Fatal(err)
			}
			defer progs[i].Close()
			got := make([]float32, s.m*s.n)
			if err := progs[i].Run(ctx, nil, []engine.IO{{Buf: C, Data: got}}); err != nil {
				t.Fatal(err)
			}
			checkGemmSample(t, a, w, got, s.m, s.n, s.k, true)
		}
		// Timed without the download: the same GEMM recorded again
		// with C not an output.
		for i, v := range variants {
			progs[i].Close()
			reset := set(v)
			rec := d.NewRecorder()
			err := layers.RecordGemmWeights(rec, d, layers.Gemm{M: s.m, N: s.n, K: s.k}, A, W, C)
			reset()
			if err != nil {
				t.Fatal(err)
			}
			if progs[i], err = rec.Finish(); err != nil {
				t.Fatal(err)
			}
			if err := progs[i].Run(ctx, nil, nil); err != nil { // warm up
				t.Fatal(err)
			}
		}
		times := make([][]time.Duration, len(variants))
		cpus := make([][]time.Duration, len(variants))
		for k := 0; k < runs; k++ {
			for i, p := range progs {
				c0, t0 := processCPU(), time.Now()
				if err := p.Run(ctx, nil, nil); err != nil {
					t.Fatal(err)
				}
				times[i] = append(times[i], time.Since(t0))
				cpus[i] = append(cpus[i], processCPU()-c0)
			}
		}
		flop := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		line := fmt.Sprintf("%5dx%4dx%4d", s.m, s.n, s.k)
		for i, v := range variants {
			sort.Slice(times[i], func(a, b int) bool { return times[i][a] < times[i][b] })
			sort.Slice(cpus[i], func(a, b int) bool { return cpus[i][a] < cpus[i][b] })
			med, cpu := times[i][runs/2], cpus[i][runs/2]
			line += fmt.Sprintf("  %s %7.1f µs (%5.1f GFLOP/s, CPU %7.1f µs)", v.name, float64(med.Nanoseconds())/1000, flop/med.Seconds()/1e9, float64(cpu.Nanoseconds())/1000)
		}
		t.Log(line)
		W.Close()
	}
}
