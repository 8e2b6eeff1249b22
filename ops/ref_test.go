package ops

import (
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"
)

var (
	nan  = float32(math.NaN())
	inf  = float32(math.Inf(1))
	ninf = float32(math.Inf(-1))
)

// assertClose fails unless got and want have equal length and every pair is
// within tol (absolute, plus relative to |want|); NaN matches only NaN and
// an infinity only the same infinity.
func assertClose(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("len = %d, want %d", len(got), len(want))
	}
	bad := 0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		var ok bool
		switch {
		case math.IsNaN(w):
			ok = math.IsNaN(g)
		case math.IsInf(w, 0):
			ok = g == w
		default:
			ok = math.Abs(g-w) <= tol*(1+math.Abs(w))
		}
		if !ok {
			if bad < 5 {
				t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 5 {
		t.Errorf("... %d mismatches in all", bad)
	}
}

func assertPanics(t *testing.T, wantMsg string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Fatalf("no panic, want one mentioning %q", wantMsg)
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, wantMsg) {
			t.Fatalf("panic %q, want it to mention %q", msg, wantMsg)
		}
	}()
	f()
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// transpose returns the cols×rows transpose of a rows×cols matrix.
func transpose(x []float32, rows, cols int) []float32 {
	t := make([]float32, len(x))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			t[j*rows+i] = x[i*cols+j]
		}
	}
	return t
}

func TestGemmHandComputed(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6}    // 2×3
	b := []float32{7, 8, 9, 10, 11, 12} // 3×2
	tests := []struct {
		name string
		a, b []float32
		bias []float32
		m, n int
		k    int
		act  Activation
		want []float32
	}{
		{"plain", a, b, nil, 2, 2, 3, ActNone, []float32{58, 64, 139, 154}},
		{"bias", a, b, []float32{1, -200}, 2, 2, 3, ActNone, []float32{59, -136, 140, -46}},
		{"bias relu", a, b, []float32{1, -200}, 2, 2, 3, ActReLU, []float32{59, 0, 140, 0}},
		{"1x1x1", []float32{3}, []float32{-2}, nil, 1, 1, 1, ActNone, []float32{-6}},
		{"1x1x1 relu", []float32{3}, []float32{-2}, []float32{0.5}, 1, 1, 1, ActReLU, []float32{0}},
		{"outer product k=1", []float32{1, 2}, []float32{3, 4, 5}, nil, 2, 3, 1, ActNone, []float32{3, 4, 5, 6, 8, 10}},
		{"dot product", []float32{1, 2, 3}, []float32{4, 5, 6}, nil, 1, 1, 3, ActNone, []float32{32}},
		// float64 accumulation: fp32 would lose the 1 entirely.
		{"accumulates in float64", []float32{1e8, 1, -1e8}, []float32{1, 1, 1}, nil, 1, 1, 3, ActNone, []float32{1}},
		{"nan through relu", []float32{nan, 1}, []float32{1, 1}, nil, 1, 1, 2, ActReLU, []float32{nan}},
		{"nan bias", []float32{1}, []float32{1}, []float32{nan}, 1, 1, 1, ActReLU, []float32{nan}},
		{"inf times zero", []float32{inf}, []float32{0}, nil, 1, 1, 1, ActNone, []float32{nan}},
		{"inf times two", []float32{inf}, []float32{2}, nil, 1, 1, 1, ActNone, []float32{inf}},
		{"inf minus inf", []float32{inf, inf}, []float32{1, -1}, nil, 1, 1, 2, ActNone, []float32{nan}},
		{"-inf relu", []float32{ninf}, []float32{1}, nil, 1, 1, 1, ActReLU, []float32{0}},
		{"overflow to inf", []float32{3e38, 3e38}, []float32{1, 1}, nil, 1, 1, 2, ActNone, []float32{inf}},
		{"empty m", nil, []float32{1, 2}, nil, 0, 2, 1, ActNone, []float32{}},
		{"k=0 gives bias", nil, nil, []float32{1, -2}, 1, 2, 0, ActReLU, []float32{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Gemm(tt.a, tt.b, tt.bias, tt.m, tt.n, tt.k, false, false, tt.act)
			assertClose(t, got, tt.want, 0)
		})
	}
}

// TestGemmTransposes checks that the four layouts of the same product agree
// exactly (same products summed in the same order) at awkward sizes.
func TestGemmTransposes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, sz := range [][3]int{{1, 1, 1}, {1, 7, 13}, {7, 1, 13}, {13, 7, 1}, {7, 13, 127}, {17, 5, 3}} {
		m, n, k := sz[0], sz[1], sz[2]
		t.Run(fmt.Sprintf("%dx%dx%d", m, n, k), func(t *testing.T) {
			a, b, bias := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, n)
			at, bt := transpose(a, m, k), transpose(b, k, n)
			for _, act := range []Activation{ActNone, ActReLU} {
				want := Gemm(a, b, bias, m, n, k, false, false, act)
				assertClose(t, Gemm(at, b, bias, m, n, k, true, false, act), want, 0)
				assertClose(t, Gemm(a, bt, bias, m, n, k, false, true, act), want, 0)
				assertClose(t, Gemm(at, bt, bias, m, n, k, true, true, act), want, 0)
			}
			// And against a direct float64 triple loop.
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					s := float64(bias[j])
					for p := 0; p < k; p++ {
						s += float64(a[i*k+p]) * float64(b[p*n+j])
					}
					if got := Gemm(a, b, bias, m, n, k, false, false, ActNone)[i*n+j]; math.Abs(float64(got)-s) > 1e-6*(1+math.Abs(s)) {
						t.Fatalf("C[%d,%d] = %v, want %v", i, j, got, s)
					}
				}
			}
		})
	}
}

func TestGemmPanics(t *testing.T) {
	ok := []float32{1, 2, 3, 4}
	assertPanics(t, "len(a) = 3, want 4", func() { Gemm(ok[:3], ok, nil, 2, 2, 2, false, false, ActNone) })
	assertPanics(t, "len(b) = 3, want 4", func() { Gemm(ok, ok[:3], nil, 2, 2, 2, false, false, ActNone) })
	assertPanics(t, "len(bias) = 1, want 2", func() { Gemm(ok, ok, ok[:1], 2, 2, 2, false, false, ActNone) })
	assertPanics(t, "negative size", func() { Gemm(nil, nil, nil, -1, 0, 0, false, false, ActNone) })
	assertPanics(t, "unknown activation", func() { Gemm(ok, ok, nil, 2, 2, 2, false, false, Activation(9)) })
}

func TestBiasAdd(t *testing.T) {
	tests := []struct {
		name    string
		x, bias []float32
		want    []float32
	}{
		{"rows", []float32{1, 2, 3, 4, 5, 6}, []float32{10, 20, 30}, []float32{11, 22, 33, 14, 25, 36}},
		{"scalar bias", []float32{1, 2}, []float32{-1}, []float32{0, 1}},
		{"one row", []float32{1, 2}, []float32{0.5, 0.25}, []float32{1.5, 2.25}},
		{"empty x", []float32{}, []float32{1}, []float32{}},
		{"specials", []float32{nan, inf, inf, 1}, []float32{1, 1, ninf, nan}, []float32{nan, inf, nan, nan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertClose(t, BiasAdd(tt.x, tt.bias), tt.want, 0)
		})
	}
	assertPanics(t, "not a multiple", func() { BiasAdd([]float32{1, 2, 3}, []float32{1, 2}) })
	assertPanics(t, "not a multiple", func() { BiasAdd([]float32{1}, nil) })
}

func TestReLU(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	x := []float32{-1, 0, 2, negZero, nan, inf, ninf, -1e-45, 3e38}
	want := []float32{0, 0, 2, negZero, nan, inf, 0, 0, 3e38}
	got := ReLU(x)
	assertClose(t, got, want, 0)
	if !math.Signbit(float64(got[3])) {
		t.Error("ReLU(-0) lost the sign; -0 is documented to stay -0")
	}
	if len(ReLU(nil)) != 0 {
		t.Error("ReLU(nil) not empty")
	}
	if x[0] != -1 {
		t.Error("ReLU modified its input")
	}
}

func TestSoftmaxHandComputed(t *testing.T) {
	e1, e2 := math.Exp(-1), math.Exp(-2)
	s := 1 + e1 + e2
	tests := []struct {
		name       string
		x          []float32
		rows, cols int
		want       []float32
	}{
		{"1 2 3", []float32{1, 2, 3}, 1, 3, []float32{float32(e2 / s), float32(e1 / s), float32(1 / s)}},
		{"shift invariant", []float32{101, 102, 103}, 1, 3, []float32{float32(e2 / s), float32(e1 / s), float32(1 / s)}},
		{"uniform", []float32{5, 5, 5, 5}, 1, 4, []float32{0.25, 0.25, 0.25, 0.25}},
		{"two rows independent", []float32{0, 0, 1, 1}, 2, 2, []float32{0.5, 0.5, 0.5, 0.5}},
		{"cols 1", []float32{-7, 0, 1e30}, 3, 1, []float32{1, 1, 1}},
		{"+-1e30", []float32{1e30, -1e30, 1e30}, 1, 3, []float32{0.5, 0, 0.5}},
		{"-1e30 row", []float32{-1e30, -1e30}, 1, 2, []float32{0.5, 0.5}},
		{"max float range", []float32{3.4e38, -3.4e38}, 1, 2, []float32{1, 0}},
		{"empty", nil, 0, 5, []float32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertClose(t, Softmax(tt.x, tt.rows, tt.cols), tt.want, 1e-7)
		})
	}
}

func TestSoftmaxSpecialValues(t *testing.T) {
	rowNaN := []float32{nan, nan, nan}
	tests := []struct {
		name string
		row  []float32 // one row, 3 columns
		want []float32
	}{
		{"nan anywhere", []float32{1, nan, 2}, rowNaN},
		{"nan with +inf", []float32{inf, nan, 2}, rowNaN},
		{"nan with -inf", []float32{ninf, 0, nan}, rowNaN},
		{"+inf gives inf-inf", []float32{inf, 0, 1}, rowNaN},
		{"+inf twice", []float32{inf, inf, 1}, rowNaN},
		{"all -inf", []float32{ninf, ninf, ninf}, rowNaN},
		{"some -inf are 0", []float32{ninf, 0, ninf}, []float32{0, 1, 0}},
		{"-inf with ties", []float32{3, ninf, 3}, []float32{0.5, 0, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Surround the row with ordinary rows: specials must not leak.
			x := append(append([]float32{0, 0, 0}, tt.row...), 1, 1, 1)
			want := append(append([]float32{1. / 3, 1. / 3, 1. / 3}, tt.want...), 1./3, 1./3, 1./3)
			assertClose(t, Softmax(x, 3, 3), want, 1e-7)
		})
	}
	assertClose(t, Softmax([]float32{nan}, 1, 1), []float32{nan}, 0)
	assertClose(t, Softmax([]float32{inf}, 1, 1), []float32{nan}, 0)
	assertClose(t, Softmax([]float32{ninf}, 1, 1), []float32{nan}, 0)
}

func TestSoftmaxWideRows(t *testing.T) {
	const cols = 10000
	r := rand.New(rand.NewSource(2))
	x := append(make([]float32, cols), randSlice(r, cols)...) // row 0 constant, row 1 random
	for i := cols; i < 2*cols; i++ {
		x[i] *= 10
	}
	y := Softmax(x, 2, cols)
	for c := 0; c < cols; c++ {
		if math.Abs(float64(y[c])-1e-4) > 1e-10 {
			t.Fatalf("constant row: y[%d] = %v, want 1e-4", c, y[c])
		}
	}
	var sum float64
	argmax := cols
	for c := cols; c < 2*cols; c++ {
		sum += float64(y[c])
		if y[c] < 0 || y[c] > 1 {
			t.Fatalf("y[%d] = %v out of [0, 1]", c, y[c])
		}
		if x[c] > x[argmax] {
			argmax = c
		}
	}
	if math.Abs(sum-1) > 1e-5 {
		t.Errorf("random row sums to %v", sum)
	}
	for c := cols; c < 2*cols; c++ {
		if y[c] > y[argmax] {
			t.Fatalf("largest output at %d, largest input at %d", c, argmax)
		}
	}
}

func TestSoftmaxPanics(t *testing.T) {
	assertPanics(t, "len(x) = 3, want 4", func() { Softmax([]float32{1, 2, 3}, 2, 2) })
	assertPanics(t, "negative size", func() { Softmax(nil, -1, 2) })
}

func TestActivationString(t *testing.T) {
	if ActNone.String() != "none" || ActReLU.String() != "relu" || Activation(5).String() != "Activation(5)" {
		t.Error("Activation.String")
	}
}
