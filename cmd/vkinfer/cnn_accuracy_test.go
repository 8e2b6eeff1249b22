package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	mnistCNNModel   = "../../examples/mnist-cnn/mnist-cnn.bin"
	fashionCNNModel = "../../examples/fashion-cnn/fashion-cnn.bin"
	// fashionDataDir is where Debian's dataset-fashion-mnist package
	// (installed by ./build.sh deps) puts the Fashion-MNIST IDX files.
	fashionDataDir = "/usr/share/datasets/fashion-mnist"
)

// fashionData returns Fashion-MNIST's t10k IDX files; without them the
// test is skipped, or fails where a device is required (CI), which
// installs them.
func fashionData(t *testing.T) (images, labels string) {
	t.Helper()
	images = filepath.Join(fashionDataDir, "t10k-images-idx3-ubyte.gz")
	labels = filepath.Join(fashionDataDir, "t10k-labels-idx1-ubyte.gz")
	if _, err := os.Stat(images); err != nil {
		msg := "Fashion-MNIST not found (install Debian's dataset-fashion-mnist: ./build.sh deps): " + err.Error()
		if os.Getenv("VKINFER_REQUIRE_DEVICE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return images, labels
}

// The shipped CNNs reach the accuracy their READMEs claim on all 10,000
// test images, run on the device through `vkinfer eval`: mnist-cnn >= 99.0 %
// on MNIST t10k (issue 12), fashion-cnn >= 90.0 % on Fashion-MNIST t10k.
func TestShippedCNNAccuracy(t *testing.T) {
	flags := gpu(t)
	mi, ml := mnistData(t)
	fi, fl := fashionData(t)
	for _, c := range []struct {
		model, images, labels string
		min                   float64
	}{
		{mnistCNNModel, mi, ml, 0.990},
		{fashionCNNModel, fi, fl, 0.900},
	} {
		t.Run(filepath.Base(c.model), func(t *testing.T) {
			stdout := gpuCLI(t, flags, "eval", "--model", c.model, "--images", c.images, "--labels", c.labels,
				"--batch", "500", "--json")
			var res evalResult
			require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
			require.Equal(t, 10000, res.Count)
			assert.GreaterOrEqual(t, res.Accuracy, c.min)
			t.Logf("%s: accuracy %.2f%% on %d images", c.model, 100*res.Accuracy, res.Count)
		})
	}
}
