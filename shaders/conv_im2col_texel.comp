#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// conv_im2col_texel.comp: the patch matrix of a convolution, the input read
// through a texel buffer, for lavapipe; see conv_im2col.glsl.
#define IM2COL_TEXEL
#include "conv_im2col.glsl"
