#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_gemv.comp: the skinny-product (M <= 8) GEMM with fp32 B; see gemm_gemv.glsl.
#include "gemm_gemv.glsl"
