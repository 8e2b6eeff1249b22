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

func i64s(v ...int64) *ops.Tensor { return ops.I64([]int{len(v)}, v) }

// values prints int64 tensors (nil: absent) for subtest names.
func values(ts []*ops.Tensor) string {
	s := ""
	for _, t := range ts {
		if t == nil {
			s += "_"
		} else {
			s += fmt.Sprint(t.Ints)
		}
	}
	return s
}

func TestSlice(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(31))
	attrs := func(kv ...any) map[string]model.Attr {
		m := map[string]model.Attr{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = model.IntsAttr(kv[i+1].([]int64)...)
		}
		return m
	}
	var cases []optest.Case
	// Opsets < 10: attributes (steps is the importer's).
	for _, c := range []struct {
		shape []int
		attrs map[string]model.Attr
	}{
		{[]int{7, 5, 13}, attrs("starts", []int64{1, -3}, "ends", []int64{1000, -1}, "axes", []int64{0, 2})},
		{[]int{7, 5, 13}, attrs("starts", []int64{0, 1, 2}, "ends", []int64{7, 4, 13})},
		{[]int{3, 13, 7}, attrs("starts", []int64{-1}, "ends", []int64{-1000000}, "axes", []int64{1}, "steps", []int64{-2})},
		{[]int{3, 13, 7}, attrs("starts", []int64{100, 5}, "ends", []int64{-100, 2}, "axes", []int64{-1, -2}, "steps", []int64{-3, 1})},
		{[]int{127}, attrs("starts", []int64{-1 << 40}, "ends", []int64{1 << 40})},
		{[]int{257}, attrs("starts", []int64{3}, "ends", []int64{256}, "steps", []int64{7})},
		{[]int{2, 116, 7, 7}, attrs("starts", []int64{58}, "ends", []int64{116}, "axes", []int64{1})},
		{[]int{1, 257, 65, 65}, attrs("starts", []int64{1}, "ends", []int64{257}, "axes", []int64{1}, "steps", []int64{2})},
		{[]int{2, 3, 4, 5, 6, 7}, attrs("starts", []int64{1, 1, 1, 1, 1, 1}, "ends", []int64{2, 3, 4, 5, 6, 7}, "steps", []int64{1, 1, 2, 3, 4, 5})},
		{[]int{5, 7}, attrs("starts", []int64{3}, "ends", []int64{1}, "axes", []int64{0})}, // empty
	} {
		cases = append(cases, optest.Case{
			Name:       fmt.Sprintf("Slice%v_%v", c.shape, c.attrs),
			Node:       model.Node{Op: ops.OpSlice, Attrs: c.attrs},
			Inputs:     []*ops.Tensor{optest.Random(r, c.shape, 10, true)},
			SignedZero: true,
		})
	}
	// Opsets >= 10: inputs, constant or known on the host (shape arithmetic);
	// absent axes and steps.
	for _, form := range []string{"const", "host"} {
		for _, in := range [][]*ops.Tensor{
			{i64s(-5, 0), i64s(-1, 1<<40), i64s(2, 0), i64s(-1, 2)},
			{i64s(1, 2), i64s(6, 12)},
			{i64s(12), i64s(-1 << 40), nil, i64s(-5)},
			{i64s(0), i64s(3), i64s(-3)},
		} {
			x := optest.Random(r, []int{7, 5, 13}, 10, true)
			c := optest.Case{
				Name:       fmt.Sprintf("Slice_%s_%v", form, values(in)),
				Node:       model.Node{Op: ops.OpSlice},
				Inputs:     append([]*ops.Tensor{x}, in...),
				SignedZero: true,
			}
			for i := range c.Inputs {
				c.Const = append(c.Const, i > 0 && form == "const")
				c.Host = append(c.Host, i > 0 && form == "host")
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}
