package model

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	if err := sampleModel().Validate(); err != nil {
		t.Fatalf("sample: %v", err)
	}
	cases := []struct {
		name string
		edit func(*Model)
		msg  string
	}{
		{"nil initializer", func(m *Model) { m.Initializers[0] = nil }, "nil"},
		{"data vs shape", func(m *Model) { m.Initializers[0].Data = m.Initializers[0].Data[:5] }, "needs 12 values"},
		{"negative tensor dim", func(m *Model) { m.Initializers[1].Shape = []int{-3} }, "invalid shape"},
		{"duplicate initializer", func(m *Model) { m.Initializers[1].Name = "w1" }, "already defined"},
		{"input shadows initializer", func(m *Model) { m.Inputs[0].Name = "w1" }, "already defined"},
		{"input dim", func(m *Model) { m.Inputs[0].Shape = []int{-2, 4} }, "only -1"},
		{"empty input name", func(m *Model) { m.Inputs[0].Name = "" }, "empty name"},
		{"undefined input", func(m *Model) { m.Nodes[1].Inputs[0] = "zzz" }, "zzz"},
		{"use before def", func(m *Model) { m.Nodes[0], m.Nodes[1] = m.Nodes[1], m.Nodes[0] }, "earlier output"},
		{"output twice", func(m *Model) { m.Nodes[1].Outputs[0] = "h1" }, "already defined"},
		{"no outputs", func(m *Model) { m.Nodes[4].Outputs = nil }, "no outputs"},
		{"empty op", func(m *Model) { m.Nodes[4].Op = "" }, "op"},
		{"node name twice", func(m *Model) { m.Nodes[1].Name = "fc1" }, "twice"},
		{"attr kind", func(m *Model) { m.Nodes[4].Attrs["bad"] = Attr{} }, "invalid kind"},
		{"attr NaN", func(m *Model) { m.Nodes[4].Attrs["f"] = FloatAttr(float32(math.NaN())) }, "not finite"},
		{"attr Inf list", func(m *Model) { m.Nodes[4].Attrs["fs"] = FloatsAttr(float32(math.Inf(-1))) }, "not finite"},
		{"attr empty name", func(m *Model) { m.Nodes[4].Attrs[""] = IntAttr(1) }, "attribute name"},
		{"bad utf8", func(m *Model) { m.Name = "\xff" }, "UTF-8"},
		{"output missing", func(m *Model) { m.Outputs[0].Name = "nothing" }, "not produced"},
		{"output twice", func(m *Model) { m.Outputs[1].Name = "probs" }, "listed twice"},
		{"labels", func(m *Model) { m.Labels = []string{"a", "b", "c"} }, "labels"},
		{"spec size", func(m *Model) { m.Input.Width = 3 }, "values per image"},
		{"spec layout", func(m *Model) { m.Input.Layout = "NHWC" }, "layout"},
		{"spec color", func(m *Model) { m.Input.Color = 0 }, "color"},
		{"spec std zero", func(m *Model) { m.Input.Std = []float32{0} }, "std"},
		{"spec mean len", func(m *Model) { m.Input.Mean = nil }, "mean"},
		{"spec scale", func(m *Model) { m.Input.Scale = float32(math.Inf(1)) }, "scale"},
		{"spec without inputs", func(m *Model) {
			m.Inputs = nil
			m.Nodes, m.Outputs, m.Labels = nil, nil, nil
		}, "no inputs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := sampleModel()
			c.edit(m)
			err := m.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "model: invalid model: ") {
				t.Errorf("%q should start with %q and mention %q", err, "model: invalid model: ", c.msg)
			}
		})
	}
}

func TestValidateUnknownOpsPass(t *testing.T) {
	m := &Model{
		Inputs:  []ValueInfo{{Name: "img", Shape: []int{1, 3, 224, 224}}},
		Outputs: []ValueInfo{{Name: "y", Shape: []int{1, 1000}}},
		Nodes: []Node{
			{Op: "Conv", Inputs: []string{"img", "k"}, Outputs: []string{"c"}, Attrs: map[string]Attr{"strides": IntsAttr(2, 2)}},
			{Op: "GlobalAveragePool", Inputs: []string{"c"}, Outputs: []string{"p"}},
			{Op: "Relu", Inputs: []string{"p"}, Outputs: []string{"y"}},
		},
		Initializers: []*Tensor{{Name: "k", Shape: []int{8, 3, 3, 3}, Data: make([]float32, 8*27)}},
		Input:        &InputSpec{Color: RGB, Width: 224, Height: 224, Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}},
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	b := encode(t, m)
	got, err := decode(b)
	if err != nil || !equalModels(m, got) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestTensorElements(t *testing.T) {
	for _, c := range []struct {
		shape []int
		want  int
	}{{nil, 1}, {[]int{0, 5}, 0}, {[]int{3, 4}, 12}, {[]int{-1}, -1}, {[]int{1 << 40, 1 << 40}, -1}} {
		if got := (&Tensor{Shape: c.shape}).Elements(); got != c.want {
			t.Errorf("Elements(%v) = %d, want %d", c.shape, got, c.want)
		}
	}
}
