#version 450
#extension GL_GOOGLE_include_directive : require
// conv_dw.comp: the depthwise convolution, storage buffers; see
// conv_dw.glsl.
#include "conv_dw.glsl"
