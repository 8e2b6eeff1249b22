package ops

// The names of the ops defined in this package: ONNX op names, plus
// vkinfer's own Dense and BiasAdd (mlp.bin's ops). This is the one set of
// op-name constants; layers, the importer and the tools use these.
const (
	OpDense      = "Dense"      // y = x·Wᵀ + b, W [out, in], optional "activation" = "relu"
	OpBiasAdd    = "BiasAdd"    // y = x + b over the last axis
	OpRelu       = "Relu"       // max(x, 0), NaN stays NaN
	OpLeakyRelu  = "LeakyRelu"  // x < 0 ? alpha·x : x
	OpSigmoid    = "Sigmoid"    // 1 / (1 + exp(-x))
	OpTanh       = "Tanh"       // tanh(x)
	OpClip       = "Clip"       // min(max(x, min), max)
	OpNeg        = "Neg"        // -x
	OpIdentity   = "Identity"   // x
	OpDropout    = "Dropout"    // x (inference)
	OpSoftmax    = "Softmax"    // exp(x - max) / Σ exp(x - max) along axis
	OpLogSoftmax = "LogSoftmax" // log of Softmax
	OpAdd        = "Add"        // a + b, numpy broadcasting
	OpSub        = "Sub"        // a - b
	OpMul        = "Mul"        // a · b
	OpDiv        = "Div"        // a / b
	OpMatMul     = "MatMul"     // numpy matmul
	OpGemm       = "Gemm"       // alpha·op(A)·op(B) + beta·C
	OpFlatten    = "Flatten"    // [prod(s[:axis]), prod(s[axis:])]
	OpReshape    = "Reshape"    // new shape, same data

	OpShape           = "Shape"           // a tensor's shape as int64
	OpSize            = "Size"            // a tensor's element count
	OpGather          = "Gather"          // elements at indices along an axis
	OpConcat          = "Concat"          // joined along an axis
	OpUnsqueeze       = "Unsqueeze"       // 1s inserted at axes
	OpSqueeze         = "Squeeze"         // 1s removed at axes
	OpCast            = "Cast"            // another element type
	OpSlice           = "Slice"           // a strided window
	OpConstantOfShape = "ConstantOfShape" // a filled tensor of a given shape
	OpRange           = "Range"           // start, start+delta, ... below limit
	OpEqual           = "Equal"           // a == b, bool
	OpWhere           = "Where"           // c ? x : y
	OpTranspose       = "Transpose"       // dimensions permuted
)

// Attribute names shared by several ops and their users.
const (
	// AttrActivation is Dense's optional string attribute: ActivationRelu.
	AttrActivation = "activation"
	// AttrAxis is the int axis of Softmax, LogSoftmax, Flatten, ...
	AttrAxis = "axis"
	// AttrCoerce2D is Softmax's 0/1 opset-1-to-12 semantics flag (see
	// SoftmaxAxis).
	AttrCoerce2D = "coerce_2d"
	// AttrShape is Reshape's target shape as ints (the importer moves a
	// constant shape input there).
	AttrShape = "shape"
	// AttrAllowZero is Reshape's 0/1 allowzero.
	AttrAllowZero = "allowzero"
)

// ActivationRelu is the only value of Dense's "activation" attribute.
const ActivationRelu = "relu"

// The convolution family (def_conv.go).
const (
	OpConv               = "Conv"               // sliding-window products, NCHW
	OpMaxPool            = "MaxPool"            // window maximum
	OpAveragePool        = "AveragePool"        // window mean
	OpGlobalAveragePool  = "GlobalAveragePool"  // plane mean
	OpGlobalMaxPool      = "GlobalMaxPool"      // plane maximum
	OpBatchNormalization = "BatchNormalization" // (x - mean)·scale/sqrt(var + eps) + bias
)

// Conv's fused activation (not ONNX: written by the planner's fusion of
// Conv + activation): AttrActivation names it, one of the keys of
// Activations, with parameters AttrActAlpha and AttrActBeta.
const (
	AttrActAlpha = "activation_alpha"
	AttrActBeta  = "activation_beta"
)

// Activations maps Conv's AttrActivation values to the Activation applied.
var Activations = map[string]Activation{
	"relu": ActReLU, "clip": ActClip, "leakyrelu": ActLeakyRelu, "hardsigmoid": ActHardSigmoid,
	"hardswish": ActHardSwish, "sigmoid": ActSigmoid, "silu": ActSiLU,
}

// The reductions (def_reduce.go): one value per index of the kept axes.
const (
	OpReduceSum       = "ReduceSum"       // Σ x
	OpReduceMean      = "ReduceMean"      // Σ x / n
	OpReduceMax       = "ReduceMax"       // max x (NaN if any is NaN)
	OpReduceMin       = "ReduceMin"       // min x (NaN if any is NaN)
	OpReduceProd      = "ReduceProd"      // Π x
	OpReduceL1        = "ReduceL1"        // Σ |x|
	OpReduceL2        = "ReduceL2"        // sqrt(Σ x²)
	OpReduceSumSquare = "ReduceSumSquare" // Σ x²
	OpReduceLogSum    = "ReduceLogSum"    // log(Σ x)
	OpReduceLogSumExp = "ReduceLogSumExp" // log(Σ exp(x)), as max + log(Σ exp(x - max))
)

// The element-wise and convolution ops of def_elementwise.go, def_binary.go
// and def_conv.go added with the CNN ops.
const (
	OpHardSigmoid   = "HardSigmoid"   // clamp(alpha·x + beta, 0, 1)
	OpHardSwish     = "HardSwish"     // x · clamp(x/6 + 1/2, 0, 1)
	OpPRelu         = "PRelu"         // x < 0 ? slope·x : x, slope broadcast to x
	OpConvTranspose = "ConvTranspose" // the gradient of Conv: each input scatters a kernel-sized patch
)

// Data movement on the device (def_movement.go).
const (
	OpSplit = "Split" // pieces along an axis
	OpPad   = "Pad"   // borders added (or removed by negative pads)
)
