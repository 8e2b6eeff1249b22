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

// gemm_texel's invocation orders (panels or row blocks fastest), each
// forced, at awkward
// sizes, row-major and NCHW C (with row offsets, images cut by blocks),
// A row-major (with a padded row stride) and transposed, bias and an
// activation, NaN and Inf in A and B: every stored entry must match the
// reference and every entry outside C must stay untouched.
func TestGemmTexelModes(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(14))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {7, 13, 5}, {13, 7, 127}, {127, 257, 13}, {257, 9, 7}, {16, 16, 16}, {49, 24, 4608},
	}
	forms := []struct {
		transA  bool
		pad     int // extra floats per row of a row-major A (Gemm.LDA)
		hw, row int // NCHW store: pixels per image, first row (0: row-major C)
	}{{false, 0, 0, 0}, {true, 0, 0, 0}, {false, 1, 4, 8}, {true, 0, 12, 4}, {false, 0, 7, 3}, {false, 5, 1, 0}}
	for _, order := range []int{1, 2} {
		for i, s := range shapes {
			// Three forms per shape, rotating, so that both orders meet
			// every form (a pipeline each: lavapipe compiles slowly).
			for _, form := range []int{(i + order) % len(forms), (i + order + 2) % len(forms), (i + order + 4) % len(forms)} {
				f := forms[form]
				name := fmt.Sprintf("order%d/%dx%dx%d/tA%v_pad%d_hw%d_row%d", order, s.m, s.n, s.k, f.transA, f.pad, f.hw, f.row)
				t.Run(name, func(t *testing.T) {
					defer layers.SetTexelOrder(layers.SetTexelOrder(order))
					testTexelMode(t, d, r, s.m, s.n, s.k, f.transA, f.pad, f.hw, f.row)
				})
			}
		}
	}
}

func testTexelMode(t *testing.T, d *engine.Device, r *rand.Rand, m, n, k int, transA bool, pad, hw, row0 int) {
	testGemmMode(t, d, r, layers.GemmTexel, false, m, n, k, transA, pad, hw, row0)
}

// gemm_shuffle (forced) at awkward sizes, every block shape, A in place
// (a row stride a multiple of 4, padding NaN) and packed (transposed, odd
// stride), B prepared (8-column panels, read in place) and packed (plain
// K x N), row-major and NCHW C, bias and an activation, NaN and Inf: every
// stored entry must match the reference and nothing outside C may change.
// K covers the main loop (2 steps of 4 an iteration), an odd step and a
// partial one.
func TestGemmShuffleModes(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(15))
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {7, 13, 5}, {13, 7, 127}, {127, 257, 13}, {257, 9, 7}, {16, 16, 16}, {49, 24, 4608}, {33, 40, 12},
	}
	forms := []struct {
		transA   bool
		pad      int
		hw, row  int
		prepared bool
	}{
		{false, 0, 0, 0, true}, {false, 3, 4, 8, true}, {true, 0, 12, 4, false}, {false, 1, 7, 3, false},
		{false, 0, 0, 0, false}, {false, 7, 1, 0, true},
	}
	tiles := [][2]int{{0, 0}, {1, 1}, {2, 4}, {4, 2}, {1, 3}}
	for i, s := range shapes {
		for j := 0; j < 3; j++ {
			f := forms[(i+2*j)%len(forms)]
			tile := tiles[(i+j)%len(tiles)]
			name := fmt.Sprintf("%dx%dx%d/tA%v_pad%d_hw%d_row%d_prep%v_tile%dx%d", s.m, s.n, s.k, f.transA, f.pad, f.hw, f.row, f.prepared, tile[0], tile[1])
			if f.prepared && layers.ChooseGemmKernel(d.Info(), 64, s.n, s.k) != layers.GemmTexel {
				f.pad = 0 // weights for gemm_subgroup (SwiftShader), which takes no row stride
			}
			t.Run(name, func(t *testing.T) {
				layers.SetShuffleTile(tile[0], tile[1])
				defer layers.SetShuffleTile(0, 0)
				testGemmMode(t, d, r, layers.GemmShuffle, f.prepared, s.m, s.n, s.k, f.transA, f.pad, f.hw, f.row)
			})
		}
	}
}

// gemm_shuffle reading A transposed in place (K x M, M % 4 == 0, whole
// quads of rows per lane: A_T), B prepared and plain, NCHW and row-major C.
func TestGemmShuffleTransposedA(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(16))
	cases := []struct {
		m, n, k  int
		rh, p    int
		hw, row  int
		prepared bool
	}{
		{4, 9, 7, 4, 1, 0, 0, true}, {36, 24, 13, 4, 3, 12, 4, true}, {64, 17, 130, 8, 2, 0, 0, false},
		{132, 40, 9, 0, 0, 44, 0, true}, {96, 64, 64, 0, 0, 0, 0, false},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%dx%dx%d/tile%dx%d_hw%d_row%d_prep%v", c.m, c.n, c.k, c.rh, c.p, c.hw, c.row, c.prepared)
		t.Run(name, func(t *testing.T) {
			layers.SetShuffleTile(c.rh, c.p)
			defer layers.SetShuffleTile(0, 0)
			testGemmMode(t, d, r, layers.GemmShuffle, c.prepared, c.m, c.n, c.k, true, 0, c.hw, c.row)
		})
	}
}

// testGemmMode runs C = leakyrelu(op(A) B + bias) with kernel forced, B
// prepared (NewGemmWeights) or plain (K x N), and checks every element of C.
func testGemmMode(t *testing.T, d *engine.Device, r *rand.Rand, kernel layers.GemmKernel, prepared bool, m, n, k int, transA bool, pad, hw, row0 int) {
	a, b, bias := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, n)
	a[r.Intn(len(a))] = float32(math.NaN())
	a[r.Intn(len(a))] = float32(math.Inf(1))
	b[r.Intn(len(b))] = float32(math.Inf(-1))
	// A as stored: rows of lda floats, the padding NaN (never read).
	rows, cols := m, k
	if transA {
		rows, cols = k, m
	}
	lda := cols + pad
	stored := make([]float32, rows*lda)
	for i := range stored {
		stored[i] = float32(math.NaN())
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			if transA {
				stored[i*lda+j] = a[j*k+i] // Aᵀ[i, j] = A[j, i]
			} else {
				stored[i*lda+j] = a[i*k+j]
			}
		}
	}
	cLen := m * n
	if hw > 0 {
		cLen = (row0 + m + hw - 1) / hw * hw * n
	}
	sentinel := float32(-12345)
	c0 := make([]float32, cLen)
	for i := range c0 {
		c0[i] = sentinel
	}
	A, B, Bias, C := newBuf(t, d, stored), newBuf(t, d, b), newBuf(t, d, bias), newBuf(t, d, c0)
	g := layers.Gemm{M: m, N: n, K: k, TransA: transA, Bias: Bias, Act: ops.ActLeakyRelu, Alpha: 0.25,
		Kernel: kernel, OutHW: hw, OutRow0: row0}
	if pad > 0 {
		g.LDA = lda
	}
	var W *layers.GemmWeights
	if prepared {
		var err error
		W, err = layers.NewGemmWeights(d, b, k, n, false)
		require.NoError(t, err)
		defer W.Close()
	}
	got := run(t, d, C, cLen, func(rec *engine.Recorder) error {
		if prepared {
			return layers.RecordGemmWeights(rec, d, g, A, W, C)
		}
		return layers.RecordGemm(rec, d, g, A, B, C)
	})
	if kernel == layers.GemmShuffle && layers.ShuffleCapable(d.Info()) && (!prepared || layers.ChooseGemmKernel(d.Info(), 64, n, k) == layers.GemmTexel) {
		require.Equal(t, layers.GemmShuffle, layers.LastGemmKernel(), "the kernel that ran")
	}
	want := ops.Gemm(a, b, bias, m, n, k, false, false, ops.ActNone)
	ops.Activate(want, ops.ActLeakyRelu, 0.25, 0)
	exp := make([]float32, cLen)
	copy(exp, c0)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			w := want[i*n+j]
			at := i*n + j
			if hw > 0 {
				p := i + row0
				at = (p/hw*n+j)*hw + p%hw
			}
			exp[at] = w
		}
	}
	for i := range exp {
		w, g := float64(exp[i]), float64(got[i])
		switch {
		case math.IsNaN(w):
			require.True(t, math.IsNaN(g), "C[%d] = %v, want NaN", i, g)
		case math.IsInf(w, 0) || w == float64(sentinel):
			require.Equal(t, w, g, "C[%d]", i)
		default:
			require.InDelta(t, w, g, 1e-3*(math.Abs(w)+1), "C[%d]", i)
		}
	}
}
