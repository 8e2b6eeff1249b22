package ops

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestBroadcastShape(t *testing.T) {
	tests := []struct {
		a, b, want []int
		bad        bool
	}{
		{nil, nil, []int{}, false},
		{[]int{}, []int{3}, []int{3}, false},
		{[]int{2, 3}, []int{3}, []int{2, 3}, false},
		{[]int{2, 1}, []int{1, 3}, []int{2, 3}, false},
		{[]int{4, 1, 5}, []int{3, 1}, []int{4, 3, 5}, false},
		{[]int{1}, []int{0}, []int{0}, false},
		{[]int{2, 0}, []int{1}, []int{2, 0}, false},
		{[]int{7, 1, 1, 1, 1, 1, 13}, []int{6, 1}, []int{7, 1, 1, 1, 1, 6, 13}, false},
		{[]int{2, 3}, []int{2}, nil, true},
		{[]int{2}, []int{0}, nil, true},
		{[]int{-1}, []int{1}, nil, true},
	}
	for _, tt := range tests {
		got, err := BroadcastShape(tt.a, tt.b)
		if tt.bad {
			if err == nil {
				t.Errorf("BroadcastShape(%v, %v) = %v, want an error", tt.a, tt.b, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v; want %v", tt.a, tt.b, got, err, tt.want)
		}
		// Symmetric.
		if got2, err := BroadcastShape(tt.b, tt.a); err != nil || !slices.Equal(got2, tt.want) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v; want %v", tt.b, tt.a, got2, err, tt.want)
		}
	}
}

func TestBinaryHandComputed(t *testing.T) {
	tests := []struct {
		name      string
		op        BinaryOp
		a         []float32
		aShape    []int
		b         []float32
		bShape    []int
		want      []float32
		wantShape []int
	}{
		{"add same", Add, []float32{1, 2, 3}, []int{3}, []float32{10, 20, 30}, []int{3}, []float32{11, 22, 33}, []int{3}},
		{"sub scalar b", Sub, []float32{1, 2, 3, 4}, []int{2, 2}, []float32{1}, nil, []float32{0, 1, 2, 3}, []int{2, 2}},
		{"sub scalar a", Sub, []float32{10}, []int{}, []float32{1, 2}, []int{2}, []float32{9, 8}, []int{2}},
		{"mul row", Mul, []float32{1, 2, 3, 4, 5, 6}, []int{2, 3}, []float32{1, 10, 100}, []int{3}, []float32{1, 20, 300, 4, 50, 600}, []int{2, 3}},
		{"mul column", Mul, []float32{1, 2, 3, 4, 5, 6}, []int{2, 3}, []float32{2, -1}, []int{2, 1}, []float32{2, 4, 6, -4, -5, -6}, []int{2, 3}},
		{"outer", Add, []float32{1, 2}, []int{2, 1}, []float32{10, 20, 30}, []int{1, 3}, []float32{11, 21, 31, 12, 22, 32}, []int{2, 3}},
		{"div specials", Div, []float32{1, -1, 0, inf, nan, 1}, []int{6}, []float32{0, 0, 0, inf, 1, inf}, []int{6}, []float32{inf, ninf, nan, nan, nan, 0}, []int{6}},
		{"add specials", Add, []float32{inf, inf, 3e38, nan}, []int{4}, []float32{ninf, inf, 3e38, 1}, []int{4}, []float32{nan, inf, inf, nan}, []int{4}},
		{"mul inf zero", Mul, []float32{inf, 0}, []int{2}, []float32{0, ninf}, []int{2}, []float32{nan, nan}, []int{2}},
		{"empty", Add, nil, []int{0, 3}, []float32{1, 2, 3}, []int{3}, []float32{}, []int{0, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, shape, err := Binary(tt.op, tt.a, tt.aShape, tt.b, tt.bShape)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tt.wantShape) {
				t.Fatalf("shape %v, want %v", shape, tt.wantShape)
			}
			assertClose(t, got, tt.want, 0)
		})
	}
}

// TestBinaryBroadcastMatchesLoop checks the odometer against a direct
// multi-index computation on random shapes of rank up to 5.
func TestBinaryBroadcastMatchesLoop(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 200; it++ {
		rank := r.Intn(6)
		out := make([]int, rank)
		for i := range out {
			out[i] = 1 + r.Intn(4)
		}
		mk := func() []int {
			s := slices.Clone(out[r.Intn(rank+1):])
			for i := range s {
				if r.Intn(3) == 0 {
					s[i] = 1
				}
			}
			return s
		}
		as, bs := mk(), mk()
		n1, _ := shapeElems(as)
		n2, _ := shapeElems(bs)
		a, b := randSlice(r, n1), randSlice(r, n2)
		for _, op := range []BinaryOp{Add, Sub, Mul, Div} {
			got, shape, err := Binary(op, a, as, b, bs)
			if err != nil {
				t.Fatal(err)
			}
			want := naiveBinary(op, a, as, b, bs, shape)
			assertClose(t, got, want, 0)
		}
	}
}

func naiveBinary(op BinaryOp, a []float32, as []int, b []float32, bs []int, out []int) []float32 {
	n, _ := shapeElems(out)
	y := make([]float32, n)
	at := func(x []float32, s []int, idx []int) float32 {
		off := 0
		for i := range s {
			c := idx[len(idx)-len(s)+i]
			if s[i] == 1 {
				c = 0
			}
			off = off*s[i] + c
		}
		return x[off]
	}
	idx := make([]int, len(out))
	for i := range y {
		rem := i
		for d := len(out) - 1; d >= 0; d-- {
			idx[d] = rem % out[d]
			rem /= out[d]
		}
		y[i] = op.apply(at(a, as, idx), at(b, bs, idx))
	}
	return y
}

func TestBinaryErrors(t *testing.T) {
	for _, tc := range []func() error{
		func() error {
			_, _, err := Binary(Add, []float32{1, 2}, []int{2}, []float32{1, 2, 3}, []int{3})
			return err
		},
		func() error { _, _, err := Binary(Add, []float32{1}, []int{2}, []float32{1}, []int{1}); return err },
		func() error {
			_, _, err := Binary(BinaryOp(7), []float32{1}, []int{1}, []float32{1}, []int{1})
			return err
		},
		func() error { _, _, err := Binary(Add, []float32{1}, []int{-1}, []float32{1}, []int{1}); return err },
	} {
		if tc() == nil {
			t.Error("no error")
		}
	}
}

func TestUnary(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	x := []float32{-2, -0.5, 0, negZero, 0.5, 3, 100, -100, inf, ninf, nan, 3e38, -3e38}
	tests := []struct {
		op          UnaryOp
		alpha, beta float32
		f           func(float64) float64
	}{
		{UnaryRelu, 0, 0, func(v float64) float64 { return math.Max(v, 0) }},
		{UnaryLeakyRelu, 0.01, 0, func(v float64) float64 {
			if v < 0 {
				return float64(float32(0.01) * float32(v))
			}
			return v
		}},
		{UnarySigmoid, 0, 0, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{UnaryTanh, 0, 0, math.Tanh},
		{UnaryClip, -1, 2, func(v float64) float64 { return math.Min(math.Max(v, -1), 2) }},
		{UnaryClip, ninf, inf, func(v float64) float64 { return v }},
		{UnaryClip, 3, 1, func(v float64) float64 { return 1 }},
		{UnaryIdentity, 0, 0, func(v float64) float64 { return v }},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v_%v_%v", tt.op, tt.alpha, tt.beta), func(t *testing.T) {
			got := Unary(tt.op, x, tt.alpha, tt.beta)
			want := make([]float32, len(x))
			for i, v := range x {
				want[i] = float32(tt.f(float64(v)))
				if math.IsNaN(float64(v)) {
					want[i] = nan
				}
			}
			assertClose(t, got, want, 1e-7)
		})
	}
	if g := Unary(UnaryLeakyRelu, []float32{negZero}, 0.1, 0); !math.Signbit(float64(g[0])) {
		t.Error("LeakyRelu(-0) lost its sign")
	}
	// Tiny sigmoid outputs are accurate, not flushed: exp(-80) ≈ 1.8e-35.
	if g := Unary(UnarySigmoid, []float32{-80}, 0, 0)[0]; math.Abs(float64(g)/math.Exp(-80)-1) > 1e-6 {
		t.Errorf("Sigmoid(-80) = %g", g)
	}
	assertPanics(t, "unknown op", func() { Unary(UnaryOp(99), x, 0, 0) })
}

func TestSoftmaxAxis(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	shape := []int{2, 3, 4}
	x := randSlice(r, 24)
	// Along the last axis it is Softmax of 6 rows of 4.
	for _, ax := range []int{2, -1} {
		got, err := SoftmaxAxis(x, shape, ax, false, false)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, got, Softmax(x, 6, 4), 0)
		got, _ = SoftmaxAxis(x, shape, ax, false, true)
		assertClose(t, got, Softmax(x, 6, 4), 0)
	}
	// Axis 1: rows of 3 with stride 4, checked through an explicit transpose.
	got, _ := SoftmaxAxis(x, shape, 1, false, false)
	for o := 0; o < 2; o++ {
		xt := transpose(x[o*12:(o+1)*12], 3, 4) // [4,3]
		want := transpose(Softmax(xt, 4, 3), 4, 3)
		assertClose(t, got[o*12:(o+1)*12], want, 0)
	}
	// Coerced axis 1: rows of 12.
	got, _ = SoftmaxAxis(x, shape, 1, false, true)
	assertClose(t, got, Softmax(x, 2, 12), 0)
	got, _ = SoftmaxAxis(x, shape, 0, false, true)
	assertClose(t, got, Softmax(x, 1, 24), 0)
	got, _ = SoftmaxAxis(x, shape, -3, false, false)
	assertClose(t, got, transpose(Softmax(transpose(x, 2, 12), 12, 2), 12, 2), 0)

	// Log-softmax is the log of softmax where that is finite, and stays
	// accurate where softmax underflows.
	lg, _ := SoftmaxAxis(x, shape, 1, true, false)
	sm, _ := SoftmaxAxis(x, shape, 1, false, false)
	for i := range lg {
		if d := math.Abs(float64(lg[i]) - math.Log(float64(sm[i]))); d > 1e-6 {
			t.Fatalf("logsoftmax[%d] = %v, log softmax = %v", i, lg[i], math.Log(float64(sm[i])))
		}
	}
	lg, _ = SoftmaxAxis([]float32{0, -1000, ninf}, []int{3}, 0, true, false)
	assertClose(t, lg, []float32{0, -1000, ninf}, 0)
	lg, _ = SoftmaxAxis([]float32{1, nan, ninf, ninf, inf, 0}, []int{3, 2}, 1, true, false)
	assertClose(t, lg, []float32{nan, nan, nan, nan, nan, nan}, 0)

	for _, bad := range []struct {
		shape []int
		axis  int
	}{{[]int{}, 0}, {[]int{24}, 1}, {[]int{2, 12}, -3}, {[]int{5}, 0}} {
		if _, err := SoftmaxAxis(x, bad.shape, bad.axis, false, false); err == nil {
			t.Errorf("SoftmaxAxis(shape %v, axis %d): no error", bad.shape, bad.axis)
		}
	}
}

func TestMatMul(t *testing.T) {
	a := []float32{1, 2, 3, 4, 5, 6}    // [2,3]
	b := []float32{7, 8, 9, 10, 11, 12} // [3,2]
	tests := []struct {
		name      string
		a         []float32
		as        []int
		b         []float32
		bs        []int
		want      []float32
		wantShape []int
	}{
		{"2d", a, []int{2, 3}, b, []int{3, 2}, []float32{58, 64, 139, 154}, []int{2, 2}},
		{"vec mat", []float32{1, 1, 1}, []int{3}, b, []int{3, 2}, []float32{27, 30}, []int{2}},
		{"mat vec", a, []int{2, 3}, []float32{1, 0, -1}, []int{3}, []float32{-2, -2}, []int{2}},
		{"dot", []float32{1, 2, 3}, []int{3}, []float32{4, 5, 6}, []int{3}, []float32{32}, []int{}},
		{"batched a", append(slices.Clone(a), a...), []int{2, 2, 3}, b, []int{3, 2}, []float32{58, 64, 139, 154, 58, 64, 139, 154}, []int{2, 2, 2}},
		{"batched b vec a", []float32{1, 1, 1}, []int{3}, append(slices.Clone(b), b...), []int{2, 3, 2}, []float32{27, 30, 27, 30}, []int{2, 2}},
		{"k=0", nil, []int{2, 0}, nil, []int{0, 3}, []float32{0, 0, 0, 0, 0, 0}, []int{2, 3}},
		{"inf nan", []float32{inf, 1}, []int{1, 2}, []float32{0, 1}, []int{2, 1}, []float32{nan}, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, shape, err := MatMul(tt.a, tt.as, tt.b, tt.bs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tt.wantShape) {
				t.Fatalf("shape %v, want %v", shape, tt.wantShape)
			}
			assertClose(t, got, tt.want, 0)
		})
	}
	// Batch broadcasting: [2,1,m,k] · [3,k,n] → [2,3,m,n], each block a Gemm.
	r := rand.New(rand.NewSource(3))
	m, k, n := 3, 5, 4
	A, B := randSlice(r, 2*m*k), randSlice(r, 3*k*n)
	got, shape, err := MatMul(A, []int{2, 1, m, k}, B, []int{3, k, n})
	if err != nil || !slices.Equal(shape, []int{2, 3, m, n}) {
		t.Fatalf("shape %v, %v", shape, err)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			want := Gemm(A[i*m*k:(i+1)*m*k], B[j*k*n:(j+1)*k*n], nil, m, n, k, false, false, ActNone)
			assertClose(t, got[(i*3+j)*m*n:(i*3+j+1)*m*n], want, 0)
		}
	}
	for _, bad := range [][2][]int{{{}, {3}}, {{2, 3}, {2, 2}}, {{2, 2, 3}, {3, 3, 2}}, {{3}, {2}}} {
		na, _ := shapeElems(bad[0])
		nb, _ := shapeElems(bad[1])
		if _, _, err := MatMul(make([]float32, na), bad[0], make([]float32, nb), bad[1]); err == nil {
			t.Errorf("MatMul(%v, %v): no error", bad[0], bad[1])
		}
	}
}

func TestGemmONNX(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	m, n, k := 3, 4, 5
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	at, bt := transpose(a, m, k), transpose(b, k, n)
	plain := Gemm(a, b, nil, m, n, k, false, false, ActNone)
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		aa, as, bb, bs := a, []int{m, k}, b, []int{k, n}
		if tr[0] {
			aa, as = at, []int{k, m}
		}
		if tr[1] {
			bb, bs = bt, []int{n, k}
		}
		for _, c := range []struct {
			c  []float32
			cs []int
		}{{nil, nil}, {[]float32{2}, []int{}}, {randSlice(r, n), []int{n}}, {randSlice(r, n), []int{1, n}}, {randSlice(r, m), []int{m, 1}}, {randSlice(r, m*n), []int{m, n}}} {
			got, shape, err := GemmONNX(aa, as, bb, bs, c.c, c.cs, 0.5, -2, tr[0], tr[1])
			if err != nil || !slices.Equal(shape, []int{m, n}) {
				t.Fatalf("trans %v C %v: %v %v", tr, c.cs, shape, err)
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					w := 0.5 * float64(plain[i*n+j])
					if c.c != nil {
						ci := 0
						switch {
						case len(c.cs) == 2 && c.cs[0] == m && c.cs[1] == n:
							ci = i*n + j
						case len(c.cs) == 2 && c.cs[0] == m:
							ci = i
						case len(c.cs) >= 1 && c.cs[len(c.cs)-1] == n:
							ci = j
						}
						w += -2 * float64(c.c[ci])
					}
					if math.Abs(float64(got[i*n+j])-w) > 1e-5*(1+math.Abs(w)) {
						t.Fatalf("trans %v C %v: Y[%d,%d] = %v, want %v", tr, c.cs, i, j, got[i*n+j], w)
					}
				}
			}
		}
	}
	// beta = 0 ignores C, even an infinite one.
	got, _, _ := GemmONNX([]float32{1}, []int{1, 1}, []float32{2}, []int{1, 1}, []float32{inf}, []int{1}, 1, 0, false, false)
	assertClose(t, got, []float32{2}, 0)
	got, _, _ = GemmONNX([]float32{1}, []int{1, 1}, []float32{2}, []int{1, 1}, []float32{inf}, []int{1}, 1, 1, false, false)
	assertClose(t, got, []float32{inf}, 0)
	for _, bad := range []struct{ as, bs, cs []int }{
		{[]int{2, 3}, []int{2, 3}, nil},
		{[]int{3}, []int{3, 2}, nil},
		{[]int{2, 3}, []int{3, 2}, []int{3}},
		{[]int{2, 3}, []int{3, 2}, []int{1, 2, 2}},
		{[]int{2, 3}, []int{3, 2}, []int{2, 2, 1}},
	} {
		na, _ := shapeElems(bad.as)
		nb, _ := shapeElems(bad.bs)
		var c []float32
		if bad.cs != nil {
			nc, _ := shapeElems(bad.cs)
			c = make([]float32, nc)
		}
		if _, _, err := GemmONNX(make([]float32, na), bad.as, make([]float32, nb), bad.bs, c, bad.cs, 1, 1, false, false); err == nil {
			t.Errorf("GemmONNX(%v, %v, %v): no error", bad.as, bad.bs, bad.cs)
		}
	}
}
