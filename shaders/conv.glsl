// conv.glsl: 2-D convolution (ONNX Conv, NCHW) with optional bias and a
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
// Compiled twice: conv.comp reads x, w and b as storage buffers;
// conv_texel.comp (CONV_TEXEL, for lavapipe, where a storage load whose
// address differs per lane is a loop over the lanes) through RGBA32F
// uniform texel buffers.
//
// bindings (set 0): 0 x, 1 w [M, cg, kh, kw], 2 b [M] (read only when
//                   HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   uint count = N * ceil(M/MB) * OH * ceil(OW/PB); float
//                   alpha, beta (the activation's parameters)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT (activation.glsl),
//                   3 MB, 4 PB (block sizes, 1..8), 5.. the shape (below)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint MB = 1;
layout(constant_id = 4) const uint PB = 1;

#include "common.glsl"
#include "activation.glsl"

#ifdef CONV_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Wt;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
float loadX(uint i) { return texelFetch(X, int(i >> 2))[i & 3]; }
float loadW(uint i) { return texelFetch(Wt, int(i >> 2))[i & 3]; }
float loadB(uint i) { return texelFetch(Bt, int(i >> 2))[i & 3]; }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
float loadX(uint i) { return x.data[i]; }
float loadW(uint i) { return w.data[i]; }
float loadB(uint i) { return b.data[i]; }
#endif
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N*ceil(M/MB)*OH*ceil(OW/PB)
    float alpha, beta;
} pc;

// The shape is specialization constants: divisions by them become
// multiplications (a vector integer division is a loop over the lanes on
// CPU drivers) and the window loops unroll; the pipeline is per layer.
layout(constant_id = 5) const uint C = 1;
layout(constant_id = 6) const uint H = 1;
layout(constant_id = 7) const uint W = 1;
layout(constant_id = 8) const uint M = 1;
layout(constant_id = 9) const uint OH = 1;
layout(constant_id = 10) const uint OW = 1;
layout(constant_id = 11) const uint KH = 1;
layout(constant_id = 12) const uint KW = 1;
layout(constant_id = 13) const uint SH = 1;
layout(constant_id = 14) const uint SW = 1;
layout(constant_id = 15) const uint DH = 1;
layout(constant_id = 16) const uint DW = 1;
layout(constant_id = 17) const int PAD_T = 0;
layout(constant_id = 18) const int PAD_L = 0;
layout(constant_id = 19) const uint CG = 1;
layout(constant_id = 20) const uint MG = 1;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint owBlocks = (OW + PB - 1) / PB;
    uint mBlocks = (M + MB - 1) / MB;
    uint ow0 = (idx % owBlocks) * PB;
    uint t = idx / owBlocks;
    uint oh = t % OH;
    t /= OH;
    uint m0 = (t % mBlocks) * MB;
    uint n = t / mBlocks;
    uint c0 = (m0 / MG) * CG;
    int ih0 = int(oh * SH) - PAD_T;
    uint kk = KH * KW;
    float acc[MB * PB];
    uint wBase[MB];
    for (uint q = 0; q < MB; q++) {
        uint m = min(m0 + q, M - 1);
        wBase[q] = m * CG * kk;
        float b0 = HAS_BIAS != 0 ? loadB(m) : 0.0;
        for (uint p = 0; p < PB; p++) {
            acc[q * PB + p] = b0;
        }
    }
    for (uint c = 0; c < CG; c++) {
        uint xPlane = (n * C + c0 + c) * H;
        for (uint i = 0; i < KH; i++) {
            int ih = ih0 + int(i * DH);
            if (ih < 0 || ih >= int(H)) {
                continue;
            }
            uint xRow = (xPlane + uint(ih)) * W;
            uint wOff = c * kk + i * KW;
            for (uint j = 0; j < KW; j++) {
                float xv[PB];
                for (uint p = 0; p < PB; p++) {
                    int iw = int((ow0 + p) * SW + j * DW) - PAD_L;
                    bool in_ = iw >= 0 && iw < int(W);
                    xv[p] = in_ ? loadX(xRow + uint(clamp(iw, 0, int(W) - 1))) : 0.0;
                }
                for (uint q = 0; q < MB; q++) {
                    float wv = loadW(wBase[q] + wOff + j);
                    for (uint p = 0; p < PB; p++) {
                        acc[q * PB + p] += xv[p] * wv;
                    }
                }
            }
        }
    }
    for (uint q = 0; q < MB; q++) {
        uint m = m0 + q;
        if (m >= M) {
            break;
        }
        uint yRow = ((n * M + m) * OH + oh) * OW;
        for (uint p = 0; p < PB; p++) {
            if (ow0 + p < OW) {
                y.data[yRow + ow0 + p] = activate(ACT, acc[q * PB + p], pc.alpha, pc.beta);
            }
        }
    }
}
