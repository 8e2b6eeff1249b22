#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// pool_texel.comp: pooling reading through a texel buffer, for lavapipe;
// see pool.glsl.
#define POOL_TEXEL
#include "pool.glsl"
