package model

import "testing"

func TestIsProbability(t *testing.T) {
	graph := func(rank int, n Node) *Model {
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = -1
		}
		n.Name, n.Inputs, n.Outputs = "last", []string{"x"}, []string{"y"}
		return &Model{
			Inputs:  []ValueInfo{{Name: "x", Shape: shape}},
			Outputs: []ValueInfo{{Name: "y", Shape: shape}},
			Nodes:   []Node{n},
		}
	}
	axis := func(a int64) map[string]Attr { return map[string]Attr{"axis": IntAttr(a)} }
	tests := []struct {
		name string
		m    *Model
		want bool
	}{
		{"softmax default axis", graph(2, Node{Op: "Softmax"}), true},
		{"softmax axis -1", graph(3, Node{Op: "Softmax", Attrs: axis(-1)}), true},
		{"softmax last axis", graph(3, Node{Op: "Softmax", Attrs: axis(2)}), true},
		{"softmax other axis", graph(3, Node{Op: "Softmax", Attrs: axis(1)}), false},
		{"sigmoid", graph(2, Node{Op: "Sigmoid"}), true},
		{"logits", graph(2, Node{Op: "Relu"}), false},
	}
	for _, tt := range tests {
		if got := tt.m.IsProbability("y"); got != tt.want {
			t.Errorf("%s: IsProbability = %v, want %v", tt.name, got, tt.want)
		}
		if tt.m.IsProbability("x") || tt.m.IsProbability("nope") {
			t.Errorf("%s: an input or unknown name is not a probability output", tt.name)
		}
	}
}
