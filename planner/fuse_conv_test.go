package planner

import (
	"fmt"
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func TestFuseConvActivation(t *testing.T) {
	conv := func(name, in, out string) model.Node {
		return model.Node{Name: name, Op: ops.OpConv, Inputs: []string{in, "w"}, Outputs: []string{out}}
	}
	act := func(op, in, out string, attrs map[string]model.Attr) model.Node {
		return model.Node{Name: op, Op: op, Inputs: []string{in}, Outputs: []string{out}, Attrs: attrs}
	}
	nodes := []model.Node{
		conv("c1", "x", "a"), act(ops.OpRelu, "a", "b", nil), // fused
		conv("c2", "b", "c"), act(ops.OpClip, "c", "d", map[string]model.Attr{"max": model.FloatAttr(6)}), // fused, min -inf
		conv("c3", "d", "e"), act(ops.OpRelu, "e", "f", nil), act(ops.OpRelu, "e", "g", nil), // e read twice: kept
		conv("c4", "f", "h"), act(ops.OpTanh, "h", "y", nil), // Tanh: kept
	}
	got := FuseConvActivation(nodes, []model.ValueInfo{{Name: "y"}, {Name: "g"}})
	var ops_ []string
	for _, n := range got {
		ops_ = append(ops_, n.Name)
	}
	want := []string{"c1+Relu", "c2+Clip", "c3", "Relu", "Relu", "c4", "Tanh"}
	if len(ops_) != len(want) {
		t.Fatalf("nodes %v, want %v", ops_, want)
	}
	for i := range want {
		if ops_[i] != want[i] {
			t.Fatalf("nodes %v, want %v", ops_, want)
		}
	}
	if a := got[0].Attrs[ops.AttrActivation]; a.String != "relu" || got[0].Outputs[0] != "b" {
		t.Errorf("c1: %+v", got[0])
	}
	if a := got[1].Attrs; a[ops.AttrActivation].String != "clip" || !math.IsInf(float64(a[ops.AttrActAlpha].Float), -1) || a[ops.AttrActBeta].Float != 6 {
		t.Errorf("c2: %+v", got[1].Attrs)
	}
	if _, has := nodes[0].Attrs[ops.AttrActivation]; has {
		t.Error("the pass modified its input")
	}
}

// Conv, Sigmoid of it, Mul of the two (either order): one Conv with SiLU;
// not when the Conv's output or the Sigmoid's is read elsewhere, the Mul
// takes another value, or the Conv has an activation already.
func TestFuseConvSiLU(t *testing.T) {
	conv := func(name, in, out string) model.Node {
		return model.Node{Name: name, Op: ops.OpConv, Inputs: []string{in, "w"}, Outputs: []string{out}}
	}
	sig := func(name, in, out string) model.Node {
		return model.Node{Name: name, Op: ops.OpSigmoid, Inputs: []string{in}, Outputs: []string{out}}
	}
	mul := func(name, a, b, out string) model.Node {
		return model.Node{Name: name, Op: ops.OpMul, Inputs: []string{a, b}, Outputs: []string{out}}
	}
	nodes := []model.Node{
		conv("c1", "x", "a"), sig("s1", "a", "as"), mul("m1", "a", "as", "b"), // fused
		conv("c2", "b", "c"), sig("s2", "c", "cs"), mul("m2", "cs", "c", "d"), // fused, Mul(s, c)
		conv("c3", "d", "e"), sig("s3", "e", "es"), mul("m3", "e", "es", "f"), mul("m4", "e", "f", "g"), // e read thrice: kept
		conv("c4", "g", "h"), sig("s4", "h", "hs"), mul("m5", "h", "hs", "y"), // hs a graph output: kept
		conv("c5", "y", "k"), sig("s5", "k", "ks"), mul("m6", "ks", "y", "z"), // Mul of another value: Conv+Sigmoid only
	}
	got := FuseConvActivation(nodes, []model.ValueInfo{{Name: "z"}, {Name: "hs"}})
	var names []string
	for _, n := range got {
		names = append(names, n.Name)
	}
	want := "[c1+s1+m1 c2+s2+m2 c3 s3 m3 m4 c4 s4 m5 c5+s5 m6]"
	if fmt.Sprint(names) != want {
		t.Fatalf("nodes %v, want %s", names, want)
	}
	for k, out := range []string{"b", "d"} {
		if a := got[k].Attrs[ops.AttrActivation]; a.String != "silu" || fmt.Sprint(got[k].Outputs) != "["+out+"]" || fmt.Sprint(got[k].Inputs) != fmt.Sprint(nodes[3*k].Inputs) {
			t.Errorf("fused %d: %+v", k, got[k])
		}
	}
	// A Conv with an activation already (Relu fused) followed by the
	// pattern is kept.
	fused := conv("c6", "x", "a")
	fused.Attrs = map[string]model.Attr{ops.AttrActivation: model.StringAttr("relu")}
	got = FuseConvActivation([]model.Node{fused, sig("s", "a", "as"), mul("m", "a", "as", "y")}, []model.ValueInfo{{Name: "y"}})
	if len(got) != 3 {
		t.Fatalf("activated Conv: %d nodes", len(got))
	}
}
