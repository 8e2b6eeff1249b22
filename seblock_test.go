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

// efficientnet_b0's squeeze-and-excitation block as torch exports it, at
// awkward sizes: x -> Conv -> SiLU (Sigmoid, Mul) -> GlobalAveragePool ->
// Conv -> SiLU -> Conv -> Sigmoid -> Mul [N,C,1,1] x [N,C,H,W] -> Conv (1x1
// projection) + residual Add, with inputs large enough to saturate the
// sigmoids. The device must match the CPU reference (ops.Run) as tightly
// as any single op: the block was the first suspect of the efficientnet_b0
// mismatch, which turned out to be an ill-conditioned fixture (see
// tools/torch/vision.py and TestTorchVision); this keeps the block honest.
func TestSqueezeExcitationBlock(t *testing.T) {
	dev := openDevice(t)
	const c, sq, h, w = 13, 3, 7, 5
	r := rand.New(rand.NewPCG(5, 6))
	m := &model.Model{Name: "se", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, c, h, w}}}}
	init := func(name string, shape []int, scale float64) string {
		n := 1
		for _, d := range shape {
			n *= d
		}
		t := &model.Tensor{Name: name, Shape: shape, Data: make([]float32, n)}
		for i := range t.Data {
			t.Data[i] = float32(scale * (2*r.Float64() - 1))
		}
		m.Initializers = append(m.Initializers, t)
		return name
	}
	node := func(op string, ins []string, out string, attrs map[string]model.Attr) {
		m.Nodes = append(m.Nodes, model.Node{Name: out, Op: op, Inputs: ins, Outputs: []string{out}, Attrs: attrs})
	}
	silu := func(in, out string) {
		node(ops.OpSigmoid, []string{in}, out+".s", nil)
		node(ops.OpMul, []string{in, out + ".s"}, out, nil)
	}
	node(ops.OpConv, []string{"x", init("w0", []int{c, 1, 3, 3}, 1), init("b0", []int{c}, 1)}, "dw",
		map[string]model.Attr{"group": model.IntAttr(c), "pads": {Kind: model.AttrInts, Ints: []int64{1, 1, 1, 1}}})
	silu("dw", "a")
	node(ops.OpGlobalAveragePool, []string{"a"}, "p", nil)
	node(ops.OpConv, []string{"p", init("w1", []int{sq, c, 1, 1}, 1), init("b1", []int{sq}, 1)}, "f1", nil)
	silu("f1", "g")
	node(ops.OpConv, []string{"g", init("w2", []int{c, sq, 1, 1}, 2), init("b2", []int{c}, 1)}, "f2", nil)
	node(ops.OpSigmoid, []string{"f2"}, "gate", nil)
	node(ops.OpMul, []string{"gate", "a"}, "scaled", nil) // [N,C,1,1] x [N,C,H,W]
	node(ops.OpConv, []string{"scaled", init("w3", []int{c, c, 1, 1}, 0.5)}, "proj", nil)
	node(ops.OpAdd, []string{"proj", "x"}, "y", nil)
	shapes, err := ops.InferModel(m, nil)
	require.NoError(t, err)
	m.Outputs = []model.ValueInfo{{Name: "y", Shape: shapes["y"]}}
	require.NoError(t, ops.Validate(m))
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, batch := range []int{1, 3} {
		for _, scale := range []float64{1, 30} {
			shape := []int{batch, c, h, w}
			x := make([]float32, batch*c*h*w)
			for i := range x {
				x[i] = float32(scale * (2*r.Float64() - 1))
			}
			got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
			require.NoError(t, err)
			want, err := ops.Run(m, ops.F32(shape, x))
			require.NoError(t, err)
			for i, v := range want[0].Float() {
				require.InDelta(t, v, got[0].Data[i], 1e-5+1e-5*math.Abs(float64(v)), "batch %d scale %g element %d", batch, scale, i)
			}
		}
	}
}
