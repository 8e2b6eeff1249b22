// conv_dw.glsl: depthwise 2-D convolution (ONNX Conv with group = C and
// M = k*C output channels, a channel multiplier k >= 1; NCHW) with optional
// bias and a fused activation. The reference is ops.Conv; 1-D convolutions
// run with H = KH = 1.
//
//   y[n, m, oh, ow] = act(b[m] + sum_{i < kh, j < kw}
//       x[n, m / MG, oh*sh - padT + i*dh, ow*sw - padL + j*dw] * w[m, 0, i, j])
//   positions outside the input read 0. Sums in fp32 in (i, j) order.
//
// Each invocation computes a strip of PB adjacent output columns of one
// output row and channel. Per window row it loads the input row segment the
// strip reads once, (PB-1)*SW + (KW-1)*DW + 1 floats, and the row's KW
// weights, and accumulates the strip in registers. Adjacent invocations are
// adjacent strips of one row of one channel, so the lanes of a SIMD mostly
// share the channel (the weight loads are one address). Strip columns past
// OW are computed on zero-masked inputs and not written.
//
// Compiled twice: conv_dw.comp reads x, w and b as storage buffers (one
// float a load); conv_dw_texel.comp (CONV_DW_TEXEL, for lavapipe, where a
// storage load whose address differs per lane is a loop over the lanes)
// reads a row segment as aligned RGBA32F texels of a uniform texel buffer,
// shifted into place.
//
// bindings (set 0): 0 x [N, C, H, W], 1 w [M, 1, KH, KW], 2 b [M] (read
//                   only when HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   uint count = N * M * OH * ceil(OW/PB); float
//                   alpha, beta (the activation's parameters)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT (activation.glsl),
//                   3 PB (the strip), 5.. the shape (below)
// grid:             ceil(count / local_size_x), split as in linearIndex
//
// The host (layers/conv_dw.go) bounds the strip and the segment so that
// the loops over them unroll (lavapipe's NIR unrolls up to 32 iterations).

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint PB = 8;

// The shape is specialization constants: divisions by them become
// multiplications (a vector integer division is a loop over the lanes on
// CPU drivers) and the loops below unroll; the pipeline is per layer.
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
layout(constant_id = 19) const uint MG = 1; // the channel multiplier, M / C

#include "common.glsl"
#include "activation.glsl"

// SEG floats of one input row serve the strip for one window row.
const uint SEG = (PB - 1) * SW + (KW - 1) * DW + 1;

#ifdef CONV_DW_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Wt;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
float loadW(uint i) { return texelFetch(Wt, int(i >> 2))[i & 3]; }
float loadB(uint i) { return texelFetch(Bt, int(i >> 2))[i & 3]; }
// NT texels hold SEG floats at any alignment.
const uint NT = (SEG + 6) / 4;
const uint NTW = (KW + 6) / 4;
#include "texel_span.glsl"
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
float loadW(uint i) { return w.data[i]; }
float loadB(uint i) { return b.data[i]; }
#endif
#ifdef CONV_DW_TEXEL
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { vec4 data[]; } y;
void storeY(uint i, float v) { y.data[i >> 2][i & 3] = v; }
#else
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;
void storeY(uint i, float v) { y.data[i] = v; }
#endif

layout(push_constant, std430) uniform Push {
    uint count; // N*M*OH*ceil(OW/PB)
    float alpha, beta;
} pc;

float seg[SEG];

// loadSegment sets seg[e] = x[row + iw0 + e] for 0 <= iw0 + e < W in a row
// inside the input (rowIn), else 0 (row: the float index of the input
// row's first column, of a row inside the input).
void loadSegment(uint row, int iw0, bool rowIn) {
#ifdef CONV_DW_TEXEL
    fetchSpan(int(row) + iw0);
    for (uint e = 0; e < SEG; e++) {
        seg[e] = rowIn && uint(iw0 + int(e)) < W ? spanAt(e) : 0.0;
    }
#else
    for (uint e = 0; e < SEG; e++) {
        int iw = iw0 + int(e);
        seg[e] = rowIn && uint(iw) < W ? x.data[row + uint(clamp(iw, 0, int(W) - 1))] : 0.0;
    }
#endif
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
    uint m = t % M;
    uint n = t / M;
    uint plane = (n * C + m / MG) * H;

    float b0 = HAS_BIAS != 0 ? loadB(m) : 0.0;
    float acc[PB];
    for (uint p = 0; p < PB; p++) {
        acc[p] = b0;
    }
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow0 * SW) - PAD_L;
    // Only loops over j, p and e index the register arrays, so they stay
    // registers even where the loop over the window's rows is not unrolled.
    for (uint i = 0; i < KH; i++) {
        // A row outside the input reads as zeros (no branch: on a CPU
        // driver a branch that may diverge masks every assignment in it).
        int ih = ih0 + int(i * DH);
        bool rowIn = uint(ih) < H;
        float wr[KW];
#ifdef CONV_DW_TEXEL
        {
            // the row's KW weights as aligned texels, shifted into place
            int f = int((m * KH + i) * KW);
            int t0 = f >> 2;
            uint s = uint(f & 3);
            int lastW = textureSize(Wt) - 1; // the last texel may be past it
            float v[4 * NTW];
            for (uint q = 0; q < NTW; q++) {
                vec4 tw = texelFetch(Wt, min(t0 + int(q), lastW));
                v[4 * q] = tw.x;
                v[4 * q + 1] = tw.y;
                v[4 * q + 2] = tw.z;
                v[4 * q + 3] = tw.w;
            }
            for (uint j = 0; j < KW; j++) {
                wr[j] = s == 0 ? v[j] : s == 1 ? v[j + 1] : s == 2 ? v[j + 2] : v[j + 3];
            }
        }
#else
        for (uint j = 0; j < KW; j++) {
            wr[j] = loadW((m * KH + i) * KW + j);
        }
#endif
        loadSegment((plane + uint(clamp(ih, 0, int(H) - 1))) * W, iw0, rowIn);
        for (uint j = 0; j < KW; j++) {
            for (uint p = 0; p < PB; p++) {
                acc[p] += seg[p * SW + j * DW] * wr[j];
            }
        }
    }

    uint yRow = ((n * M + m) * OH + oh) * OW;
#ifdef CONV_DW_TEXEL
    if (OW % 4 == 0 && PB % 4 == 0) {
        // every strip starts on a texel of y and ends within its row
        for (uint p = 0; p < PB; p += 4) {
            if (ow0 + p < OW) {
                y.data[(yRow + ow0 + p) >> 2] = vec4(activate(ACT, acc[p], pc.alpha, pc.beta),
                    activate(ACT, acc[p + 1], pc.alpha, pc.beta), activate(ACT, acc[p + 2], pc.alpha, pc.beta),
                    activate(ACT, acc[p + 3], pc.alpha, pc.beta));
            }
        }
        return;
    }
#endif
    for (uint p = 0; p < PB; p++) {
        if (ow0 + p < OW) {
            storeY(yRow + ow0 + p, activate(ACT, acc[p], pc.alpha, pc.beta));
        }
    }
}
