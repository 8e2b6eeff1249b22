#version 450
#extension GL_GOOGLE_include_directive : require
// conv_im2col.comp: the patch matrix of a convolution, storage buffers; see
// conv_im2col.glsl.
#include "conv_im2col.glsl"
