package ops

import (
	"fmt"
	"math"
)

// UnaryOp is an element-wise function of one tensor. Its value is also
// the OP specialization constant of shaders/unary.comp, so this is the one
// numbering of the unary ops (layers and the shader use it as is).
type UnaryOp uint32

// The unary ops. alpha and beta are Unary's parameters.
const (
	UnaryIdentity    UnaryOp = iota // x (also a copy of a range)
	UnaryRelu                       // x < 0 ? 0 : x
	UnaryLeakyRelu                  // x < 0 ? alpha*x : x
	UnarySigmoid                    // 1 / (1 + exp(-x))
	UnaryTanh                       // tanh(x)
	UnaryClip                       // min(max(x, alpha), beta), NaN stays NaN
	UnaryNeg                        // -x (sign flip: -0 for 0, NaN stays NaN)
	UnaryHardSigmoid                // clamp(alpha*x + beta, 0, 1)
	UnaryHardSwish                  // x * clamp(x/6 + 1/2, 0, 1)
	NumUnaryOps                     // the number of unary ops, not an op
)

// String returns the op's ONNX name.
func (op UnaryOp) String() string {
	switch op {
	case UnaryRelu:
		return "Relu"
	case UnaryLeakyRelu:
		return "LeakyRelu"
	case UnarySigmoid:
		return "Sigmoid"
	case UnaryTanh:
		return "Tanh"
	case UnaryClip:
		return "Clip"
	case UnaryIdentity:
		return "Identity"
	case UnaryNeg:
		return "Neg"
	case UnaryHardSigmoid:
		return "HardSigmoid"
	case UnaryHardSwish:
		return "HardSwish"
	}
	return fmt.Sprintf("UnaryOp(%d)", int(op))
}

// Unary returns op applied to every element of x. alpha and beta are the
// op's parameters: LeakyRelu's slope is alpha; Clip's bounds are min = alpha
// and max = beta (pass ±inf for no bound); the other ops ignore them.
//
// Special values:
//   - NaN in gives NaN out for every op (Relu, LeakyRelu and Clip compare
//     with <, which is false for NaN, so NaN passes through).
//   - Relu and LeakyRelu keep -0 as -0 (-0 is not < 0).
//   - Sigmoid(+inf) = 1, Sigmoid(-inf) = 0; it is computed in float64 as
//     1/(1+exp(-x)) for x >= 0 and exp(x)/(1+exp(x)) for x < 0, so no
//     intermediate overflows. Tanh(±inf) = ±1 (math.Tanh).
//   - HardSigmoid (alpha, beta) and HardSwish are Activate's ActHardSigmoid
//     and ActHardSwish, in float64 rounded once: HardSwish(+inf) = +inf,
//     HardSwish(-inf) = -inf·0 = NaN (as ONNX's formula gives);
//     HardSigmoid(±inf) is 0 or 1 by the sign of alpha·x.
//   - Clip with alpha > beta gives beta everywhere (ONNX: "when min is
//     greater than max, all values are set to max"): x < alpha → alpha,
//     then anything > beta → beta.
//
// Sigmoid and Tanh are rounded to float32 once; the others are exact.
// It panics on an unknown op (a programming error).
func Unary(op UnaryOp, x []float32, alpha, beta float32) []float32 {
	var f func(float32) float32
	switch op {
	case UnaryRelu:
		f = relu
	case UnaryLeakyRelu:
		f = func(v float32) float32 {
			if v < 0 {
				return alpha * v
			}
			return v
		}
	case UnarySigmoid:
		f = sigmoid
	case UnaryTanh:
		f = func(v float32) float32 { return float32(math.Tanh(float64(v))) }
	case UnaryClip:
		f = func(v float32) float32 {
			if v < alpha {
				v = alpha
			}
			if v > beta {
				v = beta
			}
			return v
		}
	case UnaryIdentity:
		f = func(v float32) float32 { return v }
	case UnaryNeg:
		f = func(v float32) float32 { return -v }
	case UnaryHardSigmoid, UnaryHardSwish:
		act := map[UnaryOp]Activation{UnaryHardSigmoid: ActHardSigmoid, UnaryHardSwish: ActHardSwish}[op]
		y := append([]float32{}, x...)
		Activate(y, act, alpha, beta)
		return y
	default:
		panic(fmt.Sprintf("ops.Unary: unknown op %d", int(op)))
	}
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = f(v)
	}
	return y
}

// sigmoid is 1/(1+exp(-x)) in float64, without overflow for any x.
func sigmoid(v float32) float32 {
	x := float64(v)
	if math.IsNaN(x) {
		return v
	}
	if x >= 0 {
		return float32(1 / (1 + math.Exp(-x)))
	}
	e := math.Exp(x)
	return float32(e / (1 + e))
}
