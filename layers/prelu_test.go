package layers_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// TestPRelu runs PRelu with a slope of every broadcast form (one value,
// per channel [C, 1, 1], along the last axis, x's full shape, leading 1s),
// constant or given at run time, at the awkward sizes with special values
// in x and in the slope. Exact, signed zeros included.
func TestPRelu(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(37))
	type pair struct{ x, slope []int }
	var pairs []pair
	for _, n := range optest.Sizes {
		pairs = append(pairs, pair{[]int{n}, []int{1}}, pair{[]int{n}, []int{n}}, pair{[]int{n}, []int{}})
	}
	pairs = append(pairs,
		pair{[]int{2, 3, 5, 7}, []int{3, 1, 1}}, // PyTorch's per-channel slope, after the importer
		pair{[]int{2, 3, 5, 7}, []int{7}},
		pair{[]int{2, 3, 5, 7}, []int{1, 3, 1, 1}},
		pair{[]int{2, 3, 5, 7}, []int{5, 1}},
		pair{[]int{2, 3, 5, 7}, []int{2, 3, 5, 7}},
		pair{[]int{1, 13, 1, 1}, []int{13, 1, 1}},
		pair{[]int{3, 257}, []int{257}},
	)
	for _, p := range pairs {
		// A NaN slope must not meet a negative denormal x, which drivers
		// may flush to -0 (not < 0: no NaN): specials only in slopes of
		// several values, and then x's denormals made normal.
		special := dimsProd(p.slope) > 1
		for _, constSlope := range []bool{true, false} {
			x := optest.Random(r, p.x, 10, true)
			for i, v := range x.Data {
				if special && v != 0 && math.Abs(float64(v)) < 1e-38 {
					x.Data[i] = v * 1e10
				}
			}
			optest.Check(t, d, optest.Case{
				Name:       fmt.Sprintf("x%v/slope%v/const=%v", p.x, p.slope, constSlope),
				Node:       model.Node{Op: ops.OpPRelu},
				Inputs:     []*ops.Tensor{x, optest.Random(r, p.slope, 1, special)},
				Const:      []bool{false, constSlope},
				SignedZero: true,
			})
		}
	}
}

// TestPReluShapes checks that a slope which does not broadcast to x's
// shape alone (the result would be larger than x) is refused.
func TestPReluShapes(t *testing.T) {
	for _, s := range [][2][]int{{{3}, {2, 3}}, {{2, 3}, {2}}, {{2, 3}, {3, 3}}} {
		n := model.Node{Op: ops.OpPRelu, Name: "p", Inputs: []string{"x", "s"}, Outputs: []string{"y"}}
		if _, err := ops.Infer(&n, []ops.Value{{Shape: s[0]}, {Shape: s[1]}}); err == nil {
			t.Errorf("x %v, slope %v: no error", s[0], s[1])
		}
	}
}

func dimsProd(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
