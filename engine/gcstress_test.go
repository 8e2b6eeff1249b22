package engine_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// The Go binding frees the C copies of slice arguments from finalizers,
// which can run before or during the call. Every such call goes through the
// shim now; this test creates pipelines, writes descriptors and records
// barriers and copies while the collector runs non-stop, which crashed the
// process (SIGSEGV in vkCreateComputePipelines) before.
func TestCallsSurviveGC(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		for !stop.Load() {
			runtime.GC()
		}
		close(done)
	}()
	defer func() { stop.Store(true); <-done }()
	x, err := d.NewBuffer(engine.Activations, 4*64)
	require.NoError(t, err)
	y, err := d.NewBuffer(engine.Activations, 4*64)
	require.NoError(t, err)
	for i := 0; i < 24; i++ {
		p, err := d.Pipeline("relu", engine.Spec{"local_size_x": uint32(1 + i)})
		require.NoError(t, err)
		rec := d.NewRecorder()
		require.NoError(t, rec.Input(x))
		require.NoError(t, rec.Dispatch(p, []*engine.Buffer{x, y}, []uint32{64}, d.Grid(p, 64)))
		require.NoError(t, rec.Dispatch(p, []*engine.Buffer{y, x}, []uint32{64}, d.Grid(p, 64)))
		require.NoError(t, rec.Output(x))
		prog, err := rec.Finish()
		require.NoError(t, err)
		require.NoError(t, prog.Run(context.Background(), nil, nil))
		prog.Close()
		_, err = engine.ListDevices()
		require.NoError(t, err)
	}
}
