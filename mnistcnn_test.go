package vkinfer_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The shipped CNN (examples/mnist-cnn: Conv, MaxPool, Dense) classifies the
// shipped digits on the device, and its probabilities match the CPU
// reference (ops.Run) on the same inputs.
func TestShippedCNN(t *testing.T) {
	dev := openDevice(t)
	spec, err := model.ReadFile("examples/mnist-cnn/mnist-cnn.bin")
	require.NoError(t, err)
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	files, err := filepath.Glob("examples/images/digit-*.png")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var imgs []image.Image
	var x []float32
	for _, p := range files {
		r, err := os.Open(p)
		require.NoError(t, err)
		img, err := png.Decode(r)
		r.Close()
		require.NoError(t, err)
		imgs = append(imgs, img)
		v, err := spec.Input.FromImage(img)
		require.NoError(t, err)
		x = append(x, v...)
	}
	top, err := m.Classify(context.Background(), imgs, 3)
	require.NoError(t, err)
	for i, p := range files {
		want := strings.Split(filepath.Base(p), "-")[1]
		require.Equal(t, want, top[i][0].Label, "%s: %v", p, top[i])
	}
	shape := []int{len(imgs), 1, 28, 28}
	got, err := m.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
	require.NoError(t, err)
	want, err := ops.Run(spec, ops.F32(shape, x))
	require.NoError(t, err)
	require.Len(t, got[0].Data, len(want[0].Data))
	for i, w := range want[0].Data {
		require.InDelta(t, w, got[0].Data[i], 1e-5, "probability %d", i)
	}
}
