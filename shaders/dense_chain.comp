#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
// dense_chain.comp: a chain of Dense layers for small batches in one
// workgroup, weights in storage buffers. See dense_chain.glsl.
#include "dense_chain.glsl"
