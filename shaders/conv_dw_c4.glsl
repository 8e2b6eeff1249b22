// conv_dw_c4.glsl: depthwise 2-D convolution (group = C = M, no channel
// multiplier) on activations with channels packed by 4 (NC4HW4: x[n, c/4,
// h, w, c%4], channels past C zero), as ncnn and MNN store them. For the
// layout measurement of issue 12 only (layers TestConvDepthwiseLayout):
// vkinfer's activations are NCHW and conv_dw.glsl runs depthwise layers.
//
//   y[n, c4, oh, ow, :] = act(b[4c4..4c4+3] + sum_{i < kh, j < kw}
//       x[n, c4, oh*sh - padT + i*dh, ow*sw - padL + j*dw, :] * w[c4, i, j, :])
//
// Each invocation computes a strip of PB adjacent output pixels of one row
// and channel pack: per window row it loads the SEG input pixels the strip
// reads (one vec4 each: no shifts, the pack is the texel) and accumulates
// PB vec4s with the KW weight vec4s of that row.
//
// Compiled twice: conv_dw_c4.comp (storage buffers of vec4) and
// conv_dw_c4_texel.comp (CONV_DW_C4_TEXEL: x, w, b through RGBA32F texel
// buffers, for lavapipe).
//
// bindings (set 0): 0 x [N, C4, H, W, 4], 1 w [C4, KH, KW, 4], 2 b [C4*4]
//                   (read only when HAS_BIAS), 3 y [N, C4, OH, OW, 4]
// push constants:   uint count = N * C4 * OH * ceil(OW/PB); float alpha, beta
// spec constants:   0 local_size_x, 1 HAS_BIAS, 2 ACT, 3 PB, 5.. the shape

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint PB = 4;
layout(constant_id = 5) const uint C4 = 1;
layout(constant_id = 6) const uint H = 1;
layout(constant_id = 7) const uint W = 1;
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

#include "common.glsl"
#include "activation.glsl"

const uint SEG = (PB - 1) * SW + (KW - 1) * DW + 1;

#ifdef CONV_DW_C4_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Wt;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
vec4 loadX(uint i) { return texelFetch(X, int(i)); }
vec4 loadW(uint i) { return texelFetch(Wt, int(i)); }
vec4 loadB(uint i) { return texelFetch(Bt, int(i)); }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { vec4 data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { vec4 data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { vec4 data[]; } b;
vec4 loadX(uint i) { return x.data[i]; }
vec4 loadW(uint i) { return w.data[i]; }
vec4 loadB(uint i) { return b.data[i]; }
#endif
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { vec4 data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    float alpha, beta;
} pc;

vec4 act4(vec4 v) {
    return vec4(activate(ACT, v.x, pc.alpha, pc.beta), activate(ACT, v.y, pc.alpha, pc.beta),
        activate(ACT, v.z, pc.alpha, pc.beta), activate(ACT, v.w, pc.alpha, pc.beta));
}

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint owTiles = (OW + PB - 1) / PB;
    uint ow0 = (idx % owTiles) * PB;
    uint t = idx / owTiles;
    uint oh = t % OH;
    t /= OH;
    uint c4 = t % C4;
    uint n = t / C4;
    uint plane = (n * C4 + c4) * H;

    vec4 b0 = HAS_BIAS != 0 ? loadB(c4) : vec4(0.0);
    vec4 acc[PB];
    for (uint p = 0; p < PB; p++) {
        acc[p] = b0;
    }
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow0 * SW) - PAD_L;
    for (uint i = 0; i < KH; i++) {
        int ih = ih0 + int(i * DH);
        bool rowIn = uint(ih) < H;
        uint row = (plane + uint(clamp(ih, 0, int(H) - 1))) * W;
        vec4 seg[SEG];
        for (uint e = 0; e < SEG; e++) {
            int iw = iw0 + int(e);
            vec4 v = loadX(row + uint(clamp(iw, 0, int(W) - 1)));
            seg[e] = rowIn && uint(iw) < W ? v : vec4(0.0);
        }
        for (uint j = 0; j < KW; j++) {
            vec4 wk = loadW((c4 * KH + i) * KW + j);
            for (uint p = 0; p < PB; p++) {
                acc[p] += seg[p * SW + j * DW] * wk;
            }
        }
    }
    uint yRow = ((n * C4 + c4) * OH + oh) * OW;
    for (uint p = 0; p < PB; p++) {
        if (ow0 + p < OW) {
            y.data[yRow + ow0 + p] = act4(acc[p]);
        }
    }
}
