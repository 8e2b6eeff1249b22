package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

func TestOpenAndInfo(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	info := d.Info()
	t.Logf("device: %s", info)
	require.NotEmpty(t, info.Name)
	require.NotZero(t, info.Limits.MaxComputeWorkGroupInvocations)
	require.NotZero(t, info.Limits.MaxStorageBufferRange)
	require.NotZero(t, info.SubgroupSize)
	require.NotEmpty(t, info.Heaps)
}

func TestRelu(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	p, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
	require.NoError(t, err)
	x, err := d.NewBuffer(engine.Activations, 4*100)
	require.NoError(t, err)
	y, err := d.NewBuffer(engine.Activations, 4*100)
	require.NoError(t, err)
	rec := d.NewRecorder()
	require.NoError(t, rec.Input(x))
	require.NoError(t, rec.Dispatch(p, []*engine.Buffer{x, y}, []uint32{100}, d.Grid(p, 100)))
	require.NoError(t, rec.Output(y))
	prog, err := rec.Finish()
	require.NoError(t, err)
	defer prog.Close()
	in := make([]float32, 100)
	for i := range in {
		in[i] = float32(i - 50)
	}
	out := make([]float32, 100)
	require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: x, Data: in}}, []engine.IO{{Buf: y, Data: out}}))
	for i := range in {
		want := in[i]
		if want < 0 {
			want = 0
		}
		require.Equal(t, want, out[i], "element %d", i)
	}
}
