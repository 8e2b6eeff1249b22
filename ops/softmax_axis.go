package ops

import (
	"fmt"
	"math"
)

// SoftmaxAxis returns the softmax (log false) or log-softmax (log true) of
// x, a row-major tensor of the given shape, along axis (negative counts from
// the end, as in ONNX; it must lie in [-rank, rank-1]).
//
//   - coerce2D false (ONNX opset 13 and later): normalises along the one
//     axis: for every index of the other dimensions, the shape[axis]
//     elements along axis form one row.
//   - coerce2D true (ONNX opsets 1 to 12): the tensor is read as a 2-D
//     matrix of prod(shape[:axis]) rows and prod(shape[axis:]) columns and
//     normalised row by row.
//
// Each row is computed in float64 and rounded once:
//
//	softmax:     y = exp(x - m) / Σ exp(x - m)
//	log-softmax: y = (x - m) - log Σ exp(x - m),   m = max of the row
//
// Subtracting the maximum keeps rows of large magnitude finite. Special
// values, per row, as Softmax documents: any NaN makes the whole row NaN; a
// +inf, or a row of only -inf, makes the whole row NaN (inf - inf); with a
// finite maximum a -inf element gives 0 (softmax) or -inf (log-softmax).
//
// Errors: a scalar, an axis out of range, len(x) not matching shape.
func SoftmaxAxis(x []float32, shape []int, axis int, log bool, coerce2D bool) ([]float32, error) {
	if err := checkTensor("SoftmaxAxis", "x", x, shape); err != nil {
		return nil, err
	}
	r := len(shape)
	if r == 0 {
		return nil, fmt.Errorf("ops.SoftmaxAxis: x is a scalar; softmax needs rank >= 1")
	}
	if axis < -r || axis >= r {
		return nil, fmt.Errorf("ops.SoftmaxAxis: axis %d is out of range for shape %v", axis, shape)
	}
	if axis < 0 {
		axis += r
	}
	outer, n, inner := 1, 1, 1
	for i, d := range shape {
		switch {
		case i < axis:
			outer *= d
		case i == axis || coerce2D:
			n *= d
		default:
			inner *= d
		}
	}
	y := make([]float32, len(x))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			softmaxRow(x, y, o*n*inner+i, inner, n, log)
		}
	}
	return y, nil
}

// softmaxRow normalises the n elements x[base + c*stride] into y.
func softmaxRow(x, y []float32, base, stride, n int, log bool) {
	m := math.Inf(-1)
	hasNaN := false
	for c := 0; c < n; c++ {
		switch f := float64(x[base+c*stride]); {
		case math.IsNaN(f):
			hasNaN = true
		case f > m:
			m = f
		}
	}
	if hasNaN || math.IsInf(m, 0) {
		nan := float32(math.NaN())
		for c := 0; c < n; c++ {
			y[base+c*stride] = nan
		}
		return
	}
	var sum float64
	for c := 0; c < n; c++ {
		sum += math.Exp(float64(x[base+c*stride]) - m)
	}
	ls := math.Log(sum)
	for c := 0; c < n; c++ {
		d := float64(x[base+c*stride]) - m
		if log {
			y[base+c*stride] = float32(d - ls)
		} else {
			y[base+c*stride] = float32(math.Exp(d) / sum)
		}
	}
}
