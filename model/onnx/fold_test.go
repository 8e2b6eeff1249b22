package onnx

import (
	"fmt"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

func fT(shape []int, v ...float32) *Tensor { return &Tensor{DType: Float, Shape: shape, Float: v} }
func iT(shape []int, v ...int64) *Tensor   { return &Tensor{DType: Int64, Shape: shape, Int: v} }

func (t *Tensor) String() string {
	if t.DType == Float {
		return fmt.Sprintf("%v%v", t.Shape, t.Float)
	}
	return fmt.Sprintf("%v%v:%s", t.Shape, t.Int, t.DType)
}

// The folders on small hand-computed cases, floats and int64.
func TestFolders(t *testing.T) {
	x23 := fT([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	attr := func(kv ...any) map[string]model.Attr {
		m := map[string]model.Attr{}
		for i := 0; i < len(kv); i += 2 {
			switch v := kv[i+1].(type) {
			case int:
				m[kv[i].(string)] = model.IntAttr(int64(v))
			case []int64:
				m[kv[i].(string)] = model.IntsAttr(v...)
			case float32:
				m[kv[i].(string)] = model.FloatAttr(v)
			}
		}
		return m
	}
	tests := []struct {
		op    string
		attrs map[string]model.Attr
		in    []*Tensor
		want  string
	}{
		{"Add", nil, []*Tensor{x23, fT([]int{3}, 10, 20, 30)}, "[2 3][11 22 33 14 25 36]"},
		{"Div", nil, []*Tensor{iT([]int{3}, 7, -7, 6), iT(nil, 2)}, "[3][3 -3 3]:INT64"},
		{"Mul", nil, []*Tensor{iT([]int{1}, 4), iT([]int{2}, 3, 5)}, "[2][12 20]:INT64"},
		{"Relu", nil, []*Tensor{fT([]int{2}, -1, 2)}, "[2][0 2]"},
		{"Clip", attr("min", float32(0), "max", float32(1.5)), []*Tensor{fT([]int{3}, -1, 1, 2)}, "[3][0 1 1.5]"},
		{"MatMul", nil, []*Tensor{x23, fT([]int{3, 1}, 1, 0, -1)}, "[2 1][-2 -2]"},
		{"Gemm", attr("transB", 1, "alpha", float32(2)), []*Tensor{fT([]int{1, 3}, 1, 1, 1), x23, fT([]int{1}, 1)}, "[1 2][13 31]"},
		{"Shape", nil, []*Tensor{x23}, "[2][2 3]:INT64"},
		{"Shape", attr("start", -1), []*Tensor{x23}, "[1][3]:INT64"},
		{"Size", nil, []*Tensor{x23}, "[][6]:INT64"},
		{"Gather", nil, []*Tensor{iT([]int{3}, 7, 8, 9), iT(nil, -1)}, "[][9]:INT64"},
		{"Gather", attr("axis", 1), []*Tensor{x23, iT([]int{2}, 2, 0)}, "[2 2][3 1 6 4]"},
		{"Concat", attr("axis", 1), []*Tensor{x23, fT([]int{2, 1}, 7, 8)}, "[2 4][1 2 3 7 4 5 6 8]"},
		{"Concat", nil, []*Tensor{iT([]int{1}, -1), iT([]int{2}, 4, 5)}, "[3][-1 4 5]:INT64"},
		{"Unsqueeze", attr("axes", []int64{0, -1}), []*Tensor{x23}, "[1 2 3 1][1 2 3 4 5 6]"},
		{"Squeeze", nil, []*Tensor{fT([]int{1, 2, 1}, 1, 2)}, "[2][1 2]"},
		{"Cast", attr("to", 7), []*Tensor{fT([]int{3}, 1.9, -1.9, 3)}, "[3][1 -1 3]:INT64"},
		{"Cast", attr("to", 1), []*Tensor{iT([]int{2}, 3, -4)}, "[2][3 -4]"},
		{"Reshape", attr("shape", []int64{3, -1}), []*Tensor{x23}, "[3 2][1 2 3 4 5 6]"},
		{"Flatten", attr("axis", 0), []*Tensor{x23}, "[1 6][1 2 3 4 5 6]"},
		{"Transpose", nil, []*Tensor{x23}, "[3 2][1 4 2 5 3 6]"},
		{"Transpose", attr("perm", []int64{0, 2, 1}), []*Tensor{fT([]int{1, 2, 2}, 1, 2, 3, 4)}, "[1 2 2][1 3 2 4]"},
		{"Slice", nil, []*Tensor{x23, iT([]int{1}, 1), iT([]int{1}, 100), iT([]int{1}, 1)}, "[2 2][2 3 5 6]"},
		{"Slice", nil, []*Tensor{iT([]int{5}, 0, 1, 2, 3, 4), iT([]int{1}, -1), iT([]int{1}, -100), iT([]int{1}, 0), iT([]int{1}, -2)}, "[3][4 2 0]:INT64"},
		{"ConstantOfShape", nil, []*Tensor{iT([]int{2}, 2, 2)}, "[2 2][0 0 0 0]"},
		{"Range", nil, []*Tensor{iT(nil, 1), iT(nil, 8), iT(nil, 3)}, "[3][1 4 7]:INT64"},
		{"Softmax", attr("axis", 0, "coerce_2d", 0), []*Tensor{fT([]int{2, 1}, 0, 0)}, "[2 1][0.5 0.5]"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			n := &node{Name: "n", Op: tt.op, Attrs: tt.attrs, Inputs: inputNames(len(tt.in)), Outputs: []string{"y"}}
			if n.Attrs == nil {
				n.Attrs = map[string]model.Attr{}
			}
			out, err := folderOf(tt.op)(n, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].String(); got != tt.want {
				t.Errorf("%s = %s, want %s", tt.op, got, tt.want)
			}
		})
	}
	// Cases left to the graph, not errors.
	for _, c := range []struct {
		op string
		in []*Tensor
	}{
		{"Div", []*Tensor{iT(nil, 1), iT(nil, 0)}},
		{"ConstantOfShape", []*Tensor{iT([]int{2}, 1<<20, 1<<20)}},
		{"Relu", []*Tensor{iT(nil, 1)}},
	} {
		n := &node{Op: c.op, Attrs: map[string]model.Attr{}, Inputs: inputNames(len(c.in)), Outputs: []string{"y"}}
		if _, err := folderOf(c.op)(n, c.in); err != errNoFold {
			t.Errorf("%s: %v, want errNoFold", c.op, err)
		}
	}
}

// inputNames returns n input names.
func inputNames(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("in%d", i)
	}
	return s
}
