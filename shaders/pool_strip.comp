#version 450
#extension GL_GOOGLE_include_directive : require
// pool_strip.comp: pool_strip.glsl reading x as a storage buffer.
#include "pool_strip.glsl"
