package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/spirv"
)

// specOf maps the named constants of shader name to their SpecIds.
func specOf(t *testing.T, name string, named map[string]uint32) (*spirv.Shader, map[uint32]uint32) {
	t.Helper()
	sh, err := spirv.Lookup(name)
	require.NoError(t, err)
	out := map[uint32]uint32{}
	for _, sc := range sh.SpecConstants {
		out[sc.ID] = sc.Default
		if v, ok := named[sc.Name]; ok {
			out[sc.ID] = v
		}
	}
	return sh, out
}

// The evaluator reproduces each kernel's documented shared-memory formula
// from its SPIR-V, spec constants included (array lengths that are
// expressions of them, and gl_WorkGroupSize).
func TestSharedBytes(t *testing.T) {
	cases := []struct {
		shader string
		spec   map[string]uint32
		want   uint64
	}{
		{"relu", nil, 0},
		// gemm_tiled.glsl: 16 * BK * (BM/4 + 1 + BN/4 + 1)
		{"gemm_tiled", map[string]uint32{"BM": 128, "BN": 128, "BK": 16}, 16 * 16 * (33 + 33)},
		{"gemm_tiled", map[string]uint32{"BM": 64, "BN": 32, "BK": 8}, 16 * 8 * (17 + 9)},
		// gemm_gemv.glsl: 16 * local_size_x * MR
		{"gemm_gemv", map[string]uint32{"local_size_x": 64, "MR": 3}, 16 * 64 * 3},
		// dense_chain.glsl: vec4 act[2*ACT4], red[RED4]
		{"dense_chain", map[string]uint32{"ACT4": 100, "RED4": 7}, 16 * (200 + 7)},
		// softmax.comp: three arrays of gl_WorkGroupSize.x 32-bit values
		{"softmax", map[string]uint32{"local_size_x": 32}, 3 * 4 * 32},
	}
	for _, c := range cases {
		sh, spec := specOf(t, c.shader, c.spec)
		got, known, err := sharedBytes(sh.Words(), spec)
		require.NoError(t, err)
		require.True(t, known, c.shader)
		require.Equal(t, c.want, got, "%s %v", c.shader, c.spec)
	}
}

// A pipeline over the (clamped) shared-memory limit is refused before the
// driver sees it.
func TestSharedMemoryLimit(t *testing.T) {
	native := openInternal(t, Options{Limits: LimitsNative})
	d := openInternal(t, Options{Limits: LimitsMin})
	big := Spec{"BM": 128, "BN": 128, "BK": 16, "WM": 64, "WN": 64, "TM": 8, "TN": 8, "local_size_x": 64} // 16.5 KiB
	if native.info.Limits.MaxComputeSharedMemorySize >= 16896 {
		p, err := native.Pipeline("gemm_tiled", big)
		require.NoError(t, err)
		require.NoError(t, p.Wait())
	}
	_, err := d.Pipeline("gemm_tiled", big)
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "16896 B of shared memory")
	small := Spec{"BM": 64, "BN": 64, "BK": 16, "WM": 32, "WN": 32, "TM": 8, "TN": 8, "local_size_x": 64}
	p, err := d.Pipeline("gemm_tiled", small)
	require.NoError(t, err)
	require.NoError(t, p.Wait())
}
