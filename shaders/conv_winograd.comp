#version 450
#extension GL_GOOGLE_include_directive : require
// conv_winograd.comp: Winograd F(2x2, 3x3) convolution reading storage
// buffers; see conv_winograd.glsl.
#include "conv_winograd.glsl"
