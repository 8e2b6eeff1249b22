package layers

import "github.com/vkinfer/vkinfer/ops"

// PRelu (semantics in ops/def_prelu.go) is binary.comp's OP 7 with the
// slope as b: every broadcasting mode of Add serves it (a per-channel slope
// [C, 1, 1] of an NCHW x is the general strided mode, a scalar slope or one
// of the last axis the "b repeats" fast path). The slope may be a constant
// (uploaded at build) or computed at run time.
func init() {
	Register(ops.OpPRelu, buildBinary(BinaryPRelu))
}
