package layers_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// chainLayer is one Dense layer of a chain test with its host weights.
type chainLayer struct {
	w, b []float32 // W is out x in, as mlp.bin stores it
	in   int
	out  int
	relu bool
}

func buildChainDense(t *testing.T, d *engine.Device, r *rand.Rand, in, out int, bias, relu bool) (layers.Layer, chainLayer) {
	t.Helper()
	cl := chainLayer{w: randSlice(r, in*out), in: in, out: out, relu: relu}
	// Scale like a trained layer so values stay O(1) through the chain.
	for i := range cl.w {
		cl.w[i] /= float32(math.Sqrt(float64(in)))
	}
	consts := []*model.Tensor{{Name: "W", Shape: []int{out, in}, Data: cl.w}}
	n := model.Node{Op: ops.OpDense, Inputs: []string{"x", "W"}}
	if bias {
		cl.b = randSlice(r, out)
		consts = append(consts, &model.Tensor{Name: "b", Shape: []int{out}, Data: cl.b})
		n.Inputs = append(n.Inputs, "b")
	}
	if relu {
		n.Attrs = map[string]model.Attr{ops.AttrActivation: model.StringAttr(ops.ActivationRelu)}
	}
	l, err := buildNode(t, d, n, consts...)
	require.NoError(t, err)
	return l, cl
}

// chainWant runs the chain on the reference (float64 dot products, rounded
// once per layer) and returns the output with a per-element tolerance: each
// layer's rounding, gemmRelTol * (sum_k |x_k w_kn| + |b_n| + 1), plus the
// input's tolerance carried through |W| (ReLU does not grow it).
func chainWant(x []float32, m int, ls []chainLayer) (want []float32, tol []float64) {
	tol = make([]float64, len(x))
	for _, l := range ls {
		act := ops.ActNone
		if l.relu {
			act = ops.ActReLU
		}
		y := ops.Gemm(x, l.w, l.b, m, l.out, l.in, false, true, act)
		next := make([]float64, m*l.out)
		for i := 0; i < m; i++ {
			for n := 0; n < l.out; n++ {
				s, carried := 1.0, 0.0
				for k := 0; k < l.in; k++ {
					w := math.Abs(float64(l.w[n*l.in+k]))
					s += math.Abs(float64(x[i*l.in+k])) * w
					carried += tol[i*l.in+k] * w
				}
				if l.b != nil {
					s += math.Abs(float64(l.b[n]))
				}
				next[i*l.out+n] = gemmRelTol*s + carried
			}
		}
		x, tol = y, next
	}
	return x, tol
}

// requireChain compares a chain's output with the reference: NaN for NaN,
// infinities exactly, finite values within tol.
func requireChain(t *testing.T, got, want []float32, tol []float64, what string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		ok := math.Abs(g-w) <= tol[i]
		if math.IsNaN(w) || math.IsInf(w, 0) || math.IsInf(tol[i], 0) || math.IsNaN(tol[i]) {
			ok = math.IsNaN(w) && math.IsNaN(g) || g == w
		}
		if !ok {
			t.Fatalf("%s: y[%d] = %g, want %g (tol %g)", what, i, got[i], want[i], tol[i])
		}
	}
}

// The chain kernel against the reference at awkward widths (1, 7, 13, 127,
// 257, K = 3001), every batch it takes (15: the most rows of the mnist MLP
// within lavapipe's 32 KiB), 1 to 4 layers, with and without
// bias, ReLU and a final softmax or log-softmax.
func TestDenseChainDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(41))
	cases := []struct {
		widths []int
		final  string // "", "Softmax", "LogSoftmax"
	}{
		{[]int{784, 128, 256, 10}, "Softmax"},
		{[]int{64, 128, 256, 10}, ""},
		{[]int{1, 1}, "Softmax"},
		{[]int{7, 13, 1}, ""},
		{[]int{13, 257, 7, 127, 5}, "LogSoftmax"},
		{[]int{13, 257, 7, 127, 5}, ""}, {[]int{13, 257, 7}, ""}, {[]int{257, 7, 127}, ""}, {[]int{7, 127, 5}, ""}, {[]int{13, 257, 7, 127}, ""},
		{[]int{257, 127, 13}, "Softmax"},
		{[]int{3001, 5}, "LogSoftmax"},
		{[]int{5, 3}, ""}, // one layer, no softmax: nothing to fuse
	}
	for ci, c := range cases {
		var ls []layers.Layer
		var cls []chainLayer
		for i := 0; i+1 < len(c.widths); i++ {
			bias := (ci+i)%3 != 2
			relu := i+2 < len(c.widths) || ci%2 == 1
			l, cl := buildChainDense(t, d, r, c.widths[i], c.widths[i+1], bias, relu)
			ls, cls = append(ls, l), append(cls, cl)
		}
		if c.final != "" {
			l, err := buildNode(t, d, model.Node{Op: c.final, Inputs: []string{"x"}})
			require.NoError(t, err)
			ls = append(ls, l)
		}
		chain, n := layers.NewDenseChain(d, ls)
		if len(ls) < 2 {
			require.Nil(t, chain)
			require.Zero(t, n)
			continue
		}
		if chainKernelFits(d) {
			require.NotNil(t, chain, "widths %v", c.widths)
			require.Equal(t, len(ls), n)
			chain.Budget = math.MaxInt // every batch, even where separate dispatches are faster
		} else {
			// Too many descriptors for the device (VKINFER_LIMITS=min):
			// no chain; the same cases check the separate layers a model
			// then runs.
			require.Nil(t, chain, "widths %v: the chain kernel does not fit the device", c.widths)
			require.Zero(t, n)
		}
		k0, last := c.widths[0], c.widths[len(c.widths)-1]
		runs := []struct{ m, ls int }{{1, 0}, {2, 0}, {3, 0}, {7, 0}, {8, 0}, {15, 0}, {layers.MaxChainRows, 0}, {1, 64}, {7, 64}}
		for _, rc := range runs {
			m := rc.m
			name := fmt.Sprintf("%v%s/m=%d", c.widths, c.final, m)
			in := layers.Shape{m, k0}
			if chain != nil && !chain.Fits(in) {
				t.Logf("%s: does not fit the chain kernel on this device", name)
				continue
			}
			if rc.ls > 0 && chain == nil {
				continue // a workgroup size of the chain kernel: nothing else to run
			}
			if rc.ls > 0 {
				// A workgroup of several SIMD vectors (the GPU shape); on
				// CPU drivers the default is one.
				name += fmt.Sprintf("/workgroup=%d", rc.ls)
				layers.SetChainLocalSize(chain, rc.ls)
			}
			t.Run(name, func(t *testing.T) {
				x := randSlice(r, m*k0)
				if m >= 3 {
					// Row 1: NaN; row 2: an infinity and huge values.
					x[k0] = float32(math.NaN())
					x[2*k0] = float32(math.Inf(1))
					if k0 > 1 {
						x[2*k0+1] = 1e30
					}
				}
				want, tol := chainWant(x, m, cls)
				if c.final != "" {
					sm, err := ops.SoftmaxAxis(want, []int{m, last}, -1, c.final == "LogSoftmax", false)
					require.NoError(t, err)
					// softmax moves by at most twice its inputs' error.
					for row := 0; row < m; row++ {
						worst := 0.0
						for j := 0; j < last; j++ {
							worst = max(worst, tol[row*last+j])
						}
						for j := 0; j < last; j++ {
							tol[row*last+j] = 2*worst + logSoftmaxAbsTol + logSoftmaxRelTol*math.Abs(float64(sm[row*last+j]))
						}
					}
					want = sm
				}
				X := newBuf(t, d, x)
				Y := newBuf(t, d, make([]float32, m*last+1))
				got := run(t, d, Y, m*last+1, func(rec *engine.Recorder) error {
					if chain == nil {
						return recordSeparately(rec, ls, X, in, Y)
					}
					return chain.Record(rec, X, in, Y)
				})
				require.Equal(t, float32(0), got[m*last], "wrote past the end of the output")
				requireChain(t, got[:m*last], want, tol, name)
				if chain == nil || layers.ChainSplit(chain) == 0 {
					require.True(t, chain == nil || len(c.widths) < 3 || c.final == "" && len(c.widths) < 4,
						"a chain of %v%s has a split form", c.widths, c.final)
					return
				}
				// The split form: the first layer over several workgroups
				// (at m = 1 the device's choice of column groups per
				// workgroup, at m = 3 three, which leaves the last
				// workgroup short when the groups are not a multiple of
				// three), then the rest. (Not at every m: each is two
				// pipelines more, and SwiftShader compiles slowly.)
				def := layers.ChainSplit(chain)
				defer layers.SetChainSplit(chain, def)
				splits := map[int][]int{1: {def}, 3: {3}}[m]
				if rc.ls > 0 {
					splits = nil
				}
				for _, split := range splits {
					layers.SetChainSplit(chain, split)
					require.True(t, chain.SplitFits(in), "split %d", split)
					Y := newBuf(t, d, make([]float32, m*last+1))
					got := run(t, d, Y, m*last+1, func(rec *engine.Recorder) error {
						return chain.RecordSplit(rec, X, in, newBuf(t, d, make([]float32, chain.SplitScratch(in))), Y)
					})
					require.Equal(t, float32(0), got[m*last], "split %d wrote past the end of the output", split)
					requireChain(t, got[:m*last], want, tol, fmt.Sprintf("%s/split=%d", name, split))
				}
			})
		}
	}
}

// chainKernelFits reports whether the device can bind the chain kernels'
// ten buffers (not under VKINFER_LIMITS=min: 4 storage buffers per stage).
func chainKernelFits(d *engine.Device) bool {
	return d.KernelFits("dense_chain") == nil && d.KernelFits("dense_chain_texel") == nil
}

// recordSeparately records ls one after another from x (shape in) into y,
// with temporaries between them: what a model runs without the chain.
func recordSeparately(rec *engine.Recorder, ls []layers.Layer, x *engine.Buffer, in layers.Shape, y *engine.Buffer) error {
	cur, shape := x, in
	for i, l := range ls {
		outs, err := inferLayer(l, []layers.Shape{shape})
		if err != nil {
			return err
		}
		next := y
		if i+1 < len(ls) {
			if next, err = rec.Temp(4 * int64(outs[0].Elems())); err != nil {
				return err
			}
		}
		if err := l.Record(rec, []*engine.Buffer{cur}, []layers.Shape{shape}, []*engine.Buffer{next}); err != nil {
			return err
		}
		cur, shape = next, outs[0]
	}
	return nil
}

// What the chain takes and refuses: at most four Dense layers whose widths
// follow on, a softmax only at the end and only along the last axis, few
// rows, activations that fit shared memory.
func TestDenseChainLimits(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(43))
	dense := func(in, out int) layers.Layer {
		l, _ := buildChainDense(t, d, r, in, out, true, true)
		return l
	}
	if !chainKernelFits(d) {
		// The device's descriptor limits refuse the kernel: no chain at
		// all, and the engine says which limit.
		c, n := layers.NewDenseChain(d, []layers.Layer{dense(4, 5), dense(5, 6)})
		require.Nil(t, c)
		require.Zero(t, n)
		require.ErrorIs(t, d.KernelFits("dense_chain"), engine.ErrUnsupported)
		require.ErrorContains(t, d.KernelFits("dense_chain"), "maxPerStageDescriptorStorageBuffers")
		return
	}
	relu, err := buildNode(t, d, model.Node{Op: "Relu", Inputs: []string{"x"}})
	require.NoError(t, err)
	sm1, err := buildNode(t, d, model.Node{Op: "Softmax", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(1)}})
	require.NoError(t, err)

	c, n := layers.NewDenseChain(d, []layers.Layer{dense(4, 5), dense(5, 6), dense(6, 7), dense(7, 8), dense(8, 9)})
	require.NotNil(t, c)
	require.Equal(t, layers.MaxChainLayers, n, "a fifth layer starts a new chain")

	c, n = layers.NewDenseChain(d, []layers.Layer{dense(4, 5), relu, dense(5, 6)})
	require.Nil(t, c, "a standalone Relu ends the chain after one layer")
	require.Zero(t, n)

	c, n = layers.NewDenseChain(d, []layers.Layer{dense(4, 5), dense(6, 7)})
	require.Nil(t, c, "widths that do not follow on")
	require.Zero(t, n)

	c, n = layers.NewDenseChain(d, []layers.Layer{dense(4, 5), sm1})
	require.NotNil(t, c)
	require.Equal(t, 2, n)
	c.Budget = 3 * 4 * 5
	require.True(t, c.Fits(layers.Shape{3, 4}))
	require.False(t, c.Fits(layers.Shape{4, 4}), "more work than the budget")
	c.Budget = math.MaxInt
	require.False(t, c.Fits(layers.Shape{layers.MaxChainRows + 1, 4}), "too many rows")
	require.True(t, c.Fits(layers.Shape{3, 4}), "axis 1 of [3 5] is the last axis")
	require.False(t, c.Fits(layers.Shape{2, 3, 4}), "axis 1 of [2 3 5] is not")
	require.False(t, c.Fits(layers.Shape{3, 5}), "wrong input width")
	require.False(t, c.Fits(layers.Shape{1 << 20, 4}), "a large batch is the GEMM kernels' work")

	c, _ = layers.NewDenseChain(d, []layers.Layer{dense(1<<16+1, 4), dense(4, 4)})
	require.NotNil(t, c)
	c.Budget = math.MaxInt
	require.False(t, c.Fits(layers.Shape{1, 1<<16 + 1}), "256 KiB of input rows to stage exceed shared memory")
	c, _ = layers.NewDenseChain(d, []layers.Layer{dense(4, 1<<16), dense(1<<16, 4)})
	require.NotNil(t, c)
	c.Budget = math.MaxInt
	require.False(t, c.Fits(layers.Shape{1, 4}), "256 KiB of activations between layers exceed shared memory")
}
