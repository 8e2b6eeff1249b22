package ops

import (
	"errors"
	"fmt"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

// Bad Split and Pad nodes are errors naming the node (ErrInvalid, or
// ErrUnsupported for an unknown mode), never panics.
func TestMovementErrors(t *testing.T) {
	x := F32([]int{2, 6}, make([]float32, 12))
	for _, c := range []struct {
		name string
		n    model.Node
		in   []*Tensor
		want error
	}{
		{"split sizes do not sum", model.Node{Op: OpSplit, Outputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(1), "split": model.IntsAttr(2, 3)}}, []*Tensor{x}, ErrInvalid},
		{"split count", model.Node{Op: OpSplit, Outputs: []string{"a", "b"}}, []*Tensor{x, I64([]int{3}, []int64{1, 1, 4})}, ErrInvalid},
		{"split negative", model.Node{Op: OpSplit, Outputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(1)}}, []*Tensor{x, I64([]int{2}, []int64{-1, 7})}, ErrInvalid},
		{"split unequal", model.Node{Op: OpSplit, Outputs: []string{"a", "b", "c", "d"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(1)}}, []*Tensor{x}, ErrInvalid},
		{"num_outputs mismatch", model.Node{Op: OpSplit, Outputs: []string{"a", "b"}, Attrs: map[string]model.Attr{"num_outputs": model.IntAttr(3)}}, []*Tensor{x}, ErrInvalid},
		{"split axis", model.Node{Op: OpSplit, Outputs: []string{"a"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(2)}}, []*Tensor{x}, ErrInvalid},
		{"pad mode", model.Node{Op: OpPad, Attrs: map[string]model.Attr{"mode": model.StringAttr("mirror"), "pads": model.IntsAttr(0, 0, 0, 0)}}, []*Tensor{x}, ErrUnsupported},
		{"pads count", model.Node{Op: OpPad}, []*Tensor{x, I64([]int{3}, []int64{1, 1, 1})}, ErrInvalid},
		{"pads missing", model.Node{Op: OpPad}, []*Tensor{x}, ErrInvalid},
		{"pads negative size", model.Node{Op: OpPad, Attrs: map[string]model.Attr{"pads": model.IntsAttr(0, -4, 0, -3)}}, []*Tensor{x}, ErrInvalid},
		{"edge of empty", model.Node{Op: OpPad, Attrs: map[string]model.Attr{"mode": model.StringAttr(PadEdge), "pads": model.IntsAttr(0, 1, 0, 0)}}, []*Tensor{F32([]int{2, 0}, nil)}, ErrInvalid},
		{"constant_value size", model.Node{Op: OpPad}, []*Tensor{x, I64([]int{4}, []int64{0, 0, 0, 0}), F32([]int{2}, []float32{1, 2})}, ErrInvalid},
		{"pad axes repeated", model.Node{Op: OpPad}, []*Tensor{x, I64([]int{4}, []int64{0, 0, 0, 0}), nil, I64([]int{2}, []int64{1, -1})}, ErrInvalid},
		{"cast to string", model.Node{Op: OpCast, Attrs: map[string]model.Attr{"to": model.IntAttr(8)}}, []*Tensor{x}, ErrUnsupported},
	} {
		n := c.n
		n.Name = c.name
		for i, in := range c.in {
			name := ""
			if in != nil {
				name = fmt.Sprintf("in%d", i)
			}
			n.Inputs = append(n.Inputs, name)
		}
		if n.Outputs == nil {
			n.Outputs = []string{"y"}
		}
		_, err := Eval(&n, c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// num_outputs (opset 18) splits unevenly: ceil(dim/n) each, the last
// smaller; equal pieces otherwise.
func TestSplitSizes(t *testing.T) {
	for _, c := range []struct {
		dim, n int
		num    bool
		want   string
	}{{13, 4, true, "[4 4 4 1]"}, {12, 4, true, "[3 3 3 3]"}, {3, 3, true, "[1 1 1]"}, {12, 3, false, "[4 4 4]"}} {
		n := &model.Node{Op: OpSplit, Name: "s", Inputs: []string{"x"}, Attrs: map[string]model.Attr{}}
		for i := 0; i < c.n; i++ {
			n.Outputs = append(n.Outputs, fmt.Sprint("o", i))
		}
		if c.num {
			n.Attrs["num_outputs"] = model.IntAttr(int64(c.n))
		}
		_, a, err := Resolve(n)
		if err != nil {
			t.Fatal(err)
		}
		_, got, err := SplitSizes(a, []int{c.dim}, nil)
		if err != nil || fmt.Sprint(got) != c.want {
			t.Errorf("dim %d into %d (num_outputs %v): %v %v, want %s", c.dim, c.n, c.num, got, err, c.want)
		}
	}
}
