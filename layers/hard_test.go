package layers_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// TestHardSigmoidHardSwish runs the standalone HardSigmoid (with its
// default and other alpha, beta) and HardSwish at the awkward sizes, with
// the special values planted (HardSwish(-inf) is NaN, as ONNX's formula
// gives), and at values around the ends of the linear piece.
func TestHardSigmoidHardSwish(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(31))
	nodes := []model.Node{
		{Op: ops.OpHardSwish},
		{Op: ops.OpHardSigmoid},
		{Op: ops.OpHardSigmoid, Attrs: map[string]model.Attr{"alpha": model.FloatAttr(0.5), "beta": model.FloatAttr(0.6)}},
		{Op: ops.OpHardSigmoid, Attrs: map[string]model.Attr{"alpha": model.FloatAttr(-1.0 / 6), "beta": model.FloatAttr(0)}},
		{Op: ops.OpHardSigmoid, Attrs: map[string]model.Attr{"alpha": model.IntAttr(0), "beta": model.FloatAttr(0.25)}},
	}
	edges := ops.F32([]int{9}, []float32{-3, 3, -2.9999998, 2.9999998, -3.0000002, 3.0000002, -2.5, 2.5, -1})
	var cases []optest.Case
	for _, n := range nodes {
		for _, size := range optest.Sizes {
			cases = append(cases, optest.Case{
				Name:   fmt.Sprintf("%s%v/%d", n.Op, n.Attrs, size),
				Node:   n,
				Inputs: []*ops.Tensor{optest.Random(r, []int{size}, 4, true)},
				Abs:    2e-7, Rel: 2e-6,
			})
		}
		cases = append(cases, optest.Case{
			Name: fmt.Sprintf("%s%v/edges", n.Op, n.Attrs), Node: n, Inputs: []*ops.Tensor{edges}, Abs: 2e-7, Rel: 2e-6,
		}, optest.Case{
			Name: fmt.Sprintf("%s%v/4-D", n.Op, n.Attrs), Node: n,
			Inputs: []*ops.Tensor{optest.Random(r, []int{2, 3, 5, 7}, 3, true)}, Abs: 2e-7, Rel: 2e-6,
		})
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}
