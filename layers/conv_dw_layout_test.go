package layers_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The activation layout measurement of issue 12: the depthwise kernel on
// channels packed by 4 (NC4HW4, conv_dw_c4.glsl) against the NCHW one
// (conv_dw.glsl) at mobilenet_v2's shapes (TestConvDepthwiseLayoutSpeed);
// TestConvDepthwiseC4 checks the packed kernel first, so that the
// comparison is between two correct kernels.

// packC4 returns NCHW data [n, c, hw] as [n, ceil(c/4), hw, 4], the
// channels past c zero.
func packC4(data []float32, n, c, hw int) []float32 {
	c4 := (c + 3) / 4
	out := make([]float32, n*c4*hw*4)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for k := 0; k < hw; k++ {
				out[((i*c4+ch/4)*hw+k)*4+ch%4] = data[(i*c+ch)*hw+k]
			}
		}
	}
	return out
}

// unpackC4 is packC4's inverse (the padding channels dropped).
func unpackC4(data []float32, n, c, hw int) []float32 {
	c4 := (c + 3) / 4
	out := make([]float32, n*c*hw)
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for k := 0; k < hw; k++ {
				out[(i*c+ch)*hw+k] = data[((i*c4+ch/4)*hw+k)*4+ch%4]
			}
		}
	}
	return out
}

// dwC4 is one depthwise layer on packed buffers.
type dwC4 struct {
	g          ops.Window
	x, w, b, y *engine.Buffer
}

// newDWC4 uploads x [N, C, H, W], w [C, 1, KH, KW] and b [C] (nil: none)
// packed by 4 for window g.
func newDWC4(t *testing.T, d *engine.Device, g ops.Window, x, w, b []float32) *dwC4 {
	t.Helper()
	l := &dwC4{g: g}
	up := func(data []float32) *engine.Buffer {
		buf, err := d.NewBuffer(engine.Activations, int64(4*len(data)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(buf.Close)
		if err := buf.Write(data); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	l.x = up(packC4(x, g.N, g.C, g.H*g.W))
	l.w = up(packC4(w, 1, g.C, g.KH*g.KW))
	if b != nil {
		l.b = up(packC4(b, 1, g.C, 1))
	}
	l.y = up(make([]float32, g.N*(g.C+3)/4*4*g.OH*g.OW))
	return l
}

// program records the packed kernel with strips of cols pixels and a ReLU.
func (l *dwC4) program(t *testing.T, d *engine.Device, cols int) *engine.Program {
	t.Helper()
	rec := d.NewRecorder()
	if err := layers.RecordDepthwiseC4(rec, d, l.g, cols, l.x, l.w, l.b, l.y, ops.ActReLU, 0, 0); err != nil {
		t.Fatal(err)
	}
	p, err := rec.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestConvDepthwiseC4(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(16))
	cases := []struct {
		x      []int
		k      int
		stride int
		pad    int
		dil    int
		cols   int
		bias   bool
	}{
		{[]int{1, 13, 9, 10}, 3, 1, 1, 1, 4, true},
		{[]int{2, 6, 17, 19}, 5, 2, 2, 1, 3, true},
		{[]int{1, 4, 1, 1}, 3, 1, 1, 1, 4, false},
		{[]int{1, 7, 12, 13}, 3, 1, 2, 2, 8, true},
		{[]int{1, 9, 14, 14}, 3, 2, 1, 1, 7, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.x, " k", c.k, " s", c.stride, " cols ", c.cols), func(t *testing.T) {
			g := ops.Window{N: c.x[0], C: c.x[1], H: c.x[2], W: c.x[3], KH: c.k, KW: c.k, SH: c.stride, SW: c.stride,
				DH: c.dil, DW: c.dil, PadT: c.pad, PadL: c.pad, PadB: c.pad, PadR: c.pad}
			if err := g.Resolve(); err != nil {
				t.Fatal(err)
			}
			x := optest.Random(r, c.x, 4, false).Data
			w := optest.Random(r, []int{c.x[1], 1, c.k, c.k}, 1, false).Data
			var b []float32
			if c.bias {
				b = optest.Random(r, []int{c.x[1]}, 1, false).Data
			}
			want := ops.Conv(x, w, b, g, g.C, g.C)
			l := newDWC4(t, d, g, x, w, b)
			if err := l.program(t, d, c.cols).Run(context.Background(), nil, nil); err != nil {
				t.Fatal(err)
			}
			packed := make([]float32, l.y.Len())
			if err := l.y.Read(packed); err != nil {
				t.Fatal(err)
			}
			got := unpackC4(packed, g.N, g.C, g.OH*g.OW)
			tol := 4e-7 * float64(c.k*c.k+1) * 4
			for i, v := range want {
				v = max(v, 0) // the ReLU
				if diff := math.Abs(float64(got[i] - v)); diff > tol+1e-5*math.Abs(float64(v)) {
					t.Fatalf("y[%d] = %g, want %g", i, got[i], v)
				}
			}
		})
	}
}

// TestConvDepthwiseLayoutSpeed (with VKINFER_CONV_BENCH=1) times the
// depthwise layers of convBenchShapes as NCHW (conv_dw, the Conv layer with
// VKINFER_CONV=dw) against NC4HW4 (conv_dw_c4 with strips of 4 and 8
// pixels, or the counts in VKINFER_CONV_BENCH_C4_STRIPS), interleaved run
// by run, with a fused ReLU: `VKINFER_CONV_BENCH=1 VKINFER_VALIDATION=0 go
// test ./layers -run TestConvDepthwiseLayoutSpeed -v`. Not a pass/fail
// test; the layout conversions are not timed (a packed engine would keep
// every activation packed).
func TestConvDepthwiseLayoutSpeed(t *testing.T) {
	if os.Getenv("VKINFER_CONV_BENCH") == "" {
		t.Skip("set VKINFER_CONV_BENCH=1 to time the layouts")
	}
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(1))
	strips := []int{4, 8}
	if v := os.Getenv("VKINFER_CONV_BENCH_C4_STRIPS"); v != "" {
		strips = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 16 {
				t.Fatalf("VKINFER_CONV_BENCH_C4_STRIPS: %q is not a strip of 1..16 pixels", f)
			}
			strips = append(strips, n)
		}
	}
	runs := 11
	t.Setenv(layers.ConvKernelEnv, "dw")
	for _, s := range convBenchShapes {
		if s.group != s.x[1] || s.w[0] != s.group {
			continue
		}
		g := ops.Window{N: s.x[0], C: s.x[1], H: s.x[2], W: s.x[3], KH: s.w[2], KW: s.w[3], SH: s.stride, SW: s.stride,
			DH: 1, DW: 1, PadT: s.pad, PadL: s.pad, PadB: s.pad, PadR: s.pad}
		if err := g.Resolve(); err != nil {
			t.Fatal(err)
		}
		x := optest.Random(r, s.x, 1, false)
		w := optest.Random(r, s.w, 1, false)
		b := optest.Random(r, s.w[:1], 1, false)
		// NCHW: the Conv layer with a fused ReLU.
		node := model.Node{Op: ops.OpConv, Name: "bench", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
			Attrs: map[string]model.Attr{"strides": ints(int64(s.stride), int64(s.stride)),
				"pads": ints(int64(s.pad), int64(s.pad), int64(s.pad), int64(s.pad)), "group": model.IntAttr(int64(s.group)),
				ops.AttrActivation: model.StringAttr("relu")}}
		build, _ := layers.Lookup(ops.OpConv)
		l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor {
			return map[string]*model.Tensor{"w": w.ModelTensor("w"), "b": b.ModelTensor("b")}[name]
		}}, &node)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c4 := newDWC4(t, d, g, x.Data, w.Data, b.Data)
		xb, err := d.NewBuffer(engine.Activations, int64(4*x.Len()))
		if err != nil {
			t.Fatal(err)
		}
		defer xb.Close()
		if err := xb.Write(x.Data); err != nil {
			t.Fatal(err)
		}
		yb, err := d.NewBuffer(engine.Activations, int64(4*g.N*g.C*g.OH*g.OW))
		if err != nil {
			t.Fatal(err)
		}
		defer yb.Close()
		rec := d.NewRecorder()
		if err := l.Record(rec, []*engine.Buffer{xb}, []layers.Shape{s.x}, []*engine.Buffer{yb}); err != nil {
			t.Fatal(err)
		}
		nchw, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		defer nchw.Close()
		names := []string{"nchw"}
		progs := []*engine.Program{nchw}
		for _, n := range strips {
			names = append(names, fmt.Sprintf("c4/%d", n))
			progs = append(progs, c4.program(t, d, min(n, g.OW)))
		}
		times := make([][]time.Duration, len(progs))
		cpu := make([][]time.Duration, len(progs))
		for k := -1; k < runs; k++ { // run -1 warms up
			for i, p := range progs {
				t0, c0 := time.Now(), processCPU()
				if err := p.Run(context.Background(), nil, nil); err != nil {
					t.Fatal(err)
				}
				if k >= 0 {
					times[i] = append(times[i], time.Since(t0))
					cpu[i] = append(cpu[i], processCPU()-c0)
				}
			}
		}
		line := fmt.Sprintf("%-36s", s.name)
		for i, n := range names {
			line += fmt.Sprintf("  %s %6.2f ms cpu %6.2f ms", n, float64(median(times[i]).Microseconds())/1000,
				float64(median(cpu[i]).Microseconds())/1000)
		}
		t.Log(line)
	}
}
