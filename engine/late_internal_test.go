package engine

import (
	"errors"
	"testing"
	"time"
)

// A transfer whose wait outlives Options.Timeout may still be executing:
// the engine returns ErrTimeout, keeps the staging buffers it reads, does
// not reuse its command buffer, and the next transfer waits for it first.
// Before, the staging memory went back to the pool at once (the driver
// then copied from freed or reused memory: `vkinfer bench --timeout 1ms`
// crashed once with SIGSEGV under load) and the next transfer re-recorded
// a command buffer still in flight (a validation error).
func TestLateTransferKeepsItsMemory(t *testing.T) {
	d := openInternal(t, Options{PipelineCacheDir: "-", ForceStaging: true, SpinWait: -1})
	defer func(p time.Duration) { transferPoll = p }(transferPoll)
	n := uploadBatch / 4 // a Write of 64 MiB is submitted at once
	want := make([]float32, n)
	for i := range want {
		want[i] = float32(i%9973) - 4000
	}
	b, err := d.NewBuffer(Weights, int64(4*n))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The fence is polled once, without waiting: a 64 MiB copy has not
	// finished microseconds after its submission.
	transferPoll, d.opts.Timeout = 0, time.Nanosecond
	err = b.Write(want)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Write with a 1 ns timeout = %v, want ErrTimeout", err)
	}
	d.mem.mu.Lock()
	late, held := d.oneOff.late, len(d.oneOff.held)
	inUse := d.Stats().Arena(Staging).InUse
	d.mem.mu.Unlock()
	if !late || held != 1 || inUse < int64(4*n) {
		t.Fatalf("after the timeout: late %v, %d staging buffers held, %d staging bytes in use; want true, 1, >= %d", late, held, inUse, 4*n)
	}

	// The next transfer settles the late one first; the data arrived
	// whole (its staging buffer was not reused meanwhile).
	transferPoll, d.opts.Timeout = 20*time.Millisecond, time.Minute
	got := make([]float32, n)
	if err := b.Read(got); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("element %d = %v after the late upload, want %v", i, got[i], want[i])
		}
	}
	if d.oneOff.late || len(d.oneOff.held) != 0 {
		t.Fatal("the late transfer was not settled by the next one")
	}
	if s := d.Stats().Arena(Staging).InUse; s != 0 {
		t.Fatalf("%d staging bytes still in use after the transfers ended", s)
	}
	if v := d.Stats().ValidationMessages; v != 0 {
		t.Fatalf("%d validation messages", v)
	}
}

// While a transfer is late, a later one that cannot wait for it either
// fails with ErrTimeout without touching the command buffer in flight.
func TestTransferBehindALateOneTimesOut(t *testing.T) {
	d := openInternal(t, Options{PipelineCacheDir: "-", ForceStaging: true, SpinWait: -1})
	defer func(p time.Duration) { transferPoll = p }(transferPoll)
	n := uploadBatch / 4
	b, err := d.NewBuffer(Weights, int64(4*n))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	transferPoll, d.opts.Timeout = 0, time.Nanosecond
	if err := b.Write(make([]float32, n)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Write = %v, want ErrTimeout", err)
	}
	submits := d.Stats().Submits
	err = b.Read(make([]float32, 16))
	if !errors.Is(err, ErrTimeout) && err != nil {
		t.Fatalf("Read behind a late transfer = %v, want ErrTimeout (or nil if it ended meanwhile)", err)
	}
	if err != nil && d.Stats().Submits != submits {
		t.Fatal("a transfer was submitted while the late one still ran")
	}
	transferPoll, d.opts.Timeout = 20*time.Millisecond, time.Minute
	if err := b.Read(make([]float32, 16)); err != nil {
		t.Fatal(err)
	}
}
