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

func TestConcatDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(15))
	axis := func(a int64) map[string]model.Attr { return map[string]model.Attr{ops.AttrAxis: model.IntAttr(a)} }
	cases := []struct {
		name   string
		axis   int64
		shapes [][]int
		consts []bool
	}{
		{"channels batch 1", 1, [][]int{{1, 3, 5, 5}, {1, 7, 5, 5}}, nil},
		{"channels batch 3", 1, [][]int{{3, 1, 2, 7}, {3, 13, 2, 7}, {3, 2, 2, 7}}, nil},
		{"first axis", 0, [][]int{{1, 4}, {6, 4}}, nil},
		{"last axis negative", -1, [][]int{{2, 3, 1}, {2, 3, 5}, {2, 3, 2}}, nil},
		{"one input", 2, [][]int{{2, 2, 9}}, nil},
		{"a constant input", 1, [][]int{{2, 5}, {2, 3}}, []bool{false, true}},
		{"large", 1, [][]int{{1, 257, 64, 64}, {1, 7, 64, 64}}, nil},
	}
	for _, c := range cases {
		var ins []*ops.Tensor
		for _, s := range c.shapes {
			ins = append(ins, optest.Random(r, s, 1, true))
		}
		optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConcat, Attrs: axis(c.axis)}, Inputs: ins, Const: c.consts,
			SignedZero: true})
	}
}
