package layers_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Tolerances, per kernel. GEMM: fp32 accumulation over K terms against a
// float64 reference; the error bound grows with K and the magnitudes, so the
// check is |got-want| <= tol * (sum_k |a_ik b_kj| + 1).
const (
	gemmRelTol    = 1e-5
	softmaxAbsTol = 1e-6 // outputs are in [0,1]
	softmaxRelTol = 1e-5
)

func newBuf(t *testing.T, d *engine.Device, data []float32) *engine.Buffer {
	t.Helper()
	b, err := d.NewBuffer(engine.Activations, int64(4*len(data)))
	require.NoError(t, err)
	t.Cleanup(b.Close)
	if data != nil {
		require.NoError(t, b.Write(data))
	}
	return b
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// run records with rec, runs once and reads out.
func run(t *testing.T, d *engine.Device, out *engine.Buffer, n int, record func(r *engine.Recorder) error) []float32 {
	t.Helper()
	r := d.NewRecorder()
	require.NoError(t, record(r))
	require.NoError(t, r.Output(out))
	p, err := r.Finish()
	require.NoError(t, err)
	defer p.Close()
	got := make([]float32, n)
	require.NoError(t, p.Run(context.Background(), nil, []engine.IO{{Buf: out, Data: got}}))
	return got
}

// preservesSpecials reports whether the device promises to keep NaN,
// infinities and the sign of zero through shader arithmetic: the engine
// then declares SignedZeroInfNanPreserve in every shader. Without the
// promise (fast-math drivers) tests of exact special values must not
// assume them.
func preservesSpecials(d *engine.Device) bool { return d.Info().SignedZeroInfNanPreserve }

// isSpecial reports NaN, an infinity or a zero (whose sign a fast-math
// driver may drop).
func isSpecial(v float32) bool {
	f := float64(v)
	return math.IsNaN(f) || math.IsInf(f, 0) || f == 0
}

// gemmBound is sum_k |op(A)_ik op(B)_kj| per output, for error bounds.
func gemmBound(a, b []float32, m, n, k int, ta, tb bool) []float64 {
	abs := func(x []float32) []float32 {
		o := make([]float32, len(x))
		for i, v := range x {
			o[i] = float32(math.Abs(float64(v)))
		}
		return o
	}
	s := ops.Gemm(abs(a), abs(b), nil, m, n, k, ta, tb, ops.ActNone)
	out := make([]float64, len(s))
	for i, v := range s {
		out[i] = float64(v)
	}
	return out
}

func TestGemmDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	info := d.Info()
	cases := []struct{ m, n, k int }{
		{1, 1, 1}, {7, 13, 5}, {13, 7, 1}, {1, 257, 127}, {127, 257, 65}, {257, 127, 13},
		{1, 128, 784}, {64, 128, 784}, {33, 65, 129}, {5, 3, 2048},
	}
	r := rand.New(rand.NewSource(1))
	for _, c := range cases {
		for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
			for _, act := range []bool{false, true} {
				name := fmt.Sprintf("%dx%dx%d_tA%v_tB%v_relu%v", c.m, c.n, c.k, tr.a, tr.b, act)
				if (tr.a || !tr.b) && c.k > 1000 && act {
					continue // keep the large-K cases to the Dense layout and a few others
				}
				t.Run(name, func(t *testing.T) {
					a := randSlice(r, c.m*c.k)
					b := randSlice(r, c.k*c.n)
					bias := randSlice(r, c.n)
					A, B, Bias := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, bias)
					C := newBuf(t, d, make([]float32, c.m*c.n))
					g := layers.Gemm{M: c.m, N: c.n, K: c.k, TransA: tr.a, TransB: tr.b, Bias: Bias, ReLU: act}
					got := run(t, d, C, c.m*c.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					refAct := ops.ActNone
					if act {
						refAct = ops.ActReLU
					}
					want := ops.Gemm(a, b, bias, c.m, c.n, c.k, tr.a, tr.b, refAct)
					bound := gemmBound(a, b, c.m, c.n, c.k, tr.a, tr.b)
					for i := range want {
						tol := gemmRelTol * (bound[i] + math.Abs(float64(bias[i%c.n])) + 1)
						if diff := math.Abs(float64(got[i] - want[i])); !(diff <= tol) {
							t.Fatalf("C[%d,%d] = %g, want %g (tol %g; config %v)", i/c.n, i%c.n, got[i], want[i], tol, layers.ChooseGemm(info, c.m, c.n, c.k))
						}
					}
				})
			}
		}
	}
}

// Every tile shape, including ones that divide nothing, must be exact at
// sizes that are not multiples of it.
func TestGemmTileShapes(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	max := int(d.Info().Limits.MaxComputeWorkGroupInvocations)
	r := rand.New(rand.NewSource(2))
	m, n, k := 37, 53, 29
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	A, B := newBuf(t, d, a), newBuf(t, d, b)
	want := ops.Gemm(a, b, nil, m, n, k, false, true, ops.ActNone)
	bound := gemmBound(a, b, m, n, k, false, true)
	for _, cfg := range []layers.GemmConfig{{1, 1, 1, 1}, {8, 8, 4, 4}, {16, 1, 4, 8}, {8, 4, 8, 8}, {3, 5, 3, 5}, {64, 1, 1, 8}, {16, 16, 2, 2}} {
		if cfg.LX*cfg.LY > max {
			continue
		}
		t.Run(cfg.String(), func(t *testing.T) {
			C := newBuf(t, d, make([]float32, m*n))
			c := cfg
			got := run(t, d, C, m*n, func(rec *engine.Recorder) error {
				return layers.RecordGemm(rec, d, layers.Gemm{M: m, N: n, K: k, TransB: true, Config: &c}, A, B, C)
			})
			for i := range want {
				require.InDelta(t, want[i], got[i], gemmRelTol*(bound[i]+1), "C[%d]", i)
			}
		})
	}
}

func TestGemmSpecialValues(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	// 2x3 · 3x2: row 0 of A holds a NaN, row 1 an Inf; huge values overflow to Inf.
	a := []float32{1, nan, 2, inf, 1, 1}
	b := []float32{1, 0, 1, 1, 3e38, 1}
	A, B := newBuf(t, d, a), newBuf(t, d, b)
	C := newBuf(t, d, make([]float32, 4))
	got := run(t, d, C, 4, func(rec *engine.Recorder) error {
		return layers.RecordGemm(rec, d, layers.Gemm{M: 2, N: 2, K: 3, ReLU: true}, A, B, C)
	})
	want := ops.Gemm(a, b, nil, 2, 2, 3, false, false, ops.ActReLU)
	for i := range want {
		if math.IsNaN(float64(want[i])) {
			require.True(t, math.IsNaN(float64(got[i])), "C[%d] = %v, want NaN", i, got[i])
		} else {
			require.Equal(t, want[i], got[i], "C[%d]", i)
		}
	}
}

func TestReLUAndBias(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(3))
	for _, n := range []int{1, 7, 13, 127, 257, 1 << 20} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := randSlice(r, n)
			x[0] = float32(math.NaN())
			if n > 2 {
				x[1], x[2] = float32(math.Inf(-1)), float32(math.Inf(1))
			}
			X := newBuf(t, d, x)
			Y := newBuf(t, d, make([]float32, n))
			got := run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordReLU(rec, d, X, Y, n) })
			want := ops.ReLU(x)
			exact := preservesSpecials(d)
			for i := range want {
				if !exact && isSpecial(x[i]) {
					continue // the device does not promise NaN, Inf or -0 (see preservesSpecials)
				}
				if math.IsNaN(float64(want[i])) {
					require.True(t, math.IsNaN(float64(got[i])), "relu[%d]", i)
					continue
				}
				require.Equal(t, want[i], got[i], "relu[%d]", i)
			}
			cols := 1
			if n > 7 {
				cols = 7
			}
			if n%cols != 0 {
				cols = 1
			}
			bias := randSlice(r, cols)
			Bb := newBuf(t, d, bias)
			got = run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordBias(rec, d, X, Bb, Y, n, cols) })
			want = ops.BiasAdd(x, bias)
			for i := range want {
				if math.IsNaN(float64(want[i])) {
					require.True(t, math.IsNaN(float64(got[i])), "bias[%d]", i)
					continue
				}
				require.Equal(t, want[i], got[i], "bias[%d]", i)
			}
		})
	}
}

func TestSoftmaxDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(4))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	special := [][]float32{
		{1e30, -1e30, 1e30, 0},
		{-1e30, -1e30, -1e30, -1e30},
		{float32(math.Inf(-1)), 0, 1, float32(math.Inf(-1))},
		{float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1)), float32(math.Inf(-1))},
		{nan, 1, 2, 3},
		{inf, 1, 2, 3},
		{3.4e38, 3.4e38, -3.4e38, 0},
	}
	type tc struct {
		name       string
		rows, cols int
		x          []float32
	}
	var cases []tc
	for i, row := range special {
		cases = append(cases, tc{fmt.Sprint("special", i), 1, len(row), row})
	}
	for _, s := range []struct{ rows, cols int }{{1, 1}, {7, 1}, {1, 10000}, {13, 7}, {127, 10}, {3, 257}, {64, 1000}, {70000, 3}} {
		x := randSlice(r, s.rows*s.cols)
		for i := range x {
			x[i] *= 10
		}
		cases = append(cases, tc{fmt.Sprintf("%dx%d", s.rows, s.cols), s.rows, s.cols, x})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			X := newBuf(t, d, c.x)
			Y := newBuf(t, d, make([]float32, len(c.x)))
			got := run(t, d, Y, len(c.x), func(rec *engine.Recorder) error { return layers.RecordSoftmax(rec, d, X, Y, c.rows, c.cols) })
			want := ops.Softmax(c.x, c.rows, c.cols)
			for i := range want {
				w, g := float64(want[i]), float64(got[i])
				if math.IsNaN(w) {
					require.True(t, math.IsNaN(g), "y[%d] = %v, want NaN", i, g)
					continue
				}
				require.InDelta(t, w, g, softmaxAbsTol+softmaxRelTol*w, "y[%d] (row %d)", i, i/c.cols)
			}
		})
	}
}

// checkGemm compares a GEMM result with the reference within gemmRelTol.
func checkGemm(t *testing.T, got, a, b, bias []float32, m, n, k int, ta, tb, relu bool, what string) {
	t.Helper()
	act := ops.ActNone
	if relu {
		act = ops.ActReLU
	}
	want := ops.Gemm(a, b, bias, m, n, k, ta, tb, act)
	bound := gemmBound(a, b, m, n, k, ta, tb)
	for i := range want {
		tol := gemmRelTol * (bound[i] + 1)
		if bias != nil {
			tol += gemmRelTol * math.Abs(float64(bias[i%n]))
		}
		if diff := math.Abs(float64(got[i] - want[i])); !(diff <= tol) {
			t.Fatalf("%s: C[%d,%d] = %g, want %g (tol %g)", what, i/n, i%n, got[i], want[i], tol)
		}
	}
}

// Every kernel family, forced, at awkward sizes and every layout: each must
// be exact or fall back to one that is (packed operands are program
// temporaries, so kernels that need packed copies run too).
func TestGemmKernels(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(5))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {1, 33, 784}, {2, 9, 7}, {3, 16, 16}, {5, 31, 65}, {8, 8, 8}, {13, 129, 3}, {37, 53, 29}, {64, 40, 64}, {257, 129, 65},
	}
	// GemmTiled and GemmGEMV: TestGemmGPUKernels.
	for _, kernel := range []layers.GemmKernel{layers.GemmStorage, layers.GemmTexel, layers.GemmSubgroup} {
		for _, s := range shapes {
			for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
				relu := (s.m+s.n)%2 == 0
				name := fmt.Sprintf("%v/%dx%dx%d_tA%v_tB%v", kernel, s.m, s.n, s.k, tr.a, tr.b)
				t.Run(name, func(t *testing.T) {
					a, b, bias := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), randSlice(r, s.n)
					A, B, Bias := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, bias)
					C := newBuf(t, d, make([]float32, s.m*s.n))
					g := layers.Gemm{M: s.m, N: s.n, K: s.k, TransA: tr.a, TransB: tr.b, Bias: Bias, ReLU: relu, Kernel: kernel}
					got := run(t, d, C, s.m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					checkGemm(t, got, a, b, bias, s.m, s.n, s.k, tr.a, tr.b, relu, name)
				})
			}
		}
	}
}

// Explicit tiles of the texel and subgroup kernels (the storage kernel's are
// in TestGemmTileShapes), including workgroups that divide nothing.
func TestGemmKernelTiles(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	info := d.Info()
	r := rand.New(rand.NewSource(6))
	m, n, k := 37, 53, 29
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	A, B := newBuf(t, d, a), newBuf(t, d, b)
	cases := []struct {
		kernel layers.GemmKernel
		cfg    layers.GemmConfig
	}{
		{layers.GemmTexel, layers.GemmConfig{LX: 1, LY: 1, TM: 1, TN: 8}},
		{layers.GemmTexel, layers.GemmConfig{LX: 7, LY: 1, TM: 2, TN: 8}},
		{layers.GemmTexel, layers.GemmConfig{LX: 32, LY: 1, TM: 4, TN: 8}},
		{layers.GemmTexel, layers.GemmConfig{LX: 64, LY: 1, TM: 8, TN: 8}},
		{layers.GemmSubgroup, layers.GemmConfig{LX: 4, LY: 1, TM: 8, TN: 4}},
		{layers.GemmSubgroup, layers.GemmConfig{LX: 64, LY: 1, TM: 8, TN: 4}},
		{layers.GemmSubgroup, layers.GemmConfig{LX: 8, LY: 1, TM: 1, TN: 4}},
	}
	for _, c := range cases {
		for _, transA := range []bool{false, true} {
			name := fmt.Sprintf("%v/%v/tA%v", c.kernel, c.cfg, transA)
			t.Run(name, func(t *testing.T) {
				if c.cfg.LX > int(info.Limits.MaxComputeWorkGroupInvocations) {
					t.Skip("workgroup too large for the device")
				}
				aa := a
				if transA {
					aa = transposed(a, m, k)
				}
				Aop := A
				if transA {
					Aop = newBuf(t, d, aa)
				}
				C := newBuf(t, d, make([]float32, m*n))
				cfg := c.cfg
				g := layers.Gemm{M: m, N: n, K: k, TransA: transA, Kernel: c.kernel, Config: &cfg}
				got := run(t, d, C, m*n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, Aop, B, C) })
				checkGemm(t, got, aa, b, nil, m, n, k, transA, false, false, name)
			})
		}
	}
	t.Run("bad tile", func(t *testing.T) {
		C := newBuf(t, d, make([]float32, m*n))
		cfg := layers.GemmConfig{LX: 8, LY: 4, TM: 3, TN: 8}
		rec := d.NewRecorder()
		err := layers.RecordGemm(rec, d, layers.Gemm{M: m, N: n, K: k, Kernel: layers.GemmTexel, Config: &cfg}, A, B, C)
		require.Error(t, err, "TM = 3 is not a texel-kernel tile")
	})
}

// transposed returns the cols x rows transpose of a rows x cols matrix.
func transposed(x []float32, rows, cols int) []float32 {
	out := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = x[r*cols+c]
		}
	}
	return out
}

// Prepared weights (the Dense path): laid out once for the device, used at
// any batch size, with and without bias and ReLU.
func TestGemmWeights(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(7))
	for _, s := range []struct{ n, k int }{{1, 1}, {10, 784}, {33, 65}, {128, 64}, {129, 3}} {
		for _, transB := range []bool{true, false} {
			w := randSlice(r, s.n*s.k)
			W, err := layers.NewGemmWeights(d, w, s.k, s.n, transB)
			require.NoError(t, err)
			bias := randSlice(r, s.n)
			Bias := newBuf(t, d, bias)
			for _, m := range []int{1, 2, 3, 5, 8, 13, 64} {
				for _, relu := range []bool{false, true} {
					name := fmt.Sprintf("%dx%dx%d_tB%v_relu%v", m, s.n, s.k, transB, relu)
					t.Run(name, func(t *testing.T) {
						a := randSlice(r, m*s.k)
						A := newBuf(t, d, a)
						C := newBuf(t, d, make([]float32, m*s.n))
						g := layers.Gemm{M: m, N: s.n, K: s.k, Bias: Bias, ReLU: relu}
						got := run(t, d, C, m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemmWeights(rec, d, g, A, W, C) })
						checkGemm(t, got, a, w, bias, m, s.n, s.k, false, transB, relu, name)
					})
				}
			}
			W.Close()
			W.Close() // safe twice
		}
	}
	t.Run("mismatch", func(t *testing.T) {
		W, err := layers.NewGemmWeights(d, make([]float32, 12), 3, 4, false)
		require.NoError(t, err)
		defer W.Close()
		A := newBuf(t, d, make([]float32, 6))
		C := newBuf(t, d, make([]float32, 8))
		require.Error(t, layers.RecordGemmWeights(d.NewRecorder(), d, layers.Gemm{M: 2, N: 4, K: 4}, A, W, C))
		_, err = layers.NewGemmWeights(d, make([]float32, 11), 3, 4, false)
		require.Error(t, err)
	})
}

// NaN and Inf reach exactly the outputs they should through every kernel:
// padding and edge reads never leak into stored results.
func TestGemmKernelsSpecialValues(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(8))
	m, n, k := 9, 21, 13
	for _, kernel := range []layers.GemmKernel{layers.GemmStorage, layers.GemmTexel, layers.GemmSubgroup, layers.GemmTiled, layers.GemmGEMV} {
		t.Run(kernel.String(), func(t *testing.T) {
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			a[0*k+3] = float32(math.NaN())         // row 0
			a[4*k+k-1] = float32(math.Inf(1))      // row 4, last k
			b[(k-1)*n+n-1] = float32(math.Inf(-1)) // last column, last k
			A, B := newBuf(t, d, a), newBuf(t, d, b)
			C := newBuf(t, d, make([]float32, m*n))
			g := layers.Gemm{M: m, N: n, K: k, ReLU: true, Kernel: kernel}
			got := run(t, d, C, m*n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
			want := ops.Gemm(a, b, nil, m, n, k, false, false, ops.ActReLU)
			for i := range want {
				w, g := float64(want[i]), float64(got[i])
				switch {
				case math.IsNaN(w):
					require.True(t, math.IsNaN(g), "C[%d,%d] = %v, want NaN", i/n, i%n, g)
				case math.IsInf(w, 0):
					require.Equal(t, w, g, "C[%d,%d]", i/n, i%n)
				default:
					require.False(t, math.IsNaN(g) || math.IsInf(g, 0), "C[%d,%d] = %v, want %v", i/n, i%n, g, w)
					require.InDelta(t, w, g, 1e-3*(math.Abs(w)+1), "C[%d,%d]", i/n, i%n)
				}
			}
		})
	}
}

// The Dense layer (weights prepared at build, one fused dispatch) at batch
// sizes that exercise every tile height, with and without bias and ReLU.
func TestDenseLayer(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(9))
	build, ok := layers.Lookup(ops.OpDense)
	require.True(t, ok)
	for _, s := range []struct{ in, out int }{{784, 10}, {65, 129}, {3, 1}} {
		for _, withBias := range []bool{false, true} {
			w := &model.Tensor{Name: "W", Shape: []int{s.out, s.in}, Data: randSlice(r, s.out*s.in)}
			consts := map[string]*model.Tensor{"W": w}
			node := &model.Node{Name: "dense", Op: ops.OpDense, Inputs: []string{"x", "W"}, Outputs: []string{"y"},
				Attrs: map[string]model.Attr{ops.AttrActivation: model.StringAttr(ops.ActivationRelu)}}
			var bias []float32
			if withBias {
				bias = randSlice(r, s.out)
				consts["b"] = &model.Tensor{Name: "b", Shape: []int{s.out}, Data: bias}
				node.Inputs = append(node.Inputs, "b")
			}
			cf := func(name string) *model.Tensor { return consts[name] }
			l, err := build(&layers.Build{Dev: d, Const: cf}, node)
			require.NoError(t, err)
			builtNodes.Store(l, builtNode{*node, cf})
			for _, m := range []int{1, 2, 3, 8, 33} {
				name := fmt.Sprintf("%dx%d_bias%v_batch%d", s.in, s.out, withBias, m)
				t.Run(name, func(t *testing.T) {
					x := randSlice(r, m*s.in)
					X := newBuf(t, d, x)
					Y := newBuf(t, d, make([]float32, m*s.out))
					shapes := []layers.Shape{{m, s.in}}
					outs, err := inferLayer(l, shapes)
					require.NoError(t, err)
					require.Equal(t, layers.Shape{m, s.out}, outs[0])
					got := run(t, d, Y, m*s.out, func(rec *engine.Recorder) error {
						return l.Record(rec, []*engine.Buffer{X}, shapes, []*engine.Buffer{Y})
					})
					checkGemm(t, got, x, w.Data, bias, m, s.out, s.in, false, true, true, name)
				})
			}
			l.Close()
			l.Close() // safe twice
		}
	}
}
