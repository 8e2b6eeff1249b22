#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_samplerless_texture_functions : require
// dense_chain_texel.comp: a chain of Dense layers for small batches in one
// workgroup, weights in RGBA32F uniform texel buffers (lavapipe). See
// dense_chain.glsl.
#define DENSE_CHAIN_TEXEL
#include "dense_chain.glsl"
