#version 450
#extension GL_GOOGLE_include_directive : require
// batchnorm.comp: inference BatchNormalization on [N, C, inner...]:
//   y = (x - mean[c]) * (scale[c] / sqrt(var[c] + eps)) + bias[c],
//   c = (i / inner) % C.
// The reference is layers/ref.BatchNormalization. Used for a standalone
// BatchNormalization (one that follows a Conv or Gemm is folded into its
// weights at load); the statistics may be constants or runtime inputs.
//
// bindings (set 0): 0 x, 1 scale, 2 bias, 3 mean, 4 var (each [C]), 5 y
// push constants:   uint count, inner, C; float eps
// spec constants:   0 local_size_x
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer SBuf { float data[]; } scale;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } bias;
layout(std430, set = 0, binding = 3) readonly buffer MBuf { float data[]; } mean;
layout(std430, set = 0, binding = 4) readonly buffer VBuf { float data[]; } variance;
layout(std430, set = 0, binding = 5) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint inner;
    uint C;
    float eps;
} pc;

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    uint c = (i / pc.inner) % pc.C;
    float k = scale.data[c] / sqrt(variance.data[c] + pc.eps);
    y.data[i] = (x.data[i] - mean.data[c]) * k + bias.data[c];
}
