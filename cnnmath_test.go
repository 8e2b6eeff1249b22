package vkinfer_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// A decoder-style graph of the CNN ops added with issue 12's math ops runs
// on the device as the CPU reference computes it at two batch sizes:
// ConvTranspose (grouped, strided) followed by a BatchNormalization the
// planner folds into it, PRelu with a per-channel slope, HardSwish,
// HardSigmoid, ReduceMean over the plane (mnasnet's head) and ReduceMax
// with axes given as an input. The BatchNormalization must be folded.
func TestCNNMathOpsInAGraph(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewPCG(21, 22))
	m := &model.Model{Name: "decoder", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 4, 5, 6}}}}
	init := func(name string, shape []int, lo, hi float64) string {
		n := 1
		for _, d := range shape {
			n *= d
		}
		tt := &model.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
		for i := range tt.Data {
			tt.Data[i] = float32(lo + (hi-lo)*r.Float64())
		}
		m.Initializers = append(m.Initializers, tt)
		return name
	}
	node := func(name, op string, ins []string, out string, attrs map[string]model.Attr) {
		m.Nodes = append(m.Nodes, model.Node{Name: name, Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	}
	node("ct", ops.OpConvTranspose, []string{"x", init("w", []int{4, 3, 3, 3}, -0.5, 0.5), init("b", []int{6}, -1, 1)}, "t",
		map[string]model.Attr{"group": model.IntAttr(2), "strides": model.IntsAttr(2, 2), "pads": model.IntsAttr(1, 1, 1, 1),
			"output_padding": model.IntsAttr(1, 0)})
	node("bn", ops.OpBatchNormalization, []string{"t", init("scale", []int{6}, 0.5, 1.5), init("bias", []int{6}, -1, 1),
		init("mean", []int{6}, -1, 1), init("var", []int{6}, 0.1, 2)}, "n", nil)
	node("prelu", ops.OpPRelu, []string{"n", init("slope", []int{6, 1, 1}, -0.5, 0.5)}, "p", nil)
	node("hswish", ops.OpHardSwish, []string{"p"}, "h", nil)
	node("hsig", ops.OpHardSigmoid, []string{"h"}, "s", map[string]model.Attr{"alpha": model.FloatAttr(0.3)})
	node("mean", ops.OpReduceMean, []string{"s"}, "y", map[string]model.Attr{"axes": model.IntsAttr(2, 3), "keepdims": model.IntAttr(0)})
	m.Initializers = append(m.Initializers, &model.Tensor{Name: "axes", Shape: []int{1}, Data: []float32{-1}})
	node("max", ops.OpReduceMax, []string{"h", "axes"}, "z", nil)
	shapes, err := ops.InferModel(m, nil)
	require.NoError(t, err)
	m.Outputs = []model.ValueInfo{{Name: "y", Shape: shapes["y"]}, {Name: "z", Shape: shapes["z"]}}
	require.NoError(t, ops.Validate(m))

	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, batch := range []int{1, 3} {
		shape := []int{batch, 4, 5, 6}
		x := make([]float32, batch*4*5*6)
		for i := range x {
			x[i] = float32(4*r.Float64() - 2)
		}
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		want, err := ops.Run(m, ops.F32(shape, x))
		require.NoError(t, err)
		for o := range want {
			require.Equal(t, want[o].Shape, got[o].Shape)
			for i, w := range want[o].Float() {
				require.InDelta(t, w, got[o].Data[i], 1e-5+1e-4*math.Abs(float64(w)), "batch %d output %d element %d", batch, o, i)
			}
		}
		pr, err := lm.Profile(context.Background(), 1, vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		for _, l := range pr.Layers {
			require.NotContains(t, l.Op, ops.OpBatchNormalization, "the BatchNormalization is not folded into the ConvTranspose")
		}
	}
}

// A reduction's axes computed from shapes (the last axis, as rank - 1) are
// evaluated on the host when the plan is made and read by the layer then,
// at every batch size.
func TestReduceAxesFromShapes(t *testing.T) {
	dev := openDevice(t)
	m := &model.Model{Name: "lastaxis", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 4, 5}}},
		Initializers: []*model.Tensor{{Name: "one", Shape: []int{1}, Data: []float32{1}}},
		Nodes: []model.Node{
			{Name: "shape", Op: ops.OpShape, Inputs: []string{"x"}, Outputs: []string{"s"}},
			{Name: "rank", Op: ops.OpShape, Inputs: []string{"s"}, Outputs: []string{"r"}},
			{Name: "last", Op: ops.OpSub, Inputs: []string{"r", "one"}, Outputs: []string{"axes"}},
			{Name: "sum", Op: ops.OpReduceSum, Inputs: []string{"x", "axes"}, Outputs: []string{"y"},
				Attrs: map[string]model.Attr{"keepdims": model.IntAttr(0)}},
		}}
	shapes, err := ops.InferModel(m, nil)
	require.NoError(t, err)
	m.Outputs = []model.ValueInfo{{Name: "y", Shape: shapes["y"]}}
	require.Len(t, shapes["y"], 2)
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, batch := range []int{2, 1} {
		x := make([]float32, batch*20)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 4, 5}, Data: x})
		require.NoError(t, err)
		want, err := ops.Run(m, ops.F32([]int{batch, 4, 5}, x))
		require.NoError(t, err)
		require.Equal(t, want[0].Shape, got[0].Shape)
		require.Equal(t, want[0].Float(), got[0].Data)
	}
}
