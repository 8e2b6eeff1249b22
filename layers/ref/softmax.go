package ref

import (
	"fmt"
	"math"
)

// Softmax returns the row-wise softmax over the last axis of a row-major
// rows×cols matrix:
//
//	y[r][c] = exp(x[r][c] - m) / Σ_c' exp(x[r][c'] - m),  m = max_c x[r][c]
//
// computed in float64 and rounded once. Subtracting the row maximum keeps
// rows of large magnitude (±1e30) finite. Special values, per row:
//   - any NaN makes the whole output row NaN;
//   - otherwise the IEEE result of the formula: a +inf gives inf-inf = NaN,
//     so the whole row is NaN; a row of only -inf gives -inf-(-inf) = NaN,
//     so the whole row is NaN; with a finite maximum, each -inf element
//     gives exp(-inf) = 0.
//
// The shader (shaders/softmax.comp) follows the same rules.
//
// It panics if rows or cols is negative or len(x) != rows*cols.
func Softmax(x []float32, rows, cols int) []float32 {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("ref.Softmax: negative size rows=%d cols=%d", rows, cols))
	}
	mustLen("Softmax", "x", len(x), rows*cols)
	y := make([]float32, len(x))
	nan := float32(math.NaN())
	for r := 0; r < rows; r++ {
		in, out := x[r*cols:(r+1)*cols], y[r*cols:(r+1)*cols]
		m := math.Inf(-1)
		hasNaN := false
		for _, v := range in {
			switch f := float64(v); {
			case math.IsNaN(f):
				hasNaN = true
			case f > m:
				m = f
			}
		}
		if hasNaN || math.IsInf(m, 0) {
			for c := range out {
				out[c] = nan
			}
			continue
		}
		var sum float64
		for _, v := range in {
			sum += math.Exp(float64(v) - m)
		}
		for c, v := range in {
			out[c] = float32(math.Exp(float64(v)-m) / sum)
		}
	}
	return y
}
