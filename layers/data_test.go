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

// The data-movement ops (shaders/strided.comp) copy values bit for bit:
// every case is exact, signed zeros, NaN and infinities included.

// permutations returns every permutation of [0, r).
func permutations(r int) [][]int64 {
	if r == 0 {
		return [][]int64{{}}
	}
	var out [][]int64
	for _, p := range permutations(r - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int64{}, p[:i]...), int64(r-1)), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestTranspose(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(29))
	node := func(perm []int64) model.Node {
		n := model.Node{Op: ops.OpTranspose, Attrs: map[string]model.Attr{}}
		if perm != nil {
			n.Attrs["perm"] = model.IntsAttr(perm...)
		}
		return n
	}
	var cases []optest.Case
	add := func(shape []int, perm []int64) {
		cases = append(cases, optest.Case{
			Name:       fmt.Sprintf("Transpose%v_perm%v", shape, perm),
			Node:       node(perm),
			Inputs:     []*ops.Tensor{optest.Random(r, shape, 10, true)},
			SignedZero: true,
		})
	}
	// Every permutation at ranks 2 to 4, at awkward sizes.
	for _, shape := range [][]int{{7, 13}, {1, 257}, {3, 5, 7}, {2, 1, 13}, {2, 3, 5, 7}, {1, 7, 1, 13}} {
		for _, p := range permutations(len(shape)) {
			add(shape, p)
		}
	}
	// The default (reversed), rank 0 to 6, and shufflenet's channel shuffle.
	for _, shape := range [][]int{{}, {127}, {7, 13}, {2, 3, 4, 5, 6}, {2, 3, 1, 5, 2, 7}} {
		add(shape, nil)
	}
	add([]int{2, 2, 24, 7, 7}, []int64{0, 2, 1, 3, 4})
	add([]int{1, 2, 58, 13, 13}, []int64{0, 2, 1, 3, 4})
	add([]int{2, 3, 5, 7, 2, 3}, []int64{5, 3, 1, 0, 2, 4})
	add([]int{3, 2, 5, 1, 7, 2}, []int64{1, 0, 3, 2, 5, 4})
	// Large enough for a 2-D grid; NCHW -> NHWC.
	add([]int{1, 257, 65, 65}, []int64{0, 2, 3, 1})
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}
