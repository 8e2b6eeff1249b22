package vkinfer_test

import (
	"context"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// A ShuffleNet-style graph with a dynamic batch: the channel split is two
// Slices whose bounds come from Shape arithmetic (evaluated on the host
// when a plan is made and given to the layers through layers.HostLayer),
// the shuffle a 5-D Transpose between Reshapes whose targets are computed
// too, then Split, Pad (reflect), Unsqueeze/Squeeze with computed axes and
// a Cast to FLOAT16. Every batch size is one plan; each must match ops.Run.
func TestDataMovementGraph(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewSource(59))
	i64 := func(name string, v ...float32) *model.Tensor { return scalarT(name, []int{len(v)}, v...) }
	m := &model.Model{
		Name:    "shuffle",
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 8, 5, 5}}},
		Outputs: []model.ValueInfo{{Name: "y1", Shape: []int{-1, 4, 7, 8}}, {Name: "y2", Shape: []int{-1, 4, 5, 5}}},
		Nodes: []model.Node{
			nd("shape", "Shape", []string{"x"}, "s", nil),
			nd("c", "Gather", []string{"s", "one"}, "c", axis(0)),
			nd("half", "Div", []string{"c", "two"}, "h", nil),
			nd("h1", "Unsqueeze", []string{"h"}, "h1", ints(0)),
			nd("c1", "Unsqueeze", []string{"c"}, "c1", ints(0)),
			nd("lo", "Slice", []string{"x", "zero1", "h1", "one1"}, "a", nil),
			nd("hi", "Slice", []string{"x", "h1", "c1", "one1"}, "b", nil),
			nd("relu", "Relu", []string{"b"}, "b2", nil),
			nd("cat", "Concat", []string{"a", "b2"}, "cat", axis(1)),
			nd("n", "Gather", []string{"s", "zero"}, "n", axis(0)),
			nd("n1", "Unsqueeze", []string{"n"}, "n1", ints(0)),
			nd("t5", "Concat", []string{"n1", "two1", "h1", "five1", "five1"}, "t5", axis(0)),
			nd("r5", "Reshape", []string{"cat", "t5"}, "x5", nil),
			nd("tr", "Transpose", []string{"x5"}, "t", map[string]model.Attr{"perm": model.IntsAttr(0, 2, 1, 3, 4)}),
			nd("t4", "Concat", []string{"n1", "c1", "five1", "five1"}, "t4", axis(0)),
			nd("r4", "Reshape", []string{"t", "t4"}, "sh", nil),
			{Name: "split", Op: "Split", Inputs: []string{"sh"}, Outputs: []string{"p0", "p1"}, Attrs: axis(1)},
			nd("pad", "Pad", []string{"p0", "pads"}, "y1", map[string]model.Attr{"mode": model.StringAttr("reflect")}),
			nd("ax", "Sub", []string{"one1", "one1"}, "ax", nil),
			nd("unsq", "Unsqueeze", []string{"p1", "ax"}, "u", nil),
			nd("sq", "Squeeze", []string{"u", "ax"}, "v", nil),
			nd("cast", "Cast", []string{"v"}, "y2", map[string]model.Attr{"to": model.IntAttr(10)}),
		},
		Initializers: []*model.Tensor{
			scalarT("zero", nil, 0), scalarT("one", nil, 1), scalarT("two", nil, 2),
			i64("zero1", 0), i64("one1", 1), i64("two1", 2), i64("five1", 5),
			i64("pads", 0, 0, 1, 2, 0, 0, 1, 1),
		},
	}
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, batch := range []int{1, 3, 2, 1} {
		x := randSlice(r, batch*200)
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 8, 5, 5}, Data: x})
		require.NoError(t, err, "batch %d", batch)
		want, err := ops.Run(m, ops.F32([]int{batch, 8, 5, 5}, x))
		require.NoError(t, err)
		for i := range want {
			require.Equal(t, want[i].Shape, got[i].Shape)
			require.Equal(t, want[i].Data, got[i].Data, "output %d, batch %d: data movement is exact", i, batch)
		}
	}
}
