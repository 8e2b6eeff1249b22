#version 450
#extension GL_GOOGLE_include_directive : require
// conv_im2col.comp: the patch matrix of a group-1 convolution (ONNX Conv,
// NCHW input), the A operand of the convolution as a GEMM
// (layers/conv.go): row r is output pixel P = r + row0 of all images
// (P = (n * OH + oh) * OW + ow), column k = (c * KH + i) * KW + j holds
//
//   x[n, c, oh*SH - padT + i*DH, ow*SW - padL + j*DW]   (0 outside the input)
//
// for k < K = C*KH*KW, and 0 for K <= k < LDA (padding to the row stride).
// Each invocation writes 4 consecutive columns of one row.
//
// bindings (set 0): 0 x (read-only), 1 a (write-only, rows x LDA row-major)
// push constants:   see Push; count = rows * ceil(LDA / 4)
// spec constants:   0 local_size_x
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer ABuf { float data[]; } a;

layout(push_constant, std430) uniform Push {
    uint count;
    uint C, H, W;
    uint OH, OW;
    uint KH, KW;
    uint SH, SW;
    uint DH, DW;
    int padT, padL;
    uint K, LDA;
    uint row0;
} pc;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint quads = (pc.LDA + 3) / 4;
    uint r = idx / quads;
    uint k0 = (idx - r * quads) * 4;
    uint P = r + pc.row0;
    uint ow = P % pc.OW;
    uint t = P / pc.OW;
    uint oh = t % pc.OH;
    uint n = t / pc.OH;
    int ih0 = int(oh * pc.SH) - pc.padT;
    int iw0 = int(ow * pc.SW) - pc.padL;
    uint kk = pc.KH * pc.KW;
    for (uint q = 0; q < 4; q++) {
        uint k = k0 + q;
        if (k >= pc.LDA) {
            break;
        }
        float v = 0.0;
        if (k < pc.K) {
            uint c = k / kk;
            uint rem = k - c * kk;
            uint i = rem / pc.KW;
            uint j = rem - i * pc.KW;
            int ih = ih0 + int(i * pc.DH);
            int iw = iw0 + int(j * pc.DW);
            if (ih >= 0 && ih < int(pc.H) && iw >= 0 && iw < int(pc.W)) {
                v = x.data[((n * pc.C + c) * pc.H + uint(ih)) * pc.W + uint(iw)];
            }
        }
        a.data[r * pc.LDA + k] = v;
    }
}
