#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_gemv_f16.comp: the skinny-product GEMM with B (the weights) stored as
// fp16 and widened to fp32 on load (needs storageBuffer16BitAccess); see
// gemm_gemv.glsl.
#define B_F16 1
#include "gemm_gemv.glsl"
