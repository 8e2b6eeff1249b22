package layers

import (
	"context"
	"fmt"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// BenchmarkPool times windowed pools of CNNs at batch 1 with one output per
// invocation (strip 1: pool.glsl) and strips of 4 and 8 (pool_strip.glsl),
// side by side in one run: squeezenet1_1's first MaxPool (3x3 stride 2,
// ceil, 64x111x111), googlenet's 3x3 stride-1 MaxPool of an inception block
// (192x28x28, pad 1) and a 3x3 stride-2 AveragePool. The figure to read is
// µs/dispatch (10 dispatches per run).
func BenchmarkPool(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	k := func(v ...int64) model.Attr { return model.IntsAttr(v...) }
	for _, c := range []struct {
		name  string
		op    string
		x     Shape
		attrs map[string]model.Attr
	}{
		{"squeezenet_max3s2", ops.OpMaxPool, Shape{1, 64, 111, 111}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "ceil_mode": model.IntAttr(1)}},
		{"googlenet_max3s1", ops.OpMaxPool, Shape{1, 192, 28, 28}, map[string]model.Attr{"kernel_shape": k(3, 3), "pads": k(1, 1, 1, 1)}},
		{"avg3s2", ops.OpAveragePool, Shape{1, 64, 56, 56}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "pads": k(1, 1, 1, 1)}},
	} {
		n := model.Node{Name: c.name, Op: c.op, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: c.attrs}
		outs, err := InferNode(&n, func(string) *model.Tensor { return nil }, []Shape{c.x})
		if err != nil {
			b.Fatal(err)
		}
		x, err := d.NewBuffer(engine.Activations, int64(4*c.x.Elems()))
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		y, err := d.NewBuffer(engine.Activations, int64(4*outs[0].Elems()))
		if err != nil {
			b.Fatal(err)
		}
		defer y.Close()
		for _, strip := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/strip%d", c.name, strip), func(b *testing.B) {
				old := poolStripOverride
				poolStripOverride = strip
				defer func() { poolStripOverride = old }()
				build, _ := Lookup(n.Op)
				l, err := build(&Build{Dev: d, Const: func(string) *model.Tensor { return nil }}, &n)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				r := d.NewRecorder()
				for i := 0; i < 10; i++ {
					if err := l.Record(r, []*engine.Buffer{x}, []Shape{c.x}, []*engine.Buffer{y}); err != nil {
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
