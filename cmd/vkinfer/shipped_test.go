package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShippedCNNIsItsRecipe: examples/mnist-cnn/mnist-cnn.bin is byte for
// byte what the convert command in examples/mnist-cnn/README.md ("How it
// was made") writes from the shipped model.onnx, so the file and its
// documented recipe cannot drift apart (a convert change that alters the
// output, such as renaming logits to probs, fails here until the file is
// regenerated with that command).
func TestShippedCNNIsItsRecipe(t *testing.T) {
	const dir = "../../examples/mnist-cnn"
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)go run \./cmd/vkinfer convert (.*?)\n\x60\x60\x60`).FindSubmatch(readme)
	require.NotNil(t, m, "no convert command in %s/README.md", dir)
	cmd := strings.ReplaceAll(string(m[1]), "\\\n", " ")
	var args []string
	for _, f := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(cmd, -1) {
		args = append(args, strings.Trim(f, `"`))
	}
	labels := filepath.Join(t.TempDir(), "digits.txt")
	require.NoError(t, os.WriteFile(labels, []byte("0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"), 0o644)) // seq 0 9
	out := filepath.Join(t.TempDir(), "mnist-cnn.bin")
	for i, a := range args {
		switch {
		case a == "digits.txt":
			args[i] = labels
		case a == "examples/mnist-cnn/model.onnx":
			args[i] = filepath.Join(dir, "model.onnx")
		case a == "examples/mnist-cnn/mnist-cnn.bin" || a == "/tmp/mnist-cnn.bin":
			args[i] = out
		}
	}
	code, _, stderr := cli(t, append([]string{"convert"}, args...)...)
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, "mnist-cnn.bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(got, want), "examples/mnist-cnn/mnist-cnn.bin differs from what its README's convert command writes (%d vs %d bytes): regenerate it with that command", len(want), len(got))
}
