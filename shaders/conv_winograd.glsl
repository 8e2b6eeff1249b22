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
// instead of 36. U = G g Gᵀ is computed here, per input channel and block
// of output channels, from the filters as the GEMM path lays them out
// (layers.packPanels: no copy of the weights of its own), as (2G) g (2G)ᵀ
// = S U S, S = diag(1, 2, 2, 1): additions only, 21 vec4 adds for 4 output
// channels; the accumulators are scaled back by S⁻¹ (powers of 2, exact)
// before the output transform. The transforms are additions only, so a
// NaN or infinity reaches exactly the outputs whose window holds it; but an
// infinity may arrive there by several paths with both signs (NaN where the
// direct sum gives ±inf), and S U S may overflow where U does not, so an
// output that is not finite after the bias is recomputed as the direct sum
// from the filters: the result is then the direct kernel's, NaN and
// infinities included.
//
// Each invocation computes TT horizontally adjacent 2x2 output tiles (a
// 4 x (2 TT + 2) input patch) for a block of MB output channels (MB = 4 or
// 8), in TT x 16 x MB/4 vec4 accumulators: per input channel it loads the
// patch (with texels, NT whole texels a row, shifted per lane), transforms
// it, loads 9*MB/4 texels of filters, transforms them, and does TT*16*MB
// multiply-adds. Invocations are ordered tile group fastest, then tile
// row, channel block, image: the lanes of one SIMD vector take adjacent
// tiles of one channel block, so they read the same filters (same
// addresses) and neighbouring input.
//
// Compiled twice: conv_winograd.comp reads x, the filters and b as storage
// buffers; conv_winograd_texel.comp (WINO_TEXEL, for lavapipe, where a
// storage load whose address differs per lane is a loop over the lanes)
// through RGBA32F uniform texel buffers.
//
// bindings (set 0): 0 x [N, C, H, W], 1 the filters [M, C, 3, 3] in panels
//                   of P output channels (element (m, k), k = c*9 + tap, at
//                   (m/P * K4 + k) * P + m%P; zeros past M), 2 b [M] (read
//                   only when HAS_BIAS), 3 y [N, M, OH, OW]
// push constants:   Push below: count, the activation's alpha and beta, the
//                   shape (OH = H + PAD_T + pad bottom - 2, and so OW), K4,
//                   the block counts, and lo (ReLU as a floor)
// spec constants:   0 local_size_x, 1 HAS_BIAS (0/1), 2 ACT, 3 MB, 4 TT (1 to
//                   8), 5 P (a multiple of MB: 8 gemm_texel's, 16
//                   gemm_subgroup's)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint HAS_BIAS = 0;
layout(constant_id = 2) const uint ACT = 0;
layout(constant_id = 3) const uint MB = 4;
layout(constant_id = 4) const uint TT = 1; // tiles per invocation, along a row
layout(constant_id = 5) const uint P = 8;  // output channels per weight panel

#include "common.glsl"
#include "activation.glsl"

#ifdef WINO_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 1) uniform textureBuffer Wt;
layout(set = 0, binding = 2) uniform textureBuffer Bt;
float loadX(uint i) { return texelFetch(X, int(i >> 2))[i & 3]; }
vec4 loadW4(uint i) { return texelFetch(Wt, int(i)); }
float loadB(uint i) { return texelFetch(Bt, int(i >> 2))[i & 3]; }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) readonly buffer WBuf { vec4 data[]; } wp;
layout(std430, set = 0, binding = 2) readonly buffer BBuf { float data[]; } b;
float loadX(uint i) { return x.data[i]; }
vec4 loadW4(uint i) { return wp.data[i]; }
float loadB(uint i) { return b.data[i]; }
#endif
layout(std430, set = 0, binding = 3) writeonly buffer YBuf { float data[]; } y;

// The shape is push constants, so that every layer shares one pipeline per
// (MB, TT, P, ACT, HAS_BIAS, workgroup): lavapipe compiles a pipeline at
// its first dispatch, about a second for this kernel. The few divisions by
// them happen once per invocation.
layout(push_constant, std430) uniform Push {
    uint count; // N*MBLK*TH*TWG
    float alpha, beta;
    uint C, H, W, M, OH, OW;
    int PAD_T, PAD_L;
    uint K4;   // the panels' K stride: C*9 rounded up to 4
    uint TH;   // tile rows: ceil(OH/2)
    uint TWG;  // groups of TT tile columns: ceil(ceil(OW/2)/TT)
    uint MBLK; // output channel blocks: ceil(M/MB)
    float lo;  // outputs below lo become lo before ACT (ReLU: 0, ACT none;
               // else -inf), so ReLU and none share a pipeline
} pc;

// floorAct returns ACT applied to max(r, pc.lo), NaN kept.
float floorAct(float r) {
    return activate(ACT, r < pc.lo ? pc.lo : r, pc.alpha, pc.beta);
}

const uint MQ = MB / 4;                    // vec4s per channel block
const uint L = 2 * TT + 2;                 // patch columns
const uint NT = (L + 6) / 4;               // texels that hold L floats at any shift
const uint NBAD = (TT * MB * 4 + 31) / 32; // words of one bit per output
const uint P4 = P / 4;                     // vec4s per panel row

// wIndex is the float index of filter tap j (row-major 3x3) of output
// channel m and input channel c in the panels (layers.packPanels: element
// (m, k) at (m/P * K4 + k) * P + m%P, k = c*9 + j).
uint wIndex(uint m, uint c, uint j) {
    return ((m / P) * pc.K4 + c * 9 + j) * P + m % P;
}

// direct returns b0 + the direct 3x3 sum for output (n, m, oy, ox), the
// filter read from the panels (the result is then conv.comp's, NaN and
// infinities included).
float direct(uint n, uint m, uint oy, uint ox, float b0) {
    float s = b0;
    for (uint c = 0; c < pc.C; c++) {
        uint plane = (n * pc.C + c) * pc.H;
        for (uint a = 0; a < 3; a++) {
            int ih = int(oy + a) - pc.PAD_T;
            if (ih < 0 || ih >= int(pc.H)) {
                continue;
            }
            for (uint e = 0; e < 3; e++) {
                int iw = int(ox + e) - pc.PAD_L;
                if (iw >= 0 && iw < int(pc.W)) {
                    uint f = wIndex(m, c, a * 3 + e);
                    s += loadX((plane + uint(ih)) * pc.W + uint(iw)) * loadW4(f >> 2)[f & 3];
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
    uint tg = idx % pc.TWG;
    uint t = idx / pc.TWG;
    uint ty = t % pc.TH;
    t /= pc.TH;
    uint blk = t % pc.MBLK;
    uint n = t / pc.MBLK;
    int H = int(pc.H), W = int(pc.W);
    int ih0 = int(2 * ty) - pc.PAD_T;
    int iw0 = int(2 * TT * tg) - pc.PAD_L;
    // Where the patch's rows start within a channel plane (clamped into
    // it), and which rows and columns lie inside the input (else 0).
    bool rowIn[4];
    int rowOff[4];
    for (uint i = 0; i < 4; i++) {
        int ih = ih0 + int(i);
        rowIn[i] = ih >= 0 && ih < H;
        rowOff[i] = clamp(ih, 0, H - 1) * W + iw0;
    }
    bool colIn[L];
    for (uint e = 0; e < L; e++) {
        int iw = iw0 + int(e);
        colIn[e] = iw >= 0 && iw < W;
    }
#ifdef WINO_TEXEL
    int lastTexel = textureSize(X) - 1;
#endif
    // acc holds S (sum_c U ⊙ V) S, S = diag(1, 2, 2, 1) on each side: the
    // filter transform below uses 2G (no halves); the output transform
    // scales it back.
    vec4 acc[TT][16][MQ];
    for (uint p = 0; p < TT; p++) {
        for (uint k = 0; k < 16; k++) {
            for (uint h = 0; h < MQ; h++) {
                acc[p][k][h] = vec4(0.0);
            }
        }
    }
    uint xBase = n * pc.C * pc.H * pc.W;
    // The filters of output channels blk*MB + 4h .. +3 for input channel
    // c, tap j, are the vec4 wBase + (c*9 + j)*P4 + h.
    uint m0 = blk * MB;
    uint wBase = ((m0 / P) * pc.K4 * P + m0 % P) / 4;
    for (uint c = 0; c < pc.C; c++) {
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
        uint wc = wBase + c * 9 * P4;
        for (uint h = 0; h < MQ; h++) {
            vec4 g[9]; // the 3x3 filters of 4 output channels
            for (uint j = 0; j < 9; j++) {
                g[j] = loadW4(wc + j * P4 + h);
            }
            // 2G g: rows g0, g0+g1+g2, g0-g1+g2, g2 (per filter column).
            vec4 r[4][3];
            for (uint e = 0; e < 3; e++) {
                vec4 s02 = g[e] + g[6 + e];
                r[0][e] = g[e];
                r[1][e] = s02 + g[3 + e];
                r[2][e] = s02 - g[3 + e];
                r[3][e] = g[6 + e];
            }
            for (uint i = 0; i < 4; i++) {
                // Row i of (2G g)(2G)ᵀ = S U S.
                vec4 s02 = r[i][0] + r[i][2];
                vec4 uk[4] = vec4[4](r[i][0], s02 + r[i][1], s02 - r[i][1], r[i][2]);
                for (uint j = 0; j < 4; j++) {
                    for (uint p = 0; p < TT; p++) {
                        acc[p][i * 4 + j][h] += v[p][i * 4 + j] * uk[j];
                    }
                }
            }
        }
        xBase += pc.H * pc.W;
    }
    // The output transform, bias and activation, stored with edge guards.
    // The loops here index the accumulators and must unroll (an array
    // indexed at run time lives in memory on CPU drivers): no loops inside
    // and no breaks. Outputs that are not finite are marked in bad and
    // recomputed after.
    const float sc[4] = float[4](1.0, 0.5, 0.5, 1.0); // S⁻¹
    uint oy0 = 2 * ty;
    uint bad[NBAD];
    for (uint w = 0; w < NBAD; w++) {
        bad[w] = 0u;
    }
    for (uint p = 0; p < TT; p++) {
        uint ox0 = 2 * (TT * tg + p);
        for (uint h = 0; h < MQ; h++) {
            vec4 a[16]; // sum_c U ⊙ V
            for (uint k = 0; k < 16; k++) {
                a[k] = acc[p][k][h] * (sc[k / 4] * sc[k % 4]);
            }
            vec4 s0[4], s1[4]; // Aᵀ acc
            for (uint j = 0; j < 4; j++) {
                s0[j] = a[j] + a[4 + j] + a[8 + j];
                s1[j] = a[4 + j] - a[8 + j] - a[12 + j];
            }
            vec4 yt[4]; // (Aᵀ acc) A: outputs (0,0), (0,1), (1,0), (1,1)
            yt[0] = s0[0] + s0[1] + s0[2];
            yt[1] = s0[1] - s0[2] - s0[3];
            yt[2] = s1[0] + s1[1] + s1[2];
            yt[3] = s1[1] - s1[2] - s1[3];
            for (uint q = 0; q < 4; q++) {
                uint m = m0 + h * 4 + q;
                float b0 = HAS_BIAS != 0 ? loadB(min(m, pc.M - 1)) : 0.0;
                for (uint o = 0; o < 4; o++) {
                    uint oy = oy0 + o / 2;
                    uint ox = ox0 + o % 2;
                    float r = yt[o][q] + b0;
                    if (m < pc.M && oy < pc.OH && ox < pc.OW) {
                        if (isNaNBits(r) || isInfBits(r)) {
                            uint bit = (p * MB + h * 4 + q) * 4 + o;
                            bad[bit / 32] |= 1u << (bit % 32);
                        } else {
                            y.data[((n * pc.M + m) * pc.OH + oy) * pc.OW + ox] = floorAct(r);
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
            uint m = m0 + mq;
            uint oy = oy0 + o / 2;
            uint ox = 2 * (TT * tg + p) + o % 2;
            float b0 = HAS_BIAS != 0 ? loadB(m) : 0.0;
            float r = direct(n, m, oy, ox, b0);
            y.data[((n * pc.M + m) * pc.OH + oy) * pc.OW + ox] = floorAct(r);
        }
    }
}
