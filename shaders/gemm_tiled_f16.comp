#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_tiled_f16.comp: the GPU GEMM with B (the weights) stored as fp16 and
// widened to fp32 on load (needs storageBuffer16BitAccess); A, C, the bias
// and the accumulation stay fp32. See gemm_tiled.glsl.
#define B_F16 1
#include "gemm_tiled.glsl"
