#version 450
#extension GL_GOOGLE_include_directive : require
// pool.comp: pooling, storage buffers; see pool.glsl.
#include "pool.glsl"
