#version 450
#extension GL_GOOGLE_include_directive : require
// binary4_texel.comp: binary4.comp reading a and b through RGBA32F uniform
// texel buffers (texelFetch). On lavapipe a texel fetch compiles to
// straight vector loads where a storage-buffer load whose address differs
// per lane is a loop over the lanes. A view spans at most
// maxTexelBufferElements texels: the host uses this variant only when
// every texel read lies inside the views.
//
// bindings (set 0): 0 a, 1 b (uniform texel buffers), 2 y (write-only vec4s)
// push and spec constants, grid: binary4.glsl.

layout(set = 0, binding = 0) uniform textureBuffer a;
layout(set = 0, binding = 1) uniform textureBuffer b;
layout(std430, set = 0, binding = 2) writeonly buffer YBuf { vec4 data[]; } y;

vec4 loadA4(uint i) { return texelFetch(a, int(i)); }
vec4 loadB4(uint i) { return texelFetch(b, int(i)); }
float loadA(uint j) { return texelFetch(a, int(j >> 2))[j & 3]; }
float loadB(uint j) { return texelFetch(b, int(j >> 2))[j & 3]; }
void storeY4(uint i, vec4 r) { y.data[i] = r; }

#include "binary4.glsl"
