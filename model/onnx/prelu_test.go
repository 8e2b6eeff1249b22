package onnx

import (
	"fmt"
	"testing"
)

// A PRelu before opset 7 with a per-channel slope [C] (PyTorch's export)
// gets the slope [C, 1, ...]; from opset 7 on, or for a single-value slope,
// the slope is left as it is (numpy broadcasting).
func TestNormalisePRelu(t *testing.T) {
	for _, c := range []struct {
		opset       int64
		x, slope    []int64
		wantShape   string
		wantRenamed bool
	}{
		{6, []int64{2, 3, 4, 5}, []int64{3}, "[3 1 1]", true},
		{6, []int64{2, 3, 4}, []int64{3}, "[3 1]", true},
		{6, []int64{2, 3, 4, 5}, []int64{1}, "[1]", false},
		{6, []int64{2, 3}, []int64{3}, "[3]", false},
		{7, []int64{2, 3, 4, 3}, []int64{3}, "[3]", false},
	} {
		n := int(c.slope[0])
		b := newBuilder(c.opset).input("x", c.x...).init(floatTensor("s", c.slope, make([]float32, n))).output("y").
			node("PRelu", []string{"x", "s"}, []string{"y"})
		m := decode(t, b)
		if len(m.Nodes) != 1 {
			t.Fatalf("opset %d: nodes %v", c.opset, opList(m))
		}
		s := m.Initializer(m.Nodes[0].Inputs[1])
		if s == nil || fmt.Sprint(s.Shape) != c.wantShape || (m.Nodes[0].Inputs[1] != "s") != c.wantRenamed {
			t.Errorf("opset %d, x %v, slope %v: slope input %q %v, want shape %s", c.opset, c.x, c.slope, m.Nodes[0].Inputs[1], s, c.wantShape)
		}
	}
}
