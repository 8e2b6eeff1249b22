#version 450
#extension GL_GOOGLE_include_directive : require
// bias.comp: y[i] = x[i] + bias[i % N], element-wise over a row-major
// [count/N, N] tensor (bias broadcast over the last axis).
//
// bindings (set 0): 0 x (read-only), 1 bias (read-only), 2 y (write-only)
// push constants:   uint count (elements of x and y), uint N (elements of bias, >= 1)
// spec constants:   0 local_size_x (default 64)
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer BiasBuf { float data[]; } bias;
layout(std430, set = 0, binding = 2) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint N;
} pc;

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    y.data[i] = x.data[i] + bias.data[i % pc.N];
}
