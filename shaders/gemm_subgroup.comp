#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
// gemm_subgroup.comp: C = act(op(A) * op(B) + bias), fp32, storage buffers.
// For SwiftShader, where invocations run 4 lanes at a time and every
// storage access whose address differs per lane is a gather.
//
// Subgroups of 4 lanes. A subgroup computes a tile of C 16 columns wide,
// lane l owning columns 4l..4l+3 (one vec4 accumulator per row), and
//   ROWS1 = false: 8 rows high. The 8 values of op(A) a step of k needs are
//     loaded once per subgroup, 2 per lane, and handed round with
//     subgroupBroadcast.
//   ROWS1 = true: 1 row high (matrix-vector products, batches of 1 or 2):
//     each lane loads one of 4 consecutive k of the row, broadcast to all.
// Per step of k each lane loads its 4 values of op(B) and does 8 (or 1)
// vec4 multiply-adds. The K loop is unrolled by 4.
//
// Operands are addressed by strides, so every layout is read in place with
// one code path:
//   op(A)[r, k] = A[r * aRS + k * aKS]   (M x K row-major: aRS = K, aKS = 1;
//                                         stored K x M (TRANS_A): 1, M)
//   op(B)[k, n] = B[bOff(n) + k * bKS]   with, per LAYOUT_B,
//     0 K x N row-major, row stride LDB:   bOff(n) = n,       bKS = LDB
//     1 N x K row-major, row stride LDB:   bOff(n) = n * LDB, bKS = 1
//     2 prepared panels of 16 columns, K-major, LDB rows each (K rounded
//       up to 4), zero padded:  bOff(n) = (n/16) * LDB * 16 + n % 16, bKS = 16
//       (a subgroup streams through contiguous memory: the fastest).
// Columns past N are clamped to N-1 for loads (their results are not
// stored); rows past M to M-1.
//
// SwiftShader specifics that shape this file: it runs spirv-opt on the
// specialized module without freezing the constants, so an array sized or a
// loop bounded by a spec constant stays in memory and is not unrolled (the
// tile is therefore fixed here); and it executes both sides of a branch on
// a spec constant (masked), so the inner loops contain no such branch (the
// strides above replace per-layout code).
//
// Requirements (the caller checks): subgroups of exactly 4 lanes, full
// (local_size_x a multiple of 4). Lanes never leave early before the
// stores: subgroupBroadcast needs all 4.
//
// bindings (set 0): 0 A (read-only), 1 B (read-only), 2 bias (read-only, N
//                   floats; bound always, read only when HAS_BIAS),
//                   3 C (write-only, M x N row-major)
// Output layout: C is M x N row-major, or with NCHW (a convolution as a
// GEMM: rows are output pixels, columns channels) row r is pixel
// P = r + row0 of the images' hw pixels each, stored at
// ((P / hw) * N + col) * hw + P % hw: the NCHW output tensor.
//
// push constants:   uint M, N, K, LDB, act (activation.glsl: 0 none,
//                   1 ReLU, ...), hw, row0 (NCHW only), float alpha, beta
//                   (the activation's parameters). The activation
//                   is a push constant, unlike in the other GEMM kernels, so
//                   that layers with and without ReLU share one pipeline: a
//                   pipeline of this kernel takes ~110 ms to create on
//                   SwiftShader, which does not remove spec-constant
//                   branches anyway (see above).
// spec constants:   0 local_size_x (default 16), 1 ROWS1, 2 TRANS_A (bool),
//                   3 LAYOUT_B (uint, above), 4 HAS_BIAS (bool), 5 NCHW
//                   (bool)
// grid:             ceil(M/rows) * ceil(N/16) subgroups (rows = 8, or 1 with
//                   ROWS1), in workgroups along x (and y when x exceeds the
//                   device's limit). Subgroup i (workgroups in x-then-y
//                   order, then gl_SubgroupID) owns column tile
//                   i % ceil(N/16) and row block i / ceil(N/16).

layout(local_size_x = 16, local_size_x_id = 0) in;

layout(constant_id = 1) const bool ROWS1 = false;
layout(constant_id = 2) const bool TRANS_A = false;
layout(constant_id = 3) const uint LAYOUT_B = 0;
layout(constant_id = 4) const bool HAS_BIAS = false;
layout(constant_id = 5) const bool NCHW = false;

const uint SG = 4;       // lanes per subgroup
const uint TM = 8;       // rows of a tile (ROWS1: 1)
const uint RL = TM / SG; // rows of A each lane loads

#include "common.glsl"
#include "activation.glsl"

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float data[]; } A;
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float data[]; } B;
layout(std430, set = 0, binding = 2) readonly buffer BiasBuf { float data[]; } bias;
layout(std430, set = 0, binding = 3) writeonly buffer CBuf { float data[]; } C;

layout(push_constant, std430) uniform Push {
    uint M;
    uint N;
    uint K;
    uint LDB;
    uint act;
    uint hw;
    uint row0;
    float alpha;
    float beta;
} pc;

vec4 acc[TM];   // ROWS1 uses acc[0] only
uint bOff[4];   // bOff(n) of this lane's 4 columns
uint bKS;

// loadB returns op(B)[k, this lane's 4 columns].
vec4 loadB(uint k) {
    const uint o = k * bKS;
    return vec4(B.data[bOff[0] + o], B.data[bOff[1] + o], B.data[bOff[2] + o], B.data[bOff[3] + o]);
}

// fma8 adds, for every row i of an 8-row tile, op(A)[i, k] * op(B)[k, cols],
// where lane l holds op(A)[j*4 + l, k] in a[j].
void fma8(float a[RL], uint k) {
    vec4 b = loadB(k);
    [[unroll]] for (uint j = 0; j < RL; ++j) {
        acc[j * SG + 0] += subgroupBroadcast(a[j], 0) * b;
        acc[j * SG + 1] += subgroupBroadcast(a[j], 1) * b;
        acc[j * SG + 2] += subgroupBroadcast(a[j], 2) * b;
        acc[j * SG + 3] += subgroupBroadcast(a[j], 3) * b;
    }
}

// store writes row r of this lane's 4 columns of C (bias, activation, guards).
void store(uint r, uint col, vec4 x) {
    const uint N = pc.N;
    if (r >= pc.M || col >= N) {
        return;
    }
    if (HAS_BIAS) {
        x += vec4(bias.data[col], bias.data[min(col + 1, N - 1)], bias.data[min(col + 2, N - 1)], bias.data[min(col + 3, N - 1)]);
    }
    if (pc.act == ACT_RELU) {
        x = mix(x, vec4(0.0), lessThan(x, vec4(0.0))); // keeps NaN (max() need not)
    } else if (pc.act != ACT_NONE) {
        [[unroll]] for (uint c = 0; c < 4; ++c) {
            x[c] = activate(pc.act, x[c], pc.alpha, pc.beta);
        }
    }
    uint cRow = r * N; // C's element of (r, col) is cRow + col * cCol
    uint cCol = 1;
    if (NCHW) {
        uint P = r + pc.row0;
        uint img = P / pc.hw;
        cRow = img * N * pc.hw + (P - img * pc.hw);
        cCol = pc.hw;
    }
    [[unroll]] for (uint c = 0; c < 4; ++c) {
        if (col + c < N) {
            C.data[cRow + (col + c) * cCol] = x[c];
        }
    }
}

void main() {
    const uint M = pc.M;
    const uint N = pc.N;
    const uint K = pc.K;
    const uint LDB = pc.LDB;
    const uint lane = gl_SubgroupInvocationID;
    const uint tiles = (N + 15) / 16;
    const uint sub = (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x) * gl_NumSubgroups + gl_SubgroupID;
    const uint rowBlock = sub / tiles;
    const uint col = (sub - rowBlock * tiles) * 16 + 4 * lane; // this lane's first column
    const uint aRS = TRANS_A ? 1 : K;
    const uint aKS = TRANS_A ? M : 1;

    bKS = LAYOUT_B == 0 ? LDB : LAYOUT_B == 1 ? 1 : 16;
    [[unroll]] for (uint c = 0; c < 4; ++c) {
        uint n = min(col + c, N - 1);
        bOff[c] = LAYOUT_B == 0 ? n : LAYOUT_B == 1 ? n * LDB : (n / 16) * LDB * 16 + n % 16;
    }
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        acc[i] = vec4(0.0);
    }

    // Loops below have no break and the stores no early exit before them:
    // the fixed-count loops must unroll so that acc stays in registers.
    if (ROWS1) {
        const uint row = rowBlock;
        const uint aRow = min(row, M - 1) * aRS;
        uint k = 0;
        for (; k + 4 <= K; k += 4) {
            float mine = A.data[aRow + (k + lane) * aKS];
            acc[0] += subgroupBroadcast(mine, 0) * loadB(k);
            acc[0] += subgroupBroadcast(mine, 1) * loadB(k + 1);
            acc[0] += subgroupBroadcast(mine, 2) * loadB(k + 2);
            acc[0] += subgroupBroadcast(mine, 3) * loadB(k + 3);
        }
        for (; k < K; ++k) {
            acc[0] += A.data[aRow + k * aKS] * loadB(k);
        }
        store(row, col, acc[0]);
        return;
    }

    const uint row0 = rowBlock * TM;
    uint aRow[RL]; // float index of this lane's rows of op(A) (clamped to M-1)
    [[unroll]] for (uint j = 0; j < RL; ++j) {
        aRow[j] = min(row0 + j * SG + lane, M - 1) * aRS;
    }
    uint k = 0;
    for (; k + 4 <= K; k += 4) {
        [[unroll]] for (uint kk = 0; kk < 4; ++kk) {
            float a[RL];
            [[unroll]] for (uint j = 0; j < RL; ++j) {
                a[j] = A.data[aRow[j] + (k + kk) * aKS];
            }
            fma8(a, k + kk);
        }
    }
    for (; k < K; ++k) {
        float a[RL];
        [[unroll]] for (uint j = 0; j < RL; ++j) {
            a[j] = A.data[aRow[j] + k * aKS];
        }
        fma8(a, k);
    }
    [[unroll]] for (uint i = 0; i < TM; ++i) {
        store(row0 + i, col, acc[i]);
    }
}
