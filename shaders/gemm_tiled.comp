#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_tiled.comp: the GPU GEMM with fp32 operands; see gemm_tiled.glsl.
#include "gemm_tiled.glsl"
