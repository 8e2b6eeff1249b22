#version 450
#extension GL_GOOGLE_include_directive : require
// strided_texel.comp: strided.comp reading x through an RGBA32F uniform
// texel buffer (texelFetch of the vec4 holding element i). On lavapipe a
// texel fetch compiles to straight vector loads where a storage-buffer load
// whose address differs per lane is a loop over the lanes. The view spans at
// most maxTexelBufferElements texels (4 floats each): the host uses this
// variant only when every element read lies inside it.
//
// bindings (set 0): 0 x (uniform texel buffer), 1 y, 2 v: as strided.comp.

layout(set = 0, binding = 0) uniform textureBuffer x;

float loadX(int i) {
    return texelFetch(x, i >> 2)[i & 3];
}

#include "strided.glsl"
