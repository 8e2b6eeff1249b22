package ops

import "fmt"

// BiasAdd returns y[i] = x[i] + bias[i % len(bias)]: bias broadcast over the
// last axis of a row-major tensor whose last dimension is len(bias).
// The sum is computed in float32, as one IEEE addition.
//
// It panics if bias is empty or len(x) is not a multiple of len(bias).
func BiasAdd(x, bias []float32) []float32 {
	if len(bias) == 0 || len(x)%len(bias) != 0 {
		panic(fmt.Sprintf("ops.BiasAdd: len(x) = %d is not a multiple of len(bias) = %d", len(x), len(bias)))
	}
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = v + bias[i%len(bias)]
	}
	return y
}

// ReLU returns y[i] = x[i] < 0 ? 0 : x[i]. NaN stays NaN (the comparison is
// false for NaN, unlike a max() that may pick either operand); -0 stays -0;
// -inf becomes 0 and +inf stays +inf.
func ReLU(x []float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = relu(v)
	}
	return y
}
