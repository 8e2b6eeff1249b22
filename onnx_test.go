package vkinfer_test

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx"
	"github.com/vkinfer/vkinfer/ops"
)

// gonnxMLP is PyTorch's Linear(3,5)-ReLU-Linear(5,2) exported to ONNX
// (opset 13, input [batch_size, 3]) as shipped by gonnx v1.1.0.
const gonnxMLP = "model/onnx/testdata/mlp.onnx"

// forward runs an imported model on the CPU with package ops (ops.Run).
func forward(t *testing.T, m *model.Model, x []float32, batch int) []float32 {
	t.Helper()
	outs, err := ops.Run(m, ops.F32([]int{batch, len(x) / batch}, x))
	if err != nil {
		t.Fatal(err)
	}
	return outs[0].Data
}

// An ONNX model with a dynamic batch loads through Device.Load and
// LoadReader and runs at several batch sizes without reloading; the
// Gemm+Relu pairs run as fused Dense dispatches.
func TestLoadONNX(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.Load(gonnxMLP)
	require.NoError(t, err)
	defer m.Close()
	spec := m.Spec()
	require.Equal(t, []model.ValueInfo{{Name: "data_input", Shape: []int{-1, 3}}}, spec.Inputs)

	// gonnx's own expectation for this file (model_test.go, TestModel).
	out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}})
	require.NoError(t, err)
	require.Equal(t, []int{2, 2}, out[0].Shape)
	require.InDeltaSlice(t, []float32{-0.056310713, -1.1901507, -1.5961288, -3.3445296}, out[0].Data, 1e-5)

	r := rand.New(rand.NewSource(3))
	for _, batch := range []int{1, 4, 7, 4} {
		x := make([]float32, batch*3)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 3}, Data: x})
		require.NoError(t, err)
		require.Equal(t, []int{batch, 2}, out[0].Shape)
		require.InDeltaSlice(t, forward(t, spec, x, batch), out[0].Data, 1e-5, "batch %d", batch)
	}

	data, err := os.ReadFile(gonnxMLP)
	require.NoError(t, err)
	m2, err := dev.LoadReader(bytes.NewReader(data))
	require.NoError(t, err)
	defer m2.Close()
	out2, err := m2.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 3}, Data: []float32{0, 1, 2, 3, 4, 5}})
	require.NoError(t, err)
	require.InDeltaSlice(t, []float32{-0.056310713, -1.1901507, -1.5961288, -3.3445296}, out2[0].Data, 1e-5)
}

// A file that is neither format says so, wrapping both sentinels; an ONNX
// model with ops no layer runs fails at load, naming every such node.
func TestLoadNeither(t *testing.T) {
	dev := openDevice(t)
	p := filepath.Join(t.TempDir(), "notes.txt")
	require.NoError(t, os.WriteFile(p, []byte("these are not weights\n"), 0o644))
	_, err := dev.Load(p)
	require.ErrorIs(t, err, model.ErrNotModel)
	require.ErrorIs(t, err, onnx.ErrFormat)
	require.ErrorContains(t, err, "neither an mlp.bin")
	_, err = dev.LoadReader(bytes.NewReader([]byte("VKINFER")))
	require.ErrorContains(t, err, "neither an mlp.bin")

	spec, err := onnx.ReadFile(gonnxMLP)
	require.NoError(t, err)
	spec.Nodes[1].Op = "Mish"
	spec.Nodes[2].Op = "com.example.Thing"
	_, err = dev.LoadModel(spec)
	require.ErrorIs(t, err, vkinfer.ErrUnsupportedOp)
	require.ErrorContains(t, err, spec.Nodes[1].Name+" (Mish)")
	require.ErrorContains(t, err, spec.Nodes[2].Name+" (com.example.Thing)")
}
