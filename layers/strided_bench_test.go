package layers

import (
	"context"
	"fmt"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// BenchmarkStrided times ShuffleNet's data movement at batch 1 (the channel
// shuffle Transpose of stage 2, a channel-half Slice, which merges into one
// range copy, and a 1-pixel constant Pad) side by side in one run: one
// element per invocation, runs of stridedRun (the default on CPU drivers)
// with the storage-buffer kernel, and the default (on lavapipe: the texel
// kernel). The figure to read is µs/dispatch (10 dispatches per run).
func BenchmarkStrided(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	shape := []int{1, 2, 58, 28, 28}
	n := 2 * 58 * 28 * 28
	st := rowStrides(shape)
	cases := map[string]Strided{
		"transpose": {Dims: []int{1, 58, 2, 28, 28}, Lo: make([]int, 5), Stride: []int{st[0], st[2], st[1], st[3], st[4]}},
		"slice":     {Dims: []int{1, 58, 28, 28}, Lo: make([]int, 4), Stride: []int{n, 784, 28, 1}, Base: 58 * 784},
		"pad":       {Dims: []int{1, 116, 30, 30}, In: []int{1, 116, 28, 28}, Lo: []int{0, 0, -1, -1}, Stride: []int{n, 784, 28, 1}, Mode: StridedConstant},
	}
	for _, name := range []string{"transpose", "slice", "pad"} {
		for _, v := range []struct {
			name    string
			run     int
			storage bool
		}{{"run1", 1, false}, {"storage", stridedRun, true}, {"default", stridedRun, false}} {
			b.Run(fmt.Sprintf("%s/%s", name, v.name), func(b *testing.B) {
				defaultRun := stridedRun
				stridedRun, stridedStorageOnly = v.run, v.storage
				defer func() { stridedRun, stridedStorageOnly = defaultRun, false }()
				x, err := d.NewBuffer(engine.Activations, int64(4*n))
				if err != nil {
					b.Fatal(err)
				}
				defer x.Close()
				y, err := d.NewBuffer(engine.Activations, int64(4*116*30*30))
				if err != nil {
					b.Fatal(err)
				}
				defer y.Close()
				r := d.NewRecorder()
				for i := 0; i < 10; i++ {
					if err := RecordStrided(r, d, cases[name], x, y); err != nil {
						b.Fatal(err)
					}
				}
				p, err := r.Finish()
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := p.Run(context.Background(), nil, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(10*b.N), "µs/dispatch")
			})
		}
	}
}
