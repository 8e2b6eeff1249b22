#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
// gemm_shuffle.comp: C = act(A * op(B) + bias), fp32, A and B read as RGBA32F
// uniform texel buffers, B's values handed round a subgroup with
// subgroupShuffle. For lavapipe (8-lane subgroups, one SIMD vector each),
// where a texel fetch costs ~30 FMAs of a lane and a shuffle with a constant
// index about one (docs/PERFORMANCE.md, "What each primitive costs on
// lavapipe"): every fetched float feeds as many FMAs as the registers allow.
//
// A subgroup of SG lanes computes R = SG*RH rows by 8*P columns of C:
//   - lane l owns rows i0 + l + SG*h (h < RH) and fetches their A values
//     itself, a texel = 4 consecutive k of one row;
//   - the subgroup's lanes fetch the P panels of B together: at each step
//     of 4 k, a panel is 8 texels (4 k x 8 columns) and lane l fetches
//     texel l (and l + SG, ... when SG < 8);
//   - B(k, col) is then subgroupShuffle(texel, constant lane), a vector
//     permute, and every lane multiplies it into its RH rows.
// Each lane holds RH * 8 * P accumulators, each updated 4 times per step in
// a row (a value carried round a loop costs a masked write per iteration on
// lavapipe), KU steps per loop iteration. Every loop but K's is unrolled
// ([[unroll]]): arrays indexed by a loop counter would live in memory.
// No shared memory, no barriers.
//
// Operand layouts. K4 is K rounded up to a multiple of 4.
//   A: row-major with a row stride of LDA floats, LDA % 4 == 0: element
//      (r, k) at float r*LDA + k. Floats k >= K of a row are never used.
//   A_T: A stored K x M (a 1x1 Conv's input planes), M % 4 == 0 and
//      RH % 4 == 0: texel k * aS1 + r/4 holds rows r..r+3 at k (aS1 = M/4
//      texels per k). Lane l then owns rows in quads, i0 + 4(l + SG*g) + 0..3
//      for g < RH/4, and fetches one texel per quad and k.
//   B: gemm_texel's packed 8-column panels, K-major, K padded to K4 with
//      zeros: texel (p * K4 + k) * 2 + h holds columns 8p + 4h..+3 at k.
// Rows >= M and columns >= N may read anything: they only reach
// accumulators that are not stored.
//
// Output layout: as gemm_texel.comp: C is M x N row-major, or with NCHW row
// r is pixel P = r + row0 of images of hw pixels each, stored at
// ((P / hw) * N + col) * hw + P % hw.
//
// Requirements (the caller checks): subgroups of exactly SG lanes (4 or 8),
// local_size_x a multiple of SG, subgroup lane = invocation index % SG,
// basic and shuffle subgroup operations, K / 4 / KU + 16 loop iterations
// within lavapipe's loop limit.
//
// bindings (set 0): 0 A (uniform texel buffer), 1 B (uniform texel buffer),
//                   2 bias (uniform texel buffer, N floats; bound always,
//                     read only when HAS_BIAS), 3 C (storage)
// push constants:   uint M, N, aS1 (A_T only), hw, row0 (NCHW only);
//                   float alpha, beta
// spec constants:   0 local_size_x (default 16), 1 SG (default 8), 2 RH
//                   (default 2), 3 P (default 2), 4 K, 5 LDA, 6 KU (default
//                   2), 7 HAS_BIAS (bool), 8 ACT (activation.glsl),
//                   9 NCHW (bool), 10 A_T (bool)
// grid:             one subgroup per R x 8P block: ceil(M/R) * ceil(N/(8P))
//                   subgroups, SG invocations each, 1-D, split over x and y
//                   when that exceeds the device's x limit (linearIndex).
//                   Subgroup s owns column group s % ceil(N/(8P)) and row
//                   block s / ceil(N/(8P)).

layout(local_size_x = 16, local_size_x_id = 0) in;

layout(constant_id = 1) const uint SG = 8;
layout(constant_id = 2) const uint RH = 2;
layout(constant_id = 3) const uint P = 2;
layout(constant_id = 4) const uint K = 4;
layout(constant_id = 5) const uint LDA = 4;
layout(constant_id = 6) const uint KU = 2;
layout(constant_id = 7) const bool HAS_BIAS = false;
layout(constant_id = 8) const uint ACT = 0;
layout(constant_id = 9) const bool NCHW = false;
layout(constant_id = 10) const bool A_T = false;

const uint R = SG * RH;      // rows per subgroup
const uint RQ = (RH + 3) / 4; // A_T: quads of rows per lane
const uint NF = 8 / SG;      // fetches per panel per step
const uint K4 = (K + 3) / 4 * 4;
const uint KFULL = K / 4;    // steps with 4 valid k
const uint KREM = K % 4;     // valid k in the last, partial step
const uint KMAIN = KFULL / KU * KU;

#include "common.glsl"
#include "activation.glsl"

layout(set = 0, binding = 0) uniform textureBuffer A;
layout(set = 0, binding = 1) uniform textureBuffer B;
layout(set = 0, binding = 2) uniform textureBuffer bias;
layout(std430, set = 0, binding = 3) writeonly buffer CBuf { float data[]; } C;

layout(push_constant, std430) uniform Push {
    uint M;
    uint N;
    uint aS1;
    uint hw;
    uint row0;
    float alpha;
    float beta;
} pc;

float acc[RH][8 * P];
int aRow[RH]; // texel of row h's first float (A_T: aRow[0] is the lane's first quad)
int bBase;    // texel of this subgroup's first panel at k = 0, plus the lane

// step accumulates k = 4q .. 4q + nk - 1 (nk <= 4).
void step(uint q, uint nk) {
    vec4 av[RH];     // av[h][kk] = A(row h, 4q + kk)
    vec4 at[RQ][4];  // A_T: at[g][kk][i] = A(row 4g + i, 4q + kk)
    if (A_T) {
        [[unroll]] for (uint g = 0; g < RQ; ++g) {
            [[unroll]] for (uint kk = 0; kk < nk; ++kk) {
                at[g][kk] = texelFetch(A, int((4 * q + kk) * pc.aS1) + aRow[0] + int(g * SG));
            }
        }
    } else {
        [[unroll]] for (uint h = 0; h < RH; ++h) {
            av[h] = texelFetch(A, aRow[h] + int(q));
        }
    }
    vec4 bt[P][NF];
    [[unroll]] for (uint j = 0; j < P; ++j) {
        [[unroll]] for (uint f = 0; f < NF; ++f) {
            bt[j][f] = texelFetch(B, bBase + int(j * K4 * 2 + q * 8 + f * SG));
        }
    }
    [[unroll]] for (uint j = 0; j < P; ++j) {
        [[unroll]] for (uint c = 0; c < 8; ++c) {
            [[unroll]] for (uint kk = 0; kk < nk; ++kk) {
                // B(4q + kk, 8j + c) is component c % 4 of the step's
                // texel 2kk + c/4: fetch t / SG, lane t % SG.
                const uint t = 2 * kk + c / 4;
                float b = subgroupShuffle(bt[j][t / SG][c % 4], t % SG);
                [[unroll]] for (uint h = 0; h < RH; ++h) {
                    const float a = A_T ? at[h / 4][kk][h % 4] : av[h][kk];
                    acc[h][8 * j + c] = fma(a, b, acc[h][8 * j + c]);
                }
            }
        }
    }
}

void main() {
    const uint lane = gl_SubgroupInvocationID;
    const uint s = linearIndex() / SG;
    const uint groups = (pc.N + 8 * P - 1) / (8 * P);
    const uint blk = s / groups;
    const uint i0 = blk * R;
    const uint n0 = (s - blk * groups) * 8 * P;
    if (i0 >= pc.M) {
        return; // the whole subgroup
    }
    [[unroll]] for (uint h = 0; h < RH; ++h) {
        [[unroll]] for (uint c = 0; c < 8 * P; ++c) {
            acc[h][c] = 0.0;
        }
        aRow[h] = int((i0 + lane + SG * h) * (LDA / 4));
    }
    if (A_T) {
        aRow[0] = int(i0 / 4 + lane);
    }
    bBase = int(n0 / 8 * K4 * 2 + lane);

    for (uint q = 0; q < KMAIN; q += KU) {
        [[unroll]] for (uint u = 0; u < KU; ++u) {
            step(q + u, 4);
        }
    }
    for (uint q = KMAIN; q < KFULL; ++q) {
        step(q, 4);
    }
    if (KREM != 0) {
        step(KFULL, KREM);
    }

    float bv[8 * P];
    [[unroll]] for (uint j = 0; j < P; ++j) {
        vec4 b0 = vec4(0.0), b1 = vec4(0.0);
        if (HAS_BIAS) {
            b0 = texelFetch(bias, int(n0 / 4 + 2 * j));
            b1 = texelFetch(bias, int(n0 / 4 + 2 * j + 1));
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) {
            bv[8 * j + c] = b0[c];
            bv[8 * j + 4 + c] = b1[c];
        }
    }
    const uint N = pc.N;
    [[unroll]] for (uint h = 0; h < RH; ++h) {
        const uint r = A_T ? i0 + 4 * (lane + SG * (h / 4)) + h % 4 : i0 + lane + SG * h;
        if (r >= pc.M) {
            continue;
        }
        uint cRow = r * N; // C's element of (r, col) is cRow + col * cCol
        uint cCol = 1;
        if (NCHW) {
            const uint px = r + pc.row0;
            const uint img = px / pc.hw;
            cRow = img * N * pc.hw + (px - img * pc.hw);
            cCol = pc.hw;
        }
        [[unroll]] for (uint c = 0; c < 8 * P; ++c) {
            const uint col = n0 + c;
            if (col >= N) {
                break;
            }
            float v = acc[h][c];
            if (HAS_BIAS) {
                v += bv[c];
            }
            C.data[cRow + col * cCol] = activate(ACT, v, pc.alpha, pc.beta);
        }
    }
}
