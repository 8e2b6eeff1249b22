package onnx

import (
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Shape knowledge the importer keeps about values computed at run time:
// their shapes where they can be inferred (for the Dense mapping and for
// output shapes), and, for 1-D int64 values made from Shape(x), which of
// x's dimensions each element is. The latter lets a Reshape whose shape is
// computed from its own input's dimensions, as PyTorch exports
// x.view(x.size(0), -1), become a Reshape with a constant shape and 0
// ("copy this dimension") for the dynamic ones.

// symDim is one element of a shape value: a known number, or dimension
// Axis of value Of.
type symDim struct {
	V    int64
	Of   string
	Axis int
}

// symVal returns the symbolic elements of a 1-D (or scalar) integer
// value, from a constant or from what symbolic recorded; scalar says the
// value is rank 0.
func (imp *importer) symVal(name string) (dims []symDim, scalar, ok bool) {
	if t, c := imp.consts[name]; c {
		if !t.DType.isInt() || len(t.Shape) > 1 {
			return nil, false, false
		}
		for _, v := range t.Int {
			dims = append(dims, symDim{V: v})
		}
		return dims, len(t.Shape) == 0, true
	}
	s, ok := imp.sym[name]
	if !ok {
		return nil, false, false
	}
	return s, imp.symScalar[name], true
}

// symbolic records the symbolic elements of n's output for the ops of
// shape arithmetic: Shape, Gather, Unsqueeze, Squeeze, Concat, Cast,
// Identity.
func (imp *importer) symbolic(n *node) {
	if len(n.Outputs) != 1 || len(n.Inputs) == 0 {
		return
	}
	out := n.Outputs[0]
	set := func(d []symDim, scalar bool) {
		imp.sym[out] = d
		imp.symScalar[out] = scalar
	}
	switch n.Op {
	case "Shape":
		s := imp.shapeOf(n.Inputs[0])
		if s == nil {
			return
		}
		start, end := shapeRange(n, len(s))
		var d []symDim
		for i := start; i < end; i++ {
			if s[i] >= 0 {
				d = append(d, symDim{V: int64(s[i])})
			} else {
				d = append(d, symDim{Of: n.Inputs[0], Axis: i})
			}
		}
		set(d, false)
	case "Identity":
		if d, sc, ok := imp.symVal(n.Inputs[0]); ok {
			set(d, sc)
		}
	case "Cast":
		if to := DataType(n.intAttr("to", 0)); !to.isInt() {
			return
		}
		if d, sc, ok := imp.symVal(n.Inputs[0]); ok {
			set(d, sc)
		}
	case "Gather":
		d, sc, ok := imp.symVal(n.Inputs[0])
		if !ok || sc || len(n.Inputs) != 2 || n.intAttr("axis", 0) != 0 && n.intAttr("axis", 0) != -1 {
			return
		}
		idx, isc, ok := imp.symVal(n.Inputs[1])
		if !ok {
			return
		}
		var res []symDim
		for _, k := range idx {
			if k.Of != "" {
				return
			}
			i := k.V
			if i < 0 {
				i += int64(len(d))
			}
			if i < 0 || i >= int64(len(d)) {
				return
			}
			res = append(res, d[i])
		}
		set(res, isc)
	case "Unsqueeze":
		d, sc, ok := imp.symVal(n.Inputs[0])
		if axes, has := axesAttr(n); ok && sc && has && len(axes) == 1 && (axes[0] == 0 || axes[0] == -1) {
			set(d, false)
		}
	case "Squeeze":
		d, sc, ok := imp.symVal(n.Inputs[0])
		if ok && !sc && len(d) == 1 {
			set(d, true)
		}
	case "Concat":
		if a := n.intAttr("axis", 0); a != 0 && a != -1 {
			return
		}
		var res []symDim
		for _, in := range n.Inputs {
			d, sc, ok := imp.symVal(in)
			if !ok || sc {
				return
			}
			res = append(res, d...)
		}
		set(res, false)
	}
}

// selfShape returns Reshape's target shape when the shape value is known
// element by element and each element not known as a number is the
// reshaped input's own dimension at the same position (then 0, "copy",
// which needs allowzero = 0).
func (imp *importer) selfShape(shapeName, data string, copyOK bool) ([]int64, bool) {
	d, sc, ok := imp.sym[shapeName], imp.symScalar[shapeName], true
	if d == nil || sc || !copyOK {
		return nil, false
	}
	out := make([]int64, len(d))
	for i, e := range d {
		switch {
		case e.Of == "":
			out[i] = e.V
		case e.Of == data && e.Axis == i:
			out[i] = 0
		default:
			ok = false
		}
	}
	return out, ok
}

var (
	unaryOps = map[string]bool{
		"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Clip": true, "Identity": true,
		"Softmax": true, "LogSoftmax": true, "Hardmax": true, "Elu": true, "Selu": true, "Celu": true,
		"HardSigmoid": true, "ThresholdedRelu": true, "Softplus": true, "Softsign": true, "Neg": true,
		"Abs": true, "Exp": true, "Log": true, "Sqrt": true, "Reciprocal": true, "Floor": true, "Ceil": true,
		"Erf": true, "Gelu": true, "HardSwish": true, "Mish": true, "Sin": true, "Cos": true, "Not": true,
	}
	binaryOps = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "PRelu": true}
)

// infer records the shapes of n's outputs where they follow from its
// inputs' shapes (-1 where a dimension is not known): with the op's
// definition in package ops (ops.Infer, constants passed as values) when it
// has one, else with the rules below for the ops ops does not define.
func (imp *importer) infer(n *node) {
	if len(n.Outputs) == 0 {
		return
	}
	if ops.Lookup(n.Op) != nil {
		imp.inferOps(n)
		return
	}
	var s []int
	ins := make([][]int, len(n.Inputs))
	for i, in := range n.Inputs {
		ins[i] = imp.shapeOf(in)
	}
	have := func(k int) bool {
		if len(ins) < k {
			return false
		}
		for _, x := range ins[:k] {
			if x == nil {
				return false
			}
		}
		return true
	}
	switch {
	case unaryOps[n.Op] && have(1):
		s = ins[0]
	case binaryOps[n.Op] && have(2):
		s = broadcastDims(ins[0], ins[1])
	}
	if s != nil {
		imp.shapes[n.Outputs[0]] = append([]int{}, s...)
	}
}

// broadcastDims is BroadcastShape with -1 for unknown dimensions.
func broadcastDims(a, b []int) []int {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range out {
		x, y := dimAt(a, r-1-i), dimAt(b, r-1-i)
		switch {
		case x == 1:
			out[i] = y
		case y == 1 || x == y:
			out[i] = x
		case x < 0 && y > 1:
			out[i] = y
		case y < 0 && x > 1:
			out[i] = x
		default:
			out[i] = -1
		}
	}
	return out
}

// dimAt returns s[len(s)-1-k], 1 past the front.
func dimAt(s []int, k int) int {
	if k >= len(s) {
		return 1
	}
	return s[len(s)-1-k]
}

// inferOps is infer through package ops; a node whose input shapes are not
// all known, or that ops refuses, keeps unknown output shapes (the loader
// reports what is wrong).
func (imp *importer) inferOps(n *node) {
	vals := make([]ops.Value, len(n.Inputs))
	for i, name := range n.Inputs {
		if name == "" {
			vals[i].Absent = true
			continue
		}
		s := imp.shapeOf(name)
		if s == nil {
			if _, ok := imp.consts[name]; !ok {
				return
			}
		}
		vals[i].Shape = s
		if t, ok := imp.consts[name]; ok {
			switch {
			case t.DType == Float:
				vals[i].Const = ops.F32(t.Shape, t.Float)
			case t.DType.isInt():
				vals[i].Const = ops.I64(t.Shape, t.Int)
			}
		}
	}
	mn := &model.Node{Name: n.Name, Op: n.Op, Inputs: n.Inputs, Outputs: n.Outputs, Attrs: n.Attrs}
	out, err := ops.Infer(mn, vals)
	if err != nil {
		return
	}
	for i, s := range out {
		if s != nil && n.Outputs[i] != "" {
			imp.shapes[n.Outputs[i]] = append([]int{}, s...)
		}
	}
}
