package engine

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// Pipelines compile in the background: concurrent requests for one pipeline
// share one compilation, a driver failure reaches Wait and the Recorder's
// Finish with the pipeline named and the sentinel kept, and a failed
// pipeline is not cached, so asking again compiles it again.
func TestPipelineBackgroundCompile(t *testing.T) {
	d := openInternal(t, Options{PipelineCacheDir: "-"})
	var calls atomic.Int64
	fail := atomic.Bool{}
	real := d.pipes.create
	d.pipes.mu.Lock()
	d.pipes.create = func(c vk.PipelineCache, m vk.ShaderModule, l vk.PipelineLayout, s []vk.Specialization) (vk.Pipeline, error) {
		calls.Add(1)
		if fail.Load() {
			return vk.Pipeline{}, &vk.Error{Op: "vkCreateComputePipelines", Result: int32(vk.ErrorOutOfDeviceMemory)}
		}
		return real(c, m, l, s)
	}
	d.pipes.mu.Unlock()

	// Eight goroutines ask for the same pipeline at once: one compilation.
	var wg sync.WaitGroup
	got := make([]*Pipeline, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := d.Pipeline("relu", Spec{"local_size_x": 32})
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = p
		}()
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] {
			t.Fatal("concurrent requests got different pipelines")
		}
	}
	if err := got[0].Wait(); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d compilations of one pipeline", n)
	}

	fail.Store(true)
	p, err := d.Pipeline("relu", Spec{"local_size_x": 16})
	if err != nil {
		t.Fatalf("Pipeline reported the background failure early: %v", err)
	}
	x, err := d.NewBuffer(Activations, 4*64)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	rec := d.NewRecorder()
	if err := rec.Dispatch(p, []*Buffer{x, x}, []uint32{64}, d.Grid(p, 64)); err != nil {
		t.Fatal(err)
	}
	_, err = rec.Finish()
	if !errors.Is(err, ErrOutOfDeviceMemory) || err.Error() != p.Wait().Error() {
		t.Fatalf("Finish: %v, want the pipeline's error wrapping ErrOutOfDeviceMemory", err)
	}
	if want := "create pipeline relu local_size_x=16"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the pipeline (%q)", err, want)
	}

	fail.Store(false)
	again, err := d.Pipeline("relu", Spec{"local_size_x": 16})
	if err != nil {
		t.Fatal(err)
	}
	if again == p {
		t.Fatal("a failed pipeline stayed in the cache")
	}
	if err := again.Wait(); err != nil {
		t.Fatalf("retry after a failure: %v", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("%d compilations, want 3 (one, one failed, its retry)", n)
	}
}

// Close while other goroutines keep asking for new pipelines: every request
// either gets a pipeline that compiled before Close or ErrClosed, none
// touches the destroyed device, and Close returns.
func TestConcurrentCloseWhileCompiling(t *testing.T) {
	d := openInternal(t, Options{PipelineCacheDir: "-"})
	var wg sync.WaitGroup
	var made atomic.Int64
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint32(1); ; i++ {
				p, err := d.Pipeline("relu", Spec{"local_size_x": 1 + (uint32(g)*1000+i)%d.Info().Limits.MaxComputeWorkGroupInvocations})
				if err == nil {
					err = p.Wait()
				}
				if err != nil {
					errs <- err
					return
				}
				made.Add(1)
			}
		}()
	}
	for made.Load() < 8 {
		runtime.Gosched()
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v, want ErrClosed", err)
		}
	}
}
