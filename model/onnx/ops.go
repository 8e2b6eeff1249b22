package onnx

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/model"
)

// A normaliser rewrites one node of the default domain into the single form
// the GPU ops take, whatever opset the file uses. It returns false when the
// node is gone (a Constant became an initializer).
type normaliser func(imp *importer, n *node) (keep bool, err error)

// normalisers is the importer's op table: one row per op whose form depends
// on the opset or has defaults worth writing out. Ops not listed pass
// through with their ONNX attributes.
var normalisers = map[string]normaliser{
	"Constant":        normConstant,
	"Softmax":         normSoftmax,
	"LogSoftmax":      normSoftmax,
	"Hardmax":         normSoftmax,
	"Clip":            normClip,
	"Reshape":         normReshape,
	"Dropout":         normDropout,
	"Flatten":         defaults(map[string]model.Attr{"axis": model.IntAttr(1)}),
	"Gemm":            normGemm,
	"LeakyRelu":       defaults(map[string]model.Attr{"alpha": model.FloatAttr(0.01)}),
	"Elu":             defaults(map[string]model.Attr{"alpha": model.FloatAttr(1)}),
	"Celu":            defaults(map[string]model.Attr{"alpha": model.FloatAttr(1)}),
	"ThresholdedRelu": defaults(map[string]model.Attr{"alpha": model.FloatAttr(1)}),
	"HardSigmoid":     defaults(map[string]model.Attr{"alpha": model.FloatAttr(0.2), "beta": model.FloatAttr(0.5)}),
	"Selu": defaults(map[string]model.Attr{
		"alpha": model.FloatAttr(1.67326319217681884765625), "gamma": model.FloatAttr(1.05070102214813232421875)}),
	"Add":       normBroadcast,
	"Sub":       normBroadcast,
	"Mul":       normBroadcast,
	"Div":       normBroadcast,
	"Pow":       normBroadcast,
	"Squeeze":   normAxesInput,
	"Unsqueeze": normAxesInput,
	"PRelu":     normPRelu,
	"Slice":     normSlice,
	"Pad":       normPad,
}

// defaults writes out attribute defaults.
func defaults(attrs map[string]model.Attr) normaliser {
	return func(_ *importer, n *node) (bool, error) {
		for k, v := range attrs {
			n.setDefault(k, v)
		}
		return true, nil
	}
}

// normConstant turns a Constant node into a constant value.
func normConstant(imp *importer, n *node) (bool, error) {
	if len(n.Outputs) != 1 || n.Outputs[0] == "" {
		return false, fmt.Errorf("onnx: %s must have one output: %w", n.where(), ErrMalformed)
	}
	var t *Tensor
	switch {
	case n.Tensors["value"] != nil:
		t = n.Tensors["value"]
	case hasAttr(n, "value_float"):
		t = &Tensor{DType: Float, Float: []float32{n.floatAttr("value_float", 0)}}
	case hasAttr(n, "value_floats"):
		v := n.Attrs["value_floats"].Floats
		t = &Tensor{DType: Float, Shape: []int{len(v)}, Float: append([]float32{}, v...)}
	case hasAttr(n, "value_int"):
		t = &Tensor{DType: Int64, Int: []int64{n.intAttr("value_int", 0)}}
	case hasAttr(n, "value_ints"):
		v := n.Attrs["value_ints"].Ints
		t = &Tensor{DType: Int64, Shape: []int{len(v)}, Int: append([]int64{}, v...)}
	default:
		return false, fmt.Errorf("onnx: %s: only value, value_float(s) and value_int(s) are read "+
			"(sparse and string constants are %w)", n.where(), ErrUnsupported)
	}
	c := *t
	imp.addConst(n.Outputs[0], &c)
	return false, nil
}

// isConst reports whether the value name is a constant or absent ("").
func (imp *importer) isConst(name string) bool {
	_, ok := imp.consts[name]
	return ok || name == ""
}

func hasAttr(n *node, name string) bool {
	_, ok := n.Attrs[name]
	return ok
}

// normSoftmax gives Softmax, LogSoftmax and Hardmax an explicit "axis" and
// "coerce_2d": before opset 13 the input is read as a 2-D matrix split at
// axis (default 1); from 13 on the op runs along one axis (default -1).
// When the axis is known to be the last one, both agree and coerce_2d is 0.
func normSoftmax(imp *importer, n *node) (bool, error) {
	coerce, def := int64(0), int64(-1)
	if imp.opset < 13 {
		coerce, def = 1, 1
	}
	axis := n.intAttr("axis", def)
	if s := imp.shapeOf(n.in(0)); s != nil {
		r := int64(len(s))
		if axis < -r || axis >= r {
			return false, fmt.Errorf("onnx: %s: axis %d is out of range for input %q of shape %v: %w", n.where(), axis, n.in(0), s, ErrMalformed)
		}
		if axis == r-1 || axis == -1 {
			coerce = 0
		}
	}
	n.Attrs["axis"] = model.IntAttr(axis)
	n.Attrs["coerce_2d"] = model.IntAttr(coerce)
	return true, nil
}

// normClip makes Clip's bounds float attributes "min" and "max", absent
// when unbounded: attributes before opset 11, optional constant inputs
// from 11 on. A bound computed at run time (opset 11+) stays an input; the
// other bound is then an input too (a scalar constant, -Inf or +Inf when
// absent), so the inputs keep their positions.
func normClip(imp *importer, n *node) (bool, error) {
	if imp.opset >= 11 && (!imp.isConst(n.in(1)) || !imp.isConst(n.in(2))) {
		n.Inputs = append([]string{}, n.in(0), n.in(1), n.in(2))
		for i, name := range []string{"min", "max"} {
			delete(n.Attrs, name)
			if n.Inputs[i+1] == "" {
				c := imp.fresh(n.Name + "_" + name)
				imp.addConst(c, &Tensor{DType: Float, Float: []float32{float32(math.Inf(2*i - 1))}})
				n.Inputs[i+1] = c
			}
		}
		return true, nil
	}
	if imp.opset >= 11 {
		for i, name := range []string{"min", "max"} {
			t, err := imp.needConst(n, i+1, name)
			if err != nil {
				return false, err
			}
			delete(n.Attrs, name)
			if t == nil {
				continue
			}
			v, err := scalar(n, t, name)
			if err != nil {
				return false, err
			}
			if math.IsNaN(v) {
				return false, fmt.Errorf("onnx: %s: %s is NaN: %w", n.where(), name, ErrUnsupported)
			}
			if finite(v) {
				n.Attrs[name] = model.FloatAttr(float32(v))
			}
		}
		if len(n.Inputs) > 1 {
			n.Inputs = n.Inputs[:1]
		}
		return true, nil
	}
	for _, name := range []string{"min", "max"} {
		if a, ok := n.Attrs[name]; ok && !finite(float64(a.Float)) {
			delete(n.Attrs, name) // ±inf: no bound (the format keeps finite floats)
		}
	}
	return true, nil
}

// normReshape makes Reshape's target shape the ints attribute "shape" (an
// attribute before opset 5, a constant input since) and writes out
// "allowzero" (opset 14; 0 before). A shape computed at run time from the
// input's own dimensions (PyTorch's x.view(x.size(0), -1)) becomes 0 there;
// any other computed shape stays input 1, for the planner.
func normReshape(imp *importer, n *node) (bool, error) {
	n.setDefault("allowzero", model.IntAttr(0))
	if imp.opset < 5 {
		if a, ok := n.Attrs["shape"]; !ok || a.Kind != model.AttrInts {
			return false, fmt.Errorf("onnx: %s: no ints attribute \"shape\": %w", n.where(), ErrMalformed)
		}
		n.Inputs = n.Inputs[:1]
		return true, nil
	}
	if len(n.Inputs) != 2 {
		return false, fmt.Errorf("onnx: %s takes 2 inputs (data, shape), has %d: %w", n.where(), len(n.Inputs), ErrMalformed)
	}
	var shape []int64
	if t, ok := imp.consts[n.Inputs[1]]; ok {
		v, err := ints(n, t, "shape")
		if err != nil {
			return false, err
		}
		if len(t.Shape) != 1 {
			return false, fmt.Errorf("onnx: %s: shape %q has shape %v, want 1-D: %w", n.where(), t.Name, t.Shape, ErrMalformed)
		}
		shape = append([]int64{}, v...)
	} else if s, ok := imp.selfShape(n.Inputs[1], n.Inputs[0], n.intAttr("allowzero", 0) == 0); ok {
		shape = s
	} else {
		// Computed at run time from shapes (exporters' shape subgraphs):
		// the planner evaluates it on the host once the input shapes are
		// known.
		return true, nil
	}
	neg := 0
	for _, d := range shape {
		if d < -1 {
			return false, fmt.Errorf("onnx: %s: shape %v has %d: %w", n.where(), shape, d, ErrMalformed)
		}
		if d == -1 {
			neg++
		}
	}
	if neg > 1 {
		return false, fmt.Errorf("onnx: %s: shape %v has more than one -1: %w", n.where(), shape, ErrMalformed)
	}
	n.Attrs["shape"] = model.IntsAttr(shape...)
	n.Inputs = n.Inputs[:1]
	return true, nil
}

// normDropout makes an inference-time Dropout an Identity of its data; its
// mask output is dropped (a graph that reads it fails to import).
func normDropout(imp *importer, n *node) (bool, error) {
	if imp.opset >= 12 {
		t, err := imp.needConst(n, 2, "training_mode")
		if err != nil {
			return false, err
		}
		if t != nil {
			v, err := scalar(n, t, "training_mode")
			if err != nil {
				return false, err
			}
			if v != 0 {
				return false, fmt.Errorf("onnx: %s: training_mode is true: %w (inference only)", n.where(), ErrUnsupported)
			}
		}
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		imp.dropped[n.Outputs[1]] = fmt.Sprintf("the mask output of Dropout node %q", n.Name)
	}
	n.Op = "Identity"
	n.Inputs = n.Inputs[:1]
	n.Outputs = n.Outputs[:1]
	n.Attrs = map[string]model.Attr{}
	return true, nil
}

// normGemm writes out Gemm's defaults (alpha 1, beta 1, transA 0, transB 0)
// and drops the pre-opset-7 "broadcast" flag (C broadcasts the same way).
func normGemm(_ *importer, n *node) (bool, error) {
	delete(n.Attrs, "broadcast")
	n.setDefault("alpha", model.FloatAttr(1))
	n.setDefault("beta", model.FloatAttr(1))
	n.setDefault("transA", model.IntAttr(0))
	n.setDefault("transB", model.IntAttr(0))
	return true, nil
}

// normBroadcast drops the pre-opset-7 "broadcast" flag of element-wise ops:
// without "axis" the old rule (B's shape a suffix of A's) is a special case
// of numpy broadcasting; with "axis" it is not.
func normBroadcast(imp *importer, n *node) (bool, error) {
	if imp.opset < 7 {
		if _, ok := n.Attrs["axis"]; ok && n.intAttr("broadcast", 0) != 0 {
			return false, fmt.Errorf("onnx: %s: broadcasting with an axis (opset %d < 7) is %w; re-export with opset >= 7",
				n.where(), imp.opset, ErrUnsupported)
		}
		delete(n.Attrs, "broadcast")
		delete(n.Attrs, "axis")
	}
	return true, nil
}

// normAxesInput makes Squeeze/Unsqueeze's axes (an input since opset 13) the
// ints attribute "axes" when it is constant. Axes computed at run time
// (shape arithmetic) stay input 1, for the planner.
func normAxesInput(imp *importer, n *node) (bool, error) {
	if imp.opset < 13 || len(n.Inputs) < 2 {
		return true, nil
	}
	if !imp.isConst(n.in(1)) {
		return true, nil
	}
	t, err := imp.needConst(n, 1, "axes")
	if err != nil {
		return false, err
	}
	if t != nil {
		v, err := ints(n, t, "axes")
		if err != nil {
			return false, err
		}
		n.Attrs["axes"] = model.IntsAttr(append([]int64{}, v...)...)
	}
	n.Inputs = n.Inputs[:1]
	return true, nil
}

// sliceLimit bounds the constants Slice keeps as inputs: ±2^24 is exact in
// float32 (the form inputs take), and clamping starts and ends there
// changes nothing along a dimension of up to 2^24.
const sliceLimit = 1 << 24

// normSlice: from opset 10 starts, ends, axes and steps are inputs. When
// all are constant they become ints attributes "starts", "ends", "axes"
// and "steps" (vkinfer's: opsets < 10 have no steps), exact as int64
// (PyTorch writes INT64_MAX for an open end, which float32 cannot hold).
// When some are computed at run time (shape arithmetic, which the planner
// evaluates on the host) they stay inputs: constant ones are clamped to
// ±2^24, and an absent axes before a given steps becomes the default
// [0, 1, ...] (absent inputs in the middle are dropped later).
func normSlice(imp *importer, n *node) (bool, error) {
	if imp.opset < 10 {
		return true, nil
	}
	if len(n.Inputs) < 3 || n.in(1) == "" || n.in(2) == "" {
		return false, fmt.Errorf("onnx: %s takes data, starts and ends: %w", n.where(), ErrMalformed)
	}
	names := []string{"starts", "ends", "axes", "steps"}
	all := true
	for i := 1; i < len(n.Inputs); i++ {
		all = all && imp.isConst(n.in(i))
	}
	if all {
		for i, name := range names {
			t := imp.consts[n.in(i+1)]
			if n.in(i+1) == "" || t == nil {
				continue
			}
			v, err := ints(n, t, name)
			if err != nil {
				return false, err
			}
			n.Attrs[name] = model.IntsAttr(append([]int64{}, v...)...)
		}
		n.Inputs = n.Inputs[:1]
		return true, nil
	}
	if n.in(3) == "" && n.in(4) != "" {
		s := imp.shapeOf(n.in(1))
		if len(s) != 1 || s[0] < 0 {
			return false, fmt.Errorf("onnx: %s: axes is absent, steps given and starts %q computed with an unknown length: %w (give axes)", n.where(), n.in(1), ErrUnsupported)
		}
		axes := &Tensor{DType: Int64, Shape: []int{s[0]}, Int: make([]int64, s[0])}
		for i := range axes.Int {
			axes.Int[i] = int64(i)
		}
		c := imp.fresh(n.Name + "_axes")
		imp.addConst(c, axes)
		n.Inputs[3] = c
	}
	for i := 1; i < len(n.Inputs); i++ {
		t := imp.consts[n.in(i)]
		if n.in(i) == "" || t == nil || !t.DType.isInt() {
			continue
		}
		clamped := false
		v := append([]int64{}, t.Int...)
		for j := range v {
			if v[j] > sliceLimit || v[j] < -sliceLimit {
				v[j] = min(max(v[j], -sliceLimit), sliceLimit)
				clamped = true
			}
		}
		if clamped {
			c := imp.fresh(n.in(i) + "_clamped")
			imp.addConst(c, &Tensor{DType: t.DType, Shape: append([]int{}, t.Shape...), Int: v})
			n.Inputs[i] = c
		}
	}
	return true, nil
}

// normPRelu gives a PRelu before opset 7 whose constant slope is 1-D with x's
// channel count C (PyTorch's per-channel slope) the shape [C, 1, ..., 1], so
// that opset 7's numpy broadcasting applies it along axis 1 as the old
// opsets meant. A slope of one value, or an x of rank < 3 or unknown rank,
// needs nothing.
func normPRelu(imp *importer, n *node) (bool, error) {
	if imp.opset >= 7 || len(n.Inputs) != 2 {
		return true, nil
	}
	x := imp.shapeOf(n.in(0))
	t, ok := imp.consts[n.in(1)]
	if !ok || len(x) < 3 || len(t.Shape) != 1 || t.Shape[0] == 1 || x[1] != t.Shape[0] {
		return true, nil
	}
	c := *t
	c.Shape = []int{t.Shape[0]}
	for range x[2:] {
		c.Shape = append(c.Shape, 1)
	}
	name := imp.fresh(n.Name + "_slope")
	imp.addConst(name, &c)
	n.Inputs[1] = name
	return true, nil
}

// normPad: from opset 18 Pad takes axes as input 3; when constant_value
// (input 2) is absent before it, it is written out as a 0 of the data's
// type (absent inputs in the middle are dropped later).
func normPad(imp *importer, n *node) (bool, error) {
	if n.in(2) == "" && n.in(3) != "" {
		c := imp.fresh(n.Name + "_constant_value")
		imp.addConst(c, &Tensor{DType: Float, Float: []float32{0}})
		n.Inputs[2] = c
	}
	return true, nil
}
