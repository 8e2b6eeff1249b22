package layers_test

import (
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// TestNeg is the worked example of docs/OPS.md "Adding an op": one table
// through the common differential test, at the awkward sizes, with NaN,
// infinities, signed zeros and denormals planted, and shapes of rank 0 to 4.
func TestNeg(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(23))
	var cases []optest.Case
	for _, n := range optest.Sizes {
		cases = append(cases, optest.Case{
			Node:       model.Node{Op: ops.OpNeg},
			Inputs:     []*ops.Tensor{optest.Random(r, []int{n}, 10, true)},
			SignedZero: true, // exact: a sign flip
		})
	}
	for _, shape := range [][]int{{}, {1, 1}, {3, 1, 7}, {2, 3, 5, 7}} {
		cases = append(cases, optest.Case{
			Node:       model.Node{Op: ops.OpNeg},
			Inputs:     []*ops.Tensor{optest.Random(r, shape, 1e3, true)},
			SignedZero: true,
		})
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}
