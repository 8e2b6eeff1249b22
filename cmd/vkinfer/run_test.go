package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func durations(us ...int) []time.Duration {
	ds := make([]time.Duration, len(us))
	for i, u := range us {
		ds[i] = time.Duration(u) * time.Microsecond
	}
	return ds
}

func writeNpyFile(t *testing.T, path string, shape []int, data []float32) {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, npy.Write(&b, shape, data))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

func readNpyFile(t *testing.T, path string) ([]int, []float32) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	shape, data, err := npy.Read(f)
	require.NoError(t, err)
	return shape, data
}

func randomData(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	d := make([]float32, n)
	for i := range d {
		d[i] = r.Float32()*2 - 1
	}
	return d
}

// TestRunNpyRoundTrip: `vkinfer run` gives the same output as Model.Run in
// the test process.
func TestRunNpyRoundTrip(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
	x := vkinfer.Tensor{Shape: []int{7, 784}, Data: randomData(1, 7*784)}
	for i := range x.Data {
		x.Data[i] = (x.Data[i] + 1) / 2 // pixels in [0, 1]
	}
	writeNpyFile(t, in, x.Shape, x.Data)

	stdout := gpuCLI(t, flags, "run", "--model", mnistModel, "--input", "input="+in, "--output", out)
	assert.Equal(t, "probs [7 10] -> "+out+"\n", stdout)
	shape, got := readNpyFile(t, out)
	assert.Equal(t, []int{7, 10}, shape)

	dev, err := vkinfer.Open(vkinfer.Options{Validation: gputest.Validation(), OnMessage: func(sev, msg string) {
		t.Errorf("validation: %s: %s", sev, msg)
	}})
	require.NoError(t, err)
	defer dev.Close()
	m, err := dev.Load(mnistModel)
	require.NoError(t, err)
	defer m.Close()
	want, err := m.Run(context.Background(), x)
	require.NoError(t, err)
	require.Len(t, got, len(want[0].Data))
	for i := range got {
		assert.InDelta(t, want[0].Data[i], got[i], 1e-6, "value %d", i)
	}

	// The same through the CPU reference.
	spec, err := model.ReadFile(mnistModel)
	require.NoError(t, err)
	ref, err := referenceForward(spec, []vkinfer.Tensor{x})
	require.NoError(t, err)
	for i := range got {
		assert.InDelta(t, ref[0].Data[i], got[i], 1e-5, "value %d", i)
	}

	// A shape that does not fit names both shapes.
	writeNpyFile(t, in, []int{2, 700}, make([]float32, 1400))
	code, stdout, stderr := cli(t, append([]string{"run", "--model", mnistModel, "--input", in, "--output", out}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "[-1 784]")
	assert.Contains(t, stderr, "[2 700]")
	assert.Contains(t, stderr, in)
}

// TestRunStreamsBatches: with --batch smaller than the file, run reads the
// .npy a batch at a time (internal/npy.Reader) and joins the outputs: the
// same values as one whole run; a file whose data is cut short fails before
// anything runs, naming the file.
func TestRunStreamsBatches(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	in, whole, parts := filepath.Join(dir, "in.npy"), filepath.Join(dir, "whole.npy"), filepath.Join(dir, "parts.npy")
	x := randomData(9, 7*784)
	writeNpyFile(t, in, []int{7, 784}, x)
	gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in, "--output", whole)
	stdout := gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in, "--output", parts, "--batch", "3")
	assert.Equal(t, "probs [7 10] -> "+parts+"\n", stdout)
	ws, w := readNpyFile(t, whole)
	ps, p := readNpyFile(t, parts)
	assert.Equal(t, ws, ps)
	require.Len(t, p, len(w))
	for i := range w {
		assert.InDelta(t, w[i], p[i], 1e-6, "value %d", i)
	}

	data, err := os.ReadFile(in)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(in, data[:len(data)-4], 0o644))
	code, stdout, stderr := cli(t, append([]string{"run", "--model", mnistModel, "--input", in, "--output", parts, "--batch", "3"}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, in)
	assert.Contains(t, stderr, "truncated")
}

// TestRunTwoOutputs binds inputs and outputs by name.
func TestRunTwoOutputs(t *testing.T) {
	flags := gpu(t)
	two := twoHeads(t)
	dir := t.TempDir()
	a, b := randomData(2, 2*3), randomData(3, 2*5)
	writeNpyFile(t, filepath.Join(dir, "a.npy"), []int{2, 3}, a)
	writeNpyFile(t, filepath.Join(dir, "b.npy"), []int{2, 5}, b)
	rb := filepath.Join(dir, "rb.npy")
	// Inputs in another order than the model's; only one output written.
	stdout := gpuCLI(t, flags, "run", "--model", two, "--input", "b="+filepath.Join(dir, "b.npy"),
		"--input", "a="+filepath.Join(dir, "a.npy"), "--output", "rb="+rb)
	assert.Equal(t, "rb [2 5] -> "+rb+"\n", stdout)
	shape, got := readNpyFile(t, rb)
	assert.Equal(t, []int{2, 5}, shape)
	for i, v := range b {
		assert.Equal(t, float32(math.Max(float64(v), 0)), got[i])
	}
	_, err := os.Stat(filepath.Join(dir, "ra.npy"))
	assert.True(t, os.IsNotExist(err))
}

// TestRunAnyShapeInput: an ONNX input that declares no shape takes the
// shape of its .npy, at two ranks; one the graph cannot take is a clear
// error naming the node.
func TestRunAnyShapeInput(t *testing.T) {
	flags := gpu(t)
	onnxPath := filepath.Join("..", "..", "testdata", "onnxcases", "any_shape_input", "model.onnx")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	spec, err := readModel(onnxPath)
	require.NoError(t, err)
	for _, shape := range [][]int{{3, 12}, {2, 3, 4}} {
		x := randomData(4, 3*12)[:shape[0]*12]
		writeNpyFile(t, in, shape, x)
		stdout := gpuCLI(t, flags, "run", "--model", onnxPath, "--input", in, "--output", "y="+out)
		assert.Equal(t, fmt.Sprintf("y [%d 5] -> %s\n", shape[0], out), stdout)
		gotShape, got := readNpyFile(t, out)
		want, err := referenceForward(spec, []vkinfer.Tensor{{Shape: shape, Data: x}})
		require.NoError(t, err)
		assert.Equal(t, want[1].Shape, gotShape)
		for i := range got {
			assert.InDelta(t, want[1].Data[i], got[i], 1e-5, "x %v: value %d", shape, i)
		}
	}
	writeNpyFile(t, in, []int{2, 7}, make([]float32, 14))
	code, _, stderr := cli(t, append([]string{"run", "--model", onnxPath, "--input", in, "--output", "y=" + out}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "the graph cannot take inputs of shapes [[2 7]]")
	assert.Contains(t, stderr, `"gemm"`)
	assert.Contains(t, stderr, in)
}

func TestReferenceForward(t *testing.T) {
	// y = softmax(relu(x·Wᵀ + b)) on a 2×3 input, by hand.
	m := &model.Model{
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}},
		Outputs: []model.ValueInfo{{Name: "p", Shape: []int{-1, 2}}},
		Initializers: []*model.Tensor{
			{Name: "w", Shape: []int{2, 3}, Data: []float32{1, 0, -1, 0.5, 0.5, 0.5}},
			{Name: "b", Shape: []int{2}, Data: []float32{0, -1}},
		},
		Nodes: []model.Node{
			{Name: "fc", Op: ops.OpDense, Inputs: []string{"x", "w", "b"}, Outputs: []string{"h"},
				Attrs: map[string]model.Attr{ops.AttrActivation: model.StringAttr(ops.ActivationRelu)}},
			{Name: "sm", Op: ops.OpSoftmax, Inputs: []string{"h"}, Outputs: []string{"p"}},
		},
	}
	x := vkinfer.Tensor{Shape: []int{2, 3}, Data: []float32{1, 2, 3, 3, 2, 1}}
	outs, err := referenceForward(m, []vkinfer.Tensor{x})
	require.NoError(t, err)
	// Row 0: h = relu(1-3, 3-1) = (0, 2); row 1: h = relu(3-1, 3-1) = (2, 2).
	e := math.Exp(2)
	want := []float64{1 / (1 + e), e / (1 + e), 0.5, 0.5}
	require.Equal(t, []int{2, 2}, outs[0].Shape)
	for i, w := range want {
		assert.InDelta(t, w, outs[0].Data[i], 1e-6)
	}

	// Softmax over the batch axis: each column sums to 1.
	m.Nodes[1].Attrs = map[string]model.Attr{ops.AttrAxis: model.IntAttr(0)}
	outs, err = referenceForward(m, []vkinfer.Tensor{x})
	require.NoError(t, err)
	assert.InDelta(t, 1, outs[0].Data[0]+outs[0].Data[2], 1e-6)
	assert.InDelta(t, 1/(1+e), outs[0].Data[0], 1e-6)
	assert.InDelta(t, 0.5, outs[0].Data[1], 1e-6)
}

func TestIdxInputMatchesFromImage(t *testing.T) {
	// Two 28×28 images; the second one's pixels are its index.
	pix := make([]uint8, 2*28*28)
	for i := range 28 * 28 {
		pix[28*28+i] = uint8(i)
	}
	spec := &model.InputSpec{Color: model.Gray, Width: 28, Height: 28, Layout: model.LayoutNCHW, Scale: 1.0 / 255}
	v, err := idxInput(spec, pix, 28, 28, 1)
	require.NoError(t, err)
	for i := range v {
		assert.InDelta(t, float32(uint8(i))/255, v[i], 1e-7)
	}
	small := &model.InputSpec{Color: model.Gray, Width: 8, Height: 8, Layout: model.LayoutNCHW, Scale: 1, Invert: true}
	v, err = idxInput(small, pix, 28, 28, 0)
	require.NoError(t, err)
	require.Len(t, v, 64)
	for _, x := range v {
		assert.InDelta(t, 255, x, 1e-4) // inverted black
	}
}
