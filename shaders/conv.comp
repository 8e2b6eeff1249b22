#version 450
#extension GL_GOOGLE_include_directive : require
// conv.comp: direct 2-D convolution (ONNX Conv, NCHW) with optional bias and
// a fused activation; one invocation per output element. The reference is
// layers/ref.Conv; 1-D convolutions run with H = KH = 1.
//
//   y[n, m, oh, ow] = act(b[m] + sum_{c < cg, i < kh, j < kw}
//       x[n, g*cg + c, oh*sh - padT + i*dh, ow*sw - padL + j*dw] * w[m, c, i, j])
//   with g = m / mg (mg = M / group, cg = C / group); positions outside the
//   input read 0. Sums in fp32 in (c, i, j) order.
//
// Adjacent invocations are adjacent ow of one output row, so on CPU drivers
// (lavapipe, SwiftShader: one SIMD lane per invocation) a weight is a uniform
// load and the input reads are strided by sw.
//
// bindings (set 0): 0 x, 1 w [M, cg, kh, kw], 2 b [M] (read only when
//                   HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   see Push
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT (activation.glsl)
// grid:             ceil(N*M*OH*OW / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;

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
    uint ow = idx % pc.OW;
    uint t = idx / pc.OW;
    uint oh = t % pc.OH;
    t /= pc.OH;
    uint m = t % pc.M;
    uint n = t / pc.M;
    uint c0 = (m / pc.mg) * pc.cg;
    int ih0 = int(oh * pc.SH) - pc.padT;
    int iw0 = int(ow * pc.SW) - pc.padL;
    float s = HAS_BIAS != 0 ? b.data[m] : 0.0;
    uint wBase = m * pc.cg * pc.KH * pc.KW;
    for (uint c = 0; c < pc.cg; c++) {
        uint xPlane = (n * pc.C + c0 + c) * pc.H;
        for (uint i = 0; i < pc.KH; i++) {
            int ih = ih0 + int(i * pc.DH);
            if (ih < 0 || ih >= int(pc.H)) {
                continue;
            }
            uint xRow = (xPlane + uint(ih)) * pc.W;
            uint wRow = wBase + (c * pc.KH + i) * pc.KW;
            for (uint j = 0; j < pc.KW; j++) {
                int iw = iw0 + int(j * pc.DW);
                if (iw < 0 || iw >= int(pc.W)) {
                    continue;
                }
                s += x.data[xRow + uint(iw)] * w.data[wRow + j];
            }
        }
    }
    y.data[idx] = activate(ACT, s, pc.alpha, pc.beta);
}
