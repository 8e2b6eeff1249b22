package layers_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// BenchmarkDenseChain times the chain kernel alone (one dispatch, data
// resident) on the example MLPs' shapes and the wide keyword-spotting head
// of ../shared/cases/perf/wide_head.onnx, with a final softmax ("p50-µs")
// against the same layers recorded one dispatch each ("p50-µs-1") and the
// chain's split form (RecordSplit, "p50-µs-2"), interleaved, and an empty
// program (the submit + wait floor).
func BenchmarkDenseChain(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	b.Run("empty", func(b *testing.B) {
		p, err := d.NewRecorder().Finish()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		medianRuns(b, p)
	})
	for _, widths := range [][]int{{784, 128, 256, 10}, {64, 128, 256, 10}, {3264, 128, 128, 7}} {
		r := rand.New(rand.NewSource(3))
		var ls []layers.Layer
		for i := 0; i+1 < len(widths); i++ {
			w := &model.Tensor{Name: "W", Shape: []int{widths[i+1], widths[i]}, Data: randSlice(r, widths[i]*widths[i+1])}
			bias := &model.Tensor{Name: "b", Shape: []int{widths[i+1]}, Data: randSlice(r, widths[i+1])}
			l, err := buildNode(b, d, model.Node{Op: ops.OpDense, Inputs: []string{"x", "W", "b"},
				Attrs: map[string]model.Attr{ops.AttrActivation: model.StringAttr(ops.ActivationRelu)}}, w, bias)
			if err != nil {
				b.Fatal(err)
			}
			ls = append(ls, l)
		}
		sm, err := buildNode(b, d, model.Node{Op: ops.OpSoftmax, Inputs: []string{"x"}})
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, sm)
		chain, _ := layers.NewDenseChain(d, ls)
		chain.Budget = math.MaxInt // compare at every batch
		for _, m := range []int{1, 2, 4, 8} {
			in := layers.Shape{m, widths[0]}
			if !chain.Fits(in) {
				continue
			}
			X := devBuf(b, d, randSlice(r, m*widths[0]))
			Y := devBuf(b, d, make([]float32, m*widths[len(widths)-1]))
			b.Run(fmt.Sprintf("%v/m=%d", widths, m), func(b *testing.B) {
				rec := d.NewRecorder()
				if err := chain.Record(rec, X, in, Y); err != nil {
					b.Fatal(err)
				}
				fused, err := rec.Finish()
				if err != nil {
					b.Fatal(err)
				}
				defer fused.Close()
				rec = d.NewRecorder()
				x, shape := X, in
				for i, l := range ls {
					outs, err := inferLayer(l, []layers.Shape{shape})
					if err != nil {
						b.Fatal(err)
					}
					y := Y
					if i+1 < len(ls) {
						y = devBuf(b, d, make([]float32, outs[0].Elems()))
					}
					if err := l.Record(rec, []*engine.Buffer{x}, []layers.Shape{shape}, []*engine.Buffer{y}); err != nil {
						b.Fatal(err)
					}
					x, shape = y, outs[0]
				}
				layered, err := rec.Finish()
				if err != nil {
					b.Fatal(err)
				}
				defer layered.Close()
				if !chain.SplitFits(in) {
					medianRuns(b, fused, layered)
					return
				}
				rec = d.NewRecorder()
				if err := chain.RecordSplit(rec, X, in, devBuf(b, d, make([]float32, chain.SplitScratch(in))), Y); err != nil {
					b.Fatal(err)
				}
				split, err := rec.Finish()
				if err != nil {
					b.Fatal(err)
				}
				defer split.Close()
				medianRuns(b, fused, layered, split)
			})
		}
	}
}

// medianRuns runs the programs a few times untimed, then b.N times each,
// interleaved so that a noisy machine slows them alike, and reports each
// one's median run in µs: "p50-µs" for the first, "p50-µs-N" for the
// others, and the first's median relative to the second.
func medianRuns(b *testing.B, ps ...*engine.Program) {
	ctx := context.Background()
	lat := make([][]time.Duration, len(ps))
	for i := -3; i < b.N; i++ {
		for j, p := range ps {
			t0 := time.Now()
			if err := p.Run(ctx, nil, nil); err != nil {
				b.Fatal(err)
			}
			if i >= 0 {
				lat[j] = append(lat[j], time.Since(t0))
			}
		}
	}
	med := make([]float64, len(ps))
	for j := range lat {
		sort.Slice(lat[j], func(a, c int) bool { return lat[j][a] < lat[j][c] })
		med[j] = float64(lat[j][len(lat[j])/2].Nanoseconds()) / 1e3
		unit := "p50-µs"
		if j > 0 {
			unit += "-" + strconv.Itoa(j)
		}
		b.ReportMetric(med[j], unit)
	}
	if len(ps) > 1 {
		b.ReportMetric(med[0]/med[1], "ratio")
	}
}
