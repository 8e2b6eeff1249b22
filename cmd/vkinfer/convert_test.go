package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
)

// onnxModel is PyTorch's Linear(3,5)-ReLU-Linear(5,2) exported with a
// dynamic batch (gonnx's sample, see model/onnx/testdata/README.md).
const onnxModel = "../../model/onnx/testdata/mlp.onnx"

// TestConvert turns the ONNX model into an mlp.bin with labels and an input
// spec from flags; info reads both files the same way.
func TestConvert(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1") // convert and info need no Vulkan
	dir := t.TempDir()
	labels := filepath.Join(dir, "labels.txt")
	require.NoError(t, os.WriteFile(labels, []byte("cat\r\ndog\n\n"), 0o644))
	out := filepath.Join(dir, "mlp.bin")
	code, stdout, stderr := cli(t, "convert", onnxModel, out, "--labels", labels, "--name", "tiny", "--image", "3x1", "--scale", "1")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, "wrote "+out+": \"tiny\", 3 nodes (Dense, Relu), 32 parameters\n", stdout)

	m, err := model.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "tiny", m.Name)
	assert.Equal(t, []string{"cat", "dog"}, m.Labels)
	require.NotNil(t, m.Input)
	assert.Equal(t, model.InputSpec{Color: model.Gray, Width: 3, Height: 1, Layout: model.LayoutNCHW, Scale: 1}, *m.Input)
	assert.Equal(t, []model.ValueInfo{{Name: "data_input", Shape: []int{-1, 3}}}, m.Inputs)

	// Without flags: no labels, no input spec, the graph's name.
	plain := filepath.Join(dir, "plain.bin")
	code, _, stderr = cli(t, "convert", onnxModel, plain)
	require.Equal(t, exitOK, code, stderr)
	p, err := model.ReadFile(plain)
	require.NoError(t, err)
	assert.Nil(t, p.Input)
	assert.Empty(t, p.Labels)
	assert.Equal(t, "torch-jit-export", p.Name)

	for _, f := range []string{onnxModel, out} {
		code, stdout, stderr = cli(t, "info", f)
		require.Equal(t, exitOK, code, stderr)
		assert.Contains(t, stdout, "inputs      data_input [-1 3] (-1: any size)")
		assert.Contains(t, stdout, "Dense  data_input -> 5  layer1.weight [5 3], layer1.bias [5]")
	}
}

func TestConvertErrors(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.bin")
	text := filepath.Join(dir, "notes.onnx")
	require.NoError(t, os.WriteFile(text, []byte("not a model at all\n"), 0o644))
	three := filepath.Join(dir, "three.txt")
	require.NoError(t, os.WriteFile(three, []byte("a\nb\nc\n"), 0o644))
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{onnxModel}, exitUsage, "convert takes an input and an output file"},
		{[]string{onnxModel, out, "--color", "rgb"}, exitUsage, "--color needs --image"},
		{[]string{onnxModel, out, "--image", "28"}, exitUsage, "--image takes WIDTHxHEIGHT"},
		{[]string{onnxModel, out, "--image", "3x1", "--mean", "0.5,0.5"}, exitUsage, "one value per channel"},
		{[]string{onnxModel, out, "--image", "2x2"}, exitError, "input spec makes 4 values per image"},
		{[]string{onnxModel, out, "--labels", three}, exitError, "3 labels for output"},
		{[]string{onnxModel, out, "--labels", filepath.Join(dir, "missing.txt")}, exitError, "no such file"},
		{[]string{text, out}, exitError, "not an ONNX model"},
		{[]string{filepath.Join(dir, "missing.onnx"), out}, exitError, "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"convert"}, tt.args...)...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
			assert.NotContains(t, stderr, " onnx: ") // no package prefix in the middle
		})
	}
	_, err := os.Stat(out)
	assert.ErrorIs(t, err, os.ErrNotExist, "a failed convert wrote its output")

	// The output is the input itself, under another name: refused, the
	// model left as it was.
	src := filepath.Join(dir, "same.onnx")
	data, err := os.ReadFile(onnxModel)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(src, data, 0o644))
	link := filepath.Join(dir, "link.onnx")
	require.NoError(t, os.Symlink(src, link))
	for _, o := range []string{src, link} {
		code, _, stderr := cli(t, "convert", src, o)
		assert.Equal(t, exitUsage, code)
		assert.Contains(t, stderr, "would destroy the model")
		got, err := os.ReadFile(src)
		require.NoError(t, err)
		assert.Equal(t, data, got, "convert onto its input changed the input")
	}
}

// TestRunONNX: `vkinfer run --model x.onnx` at two batch sizes gives what
// the CPU reference computes from the imported graph.
func TestRunONNX(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "out.npy")
	spec, err := readModel(onnxModel)
	require.NoError(t, err)
	for _, batch := range []int{1, 5} {
		x := vkinfer.Tensor{Shape: []int{batch, 3}, Data: randomData(uint64(batch), batch*3)}
		writeNpyFile(t, in, x.Shape, x.Data)
		gpuCLI(t, flags, "run", "--model", onnxModel, "--input", in, "--output", out)
		shape, got := readNpyFile(t, out)
		assert.Equal(t, []int{batch, 2}, shape)
		want, err := referenceForward(spec, []vkinfer.Tensor{x})
		require.NoError(t, err)
		assert.InDeltaSlice(t, want[0].Data, got, 1e-5)
	}
}
