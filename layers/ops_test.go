package layers_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Tolerances of the element-wise kernels, |got - want| <= abs + rel*|want|
// against layers/ref (see also kernels_test.go). Results below the smallest
// normal float32 may be flushed to zero (Vulkan allows denormal flushing).
const (
	// Add, Sub, Mul, Relu, LeakyRelu, Clip, Identity: one correctly rounded
	// IEEE operation or none, so exact.
	exactTol = 0
	// Div: Vulkan requires 2.5 ULP; 4 ULP relative covers it.
	divRelTol = 4.0 / (1 << 23)
	// Sigmoid and Tanh: exp() is allowed 3 + 2|x| ULP, so outputs near 0
	// from large |x| carry a few 1e-6 of relative error.
	sigmoidAbsTol = 1e-6
	sigmoidRelTol = 2e-5
	tanhAbsTol    = 1e-6
	tanhRelTol    = 4e-6
	// LogSoftmax: (x - m) - log(sum); log() is good to 2^-21 absolute near 1.
	logSoftmaxAbsTol = 2e-6
	logSoftmaxRelTol = 2e-6
)

const minNormal = 1.1754943508222875e-38

// closeTo compares with NaN matching NaN, an infinity only itself, and
// denormal expectations allowed to flush to zero.
func closeTo(got, want float32, abs, rel float64) bool {
	g, w := float64(got), float64(want)
	switch {
	case math.IsNaN(w):
		return math.IsNaN(g)
	case math.IsInf(w, 0):
		return g == w
	case math.Abs(w) < minNormal && math.Abs(g) < minNormal:
		return true
	}
	return math.Abs(g-w) <= abs+rel*math.Abs(w)
}

// requireClose fails on the first element outside the tolerance.
func requireClose(t *testing.T, got, want []float32, abs, rel float64, what string, inputs ...[]float32) {
	t.Helper()
	require.Equal(t, len(want), len(got), "%s: length", what)
	worst := 0.0
	for i := range want {
		if !closeTo(got[i], want[i], abs, rel) {
			var ins []string
			for _, in := range inputs {
				if i < len(in) {
					ins = append(ins, fmt.Sprint(in[i]))
				}
			}
			t.Fatalf("%s[%d] = %v, want %v (tol %g + %g*|want|; inputs at i: %v)", what, i, got[i], want[i], abs, rel, ins)
		}
		if w := float64(want[i]); !math.IsNaN(w) && !math.IsInf(w, 0) && math.Abs(w) >= minNormal {
			worst = max(worst, math.Abs(float64(got[i])-w)/(abs+rel*math.Abs(w)+1e-300))
		}
	}
	if worst > 0.5 {
		t.Logf("%s: worst error %.2f of the tolerance", what, worst)
	}
}

// specials are the values element-wise tests plant among random inputs.
var specials = []float32{
	float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
	3.4e38, -3.4e38, 1e-30, -1e-30, 88, -88, 89, -89, 104, -104, 1e5, -1e5, 1e-4, -1e-4, 0.625, -0.625, 9, -9, 20, -20,
}

// awkward are the element counts of the element-wise tests.
var awkward = []int{1, 7, 13, 127, 257, 1<<20 + 3}

func withSpecials(r *rand.Rand, n int, scale float32) []float32 {
	x := randSlice(r, n)
	for i := range x {
		x[i] *= scale
	}
	for i := 0; i < n && i < len(specials); i++ {
		x[(i*7919)%n] = specials[i]
	}
	return x
}

func TestUnaryDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(11))
	inf := float32(math.Inf(1))
	cases := []struct {
		op          ops.UnaryOp
		refOp       ops.UnaryOp
		alpha, beta float32
		abs, rel    float64
	}{
		{ops.UnaryIdentity, ops.UnaryIdentity, 0, 0, exactTol, 0},
		{ops.UnaryRelu, ops.UnaryRelu, 0, 0, exactTol, 0},
		{ops.UnaryLeakyRelu, ops.UnaryLeakyRelu, 0.01, 0, exactTol, 0},
		{ops.UnaryLeakyRelu, ops.UnaryLeakyRelu, -3, 0, exactTol, 0},
		{ops.UnarySigmoid, ops.UnarySigmoid, 0, 0, sigmoidAbsTol, sigmoidRelTol},
		{ops.UnaryTanh, ops.UnaryTanh, 0, 0, tanhAbsTol, tanhRelTol},
		{ops.UnaryClip, ops.UnaryClip, -1, 2, exactTol, 0},
		{ops.UnaryClip, ops.UnaryClip, -inf, inf, exactTol, 0},
		{ops.UnaryClip, ops.UnaryClip, 0, 6, exactTol, 0},
		{ops.UnaryClip, ops.UnaryClip, 3, 1, exactTol, 0},
	}
	// Multiples of 4 run each kernel (four elements per invocation, with
	// storage or texel loads); the others run unary.comp.
	type sized struct {
		n      int
		kernel string
	}
	var sizes []sized
	for _, n := range awkward {
		sizes = append(sizes, sized{n, ""})
	}
	for _, n := range []int{4, 12, 132, 1<<18 + 4} {
		for _, k := range layers.UnaryKernels {
			sizes = append(sizes, sized{n, k})
		}
	}
	defer layers.ForceUnary("")
	for _, sz := range sizes {
		n := sz.n
		layers.ForceUnary(sz.kernel)
		x := withSpecials(r, n, 10)
		X := newBuf(t, d, x)
		Y := newBuf(t, d, make([]float32, n))
		for _, c := range cases {
			t.Run(fmt.Sprintf("%v(%v,%v)/%d%s", c.op, c.alpha, c.beta, n, sz.kernel), func(t *testing.T) {
				u := layers.Unary{Op: c.op, Alpha: c.alpha, Beta: c.beta, N: n}
				got := run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordUnary(rec, d, u, X, Y) })
				want := ops.Unary(c.refOp, x, c.alpha, c.beta)
				requireClose(t, got, want, c.abs, c.rel, c.op.String(), x)
				if c.op != ops.UnarySigmoid && c.op != ops.UnaryTanh && preservesSpecials(d) {
					for i := range want { // -0 stays -0 where the reference keeps it (and the device promises it)
						if want[i] == 0 && got[i] == 0 && math.Signbit(float64(want[i])) != math.Signbit(float64(got[i])) && math.Abs(float64(x[i])) >= minNormal {
							t.Fatalf("%v[%d] of %v = %v, want %v", c.op, i, x[i], got[i], want[i])
						}
					}
				}
			})
		}
	}
	// A dense sweep of sigmoid and tanh over [-120, 120].
	t.Run("sweep", func(t *testing.T) {
		n := 240001
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i-n/2) / 1000
		}
		X, Y := newBuf(t, d, x), newBuf(t, d, make([]float32, n))
		for _, c := range []struct {
			op       ops.UnaryOp
			refOp    ops.UnaryOp
			abs, rel float64
		}{{ops.UnarySigmoid, ops.UnarySigmoid, sigmoidAbsTol, sigmoidRelTol}, {ops.UnaryTanh, ops.UnaryTanh, tanhAbsTol, tanhRelTol}} {
			got := run(t, d, Y, n, func(rec *engine.Recorder) error {
				return layers.RecordUnary(rec, d, layers.Unary{Op: c.op, N: n}, X, Y)
			})
			requireClose(t, got, ops.Unary(c.refOp, x, 0, 0), c.abs, c.rel, c.op.String(), x)
		}
	})
}

func TestUnaryOffsets(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	x := []float32{1, 2, 3, 4, 5, 6, 7}
	X := newBuf(t, d, x)
	Y := newBuf(t, d, make([]float32, 9))
	got := run(t, d, Y, 9, func(rec *engine.Recorder) error {
		return layers.RecordUnary(rec, d, layers.Unary{Op: ops.UnaryIdentity, N: 3, OffX: 4, OffY: 5}, X, Y)
	})
	require.Equal(t, []float32{0, 0, 0, 0, 0, 5, 6, 7, 0}, got)
	// Four elements per invocation at offsets of whole vec4s.
	x = []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	X4 := newBuf(t, d, x)
	Y4 := newBuf(t, d, make([]float32, 16))
	defer layers.ForceUnary("")
	for _, k := range layers.UnaryKernels {
		layers.ForceUnary(k)
		got = run(t, d, Y4, 16, func(rec *engine.Recorder) error {
			return layers.RecordUnary(rec, d, layers.Unary{Op: ops.UnaryNeg, N: 8, OffX: 4, OffY: 8}, X4, Y4)
		})
		require.Equal(t, []float32{0, 0, 0, 0, 0, 0, 0, 0, -5, -6, -7, -8, -9, -10, -11, -12}, got, k)
	}
	rec := d.NewRecorder()
	require.Error(t, layers.RecordUnary(rec, d, layers.Unary{Op: ops.UnaryIdentity, N: 4, OffX: 4}, X, Y), "past the end of x")
	require.Error(t, layers.RecordUnary(rec, d, layers.Unary{Op: ops.UnaryOp(77), N: 1}, X, Y))
}

// binaryCase is a pair of shapes for the broadcasting tests.
type binaryCase struct{ a, b layers.Shape }

var binaryShapes = []binaryCase{
	{layers.Shape{1}, layers.Shape{1}},
	{layers.Shape{7}, layers.Shape{7}},
	{layers.Shape{13}, layers.Shape{}},
	{layers.Shape{}, layers.Shape{127}},
	{layers.Shape{257, 13}, layers.Shape{13}},
	{layers.Shape{1, 13}, layers.Shape{7, 13}},
	{layers.Shape{7, 13}, layers.Shape{7, 1}},
	{layers.Shape{7, 1}, layers.Shape{1, 13}},
	{layers.Shape{2, 3, 4, 5}, layers.Shape{3, 1, 5}},
	{layers.Shape{3, 1, 5}, layers.Shape{2, 3, 4, 5}},
	{layers.Shape{7, 1, 13}, layers.Shape{1, 5, 1}},
	{layers.Shape{2, 3, 2, 3, 2, 3}, layers.Shape{2, 1, 2, 1, 2, 1}},
	// Rank 8, merging to rank <= 6.
	{layers.Shape{2, 1, 3, 1, 2, 1, 2, 3}, layers.Shape{1, 1, 1, 4, 1, 5, 1, 1}},
	{layers.Shape{1, 1, 1, 1, 1, 1, 1, 7}, layers.Shape{7}},
	{layers.Shape{0, 3}, layers.Shape{3}},
	{layers.Shape{1025, 1023}, layers.Shape{1023}},
	{layers.Shape{1, 1023}, layers.Shape{1025, 1023}},
	{layers.Shape{64, 128, 129}, layers.Shape{64, 128, 129}},
	{layers.Shape{64, 1, 129}, layers.Shape{1, 128, 1}},
}

func TestBinaryDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(12))
	binOps := []struct {
		op    layers.BinaryOp
		refOp ops.BinaryOp
		rel   float64
	}{
		{layers.BinaryAdd, ops.Add, exactTol},
		{layers.BinarySub, ops.Sub, exactTol},
		{layers.BinaryMul, ops.Mul, exactTol},
		{layers.BinaryDiv, ops.Div, divRelTol},
		{layers.BinaryMax, ops.Max, exactTol},
		{layers.BinaryMin, ops.Min, exactTol},
	}
	for _, c := range binaryShapes {
		a := withSpecials(r, c.a.Elems(), 10)
		b := withSpecials(r, c.b.Elems(), 10)
		if len(b) > 3 {
			b[len(b)-1], b[len(b)-2] = 3e-38, -5e37 // divisors at the ends of Vulkan's 2.5-ULP range
		}
		want0, _, err := ops.Binary(ops.Add, a, c.a, b, c.b)
		require.NoError(t, err)
		n := len(want0)
		A, B := newBuf(t, d, padEmpty(a)), newBuf(t, d, padEmpty(b))
		Y := newBuf(t, d, make([]float32, max(n, 1)))
		for _, op := range binOps {
			for _, general := range []bool{false, true} {
				if general && n > 1<<18 && op.op != layers.BinaryDiv {
					continue
				}
				t.Run(fmt.Sprintf("%v_%v_%v_general%v", op.op, c.a, c.b, general), func(t *testing.T) {
					g := layers.Binary{Op: op.op, A: c.a, B: c.b, General: general}
					got := run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordBinary(rec, d, g, A, B, Y) })
					want, _, err := ops.Binary(op.refOp, a, c.a, b, c.b)
					require.NoError(t, err)
					requireClose(t, got, want, 0, op.rel, op.op.String())
				})
			}
		}
	}
}

// The four-elements-per-invocation kernels (binary4.comp, binary4_texel.comp)
// on the broadcasts they take (same shapes, a repeating suffix, a scalar,
// a per-channel operand spread over NCHW at batch 1 and 2, either side),
// each kernel forced, and shapes they do not take (the scalar kernel runs),
// against the reference with NaN and Inf in both operands.
func TestBinary4Differential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(14))
	// want: the kernels that take the shapes ("" none: binary.comp runs).
	// binary4 reads whole vec4s, so an operand of 13 or 5 elements is
	// binary4_texel's only.
	shapes := []struct {
		binaryCase
		want string
	}{
		{binaryCase{layers.Shape{4}, layers.Shape{4}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{2, 3, 4, 4}, layers.Shape{2, 3, 4, 4}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{7, 12}, layers.Shape{12}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{8}, layers.Shape{13, 8}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{2, 8, 4, 4}, layers.Shape{2, 8, 1, 1}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{2, 8, 2, 2}, layers.Shape{1, 8, 1, 1}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{1, 12, 1, 1}, layers.Shape{1, 12, 8, 1}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{1, 96, 56, 56}, layers.Shape{1, 96, 1, 1}}, "binary4 binary4_texel"},
		{binaryCase{layers.Shape{1, 8, 3, 4}, layers.Shape{}}, "binary4_texel"},
		{binaryCase{layers.Shape{1}, layers.Shape{20}}, "binary4_texel"},
		{binaryCase{layers.Shape{1, 13, 4, 3}, layers.Shape{1, 13, 1, 1}}, "binary4_texel"},
		{binaryCase{layers.Shape{2, 5, 4, 4}, layers.Shape{2, 5, 1, 1}}, "binary4_texel"},
		{binaryCase{layers.Shape{2, 5, 4, 4}, layers.Shape{1, 5, 1, 1}}, "binary4_texel"},
		{binaryCase{layers.Shape{1, 7, 1, 1}, layers.Shape{1, 7, 8, 1}}, "binary4_texel"},
		{binaryCase{layers.Shape{3, 7, 1, 1}, layers.Shape{1, 7, 2, 6}}, ""}, // b broadcasts over N too
		{binaryCase{layers.Shape{1, 5, 3, 3}, layers.Shape{1, 5, 1, 1}}, ""},
		{binaryCase{layers.Shape{5, 6}, layers.Shape{5, 1}}, ""},
		{binaryCase{layers.Shape{4, 1}, layers.Shape{1, 4}}, ""},
		{binaryCase{layers.Shape{7, 6}, layers.Shape{6}}, ""},
	}
	binOps := []struct {
		op    layers.BinaryOp
		refOp ops.BinaryOp
		rel   float64
	}{{layers.BinaryAdd, ops.Add, exactTol}, {layers.BinaryMul, ops.Mul, exactTol}, {layers.BinaryDiv, ops.Div, divRelTol},
		{layers.BinarySub, ops.Sub, exactTol}, {layers.BinaryMax, ops.Max, exactTol}}
	defer layers.ForceBinary("")
	for _, c := range shapes {
		a := withSpecials(r, c.a.Elems(), 10)
		b := withSpecials(r, c.b.Elems(), 10)
		want0, _, err := ops.Binary(ops.Add, a, c.a, b, c.b)
		require.NoError(t, err)
		n := len(want0)
		A, B := newBuf(t, d, a), newBuf(t, d, b)
		Y := newBuf(t, d, make([]float32, n))
		for _, k := range layers.BinaryKernels[1:] {
			layers.ForceBinary(k)
			want := "binary"
			if slices.Contains(strings.Fields(c.want), k) {
				want = k
			}
			if got := layers.BinaryKernel(d, layers.Binary{Op: layers.BinaryAdd, A: c.a, B: c.b}, A, B); got != want &&
				(k != "binary4_texel" || len(a) < 65536*4 && len(b) < 65536*4) { // else past a small texel view
				t.Fatalf("%v with %v forced to %s: kernel %s, want %s", c.a, c.b, k, got, want)
			}
		}
		for _, k := range layers.BinaryKernels {
			for _, op := range binOps {
				t.Run(fmt.Sprintf("%v_%v_%v_%s", op.op, c.a, c.b, k), func(t *testing.T) {
					layers.ForceBinary(k)
					g := layers.Binary{Op: op.op, A: c.a, B: c.b}
					got := run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordBinary(rec, d, g, A, B, Y) })
					want, _, err := ops.Binary(op.refOp, a, c.a, b, c.b)
					require.NoError(t, err)
					requireClose(t, got, want, 0, op.rel, op.op.String())
				})
			}
		}
	}
}

func padEmpty(x []float32) []float32 {
	if len(x) == 0 {
		return []float32{0}
	}
	return x
}

func TestBinarySpecialValues(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1)) // Go reads the literal -0.0 as +0
	// Includes divisors beyond 2^126 with normal quotients (10 / 3.4e38).
	a := []float32{1, -1, 0, inf, nan, 1, inf, -inf, 3e38, 1e-30, 7, 0, negZero, 1e30, 5, 10, -3e38, 1e30, 3.4e38}
	b := []float32{0, 0, 0, inf, 1, inf, -inf, inf, 3e38, 1e30, nan, -1, 5, 1e-30, 1e38, 3.4e38, 3.4e38, -2e38, 3.4e38}
	n := len(a)
	A, B, Y := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, make([]float32, n))
	for _, op := range []struct {
		op    layers.BinaryOp
		refOp ops.BinaryOp
		rel   float64
	}{{layers.BinaryAdd, ops.Add, 0}, {layers.BinarySub, ops.Sub, 0}, {layers.BinaryMul, ops.Mul, 0}, {layers.BinaryDiv, ops.Div, divRelTol},
		{layers.BinaryMax, ops.Max, 0}, {layers.BinaryMin, ops.Min, 0}} {
		got := run(t, d, Y, n, func(rec *engine.Recorder) error {
			return layers.RecordBinary(rec, d, layers.Binary{Op: op.op, A: layers.Shape{n}, B: layers.Shape{n}}, A, B, Y)
		})
		want, _, _ := ops.Binary(op.refOp, a, []int{n}, b, []int{n})
		requireClose(t, got, want, 0, op.rel, op.op.String(), a, b)
	}
}

func TestBinaryAxpby(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(13))
	a, b := randSlice(r, 7*13), randSlice(r, 13)
	A, B, Y := newBuf(t, d, a), newBuf(t, d, b), newBuf(t, d, make([]float32, 7*13))
	got := run(t, d, Y, 7*13, func(rec *engine.Recorder) error {
		g := layers.Binary{Op: layers.BinaryAxpby, A: layers.Shape{7, 13}, B: layers.Shape{13}, Alpha: 0.5, Beta: -3}
		return layers.RecordBinary(rec, d, g, A, B, Y)
	})
	for i := range got {
		w := 0.5*float64(a[i]) - 3*float64(b[i%13])
		require.InDelta(t, w, got[i], 1e-6*(1+math.Abs(w)), "y[%d]", i)
	}
}

func TestBinaryRankLimit(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	// Rank 7, alternating broadcast: nothing merges.
	a := layers.Shape{2, 1, 2, 1, 2, 1, 2}
	b := layers.Shape{1, 2, 1, 2, 1, 2, 1}
	A, B, Y := newBuf(t, d, make([]float32, 16)), newBuf(t, d, make([]float32, 8)), newBuf(t, d, make([]float32, 128))
	err := layers.RecordBinary(d.NewRecorder(), d, layers.Binary{Op: layers.BinaryAdd, A: a, B: b}, A, B, Y)
	require.ErrorIs(t, err, layers.ErrUnsupported)
	_, err = layers.BroadcastShapes(layers.Shape{2, 3}, layers.Shape{2})
	require.Error(t, err)
}

type softmaxCase struct {
	shape  layers.Shape
	axis   int
	coerce bool
}

func TestSoftmaxAxisDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(14))
	cases := []softmaxCase{
		{layers.Shape{1}, 0, false},
		{layers.Shape{7, 13}, 1, false},
		{layers.Shape{7, 13}, 0, false},
		{layers.Shape{7, 13}, -2, true},
		{layers.Shape{2, 3, 4, 5}, 1, false},
		{layers.Shape{2, 3, 4, 5}, 1, true},
		{layers.Shape{2, 3, 4, 5}, -2, false},
		{layers.Shape{13, 127, 7}, 1, false},
		{layers.Shape{3, 257, 2}, 1, false},
		{layers.Shape{1, 10, 56, 56}, 1, false},
		{layers.Shape{4, 1000}, -1, false},
		{layers.Shape{2, 3, 300}, 0, true},
	}
	for _, c := range cases {
		n := c.shape.Elems()
		x := randSlice(r, n)
		for i := range x {
			x[i] *= 10
		}
		X, Y := newBuf(t, d, x), newBuf(t, d, make([]float32, n))
		sm := layersSoftmax(c)
		for _, log := range []bool{false, true} {
			for _, k := range []layers.SoftmaxKernel{layers.SoftmaxWorkgroup, layers.SoftmaxSerial} {
				t.Run(fmt.Sprintf("%v_axis%d_coerce%v_log%v_kernel%d", c.shape, c.axis, c.coerce, log, k), func(t *testing.T) {
					s := sm
					s.Log, s.Kernel = log, k
					got := run(t, d, Y, n, func(rec *engine.Recorder) error { return layers.RecordSoftmaxAxis(rec, d, s, X, Y) })
					want, err := ops.SoftmaxAxis(x, c.shape, c.axis, log, c.coerce)
					require.NoError(t, err)
					if log {
						requireClose(t, got, want, logSoftmaxAbsTol, logSoftmaxRelTol, "logsoftmax")
					} else {
						requireClose(t, got, want, softmaxAbsTol, softmaxRelTol, "softmax")
					}
				})
			}
		}
	}
}

// layersSoftmax is the [Outer, N, Inner] view of a case.
func layersSoftmax(c softmaxCase) layers.Softmax {
	axis := c.axis
	if axis < 0 {
		axis += len(c.shape)
	}
	s := layers.Softmax{Outer: 1, N: 1, Inner: 1}
	for i, d := range c.shape {
		switch {
		case i < axis:
			s.Outer *= d
		case i == axis || c.coerce:
			s.N *= d
		default:
			s.Inner *= d
		}
	}
	return s
}

func TestSoftmaxSpecialRows(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	// Rows along axis 0 of a [4, 6] tensor (stride 6), one special per column.
	cols := [][]float32{
		{1e30, -1e30, 1e30, 0},
		{-1e30, -1e30, -1e30, -1e30},
		{-inf, 0, 1, -inf},
		{-inf, -inf, -inf, -inf},
		{nan, 1, 2, 3},
		{inf, 1, 2, 3},
	}
	x := make([]float32, 24)
	for j, col := range cols {
		for i, v := range col {
			x[i*6+j] = v
		}
	}
	X, Y := newBuf(t, d, x), newBuf(t, d, make([]float32, 24))
	for _, log := range []bool{false, true} {
		for _, k := range []layers.SoftmaxKernel{layers.SoftmaxWorkgroup, layers.SoftmaxSerial} {
			s := layers.Softmax{Outer: 1, N: 4, Inner: 6, Log: log, Kernel: k}
			got := run(t, d, Y, 24, func(rec *engine.Recorder) error { return layers.RecordSoftmaxAxis(rec, d, s, X, Y) })
			want, _ := ops.SoftmaxAxis(x, []int{4, 6}, 0, log, false)
			requireClose(t, got, want, logSoftmaxAbsTol, logSoftmaxRelTol, fmt.Sprintf("log%v kernel%d", log, k), x)
		}
	}
}

// buildNode compiles one node with the given constants.
func buildNode(t testing.TB, d *engine.Device, n model.Node, consts ...*model.Tensor) (layers.Layer, error) {
	t.Helper()
	b, ok := layers.Lookup(n.Op)
	require.True(t, ok, "op %s is not registered", n.Op)
	if n.Name == "" {
		n.Name = "node_" + n.Op
	}
	if n.Outputs == nil {
		n.Outputs = []string{"y"}
	}
	build := &layers.Build{Dev: d, Const: func(name string) *model.Tensor {
		for _, c := range consts {
			if c.Name == name {
				return c
			}
		}
		return nil
	}}
	l, err := b(build, &n)
	if err == nil {
		t.Cleanup(l.Close)
		builtNodes.Store(l, builtNode{n, build.Const})
	}
	return l, err
}

// builtNodes remembers the node each test layer was built from, for
// inferLayer.
var builtNodes sync.Map // layers.Layer -> builtNode

type builtNode struct {
	n      model.Node
	consts func(string) *model.Tensor
}

// inferLayer returns the output shapes of the node l was built from, as
// package ops infers them (layers do not infer shapes).
func inferLayer(l layers.Layer, in []layers.Shape) ([]layers.Shape, error) {
	v, ok := builtNodes.Load(l)
	if !ok {
		return nil, fmt.Errorf("layer %T was not built by buildNode", l)
	}
	b := v.(builtNode)
	return layers.InferNode(&b.n, b.consts, in)
}

// runLayer infers, records and runs l on runtime inputs, returning the
// output and its shape. Buffers are one element larger than the tensors,
// as the facade's reused buffers may be.
func runLayer(t *testing.T, d *engine.Device, l layers.Layer, ins [][]float32, shapes []layers.Shape) ([]float32, layers.Shape) {
	t.Helper()
	outs, err := inferLayer(l, shapes)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	bufs := make([]*engine.Buffer, len(ins))
	for i, x := range ins {
		bufs[i] = newBuf(t, d, append(append([]float32{}, x...), 12345))
	}
	n := outs[0].Elems()
	Y := newBuf(t, d, make([]float32, n+1))
	got := run(t, d, Y, n+1, func(rec *engine.Recorder) error { return l.Record(rec, bufs, shapes, []*engine.Buffer{Y}) })
	require.Equal(t, float32(0), got[n], "wrote past the end of the output")
	return got[:n], outs[0]
}

func TestReshapeFlatten(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	x := make([]float32, 2*3*4*5)
	for i := range x {
		x[i] = float32(i)
	}
	cases := []struct {
		node model.Node
		in   layers.Shape
		want layers.Shape
	}{
		{model.Node{Op: "Flatten"}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 60}},
		{model.Node{Op: "Flatten", Attrs: map[string]model.Attr{"axis": model.IntAttr(0)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{1, 120}},
		{model.Node{Op: "Flatten", Attrs: map[string]model.Attr{"axis": model.IntAttr(4)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{120, 1}},
		{model.Node{Op: "Flatten", Attrs: map[string]model.Attr{"axis": model.IntAttr(-2)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{6, 20}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(-1, 60)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 60}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(0, -1)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 60}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(0, 0, -1)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 3, 20}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(5, 4, 3, 2)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{5, 4, 3, 2}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(-1)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{120}},
		{model.Node{Op: "Reshape", Attrs: map[string]model.Attr{"shape": model.IntsAttr(2, 0, 20), "allowzero": model.IntAttr(0)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 3, 20}},
		{model.Node{Op: "Identity"}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 3, 4, 5}},
		{model.Node{Op: "Dropout", Attrs: map[string]model.Attr{"ratio": model.FloatAttr(0.3)}}, layers.Shape{2, 3, 4, 5}, layers.Shape{2, 3, 4, 5}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s%v_%v", c.node.Op, c.node.Attrs, c.in), func(t *testing.T) {
			c.node.Inputs = []string{"x"}
			l, err := buildNode(t, d, c.node)
			require.NoError(t, err)
			got, shape := runLayer(t, d, l, [][]float32{x}, []layers.Shape{c.in})
			require.Equal(t, c.want, shape)
			require.Equal(t, x, got)
		})
	}
	// Dynamic batch: one layer, several batch sizes.
	l, err := buildNode(t, d, model.Node{Op: "Reshape", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"shape": model.IntsAttr(-1, 784)}})
	require.NoError(t, err)
	for _, batch := range []int{1, 7, 13} {
		in := make([]float32, batch*784)
		for i := range in {
			in[i] = float32(i % 1000)
		}
		got, shape := runLayer(t, d, l, [][]float32{in}, []layers.Shape{{batch, 28, 28}})
		require.Equal(t, layers.Shape{batch, 784}, shape)
		require.Equal(t, in, got)
	}
	// Shape from a constant input.
	l, err = buildNode(t, d, model.Node{Op: "Reshape", Inputs: []string{"x", "s"}}, &model.Tensor{Name: "s", Shape: []int{2}, Data: []float32{0, -1}})
	require.NoError(t, err)
	outs, err := inferLayer(l, []layers.Shape{{3, 4, 5}})
	require.NoError(t, err)
	require.Equal(t, layers.Shape{3, 20}, outs[0])
	// Infer errors.
	for _, c := range []struct {
		target []int64
		in     layers.Shape
	}{{[]int64{7, -1}, layers.Shape{2, 3}}, {[]int64{0, 0, 0}, layers.Shape{6, 1}}, {[]int64{4}, layers.Shape{2, 3}}} {
		l, err := buildNode(t, d, model.Node{Op: "Reshape", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"shape": model.IntsAttr(c.target...)}})
		require.NoError(t, err)
		_, err = inferLayer(l, []layers.Shape{c.in})
		require.Error(t, err, "reshape %v to %v", c.in, c.target)
		require.Contains(t, err.Error(), "node_Reshape")
	}
	l, err = buildNode(t, d, model.Node{Op: "Flatten", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(3)}})
	require.NoError(t, err)
	_, err = inferLayer(l, []layers.Shape{{2, 3}})
	require.Error(t, err)
}

func TestOpLayers(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(15))
	x := withSpecials(r, 7*13, 5)
	xs := layers.Shape{7, 13}
	inf := float32(math.Inf(1))
	cases := []struct {
		node     model.Node
		want     []float32
		abs, rel float64
	}{
		{model.Node{Op: "LeakyRelu"}, ops.Unary(ops.UnaryLeakyRelu, x, 0.01, 0), 0, 0},
		{model.Node{Op: "LeakyRelu", Attrs: map[string]model.Attr{"alpha": model.FloatAttr(0.2)}}, ops.Unary(ops.UnaryLeakyRelu, x, 0.2, 0), 0, 0},
		{model.Node{Op: "Sigmoid"}, ops.Unary(ops.UnarySigmoid, x, 0, 0), sigmoidAbsTol, sigmoidRelTol},
		{model.Node{Op: "Tanh"}, ops.Unary(ops.UnaryTanh, x, 0, 0), tanhAbsTol, tanhRelTol},
		{model.Node{Op: "Clip"}, x, 0, 0},
		{model.Node{Op: "Clip", Attrs: map[string]model.Attr{"min": model.FloatAttr(0), "max": model.FloatAttr(6)}}, ops.Unary(ops.UnaryClip, x, 0, 6), 0, 0},
		{model.Node{Op: "Clip", Attrs: map[string]model.Attr{"max": model.FloatAttr(-2)}}, ops.Unary(ops.UnaryClip, x, -inf, -2), 0, 0},
		{model.Node{Op: "Clip", Inputs: []string{"x", "", "hi"}}, ops.Unary(ops.UnaryClip, x, -inf, 1.5), 0, 0},
		{model.Node{Op: "Relu"}, ops.Unary(ops.UnaryRelu, x, 0, 0), 0, 0},
		{model.Node{Op: "Identity"}, x, 0, 0},
		{model.Node{Op: "Dropout", Inputs: []string{"x", "ratio", "training"}}, x, 0, 0},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s%v", c.node.Op, c.node.Attrs), func(t *testing.T) {
			if c.node.Inputs == nil {
				c.node.Inputs = []string{"x"}
			}
			l, err := buildNode(t, d, c.node,
				&model.Tensor{Name: "hi", Shape: []int{}, Data: []float32{1.5}},
				&model.Tensor{Name: "ratio", Shape: []int{}, Data: []float32{0.5}},
				&model.Tensor{Name: "training", Shape: []int{}, Data: []float32{0}})
			require.NoError(t, err)
			got, shape := runLayer(t, d, l, [][]float32{x}, []layers.Shape{xs})
			require.Equal(t, xs, shape)
			requireClose(t, got, c.want, c.abs, c.rel, c.node.Op, x)
		})
	}
}

// Clip whose bounds are computed at run time (scalar runtime inputs), alone
// or with a constant other bound, matches ops.Unary's Clip at awkward sizes,
// with NaN/Inf inputs and lo > hi (hi wins, as ONNX Runtime).
func TestClipRuntimeBounds(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(18))
	inf := float32(math.Inf(1))
	for _, n := range []int{1, 7, 13, 127, 257, 7 * 1031} {
		x := withSpecials(r, n, 5)
		xs := layers.Shape{n}
		for _, c := range []struct {
			ins    []string
			lo, hi float32 // the values of "lo"/"hi" (runtime) or "clo"/"chi" (constant)
		}{
			{[]string{"x", "lo", "hi"}, -0.5, 0.75},
			{[]string{"x", "lo", "hi"}, 1, -1},
			{[]string{"x", "lo", "chi"}, -0.25, 2},
			{[]string{"x", "clo", "hi"}, -2, 0.25},
			{[]string{"x", "lo", "inf"}, 0.1, inf},
			{[]string{"x", "ninf", "hi"}, -inf, -0.1},
		} {
			t.Run(fmt.Sprintf("%d_%v_%v_%v", n, c.ins, c.lo, c.hi), func(t *testing.T) {
				scalar := func(name string, v float32) *model.Tensor {
					return &model.Tensor{Name: name, Shape: []int{}, Data: []float32{v}}
				}
				l, err := buildNode(t, d, model.Node{Op: "Clip", Inputs: c.ins},
					scalar("clo", c.lo), scalar("chi", c.hi), scalar("inf", inf), scalar("ninf", -inf))
				require.NoError(t, err)
				rt, shapes := [][]float32{x}, []layers.Shape{xs}
				for i, name := range c.ins[1:] {
					if name == "lo" || name == "hi" {
						rt = append(rt, []float32{[]float32{c.lo, c.hi}[i]})
						shapes = append(shapes, layers.Shape{})
					}
				}
				got, shape := runLayer(t, d, l, rt, shapes)
				require.Equal(t, xs, shape)
				requireClose(t, got, ops.Unary(ops.UnaryClip, x, c.lo, c.hi), 0, 0, "Clip", x)
			})
		}
	}
	l, err := buildNode(t, d, model.Node{Op: "Clip", Name: "c", Inputs: []string{"x", "lo"}})
	require.NoError(t, err)
	_, err = inferLayer(l, []layers.Shape{{3}, {2}})
	require.ErrorContains(t, err, "scalar")
}

func TestBinaryLayers(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(16))
	a, b := randSlice(r, 2*7*13), randSlice(r, 7*1)
	as, bs := layers.Shape{2, 7, 13}, layers.Shape{7, 1}
	for _, op := range []struct {
		name string
		ref  ops.BinaryOp
	}{{"Add", ops.Add}, {"Sub", ops.Sub}, {"Mul", ops.Mul}, {"Div", ops.Div}} {
		want, wantShape, err := ops.Binary(op.ref, a, as, b, bs)
		require.NoError(t, err)
		ca := &model.Tensor{Name: "ca", Shape: as, Data: a}
		cb := &model.Tensor{Name: "cb", Shape: bs, Data: b}
		for _, in := range []struct {
			names  []string
			rt     [][]float32
			shapes []layers.Shape
		}{
			{[]string{"a", "b"}, [][]float32{a, b}, []layers.Shape{as, bs}},
			{[]string{"ca", "b"}, [][]float32{b}, []layers.Shape{bs}},
			{[]string{"a", "cb"}, [][]float32{a}, []layers.Shape{as}},
			{[]string{"ca", "cb"}, nil, nil},
		} {
			t.Run(op.name+strings.Join(in.names, ","), func(t *testing.T) {
				l, err := buildNode(t, d, model.Node{Op: op.name, Inputs: in.names}, ca, cb)
				require.NoError(t, err)
				got, shape := runLayer(t, d, l, in.rt, in.shapes)
				require.Equal(t, layers.Shape(wantShape), shape)
				rel := 0.0
				if op.ref == ops.Div {
					rel = divRelTol
				}
				requireClose(t, got, want, 0, rel, op.name)
			})
		}
	}
	// Shapes that do not broadcast fail at Infer, naming the node.
	l, err := buildNode(t, d, model.Node{Op: "Add", Name: "bad_add", Inputs: []string{"a", "b"}})
	require.NoError(t, err)
	_, err = inferLayer(l, []layers.Shape{{2, 3}, {2}})
	require.ErrorContains(t, err, "bad_add")
}

func TestSoftmaxLayers(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(17))
	shape := layers.Shape{3, 4, 5}
	x := randSlice(r, shape.Elems())
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, axis := range []int{-3, -2, -1, 0, 1, 2} {
			for _, coerce := range []int64{0, 1} {
				t.Run(fmt.Sprintf("%s_axis%d_coerce%d", op, axis, coerce), func(t *testing.T) {
					l, err := buildNode(t, d, model.Node{Op: op, Inputs: []string{"x"}, Attrs: map[string]model.Attr{
						"axis": model.IntAttr(int64(axis)), "coerce_2d": model.IntAttr(coerce)}})
					require.NoError(t, err)
					got, s := runLayer(t, d, l, [][]float32{x}, []layers.Shape{shape})
					require.Equal(t, shape, s)
					want, err := ops.SoftmaxAxis(x, shape, axis, op == "LogSoftmax", coerce == 1)
					require.NoError(t, err)
					requireClose(t, got, want, logSoftmaxAbsTol, logSoftmaxRelTol, op)
				})
			}
		}
	}
	// No axis attribute: the last axis (mlp.bin's Softmax).
	l, err := buildNode(t, d, model.Node{Op: "Softmax", Inputs: []string{"x"}})
	require.NoError(t, err)
	got, _ := runLayer(t, d, l, [][]float32{x}, []layers.Shape{shape})
	requireClose(t, got, ops.Softmax(x, 12, 5), softmaxAbsTol, softmaxRelTol, "softmax")
	l, err = buildNode(t, d, model.Node{Op: "Softmax", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"axis": model.IntAttr(3)}})
	require.NoError(t, err)
	_, err = inferLayer(l, []layers.Shape{shape})
	require.Error(t, err)
}

// TestBuilderErrors checks that bad attributes and inputs are refused at
// build time with an error naming the node, unsupported ones wrapping
// layers.ErrUnsupported.
func TestBuilderErrors(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	w := &model.Tensor{Name: "w", Shape: []int{2}, Data: []float32{1, 2}}
	one := &model.Tensor{Name: "one", Shape: []int{}, Data: []float32{1}}
	cases := []struct {
		node        model.Node
		unsupported bool
	}{
		{model.Node{Op: "Add", Inputs: []string{"x"}}, false},
		{model.Node{Op: "Add", Inputs: []string{"x", "y"}, Attrs: map[string]model.Attr{"broadcast": model.IntAttr(1)}}, true},
		{model.Node{Op: "Mul", Inputs: []string{"x", ""}}, false},
		{model.Node{Op: "LeakyRelu", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"alpha": model.StringAttr("big")}}, false},
		{model.Node{Op: "Sigmoid", Inputs: []string{"w"}}, true},
		{model.Node{Op: "Tanh", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"foo": model.IntAttr(1)}}, true},
		{model.Node{Op: "Clip", Inputs: []string{"x", "w"}}, false},
		{model.Node{Op: "Clip", Inputs: []string{"x", "one"}, Attrs: map[string]model.Attr{"min": model.FloatAttr(0)}}, false},
		{model.Node{Op: "Dropout", Inputs: []string{"x", "", "one"}}, true},
		{model.Node{Op: "Dropout", Inputs: []string{"x"}, Outputs: []string{"y", "mask"}}, true},
		{model.Node{Op: "Softmax", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"axis": model.FloatAttr(1)}}, false},
		{model.Node{Op: "LogSoftmax", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"coerce_2d": model.IntAttr(2)}}, false},
		{model.Node{Op: "Flatten", Inputs: []string{"x", "y"}}, false},
		{model.Node{Op: "Reshape", Inputs: []string{"x"}}, false},
		{model.Node{Op: "Reshape", Inputs: []string{"x", "s"}}, true},
		{model.Node{Op: "Reshape", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"shape": model.IntsAttr(-1, -1)}}, false},
		{model.Node{Op: "Reshape", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"shape": model.IntsAttr(2, -3)}}, false},
		{model.Node{Op: "Reshape", Inputs: []string{"x"}, Attrs: map[string]model.Attr{"shape": model.IntsAttr(0, -1), "allowzero": model.IntAttr(1)}}, false},
	}
	for _, c := range cases {
		c.node.Name = "the_node"
		_, err := buildNode(t, d, c.node, w, one)
		require.Error(t, err, "%s %v %v", c.node.Op, c.node.Inputs, c.node.Attrs)
		require.ErrorContains(t, err, "the_node")
		require.Equal(t, c.unsupported, errors.Is(err, layers.ErrUnsupported), "%s %v %v: %v", c.node.Op, c.node.Inputs, c.node.Attrs, err)
	}
}
