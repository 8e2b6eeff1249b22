package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/spirv"
)

func TestDeviceDurations(t *testing.T) {
	// 64 valid bits, 1 ns ticks.
	require.Equal(t, []time.Duration{5, 0, 10}, deviceDurations([]uint64{100, 105, 105, 115}, 64, 1))
	// Out of order (a driver bug) counts as 0, not as a huge duration.
	require.Equal(t, []time.Duration{0, 7}, deviceDurations([]uint64{100, 90, 97}, 64, 1))
	// 36 valid bits: the counter wraps; high garbage bits are ignored.
	const top = 1<<36 - 2
	require.Equal(t, []time.Duration{5, 3}, deviceDurations([]uint64{top, 3 | 0xff<<40, 6}, 36, 1))
	// Ticks of 52.08 ns (an Intel period).
	require.Equal(t, []time.Duration{5208}, deviceDurations([]uint64{0, 100}, 64, 52.08))
}

func TestSegments(t *testing.T) {
	pipe := func(name string) *Pipeline {
		return &Pipeline{k: &kernel{shader: &spirv.Shader{Name: name}}}
	}
	relu, softmax := pipe("relu"), pipe("softmax")
	ops := []op{
		{kind: opCopy, step: stepUpload},
		{kind: opDispatch, step: stepNone, pipe: relu},
		{kind: opDispatch, step: 0, pipe: relu}, {kind: opCopy, step: 0},
		{kind: opDispatch, step: 2, pipe: softmax}, {kind: opDispatch, step: 2, pipe: relu}, {kind: opDispatch, step: 2, pipe: softmax},
		{kind: opCopy, step: stepDownload}, {kind: opCopy, step: stepDownload},
	}
	segs := segments(ops, []string{"a", "b", "c", "d"})
	require.Equal(t, []segment{
		{name: "(upload inputs)", step: -1, lo: 0, hi: 1, copies: 1},
		{name: "(unnamed)", step: -1, lo: 1, hi: 2, dispatches: 1, kernels: []string{"relu"}},
		{name: "a", step: 0, lo: 2, hi: 4, dispatches: 1, copies: 1, kernels: []string{"relu"}},
		{name: "b", step: 1, lo: 4, hi: 4},
		{name: "c", step: 2, lo: 4, hi: 7, dispatches: 3, kernels: []string{"softmax", "relu"}},
		{name: "d", step: 3, lo: 7, hi: 7},
		{name: "(download outputs)", step: -1, lo: 7, hi: 9, copies: 2},
	}, segs)
	require.Empty(t, segments(nil, nil))
}
