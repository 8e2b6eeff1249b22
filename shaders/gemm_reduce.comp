#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_reduce.comp: the second pass of a split-K GEMM (gemm_tiled.comp with
// PARTIAL): C[i] = act(sum_z P[z*count + i] + bias[i % N]), summing the S
// partial products in order z = 0 .. S-1.
//
// bindings (set 0): 0 P (read-only, S x count floats), 1 bias (read-only, N
//                   floats; bound always, read only when HAS_BIAS),
//                   2 C (write-only, count floats at offC)
// push constants:   uint count (= M*N), N, S, offC
// spec constants:   0 local_size_x (default 64), 1 HAS_BIAS, 2 ACT (0 none,
//                   1 ReLU)
// grid:             ceil(count / local_size_x) workgroups, over x and y
//                   (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const bool HAS_BIAS = false;
layout(constant_id = 2) const uint ACT = 0;

const uint ACT_RELU = 1;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer PBuf { float v[]; } P;
layout(std430, set = 0, binding = 1) readonly buffer BiasBuf { float v[]; } bias;
layout(std430, set = 0, binding = 2) writeonly buffer CBuf { float v[]; } C;

layout(push_constant, std430) uniform Push {
    uint count;
    uint N;
    uint S;
    uint offC;
} pc;

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    float x = 0.0;
    for (uint z = 0; z < pc.S; ++z) {
        x += P.v[z * pc.count + i];
    }
    if (HAS_BIAS) {
        x += bias.v[i % pc.N];
    }
    if (ACT == ACT_RELU) {
        x = x < 0.0 ? 0.0 : x; // keeps NaN (max() need not)
    }
    C.v[pc.offC + i] = x;
}
