package planner

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// bnModel is a small graph for the folding tests: x -> node(s) -> BN -> out.
type bnModel struct {
	m *model.Model
	r *rand.Rand
}

func newBNModel(seed uint64, in []int) *bnModel {
	return &bnModel{
		m: &model.Model{Name: "bn", Inputs: []model.ValueInfo{{Name: "x", Shape: in}}},
		r: rand.New(rand.NewPCG(seed, 7)),
	}
}

func (b *bnModel) init(name string, shape []int, lo, hi float32) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	t := &model.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
	for i := range t.Data {
		t.Data[i] = lo + (hi-lo)*b.r.Float32()
	}
	b.m.Initializers = append(b.m.Initializers, t)
	return name
}

func (b *bnModel) node(name, op string, ins []string, out string, attrs map[string]model.Attr) {
	b.m.Nodes = append(b.m.Nodes, model.Node{Name: name, Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
}

// bn adds a BatchNormalization of c channels with non-trivial statistics
// (variance from tiny to large, so that s spans orders of magnitude).
func (b *bnModel) bn(name, in, out string, c int, eps float32) {
	p := name + "."
	b.init(p+"scale", []int{c}, -2, 2)
	b.init(p+"bias", []int{c}, -1, 1)
	b.init(p+"mean", []int{c}, -3, 3)
	v := b.init(p+"var", []int{c}, 0, 1)
	t := b.m.Initializer(v)
	for i := range t.Data {
		t.Data[i] = float32(math.Pow(10, float64(4*t.Data[i]-3))) // 1e-3 .. 10
	}
	attrs := map[string]model.Attr{}
	if eps != 0 {
		attrs["epsilon"] = model.FloatAttr(eps)
	}
	b.node(name, ops.OpBatchNormalization, []string{in, p + "scale", p + "bias", p + "mean", p + "var"}, out, attrs)
}

// output declares graph outputs with their inferred shapes.
func (b *bnModel) output(names ...string) {
	shapes, err := ops.InferModel(b.m, nil)
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		b.m.Outputs = append(b.m.Outputs, model.ValueInfo{Name: n, Shape: shapes[n]})
	}
}

func (b *bnModel) input(shape []int) *ops.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*b.r.Float32() - 1
	}
	return ops.F32(shape, x)
}

// checkFold folds m, checks which BatchNormalization nodes are left and
// that the folded graph computes what the unfolded one does under ops.Run
// (|d| <= 1e-4 + 1e-4·|want|: one float32 rounding of the weights).
func checkFold(t *testing.T, b *bnModel, x *ops.Tensor, wantBN int) *model.Model {
	t.Helper()
	if err := ops.Validate(b.m); err != nil {
		t.Fatal(err)
	}
	before := deepCopy(b.m)
	f := FoldBatchNorm(b.m)
	if !reflect.DeepEqual(before, b.m) {
		t.Fatal("FoldBatchNorm modified its argument")
	}
	if err := ops.Validate(f); err != nil {
		t.Fatalf("folded model is invalid: %v", err)
	}
	n := 0
	for _, nd := range f.Nodes {
		if nd.Op == ops.OpBatchNormalization {
			n++
		}
	}
	if n != wantBN {
		t.Fatalf("%d BatchNormalization nodes left, want %d: %+v", n, wantBN, f.Nodes)
	}
	want, err := ops.Run(b.m, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ops.Run(f, x)
	if err != nil {
		t.Fatal(err)
	}
	for k := range want {
		w, g := want[k].Float(), got[k].Float()
		if len(w) != len(g) {
			t.Fatalf("output %d: %d values, want %d", k, len(g), len(w))
		}
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); !(d <= 1e-4+1e-4*math.Abs(float64(w[i]))) {
				t.Fatalf("output %d element %d: folded %g, unfolded %g", k, i, g[i], w[i])
			}
		}
	}
	return f
}

func deepCopy(m *model.Model) *model.Model {
	c := *m
	c.Nodes = nil
	for _, n := range m.Nodes {
		n.Inputs = append([]string(nil), n.Inputs...)
		n.Outputs = append([]string(nil), n.Outputs...)
		attrs := map[string]model.Attr{}
		for k, v := range n.Attrs {
			attrs[k] = v
		}
		if n.Attrs == nil {
			attrs = nil
		}
		n.Attrs = attrs
		c.Nodes = append(c.Nodes, n)
	}
	c.Initializers = nil
	for _, t := range m.Initializers {
		u := *t
		u.Shape = append([]int(nil), t.Shape...)
		u.Data = append([]float32(nil), t.Data...)
		c.Initializers = append(c.Initializers, &u)
	}
	return &c
}

func TestFoldBatchNormConv(t *testing.T) {
	for _, tc := range []struct {
		name        string
		group, cout int
		bias        bool
		eps         float32
	}{
		{"bias", 1, 7, true, 0},
		{"no bias", 1, 5, false, 1e-3},
		{"groups", 3, 6, true, 0},
		{"depthwise", 6, 6, false, 0},
		{"one channel", 1, 1, true, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cin := 6
			if tc.group == 1 {
				cin = 3
			}
			b := newBNModel(1, []int{-1, cin, 9, 8})
			ins := []string{"x", b.init("w", []int{tc.cout, cin / tc.group, 3, 3}, -1, 1)}
			if tc.bias {
				ins = append(ins, b.init("b", []int{tc.cout}, -1, 1))
			}
			b.node("conv", ops.OpConv, ins, "c", map[string]model.Attr{"group": model.IntAttr(int64(tc.group)), "pads": {Kind: model.AttrInts, Ints: []int64{1, 0, 1, 2}}})
			b.bn("bn", "c", "y", tc.cout, tc.eps)
			b.node("relu", ops.OpRelu, []string{"y"}, "z", nil)
			b.output("z")
			f := checkFold(t, b, b.input([]int{2, cin, 9, 8}), 0)
			if f.Nodes[0].Name != "conv+bn" || f.Nodes[0].Outputs[0] != "y" || len(f.Nodes) != 2 {
				t.Errorf("folded nodes %+v", f.Nodes)
			}
			for _, name := range []string{"w", "bn.scale", "bn.mean", "bn.var", "bn.bias"} {
				if f.Initializer(name) != nil {
					t.Errorf("initializer %q is read by nothing but kept", name)
				}
			}
			// Then Conv+Relu fuse as usual.
			g, err := Prepare(b.m, Passes)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Nodes) != 1 || g.Nodes[0].Name != "conv+bn+relu" || g.Model.Initializer(g.Nodes[0].Inputs[1]) == nil {
				t.Errorf("prepared nodes %+v", g.Nodes)
			}
		})
	}
}

func TestFoldBatchNormGemm(t *testing.T) {
	for _, tc := range []struct {
		name   string
		transB bool
		c      []int // shape of C; nil: absent
		alpha  float32
		beta   float32
	}{
		{"plain", false, nil, 1, 1},
		{"transB, C [N]", true, []int{4}, 1, 1},
		{"alpha beta, C [1, N]", false, []int{1, 4}, 2, 0.5},
		{"scalar C", true, []int{1}, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBNModel(2, []int{-1, 5})
			wShape := []int{5, 4}
			if tc.transB {
				wShape = []int{4, 5}
			}
			ins := []string{"x", b.init("w", wShape, -1, 1)}
			if tc.c != nil {
				ins = append(ins, b.init("c", tc.c, -1, 1))
			}
			attrs := map[string]model.Attr{"alpha": model.FloatAttr(tc.alpha), "beta": model.FloatAttr(tc.beta)}
			if tc.transB {
				attrs["transB"] = model.IntAttr(1)
			}
			b.node("gemm", ops.OpGemm, ins, "g", attrs)
			b.bn("bn", "g", "y", 4, 0)
			b.output("y")
			checkFold(t, b, b.input([]int{3, 5}), 0)
		})
	}
}

func TestFoldBatchNormDense(t *testing.T) {
	dense := func(in []int) *bnModel {
		b := newBNModel(3, in)
		b.node("fc", ops.OpDense, []string{"x", b.init("w", []int{6, 5}, -1, 1), b.init("b", []int{6}, -1, 1)}, "d", nil)
		return b
	}
	b := dense([]int{-1, 5})
	b.bn("bn", "d", "y", 6, 0)
	b.output("y")
	checkFold(t, b, b.input([]int{4, 5}), 0)
	// [N, 6, 5] -> Dense -> [N, 6, 6]: BN's channel axis 1 is not Dense's
	// feature axis, so nothing folds.
	b = dense([]int{-1, 6, 5})
	b.bn("bn", "d", "y", 6, 0)
	b.output("y")
	checkFold(t, b, b.input([]int{2, 6, 5}), 1)
}

// ConvTranspose has no reference in package ops yet: check the folded
// weights against a plain ConvTranspose (stride 1, no padding) written here.
func TestFoldBatchNormConvTranspose(t *testing.T) {
	const cin, g, per, k = 4, 2, 3, 2 // Cout = 6
	b := newBNModel(4, []int{1, cin, 3, 3})
	b.init("w", []int{cin, per, k, k}, -1, 1)
	b.init("b", []int{g * per}, -1, 1)
	b.bn("bn", "t", "y", g*per, 0)
	n := model.Node{Name: "ct", Op: "ConvTranspose", Inputs: []string{"x", "w", "b"}, Outputs: []string{"t"},
		Attrs: map[string]model.Attr{"group": model.IntAttr(g)}}
	b.m.Nodes = append([]model.Node{n}, b.m.Nodes...)
	b.output("y")
	f := FoldBatchNorm(b.m)
	if len(f.Nodes) != 1 || f.Nodes[0].Op != "ConvTranspose" {
		t.Fatalf("folded nodes %+v", f.Nodes)
	}
	x := b.input([]int{1, cin, 3, 3})
	convT := func(m *model.Model, nd *model.Node) []float32 {
		w, bias := m.Initializer(nd.Inputs[1]), m.Initializer(nd.Inputs[2])
		const h, o = 3, 3 + k - 1
		y := make([]float32, g*per*o*o)
		for co := 0; co < g*per; co++ {
			for i := 0; i < o*o; i++ {
				y[co*o*o+i] = bias.Data[co]
			}
		}
		for ci := 0; ci < cin; ci++ {
			grp := ci / (cin / g)
			for j := 0; j < per; j++ {
				co := grp*per + j
				for yy := 0; yy < h; yy++ {
					for xx := 0; xx < h; xx++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								y[(co*o+yy+ky)*o+xx+kx] += x.Float()[(ci*h+yy)*h+xx] * w.Data[((ci*per+j)*k+ky)*k+kx]
							}
						}
					}
				}
			}
		}
		return y
	}
	unfolded := convT(b.m, &b.m.Nodes[0])
	bn := &b.m.Nodes[1]
	p := func(i int) []float32 { return b.m.Initializer(bn.Inputs[i]).Data }
	want := ops.BatchNormalization(unfolded, p(1), p(2), p(3), p(4), 1e-5, 1, g*per, len(unfolded)/(g*per))
	got := convT(f, &f.Nodes[0])
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-4+1e-4*math.Abs(float64(want[i]))) {
			t.Fatalf("element %d: folded %g, unfolded %g", i, got[i], want[i])
		}
	}
}

// Where folding would change the result or reach beyond the pair, nothing
// folds.
func TestFoldBatchNormKept(t *testing.T) {
	conv := func(b *bnModel) {
		b.node("conv", ops.OpConv, []string{"x", b.init("w", []int{4, 2, 1, 1}, -1, 1)}, "c", nil)
	}
	cases := map[string]func(b *bnModel){
		"conv output read twice": func(b *bnModel) {
			conv(b)
			b.bn("bn", "c", "y", 4, 0)
			b.node("relu", ops.OpRelu, []string{"c"}, "r", nil)
			b.output("y", "r")
		},
		"conv output is a graph output": func(b *bnModel) {
			conv(b)
			b.bn("bn", "c", "y", 4, 0)
			b.output("y", "c")
		},
		"statistics are a graph input": func(b *bnModel) {
			conv(b)
			b.bn("bn", "c", "y", 4, 0)
			b.m.Inputs = append(b.m.Inputs, model.ValueInfo{Name: "mean", Shape: []int{4}})
			b.m.Nodes[1].Inputs[3] = "mean"
			b.output("y")
		},
		"statistics may be overridden (a default)": func(b *bnModel) {
			conv(b)
			b.bn("bn", "c", "y", 4, 0)
			b.m.Inputs = append(b.m.Inputs, model.ValueInfo{Name: "bn.var", Shape: []int{4}})
			b.m.Defaults = append(b.m.Defaults, b.m.Initializer("bn.var"))
			b.output("y")
		},
		"weight is a graph input": func(b *bnModel) {
			b.m.Inputs = append(b.m.Inputs, model.ValueInfo{Name: "w", Shape: []int{4, 2, 1, 1}})
			b.node("conv", ops.OpConv, []string{"x", "w"}, "c", nil)
			b.bn("bn", "c", "y", 4, 0)
			b.output("y")
		},
		"activation already fused": func(b *bnModel) {
			conv(b)
			b.m.Nodes[0].Attrs = map[string]model.Attr{ops.AttrActivation: model.StringAttr("relu")}
			b.bn("bn", "c", "y", 4, 0)
			b.output("y")
		},
		"after a Relu": func(b *bnModel) {
			conv(b)
			b.node("relu", ops.OpRelu, []string{"c"}, "r", nil)
			b.bn("bn", "r", "y", 4, 0)
			b.output("y")
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBNModel(5, []int{1, 2, 3, 3})
			build(b)
			f := FoldBatchNorm(b.m)
			if f != b.m {
				t.Fatalf("folded: %+v", f.Nodes)
			}
		})
	}
}
