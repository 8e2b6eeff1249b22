#version 450
#extension GL_GOOGLE_include_directive : require
// gemm.comp: C = act(op(A) * op(B) + bias), fp32 in, fp32 accumulate, fp32 out.
//
//   op(A) is M x K: A is stored M x K row-major, or K x M row-major when TRANS_A.
//   op(B) is K x N: B is stored K x N row-major, or N x K row-major when TRANS_B
//                   (a Dense layer's weight [out, in] is TRANS_B = true).
//   C is M x N row-major. bias has N elements, added to every row of C.
//
// bindings (set 0): 0 A (read-only), 1 B (read-only),
//                   2 bias (read-only; always bound, read only when HAS_BIAS),
//                   3 C (write-only)
// push constants:   uint M, N, K; uint offA, offB, offBias, offC
//                   (element offsets into each buffer; zero normally)
// spec constants:   0 local_size_x (default 8), 1 local_size_y (default 8),
//                   2 TM rows of C per invocation (default 4),
//                   3 TN columns of C per invocation (default 4),
//                   4 TRANS_A (bool), 5 TRANS_B (bool), 6 HAS_BIAS (bool),
//                   7 ACT (uint: 0 none, 1 ReLU)
// grid:             x = ceil(N / (TN * local_size_x)), y = ceil(M / (TM * local_size_y))
//
// Work split: workgroup (wx, wy) owns the (TM*local_size_y) x (TN*local_size_x)
// tile of C whose top-left element is (wy*TM*local_size_y, wx*TN*local_size_x).
// Inside it the TM x TN block of invocation (lx, ly) is interleaved with its
// neighbours: it owns rows   tileRow + ly + i*local_size_y, i < TM,
//                  and columns tileCol + lx + j*local_size_x, j < TN,
// so adjacent lanes touch adjacent columns of B and C (coalesced on GPUs).
// The block is accumulated in TM*TN registers over the whole K loop; each k
// reads TM values of A and TN values of B and does TM*TN multiply-adds.
//
// Edges: rows and columns past M or N are clamped to M-1 / N-1 for the loads
// (valid memory, results discarded) and skipped at the store, so any
// M, N, K >= 1 works with any tile and workgroup size. No shared memory and
// no barriers, so an invocation with nothing to store may return early.

layout(local_size_x = 8, local_size_y = 8, local_size_x_id = 0, local_size_y_id = 1) in;

layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 4;
layout(constant_id = 4) const bool TRANS_A = false;
layout(constant_id = 5) const bool TRANS_B = false;
layout(constant_id = 6) const bool HAS_BIAS = false;
layout(constant_id = 7) const uint ACT = 0;

const uint ACT_RELU = 1;

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float data[]; } A;
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float data[]; } B;
layout(std430, set = 0, binding = 2) readonly buffer BiasBuf { float data[]; } bias;
layout(std430, set = 0, binding = 3) writeonly buffer CBuf { float data[]; } C;

layout(push_constant, std430) uniform Push {
    uint M;
    uint N;
    uint K;
    uint offA;
    uint offB;
    uint offBias;
    uint offC;
} pc;

void main() {
    const uint M = pc.M;
    const uint N = pc.N;
    const uint K = pc.K;

    uint row0 = gl_WorkGroupID.y * (TM * gl_WorkGroupSize.y) + gl_LocalInvocationID.y;
    uint col0 = gl_WorkGroupID.x * (TN * gl_WorkGroupSize.x) + gl_LocalInvocationID.x;
    if (row0 >= M || col0 >= N) {
        return;
    }

    // Per owned row / column: where its k = 0 element lives, and how far
    // one step of k moves it. Out-of-range rows/columns are clamped.
    uint aBase[TM];
    for (uint i = 0; i < TM; ++i) {
        uint r = min(row0 + i * gl_WorkGroupSize.y, M - 1);
        aBase[i] = pc.offA + (TRANS_A ? r : r * K);
    }
    const uint aStep = TRANS_A ? M : 1;

    uint bBase[TN];
    for (uint j = 0; j < TN; ++j) {
        uint c = min(col0 + j * gl_WorkGroupSize.x, N - 1);
        bBase[j] = pc.offB + (TRANS_B ? c * K : c);
    }
    const uint bStep = TRANS_B ? 1 : N;

    float acc[TM * TN];
    for (uint t = 0; t < TM * TN; ++t) {
        acc[t] = 0.0;
    }

    float a[TM];
    float b[TN];
    for (uint k = 0; k < K; ++k) {
        for (uint i = 0; i < TM; ++i) {
            a[i] = A.data[aBase[i] + k * aStep];
        }
        for (uint j = 0; j < TN; ++j) {
            b[j] = B.data[bBase[j] + k * bStep];
        }
        for (uint i = 0; i < TM; ++i) {
            for (uint j = 0; j < TN; ++j) {
                acc[i * TN + j] += a[i] * b[j];
            }
        }
    }

    for (uint i = 0; i < TM; ++i) {
        uint r = row0 + i * gl_WorkGroupSize.y;
        if (r >= M) {
            break;
        }
        for (uint j = 0; j < TN; ++j) {
            uint c = col0 + j * gl_WorkGroupSize.x;
            if (c >= N) {
                break;
            }
            float v = acc[i * TN + j];
            if (HAS_BIAS) {
                v += bias.data[pc.offBias + c];
            }
            if (ACT == ACT_RELU) {
                v = v < 0.0 ? 0.0 : v; // keeps NaN (max() need not)
            }
            C.data[pc.offC + r * N + c] = v;
        }
    }
}
