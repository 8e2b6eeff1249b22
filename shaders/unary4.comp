#version 450
#extension GL_GOOGLE_include_directive : require
// unary4.comp: unary.comp four elements per invocation: y4[offY + i] =
// f(x4[offX + i]) for i < count, where x4 and y4 are the buffers read as
// vec4 (count, offX and offY in vec4s: the host uses it when the element
// count and both element offsets are multiples of 4). The same ops and
// rules as unary.comp (unary.glsl), applied to each component. Four
// elements per invocation cut the per-invocation cost (index, bounds test,
// and on lavapipe the per-lane address loop of a storage-buffer access) by
// four.
//
// bindings (set 0): 0 x (read-only), 1 y (write-only), both as vec4 arrays
// push constants:   uint count, offX, offY (in vec4s); float alpha, beta
// spec constants:   0 local_size_x (default 64), 1 OP
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;

layout(std430, set = 0, binding = 0) readonly buffer XBuf { vec4 data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { vec4 data[]; } y;

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
    vec4 v = x.data[pc.offX + i];
    y.data[pc.offY + i] = vec4(unaryOp(v.x), unaryOp(v.y), unaryOp(v.z), unaryOp(v.w));
}
