#version 450
#extension GL_GOOGLE_include_directive : require
// unary.comp: y[offY + i] = f(x[offX + i]) for i < count, element-wise.
//
// OP (spec constant): ops.UnaryOp, the same numbering and rules as ops.Unary:
//   0 identity   x (also a copy of a range: Reshape, Flatten, Dropout)
//   1 relu       x < 0 ? 0 : x
//   2 leakyrelu  x < 0 ? alpha * x : x
//   3 sigmoid    1 / (1 + exp(-x)), stable for any x (see below)
//   4 tanh       tanh(x), stable for any x (see below)
//   5 clip       x < alpha ? alpha : x, then > beta ? beta : x
//   6 neg        -x (a sign flip: 0 gives -0, NaN stays NaN)
//   7 hardsigmoid clamp(alpha * x + beta, 0, 1)   (activation.glsl's formula)
//   8 hardswish  x * clamp(x / 6 + 1/2, 0, 1)      (likewise; -inf gives NaN)
// NaN in gives NaN out for every op: the comparisons are false for NaN, and
// sigmoid and tanh test for NaN on the bits and pass it through. -0 stays -0
// in relu, leakyrelu and identity.
//
// Sigmoid and tanh never divide infinities: both are written with
// t = exp(-|x|) or exp(-2|x|) in (0, 1], and |x| is clamped first (beyond
// the clamp the fp32 result is exactly 0 or ±1), so no inf/inf NaN and no
// dependence on how a driver's exp() treats infinities. Tanh of small |x|
// uses a polynomial (Cephes tanhf), where 1 - 2/(exp(2x)+1) would lose
// relative accuracy to cancellation.
//
// bindings (set 0): 0 x (read-only), 1 y (write-only)
// push constants:   uint count, offX, offY (element offsets); float alpha, beta
// spec constants:   0 local_size_x (default 64), 1 OP
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint offX;
    uint offY;
    float alpha;
    float beta;
} pc;

#include "unary.glsl"

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    y.data[pc.offY + i] = unaryOp(x.data[pc.offX + i]);
}
