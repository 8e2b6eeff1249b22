#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// conv_winograd_texel.comp: Winograd F(2x2, 3x3) convolution reading
// through texel buffers, for lavapipe; see conv_winograd.glsl.
#define WINO_TEXEL
#include "conv_winograd.glsl"
