package engine

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A run whose wait outlasts its context returns the context's error (not
// ErrTimeout, not a hang): the program is made to look busy with a fence
// that nothing will signal.
func TestRunStopsWaitingWhenContextEnds(t *testing.T) {
	d := openInternal(t, Options{PipelineCacheDir: "-", Timeout: time.Hour})
	p, err := d.Pipeline("relu", Spec{"local_size_x": 64})
	if err != nil {
		t.Fatal(err)
	}
	x, err := d.NewBuffer(Activations, 256)
	if err != nil {
		t.Fatal(err)
	}
	rec := d.NewRecorder()
	if err := rec.Input(x); err != nil {
		t.Fatal(err)
	}
	if err := rec.Dispatch(p, []*Buffer{x, x}, []uint32{64}, d.Grid(p, 64)); err != nil {
		t.Fatal(err)
	}
	prog, err := rec.Finish()
	if err != nil {
		t.Fatal(err)
	}
	prog.mu.Lock()
	prog.pending = true // its fence was never submitted: it stays unsignalled
	prog.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = prog.Run(ctx, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want context.DeadlineExceeded", err)
	}
	before := d.Stats().Submits
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := prog.Run(ctx, nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context = %v, want context.Canceled", err)
	}
	if d.Stats().Submits != before {
		t.Fatal("a run with a cancelled context submitted work")
	}
	prog.mu.Lock()
	prog.pending = false
	prog.mu.Unlock()
	prog.Close()
	x.Close()
}
