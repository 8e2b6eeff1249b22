package vkinfer_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// BatchNormalization after a Conv or Dense is folded into it at load
// (planner.FoldBatchNorm): the device runs no BatchNormalization step and
// still computes what the unfolded graph computes on the CPU reference.
func TestFoldedBatchNormOnDevice(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewPCG(11, 12))
	m := &model.Model{Name: "convbn", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 3, 13, 11}}}}
	init := func(name string, shape []int, lo, hi float64) string {
		n := 1
		for _, d := range shape {
			n *= d
		}
		t := &model.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
		for i := range t.Data {
			t.Data[i] = float32(lo + (hi-lo)*r.Float64())
		}
		m.Initializers = append(m.Initializers, t)
		return name
	}
	node := func(name, op string, ins []string, out string, attrs map[string]model.Attr) {
		m.Nodes = append(m.Nodes, model.Node{Name: name, Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	}
	bn := func(name, in, out string, c int) {
		v := init(name+".var", []int{c}, 0, 1)
		for i, x := range m.Initializers[len(m.Initializers)-1].Data {
			m.Initializers[len(m.Initializers)-1].Data[i] = float32(math.Pow(10, 3*float64(x)-2))
		}
		node(name, ops.OpBatchNormalization, []string{in, init(name+".scale", []int{c}, -2, 2), init(name+".bias", []int{c}, -1, 1),
			init(name+".mean", []int{c}, -1, 1), v}, out, map[string]model.Attr{"epsilon": model.FloatAttr(1e-3)})
	}
	node("conv1", ops.OpConv, []string{"x", init("w1", []int{8, 3, 3, 3}, -0.5, 0.5), init("b1", []int{8}, -1, 1)}, "c1",
		map[string]model.Attr{"pads": {Kind: model.AttrInts, Ints: []int64{1, 1, 1, 1}}})
	bn("bn1", "c1", "n1", 8)
	node("relu1", ops.OpRelu, []string{"n1"}, "r1", nil)
	node("conv2", ops.OpConv, []string{"r1", init("w2", []int{8, 2, 3, 3}, -0.5, 0.5)}, "c2",
		map[string]model.Attr{"group": model.IntAttr(4), "strides": {Kind: model.AttrInts, Ints: []int64{2, 2}}})
	bn("bn2", "c2", "n2", 8)
	node("gap", ops.OpGlobalAveragePool, []string{"n2"}, "p", nil)
	node("flat", ops.OpFlatten, []string{"p"}, "f", nil)
	node("fc", ops.OpDense, []string{"f", init("w3", []int{5, 8}, -1, 1), init("b3", []int{5}, -1, 1)}, "d", nil)
	bn("bn3", "d", "y", 5)
	shapes, err := ops.InferModel(m, nil)
	require.NoError(t, err)
	m.Outputs = []model.ValueInfo{{Name: "y", Shape: shapes["y"]}}
	require.NoError(t, ops.Validate(m))

	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, batch := range []int{1, 3} {
		x := make([]float32, batch*3*13*11)
		for i := range x {
			x[i] = float32(2*r.Float64() - 1)
		}
		shape := []int{batch, 3, 13, 11}
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		want, err := ops.Run(m, ops.F32(shape, x))
		require.NoError(t, err)
		require.Equal(t, want[0].Shape, got[0].Shape)
		for i, w := range want[0].Float() {
			require.InDelta(t, w, got[0].Data[i], 1e-4+1e-3*math.Abs(float64(w)), "batch %d element %d", batch, i)
		}
		pr, err := lm.Profile(context.Background(), 1, vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		var steps []string
		for _, l := range pr.Layers {
			steps = append(steps, l.Op)
			require.NotContains(t, l.Op, ops.OpBatchNormalization, "a BatchNormalization step is left: %v", steps)
		}
		require.Contains(t, steps, "Conv+Relu", "conv1+bn1 and relu1 fuse after folding")
	}
}

// Reserve records a plan without running it: the activations appear in the
// device's accounting, the first Run at those shapes records nothing new,
// and shapes the model does not take fail with ErrShape.
func TestReserve(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.Load("examples/mnist/mlp.bin")
	require.NoError(t, err)
	defer m.Close()
	before := dev.Stats()
	require.NoError(t, m.Reserve([]int{7, 784}))
	after := dev.Stats()
	require.Greater(t, after.Arena(engine.Activations).Allocated, before.Arena(engine.Activations).Allocated)
	require.Greater(t, after.Recorded, before.Recorded) // two when it measures the chain choice
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{7, 784}, Data: make([]float32, 7*784)})
	require.NoError(t, err)
	require.Equal(t, after.Recorded, dev.Stats().Recorded, "the reserved plan ran")
	for _, bad := range [][][]int{{{7, 783}}, {{0, 784}}, {{7, 784}, {1}}, {}} {
		require.ErrorIs(t, m.Reserve(bad...), vkinfer.ErrShape, "%v", bad)
	}
}
