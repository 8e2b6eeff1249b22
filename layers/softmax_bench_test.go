package layers_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
)

// BenchmarkSoftmax times the two softmax kernels on the same rows
// (data resident, interleaved): "p50-µs" one invocation per row
// (SoftmaxSerial), "p50-µs-1" one workgroup per row (SoftmaxWorkgroup).
// SoftmaxAuto's threshold (layers.SerialSoftmaxMax) comes from it.
// ratio < 1: the serial kernel is faster.
func BenchmarkSoftmax(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	r := rand.New(rand.NewSource(5))
	for _, sh := range [][2]int{{1, 10}, {1, 100}, {1, 1000}, {1, 2000}, {1, 10000}, {16, 1000}, {16, 4000}, {256, 10}, {256, 1000}} {
		rows, n := sh[0], sh[1]
		x := devBuf(b, d, randSlice(r, rows*n))
		y := devBuf(b, d, make([]float32, rows*n))
		b.Run(fmt.Sprintf("%dx%d", rows, n), func(b *testing.B) {
			var ps []*engine.Program
			for _, k := range []layers.SoftmaxKernel{layers.SoftmaxSerial, layers.SoftmaxWorkgroup} {
				rec := d.NewRecorder()
				if err := layers.RecordSoftmaxAxis(rec, d, layers.Softmax{Outer: rows, N: n, Inner: 1, Kernel: k}, x, y); err != nil {
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
