package engine

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/spirv"
)

// Every committed shader, with SignedZeroInfNanPreserve declared, is valid
// SPIR-V for Vulkan 1.2 (spirv-val from spirv-tools; CI installs it), and
// declaring it twice changes nothing.
func TestDeclarePreserveValid(t *testing.T) {
	val, err := exec.LookPath("spirv-val")
	if err != nil {
		t.Skip("spirv-val not installed (apt-get install spirv-tools)")
	}
	dir := t.TempDir()
	for _, name := range spirv.Names() {
		sh, err := spirv.Lookup(name)
		require.NoError(t, err)
		words, err := declarePreserve(sh.Words())
		require.NoError(t, err, name)
		require.Greater(t, len(words), len(sh.Words()), name)
		again, err := declarePreserve(words)
		require.NoError(t, err)
		require.Equal(t, words, again, "%s: declared twice", name)
		raw := make([]byte, 4*len(words))
		for i, w := range words {
			binary.LittleEndian.PutUint32(raw[4*i:], w)
		}
		path := filepath.Join(dir, name+".spv")
		require.NoError(t, os.WriteFile(path, raw, 0o644))
		out, err := exec.Command(val, "--target-env", "vulkan1.2", path).CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
		if dis, err := exec.LookPath("spirv-dis"); err == nil && name == "relu" {
			out, err := exec.Command(dis, path).CombinedOutput()
			require.NoError(t, err)
			require.Contains(t, string(out), "OpExecutionMode %main SignedZeroInfNanPreserve 32")
			require.Contains(t, string(out), `OpExtension "SPV_KHR_float_controls"`)
		}
	}
	_, err = declarePreserve([]uint32{1, 2, 3})
	require.Error(t, err)
}

// The engine declares the mode on devices that promise it (both CPU drivers
// do) and reports it in DeviceInfo; the validation layer accepts the
// modules (openInternal with validation).
func TestPreserveDeclared(t *testing.T) {
	var msgs []string
	d := openInternal(t, Options{Validation: true, OnMessage: func(sev, msg string) { msgs = append(msgs, msg) }})
	t.Logf("%s: SignedZeroInfNanPreserve=%v", d.info.Name, d.info.SignedZeroInfNanPreserve)
	for _, name := range []string{"relu", "gemm", "softmax", "unary", "binary"} {
		p, err := d.Pipeline(name, nil)
		require.NoError(t, err)
		require.NoError(t, p.Wait())
	}
	require.Empty(t, msgs)
}
