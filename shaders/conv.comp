#version 450
#extension GL_GOOGLE_include_directive : require
// conv.comp: 2-D convolution (ONNX Conv, NCHW) with optional bias and a
// fused activation, register-blocked: each invocation computes MB output
// channels x PB adjacent output columns of one output row, so each input
// value loaded serves MB channels and each weight PB columns. The reference
// is ops.Conv; 1-D convolutions run with H = KH = 1.
//
//   y[n, m, oh, ow] = act(b[m] + sum_{c < cg, i < kh, j < kw}
//       x[n, g*cg + c, oh*sh - padT + i*dh, ow*sw - padL + j*dw] * w[m, c, i, j])
//   with g = m / mg (mg = M / group, cg = C / group); positions outside the
//   input read 0. Sums in fp32 in (c, i, j) order.
//
// The MB channels of a block must lie in one group: the host picks MB = 1
// unless group = 1 or mg is a multiple of MB. Channels and columns past M
// and OW are computed on clamped indices and not written.
//
// bindings (set 0): 0 x, 1 w [M, cg, kh, kw], 2 b [M] (read only when
//                   HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   see Push; count = N * ceil(M/MB) * OH * ceil(OW/PB)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT (activation.glsl),
//                   3 MB, 4 PB (block sizes, 1..8)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint MB = 1;
layout(constant_id = 4) const uint PB = 1;

#include "common.glsl"
#include "activation.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N*M*OH*OW
    uint C, H, W;
    uint M, OH, OW;
    uint KH, KW;
    uint SH, SW;
    uint DH, DW;
    int padT, padL;
    uint cg, mg;
    float alpha, beta;
} pc;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint owBlocks = (pc.OW + PB - 1) / PB;
    uint mBlocks = (pc.M + MB - 1) / MB;
    uint ow0 = (idx % owBlocks) * PB;
    uint t = idx / owBlocks;
    uint oh = t % pc.OH;
    t /= pc.OH;
    uint m0 = (t % mBlocks) * MB;
    uint n = t / mBlocks;
    uint c0 = (m0 / pc.mg) * pc.cg;
    int ih0 = int(oh * pc.SH) - pc.padT;
    uint kk = pc.KH * pc.KW;
    float acc[MB * PB];
    uint wBase[MB];
    for (uint q = 0; q < MB; q++) {
        uint m = min(m0 + q, pc.M - 1);
        wBase[q] = m * pc.cg * kk;
        float b0 = HAS_BIAS != 0 ? b.data[m] : 0.0;
        for (uint p = 0; p < PB; p++) {
            acc[q * PB + p] = b0;
        }
    }
    for (uint c = 0; c < pc.cg; c++) {
        uint xPlane = (n * pc.C + c0 + c) * pc.H;
        for (uint i = 0; i < pc.KH; i++) {
            int ih = ih0 + int(i * pc.DH);
            if (ih < 0 || ih >= int(pc.H)) {
                continue;
            }
            uint xRow = (xPlane + uint(ih)) * pc.W;
            uint wOff = c * kk + i * pc.KW;
            for (uint j = 0; j < pc.KW; j++) {
                float xv[PB];
                for (uint p = 0; p < PB; p++) {
                    int iw = int((ow0 + p) * pc.SW + j * pc.DW) - pc.padL;
                    bool in_ = iw >= 0 && iw < int(pc.W);
                    xv[p] = in_ ? x.data[xRow + uint(clamp(iw, 0, int(pc.W) - 1))] : 0.0;
                }
                for (uint q = 0; q < MB; q++) {
                    float wv = w.data[wBase[q] + wOff + j];
                    for (uint p = 0; p < PB; p++) {
                        acc[q * PB + p] += xv[p] * wv;
                    }
                }
            }
        }
    }
    for (uint q = 0; q < MB; q++) {
        uint m = m0 + q;
        if (m >= pc.M) {
            break;
        }
        uint yRow = ((n * pc.M + m) * pc.OH + oh) * pc.OW;
        for (uint p = 0; p < PB; p++) {
            if (ow0 + p < pc.OW) {
                y.data[yRow + ow0 + p] = activate(ACT, acc[q * PB + p], pc.alpha, pc.beta);
            }
        }
    }
}
