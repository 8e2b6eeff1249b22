package vkinfer_test

import (
	"context"
	"math/rand"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// A batch split into runs (forced by a small limit) gives what the
// reference gives, for awkward batch sizes and limits, and the limit stays.
func TestRunSplitsBatch(t *testing.T) {
	dev := openDevice(t)
	spec := mlp(11, 13, 127, 10)
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	r := rand.New(rand.NewSource(12))
	for _, tc := range []struct{ batch, limit int }{{7, 1}, {13, 4}, {127, 64}, {257, 127}, {1, 1}, {64, 64}} {
		vkinfer.SetBatchLimit(m, tc.limit)
		x := make([]float32, tc.batch*13)
		for i := range x {
			x[i] = r.Float32()*2 - 1
		}
		out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{tc.batch, 13}, Data: x})
		require.NoError(t, err)
		require.Equal(t, []int{tc.batch, 10}, out[0].Shape)
		require.Len(t, out[0].Data, tc.batch*10)
		want := reference(spec, x, tc.batch)
		for i := range want {
			require.InDelta(t, want[i], out[0].Data[i], 1e-5, "batch %d limit %d, [%d]", tc.batch, tc.limit, i)
		}
		require.Equal(t, tc.limit, vkinfer.BatchLimit(m))
	}
}

// reluPair is a model of two inputs [-1, a] and [-1, b], each through Relu.
func reluPair(a, b int) *model.Model {
	return &model.Model{
		Name: "relu-pair", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs:  []model.ValueInfo{{Name: "a", Shape: []int{-1, a}}, {Name: "b", Shape: []int{-1, b}}},
		Outputs: []model.ValueInfo{{Name: "ra", Shape: []int{-1, a}}, {Name: "rb", Shape: []int{-1, b}}},
		Nodes: []model.Node{
			{Name: "relu_a", Op: ops.OpRelu, Inputs: []string{"a"}, Outputs: []string{"ra"}},
			{Name: "relu_b", Op: ops.OpRelu, Inputs: []string{"b"}, Outputs: []string{"rb"}},
		},
	}
}

func relu(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = max(v, 0)
	}
	return y
}

// Every input is split at the same rows and every output joined.
func TestRunSplitsEveryInput(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(reluPair(3, 5))
	require.NoError(t, err)
	defer m.Close()
	vkinfer.SetBatchLimit(m, 3)
	r := rand.New(rand.NewSource(13))
	const n = 8
	a, b := make([]float32, n*3), make([]float32, n*5)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	for i := range b {
		b[i] = r.Float32()*2 - 1
	}
	out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{n, 3}, Data: a}, vkinfer.Tensor{Shape: []int{n, 5}, Data: b})
	require.NoError(t, err)
	require.Equal(t, []int{n, 3}, out[0].Shape)
	require.Equal(t, []int{n, 5}, out[1].Shape)
	require.Equal(t, relu(a), out[0].Data)
	require.Equal(t, relu(b), out[1].Data)
}

// A batch whose tensors exceed the device's maxStorageBufferRange is split
// by Run itself (no hook): the run size halves until it fits. Needs a
// device whose range is at most 128 MiB (lavapipe, or VKINFER_LIMITS=min),
// so the test data stay small.
func TestRunSplitsBatchOverDeviceLimit(t *testing.T) {
	dev := openDevice(t)
	limit := int(dev.Info().Limits.MaxStorageBufferRange)
	if limit > 1<<27 {
		t.Skipf("%s binds %d B per buffer; this test needs a range of at most 128 MiB (lavapipe, or VKINFER_LIMITS=min)", dev.Info().Name, limit)
	}
	const width = 1 << 16 // 256 KiB a row
	rows := limit/(4*width) + 3
	m, err := dev.LoadModel(reluPair(width, 1))
	require.NoError(t, err)
	defer m.Close()
	a, b := make([]float32, rows*width), make([]float32, rows)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%3) - 1
	}
	out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{rows, width}, Data: a}, vkinfer.Tensor{Shape: []int{rows, 1}, Data: b})
	require.NoError(t, err)
	require.Equal(t, []int{rows, width}, out[0].Shape)
	require.Equal(t, relu(a), out[0].Data)
	require.Equal(t, relu(b), out[1].Data)
	got := vkinfer.BatchLimit(m)
	require.Greater(t, got, 0, "the batch should have been split")
	require.LessOrEqual(t, got*4*width, limit)

	// A fixed batch dimension cannot be split: the engine's error comes back.
	fixed := reluPair(width, 1)
	fixed.Inputs[0].Shape[0], fixed.Outputs[0].Shape[0] = rows, rows
	fm, err := dev.LoadModel(fixed)
	require.NoError(t, err)
	defer fm.Close()
	_, err = fm.Run(context.Background(), vkinfer.Tensor{Shape: []int{rows, width}, Data: a}, vkinfer.Tensor{Shape: []int{rows, 1}, Data: b})
	require.ErrorIs(t, err, engine.ErrTooLarge)
	require.ErrorContains(t, err, "maxStorageBufferRange")
}

// Errors after Close say what was closed; a wrong shape or length says
// what to do.
func TestClosedAndShapeMessages(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(mlp(1, 8, 4))
	require.NoError(t, err)
	fixed := mlp(2, 8, 4)
	fixed.Inputs[0].Shape[0] = 1
	fm, err := dev.LoadModel(fixed)
	require.NoError(t, err)
	_, err = fm.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 8}, Data: make([]float32, 16)})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	require.ErrorContains(t, err, `first (batch) dimension is fixed at 1: export it with a dynamic batch, e.g. torch.onnx.export(..., dynamic_axes={"x": {0: "batch"}})`)
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 8}, Data: make([]float32, 56)})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	require.ErrorContains(t, err, `input "x": shape [2 8] needs 16 values, but Data holds 56`)

	require.NoError(t, fm.Close())
	_, err = fm.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 8}, Data: make([]float32, 8)})
	require.ErrorIs(t, err, vkinfer.ErrClosed)
	require.ErrorContains(t, err, "the Model was closed")

	dev.Close()
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 8}, Data: make([]float32, 8)})
	require.ErrorIs(t, err, vkinfer.ErrClosed)
	require.ErrorContains(t, err, "the Device was closed, which closes its models")
	_, err = dev.LoadModel(mlp(3, 8, 4))
	require.ErrorIs(t, err, vkinfer.ErrClosed)
	require.ErrorContains(t, err, "the Device was closed")
}
