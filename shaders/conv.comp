#version 450
#extension GL_GOOGLE_include_directive : require
// conv.comp: the direct convolution, storage buffers; see conv.glsl.
#include "conv.glsl"
