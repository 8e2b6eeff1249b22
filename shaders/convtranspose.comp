#version 450
#extension GL_GOOGLE_include_directive : require
// convtranspose.comp: 2-D transposed convolution (ONNX ConvTranspose, NCHW)
// with optional bias, as a gather: one invocation per output element sums
// the inputs that the scatter definition (ops.ConvTranspose, the reference)
// would add into it. 1-D runs with H = KH = 1.
//
//   y[n, oc, oh, ow] = b[oc] + sum_{i, j, c < cg} x[n, g*cg + c, ih, iw] * w[g*cg + c, m, i, j]
//   over the kernel positions where oh + padT - i*dh = ih*sh and
//   ow + padL - j*dw = iw*sw for some ih in [0, H), iw in [0, W);
//   g = oc / mg, m = oc - g*mg (mg = M / group, cg = C / group).
//
// Each invocation computes MB output channels (of one group) at PB output
// columns of one phase (ow, ow + SW, ...: they test the same kernel
// columns and read neighbouring inputs), so every input value loaded serves
// MB weights and every weight PB inputs (lavapipe and SwiftShader pay most
// for loads: they are per-lane gathers). The strides
// are spec constants, so the divisibility tests and divisions by them
// compile to shifts and multiplies.
//
// Cost: every output tests all kh*kw kernel positions and sums cg products
// for each that fits (about 1/(sh*sw) of them): the direct product count plus
// kh*kw index tests per output.
// Sums in fp32 in (i, j, c) order.
//
// bindings (set 0): 0 x, 1 w [C, mg, kh, kw], 2 b [M] (read only when
//                   HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   see Push; count = N * (M / MB) * OH * SW * ceil(ceil(OW / SW) / PB):
//                   invocation order (n, channel block, oh, ow mod SW, column block)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 MB (divides mg),
//                   3 SH, 4 SW (the strides), 5 PB (columns, 1..4)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint MB = 1;
layout(constant_id = 3) const uint SH = 1;
layout(constant_id = 4) const uint SW = 1;
layout(constant_id = 5) const uint PB = 1;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint C, H, W;
    uint M, OH, OW;
    uint KH, KW;
    uint DH, DW;
    int padT, padL;
    uint cg, mg;
} pc;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    // Neighbouring invocations take outputs of one column phase (ow mod SW),
    // so they test the same kernel columns and read neighbouring inputs.
    const uint q = (pc.OW + SW - 1) / SW; // columns per phase
    const uint qb = (q + PB - 1) / PB;    // column blocks per phase
    uint ow0 = (idx % qb) * PB * SW;
    uint t = idx / qb;
    ow0 += t % SW;
    t /= SW;
    uint oh = t % pc.OH;
    t /= pc.OH;
    uint mBlocks = pc.M / MB;
    uint oc0 = (t % mBlocks) * MB;
    uint n = t / mBlocks;
    uint g = oc0 / pc.mg;
    uint m0 = oc0 - g * pc.mg;
    uint c0 = g * pc.cg;
    if (ow0 >= pc.OW) {
        return; // the last phase of a row may be one column short
    }
    // Columns ow0 + p*SW for p < np are outputs.
    const int np = min(int(PB), int((pc.OW - ow0 + SW - 1) / SW));
    float acc[MB][PB];
    for (uint r = 0; r < MB; ++r) {
        float bias = HAS_BIAS != 0 ? b.data[oc0 + r] : 0.0;
        for (uint p = 0; p < PB; ++p) {
            acc[r][p] = bias;
        }
    }
    const uint kk = pc.KH * pc.KW;
    // tw + bias*SW > 0 for every kernel column, so its divisibility and
    // quotient are unsigned operations.
    const int bias = int((pc.KW * pc.DW) / SW + 1);
    for (uint i = 0; i < pc.KH; ++i) {
        int th = int(oh) + pc.padT - int(i * pc.DH);
        if (th < 0 || uint(th) % SH != 0) {
            continue;
        }
        uint ih = uint(th) / SH;
        if (ih >= pc.H) {
            continue;
        }
        for (uint j = 0; j < pc.KW; ++j) {
            uint tb = uint(int(ow0) + pc.padL - int(j * pc.DW) + bias * int(SW));
            if (tb % SW != 0) {
                continue;
            }
            int iw0 = int(tb / SW) - bias; // input column of p = 0; p adds 1
            int p0 = max(0, -iw0);
            int p1 = min(np, int(pc.W) - iw0);
            if (p0 >= p1) {
                continue;
            }
            int xi = int(((n * pc.C + c0) * pc.H + ih) * pc.W) + iw0;
            uint wi = ((c0 * pc.mg + m0) * pc.KH + i) * pc.KW + j;
            for (uint c = 0; c < pc.cg; ++c) {
                float wv[MB];
                for (uint r = 0; r < MB; ++r) {
                    wv[r] = w.data[wi + r * kk];
                }
                for (int p = 0; p < int(PB); ++p) {
                    if (p >= p0 && p < p1) {
                        float xv = x.data[uint(xi + p)];
                        for (uint r = 0; r < MB; ++r) {
                            acc[r][p] += xv * wv[r];
                        }
                    }
                }
                xi += int(pc.H * pc.W);
                wi += pc.mg * kk;
            }
        }
    }
    uint plane = pc.OH * pc.OW;
    uint yi = ((n * pc.M + oc0) * pc.OH + oh) * pc.OW + ow0;
    for (int p = 0; p < np; ++p) {
        for (uint r = 0; r < MB; ++r) {
            y.data[yi + r * plane + uint(p) * SW] = acc[r][p];
        }
    }
}
