#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// conv_texel.comp: the direct convolution reading through texel buffers,
// for lavapipe; see conv.glsl.
#define CONV_TEXEL
#include "conv.glsl"
