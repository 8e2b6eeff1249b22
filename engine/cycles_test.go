package engine_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// Opening a device, compiling a pipeline and closing the device, again and
// again, leaves no file descriptor behind (SwiftShader leaked its JIT memfd
// on every cycle while the loader unloaded it between instances).
// ./build.sh soak measures the same over many cycles, with memory.
func TestDeviceCyclesLeakNoDescriptors(t *testing.T) {
	cycle := func(i int) {
		d := gputest.Open(t, engine.Options{PipelineCacheDir: "-"})
		p, err := d.Pipeline("relu", engine.Spec{"local_size_x": uint32(32 + i)})
		require.NoError(t, err)
		require.NoError(t, p.Wait())
		require.NoError(t, d.Close())
	}
	cycle(0) // drivers and the pin instance load once
	before := openFDs(t)
	for i := 1; i <= 5; i++ {
		cycle(i)
	}
	require.Equal(t, before, openFDs(t), "file descriptors leaked by 5 device cycles")
}
