package layers_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// BenchmarkConvTranspose times convtranspose.comp ("p50-µs") against
// conv.comp ("p50-µs-1") on the Conv with the same multiply-adds: the
// Conv whose gradient the ConvTranspose is (x and y swapped, the same
// weights read as [M, C, kh, kw]), interleaved, data resident. ratio > 1:
// the transposed kernel is slower per multiply-add than conv.comp.
func BenchmarkConvTranspose(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	r := rand.New(rand.NewSource(3))
	for _, c := range []struct {
		x          []int // ConvTranspose input [N, C, H, W]
		m, k, s, p int   // output channels, kernel, stride, pad
	}{
		{[]int{1, 64, 28, 28}, 32, 4, 2, 1}, // a decoder's 2x upsampling
		{[]int{1, 32, 56, 56}, 32, 3, 1, 1},
		{[]int{1, 128, 14, 14}, 64, 2, 2, 0},
	} {
		ct := model.Node{Name: "ct", Op: ops.OpConvTranspose, Inputs: []string{"x", "w"}, Outputs: []string{"y"},
			Attrs: map[string]model.Attr{"strides": model.IntsAttr(int64(c.s), int64(c.s)),
				"pads": model.IntsAttr(int64(c.p), int64(c.p), int64(c.p), int64(c.p))}}
		w := &model.Tensor{Name: "w", Shape: []int{c.x[1], c.m, c.k, c.k}, Data: randSlice(r, c.x[1]*c.m*c.k*c.k)}
		outs, err := layers.InferNode(&ct, func(n string) *model.Tensor { return map[string]*model.Tensor{"w": w}[n] }, []layers.Shape{c.x})
		if err != nil {
			b.Fatal(err)
		}
		y := outs[0]
		conv := ct
		conv.Op = ops.OpConv
		xs := [2]layers.Shape{c.x, y}
		var ps []*engine.Program
		for i, n := range []model.Node{ct, conv} {
			in, out := xs[i], xs[1-i]
			build, _ := layers.Lookup(n.Op)
			l, err := build(&layers.Build{Dev: d, Const: func(s string) *model.Tensor { return map[string]*model.Tensor{"w": w}[s] }}, &n)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rec := d.NewRecorder()
			if err := l.Record(rec, []*engine.Buffer{devBuf(b, d, randSlice(r, in.Elems()))}, []layers.Shape{in},
				[]*engine.Buffer{devBuf(b, d, make([]float32, out.Elems()))}); err != nil {
				b.Fatal(err)
			}
			p, err := rec.Finish()
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ps = append(ps, p)
		}
		macs := layers.Shape(c.x).Elems() * c.m * c.k * c.k
		b.Run(fmt.Sprintf("%v_to_%v_k%d_s%d_%.0fMMAC", c.x, y, c.k, c.s, float64(macs)/1e6), func(b *testing.B) {
			medianRuns(b, ps...)
		})
	}
}
