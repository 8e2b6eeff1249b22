package layers_test

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// TestConvRecordStrided runs Convs through RecordStrided (the output's
// images apart, as a producer writes into its place in a Concat's output
// at batch > 1) with every kernel variant forced and the GEMM path with a
// small patch-matrix bound (chunks cut at image ends and inside images),
// and checks each image against the reference and that the gaps between
// the images (other Concat inputs' places) are untouched. Inputs carry NaN
// and ±Inf; per-image sizes are multiples of 64 floats (any device's
// binding alignment up to 256 B).
func TestConvRecordStrided(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	p1 := ints(1, 1, 1, 1)
	cases := []convCase{
		{name: "1x1 (the in-place GEMM)", x: []int{3, 16, 8, 8}, w: []int{5, 16, 1, 1}, bias: true, act: "relu"},
		{name: "3x3 pad 1 7x13", x: []int{3, 64, 7, 13}, w: []int{5, 64, 3, 3}, bias: true, attrs: map[string]model.Attr{"pads": p1}},
		{name: "5x5 stride 2 9x11", x: []int{2, 64, 9, 11}, w: []int{3, 64, 5, 5}, attrs: map[string]model.Attr{"pads": ints(2, 2, 2, 2), "strides": ints(2, 2)}},
		{name: "depthwise 3x3", x: []int{2, 64, 8, 8}, w: []int{64, 1, 3, 3}, bias: true, act: "relu", attrs: map[string]model.Attr{"pads": p1, "group": model.IntAttr(64)}},
		{name: "one image", x: []int{1, 64, 7, 13}, w: []int{7, 64, 3, 3}, attrs: map[string]model.Attr{"pads": p1}},
	}
	const sentinel = 7.5
	for _, mode := range append(layers.ConvVariants(), "gemm-chunked") {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(layers.ConvKernelEnv, mode)
			if mode == "gemm-chunked" {
				t.Setenv(layers.ConvKernelEnv, "gemm")
				old := layers.SetConvChunkFloats(2048)
				t.Cleanup(func() { layers.SetConvChunkFloats(old) })
			}
			r := rand.New(rand.NewSource(31))
			for _, c := range cases {
				x := optest.Random(r, c.x, 4, false)
				plant(x.Data)
				w := optest.Random(r, c.w, 1, false)
				b := optest.Random(r, c.w[:1], 1, false)
				attrs := map[string]model.Attr{}
				for k, v := range c.attrs {
					attrs[k] = v
				}
				if c.act != "" {
					attrs[ops.AttrActivation] = model.StringAttr(c.act)
				}
				node := model.Node{Op: ops.OpConv, Name: c.name, Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: attrs}
				if !c.bias {
					node.Inputs = node.Inputs[:2]
				}
				in := []*ops.Tensor{x, w}
				if c.bias {
					in = append(in, b)
				}
				want, err := ops.Eval(&node, in)
				if err != nil {
					t.Fatal(err)
				}
				n := c.x[0]
				img := want[0].Len() / n
				stride := (img + 37 + 63) / 64 * 64 // a gap after each image
				build, _ := layers.Lookup(ops.OpConv)
				l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor {
					return map[string]*model.Tensor{"w": w.ModelTensor("w"), "b": b.ModelTensor("b")}[name]
				}}, &node)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close()
				sl, ok := l.(layers.StridedLayer)
				if !ok || !sl.ByImage(c.x) {
					t.Fatalf("%s: the Conv is not a StridedLayer that records by image", c.name)
				}
				xb, err := d.NewBuffer(engine.Activations, int64(4*x.Len()))
				if err != nil {
					t.Fatal(err)
				}
				defer xb.Close()
				if err := xb.Write(x.Float()); err != nil {
					t.Fatal(err)
				}
				total := (n-1)*stride + img + 64
				yb, err := d.NewBuffer(engine.Activations, int64(4*total))
				if err != nil {
					t.Fatal(err)
				}
				defer yb.Close()
				fill := make([]float32, total)
				for i := range fill {
					fill[i] = sentinel
				}
				if err := yb.Write(fill); err != nil {
					t.Fatal(err)
				}
				rec := d.NewRecorder()
				if err := sl.RecordStrided(rec, []*engine.Buffer{xb}, []layers.Shape{c.x}, yb, stride, ""); err != nil {
					rec.Discard()
					t.Fatalf("%s: %v", c.name, err)
				}
				prog, err := rec.Finish()
				if err != nil {
					t.Fatal(err)
				}
				defer prog.Close()
				if err := prog.Run(context.Background(), nil, nil); err != nil {
					t.Fatal(err)
				}
				got := make([]float32, total)
				if err := yb.Read(got); err != nil {
					t.Fatal(err)
				}
				k := c.w[1] * c.w[2] * c.w[3]
				abs, rel := 4e-7*float64(k+1)*4, 1e-5
				wv := want[0].Float()
				for i, g := range got {
					at := i % stride
					if i/stride >= n || at >= img {
						if g != sentinel {
							t.Fatalf("%s: element %d (image %d, %d past its end) = %v: written outside the images", c.name, i, i/stride, at-img, g)
						}
						continue
					}
					v := wv[i/stride*img+at]
					switch {
					case math.IsNaN(float64(v)):
						if !math.IsNaN(float64(g)) {
							t.Fatalf("%s: image %d element %d = %v, want NaN", c.name, i/stride, at, g)
						}
					case math.Abs(float64(g)-float64(v)) > abs+rel*math.Abs(float64(v)) && !(math.IsInf(float64(v), 0) && g == v):
						t.Fatalf("%s: image %d element %d = %v, want %v", c.name, i/stride, at, g, v)
					}
				}
			}
		})
	}
}
