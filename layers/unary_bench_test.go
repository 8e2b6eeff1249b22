package layers

import (
	"context"
	"fmt"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/ops"
)

// BenchmarkUnary times RecordUnary's kernels side by side in one run on
// CNN sizes at batch 1 (a squeezenet Concat part, resnet18's first
// residual block): one element per invocation (unary.comp), four with
// storage buffers (unary4.comp) and four reading x as a texel buffer
// (unary4_texel.comp), for the identity (a copy) and Relu. The figures to
// read are µs/dispatch and GB/s (bytes read and written).
func BenchmarkUnary(b *testing.B) {
	d := gputest.Open(b, engine.Options{})
	for _, n := range []int{64 * 54 * 54, 64 * 56 * 56} {
		x, err := d.NewBuffer(engine.Activations, int64(4*n))
		if err != nil {
			b.Fatal(err)
		}
		defer x.Close()
		y, err := d.NewBuffer(engine.Activations, int64(4*n))
		if err != nil {
			b.Fatal(err)
		}
		defer y.Close()
		for _, op := range []ops.UnaryOp{ops.UnaryIdentity, ops.UnaryRelu} {
			for _, k := range []string{"unary", "unary4", "unary4_texel"} {
				b.Run(fmt.Sprintf("%d/%v/%s", n, op, k), func(b *testing.B) {
					unaryForce = k
					defer func() { unaryForce = "" }()
					r := d.NewRecorder()
					for i := 0; i < 10; i++ {
						if err := RecordUnary(r, d, Unary{Op: op, N: n}, x, y); err != nil {
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
					us := float64(b.Elapsed().Microseconds()) / float64(10*b.N)
					b.ReportMetric(us, "µs/dispatch")
					b.ReportMetric(float64(8*n)/us/1e3, "GB/s")
				})
			}
		}
	}
}
