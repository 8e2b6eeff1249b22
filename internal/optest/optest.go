// Package optest is the common differential test of an op, in the spirit of
// ncnn's test_layer: build the op's GPU layer from a node, record it, run it
// on the test device, and compare every output with the op's reference
// (ops.Eval) on the same inputs, within a tolerance, with NaN matching only
// NaN and infinities only themselves. Inputs are random with special values
// planted (NaN, ±inf, ±0, ±3.4e38, denormals, values at the ends of exp()'s
// range), at the awkward sizes every kernel is tested at.
//
// A new op's test is one table of Cases run through Check; see docs/OPS.md,
// "Adding an op".
//
// Safe for concurrent use by parallel tests (each Check uses its own
// buffers and program).
package optest

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Sizes are the awkward element counts of element-wise tests: one, primes
// around workgroup sizes, and one past a power of two that is large enough
// to need a grid split.
var Sizes = []int{1, 7, 13, 127, 257, 1<<20 + 3}

// Specials are the values Random plants among its random inputs.
var Specials = []float32{
	float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, float32(math.Copysign(0, -1)),
	3.4e38, -3.4e38, 1e-30, -1e-30, 1e-40, -1e-40, 88, -88, 89, -89, 104, -104, 1e5, -1e5, 1e-4, -1e-4,
	0.625, -0.625, 9, -9, 20, -20,
}

// Random returns a float32 tensor of the given shape: normal values times
// scale, with Specials planted at spread-out positions when special is
// true.
func Random(r *rand.Rand, shape []int, scale float32, special bool) *ops.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64()) * scale
	}
	if special {
		for i := 0; i < n && i < len(Specials); i++ {
			x[(i*7919)%n] = Specials[i]
		}
	}
	return ops.F32(append([]int{}, shape...), x)
}

// Case is one differential test: a node and its inputs.
type Case struct {
	// Name names the subtest ("" = the op and the input shapes).
	Name string
	// Node gives Op and Attrs. Inputs and Outputs left empty are named
	// "in0", "in1", ... and "out0" (one output).
	Node model.Node
	// Inputs has one tensor per node input; nil for an absent optional
	// input.
	Inputs []*ops.Tensor
	// Const marks the inputs given to the layer as constants (initializers,
	// uploaded when the layer is built); the others are runtime inputs.
	Const []bool
	// Host marks runtime inputs whose value a planner would know on the
	// host (shape arithmetic): a layers.HostLayer is given them in
	// RecordHost, as the runtime data are given too.
	Host []bool
	// Abs and Rel are the tolerance: |got - want| <= Abs + Rel·|want|.
	// Results below the smallest normal float32 may be flushed to zero.
	Abs, Rel float64
	// SignedZero also requires zeros to have the reference's sign.
	SignedZero bool
}

// Check runs c on d as a subtest of t: it infers the output shapes with
// package ops, builds the layer, records and runs it with every buffer one
// element larger than its tensor (as a planner's reused buffers may be;
// writing past the end fails), and compares each output with ops.Eval.
func Check(t *testing.T, d *engine.Device, c Case) {
	t.Helper()
	n := c.Node
	if len(n.Inputs) == 0 {
		for i, in := range c.Inputs {
			name := ""
			if in != nil {
				name = fmt.Sprintf("in%d", i)
			}
			n.Inputs = append(n.Inputs, name)
		}
	}
	if len(n.Outputs) == 0 {
		n.Outputs = []string{"out0"}
	}
	if n.Name == "" {
		n.Name = "test_" + n.Op
	}
	name := c.Name
	if name == "" {
		name = n.Op
		for _, in := range c.Inputs {
			if in != nil {
				name += fmt.Sprint(in.Shape)
			}
		}
	}
	t.Run(name, func(t *testing.T) {
		t.Helper()
		if err := check(t, d, &n, c); err != nil {
			t.Fatal(err)
		}
	})
}

func check(t *testing.T, d *engine.Device, n *model.Node, c Case) error {
	isConst := func(i int) bool { return i < len(c.Const) && c.Const[i] }
	want, err := ops.Eval(n, c.Inputs)
	if err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	vals := make([]ops.Value, len(c.Inputs))
	consts := map[string]*model.Tensor{}
	var rtShapes []layers.Shape
	var rtData [][]float32
	var rtHost []*ops.Tensor
	for i, in := range c.Inputs {
		switch {
		case in == nil:
			vals[i].Absent = true
		case isConst(i):
			vals[i] = ops.Value{Shape: in.Shape, Const: in}
			consts[n.Inputs[i]] = in.ModelTensor(n.Inputs[i])
		default:
			vals[i] = ops.Value{Shape: in.Shape}
			if i < len(c.Host) && c.Host[i] {
				vals[i].Const = in // as a planner's host value
			}
			rtShapes = append(rtShapes, in.Shape)
			rtData = append(rtData, in.Float())
			var h *ops.Tensor
			if i < len(c.Host) && c.Host[i] {
				h = in
			}
			rtHost = append(rtHost, h)
		}
	}
	outShapes, err := ops.Infer(n, vals)
	if err != nil {
		return fmt.Errorf("infer: %w", err)
	}
	for i, s := range outShapes {
		if fmt.Sprint(s) != fmt.Sprint(want[i].Shape) {
			return fmt.Errorf("output %d: Infer says %v, Eval makes %v", i, s, want[i].Shape)
		}
	}
	build, ok := layers.Lookup(n.Op)
	if !ok {
		return fmt.Errorf("op %s has no GPU layer (layers.Register)", n.Op)
	}
	l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor { return consts[name] }}, n)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer l.Close()
	newBuf := func(data []float32, elems int) (*engine.Buffer, error) {
		b, err := d.NewBuffer(engine.Activations, int64(4*(elems+1)))
		if err != nil {
			return nil, err
		}
		init := make([]float32, elems+1)
		copy(init, data)
		init[elems] = 12345 // a sentinel the op must not overwrite
		return b, b.Write(init)
	}
	var bufs []*engine.Buffer
	defer func() {
		for _, b := range bufs {
			b.Close()
		}
	}()
	ins := make([]*engine.Buffer, len(rtData))
	for i, x := range rtData {
		if ins[i], err = newBuf(x, len(x)); err != nil {
			return err
		}
		bufs = append(bufs, ins[i])
	}
	outs := make([]*engine.Buffer, len(outShapes))
	for i := range outShapes {
		if outs[i], err = newBuf(nil, want[i].Len()); err != nil {
			return err
		}
		bufs = append(bufs, outs[i])
	}
	rec := d.NewRecorder()
	if hl, ok := l.(layers.HostLayer); ok {
		err = hl.RecordHost(rec, ins, rtShapes, rtHost, outs)
	} else {
		err = l.Record(rec, ins, rtShapes, outs)
	}
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	io := make([]engine.IO, len(outs))
	got := make([][]float32, len(outs))
	for i, b := range outs {
		if err := rec.Output(b); err != nil {
			return err
		}
		got[i] = make([]float32, want[i].Len()+1)
		io[i] = engine.IO{Buf: b, Data: got[i]}
	}
	p, err := rec.Finish()
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	defer p.Close()
	if err := p.Run(context.Background(), nil, io); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	// A device that does not promise SignedZeroInfNanPreserve may flush
	// NaN, infinities and the sign of zero (fast math): there, elements
	// whose expectation or inputs are special are not compared.
	exact := d.Info().SignedZeroInfNanPreserve
	for i := range outs {
		w := want[i].Float()
		g := got[i]
		if g[len(w)] != 12345 {
			return fmt.Errorf("output %d: the layer wrote past the end of its %d elements", i, len(w))
		}
		for j := range w {
			if !exact && (isSpecial(w[j]) || specialInput(c.Inputs, j)) {
				continue
			}
			if !Close(g[j], w[j], c.Abs, c.Rel) || (c.SignedZero && g[j] == 0 && w[j] == 0 && math.Signbit(float64(g[j])) != math.Signbit(float64(w[j])) && !denormalInput(c.Inputs, j)) {
				return fmt.Errorf("output %d [%d] = %v, want %v (tolerance %g + %g·|want|; inputs there: %s)", i, j, g[j], w[j], c.Abs, c.Rel, inputsAt(c.Inputs, j))
			}
		}
	}
	return nil
}

// minNormal is the smallest normal float32.
const minNormal = 1.1754943508222875e-38

// Close reports whether got is within abs + rel·|want| of want, NaN
// matching only NaN, an infinity only itself, and a denormal expectation
// allowing any result below the smallest normal (Vulkan allows flushing
// denormals to zero).
func Close(got, want float32, abs, rel float64) bool {
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

// denormalInput reports whether an input has a denormal at element j
// (flushed to zero on some drivers, which may change a zero's sign).
func denormalInput(in []*ops.Tensor, j int) bool {
	for _, t := range in {
		if t != nil && j < t.Len() {
			if v := math.Abs(float64(t.Float()[j])); v > 0 && v < minNormal {
				return true
			}
		}
	}
	return false
}

// isSpecial reports NaN, an infinity or a zero.
func isSpecial(v float32) bool {
	f := float64(v)
	return math.IsNaN(f) || math.IsInf(f, 0) || f == 0
}

// specialInput reports whether an input has a special value at element j.
func specialInput(in []*ops.Tensor, j int) bool {
	for _, t := range in {
		if t != nil && j < t.Len() && isSpecial(t.Float()[j]) {
			return true
		}
	}
	return false
}

func inputsAt(in []*ops.Tensor, j int) string {
	s := ""
	for i, t := range in {
		if t != nil && j < t.Len() {
			s += fmt.Sprintf(" in%d=%v", i, t.Float()[j])
		}
	}
	return s
}
