// The kernel-level reference functions (this file and gemm.go, binary.go,
// matmul.go, softmax*.go, unary.go, elementwise.go): the test oracle the
// shaders are compared against and what each op's Eval calls.
//
// Tensors are row-major []float32. Sums are accumulated in float64 and
// rounded to float32 once, so results are at least as accurate as the fp32
// shaders; compare with a tolerance, not bit for bit. No GPU, no cgo.
//
// Every function allocates and returns a new slice and never modifies its
// inputs, so all are safe for concurrent use.
//
// Two kinds of function: the matrix-level ones (Gemm, BiasAdd, ReLU,
// Softmax, Unary) take sizes from the caller's code, so mismatched slice
// lengths or negative sizes are programmer errors and panic with a message
// naming the function and the sizes. The ONNX-level ones (BroadcastShape,
// Binary, SoftmaxAxis, MatMul, GemmONNX) take shapes as a model file gives
// them, e.g. for constant folding in an importer, and return an error for
// shapes that do not fit instead.

package ops

import "fmt"

// Activation is an element-wise function fused after an op.
type Activation int

// The activations a fused op may apply.
const (
	ActNone Activation = iota // identity
	ActReLU                   // x < 0 ? 0 : x; NaN stays NaN (see ReLU)
)

// String returns the activation's name.
func (a Activation) String() string {
	switch a {
	case ActNone:
		return "none"
	case ActReLU:
		return "relu"
	}
	return fmt.Sprintf("Activation(%d)", int(a))
}

// apply applies a to one value.
func (a Activation) apply(v float32) float32 {
	switch a {
	case ActNone:
		return v
	case ActReLU:
		return relu(v)
	}
	panic(fmt.Sprintf("ops: unknown activation %d", int(a)))
}

// relu is x < 0 ? 0 : x. For NaN the comparison is false, so NaN passes
// through; -0 is not < 0, so it stays -0.
func relu(v float32) float32 {
	if v < 0 {
		return 0
	}
	return v
}

func mustLen(fn, name string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("ops.%s: len(%s) = %d, want %d", fn, name, got, want))
	}
}
