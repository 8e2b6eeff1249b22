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

// TestShippedCNNIsItsRecipe: each shipped CNN's model file
// (examples/mnist-cnn/mnist-cnn.bin, examples/fashion-cnn/fashion-cnn.bin)
// is byte for byte what the convert command in its README.md ("How it was
// made") writes from the shipped model.onnx, so the file and its documented
// recipe cannot drift apart (a convert change that alters the output, such
// as renaming logits to probs, fails here until the file is regenerated with
// that command).
func TestShippedCNNIsItsRecipe(t *testing.T) {
	for _, name := range []string{"mnist-cnn", "fashion-cnn"} {
		t.Run(name, func(t *testing.T) { checkRecipe(t, name) })
	}
}

func checkRecipe(t *testing.T, name string) {
	dir := "../../examples/" + name
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)go run \./cmd/vkinfer convert (.*?)\n(\x60\x60\x60|go run)`).FindSubmatch(readme)
	require.NotNil(t, m, "no convert command in %s/README.md", dir)
	cmd := strings.ReplaceAll(string(m[1]), "\\\n", " ")
	var args []string
	for _, f := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(cmd, -1) {
		args = append(args, strings.Trim(f, `"`))
	}
	digits := filepath.Join(t.TempDir(), "digits.txt")
	require.NoError(t, os.WriteFile(digits, []byte("0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"), 0o644)) // seq 0 9
	out := filepath.Join(t.TempDir(), name+".bin")
	for i, a := range args {
		switch {
		case a == "digits.txt":
			args[i] = digits
		case strings.HasPrefix(a, "examples/"+name+"/") && !strings.HasSuffix(a, ".bin"):
			args[i] = filepath.Join(dir, strings.TrimPrefix(a, "examples/"+name+"/"))
		case a == "examples/"+name+"/"+name+".bin" || a == "/tmp/"+name+".bin":
			args[i] = out
		}
	}
	code, _, stderr := cli(t, append([]string{"convert"}, args...)...)
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	want, err := os.ReadFile(filepath.Join(dir, name+".bin"))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(got, want), "examples/%s/%s.bin differs from what its README's convert command writes (%d vs %d bytes): regenerate it with that command", name, name, len(want), len(got))
}
