// conv_winograd.glsl: 3x3, stride-1, dilation-1, group-1 convolution (ONNX
// Conv, NCHW, any pads) as Winograd's minimal filtering F(2x2, 3x3) in one
// dispatch, with optional bias and a fused activation (activation.glsl).
// Formulas: A. Lavin and S. Gray, "Fast Algorithms for Convolutional Neural
// Networks", CVPR 2016 (arXiv:1509.09308, 2015), section 4.1:
//
//   Y = Aᵀ [ sum_c (G g G ᵀ) ⊙ (Bᵀ d B) ] A
//
//   Bᵀ = | 1  0 -1  0 |   G = |  1    0    0  |   Aᵀ = | 1  1  1  0 |
//        | 0  1  1  0 |       | 1/2  1/2  1/2 |        | 0  1 -1 -1 |
//        | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
//        | 0  1  0 -1 |       |  0    0    1  |
//
// d is a 4x4 input patch (positions outside the input read 0), g a 3x3
// filter, Y a 2x2 output tile: 16 multiplications per tile and channel pair
// instead of 36. U = G g Gᵀ is computed once on the host (layers
// conv_winograd.go, float64) from constant weights. The transforms here are
// additions only, so a NaN or infinity reaches exactly the outputs whose
// window holds it; but an infinity may arrive there by several paths with
// both signs (NaN where the direct sum gives ±inf), so an output that is not
// finite after the bias is recomputed as the direct sum, with the filter
// read back from U (g = L U Lᵀ, L = [1 0 0 0; 0 1 -1 0; 0 0 0 1], L G = I):
// the result is then the direct kernel's, NaN and infinities included.
//
// Each invocation computes TT horizontally adjacent 2x2 output tiles (a
// 4 x (2 TT + 2) input patch) for a block of MB output channels (MB = 4 or
// 8), in TT x 16 x MB/4 vec4 accumulators: per input channel it loads the
// patch (with texels, NT whole texels a row, shifted per lane), transforms
// it, and does TT*16*MB multiply-adds with 16*MB/4 texels of U. Invocations
// are ordered tile group fastest, then tile row, channel block, image: the
// lanes of one SIMD vector take adjacent tiles of one channel block, so they
// read the same U (same addresses) and neighbouring input.
//
// Compiled twice: conv_winograd.comp reads x, U and b as storage buffers;
// conv_winograd_texel.comp (WINO_TEXEL, for lavapipe, where a storage load
// whose address differs per lane is a loop over the lanes) through RGBA32F
// uniform texel buffers.
//
// bindings (set 0): 0 x [N, C, H, W], 1 U (see below), 2 b [M] (read only
//                   when HAS_BIAS), 3 y [N, M, OH, OW]
// U layout:         float ((blk * C + c) * 16 + k) * MB + q holds
//                   (G g Gᵀ)[k / 4][k % 4] of output channel blk * MB + q and
//                   input channel c (0 for channels past M).
// push constants:   uint count = N * ceil(M/MB) * ceil(OH/2) * ceil(ceil(OW/2)/TT);
//                   float alpha, beta (the activation's parameters)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT, 3 MB, 4..11 the
//                   shape (below; OH = H + PAD_T + pad bottom - 2, and so OW),
//                   12 TT (1 to 8)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint MB = 4;

#include "common.glsl"
#include "activation.glsl"

#ifdef WINO_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Ut;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
float loadX(uint i) { return texelFetch(X, int(i >> 2))[i & 3]; }
vec4 loadU4(uint i) { return texelFetch(Ut, int(i)); }
float loadB(uint i) { return texelFetch(Bt, int(i >> 2))[i & 3]; }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer UBuf { vec4 data[]; } u;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
float loadX(uint i) { return x.data[i]; }
vec4 loadU4(uint i) { return u.data[i]; }
float loadB(uint i) { return b.data[i]; }
#endif
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N*ceil(M/MB)*ceil(OH/2)*ceil(ceil(OW/2)/TT)
    float alpha, beta;
} pc;

// The shape is specialization constants: divisions by them become
// multiplications (a vector integer division is a loop over the lanes on
// CPU drivers); the pipeline is per layer.
layout(constant_id = 4) const uint C = 1;
layout(constant_id = 5) const uint H = 1;
layout(constant_id = 6) const uint W = 1;
layout(constant_id = 7) const uint M = 1;
layout(constant_id = 8) const uint OH = 1;
layout(constant_id = 9) const uint OW = 1;
layout(constant_id = 10) const int PAD_T = 0;
layout(constant_id = 11) const int PAD_L = 0;
layout(constant_id = 12) const uint TT = 1; // tiles per invocation, along a row

const uint MQ = MB / 4;          // vec4s per channel block
const uint TH = (OH + 1) / 2;    // tile rows
const uint TW = (OW + 1) / 2;    // tile columns
const uint MBLK = (M + MB - 1) / MB;
const uint TWG = (TW + TT - 1) / TT; // groups of TT tile columns
const uint L = 2 * TT + 2;           // patch columns
const uint NT = (L + 6) / 4;         // texels that hold L floats at any shift
const uint NBAD = (TT * MB * 4 + 31) / 32; // words of one bit per output


// direct returns b0 + the direct 3x3 sum for output (n, m, oy, ox), the
// filter recovered from U (see the top).
float direct(uint n, uint m, uint oy, uint ox, float b0) {
    float s = b0;
    uint blk = m / MB;
    uint q = m - blk * MB;
    for (uint c = 0; c < C; c++) {
        float uu[16];
        for (uint k = 0; k < 16; k++) {
            uint f = ((blk * C + c) * 16 + k) * MB + q;
            uu[k] = loadU4(f >> 2)[f & 3];
        }
        float r[12]; // L U
        for (uint j = 0; j < 4; j++) {
            r[j] = uu[j];
            r[4 + j] = uu[4 + j] - uu[8 + j];
            r[8 + j] = uu[12 + j];
        }
        uint plane = (n * C + c) * H;
        for (uint a = 0; a < 3; a++) {
            float g[3] = float[3](r[a * 4], r[a * 4 + 1] - r[a * 4 + 2], r[a * 4 + 3]);
            int ih = int(oy + a) - PAD_T;
            if (ih < 0 || ih >= int(H)) {
                continue;
            }
            for (uint e = 0; e < 3; e++) {
                int iw = int(ox + e) - PAD_L;
                if (iw >= 0 && iw < int(W)) {
                    s += loadX((plane + uint(ih)) * W + uint(iw)) * g[e];
                }
            }
        }
    }
    return s;
}

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint tg = idx % TWG;
    uint t = idx / TWG;
    uint ty = t % TH;
    t /= TH;
    uint blk = t % MBLK;
    uint n = t / MBLK;
    int ih0 = int(2 * ty) - PAD_T;
    int iw0 = int(2 * TT * tg) - PAD_L;
    // Where the patch's rows start within a channel plane (clamped into
    // it), and which rows and columns lie inside the input (else 0).
    bool rowIn[4];
    int rowOff[4];
    for (uint i = 0; i < 4; i++) {
        int ih = ih0 + int(i);
        rowIn[i] = ih >= 0 && ih < int(H);
        rowOff[i] = clamp(ih, 0, int(H) - 1) * int(W) + iw0;
    }
    bool colIn[L];
    for (uint e = 0; e < L; e++) {
        int iw = iw0 + int(e);
        colIn[e] = iw >= 0 && iw < int(W);
    }
#ifdef WINO_TEXEL
    int lastTexel = textureSize(X) - 1;
#endif
    vec4 acc[TT][16][MQ];
    for (uint p = 0; p < TT; p++) {
        for (uint k = 0; k < 16; k++) {
            for (uint h = 0; h < MQ; h++) {
                acc[p][k][h] = vec4(0.0);
            }
        }
    }
    uint xBase = n * C * H * W;
    uint uBase = blk * C * 16 * MQ;
    for (uint c = 0; c < C; c++) {
        float d[4][L]; // the patch: 4 rows x (2 TT + 2) columns
        for (uint i = 0; i < 4; i++) {
#ifdef WINO_TEXEL
            // The row's L floats from NT whole texels, shifted by where
            // the row starts within its first texel (per lane).
            int f = int(xBase) + rowOff[i];
            int t0 = f >> 2;
            uint sh = uint(f) & 3u;
            vec4 tx[NT];
            for (uint j = 0; j < NT; j++) {
                tx[j] = texelFetch(X, clamp(t0 + int(j), 0, lastTexel));
            }
            for (uint e = 0; e < L; e++) {
                float v0 = tx[e / 4][e % 4];
                float v1 = tx[(e + 1) / 4][(e + 1) % 4];
                float v2 = tx[(e + 2) / 4][(e + 2) % 4];
                float v3 = tx[(e + 3) / 4][(e + 3) % 4];
                float v = sh == 0u ? v0 : (sh == 1u ? v1 : (sh == 2u ? v2 : v3));
                d[i][e] = rowIn[i] && colIn[e] ? v : 0.0;
            }
#else
            // The index clamped into the buffer: a masked position (the
            // padding left of the first row, right of the last) is never
            // an address outside it, even if the load is speculated.
            for (uint e = 0; e < L; e++) {
                int xi = clamp(int(xBase) + rowOff[i] + int(e), 0, int(x.data.length()) - 1);
                d[i][e] = rowIn[i] && colIn[e] ? loadX(uint(xi)) : 0.0;
            }
#endif
        }
        float v[TT][16]; // V = Bᵀ d B per tile
        for (uint p = 0; p < TT; p++) {
            float bd[4][4]; // Bᵀ d
            for (uint j = 0; j < 4; j++) {
                uint e = 2 * p + j;
                bd[0][j] = d[0][e] - d[2][e];
                bd[1][j] = d[1][e] + d[2][e];
                bd[2][j] = d[2][e] - d[1][e];
                bd[3][j] = d[1][e] - d[3][e];
            }
            for (uint i = 0; i < 4; i++) {
                v[p][i * 4] = bd[i][0] - bd[i][2];
                v[p][i * 4 + 1] = bd[i][1] + bd[i][2];
                v[p][i * 4 + 2] = bd[i][2] - bd[i][1];
                v[p][i * 4 + 3] = bd[i][1] - bd[i][3];
            }
        }
        for (uint k = 0; k < 16; k++) {
            for (uint h = 0; h < MQ; h++) {
                vec4 uk = loadU4(uBase + k * MQ + h);
                for (uint p = 0; p < TT; p++) {
                    acc[p][k][h] += v[p][k] * uk;
                }
            }
        }
        xBase += H * W;
        uBase += 16 * MQ;
    }
    // The output transform, bias and activation, stored with edge guards.
    // The loops here index the accumulators and must unroll (an array
    // indexed at run time lives in memory on CPU drivers): no loops inside
    // and no breaks. Outputs that are not finite are marked in bad and
    // recomputed after.
    uint oy0 = 2 * ty;
    uint bad[NBAD];
    for (uint w = 0; w < NBAD; w++) {
        bad[w] = 0u;
    }
    for (uint p = 0; p < TT; p++) {
        uint ox0 = 2 * (TT * tg + p);
        for (uint h = 0; h < MQ; h++) {
            vec4 s0[4], s1[4]; // Aᵀ acc
            for (uint j = 0; j < 4; j++) {
                s0[j] = acc[p][j][h] + acc[p][4 + j][h] + acc[p][8 + j][h];
                s1[j] = acc[p][4 + j][h] - acc[p][8 + j][h] - acc[p][12 + j][h];
            }
            vec4 yt[4]; // (Aᵀ acc) A: outputs (0,0), (0,1), (1,0), (1,1)
            yt[0] = s0[0] + s0[1] + s0[2];
            yt[1] = s0[1] - s0[2] - s0[3];
            yt[2] = s1[0] + s1[1] + s1[2];
            yt[3] = s1[1] - s1[2] - s1[3];
            for (uint q = 0; q < 4; q++) {
                uint m = blk * MB + h * 4 + q;
                float b0 = HAS_BIAS != 0 ? loadB(min(m, M - 1)) : 0.0;
                for (uint o = 0; o < 4; o++) {
                    uint oy = oy0 + o / 2;
                    uint ox = ox0 + o % 2;
                    float r = yt[o][q] + b0;
                    if (m < M && oy < OH && ox < OW) {
                        if (isNaNBits(r) || isInfBits(r)) {
                            uint bit = (p * MB + h * 4 + q) * 4 + o;
                            bad[bit / 32] |= 1u << (bit % 32);
                        } else {
                            y.data[((n * M + m) * OH + oy) * OW + ox] = activate(ACT, r, pc.alpha, pc.beta);
                        }
                    }
                }
            }
        }
    }
    for (uint w = 0; w < NBAD; w++) {
        while (bad[w] != 0u) {
            uint bit = w * 32 + uint(findLSB(bad[w]));
            bad[w] &= bad[w] - 1u;
            uint o = bit % 4;
            uint mq = (bit / 4) % MB;
            uint p = bit / (4 * MB);
            uint m = blk * MB + mq;
            uint oy = oy0 + o / 2;
            uint ox = 2 * (TT * tg + p) + o % 2;
            float b0 = HAS_BIAS != 0 ? loadB(m) : 0.0;
            float r = direct(n, m, oy, ox, b0);
            y.data[((n * M + m) * OH + oy) * OW + ox] = activate(ACT, r, pc.alpha, pc.beta);
        }
    }
}
