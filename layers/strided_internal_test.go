package layers

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Strided.simplify decides how many dimensions the kernel walks; these
// cases pin the merges (no device needed). The results of the kernel
// itself are checked against package ops in data_test.go.
func TestStridedSimplify(t *testing.T) {
	for _, c := range []struct {
		name string
		s    Strided
		base int
		dims string
	}{
		{"contiguous copy", Strided{Dims: []int{2, 3, 5}, Lo: []int{0, 0, 0}, Stride: []int{15, 5, 1}}, 0, "[{30 30 0 1}]"},
		{"NCHW to NHWC", Strided{Dims: []int{2, 7, 13, 3}, Lo: make([]int, 4), Stride: []int{273, 13, 1, 91}}, 0, "[{2 2 0 273} {91 91 0 1} {3 3 0 91}]"},
		{"channel slice at batch 1", Strided{Dims: []int{1, 58, 7, 7}, Lo: make([]int, 4), Stride: []int{5684, 49, 7, 1}, Base: 58 * 49}, 58 * 49, "[{2842 2842 0 1}]"},
		{"negative step", Strided{Dims: []int{4, 3}, Lo: []int{0, 0}, Stride: []int{-10, 1}, Base: 35}, 35, "[{4 4 0 -10} {3 3 0 1}]"},
		{"ones dropped", Strided{Dims: []int{1, 1, 1}, Lo: []int{0, 0, 0}, Stride: []int{3, 2, 1}}, 0, "[]"},
		{"pad keeps padded dims, merges the rest", Strided{Dims: []int{2, 3, 9, 7}, In: []int{2, 3, 5, 7}, Lo: []int{0, 0, -2, 0}, Stride: []int{105, 35, 7, 1}, Mode: StridedConstant},
			0, "[{6 6 0 35} {9 5 -2 7} {7 7 0 1}]"},
		{"crop inside is folded", Strided{Dims: []int{3, 4}, In: []int{5, 6}, Lo: []int{1, 2}, Stride: []int{6, 1}, Mode: StridedEdge}, 8, "[{3 3 0 6} {4 4 0 1}]"},
	} {
		base, dims, err := c.s.simplify()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := fmt.Sprint(dims); base != c.base || got != c.dims && !(c.dims == "[]" && len(dims) == 0) {
			t.Errorf("%s: base %d dims %s, want %d %s", c.name, base, got, c.base, c.dims)
		}
	}
	// Rank 7 that does not merge is refused; rank 7 that does is taken.
	s7 := Strided{Dims: []int{2, 2, 2, 2, 2, 2, 2}, Lo: make([]int, 7), Stride: []int{1, 2, 4, 8, 16, 32, 64}}
	if _, _, err := s7.simplify(); err == nil {
		t.Error("7 unmergeable dimensions accepted")
	}
	s7.Stride = []int{64, 32, 16, 8, 4, 2, 1}
	if _, dims, err := s7.simplify(); err != nil || len(dims) != 1 {
		t.Errorf("7 contiguous dimensions: %v %v", dims, err)
	}
}

// Parameters computed on the device (not constants, not host values) are
// refused with ErrUnsupported naming the input, before anything is
// recorded.
func TestHostParamsOnDevice(t *testing.T) {
	b := &Build{Const: func(string) *model.Tensor { return nil }}
	for _, n := range []*model.Node{
		{Op: ops.OpSlice, Name: "s", Inputs: []string{"x", "starts", "ends"}, Outputs: []string{"y"}},
		{Op: ops.OpSplit, Name: "p", Inputs: []string{"x", "split"}, Outputs: []string{"a", "b"}},
		{Op: ops.OpPad, Name: "q", Inputs: []string{"x", "pads"}, Outputs: []string{"y"}},
	} {
		build, _ := Lookup(n.Op)
		l, err := build(b, n)
		if err != nil {
			t.Fatalf("%s: %v", n.Op, err)
		}
		shapes := []Shape{{4, 5}, {2}, {2}}[:len(n.Inputs)]
		err = l.(HostLayer).RecordHost(nil, nil, shapes, make([]*ops.Tensor, len(shapes)), nil)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "computed on the device") {
			t.Errorf("%s: %v, want ErrUnsupported (computed on the device)", n.Op, err)
		}
	}
}
