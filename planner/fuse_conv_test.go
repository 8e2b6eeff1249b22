package planner

import (
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
