package ops

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/model"
)

// sample is dense → relu → dense(relu) → softmax, plus an op this build
// does not know.
func sample() *model.Model {
	return &model.Model{
		Name:    "sample",
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 4}}},
		Outputs: []model.ValueInfo{{Name: "probs", Shape: []int{-1, 2}}, {Name: "extra"}},
		Nodes: []model.Node{
			{Name: "fc1", Op: OpDense, Inputs: []string{"x", "w1", "b1"}, Outputs: []string{"h1"}},
			{Name: "relu1", Op: OpRelu, Inputs: []string{"h1"}, Outputs: []string{"a1"}},
			{Name: "fc2", Op: OpDense, Inputs: []string{"a1", "w2"}, Outputs: []string{"h2"},
				Attrs: map[string]model.Attr{AttrActivation: model.StringAttr(ActivationRelu)}},
			{Name: "softmax", Op: OpSoftmax, Inputs: []string{"h2"}, Outputs: []string{"probs"},
				Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(-1)}},
			{Name: "custom", Op: "FutureOp", Inputs: []string{"probs", "s"}, Outputs: []string{"extra"}},
		},
		Initializers: []*model.Tensor{
			{Name: "w1", Shape: []int{3, 4}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
			{Name: "b1", Shape: []int{3}, Data: []float32{-1, 0, 1}},
			{Name: "w2", Shape: []int{2, 3}, Data: []float32{0.5, -0.5, 0.25, 1, 2, 3}},
			{Name: "s", Data: []float32{42}},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := Validate(sample()); err != nil {
		t.Fatalf("sample: %v", err)
	}
	cases := []struct {
		name        string
		edit        func(*model.Model)
		msg         string
		unsupported bool
	}{
		{"structural", func(m *model.Model) { m.Nodes[1].Inputs[0] = "zzz" }, "zzz", false},
		{"dense arity", func(m *model.Model) { m.Nodes[0].Inputs = []string{"x"} }, "takes 2 to 3 inputs", false},
		{"dense features", func(m *model.Model) { m.Inputs[0].Shape = []int{-1, 5} }, "features", false},
		{"dense weight in place of bias", func(m *model.Model) { m.Nodes[2].Inputs = []string{"a1", "w1"} }, "features", false},
		{"dense bias", func(m *model.Model) { m.Nodes[0].Inputs[2] = "w2" }, "bias", false},
		{"dense activation", func(m *model.Model) { m.Nodes[2].Attrs[AttrActivation] = model.StringAttr("gelu") }, "activation", true},
		{"relu arity", func(m *model.Model) { m.Nodes[1].Inputs = []string{"h1", "h1"} }, "takes 1 input", false},
		{"softmax axis kind", func(m *model.Model) { m.Nodes[3].Attrs[AttrAxis] = model.FloatAttr(1) }, "must be int", false},
		{"softmax axis range", func(m *model.Model) { m.Nodes[3].Attrs[AttrAxis] = model.IntAttr(2) }, "out of range", false},
		{"unknown attribute", func(m *model.Model) { m.Nodes[1].Attrs = map[string]model.Attr{"x": model.IntAttr(1)} }, "attribute(s) [x]", true},
		{"output shape", func(m *model.Model) { m.Outputs[0].Shape = []int{-1, 3} }, "declared shape", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sample()
			c.edit(m)
			err := Validate(m)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errors.Is(err, ErrUnsupported); got != c.unsupported {
				t.Errorf("%v: unsupported = %v, want %v", err, got, c.unsupported)
			}
			if !c.unsupported && !errors.Is(err, model.ErrInvalid) {
				t.Errorf("%v does not wrap model.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%q does not mention %q", err, c.msg)
			}
		})
	}
}

func TestRunSample(t *testing.T) {
	m := sample()
	m.Nodes = m.Nodes[:4]
	m.Outputs = m.Outputs[:1]
	outs, err := Run(m, F32([]int{1, 4}, []float32{1, 0, 0, -1}))
	if err != nil {
		t.Fatal(err)
	}
	// h1 = W1·x + b1 = (1-4-1, 5-8, 9-12+1) = (-4, -3, -2); relu → 0;
	// h2 = relu(W2·0) = 0; softmax(0, 0) = (0.5, 0.5).
	if got := outs[0].Data; len(got) != 2 || got[0] != 0.5 || got[1] != 0.5 {
		t.Fatalf("got %v", got)
	}
	if _, err := Run(m, F32([]int{1, 5}, make([]float32, 5))); err == nil || !strings.Contains(err.Error(), "takes [-1 4]") {
		t.Fatalf("wrong input shape: %v", err)
	}
	m.Nodes[1].Op = "com.example.NoSuchOp"
	if _, err := Run(m, F32([]int{1, 4}, make([]float32, 4))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown op: %v", err)
	}
}

func TestResolveDefaultsAndKinds(t *testing.T) {
	n := &model.Node{Name: "g", Op: OpGemm, Inputs: []string{"a", "b"}, Outputs: []string{"y"},
		Attrs: map[string]model.Attr{"alpha": model.IntAttr(2)}}
	_, a, err := Resolve(n)
	if err != nil {
		t.Fatal(err)
	}
	if a.Float("alpha") != 2 || a.Float("beta") != 1 || a.Bool("transA") {
		t.Fatalf("alpha %v beta %v transA %v", a.Float("alpha"), a.Float("beta"), a.Bool("transA"))
	}
	n.Attrs["transB"] = model.IntAttr(2)
	if _, _, err := Resolve(n); err == nil || !strings.Contains(err.Error(), "want 0 or 1") {
		t.Fatalf("transB 2: %v", err)
	}
	n.Attrs = map[string]model.Attr{"alpha": model.FloatAttr(float32(math.NaN()))}
	if _, _, err := Resolve(n); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("NaN alpha: %v", err)
	}
	n.Attrs = nil
	n.Outputs = []string{"y", "z"}
	if _, _, err := Resolve(n); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("two outputs: %v", err)
	}
	if _, _, err := Resolve(&model.Node{Op: "NoSuchOp"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown op: %v", err)
	}
}

// Every registered op's Infer must agree with its Eval on a shape it takes.
func TestInferMatchesEval(t *testing.T) {
	x := F32([]int{2, 3}, []float32{1, -2, 3, -4, 5, float32(math.NaN())})
	w := F32([]int{4, 3}, make([]float32, 12))
	one := F32([]int{3}, []float32{1, 2, 3})
	cases := []struct {
		n  model.Node
		in []*Tensor
	}{
		{model.Node{Op: OpDense}, []*Tensor{x, w}},
		{model.Node{Op: OpBiasAdd}, []*Tensor{x, one}},
		{model.Node{Op: OpRelu}, []*Tensor{x}},
		{model.Node{Op: OpNeg}, []*Tensor{x}},
		{model.Node{Op: OpClip, Attrs: map[string]model.Attr{"min": model.FloatAttr(0)}}, []*Tensor{x}},
		{model.Node{Op: OpSoftmax}, []*Tensor{x}},
		{model.Node{Op: OpAdd}, []*Tensor{x, one}},
		{model.Node{Op: OpMatMul}, []*Tensor{x, F32([]int{3, 4}, make([]float32, 12))}},
		{model.Node{Op: OpGemm, Attrs: map[string]model.Attr{"transB": model.IntAttr(1)}}, []*Tensor{x, w}},
		{model.Node{Op: OpFlatten, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(0)}}, []*Tensor{x}},
		{model.Node{Op: OpReshape}, []*Tensor{x, I64([]int{2}, []int64{3, -1})}},
		{model.Node{Op: OpDropout}, []*Tensor{x}},
		{model.Node{Op: OpIdentity}, []*Tensor{x}},
		{model.Node{Op: OpShape}, []*Tensor{x}},
		{model.Node{Op: OpShape, Attrs: map[string]model.Attr{"start": model.IntAttr(-1)}}, []*Tensor{x}},
		{model.Node{Op: OpSize}, []*Tensor{x}},
		{model.Node{Op: OpGather, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(1)}}, []*Tensor{x, I64([]int{2}, []int64{-1, 0})}},
		{model.Node{Op: OpGather}, []*Tensor{I64([]int{3}, []int64{7, 8, 9}), F32(nil, []float32{2})}},
		{model.Node{Op: OpConcat, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(0)}}, []*Tensor{x, x}},
		{model.Node{Op: OpUnsqueeze, Attrs: map[string]model.Attr{"axes": model.IntsAttr(0, -1)}}, []*Tensor{x}},
		{model.Node{Op: OpUnsqueeze}, []*Tensor{x, I64([]int{1}, []int64{1})}},
		{model.Node{Op: OpSqueeze}, []*Tensor{F32([]int{1, 2, 1}, []float32{1, 2})}},
		{model.Node{Op: OpCast, Attrs: map[string]model.Attr{"to": model.IntAttr(7)}}, []*Tensor{F32([]int{2}, []float32{1.9, -1.9})}},
		{model.Node{Op: OpSlice}, []*Tensor{x, I64([]int{1}, []int64{1}), I64([]int{1}, []int64{100}), I64([]int{1}, []int64{1})}},
		{model.Node{Op: OpConstantOfShape}, []*Tensor{I64([]int{2}, []int64{2, 3})}},
		{model.Node{Op: OpRange}, []*Tensor{I64(nil, []int64{1}), I64(nil, []int64{8}), I64(nil, []int64{3})}},
		{model.Node{Op: OpEqual}, []*Tensor{x, one}},
		{model.Node{Op: OpWhere}, []*Tensor{I64([]int{3}, []int64{1, 0, 1}), x, one}},
		{model.Node{Op: OpTranspose}, []*Tensor{x}},
	}
	for _, c := range cases {
		n := c.n
		n.Name = "n"
		n.Outputs = []string{"y"}
		vals := make([]Value, len(c.in))
		for i, t := range c.in {
			n.Inputs = append(n.Inputs, "in")
			vals[i] = Value{Shape: t.Shape, Const: t}
		}
		shapes, err := Infer(&n, vals)
		if err != nil {
			t.Fatalf("%s: infer: %v", n.Op, err)
		}
		out, err := Eval(&n, c.in)
		if err != nil {
			t.Fatalf("%s: eval: %v", n.Op, err)
		}
		if !compatible(shapes[0], out[0].Shape) || len(shapes[0]) != len(out[0].Shape) {
			t.Errorf("%s: Infer %v, Eval %v", n.Op, shapes[0], out[0].Shape)
		}
		if err := out[0].Check(); err != nil {
			t.Errorf("%s: %v", n.Op, err)
		}
	}
}

func TestInferUnknownDims(t *testing.T) {
	for _, c := range []struct {
		n    model.Node
		in   [][]int
		want []int
	}{
		{model.Node{Op: OpAdd}, [][]int{{-1, 3}, {3}}, []int{-1, 3}},
		{model.Node{Op: OpAdd}, [][]int{{-1, 1}, {1, 5}}, []int{-1, 5}},
		{model.Node{Op: OpMatMul}, [][]int{{-1, 7, 3}, {3, 4}}, []int{-1, 7, 4}},
		{model.Node{Op: OpFlatten}, [][]int{{-1, 3, 4}}, []int{-1, 12}},
		{model.Node{Op: OpReshape, Attrs: map[string]model.Attr{AttrShape: model.IntsAttr(0, -1)}}, [][]int{{-1, 3, 4}}, []int{-1, -1}},
	} {
		n := c.n
		n.Outputs = []string{"y"}
		vals := make([]Value, len(c.in))
		for i, s := range c.in {
			n.Inputs = append(n.Inputs, "in")
			vals[i] = Value{Shape: s}
		}
		got, err := Infer(&n, vals)
		if err != nil || len(got[0]) != len(c.want) || !compatible(got[0], c.want) {
			t.Errorf("%s %v: got %v, %v; want %v", n.Op, c.in, got, err, c.want)
		}
		for i := range c.want {
			if got[0][i] != c.want[i] {
				t.Errorf("%s %v: got %v, want %v", n.Op, c.in, got[0], c.want)
			}
		}
	}
}

// The data-movement ops on hand-computed cases.
func TestDataOps(t *testing.T) {
	x := F32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	for _, c := range []struct {
		n    model.Node
		in   []*Tensor
		want string
	}{
		{model.Node{Op: OpShape}, []*Tensor{x}, "[2] int64 [] [2 3]"},
		{model.Node{Op: OpGather, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(1)}}, []*Tensor{x, I64([]int{2}, []int64{2, 0})}, "[2 2] float32 [3 1 6 4] []"},
		{model.Node{Op: OpGather}, []*Tensor{I64([]int{3}, []int64{7, 8, 9}), I64(nil, []int64{-1})}, "[] int64 [] [9]"},
		{model.Node{Op: OpConcat, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(1)}}, []*Tensor{x, F32([]int{2, 1}, []float32{7, 8})}, "[2 4] float32 [1 2 3 7 4 5 6 8] []"},
		{model.Node{Op: OpConcat, Attrs: map[string]model.Attr{AttrAxis: model.IntAttr(0)}}, []*Tensor{I64([]int{1}, []int64{-1}), I64([]int{2}, []int64{4, 5})}, "[3] int64 [] [-1 4 5]"},
		{model.Node{Op: OpCast, Attrs: map[string]model.Attr{"to": model.IntAttr(3)}}, []*Tensor{I64([]int{2}, []int64{200, -1})}, "[2] int64 [] [-56 -1]"},
		{model.Node{Op: OpSlice}, []*Tensor{I64([]int{5}, []int64{0, 1, 2, 3, 4}), I64([]int{1}, []int64{-1}), I64([]int{1}, []int64{-100}), I64([]int{1}, []int64{0}), I64([]int{1}, []int64{-2})}, "[3] int64 [] [4 2 0]"},
		{model.Node{Op: OpTranspose}, []*Tensor{x}, "[3 2] float32 [1 4 2 5 3 6] []"},
		{model.Node{Op: OpRange}, []*Tensor{I64(nil, []int64{1}), I64(nil, []int64{8}), I64(nil, []int64{3})}, "[3] int64 [] [1 4 7]"},
		{model.Node{Op: OpWhere}, []*Tensor{{Shape: []int{3}, DType: Bool, Ints: []int64{1, 0, 1}}, I64([]int{3}, []int64{1, 2, 3}), I64(nil, []int64{0})}, "[3] int64 [] [1 0 3]"},
	} {
		n := c.n
		n.Outputs = []string{"y"}
		for range c.in {
			n.Inputs = append(n.Inputs, "in")
		}
		out, err := Eval(&n, c.in)
		if err != nil {
			t.Fatalf("%s: %v", n.Op, err)
		}
		o := out[0]
		if got := fmt.Sprintf("%v %v %v %v", o.Shape, o.DType, o.Data, o.Ints); got != c.want {
			t.Errorf("%s = %s, want %s", n.Op, got, c.want)
		}
	}
}

func TestIntArithmetic(t *testing.T) {
	n := &model.Node{Op: OpDiv, Inputs: []string{"a", "b"}, Outputs: []string{"y"}}
	out, err := Eval(n, []*Tensor{I64([]int{3}, []int64{7, -7, 12}), I64(nil, []int64{2})})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != Int64 || out[0].Ints[0] != 3 || out[0].Ints[1] != -3 || out[0].Ints[2] != 6 {
		t.Fatalf("got %+v", out[0])
	}
	if _, err := Eval(n, []*Tensor{I64(nil, []int64{1}), I64(nil, []int64{0})}); err == nil {
		t.Fatal("division by zero accepted")
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, op := range []*Op{{Name: OpRelu, MaxInputs: 1, MaxOutputs: 1, Infer: sameShape, Eval: unaryEval(UnaryRelu, nil)}, {Name: "Half"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", op.Name)
				}
			}()
			Register(op)
		}()
	}
}

func TestReshapeShape(t *testing.T) {
	for _, c := range []struct {
		in     []int
		target []int
		zero   bool
		want   []int
		bad    bool
	}{
		{[]int{2, 3}, []int{3, 2}, false, []int{3, 2}, false},
		{[]int{2, 3}, []int{-1}, false, []int{6}, false},
		{[]int{0, 3}, []int{0, -1}, false, nil, true},
		{[]int{0, 3}, []int{3, 0}, true, []int{3, 0}, false},
		{[]int{0, 3}, []int{-1, 0}, true, nil, true},
		{[]int{2, 3}, []int{-1, -1}, false, nil, true},
		{[]int{2, 3}, []int{-2, 3}, false, nil, true},
		{[]int{2, 3}, []int{0, 0, 0}, false, nil, true},
		{[]int{2, 3}, []int{0, 0, 1}, false, []int{2, 3, 1}, false},
		{[]int{2, 3}, []int{5, -1}, false, nil, true},
		{[]int{}, []int{1, 1}, false, []int{1, 1}, false},
		{[]int{1, 1}, []int{}, false, []int{}, false},
	} {
		got, err := ReshapeShape(c.in, c.target, c.zero)
		if c.bad {
			require.Error(t, err, "%v -> %v", c.in, c.target)
			continue
		}
		require.NoError(t, err, "%v -> %v", c.in, c.target)
		require.Equal(t, c.want, got)
	}
}
