package layers_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Lavapipe (Mesa 22's llvmpipe) silently leaves every loop of a shader
// invocation once it has run 65,535 iterations in all. These tests give
// kernels work past that many iterations per invocation and compare with
// the reference, so that a kernel computing short fails instead of
// passing unseen (docs/GPU.md, "lavapipe's loop limit").

// TestLoopLimitGemm runs M = N = 1 or M = 3, N = 9 products with K past
// 65,535 (or 4 times that for kernels that read 4 of K an iteration)
// through every GEMM kernel.
func TestLoopLimitGemm(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(61))
	kernels := []layers.GemmKernel{layers.GemmAuto, layers.GemmStorage, layers.GemmTexel, layers.GemmSubgroup, layers.GemmTiled, layers.GemmGEMV}
	for ki, kernel := range kernels {
		// One shape and layout per kernel, alternating (SwiftShader
		// takes seconds per product this deep).
		s := []struct{ m, n int }{{1, 1}, {3, 9}}[ki%2]
		{
			// K past the storage kernel's limit everywhere; past the
			// texel kernel's (4 of K an iteration) where it runs, on
			// lavapipe (the tiled kernel takes >10 s at 300,000 on
			// SwiftShader).
			loopK := 70_000
			if d.Info().DriverID == engine.DriverLavapipe && (kernel == layers.GemmTexel || kernel == layers.GemmAuto) {
				loopK = 300_000
			}
			for _, tb := range []bool{ki%3 == 1} {
				name := fmt.Sprintf("%v/%dx%dx%d_tB%v", kernel, s.m, s.n, loopK, tb)
				t.Run(name, func(t *testing.T) {
					a, b := randSlice(r, s.m*loopK), randSlice(r, loopK*s.n)
					A, B := newBuf(t, d, a), newBuf(t, d, b)
					C := newBuf(t, d, make([]float32, s.m*s.n))
					g := layers.Gemm{M: s.m, N: s.n, K: loopK, TransB: tb, Kernel: kernel}
					got := run(t, d, C, s.m*s.n, func(rec *engine.Recorder) error { return layers.RecordGemm(rec, d, g, A, B, C) })
					checkGemm(t, got, a, b, nil, s.m, s.n, loopK, false, tb, false, name+" ("+layers.LastGemmKernel().String()+")")
				})
			}
		}
	}
}

// TestLoopLimitPool runs global and windowed pools over planes of 90,000
// and more elements per output.
func TestLoopLimitPool(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(62))
	k := func(v ...int64) model.Attr { return ints(v...) }
	for _, c := range []struct {
		name  string
		op    string
		x     []int
		attrs map[string]model.Attr
	}{
		{"global avg 300x300", ops.OpGlobalAveragePool, []int{1, 2, 300, 300}, nil},
		{"global max 300x300", ops.OpGlobalMaxPool, []int{1, 2, 300, 300}, nil},
		{"global avg 1-D 100000", ops.OpGlobalAveragePool, []int{1, 1, 100_000}, nil},
		{"global avg 512x512 NaN", ops.OpGlobalAveragePool, []int{1, 1, 512, 512}, nil},
		{"avg window 240x240", ops.OpAveragePool, []int{1, 1, 241, 240}, map[string]model.Attr{"kernel_shape": k(240, 240)}},
		{"max window 240x240", ops.OpMaxPool, []int{1, 1, 240, 241}, map[string]model.Attr{"kernel_shape": k(240, 240)}},
	} {
		optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: c.op, Attrs: c.attrs},
			Inputs: []*ops.Tensor{optest.Random(r, c.x, 1, strings.Contains(c.name, "NaN"))}, Abs: 1e-5, Rel: 1e-5})
	}
	// A window that is not the whole plane has no reduction to fall back
	// on: refused.
	n := model.Node{Op: ops.OpAveragePool, Name: "p", Inputs: []string{"x"}, Outputs: []string{"y"},
		Attrs: map[string]model.Attr{"kernel_shape": k(300, 300)}}
	if err := recordOnce(t, d, &n, []int{1, 1, 301, 300}); !errors.Is(err, layers.ErrUnsupported) {
		t.Errorf("300x300 window: %v, want ErrUnsupported", err)
	} else {
		t.Log(err)
	}
}

// recordOnce builds n's layer for one input of shape x and records it,
// returning the error of either step.
func recordOnce(t *testing.T, d *engine.Device, n *model.Node, x []int) error {
	return recordConst(t, d, n, x, nil)
}

// recordConst is recordOnce with a constant second input w (nil: none).
func recordConst(t *testing.T, d *engine.Device, n *model.Node, x []int, w *model.Tensor) error {
	t.Helper()
	in := []ops.Value{{Shape: x}}
	if w != nil {
		in = append(in, ops.Value{Shape: w.Shape})
	}
	vals, err := ops.Infer(n, in)
	require.NoError(t, err)
	b, ok := layers.Lookup(n.Op)
	require.True(t, ok)
	constOf := func(name string) *model.Tensor {
		if w != nil && len(n.Inputs) > 1 && name == n.Inputs[1] {
			return w
		}
		return nil
	}
	l, err := b(&layers.Build{Dev: d, Const: constOf}, n)
	if err != nil {
		return err
	}
	defer l.Close()
	elems := func(s []int) int {
		e := 1
		for _, v := range s {
			e *= v
		}
		return e
	}
	bufs := []*engine.Buffer{newBuf(t, d, make([]float32, elems(x)))}
	shapes := []layers.Shape{x}
	if w != nil {
		bufs = append(bufs, nil)
		shapes = append(shapes, w.Shape)
	}
	out := newBuf(t, d, make([]float32, elems(vals[0])))
	return l.Record(d.NewRecorder(), bufs, shapes, []*engine.Buffer{out})
}

// TestLoopLimitConv runs convolutions whose sums have more than 65,535
// terms per output, direct and as a GEMM.
func TestLoopLimitConv(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	for _, mode := range []string{"direct", "gemm"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(layers.ConvKernelEnv, mode)
			r := rand.New(rand.NewSource(63))
			for _, c := range []struct {
				name  string
				x, w  []int
				attrs map[string]model.Attr
			}{
				{"1x1 kernel 70000 channels", []int{1, 70_000, 1, 2}, []int{3, 70_000, 1, 1}, nil},
				{"3x3 kernel 8000 channels", []int{1, 8000, 3, 3}, []int{2, 8000, 3, 3}, map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
				{"1-D kernel 70000", []int{1, 1, 70_001}, []int{2, 1, 70_000}, nil},
				{"3x3 kernel 6600 channels", []int{1, 6600, 2, 3}, []int{3, 6600, 3, 3}, map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
				{"1-D kernel 59000", []int{1, 1, 59_002}, []int{2, 1, 59_000}, nil},
			} {
				k := 1
				for _, v := range c.w[1:] {
					k *= v
				}
				if k > layers.MaxInvocationLoops {
					// Refused by the direct kernel; the GEMM path runs it
					// where the weights fit its panels (not under
					// VKINFER_LIMITS=min's texel views): then it is checked.
					n := model.Node{Op: ops.OpConv, Name: "c", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: c.attrs}
					w := &model.Tensor{Shape: c.w, Data: make([]float32, k*c.w[0])}
					err := recordConst(t, d, &n, c.x, w)
					if mode == "direct" && !errors.Is(err, layers.ErrUnsupported) || err != nil && !errors.Is(err, layers.ErrUnsupported) {
						t.Errorf("%s: %v, want ErrUnsupported", c.name, err)
						continue
					}
					if err != nil {
						t.Log(err)
						continue
					}
				}
				optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConv, Attrs: c.attrs},
					Inputs: []*ops.Tensor{optest.Random(r, c.x, 1, false), optest.Random(r, c.w, 1, false)},
					Const:  []bool{false, true}, Abs: 4e-7 * float64(k+1), Rel: 1e-5})
			}
		})
	}
}

// TestLoopLimitSoftmax runs softmax rows long enough that one invocation of
// the workgroup kernel loops past 65,535 times, and a serial row past it.
func TestLoopLimitSoftmax(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(64))
	// ~55,000 loop iterations per invocation of a workgroup of 256 (of
	// 128 where the device allows no more).
	long := 3_500_000
	if d.Info().Limits.MaxComputeWorkGroupInvocations < 256 {
		long = 1_750_000
	}
	for _, c := range []struct {
		n      int
		kernel layers.SoftmaxKernel
	}{{70_000, layers.SoftmaxSerial}, {long, layers.SoftmaxWorkgroup}, {70_000, layers.SoftmaxAuto}, {6_000_000, layers.SoftmaxWorkgroup}} {
		t.Run(fmt.Sprint(c.n, "/", c.kernel), func(t *testing.T) {
			x := randSlice(r, c.n)
			X, Y := newBuf(t, d, x), newBuf(t, d, make([]float32, c.n))
			if c.n > 4_000_000 {
				// 4·n/256 loop iterations per invocation of a workgroup of
				// 256 (or more with fewer lanes): refused.
				err := layers.RecordSoftmaxAxis(d.NewRecorder(), d, layers.Softmax{Outer: 1, N: c.n, Inner: 1, Kernel: c.kernel}, X, Y)
				if !errors.Is(err, layers.ErrUnsupported) {
					t.Fatalf("softmax over %d: %v, want ErrUnsupported", c.n, err)
				}
				t.Log(err)
				return
			}
			got := run(t, d, Y, c.n, func(rec *engine.Recorder) error {
				return layers.RecordSoftmaxAxis(rec, d, layers.Softmax{Outer: 1, N: c.n, Inner: 1, Kernel: c.kernel}, X, Y)
			})
			want := ops.Softmax(x, 1, c.n)
			// Outputs are ~1/n: a relative check (a row computed short
			// is off by far more).
			for i := range want {
				if diff := math.Abs(float64(got[i] - want[i])); !(diff <= 1e-12+1e-3*float64(want[i])) {
					t.Fatalf("y[%d] = %g, want %g", i, got[i], want[i])
				}
			}
		})
	}
}
