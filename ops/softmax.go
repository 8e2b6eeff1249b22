package ops

import "fmt"

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
		panic(fmt.Sprintf("ops.Softmax: negative size rows=%d cols=%d", rows, cols))
	}
	mustLen("Softmax", "x", len(x), rows*cols)
	y := make([]float32, len(x))
	for r := 0; r < rows; r++ {
		softmaxRow(x, y, r*cols, 1, cols, false)
	}
	return y
}
