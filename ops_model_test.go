package vkinfer_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// onnxStyle builds a model from ONNX-named ops as the importer emits them:
// x [-1, 1, 28, 28] -> Flatten -> Gemm(transB, bias row) -> Relu ->
// MatMul -> Add -> LeakyRelu -> Clip -> Reshape [0, -1] -> Gemm(alpha,
// beta, C [1, 10]) -> Sigmoid -> Mul(x, x) -> Dropout -> Tanh -> Sub -> Div
// -> Identity -> LogSoftmax(axis 1), and its layers/ref evaluation.
func onnxStyle(seed int64) (*model.Model, func(x []float32, batch int) []float32) {
	r := rand.New(rand.NewSource(seed))
	rnd := func(name string, scale float64, shape ...int) *model.Tensor {
		t := &model.Tensor{Name: name, Shape: shape}
		n := 1
		for _, d := range shape {
			n *= d
		}
		t.Data = make([]float32, n)
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64() * scale)
		}
		return t
	}
	w1, b1 := rnd("w1", 0.05, 32, 784), rnd("b1", 0.1, 32)
	w2, b2 := rnd("w2", 0.2, 32, 16), rnd("b2", 0.1, 16)
	w3, c3 := rnd("w3", 0.3, 16, 10), rnd("c3", 0.5, 1, 10)
	two := &model.Tensor{Name: "two", Shape: []int{}, Data: []float32{2}}
	rows := rnd("rows", 1, 10)
	attrs := func(kv ...any) map[string]model.Attr {
		m := map[string]model.Attr{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(model.Attr)
		}
		return m
	}
	nodes := []model.Node{
		{Name: "flatten", Op: "Flatten", Inputs: []string{"x"}, Outputs: []string{"f"}},
		{Name: "gemm1", Op: "Gemm", Inputs: []string{"f", "w1", "b1"}, Outputs: []string{"g1"}, Attrs: attrs("transB", model.IntAttr(1))},
		{Name: "relu1", Op: "Relu", Inputs: []string{"g1"}, Outputs: []string{"r1"}},
		{Name: "matmul2", Op: "MatMul", Inputs: []string{"r1", "w2"}, Outputs: []string{"m2"}},
		{Name: "add2", Op: "Add", Inputs: []string{"m2", "b2"}, Outputs: []string{"a2"}},
		{Name: "leaky2", Op: "LeakyRelu", Inputs: []string{"a2"}, Outputs: []string{"l2"}, Attrs: attrs("alpha", model.FloatAttr(0.1))},
		{Name: "clip2", Op: "Clip", Inputs: []string{"l2"}, Outputs: []string{"c2"}, Attrs: attrs("min", model.FloatAttr(-0.5), "max", model.FloatAttr(3))},
		{Name: "reshape2", Op: "Reshape", Inputs: []string{"c2"}, Outputs: []string{"s2"}, Attrs: attrs("shape", model.IntsAttr(0, -1))},
		{Name: "gemm3", Op: "Gemm", Inputs: []string{"s2", "w3", "c3"}, Outputs: []string{"g3"}, Attrs: attrs("alpha", model.FloatAttr(0.5), "beta", model.FloatAttr(2))},
		{Name: "sigmoid3", Op: "Sigmoid", Inputs: []string{"g3"}, Outputs: []string{"sg3"}},
		{Name: "square3", Op: "Mul", Inputs: []string{"sg3", "sg3"}, Outputs: []string{"sq3"}},
		{Name: "dropout3", Op: "Dropout", Inputs: []string{"sq3"}, Outputs: []string{"d3"}, Attrs: attrs("ratio", model.FloatAttr(0.5))},
		{Name: "tanh3", Op: "Tanh", Inputs: []string{"d3"}, Outputs: []string{"t3"}},
		{Name: "sub3", Op: "Sub", Inputs: []string{"t3", "rows"}, Outputs: []string{"u3"}},
		{Name: "div3", Op: "Div", Inputs: []string{"u3", "two"}, Outputs: []string{"v3"}},
		{Name: "identity3", Op: "Identity", Inputs: []string{"v3"}, Outputs: []string{"i3"}},
		{Name: "logsoftmax", Op: "LogSoftmax", Inputs: []string{"i3"}, Outputs: []string{"y"}, Attrs: attrs("axis", model.IntAttr(1))},
	}
	m := &model.Model{
		Name: "onnx-style", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs:       []model.ValueInfo{{Name: "x", Shape: []int{-1, 1, 28, 28}}},
		Outputs:      []model.ValueInfo{{Name: "y", Shape: []int{-1, 10}}},
		Nodes:        nodes,
		Initializers: []*model.Tensor{w1, b1, w2, b2, w3, c3, two, rows},
	}
	eval := func(x []float32, batch int) []float32 {
		must := func(y []float32, _ []int, err error) []float32 {
			if err != nil {
				panic(err)
			}
			return y
		}
		h := must(ops.GemmONNX(x, []int{batch, 784}, w1.Data, w1.Shape, b1.Data, b1.Shape, 1, 1, false, true))
		h = ops.Unary(ops.UnaryRelu, h, 0, 0)
		h = must(ops.MatMul(h, []int{batch, 32}, w2.Data, w2.Shape))
		h = must(ops.Binary(ops.Add, h, []int{batch, 16}, b2.Data, b2.Shape))
		h = ops.Unary(ops.UnaryLeakyRelu, h, 0.1, 0)
		h = ops.Unary(ops.UnaryClip, h, -0.5, 3)
		h = must(ops.GemmONNX(h, []int{batch, 16}, w3.Data, w3.Shape, c3.Data, c3.Shape, 0.5, 2, false, false))
		h = ops.Unary(ops.UnarySigmoid, h, 0, 0)
		h = must(ops.Binary(ops.Mul, h, []int{batch, 10}, h, []int{batch, 10}))
		h = ops.Unary(ops.UnaryTanh, h, 0, 0)
		h = must(ops.Binary(ops.Sub, h, []int{batch, 10}, rows.Data, rows.Shape))
		h = must(ops.Binary(ops.Div, h, []int{batch, 10}, two.Data, two.Shape))
		y, err := ops.SoftmaxAxis(h, []int{batch, 10}, 1, true, false)
		if err != nil {
			panic(err)
		}
		return y
	}
	return m, eval
}

// TestONNXStyleModel runs a graph of the ONNX-named ops through the public
// API at several batch sizes (the dynamic batch resolved per run).
func TestONNXStyleModel(t *testing.T) {
	dev := openDevice(t)
	spec, eval := onnxStyle(31)
	require.NoError(t, spec.Validate())
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	r := rand.New(rand.NewSource(32))
	for _, batch := range []int{1, 7, 13, 1} {
		t.Run(fmt.Sprint(batch), func(t *testing.T) {
			x := make([]float32, batch*784)
			for i := range x {
				x[i] = r.Float32()
			}
			out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 1, 28, 28}, Data: x})
			require.NoError(t, err)
			require.Equal(t, []int{batch, 10}, out[0].Shape)
			want := eval(x, batch)
			for i := range want {
				require.InDelta(t, want[i], out[0].Data[i], 1e-5*(1+math.Abs(float64(want[i]))), "batch %d, y[%d]", batch, i)
			}
		})
	}
}
