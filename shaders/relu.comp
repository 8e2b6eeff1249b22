#version 450
#extension GL_GOOGLE_include_directive : require
// relu.comp: y[i] = x[i] < 0 ? 0 : x[i], element-wise.
// NaN stays NaN (the comparison is false for NaN); -0 stays -0.
//
// bindings (set 0): 0 x (read-only), 1 y (write-only)
// push constants:   uint count (elements)
// spec constants:   0 local_size_x (default 64)
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
} pc;

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    float v = x.data[i];
    y.data[i] = v < 0.0 ? 0.0 : v;
}
