#version 450
#extension GL_GOOGLE_include_directive : require
// batchnorm_split.comp: inference BatchNormalization in three dispatches of
// at most four storage buffers, for devices whose
// maxPerStageDescriptorStorageBuffers (4, the Vulkan spec minimum) is below
// the six batchnorm.comp binds. Same arithmetic as batchnorm.comp:
//   MODE 0: k[c] = scale[c] / sqrt(var[c] + eps)            (in0 scale, in1 var; in2 unused)
//   MODE 1: mb[2c] = mean[c], mb[2c+1] = bias[c]            (in0 mean, in1 bias; in2 unused)
//   MODE 2: y[i] = (x[i] - mb[2c]) * k[c] + mb[2c+1],        (in0 x, in1 k, in2 mb)
//           c = (i / inner) % C
// The reference is layers/ref.BatchNormalization.
//
// bindings (set 0): 0 in0, 1 in1, 2 in2 (read-only), 3 out
// push constants:   uint count (C for MODE 0 and 1), inner, C; float eps
// spec constants:   0 local_size_x, 1 MODE
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 2;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer In0 { float data[]; } in0;
layout(std430, set = 0, binding = 1) readonly buffer In1 { float data[]; } in1;
layout(std430, set = 0, binding = 2) readonly buffer In2 { float data[]; } in2;
layout(std430, set = 0, binding = 3) writeonly buffer Out { float data[]; } outb;

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
    if (MODE == 0) {
        outb.data[i] = in0.data[i] / sqrt(in1.data[i] + pc.eps);
    } else if (MODE == 1) {
        outb.data[2 * i] = in0.data[i];
        outb.data[2 * i + 1] = in1.data[i];
    } else {
        uint c = (i / pc.inner) % pc.C;
        outb.data[i] = (in0.data[i] - in2.data[2 * c]) * in1.data[c] + in2.data[2 * c + 1];
    }
}
