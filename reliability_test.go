package vkinfer_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
)

// runChecked runs spec's model m at batch on random data and compares the
// result with the pure-Go reference.
func runChecked(ctx context.Context, m *vkinfer.Model, r *rand.Rand, batch int) error {
	spec := m
	in := spec.Spec().Inputs[0].Shape[1]
	x := make([]float32, batch*in)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	out, err := m.Run(ctx, vkinfer.Tensor{Shape: []int{batch, in}, Data: x})
	if err != nil {
		return err
	}
	want := reference(spec.Spec(), x, batch)
	for i := range want {
		if math.Abs(float64(want[i]-out[0].Data[i])) > 1e-5 {
			return fmt.Errorf("batch %d: [%d] = %v, want %v", batch, i, out[0].Data[i], want[i])
		}
	}
	return nil
}

// More batch sizes in use at once than the model keeps recorded programs
// for (8): every run evicts a plan another goroutine may be about to run.
// No run may fail or see another's results, and once the model is closed
// every plan, evicted or not, has been freed.
func TestConcurrentPlanEviction(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(mlp(11, 8, 4))
	require.NoError(t, err)
	const goroutines, runs, sizes = 8, 150, 12
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			for it := 0; it < runs; it++ {
				if err := runChecked(context.Background(), m, r, 1+(g+it*5)%sizes); err != nil {
					errs <- fmt.Errorf("goroutine %d run %d: %w", g, it, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.NoError(t, m.Close())
	st := dev.Stats().Arena(engine.Activations)
	require.Zero(t, st.InUse, "activations left after Close: a plan leaked")
	require.Zero(t, st.Allocated, "activation blocks left after Close: a plan leaked")
}

// startRuns starts n goroutines that run m over and over until a run fails,
// and returns once each has finished one run; wait returns their errors.
func startRuns(t *testing.T, m *vkinfer.Model, n int) (wait func() []error) {
	t.Helper()
	var wg, started sync.WaitGroup
	errs := make([]error, n)
	for g := 0; g < n; g++ {
		wg.Add(1)
		started.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			first := true
			for {
				err := runChecked(context.Background(), m, r, 1+g%3)
				if first {
					started.Done()
					first = false
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		}(g)
	}
	started.Wait()
	return func() []error { wg.Wait(); return errs }
}

// Device.Close while 8 goroutines run a model, repeatedly: Close waits for
// or fails the runs in flight and never crashes; every run ends with a
// correct result or ErrClosed; afterwards the model, the device and Stats
// say closed.
func TestConcurrentDeviceClose(t *testing.T) {
	for trial := 0; trial < 10; trial++ {
		dev := openDevice(t)
		m, err := dev.LoadModel(mlp(int64(trial), 32, 64, 10))
		require.NoError(t, err)
		wait := startRuns(t, m, 8)
		require.NoError(t, dev.Close())
		for g, err := range wait() {
			require.ErrorIs(t, err, vkinfer.ErrClosed, "trial %d goroutine %d", trial, g)
		}
		_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 32}, Data: make([]float32, 32)})
		require.ErrorIs(t, err, vkinfer.ErrClosed)
		require.NoError(t, m.Close())
		_, err = dev.LoadModel(mlp(1, 4, 2))
		require.ErrorIs(t, err, vkinfer.ErrClosed)
		st := dev.Stats()
		require.Zero(t, st.DeviceBytes(), "trial %d: %+v", trial, st)
		require.Zero(t, st.LiveAllocations)
		for a, as := range st.Arenas {
			require.Zero(t, as.InUse, "arena %d", a)
		}
		require.NoError(t, dev.Close(), "second Close")
	}
}

// Model.Close while 8 goroutines run it: the same rules, and the device
// stays usable.
func TestConcurrentModelClose(t *testing.T) {
	dev := openDevice(t)
	for trial := 0; trial < 10; trial++ {
		m, err := dev.LoadModel(mlp(int64(trial), 32, 64, 10))
		require.NoError(t, err)
		wait := startRuns(t, m, 8)
		require.NoError(t, m.Close())
		for g, err := range wait() {
			require.ErrorIs(t, err, vkinfer.ErrClosed, "trial %d goroutine %d", trial, g)
		}
		require.Zero(t, dev.Stats().Arena(engine.Weights).InUse, "trial %d: weights left", trial)
	}
	m, err := dev.LoadModel(mlp(99, 32, 10))
	require.NoError(t, err)
	require.NoError(t, runChecked(context.Background(), m, rand.New(rand.NewSource(1)), 2))
}

// A context already cancelled or expired fails Run before anything is
// submitted, with the context's error.
func TestRunCancelledContext(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(mlp(3, 8, 4))
	require.NoError(t, err)
	defer m.Close()
	x := vkinfer.Tensor{Shape: []int{1, 8}, Data: make([]float32, 8)}
	_, err = m.Run(context.Background(), x) // records the plan
	require.NoError(t, err)
	before := dev.Stats().Submits

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = m.Run(ctx, x)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "vkinfer: run")

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = m.Run(ctx, vkinfer.Tensor{Shape: []int{3, 8}, Data: make([]float32, 24)}) // a new batch size too
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, before, dev.Stats().Submits, "a cancelled run submitted work")

	_, err = m.Run(context.Background(), x)
	require.NoError(t, err, "the model runs again")
}
