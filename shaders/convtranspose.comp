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
// Cost: every output tests all kh*kw kernel positions and sums cg products
// for each that fits (about 1/(sh*sw) of them), so the work is the direct
// product count plus kh*kw index tests per output; no register blocking yet.
// Sums in fp32 in (i, j, c) order.
//
// bindings (set 0): 0 x, 1 w [C, mg, kh, kw], 2 b [M] (read only when
//                   HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   see Push; count = N*M*OH*OW
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;

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
    uint SH, SW;
    uint DH, DW;
    int padT, padL;
    uint cg, mg;
} pc;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint ow = idx % pc.OW;
    uint t = idx / pc.OW;
    uint oh = t % pc.OH;
    t /= pc.OH;
    uint oc = t % pc.M;
    uint n = t / pc.M;
    uint g = oc / pc.mg;
    uint m = oc - g * pc.mg;
    uint c0 = g * pc.cg;
    float acc = HAS_BIAS != 0 ? b.data[oc] : 0.0;
    for (uint i = 0; i < pc.KH; ++i) {
        int th = int(oh) + pc.padT - int(i * pc.DH);
        if (th < 0 || th % int(pc.SH) != 0) {
            continue;
        }
        uint ih = uint(th) / pc.SH;
        if (ih >= pc.H) {
            continue;
        }
        for (uint j = 0; j < pc.KW; ++j) {
            int tw = int(ow) + pc.padL - int(j * pc.DW);
            if (tw < 0 || tw % int(pc.SW) != 0) {
                continue;
            }
            uint iw = uint(tw) / pc.SW;
            if (iw >= pc.W) {
                continue;
            }
            uint xi = ((n * pc.C + c0) * pc.H + ih) * pc.W + iw;
            uint wi = ((c0 * pc.mg + m) * pc.KH + i) * pc.KW + j;
            for (uint c = 0; c < pc.cg; ++c) {
                acc += x.data[xi] * w.data[wi];
                xi += pc.H * pc.W;
                wi += pc.mg * pc.KH * pc.KW;
            }
        }
    }
    y.data[idx] = acc;
}
