package ops

import (
	"fmt"
	"math"
)

// BinaryOp is an element-wise arithmetic op of two tensors (ONNX Add, Sub,
// Mul, Div; Max and Min with Clip's comparisons).
type BinaryOp int

// The binary ops.
const (
	Add BinaryOp = iota // a + b
	Sub                 // a - b
	Mul                 // a * b
	Div                 // a / b
	// Max is a < b ? b : a: NaN in a stays NaN, a NaN b is ignored (Clip's
	// lower bound; ONNX's Max op would propagate either NaN).
	Max
	// Min is a > b ? b : a, NaN as Max (Clip's upper bound).
	Min
	// PRelu is a < 0 ? a*b : a (b the slope): NaN in a stays NaN, -0 stays
	// -0, a NaN slope gives NaN only where a < 0.
	PRelu
)

// String returns the op's ONNX name.
func (op BinaryOp) String() string {
	switch op {
	case Add:
		return "Add"
	case Sub:
		return "Sub"
	case Mul:
		return "Mul"
	case Div:
		return "Div"
	case Max:
		return "Max"
	case Min:
		return "Min"
	case PRelu:
		return "PRelu"
	}
	return fmt.Sprintf("BinaryOp(%d)", int(op))
}

// apply is one IEEE float32 operation: correctly rounded, NaN and infinities
// as IEEE 754 says (x/0 = ±inf, 0/0 = NaN, inf-inf = NaN, 0*inf = NaN).
func (op BinaryOp) apply(a, b float32) float32 {
	switch op {
	case Add:
		return a + b
	case Sub:
		return a - b
	case Mul:
		return a * b
	case Div:
		return a / b
	case Max:
		if a < b {
			return b
		}
		return a
	case Min:
		if a > b {
			return b
		}
		return a
	case PRelu:
		if a < 0 {
			return a * b
		}
		return a
	}
	panic(fmt.Sprintf("ops: unknown binary op %d", int(op)))
}

// BroadcastShape returns the shape two tensors broadcast to under numpy's
// (ONNX's multidirectional) rules: shapes are aligned at their last
// dimension, a missing leading dimension counts as 1, and each pair of
// dimensions must be equal or one of them 1 (the result takes the other,
// so a 1 against a 0 gives 0). A scalar has shape [] (or nil).
// Negative dimensions and incompatible pairs are errors.
func BroadcastShape(a, b []int) ([]int, error) {
	for _, s := range [][]int{a, b} {
		for _, d := range s {
			if d < 0 {
				return nil, fmt.Errorf("ops: broadcast %v with %v: negative dimension", a, b)
			}
		}
	}
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := dimFromEnd(a, n-1-i), dimFromEnd(b, n-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("ops: shapes %v and %v do not broadcast: dimension %d is %d against %d", a, b, i, da, db)
		}
	}
	return out, nil
}

// dimFromEnd returns s[len(s)-1-k], or 1 past the front of s.
func dimFromEnd(s []int, k int) int {
	if k >= len(s) {
		return 1
	}
	return s[len(s)-1-k]
}

// shapeElems returns the product of shape, or an error when a dimension is
// negative or the product overflows.
func shapeElems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("ops: shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("ops: shape %v has too many elements", shape)
		}
		n *= d
	}
	return n, nil
}

// checkTensor returns an error unless len(data) matches shape.
func checkTensor(fn, name string, data []float32, shape []int) error {
	n, err := shapeElems(shape)
	if err != nil {
		return fmt.Errorf("ops.%s: %s: %w", fn, name, err)
	}
	if len(data) != n {
		return fmt.Errorf("ops.%s: %s has %d values, shape %v needs %d", fn, name, len(data), shape, n)
	}
	return nil
}

// broadcastStrides returns, for a tensor of shape s broadcast to out, the
// element stride of each output dimension in s's data (0 where s is
// broadcast along it).
func broadcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	stride := 1
	for i := len(out) - 1; i >= 0; i-- {
		k := len(out) - 1 - i
		if k >= len(s) {
			break
		}
		d := s[len(s)-1-k]
		if d != 1 {
			st[i] = stride
		}
		stride *= d
	}
	return st
}

// Binary returns op applied element-wise to a and b broadcast against each
// other (see BroadcastShape), and the result's shape. Each element is one
// IEEE float32 operation, so results are exact up to the rounding IEEE
// prescribes: x/0 = ±inf, 0/0 = NaN, inf-inf = NaN, 0*inf = NaN, NaN in
// gives NaN out.
//
// Errors: shapes that do not broadcast, data lengths that do not match their
// shapes, an unknown op.
func Binary(op BinaryOp, a []float32, aShape []int, b []float32, bShape []int) ([]float32, []int, error) {
	if op < Add || op > PRelu {
		return nil, nil, fmt.Errorf("ops.Binary: unknown op %d", int(op))
	}
	if err := checkTensor("Binary", "a", a, aShape); err != nil {
		return nil, nil, err
	}
	if err := checkTensor("Binary", "b", b, bShape); err != nil {
		return nil, nil, err
	}
	out, err := BroadcastShape(aShape, bShape)
	if err != nil {
		return nil, nil, fmt.Errorf("ops.Binary %v: %w", op, err)
	}
	n, err := shapeElems(out)
	if err != nil {
		return nil, nil, fmt.Errorf("ops.Binary %v: %w", op, err)
	}
	y := make([]float32, n)
	sa, sb := broadcastStrides(aShape, out), broadcastStrides(bShape, out)
	idx := make([]int, len(out))
	ia, ib := 0, 0
	for i := range y {
		y[i] = op.apply(a[ia], b[ib])
		ia, ib = broadcastNext(idx, out, sa, sb, ia, ib)
	}
	return y, out, nil
}

// broadcastNext advances the multi-index idx over the output shape out like
// an odometer, innermost dimension first, and returns the flat offsets ia
// and ib of the two operands moved along with it (sa and sb are their
// broadcast strides, 0 along broadcast dimensions).
func broadcastNext(idx, out, sa, sb []int, ia, ib int) (int, int) {
	for d := len(out) - 1; d >= 0; d-- {
		idx[d]++
		ia += sa[d]
		ib += sb[d]
		if idx[d] < out[d] {
			break
		}
		ia -= sa[d] * out[d]
		ib -= sb[d] * out[d]
		idx[d] = 0
	}
	return ia, ib
}
