package ops

import "fmt"

// Gemm returns C = act(op(A)·op(B) + bias), an m×n row-major matrix.
//
// op(A) is m×k: a holds A as m×k row-major, or as k×m row-major when transA.
// op(B) is k×n: b holds B as k×n row-major, or as n×k row-major when transB
// (a Dense layer's [out, in] weight is transB). bias, when not nil, has n
// elements added to every row. Each output is summed in float64 (products
// included), the bias added, rounded to float32 once, then act applied.
// Infinities and NaN follow IEEE arithmetic (inf·0 = NaN, inf-inf = NaN).
//
// It panics if m, n or k is negative, if len(a) != m*k, len(b) != k*n, if
// bias is non-nil with len(bias) != n, or if act is unknown.
func Gemm(a, b, bias []float32, m, n, k int, transA, transB bool, act Activation) []float32 {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("ops.Gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	mustLen("Gemm", "a", len(a), m*k)
	mustLen("Gemm", "b", len(b), k*n)
	if bias != nil {
		mustLen("Gemm", "bias", len(bias), n)
	}
	act.apply(0) // reject an unknown activation even when C is empty

	c := make([]float32, m*n)
	dots(a, b, m, n, k, transA, transB, func(i, j int, s float64) {
		if bias != nil {
			s += float64(bias[j])
		}
		c[i*n+j] = act.apply(float32(s))
	})
	return c
}

// dots calls f(i, j, s) with s the float64 dot product of row i of op(A) and
// column j of op(B) (op as in Gemm), for every output of an m×n product.
func dots(a, b []float32, m, n, k int, transA, transB bool, f func(i, j int, s float64)) {
	// Element (i, p) of op(A) is a[i*aRow + p*aCol]; likewise for B.
	aRow, aCol := k, 1
	if transA {
		aRow, aCol = 1, m
	}
	bRow, bCol := n, 1
	if transB {
		bRow, bCol = 1, k
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*aRow+p*aCol]) * float64(b[p*bRow+j*bCol])
			}
			f(i, j, s)
		}
	}
}
