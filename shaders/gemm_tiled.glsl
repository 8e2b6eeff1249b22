// gemm_tiled.glsl: the GPU GEMM, C = act(op(A) * op(B) + bias), fp32
// accumulate. Included by gemm_tiled.comp (B in fp32) and gemm_tiled_f16.comp
// (B stored as fp16, B_F16 defined; needs storageBuffer16BitAccess). Not
// compiled alone.
//
//   op(A) is M x K: A[offA + r*lda + k], or A[offA + k*lda + r] when TRANS_A.
//   op(B) is K x N: B[offB + k*ldb + n], or B[offB + n*ldb + k] when TRANS_B
//                   (a Dense weight [out, in]; the layout GPU weights are
//                   prepared in, rows padded to a multiple of 4 with zeros).
//   C is M x N row-major at offC; bias has N elements.
//
// Design (after the block / warp / thread tiling of the well-known GPU
// SGEMMs; see docs/PERFORMANCE.md, "The GPU GEMM"):
// - A workgroup owns a BM x BN block of C. Per step of BK it stages the
//   BM x BK slice of op(A) and the BK x BN slice of op(B) in shared memory,
//   both K-major (As[k][m], Bs[k][n], vec4 elements), each row padded by one
//   vec4 so that the transposing stores of K-contiguous operands spread over
//   the banks. Global reads are 4 consecutive elements along the operand's
//   contiguous dimension: one vec4 load when VEC_A / VEC_B (the host checks
//   alignment: leading dimension and offset multiples of 4, and the
//   contiguous extent a multiple of 4 unless the padding is zeros), else four
//   guarded scalar loads.
// - The block is divided into warp tiles of WM x WN, one per group of
//   LANES = (WM/TM) * (WN/TN) consecutive invocations, sized on the host from
//   the device's subgroup size, so that a subgroup reads a compact region of
//   shared memory (WM + WN values per k instead of a strip).
// - Each invocation accumulates a TM x TN register tile (TM/4 x TN/4 groups
//   of 4 x 4, interleaved with its neighbours in the warp tile): per k it
//   reads TM/4 + TN/4 vec4 from shared memory and does TM*TN multiply-adds.
// - Split-K (PARTIAL): workgroup z sums k in [z*kChunk, min(K, (z+1)*kChunk))
//   and writes the raw partial block to C at z*M*N (a temporary); a second
//   pass (gemm_reduce.comp) adds the partials, the bias and the activation.
//
// Padding is zeros, never clamped reads: rows past M, columns past N and k
// past the end are 0 in shared memory, so they add 0*0 to stored outputs and
// NaN/Inf reach exactly the outputs they should. Every invocation reaches
// every barrier; the stores are guarded.
//
// bindings (set 0): 0 A (read-only, vec4 view), 1 B (read-only, vec4 or
//                   f16vec4 view), 2 bias (read-only; bound always, read only
//                   when HAS_BIAS), 3 C (write-only)
// push constants:   uint M, N, K, lda, ldb, offA, offB, offC, kChunk
// spec constants:   0 local_size_x (= (BM/WM)*(BN/WN)*LANES), 1 BM, 2 BN,
//                   3 BK, 4 WM, 5 WN, 6 TM, 7 TN (BM % WM = BN % WN = 0,
//                   WM % TM = WN % TN = 0, TM, TN, BK multiples of 4),
//                   8 TRANS_A, 9 TRANS_B, 10 HAS_BIAS, 11 ACT (0 none,
//                   1 ReLU), 12 VEC_A, 13 VEC_B, 14 PARTIAL
// grid:             x = ceil(N/BN), y = ceil(M/BM), z = split count (1
//                   unless PARTIAL)
// shared memory:    16 * BK * (BM/4 + 1 + BN/4 + 1) bytes
//
// Reuse (an implicit-GEMM convolution, say): an including file may define,
// before the #include,
//   GEMM_EXTRA_PUSH        more push-constant members, appended to Push;
//   GEMM_CUSTOM_LOAD_A     and then define, after the #include,
//                          vec4 loadA(uint r, uint k, uint kEnd) returning
//                          op(A)[r, k .. k+3] (0 past M and kEnd), with
//                          TRANS_A false (A is bound as a vec4 view: scalar
//                          element e is A.v[e >> 2][e & 3]);
//   GEMM_CUSTOM_STORE      and then define void storeC(uint row, uint col,
//                          float x), which writes output (row, col) of the
//                          M x N product (bias and activation applied; not
//                          used for split-K partials).

#extension GL_EXT_control_flow_attributes : require
#ifdef B_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

layout(local_size_x = 256, local_size_x_id = 0) in;

layout(constant_id = 1) const uint BM = 128;
layout(constant_id = 2) const uint BN = 128;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint WM = 32;
layout(constant_id = 5) const uint WN = 64;
layout(constant_id = 6) const uint TM = 8;
layout(constant_id = 7) const uint TN = 8;
layout(constant_id = 8) const bool TRANS_A = false;
layout(constant_id = 9) const bool TRANS_B = false;
layout(constant_id = 10) const bool HAS_BIAS = false;
layout(constant_id = 11) const uint ACT = 0;
layout(constant_id = 12) const bool VEC_A = false;
layout(constant_id = 13) const bool VEC_B = false;
layout(constant_id = 14) const bool PARTIAL = false;

const uint ACT_RELU = 1;

layout(std430, set = 0, binding = 0) readonly buffer ABuf { vec4 v[]; } A;
#ifdef B_F16
layout(std430, set = 0, binding = 1) readonly buffer BBuf { f16vec4 v[]; } B;
#else
layout(std430, set = 0, binding = 1) readonly buffer BBuf { vec4 v[]; } B;
#endif
layout(std430, set = 0, binding = 2) readonly buffer BiasBuf { float v[]; } bias;
layout(std430, set = 0, binding = 3) writeonly buffer CBuf { float v[]; } C;

layout(push_constant, std430) uniform Push {
    uint M;
    uint N;
    uint K;
    uint lda;
    uint ldb;
    uint offA;
    uint offB;
    uint offC;
    uint kChunk;
#ifdef GEMM_EXTRA_PUSH
    GEMM_EXTRA_PUSH
#endif
} pc;

const uint SA = BM / 4 + 1; // row stride of As in vec4
const uint SB = BN / 4 + 1;
shared vec4 As[BK * SA];
shared vec4 Bs[BK * SB];

const uint LM = WM / TM; // lanes of a warp tile along m
const uint LN = WN / TN; // and along n
const uint LANES = LM * LN;
const uint WARPS_N = BN / WN;
const uint TM4 = TM / 4;
const uint TN4 = TN / 4;

float aAt(uint e) { return A.v[e >> 2][e & 3]; }
#ifdef B_F16
float bAt(uint e) { return float(B.v[e >> 2][e & 3]); }
vec4 bVec(uint e) { return vec4(B.v[e >> 2]); }
#else
float bAt(uint e) { return B.v[e >> 2][e & 3]; }
vec4 bVec(uint e) { return B.v[e >> 2]; }
#endif

// loadA returns op(A)[r .. r+3, k] (TRANS_A) or op(A)[r, k .. k+3], zero
// outside rows < M and k < kEnd.
#ifdef GEMM_CUSTOM_LOAD_A
vec4 loadA(uint r, uint k, uint kEnd);
#else
vec4 loadA(uint r, uint k, uint kEnd) {
    vec4 v = vec4(0.0);
    if (TRANS_A) {
        if (k >= kEnd || r >= pc.M) {
            return v;
        }
        uint e = pc.offA + k * pc.lda + r;
        if (VEC_A) {
            return A.v[e >> 2];
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) {
            if (r + c < pc.M) {
                v[c] = aAt(e + c);
            }
        }
        return v;
    }
    if (r >= pc.M || k >= kEnd) {
        return v;
    }
    uint e = pc.offA + r * pc.lda + k;
    if (VEC_A) {
        return A.v[e >> 2];
    }
    [[unroll]] for (uint c = 0; c < 4; ++c) {
        if (k + c < kEnd) {
            v[c] = aAt(e + c);
        }
    }
    return v;
}
#endif

#ifdef GEMM_CUSTOM_STORE
void storeC(uint row, uint col, float x);
#endif

// loadB returns op(B)[k, n .. n+3] or (TRANS_B) op(B)[k .. k+3, n], zero
// outside columns < N and k < kEnd.
vec4 loadB(uint k, uint n, uint kEnd) {
    vec4 v = vec4(0.0);
    if (!TRANS_B) {
        if (k >= kEnd || n >= pc.N) {
            return v;
        }
        uint e = pc.offB + k * pc.ldb + n;
        if (VEC_B) {
            return bVec(e);
        }
        [[unroll]] for (uint c = 0; c < 4; ++c) {
            if (n + c < pc.N) {
                v[c] = bAt(e + c);
            }
        }
        return v;
    }
    if (n >= pc.N || k >= kEnd) {
        return v;
    }
    uint e = pc.offB + n * pc.ldb + k;
    if (VEC_B) {
        return bVec(e);
    }
    [[unroll]] for (uint c = 0; c < 4; ++c) {
        if (k + c < kEnd) {
            v[c] = bAt(e + c);
        }
    }
    return v;
}

void main() {
    const uint M = pc.M;
    const uint N = pc.N;
    const uint tid = gl_LocalInvocationIndex;
    const uint m0 = gl_WorkGroupID.y * BM;
    const uint n0 = gl_WorkGroupID.x * BN;
    const uint kBegin = gl_WorkGroupID.z * pc.kChunk;
    const uint kEnd = min(pc.K, kBegin + pc.kChunk);

    const uint warp = tid / LANES;
    const uint lane = tid % LANES;
    // First row / column (within the block) of this invocation's tile; its
    // groups of 4 repeat every LM*4 rows and LN*4 columns.
    const uint rowIn = (warp / WARPS_N) * WM + (lane / LN) * 4;
    const uint colIn = (warp % WARPS_N) * WN + (lane % LN) * 4;

    vec4 acc[TM * TN4];
    [[unroll]] for (uint t = 0; t < TM * TN4; ++t) {
        acc[t] = vec4(0.0);
    }

    for (uint k0 = kBegin; k0 < kEnd; k0 += BK) {
        // Stage op(A)[m0 .. m0+BM, k0 .. k0+BK] as As[k][m].
        if (TRANS_A) {
            for (uint u = tid; u < BK * (BM / 4); u += gl_WorkGroupSize.x) {
                uint k = u / (BM / 4), mq = u % (BM / 4);
                As[k * SA + mq] = loadA(m0 + mq * 4, k0 + k, kEnd);
            }
        } else {
            for (uint u = tid; u < BM * (BK / 4); u += gl_WorkGroupSize.x) {
                uint m = u / (BK / 4), kq = u % (BK / 4);
                vec4 v = loadA(m0 + m, k0 + kq * 4, kEnd);
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    As[(kq * 4 + c) * SA + m / 4][m % 4] = v[c];
                }
            }
        }
        // Stage op(B)[k0 .. k0+BK, n0 .. n0+BN] as Bs[k][n].
        if (TRANS_B) {
            for (uint u = tid; u < BN * (BK / 4); u += gl_WorkGroupSize.x) {
                uint n = u / (BK / 4), kq = u % (BK / 4);
                vec4 v = loadB(k0 + kq * 4, n0 + n, kEnd);
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    Bs[(kq * 4 + c) * SB + n / 4][n % 4] = v[c];
                }
            }
        } else {
            for (uint u = tid; u < BK * (BN / 4); u += gl_WorkGroupSize.x) {
                uint k = u / (BN / 4), nq = u % (BN / 4);
                Bs[k * SB + nq] = loadB(k0 + k, n0 + nq * 4, kEnd);
            }
        }
        barrier();

        [[unroll]] for (uint k = 0; k < BK; ++k) {
            vec4 a[TM4];
            vec4 b[TN4];
            [[unroll]] for (uint i = 0; i < TM4; ++i) {
                a[i] = As[k * SA + rowIn / 4 + i * LM];
            }
            [[unroll]] for (uint j = 0; j < TN4; ++j) {
                b[j] = Bs[k * SB + colIn / 4 + j * LN];
            }
            [[unroll]] for (uint i = 0; i < TM4; ++i) {
                [[unroll]] for (uint r = 0; r < 4; ++r) {
                    [[unroll]] for (uint j = 0; j < TN4; ++j) {
                        acc[(i * 4 + r) * TN4 + j] += a[i][r] * b[j];
                    }
                }
            }
        }
        barrier();
    }

    const uint offC = pc.offC + (PARTIAL ? gl_WorkGroupID.z * M * N : 0);
    [[unroll]] for (uint i = 0; i < TM4; ++i) {
        [[unroll]] for (uint r = 0; r < 4; ++r) {
            uint row = m0 + rowIn + i * LM * 4 + r;
            if (row >= M) {
                continue;
            }
            [[unroll]] for (uint j = 0; j < TN4; ++j) {
                uint col = n0 + colIn + j * LN * 4;
                vec4 v = acc[(i * 4 + r) * TN4 + j];
                [[unroll]] for (uint c = 0; c < 4; ++c) {
                    if (col + c >= N) {
                        break;
                    }
                    float x = v[c];
                    if (!PARTIAL) {
                        if (HAS_BIAS) {
                            x += bias.v[col + c];
                        }
                        if (ACT == ACT_RELU) {
                            x = x < 0.0 ? 0.0 : x; // keeps NaN (max() need not)
                        }
                    }
#ifdef GEMM_CUSTOM_STORE
                    if (!PARTIAL) {
                        storeC(row, col + c, x);
                        continue;
                    }
#endif
                    C.v[offC + row * N + col + c] = x;
                }
            }
        }
    }
}
