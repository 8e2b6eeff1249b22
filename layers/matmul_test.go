package layers_test

import (
	"errors"
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

func absSlice(x []float32) []float32 {
	o := make([]float32, len(x))
	for i, v := range x {
		o[i] = float32(math.Abs(float64(v)))
	}
	return o
}

// TestMatMulDifferential: MatMul against ops.MatMul, tolerance as GEMM's:
// |got - want| <= gemmRelTol * (sum_k |a_ik b_kj| + 1).
func TestMatMulDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(21))
	cases := []struct{ a, b layers.Shape }{
		{layers.Shape{1, 1}, layers.Shape{1, 1}},
		{layers.Shape{7, 13}, layers.Shape{13, 5}},
		{layers.Shape{13}, layers.Shape{13, 7}},
		{layers.Shape{7, 13}, layers.Shape{13}},
		{layers.Shape{13}, layers.Shape{13}},
		{layers.Shape{3, 7, 13}, layers.Shape{13, 5}},
		{layers.Shape{3, 7, 13}, layers.Shape{1, 13, 5}},
		{layers.Shape{3, 7, 13}, layers.Shape{3, 13, 5}},
		{layers.Shape{2, 1, 7, 13}, layers.Shape{3, 13, 5}},
		{layers.Shape{7, 13}, layers.Shape{3, 13, 5}},
		{layers.Shape{13}, layers.Shape{3, 13, 5}},
		{layers.Shape{3, 7, 13}, layers.Shape{13}},
		{layers.Shape{127, 257}, layers.Shape{257, 65}},
		{layers.Shape{1, 784}, layers.Shape{784, 128}},
		{layers.Shape{4, 33, 65}, layers.Shape{4, 65, 17}},
		{layers.Shape{0, 7}, layers.Shape{7, 5}},
	}
	for ci, c := range cases {
		a, b := randSlice(r, c.a.Elems()), randSlice(r, c.b.Elems())
		want, wantShape, err := ops.MatMul(a, c.a, b, c.b)
		require.NoError(t, err)
		bound, _, _ := ops.MatMul(absSlice(a), c.a, absSlice(b), c.b)
		ca := &model.Tensor{Name: "ca", Shape: c.a, Data: a}
		cb := &model.Tensor{Name: "cb", Shape: c.b, Data: b}
		for vi, in := range []struct {
			names  []string
			rt     [][]float32
			shapes []layers.Shape
		}{
			{[]string{"a", "b"}, [][]float32{a, b}, []layers.Shape{c.a, c.b}},
			{[]string{"a", "cb"}, [][]float32{a}, []layers.Shape{c.a}},
			{[]string{"ca", "b"}, [][]float32{b}, []layers.Shape{c.b}},
		} {
			if vi == 2 && ci%3 != 0 {
				continue
			}
			t.Run(fmt.Sprintf("%v_%v_%v", c.a, c.b, in.names), func(t *testing.T) {
				l, err := buildNode(t, d, model.Node{Op: "MatMul", Inputs: in.names}, ca, cb)
				require.NoError(t, err)
				got, shape := runLayer(t, d, l, in.rt, in.shapes)
				require.Equal(t, layers.Shape(wantShape), shape)
				for i := range want {
					tol := gemmRelTol * (float64(bound[i]) + 1)
					require.InDelta(t, want[i], got[i], tol, "y[%d]", i)
				}
			})
		}
	}
	// Errors name the node.
	l, err := buildNode(t, d, model.Node{Op: "MatMul", Name: "mm", Inputs: []string{"a", "b"}})
	require.NoError(t, err)
	for _, bad := range [][2]layers.Shape{{{2, 3}, {2, 3}}, {{}, {3}}, {{2, 2, 3}, {3, 3, 2}}} {
		_, err = inferLayer(l, bad[:])
		require.ErrorContains(t, err, "mm")
	}
	_, err = buildNode(t, d, model.Node{Op: "MatMul", Name: "mm2", Inputs: []string{"ca", "cb"}},
		&model.Tensor{Name: "ca", Shape: []int{2, 3}, Data: make([]float32, 6)}, &model.Tensor{Name: "cb", Shape: []int{2, 3}, Data: make([]float32, 6)})
	require.ErrorContains(t, err, "mm2")
}

func TestGemmONNXDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(22))
	type size struct{ m, n, k int }
	cShapes := func(s size) []layers.Shape {
		return []layers.Shape{nil, {s.n}, {1, s.n}, {s.m, s.n}, {s.m, 1}, {}, {1}, {1, 1}}
	}
	scales := [][2]float32{{1, 1}, {0.5, -2}, {2, 0}, {1, 3}}
	idx := 0
	for _, s := range []size{{7, 13, 5}, {1, 1, 1}, {127, 65, 257}} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for ci, cs := range cShapes(s) {
				for si, sc := range scales {
					idx++
					if s.m > 100 && (ci > 3 || si > 1) {
						continue
					}
					as, bs := layers.Shape{s.m, s.k}, layers.Shape{s.k, s.n}
					if tr[0] {
						as = layers.Shape{s.k, s.m}
					}
					if tr[1] {
						bs = layers.Shape{s.n, s.k}
					}
					a, b := randSlice(r, as.Elems()), randSlice(r, bs.Elems())
					var c []float32
					if cs != nil {
						c = randSlice(r, cs.Elems())
					}
					// Which operands are constants cycles through the cases.
					constA, constB, constC := idx%4 == 1, idx%2 == 0, idx%3 == 0
					name := fmt.Sprintf("%dx%dx%d_t%v_C%v_a%v_b%v_const%v%v%v", s.m, s.n, s.k, tr, cs, sc[0], sc[1], constA, constB, constC)
					t.Run(name, func(t *testing.T) {
						want, _, err := ops.GemmONNX(a, as, b, bs, c, cs, sc[0], sc[1], tr[0], tr[1])
						require.NoError(t, err)
						var absC []float32
						if c != nil {
							absC = absSlice(c)
						}
						bound, _, err := ops.GemmONNX(absSlice(a), as, absSlice(b), bs, absC, cs, float32(math.Abs(float64(sc[0]))), float32(math.Abs(float64(sc[1]))), tr[0], tr[1])
						require.NoError(t, err)
						node := model.Node{Op: "Gemm", Inputs: []string{"A", "B"}, Attrs: map[string]model.Attr{
							"alpha": model.FloatAttr(sc[0]), "beta": model.FloatAttr(sc[1]),
							"transA": model.IntAttr(b2i(tr[0])), "transB": model.IntAttr(b2i(tr[1]))}}
						var consts []*model.Tensor
						var rt [][]float32
						var shapes []layers.Shape
						add := func(name string, data []float32, shape layers.Shape, isConst bool) {
							if isConst {
								consts = append(consts, &model.Tensor{Name: name, Shape: shape, Data: data})
								return
							}
							rt = append(rt, data)
							shapes = append(shapes, shape)
						}
						add("A", a, as, constA)
						add("B", b, bs, constB)
						if cs != nil {
							node.Inputs = append(node.Inputs, "C")
							add("C", c, cs, constC)
						}
						l, err := buildNode(t, d, node, consts...)
						require.NoError(t, err)
						got, shape := runLayer(t, d, l, rt, shapes)
						require.Equal(t, layers.Shape{s.m, s.n}, shape)
						for i := range want {
							tol := gemmRelTol * (float64(bound[i]) + 1)
							require.InDelta(t, want[i], got[i], tol, "Y[%d,%d]", i/s.n, i%s.n)
						}
					})
				}
			}
		}
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestGemmONNXErrors(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	w := &model.Tensor{Name: "w", Shape: []int{3}, Data: []float32{1, 2, 3}}
	for _, c := range []struct {
		node        model.Node
		unsupported bool
	}{
		{model.Node{Op: "Gemm", Inputs: []string{"a"}}, false},
		{model.Node{Op: "Gemm", Inputs: []string{"a", "w"}}, false},
		{model.Node{Op: "Gemm", Inputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"transA": model.IntAttr(2)}}, false},
		{model.Node{Op: "Gemm", Inputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"alpha": model.StringAttr("x")}}, false},
		{model.Node{Op: "Gemm", Inputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"gamma": model.FloatAttr(1)}}, true},
		{model.Node{Op: "MatMul", Inputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"transA": model.IntAttr(1)}}, true},
	} {
		c.node.Name = "gemm_node"
		_, err := buildNode(t, d, c.node, w)
		require.Error(t, err, "%v", c.node)
		require.ErrorContains(t, err, "gemm_node")
		require.Equal(t, c.unsupported, errors.Is(err, layers.ErrUnsupported), "%v: %v", c.node, err)
	}
	l, err := buildNode(t, d, model.Node{Op: "Gemm", Name: "g", Inputs: []string{"a", "b", "c"}})
	require.NoError(t, err)
	for _, bad := range [][]layers.Shape{{{2, 3}, {2, 4}, {4}}, {{2, 3}, {3, 4}, {3}}, {{2, 3}, {3, 4}, {2, 2}}, {{2, 3}, {3, 4}, {1, 2, 4}}, {{6}, {3, 4}, {4}}} {
		_, err = inferLayer(l, bad)
		require.ErrorContains(t, err, `"g"`, "%v", bad)
	}
}

// TestGemmOffsets: RecordGemm reads A and B and writes C at element
// offsets, in every layout, and touches nothing outside C's matrix.
func TestGemmOffsets(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(23))
	m, n, k := 7, 13, 5
	offA, offB, offC := 3, 17, 11
	a, b := randSlice(r, offA+m*k+2), randSlice(r, offB+k*n+1)
	A, B := newBuf(t, d, a), newBuf(t, d, b)
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprint(tr), func(t *testing.T) {
			C := newBuf(t, d, make([]float32, offC+m*n+5))
			g := layers.Gemm{M: m, N: n, K: k, TransA: tr[0], TransB: tr[1], OffA: offA, OffB: offB, OffC: offC}
			got := run(t, d, C, offC+m*n+5, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
			want := ops.Gemm(a[offA:offA+m*k], b[offB:offB+k*n], nil, m, n, k, tr[0], tr[1], ops.ActNone)
			bound := gemmBound(a[offA:offA+m*k], b[offB:offB+k*n], m, n, k, tr[0], tr[1])
			for i := range got {
				if i < offC || i >= offC+m*n {
					require.Zero(t, got[i], "C[%d] outside the matrix", i)
					continue
				}
				require.InDelta(t, want[i-offC], got[i], gemmRelTol*(bound[i-offC]+1), "C[%d]", i-offC)
			}
		})
	}
	// Offsets past the end are refused.
	C := newBuf(t, d, make([]float32, m*n))
	require.Error(t, layers.RecordGemm(d.NewRecorder(), d, layers.Gemm{M: m, N: n, K: k, OffC: 1}, A, B, C))
	require.Error(t, layers.RecordGemm(d.NewRecorder(), d, layers.Gemm{M: m, N: n, K: k, OffB: len(b)}, A, B, C))
}
