package vkinfer_test

import (
	"context"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The shipped CNNs (examples/mnist-cnn and examples/fashion-cnn: Conv,
// MaxPool, Dense) classify their sample images on the device (each named
// PREFIX-CLASS-t10k-INDEX.png, CLASS the index of its label), and their
// probabilities match the CPU reference (ops.Run) on the same inputs.
func TestShippedCNN(t *testing.T) {
	dev := openDevice(t)
	for _, c := range []struct{ model, images string }{
		{"examples/mnist-cnn/mnist-cnn.bin", "examples/images/digit-*.png"},
		{"examples/fashion-cnn/fashion-cnn.bin", "examples/fashion-cnn/images/fashion-*.png"},
	} {
		t.Run(filepath.Base(c.model), func(t *testing.T) { checkShippedCNN(t, dev, c.model, c.images) })
	}
}

func checkShippedCNN(t *testing.T, dev *vkinfer.Device, path, glob string) {
	spec, err := model.ReadFile(path)
	require.NoError(t, err)
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	files, err := filepath.Glob(glob)
	require.NoError(t, err)
	require.Len(t, files, 10, "one image per class")
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
		class, err := strconv.Atoi(strings.Split(filepath.Base(p), "-")[1])
		require.NoError(t, err, p)
		require.Less(t, class, len(spec.Labels), p)
		require.Equal(t, spec.Labels[class], top[i][0].Label, "%s: %v", p, top[i])
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
