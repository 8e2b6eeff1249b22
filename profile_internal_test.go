package vkinfer

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/model"
)

func TestNodeFLOPs(t *testing.T) {
	shapes := map[string][]int{
		"x": {2, 3, 9, 9}, "w": {8, 3, 3, 3}, "y": {2, 8, 7, 7}, // Conv 3→8 3×3, no pad
		"dw": {8, 1, 3, 3}, "xd": {2, 8, 7, 7}, "yd": {2, 8, 5, 5}, // depthwise
		"a": {5, 7}, "at": {7, 5}, "b": {7, 4}, "c": {5, 4}, // Gemm 5×7·7×4
		"m1": {3, 2, 5, 7}, "m2": {7, 6}, "mo": {3, 2, 5, 6}, // batched MatMul
		"xt": {1, 4, 3, 3}, "wt": {4, 2, 2, 2}, "yt": {1, 2, 6, 6}, // ConvTranspose 4→2 2×2
		"xdn": {3, 10}, "wdn": {6, 10}, "ydn": {3, 6}, // Dense 10→6
	}
	node := func(op string, ins []string, out string, attrs map[string]model.Attr) *model.Node {
		return &model.Node{Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs}
	}
	cases := []struct {
		n    *model.Node
		want int64
	}{
		{node("Conv", []string{"x", "w"}, "y", nil), 2 * 2 * 8 * 7 * 7 * 3 * 3 * 3},
		{node("Conv", []string{"xd", "dw", ""}, "yd", nil), 2 * 2 * 8 * 5 * 5 * 1 * 3 * 3},
		{node("Gemm", []string{"a", "b", "c"}, "c", nil), 2 * 5 * 4 * 7},
		{node("Gemm", []string{"at", "b"}, "c", map[string]model.Attr{"transA": model.IntAttr(1)}), 2 * 5 * 4 * 7},
		{node("MatMul", []string{"m1", "m2"}, "mo", nil), 2 * 3 * 2 * 5 * 6 * 7},
		{node("ConvTranspose", []string{"xt", "wt"}, "yt", nil), 2 * 4 * 3 * 3 * 2 * 2 * 2},
		{node("Dense", []string{"xdn", "wdn"}, "ydn", nil), 2 * 3 * 6 * 10},
		{node("Relu", []string{"x"}, "x", nil), 0},
		{node("Conv", []string{"x", "missing"}, "y", nil), 0},
	}
	for _, c := range cases {
		require.Equal(t, c.want, nodeFLOPs(c.n, shapes), "%s %v", c.n.Op, c.n.Inputs)
	}
}
