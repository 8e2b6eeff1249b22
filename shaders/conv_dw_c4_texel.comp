#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// conv_dw_c4_texel.comp: the depthwise convolution on NC4HW4 activations
// reading through texel buffers, for the layout measurement on lavapipe;
// see conv_dw_c4.glsl.
#define CONV_DW_C4_TEXEL
#include "conv_dw_c4.glsl"
