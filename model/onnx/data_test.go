package onnx

import (
	"fmt"
	"math"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

// Slice from opset 10: constant inputs become attributes (INT64_MAX
// included, which float32 cannot hold); computed ones (shape arithmetic)
// stay inputs, constants beside them clamped to ±2^24, and an absent axes
// before steps is written out.
func TestNormSlice(t *testing.T) {
	b := newBuilder(13).input("x", -1, 6, 5).output("y", -1, 6, 3).
		init(intTensor("starts", 1)).init(intTensor("ends", math.MaxInt64)).init(intTensor("axes", -1)).init(intTensor("steps", 2)).
		node("Slice", []string{"x", "starts", "ends", "axes", "steps"}, []string{"y"})
	m, err := Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	n := m.Nodes[0]
	if len(n.Inputs) != 1 || fmt.Sprint(n.Attrs["starts"].Ints, n.Attrs["ends"].Ints, n.Attrs["axes"].Ints, n.Attrs["steps"].Ints) != "[1] [9223372036854775807] [-1] [2]" {
		t.Fatalf("constant Slice: inputs %v, attrs %v", n.Inputs, n.Attrs)
	}

	// ends computed from the input's shape (dynamic batch): inputs stay.
	b = newBuilder(13).input("x", -1, 6, 5).output("y", -1, 6, -1).
		init(intTensor("one", 1)).init(intTensor("starts", -(1<<40))).init(intTensor("steps", 1)).
		node("Shape", []string{"x"}, []string{"s"}).
		node("Gather", []string{"s", "one"}, []string{"e"}, aInt("axis", 0)).
		node("Slice", []string{"x", "starts", "e", "", "steps"}, []string{"y"})
	m, err = Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	var sl *model.Node
	for i := range m.Nodes {
		if m.Nodes[i].Op == "Slice" {
			sl = &m.Nodes[i]
		}
	}
	if sl == nil || len(sl.Inputs) != 5 || len(sl.Attrs) != 0 {
		t.Fatalf("computed Slice: %+v", sl)
	}
	starts, axes := m.Initializer(sl.Inputs[1]), m.Initializer(sl.Inputs[3])
	if starts == nil || starts.Data[0] != -(1<<24) || axes == nil || fmt.Sprint(axes.Data) != "[0]" {
		t.Errorf("computed Slice: starts %v, axes %v; want [-16777216] and [0]", starts, axes)
	}
}

// Pad: the float attribute value of opsets < 11 is accepted (the importer
// checks "value" as a TENSOR for the ops whose value is one), and an absent
// constant_value before axes is written out.
func TestNormPad(t *testing.T) {
	b := newBuilder(2).input("x", 1, 3).output("y", 1, 6).
		node("Pad", []string{"x"}, []string{"y"}, aInts("pads", 0, 1, 0, 2), aFloat("value", 1.5))
	m, err := Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Nodes[0].Attrs["value"]; v.Kind != model.AttrFloat || v.Float != 1.5 {
		t.Errorf("value %+v", v)
	}
	b = newBuilder(18).input("x", 1, 3).output("y", 1, 6).
		init(intTensor("pads", 1, 2)).init(intTensor("axes", -1)).
		node("Pad", []string{"x", "pads", "", "axes"}, []string{"y"})
	m, err = Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	n := m.Nodes[0]
	if len(n.Inputs) != 4 || m.Initializer(n.Inputs[2]) == nil || m.Initializer(n.Inputs[2]).Data[0] != 0 || m.Initializer(n.Inputs[3]) == nil {
		t.Errorf("Pad opset 18 inputs %v", n.Inputs)
	}
}

// Squeeze/Unsqueeze (opset 13) with axes computed at run time keep the
// input (the planner evaluates it on the host) instead of failing.
func TestNormAxesComputed(t *testing.T) {
	b := newBuilder(13).input("x", -1, 1, 4).output("y", -1, 4).
		init(intTensor("one", 1)).
		node("Shape", []string{"x"}, []string{"s"}).
		node("Gather", []string{"s", "one"}, []string{"ax"}, aInt("axis", 0)). // [1]: x's dimension 1 is 1
		node("Squeeze", []string{"x", "ax"}, []string{"y"})
	m, err := Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	last := m.Nodes[len(m.Nodes)-1]
	if last.Op != "Squeeze" || len(last.Inputs) != 2 {
		t.Errorf("Squeeze %+v", last)
	}
}
