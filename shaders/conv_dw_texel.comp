#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// conv_dw_texel.comp: the depthwise convolution reading through texel
// buffers, for lavapipe; see conv_dw.glsl.
#define CONV_DW_TEXEL
#include "conv_dw.glsl"
