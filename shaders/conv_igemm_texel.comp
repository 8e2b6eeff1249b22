#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_shuffle : require
// conv_igemm_texel.comp: the convolution as an implicit GEMM reading
// through texel buffers, for lavapipe; see conv_igemm.glsl.
#define CONV_IGEMM_TEXEL
#include "conv_igemm.glsl"
