#version 450
#extension GL_GOOGLE_include_directive : require
// conv_dw_c4.comp: the depthwise convolution on NC4HW4 activations,
// storage buffers, for the layout measurement; see conv_dw_c4.glsl.
#include "conv_dw_c4.glsl"
