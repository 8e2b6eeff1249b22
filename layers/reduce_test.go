package layers_test

import (
	"errors"
	"fmt"
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

// reduceNames are the reductions, in ops.ReduceOp order.
var reduceNames = []string{ops.OpReduceSum, ops.OpReduceMean, ops.OpReduceMax, ops.OpReduceMin, ops.OpReduceProd,
	ops.OpReduceL1, ops.OpReduceL2, ops.OpReduceSumSquare, ops.OpReduceLogSum, ops.OpReduceLogSumExp}

// reduceTol is the tolerance of a float32 reduction against the float64
// reference: a few ulps of Σ|term| per output (the error bound of a sum
// grows with the magnitudes summed, not with the result), exact for Max
// and Min, relative for the products, square roots and logarithms.
func reduceTol(op ops.ReduceOp, x *ops.Tensor, mask []bool) (abs, rel float64) {
	switch op {
	case ops.ReduceMax, ops.ReduceMin:
		return 0, 0
	case ops.ReduceProd, ops.ReduceL2:
		return 0, 2e-5
	case ops.ReduceLogSum:
		return 1e-5, 0
	case ops.ReduceLogSumExp:
		return 2e-5, 1e-6
	}
	l1 := ops.ReduceL1
	if op == ops.ReduceSumSquare {
		l1 = ops.ReduceSumSquare
	}
	worst := 0.0
	for _, v := range ops.Reduce(l1, x.Float(), x.Shape, mask) {
		if f := float64(v); f > worst && !math.IsInf(f, 0) {
			worst = f
		}
	}
	if op == ops.ReduceMean {
		n := 1
		for i, d := range x.Shape {
			if mask[i] {
				n *= d
			}
		}
		worst /= float64(max(n, 1))
	}
	return 3e-6 * worst, 1e-6
}

func reduceNode(name string, axes []int64, keep int64) model.Node {
	n := model.Node{Op: name, Attrs: map[string]model.Attr{"keepdims": model.IntAttr(keep)}}
	if axes != nil {
		n.Attrs["axes"] = model.IntsAttr(axes...)
	}
	return n
}

// TestReduce runs every reduction, with both kernels (one invocation per
// output, one workgroup per output), over shapes whose kept and reduced
// axes merge into 1 to 4 groups each, axes given as an attribute or a
// constant input, NaN and infinities in rows, and a million-element sum.
func TestReduce(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(29))
	// Every op at the geometries marked all; the indexing, which does not
	// depend on the op, with Sum and Max at the others (SwiftShader takes
	// ~0.1 s a case).
	geoms := []struct {
		shape []int
		axes  []int64 // nil: all
		keep  int64
		all   bool
	}{
		{[]int{1}, nil, 1, true},
		{[]int{7}, []int64{0}, 0, false},
		{[]int{13, 1}, []int64{1}, 1, false},
		{[]int{127, 257}, []int64{1}, 0, true},
		{[]int{127, 257}, []int64{0}, 1, false},
		{[]int{257, 13}, []int64{-1}, 1, false},
		{[]int{2, 3, 5, 7}, []int64{1, 3}, 1, true}, // kept and reduced axes alternate
		{[]int{2, 3, 5, 7}, []int64{0, 2}, 0, false},
		{[]int{3, 1, 7, 1, 2}, []int64{1, 2}, 1, false},                // axes of size 1 drop out
		{[]int{3, 2, 4, 2, 3, 2, 2, 3}, []int64{0, 2, 4, 6}, 0, false}, // 4 reduced groups, 4 kept
		{[]int{2, 1280, 7, 7}, []int64{2, 3}, 0, false},                // mnasnet's head
		{[]int{3, 1100}, []int64{1}, 1, true},                          // past the CPU drivers' serial limit
		{[]int{1<<20 + 3}, nil, 0, true},                               // one output of a million elements
	}
	var cases []optest.Case
	for _, g := range geoms {
		n := 1
		for _, v := range g.shape {
			n *= v
		}
		for i, name := range reduceNames {
			op := ops.ReduceOp(i)
			if !g.all && op != ops.ReduceSum && op != ops.ReduceMax {
				continue
			}
			x := optest.Random(r, g.shape, 3, false)
			switch op {
			case ops.ReduceProd:
				if n/max(1, len(ops.ReducedShape(g.shape, allAxes(g.shape, g.axes), false))) > 2000 {
					continue // the product of so many values is 0 or inf
				}
				for j := range x.Data {
					x.Data[j] = 1 + x.Data[j]/60
				}
			case ops.ReduceLogSum:
				for j := range x.Data {
					x.Data[j] = float32(math.Abs(float64(x.Data[j])))
				}
			}
			mask := allAxes(g.shape, g.axes)
			abs, rel := reduceTol(op, x, mask)
			cases = append(cases, optest.Case{
				Name:   fmt.Sprintf("%s%v/axes=%v/keepdims=%d", name, g.shape, g.axes, g.keep),
				Node:   reduceNode(name, g.axes, g.keep),
				Inputs: []*ops.Tensor{x}, Abs: abs, Rel: rel,
			})
		}
	}
	// Special values, one kind per row: NaN, +inf, +inf and -inf, only -inf,
	// only +inf, a huge and a tiny value.
	special := optest.Random(r, []int{7, 13}, 2, false)
	plant := map[int][]float32{
		0: {float32(math.NaN())},
		1: {float32(math.Inf(1))},
		2: {float32(math.Inf(1)), float32(math.Inf(-1))},
		5: {1e18, -1e-30},
	}
	for row, vals := range plant {
		for k, v := range vals {
			special.Data[row*13+3+k*5] = v
		}
	}
	for c := 0; c < 13; c++ {
		special.Data[3*13+c] = float32(math.Inf(-1))
		special.Data[4*13+c] = float32(math.Inf(1))
	}
	for i, name := range reduceNames {
		for _, axes := range [][]int64{{1}, {0}} {
			abs, rel := reduceTol(ops.ReduceOp(i), special, allAxes(special.Shape, axes))
			cases = append(cases, optest.Case{
				Name:   fmt.Sprintf("%s/special/axes=%v", name, axes),
				Node:   reduceNode(name, axes, 1),
				Inputs: []*ops.Tensor{special}, Abs: abs, Rel: rel,
			})
		}
	}
	// Axes as a constant input (ReduceSum from opset 13, all from 18),
	// including empty axes with and without noop_with_empty_axes.
	x := optest.Random(r, []int{3, 4, 5}, 1, false)
	for _, name := range []string{ops.OpReduceSum, ops.OpReduceMean, ops.OpReduceMax, ops.OpReduceL2} {
		op, _ := ops.ReduceOpOf(name)
		for _, c := range []struct {
			axes []int64
			noop int64
		}{{[]int64{0, -1}, 0}, {[]int64{}, 0}, {[]int64{}, 1}, {[]int64{1}, 1}} {
			node := reduceNode(name, nil, 0)
			node.Attrs["noop_with_empty_axes"] = model.IntAttr(c.noop)
			mask := allAxes(x.Shape, c.axes)
			if len(c.axes) == 0 && c.noop == 1 {
				mask = make([]bool, 3)
			}
			abs, rel := reduceTol(op, x, mask)
			cases = append(cases, optest.Case{
				Name:   fmt.Sprintf("%s/axes-input=%v/noop=%d", name, c.axes, c.noop),
				Node:   node,
				Inputs: []*ops.Tensor{x, ops.I64([]int{len(c.axes)}, c.axes)}, Const: []bool{false, true},
				Abs: abs, Rel: rel,
			})
		}
	}
	defer layers.SetReduceKernel(layers.ReduceAuto)
	for _, k := range []layers.ReduceKernel{layers.ReduceSerial, layers.ReduceWorkgroup} {
		layers.SetReduceKernel(k)
		t.Run(fmt.Sprintf("kernel=%d", k), func(t *testing.T) {
			for _, c := range cases {
				if k == layers.ReduceSerial && c.Inputs[0].Len() > layers.MaxReduceIterations {
					continue // refused: one invocation would loop too long (see TestReduceErrors)
				}
				optest.Check(t, d, c)
			}
		})
	}
}

// allAxes marks axes of shape (nil or empty: all).
func allAxes(shape []int, axes []int64) []bool {
	m := make([]bool, len(shape))
	for i := range m {
		m[i] = len(axes) == 0
	}
	for _, a := range axes {
		if a < 0 {
			a += int64(len(shape))
		}
		m[a] = true
	}
	return m
}

// TestReduceErrors checks that bad axes are refused by the op's definition
// with the node named, and what shape axes computed at run time (known when
// a plan is made) give.
func TestReduceErrors(t *testing.T) {
	for _, c := range []struct {
		keep, noop int64
		axes       []int
		want       string
	}{{1, 0, []int{1}, "[-1 -1]"}, {0, 0, []int{1}, "[-1]"}, {0, 0, []int{0}, "[]"}, {0, 1, []int{0}, "[-1 -1]"}, {1, 0, []int{-1}, "[-1 -1]"}} {
		n := reduceNode(ops.OpReduceSum, nil, c.keep)
		n.Name, n.Inputs, n.Outputs = "r", []string{"x", "axes"}, []string{"y"}
		n.Attrs["noop_with_empty_axes"] = model.IntAttr(c.noop)
		out, err := ops.Infer(&n, []ops.Value{{Shape: []int{2, 3}}, {Shape: c.axes}})
		if err != nil || fmt.Sprint(out[0]) != c.want {
			t.Errorf("run-time axes of shape %v, keepdims %d, noop %d: %v %v, want %s", c.axes, c.keep, c.noop, out, err, c.want)
		}
	}
	x := ops.Value{Shape: []int{2, 3}}
	for _, c := range []struct {
		node model.Node
		in   []ops.Value
	}{
		{reduceNode(ops.OpReduceSum, []int64{2}, 1), []ops.Value{x}},
		{reduceNode(ops.OpReduceSum, []int64{-3}, 1), []ops.Value{x}},
		{reduceNode(ops.OpReduceMax, []int64{1, -1}, 1), []ops.Value{x}},
		{reduceNode(ops.OpReduceMean, []int64{0}, 2), []ops.Value{x}},
		{reduceNode(ops.OpReduceMean, []int64{0}, 1), []ops.Value{x, {Shape: []int{1}, Const: ops.I64([]int{1}, []int64{0})}}},
		{reduceNode(ops.OpReduceMean, nil, 0), []ops.Value{x, {Shape: []int{-1}}}}, // run-time axes: the rank is unknown
		{reduceNode(ops.OpReduceMean, nil, 0), []ops.Value{x, {Shape: []int{3}}}},
	} {
		n := c.node
		n.Name = "r"
		for i := range c.in {
			n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
		}
		n.Outputs = []string{"y"}
		if _, err := ops.Infer(&n, c.in); err == nil {
			t.Errorf("%s %v: no error", n.Op, n.Attrs)
		} else {
			t.Logf("%s: %v", n.Op, err)
		}
	}
}

// TestReduceTooLong checks that a reduction one invocation would loop over
// past lavapipe's loop limit is refused, not computed short.
func TestReduceTooLong(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	n := layers.MaxReduceIterations + 1
	x, err := d.NewBuffer(engine.Activations, int64(4*n))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	y, err := d.NewBuffer(engine.Activations, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	g := layers.Reduce{Op: ops.ReduceSum, Shape: layers.Shape{n}, Axes: []bool{true}, Kernel: layers.ReduceSerial}
	if err := layers.RecordReduce(d.NewRecorder(), d, g, x, y); !errors.Is(err, layers.ErrUnsupported) {
		t.Fatalf("serial reduction of %d elements: %v, want ErrUnsupported", n, err)
	}
}
