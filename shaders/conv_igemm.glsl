// conv_igemm.glsl: a group-1 convolution as an implicit GEMM (ONNX Conv,
// NCHW) with optional bias and a fused activation: the GEMM of the
// im2col + GEMM path (rows = output pixels, columns = output channels,
// the reduction over C x KH x KW) with its A operand read straight from the
// input instead of a patch matrix. The reference is ops.Conv; 1-D
// convolutions run with H = KH = 1.
//
//   y[n, m, oh, ow] = act(b[m] + sum_{c < C, i < KH, j < KW}
//       x[n, c, oh*SH - PAD_T + i*DH, ow*SW - PAD_L + j*DW] * w[m, c, i, j])
//   positions outside the input read 0. Sums in fp32 in (i, c, j) order.
//
// Each invocation computes TM adjacent output pixels of one output row for
// MB output channels (4 or 8) in TM x MB/4 vec4 accumulators. Per (window
// row i, input channel c) it loads the input row span the block reads,
// SEG = (TM-1)*SW + (KW-1)*DW + 1 floats, once for all KW taps (texel
// variant: whole RGBA32F texels shifted into place, the shift a constant
// where W and TM*SW are multiples of 4), masks what lies outside the input
// to 0 with selects, and per tap fetches the MB weights of (c, i, j) and
// does TM x MB multiply-adds. Adjacent invocations are adjacent pixel
// blocks of one row and channel block, so the lanes of a SIMD mostly read
// the same weights. Pixels past OW and channels past M are computed on
// whatever is read and not stored.
//
// The weights are the GEMM path's prepared B operand (layers.GemmWeights,
// bPanels): the [C*KH*KW, M] matrix Wᵀ in K-major panels of P columns, K
// padded to K4 with zeros: w[m, c, i, j] at float
// ((m / P) * K4 + (c*KH + i)*KW + j) * P + m % P.
//
// Compiled twice: conv_igemm.comp reads x, w and b as storage buffers (one
// float a load: SwiftShader, devices without texel views large enough);
// conv_igemm_texel.comp (CONV_IGEMM_TEXEL, lavapipe) reads them as uniform
// texel buffers (a texel fetch is a vector load there; a storage load whose
// address differs per lane is a loop over the lanes). The texel variant
// needs P % 4 == 0.
//
// bindings (set 0): 0 x [N, C, H, W], 1 w (the panels above), 2 b [M] (read
//                   only when HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   uint count = N * ceil(M/MB) * RB (RB = OH * ceil(OW/TM),
//                   with SHUF rounded up to a multiple of 8); float
//                   alpha, beta (the activation's parameters)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT (activation.glsl),
//                   3 TM, 4 MB, 5 P, 6 K4, 7.. the shape (below), 21
//                   PADDED, 22 CU, 23 SHUF
// grid:             ceil(count / local_size_x), split as in linearIndex;
//                   invocation i: pixel block i % ceil(OW/TM) fastest, then
//                   the output row, the channel block, the image.
//
// The host (layers/conv_igemm.go) bounds TM to 16 (the epilogue is written
// out for 16 pixels) and SEG to 32 so that the loops over them unroll
// (lavapipe's NIR unrolls up to 32 iterations), and C*KH within one
// invocation's loop limit.

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint TM = 8;
layout(constant_id = 4) const uint MB = 8;
layout(constant_id = 5) const uint P = 8;
layout(constant_id = 6) const uint K4 = 4;

// The shape is specialization constants: divisions by them become
// multiplications and the loops over the window unroll; a pipeline per
// layer shape.
layout(constant_id = 7) const uint C = 1;
layout(constant_id = 8) const uint H = 1;
layout(constant_id = 9) const uint W = 1;
layout(constant_id = 10) const uint M = 1;
layout(constant_id = 11) const uint OH = 1;
layout(constant_id = 12) const uint OW = 1;
layout(constant_id = 13) const uint KH = 1;
layout(constant_id = 14) const uint KW = 1;
layout(constant_id = 15) const uint SH = 1;
layout(constant_id = 16) const uint SW = 1;
layout(constant_id = 17) const uint DH = 1;
layout(constant_id = 18) const uint DW = 1;
layout(constant_id = 19) const int PAD_T = 0;
layout(constant_id = 20) const int PAD_L = 0;
// PADDED: some window position may lie outside the input (any pad, or a
// row or column of the last block past the input): masks needed.
layout(constant_id = 21) const bool PADDED = true;
// CU: input channels per iteration of the loop over them (1, 2 or 4).
layout(constant_id = 22) const uint CU = 1;
// SHUF (texel variant, subgroups of 8 lanes all in one channel block: the
// host pads each block's invocations to a multiple of 8): the CU*KW*MB/4
// weight texels of an iteration are fetched once per subgroup, lane l
// fetching texels l, l+8, ..., and handed round with subgroupShuffle at
// constant indices (a texel fetch costs ~16 cycles on lavapipe, a constant
// shuffle ~0.5). Each (n, channel block) then owns RB = ceil(OH*blocks/8)*8
// invocations; those past OH*blocks compute the last block and store
// nothing.
layout(constant_id = 23) const bool SHUF = false;

#include "common.glsl"
#include "activation.glsl"

// SEG floats of one input row serve the TM pixels for all KW taps.
const uint SEG = (TM - 1) * SW + (KW - 1) * DW + 1;
const uint MV = MB / 4; // vec4s of output channels
const uint CFULL = C - C % CU; // channels in whole iterations
// The span's start within its texel is the same for every block, row and
// channel when rows and blocks start on texels: a constant shift.
const bool FIXED_SHIFT = W % 4 + (TM * SW) % 4 == 0; // (no &&: glslang emits a branch for it at global scope)
const uint SHIFT0 = uint(-PAD_L) & 3u;

#ifdef CONV_IGEMM_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Wt;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
// NT texels hold SEG floats at any alignment.
const uint NT = (SEG + 6) / 4;
vec4 loadW4(uint t) { return texelFetch(Wt, int(t)); }
vec4 loadB4(uint t) { return texelFetch(Bt, min(int(t), textureSize(Bt) - 1)); }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { float data[]; } w;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
vec4 loadW4(uint t) {
    uint f = 4 * t;
    return vec4(w.data[f], w.data[f + 1], w.data[f + 2], w.data[f + 3]);
}
vec4 loadB4(uint t) {
    // channels past M: the last channel's bias (not stored)
    uint f = 4 * t;
    return vec4(b.data[min(f, M - 1)], b.data[min(f + 1, M - 1)], b.data[min(f + 2, M - 1)], b.data[min(f + 3, M - 1)]);
}
#endif
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N * ceil(M/MB) * OH * ceil(OW/TM)
    float alpha, beta;
} pc;

float seg[SEG];
vec4 acc[TM][MV];

// loadSpan sets seg[e] = x[f0 + e] (f0: the float index of input column
// iw0 of a row) where that column lies inside the input and the row does
// (rowIn), else 0.
void loadSpan(int f0, int iw0, bool rowIn) {
#ifdef CONV_IGEMM_TEXEL
    int t0 = f0 >> 2;
    uint s = FIXED_SHIFT ? SHIFT0 : uint(f0 & 3);
    int last = textureSize(X) - 1;
    float v[4 * NT];
    for (uint q = 0; q < NT; q++) {
        vec4 t = texelFetch(X, clamp(t0 + int(q), 0, last));
        v[4 * q] = t.x;
        v[4 * q + 1] = t.y;
        v[4 * q + 2] = t.z;
        v[4 * q + 3] = t.w;
    }
    for (uint e = 0; e < SEG; e++) {
        float f = FIXED_SHIFT ? v[e + SHIFT0] : s == 0 ? v[e] : s == 1 ? v[e + 1] : s == 2 ? v[e + 2] : v[e + 3];
        if (PADDED) {
            f = rowIn && uint(iw0 + int(e)) < W ? f : 0.0;
        }
        seg[e] = f;
    }
#else
    int last = int(x.data.length()) - 1;
    for (uint e = 0; e < SEG; e++) {
        float f = x.data[clamp(f0 + int(e), 0, last)];
        if (PADDED) {
            f = rowIn && uint(iw0 + int(e)) < W ? f : 0.0;
        }
        seg[e] = f;
    }
#endif
}

uint wBase; // weights of this invocation's channels at k = 0 (texel row)

#ifdef CONV_IGEMM_TEXEL
const uint NW = CU * KW * MV;   // weight texels of one iteration
const uint NWF = (NW + 7) / 8;  // ... fetched per lane
vec4 wf[NWF];

// fetchWeights loads this lane's share of the weight texels of channels
// c..c+CU-1 at window row i: texel t = (cu*KW + j)*MV + v of the iteration
// for t = lane, lane + 8, ... (past NW: the last, unused).
void fetchWeights(uint c, uint i) {
    for (uint r = 0; r < NWF; r++) {
        uint t = min(gl_SubgroupInvocationID + 8 * r, NW - 1);
        uint v = t % MV;
        uint j = (t / MV) % KW;
        uint cu = t / (MV * KW);
        wf[r] = loadW4(wBase + (((c + cu) * KH + i) * KW + j) * (P / 4) + v);
    }
}
#endif

// accumulate adds input channel c's window row i (f0, iw0, rowIn: as for
// loadSpan, at channel 0) times the weights of every tap of that row; with
// shuf, the weights are those fetchWeights spread over the subgroup, c
// being channel cu of the iteration.
void accumulate(uint c, uint i, int f0, int iw0, bool rowIn, bool shuf, uint cu) {
    loadSpan(f0 + int(c * H * W), iw0, rowIn);
    uint k = (c * KH + i) * KW;
    for (uint j = 0; j < KW; j++) {
        vec4 wv[MV];
        for (uint v = 0; v < MV; v++) {
#ifdef CONV_IGEMM_TEXEL
            if (shuf) {
                uint t = (cu * KW + j) * MV + v;
                wv[v] = subgroupShuffle(wf[t / 8], t % 8);
            } else {
                wv[v] = loadW4(wBase + (k + j) * (P / 4) + v);
            }
#else
            wv[v] = loadW4(wBase + (k + j) * (P / 4) + v);
#endif
        }
        for (uint p = 0; p < TM; p++) {
            float a = seg[p * SW + j * DW];
            for (uint v = 0; v < MV; v++) {
                acc[p][v] += a * wv[v];
            }
        }
    }
}

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    const uint blocks = (OW + TM - 1) / TM;
    const uint cblocks = (M + MB - 1) / MB;
    // RB invocations per (image, channel block): OH*blocks, padded to
    // whole subgroups with SHUF; a padding invocation (live false) computes
    // the block's last pixels and stores nothing.
    const uint RB = SHUF ? (OH * blocks + 7) / 8 * 8 : OH * blocks;
    uint r = idx % RB;
    uint t = idx / RB;
    bool live = r < OH * blocks;
    r = min(r, OH * blocks - 1);
    uint ow0 = (r % blocks) * TM;
    uint oh = r / blocks;
    uint cb = t % cblocks;
    uint n = t / cblocks;
    uint m0 = cb * MB;
    // weights of channels m0..m0+MB-1 at k: vec4 (m0 % P)/4 + v of texel
    // row (m0 / P) * K4 + k of the panels (P/4 vec4s a k)
    wBase = ((m0 / P) * K4) * (P / 4) + (m0 % P) / 4;

    for (uint p = 0; p < TM; p++) {
        for (uint v = 0; v < MV; v++) {
            acc[p][v] = vec4(0.0);
        }
    }
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow0 * SW) - PAD_L;
    uint img = n * C * H * W;
    for (uint i = 0; i < KH; i++) {
        int ih = ih0 + int(i * DH);
        bool rowIn = uint(ih) < H;
        // a row outside the input reads as zeros (masked, not branched
        // around: a branch that may diverge masks every assignment in it)
        int f0 = int(img + uint(clamp(ih, 0, int(H) - 1)) * W) + iw0;
        // CU channels a loop iteration, written out: each accumulator is
        // updated CU * KW times per iteration (a value carried round a loop
        // is blended through the loop's lane mask once per iteration on
        // lavapipe: docs/PERFORMANCE.md, "What each primitive costs").
        for (uint c = 0; c < CFULL; c += CU) {
#ifdef CONV_IGEMM_TEXEL
            if (SHUF) {
                fetchWeights(c, i);
            }
#endif
            accumulate(c, i, f0, iw0, rowIn, SHUF, 0);
            if (CU > 1) {
                accumulate(c + 1, i, f0, iw0, rowIn, SHUF, 1);
            }
            if (CU > 2) {
                accumulate(c + 2, i, f0, iw0, rowIn, SHUF, 2);
                accumulate(c + 3, i, f0, iw0, rowIn, SHUF, 3);
            }
        }
        for (uint c = CFULL; c < C; c++) {
            accumulate(c, i, f0, iw0, rowIn, false, 0);
        }
    }

    vec4 bv[MV];
    for (uint v = 0; v < MV; v++) {
        bv[v] = vec4(0.0);
        if (HAS_BIAS != 0) {
            bv[v] = loadB4(m0 / 4 + v);
        }
    }
    uint yRow = ((n * M + m0) * OH + oh) * OW + ow0;
    // One pixel at a time, written out (not a loop over the pixels): with
    // an activation the epilogue of a loop over TM pixels grew past what
    // NIR unrolls, the accumulators became memory indexed in a loop and the
    // whole kernel ran ~10x slower (squeezenet's 55x55 expand at TM 11).
#define STORE_PIXEL(P_) \
    if (P_ < TM && live && ow0 + P_ < OW) { \
        for (uint v = 0; v < MV; v++) { \
            vec4 r = acc[min(uint(P_), TM - 1u)][v] + bv[v]; \
            for (uint q = 0; q < 4; q++) { \
                if (m0 + 4 * v + q < M) { \
                    y.data[yRow + (4 * v + q) * OH * OW + P_] = activate(ACT, r[q], pc.alpha, pc.beta); \
                } \
            } \
        } \
    }
    STORE_PIXEL(0) STORE_PIXEL(1) STORE_PIXEL(2) STORE_PIXEL(3)
    STORE_PIXEL(4) STORE_PIXEL(5) STORE_PIXEL(6) STORE_PIXEL(7)
    STORE_PIXEL(8) STORE_PIXEL(9) STORE_PIXEL(10) STORE_PIXEL(11)
    STORE_PIXEL(12) STORE_PIXEL(13) STORE_PIXEL(14) STORE_PIXEL(15)
}
