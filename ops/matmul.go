package ops

import "fmt"

// MatMul returns the matrix product of a and b with numpy's matmul rules
// (ONNX MatMul), and its shape:
//   - both 2-D: [M, K] · [K, N] = [M, N];
//   - a 1-D a of [K] is promoted to [1, K] and the M dimension removed from
//     the result; a 1-D b of [K] is promoted to [K, 1] and N removed;
//   - higher ranks are stacks of matrices in the last two dimensions; the
//     leading (batch) dimensions broadcast as in BroadcastShape.
//
// Each output is summed in float64 (products included) and rounded once;
// infinities and NaN follow IEEE arithmetic. K = 0 gives zeros.
//
// Errors: a scalar operand, inner dimensions that differ, batch dimensions
// that do not broadcast, data lengths that do not match their shapes.
func MatMul(a []float32, aShape []int, b []float32, bShape []int) ([]float32, []int, error) {
	if err := checkTensor("MatMul", "a", a, aShape); err != nil {
		return nil, nil, err
	}
	if err := checkTensor("MatMul", "b", b, bShape); err != nil {
		return nil, nil, err
	}
	if len(aShape) == 0 || len(bShape) == 0 {
		return nil, nil, fmt.Errorf("ops.MatMul: %v · %v: scalars are not matrices", aShape, bShape)
	}
	as, bs := aShape, bShape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, nil, fmt.Errorf("ops.MatMul: %v · %v: inner dimensions %d and %d differ", aShape, bShape, k, k2)
	}
	batch, err := BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, nil, fmt.Errorf("ops.MatMul: batch dimensions: %w", err)
	}
	out := append([]int{}, batch...)
	if len(aShape) > 1 {
		out = append(out, m)
	}
	if len(bShape) > 1 {
		out = append(out, n)
	}
	total, err := shapeElems(out)
	if err != nil {
		return nil, nil, fmt.Errorf("ops.MatMul: %w", err)
	}
	y := make([]float32, total)
	// Matrix strides of a and b along the broadcast batch dimensions.
	sa := broadcastStrides(as[:len(as)-2], batch)
	sb := broadcastStrides(bs[:len(bs)-2], batch)
	nb, _ := shapeElems(batch)
	idx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		oa, ob := 0, 0
		for d, i := range idx {
			oa += i * sa[d]
			ob += i * sb[d]
		}
		c := Gemm(a[oa*m*k:(oa+1)*m*k], b[ob*k*n:(ob+1)*k*n], nil, m, n, k, false, false, ActNone)
		copy(y[bi*m*n:], c)
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return y, out, nil
}

// GemmONNX returns ONNX Gemm, Y = alpha·op(A)·op(B) + beta·C, and its shape
// [M, N]. A is [M, K] ([K, M] when transA), B is [K, N] ([N, K] when
// transB), both 2-D. C, when c is not nil, is unidirectionally broadcast to
// [M, N]: its shape has rank <= 2 and each of its dimensions (aligned at
// the end) is 1 or equal to the output's. When beta is 0, C is ignored (as
// ONNX Runtime does), so an inf or NaN in C does not turn into NaN.
//
// Each output is computed in float64, alpha·Σ + beta·c, and rounded once.
//
// Errors: operands that are not matrices, inner dimensions that differ, a C
// that does not broadcast to [M, N], data lengths not matching shapes.
func GemmONNX(a []float32, aShape []int, b []float32, bShape []int, c []float32, cShape []int, alpha, beta float32, transA, transB bool) ([]float32, []int, error) {
	if err := checkTensor("GemmONNX", "a", a, aShape); err != nil {
		return nil, nil, err
	}
	if err := checkTensor("GemmONNX", "b", b, bShape); err != nil {
		return nil, nil, err
	}
	if len(aShape) != 2 || len(bShape) != 2 {
		return nil, nil, fmt.Errorf("ops.GemmONNX: A %v and B %v must both be 2-D", aShape, bShape)
	}
	m, k := aShape[0], aShape[1]
	if transA {
		m, k = k, m
	}
	k2, n := bShape[0], bShape[1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, nil, fmt.Errorf("ops.GemmONNX: op(A) is %dx%d, op(B) is %dx%d: inner dimensions differ", m, k, k2, n)
	}
	var cs []int // C's strides over [M, N]
	if c != nil {
		if err := checkTensor("GemmONNX", "c", c, cShape); err != nil {
			return nil, nil, err
		}
		if len(cShape) > 2 {
			return nil, nil, fmt.Errorf("ops.GemmONNX: C %v has rank > 2", cShape)
		}
		for i := range cShape {
			d, want := cShape[len(cShape)-1-i], []int{n, m}[i]
			if d != 1 && d != want {
				return nil, nil, fmt.Errorf("ops.GemmONNX: C %v does not broadcast to [%d %d]", cShape, m, n)
			}
		}
		cs = broadcastStrides(cShape, []int{m, n})
	}
	y := make([]float32, m*n)
	dots(a, b, m, n, k, transA, transB, func(i, j int, s float64) {
		s *= float64(alpha)
		if c != nil && beta != 0 {
			s += float64(beta) * float64(c[i*cs[0]+j*cs[1]])
		}
		y[i*n+j] = float32(s)
	})
	return y, []int{m, n}, nil
}
