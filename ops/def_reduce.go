package ops

import (
	"fmt"
	"math"
)

// The reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd,
// ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum and ReduceLogSumExp, all of one form
// (ONNX opsets 1 to 18): attribute axes (opsets < 13, and < 18 for all but
// ReduceSum) or a constant int64 input axes (ReduceSum from 13, the others
// from 18); keepdims (default 1); noop_with_empty_axes (default 0). Empty or
// absent axes reduce every axis, unless noop_with_empty_axes is 1: then
// nothing is reduced (each element is reduced alone, which for Sum, Mean,
// Max, Min and Prod is the identity). The reference is Reduce.

// ReduceOp is one of the reductions. Its value is also the OP
// specialization constant of shaders/reduce.comp (the one numbering).
type ReduceOp uint32

// The reductions. Each is init ⊕ term(x) over the reduced elements, then
// finish (see Reduce).
const (
	ReduceSum       ReduceOp = iota // Σ x
	ReduceMean                      // Σ x / n (NaN for n = 0)
	ReduceMax                       // max x; -inf for n = 0
	ReduceMin                       // min x; +inf for n = 0
	ReduceProd                      // Π x; 1 for n = 0
	ReduceL1                        // Σ |x|
	ReduceL2                        // sqrt(Σ x²)
	ReduceSumSquare                 // Σ x²
	ReduceLogSum                    // log(Σ x): -inf for a sum of 0, NaN below
	ReduceLogSumExp                 // m + log(Σ exp(x - m)), m = max x: +inf if m is, -inf for n = 0 or all -inf
	NumReduceOps                    // the number of reductions, not one
)

// reduceOps maps the ONNX names to the reductions.
var reduceOps = map[string]ReduceOp{
	OpReduceSum: ReduceSum, OpReduceMean: ReduceMean, OpReduceMax: ReduceMax, OpReduceMin: ReduceMin,
	OpReduceProd: ReduceProd, OpReduceL1: ReduceL1, OpReduceL2: ReduceL2, OpReduceSumSquare: ReduceSumSquare,
	OpReduceLogSum: ReduceLogSum, OpReduceLogSumExp: ReduceLogSumExp,
}

// ReduceOpOf returns the reduction of an ONNX op name, false if it is not one.
func ReduceOpOf(name string) (ReduceOp, bool) {
	r, ok := reduceOps[name]
	return r, ok
}

// String returns the op's ONNX name.
func (r ReduceOp) String() string {
	for name, v := range reduceOps {
		if v == r {
			return name
		}
	}
	return fmt.Sprintf("ReduceOp(%d)", uint32(r))
}

func init() {
	for name, r := range reduceOps {
		r := r
		Register(&Op{
			Name: name, MinInputs: 1, MaxInputs: 2, MaxOutputs: 1,
			Attrs: []AttrDef{IntsOpt("axes"), Int("keepdims", 1), Int("noop_with_empty_axes", 0)},
			Check: func(a Attrs) error {
				if err := a.CheckBool("keepdims"); err != nil {
					return err
				}
				return a.CheckBool("noop_with_empty_axes")
			},
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				var axes *Tensor
				if len(in) > 1 && !in[1].Absent {
					if axes = in[1].Const; axes == nil {
						return inferRunTimeAxes(a, in[0].Shape, in[1].Shape)
					}
				}
				mask, err := ReduceAxes(a, len(in[0].Shape), axes)
				if err != nil {
					return nil, err
				}
				return [][]int{ReducedShape(in[0].Shape, mask, a.Bool("keepdims"))}, nil
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				var axes *Tensor
				if len(in) > 1 {
					axes = in[1]
				}
				x := in[0]
				mask, err := ReduceAxes(a, len(x.Shape), axes)
				if err != nil {
					return nil, err
				}
				y := Reduce(r, x.Float(), x.Shape, mask)
				return []*Tensor{F32(ReducedShape(x.Shape, mask, a.Bool("keepdims")), y)}, nil
			},
		})
	}
}

// inferRunTimeAxes is a reduction's Infer when its axes input (of shape
// axesShape) is not known yet (computed from shapes, known when a plan is
// made): every dimension is unknown; the rank is x's with keepdims, else
// x's less the number of axes, which the axes' shape tells (none: all
// axes, or none with noop_with_empty_axes).
func inferRunTimeAxes(a Attrs, x, axesShape []int) ([][]int, error) {
	r := len(x)
	switch {
	case a.Bool("keepdims"):
	case len(axesShape) != 1 || axesShape[0] < 0:
		return nil, a.Errorf("axes %q of shape %v are computed at run time with keepdims 0: %w (the output's rank is unknown)",
			a.Node.Inputs[1], axesShape, ErrUnsupported)
	case axesShape[0] == 0 && !a.Bool("noop_with_empty_axes"):
		r = 0
	case axesShape[0] > r:
		return nil, a.Errorf("%d axes for an input of rank %d", axesShape[0], r)
	default:
		r -= axesShape[0]
	}
	return [][]int{unknown(r)}, nil
}

// ReduceAxes returns which of a rank-r input's axes a reduction node
// reduces: from the constant axes input (nil when absent) or the axes
// attribute; negative axes count from the end. Empty or absent axes mean
// every axis, or none with noop_with_empty_axes = 1. Axes out of range,
// repeated, or given twice are errors.
func ReduceAxes(a Attrs, r int, axes *Tensor) ([]bool, error) {
	var v []int64
	switch {
	case axes != nil:
		if a.Has("axes") {
			return nil, a.Errorf("axes given both as an attribute and as input %q", a.Node.Inputs[1])
		}
		if len(axes.Shape) > 1 {
			return nil, a.Errorf("axes %q have shape %v, want 1-D", a.Node.Inputs[1], axes.Shape)
		}
		var err error
		if v, err = axes.IntValues(); err != nil {
			return nil, a.Errorf("axes %q: %v", a.Node.Inputs[1], err)
		}
	case a.Has("axes"):
		v = a.Ints("axes")
	}
	mask := make([]bool, r)
	if len(v) == 0 {
		if !a.Bool("noop_with_empty_axes") {
			for i := range mask {
				mask[i] = true
			}
		}
		return mask, nil
	}
	for _, ax := range v {
		if ax < int64(-r) || ax >= int64(r) {
			return nil, a.Errorf("axis %d is out of range for rank %d", ax, r)
		}
		if ax < 0 {
			ax += int64(r)
		}
		if mask[ax] {
			return nil, a.Errorf("axes %v name axis %d twice", v, ax)
		}
		mask[ax] = true
	}
	return mask, nil
}

// ReducedShape is the output shape of a reduction of shape s over the axes
// marked in reduced: those axes become 1 (keepdims) or are removed.
func ReducedShape(s []int, reduced []bool, keepdims bool) []int {
	out := []int{}
	for i, d := range s {
		switch {
		case !reduced[i]:
			out = append(out, d)
		case keepdims:
			out = append(out, 1)
		}
	}
	return out
}

// Reduce is the reference of the reductions: x of shape shape reduced over
// the axes marked in reduced, the result row-major over the kept axes. It
// accumulates in float64 and rounds once, so Sum and Mean of huge values
// that overflow only on the way are finite here (a float32 kernel may give
// ±inf) and L2 and SumSquare of values whose squares overflow float32 are
// finite when the result is. Special values follow IEEE arithmetic in
// float64 (NaN in gives NaN, inf - inf = NaN), except Max and Min, which
// give NaN when any reduced element is NaN. Panics when len(x) does not
// match shape (a programming error).
func Reduce(op ReduceOp, x []float32, shape []int, reduced []bool) []float32 {
	if n := dimsProduct(shape); n != len(x) || len(reduced) != len(shape) {
		panic(fmt.Sprintf("ops.Reduce: %d values, %d axes marked for shape %v", len(x), len(reduced), shape))
	}
	// Output strides of each input axis (0 along reduced ones).
	ostride := make([]int, len(shape))
	outN, rN := 1, 1
	for i := len(shape) - 1; i >= 0; i-- {
		if reduced[i] {
			rN *= shape[i]
			continue
		}
		ostride[i] = outN
		outN *= shape[i]
	}
	acc := make([]float64, outN)
	init := 0.0
	switch op {
	case ReduceMax:
		init = math.Inf(-1)
	case ReduceMin:
		init = math.Inf(1)
	case ReduceProd:
		init = 1
	}
	for i := range acc {
		acc[i] = init
	}
	idx := make([]int, len(shape))
	o := 0
	for _, f := range x {
		v := float64(f)
		switch op {
		case ReduceMax:
			if math.IsNaN(v) || math.IsNaN(acc[o]) {
				acc[o] = math.NaN()
			} else if v > acc[o] {
				acc[o] = v
			}
		case ReduceMin:
			if math.IsNaN(v) || math.IsNaN(acc[o]) {
				acc[o] = math.NaN()
			} else if v < acc[o] {
				acc[o] = v
			}
		case ReduceProd:
			acc[o] *= v
		case ReduceL1:
			acc[o] += math.Abs(v)
		case ReduceL2, ReduceSumSquare:
			acc[o] += v * v
		default:
			acc[o] += v
		}
		// Next input index, row-major; o follows it.
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			o += ostride[k]
			if idx[k] < shape[k] {
				break
			}
			o -= ostride[k] * idx[k]
			idx[k] = 0
		}
	}
	if op == ReduceLogSumExp {
		return logSumExp(x, shape, reduced, outN, ostride)
	}
	y := make([]float32, outN)
	for i, v := range acc {
		switch op {
		case ReduceMean:
			v /= float64(rN)
		case ReduceL2:
			v = math.Sqrt(v)
		case ReduceLogSum:
			v = math.Log(v)
		}
		y[i] = float32(v)
	}
	return y
}

// logSumExp is Reduce's ReduceLogSumExp: m + log(Σ exp(x - m)) with m the
// maximum of each output's elements, in float64. NaN among them gives NaN;
// m = +inf gives +inf; m = -inf (all -inf, or none) gives -inf.
func logSumExp(x []float32, shape []int, reduced []bool, outN int, ostride []int) []float32 {
	m := Reduce(ReduceMax, x, shape, reduced)
	sum := make([]float64, outN)
	idx := make([]int, len(shape))
	o := 0
	for _, f := range x {
		if mo := float64(m[o]); !math.IsInf(mo, 0) && !math.IsNaN(mo) {
			sum[o] += math.Exp(float64(f) - mo)
		}
		for k := len(shape) - 1; k >= 0; k-- {
			idx[k]++
			o += ostride[k]
			if idx[k] < shape[k] {
				break
			}
			o -= ostride[k] * idx[k]
			idx[k] = 0
		}
	}
	y := make([]float32, outN)
	for i, mv := range m {
		mo := float64(mv)
		if math.IsInf(mo, 0) || math.IsNaN(mo) {
			y[i] = mv
			continue
		}
		y[i] = float32(mo + math.Log(sum[i]))
	}
	return y
}
