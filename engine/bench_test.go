package engine_test

import (
	"context"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// BenchmarkEmptySubmit runs a Program with no commands: one submit and one
// wait per iteration, the floor under every run's latency.
func BenchmarkEmptySubmit(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	p, err := d.NewRecorder().Finish()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	timeRuns(b, p)
}

// BenchmarkOneDispatch runs a Program of one small dispatch (ReLU over 1024
// floats): the floor of a one-op run.
func BenchmarkOneDispatch(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	pipe, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1024
	x, err := d.NewBuffer(engine.Activations, 4*n)
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	y, err := d.NewBuffer(engine.Activations, 4*n)
	if err != nil {
		b.Fatal(err)
	}
	defer y.Close()
	rec := d.NewRecorder()
	if err := rec.Dispatch(pipe, []*engine.Buffer{x, y}, []uint32{n}, d.Grid(pipe, n)); err != nil {
		b.Fatal(err)
	}
	p, err := rec.Finish()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	timeRuns(b, p)
}

// timeRuns runs p once untimed, then b.N times, and reports µs per run.
func timeRuns(b *testing.B, p *engine.Program) {
	ctx := context.Background()
	if err := p.Run(ctx, nil, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := p.Run(ctx, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N), "µs/op")
}
