// conv_im2col.glsl: the patch matrix of a group-1 convolution (ONNX Conv,
// NCHW input), the A operand of the convolution as a GEMM
// (layers/conv.go): row r is output pixel P = r + row0 of all images
// (P = (n * OH + oh) * OW + ow), column k = (c * KH + i) * KW + j holds
//
//   x[n, c, oh*SH - padT + i*DH, ow*SW - padL + j*DW]   (0 outside the input)
//
// for k < K = C*KH*KW, and 0 for K <= k < LDA (padding to the row stride).
// Each invocation writes 4 consecutive columns of one row.
//
// Compiled twice: conv_im2col.comp reads x as a storage buffer and writes
// a float at a time (any LDA); conv_im2col_texel.comp (IM2COL_TEXEL, for
// lavapipe, where a storage load whose address differs per lane is a loop
// over the lanes) reads x through an RGBA32F uniform texel buffer and
// writes one vec4 per invocation (LDA a multiple of 4).
//
// bindings (set 0): 0 x (read-only; texel buffer with IM2COL_TEXEL),
//                   1 a (write-only, rows x LDA row-major)
// push constants:   uint count = rows * ceil(LDA / 4), row0
// spec constants:   0 local_size_x, 1.. the shape (see below)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"


#ifdef IM2COL_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(std430, set = 0, binding = 1) writeonly buffer ABuf { vec4 data[]; } a;
float loadX(uint i) { return texelFetch(X, int(i >> 2))[i & 3]; }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer ABuf { float data[]; } a;
float loadX(uint i) { return x.data[i]; }
#endif

layout(push_constant, std430) uniform Push {
    uint count;
    uint row0;
} pc;

// The shape is specialization constants: divisions by them become
// multiplications (a vector integer division is a loop over the lanes on
// CPU drivers), and the pipeline is per layer anyway.
layout(constant_id = 1) const uint C = 1;
layout(constant_id = 2) const uint H = 1;
layout(constant_id = 3) const uint W = 1;
layout(constant_id = 4) const uint OH = 1;
layout(constant_id = 5) const uint OW = 1;
layout(constant_id = 6) const uint KH = 1;
layout(constant_id = 7) const uint KW = 1;
layout(constant_id = 8) const uint SH = 1;
layout(constant_id = 9) const uint SW = 1;
layout(constant_id = 10) const uint DH = 1;
layout(constant_id = 11) const uint DW = 1;
layout(constant_id = 12) const int PAD_T = 0;
layout(constant_id = 13) const int PAD_L = 0;
layout(constant_id = 14) const uint K = 1;
layout(constant_id = 15) const uint LDA = 4;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint quads = (LDA + 3) / 4;
    uint r = idx / quads;
    uint k0 = (idx - r * quads) * 4;
    uint P = r + pc.row0;
    uint ow = P % OW;
    uint t = P / OW;
    uint oh = t % OH;
    uint n = t / OH;
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow * SW) - PAD_L;
    uint kk = KH * KW;
    vec4 quad = vec4(0.0);
    for (uint q = 0; q < 4; q++) {
        uint k = k0 + q;
#ifndef IM2COL_TEXEL
        if (k >= LDA) {
            break;
        }
#endif
        float v = 0.0;
        if (k < K) {
            uint c = k / kk;
            uint rem = k - c * kk;
            uint i = rem / KW;
            uint j = rem - i * KW;
            int ih = ih0 + int(i * DH);
            int iw = iw0 + int(j * DW);
            if (ih >= 0 && ih < int(H) && iw >= 0 && iw < int(W)) {
                v = loadX(((n * C + c) * H + uint(ih)) * W + uint(iw));
            }
        }
#ifdef IM2COL_TEXEL
        quad[q] = v;
#else
        a.data[r * LDA + k] = v;
#endif
    }
#ifdef IM2COL_TEXEL
    a.data[(r * LDA + k0) / 4] = quad;
#endif
}
