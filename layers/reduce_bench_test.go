package layers_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/ops"
)

// BenchmarkReduce times the two reduction kernels on the same data (resident,
// interleaved): "p50-µs" one invocation per output (ReduceSerial),
// "p50-µs-1" one workgroup per output (ReduceWorkgroup), for ReduceMean over
// the last axis of [outputs, n]. ReduceAuto's threshold
// (layers.SerialReduceMax) comes from it. ratio < 1: serial is faster.
func BenchmarkReduce(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	r := rand.New(rand.NewSource(5))
	for _, sh := range [][2]int{{1280, 49}, {16 * 1280, 49}, {64, 3136}, {1, 1000}, {1, 4000}, {16, 1000}, {256, 1000}, {256, 4000}} {
		rows, n := sh[0], sh[1]
		x := devBuf(b, d, randSlice(r, rows*n))
		y := devBuf(b, d, make([]float32, rows))
		b.Run(fmt.Sprintf("%dx%d", rows, n), func(b *testing.B) {
			var ps []*engine.Program
			for _, k := range []layers.ReduceKernel{layers.ReduceSerial, layers.ReduceWorkgroup} {
				rec := d.NewRecorder()
				g := layers.Reduce{Op: ops.ReduceMean, Shape: layers.Shape{rows, n}, Axes: []bool{false, true}, Kernel: k}
				if err := layers.RecordReduce(rec, d, g, x, y); err != nil {
					b.Fatal(err)
				}
				p, err := rec.Finish()
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				ps = append(ps, p)
			}
			medianRuns(b, ps...)
		})
	}
}
