#version 450
#extension GL_GOOGLE_include_directive : require
// unary4_texel.comp: unary4.comp reading x through an RGBA32F uniform texel
// buffer (texelFetch of texel offX + i). On lavapipe a texel fetch compiles
// to straight vector loads where a storage-buffer load whose address
// differs per lane is a loop over the lanes. The view spans at most
// maxTexelBufferElements texels: the host uses this variant only when
// every texel read lies inside it.
//
// bindings (set 0): 0 x (uniform texel buffer), 1 y (write-only, vec4s)
// push constants, spec constants, grid: as unary4.comp.

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;

layout(set = 0, binding = 0) uniform textureBuffer x;
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
    vec4 v = texelFetch(x, int(pc.offX + i));
    y.data[pc.offY + i] = vec4(unaryOp(v.x), unaryOp(v.y), unaryOp(v.z), unaryOp(v.w));
}
