#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// pool_strip_texel.comp: pool_strip.glsl reading x through an RGBA32F
// uniform texel buffer (lavapipe: vector loads where a storage-buffer load
// whose address differs per lane is a loop over the lanes).
#define POOL_TEXEL
#include "pool_strip.glsl"
