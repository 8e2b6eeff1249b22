#version 450
#extension GL_GOOGLE_include_directive : require
// conv_igemm.comp: the convolution as an implicit GEMM, storage buffers;
// see conv_igemm.glsl.
#include "conv_igemm.glsl"
