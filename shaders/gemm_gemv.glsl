// gemm_gemv.glsl: C = act(op(A) * op(B) + bias) for skinny products (M <= 8
// rows: batch-1 and small-batch Dense layers), memory bound on B. Included
// by gemm_gemv.comp (fp32 B) and gemm_gemv_f16.comp (fp16 B, B_F16 defined).
// Operand addressing as in gemm_tiled.glsl:
//   op(A)[r, k] = A[offA + r*lda + k], or A[offA + k*lda + r] when TRANS_A
//   op(B)[k, n] = B[offB + k*ldb + n], or B[offB + n*ldb + k] when TRANS_B
//   C[offC + r*N + n], bias[n].
//
// TRANS_B (B K-contiguous: Dense weights): LPC consecutive invocations share
//   one column n; lane l reads B's row n at k = 4l, 4l + 4*LPC, ... (vec4 when
//   VEC_B), so a subgroup streams through contiguous memory, and accumulates
//   MR dot products; the LPC partial sums are added in shared memory.
// !TRANS_B (B N-contiguous: GPU weights): each invocation owns 4 adjacent
//   columns; QPW = local_size_x / KS consecutive invocations cover QPW*4
//   adjacent columns (a contiguous segment of a row of B per step), and the
//   KS groups of them split k (slice s takes k = s, s + KS, ...); their vec4
//   partial sums are added in shared memory.
// op(A) is small (MR rows) and read with guarded scalar loads.
// Padding is zeros; every invocation reaches every barrier.
//
// bindings (set 0): 0 A (read-only), 1 B (read-only, vec4 / f16vec4 view),
//                   2 bias (read-only; bound always, read only when
//                   HAS_BIAS), 3 C (write-only)
// push constants:   uint M, N, K, lda, ldb, offA, offB, offC
// spec constants:   0 local_size_x (default 128), 1 LPC (TRANS_B: lanes per
//                   column, a power of 2 dividing local_size_x; else KS,
//                   k-slices per column group, a power of 2 dividing
//                   local_size_x), 2 MR (rows, M <= MR <= 8), 3 TRANS_A,
//                   4 TRANS_B, 5 HAS_BIAS, 6 ACT (0 none, 1 ReLU), 7 VEC_B
// grid:             TRANS_B: ceil(N / (local_size_x/LPC)) workgroups;
//                   else ceil(N / (4*local_size_x/LPC)); over x then y.
// shared memory:    16 * local_size_x * MR bytes

#extension GL_EXT_control_flow_attributes : require
#ifdef B_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif

layout(local_size_x = 128, local_size_x_id = 0) in;

layout(constant_id = 1) const uint LPC = 32;
layout(constant_id = 2) const uint MR = 1;
layout(constant_id = 3) const bool TRANS_A = false;
layout(constant_id = 4) const bool TRANS_B = true;
layout(constant_id = 5) const bool HAS_BIAS = false;
layout(constant_id = 6) const uint ACT = 0;
layout(constant_id = 7) const bool VEC_B = false;

const uint ACT_RELU = 1;

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float v[]; } A;
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
} pc;

shared vec4 red[MR * gl_WorkGroupSize.x];

#ifdef B_F16
float bAt(uint e) { return float(B.v[e >> 2][e & 3]); }
vec4 bVec(uint e) { return vec4(B.v[e >> 2]); }
#else
float bAt(uint e) { return B.v[e >> 2][e & 3]; }
vec4 bVec(uint e) { return B.v[e >> 2]; }
#endif

// aAt returns op(A)[r, k], 0 outside r < M, k < K.
float aAt(uint r, uint k) {
    if (r >= pc.M || k >= pc.K) {
        return 0.0;
    }
    return A.v[pc.offA + (TRANS_A ? k * pc.lda + r : r * pc.lda + k)];
}

// finish writes C[r, n] for n < N.
void finish(uint r, uint n, float x) {
    if (r >= pc.M || n >= pc.N) {
        return;
    }
    if (HAS_BIAS) {
        x += bias.v[n];
    }
    if (ACT == ACT_RELU) {
        x = x < 0.0 ? 0.0 : x; // keeps NaN (max() need not)
    }
    C.v[pc.offC + r * pc.N + n] = x;
}

void main() {
    const uint WG = gl_WorkGroupSize.x;
    const uint tid = gl_LocalInvocationIndex;
    const uint group = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    const uint K = pc.K;
    // Position in the reduction group, and the distance in invocations
    // between neighbours of one group.
    const uint lane = TRANS_B ? tid % LPC : tid / (WG / LPC);
    const uint step = TRANS_B ? 1 : WG / LPC;

    vec4 acc[MR];
    [[unroll]] for (uint m = 0; m < MR; ++m) {
        acc[m] = vec4(0.0);
    }

    uint n;
    if (TRANS_B) {
        n = group * (WG / LPC) + tid / LPC;
        if (n < pc.N) {
            const uint row = pc.offB + n * pc.ldb;
            for (uint k = lane * 4; k < K; k += LPC * 4) {
                vec4 b;
                if (VEC_B) {
                    b = bVec(row + k);
                } else {
                    b = vec4(bAt(row + k), k + 1 < K ? bAt(row + k + 1) : 0.0,
                             k + 2 < K ? bAt(row + k + 2) : 0.0, k + 3 < K ? bAt(row + k + 3) : 0.0);
                }
                [[unroll]] for (uint m = 0; m < MR; ++m) {
                    vec4 a = vec4(aAt(m, k), aAt(m, k + 1), aAt(m, k + 2), aAt(m, k + 3));
                    acc[m] += a * b;
                }
            }
        }
    } else {
        // Column group of 4, k-slice `lane` of LPC.
        n = (group * (WG / LPC) + tid % (WG / LPC)) * 4;
        if (n < pc.N) {
            for (uint k = lane; k < K; k += LPC) {
                const uint e = pc.offB + k * pc.ldb + n;
                vec4 b;
                if (VEC_B) {
                    b = bVec(e);
                } else {
                    b = vec4(bAt(e), n + 1 < pc.N ? bAt(e + 1) : 0.0,
                             n + 2 < pc.N ? bAt(e + 2) : 0.0, n + 3 < pc.N ? bAt(e + 3) : 0.0);
                }
                [[unroll]] for (uint m = 0; m < MR; ++m) {
                    acc[m] += aAt(m, k) * b;
                }
            }
        }
    }

    // Tree-add the LPC partial sums of each column (group) in shared memory.
    [[unroll]] for (uint m = 0; m < MR; ++m) {
        red[m * WG + tid] = acc[m];
    }
    for (uint s = LPC / 2; s > 0; s >>= 1) {
        barrier();
        if (lane < s) {
            [[unroll]] for (uint m = 0; m < MR; ++m) {
                red[m * WG + tid] += red[m * WG + tid + s * step];
            }
        }
    }
    barrier();
    if (lane != 0) {
        return;
    }
    [[unroll]] for (uint m = 0; m < MR; ++m) {
        vec4 s = red[m * WG + tid];
        if (TRANS_B) {
            finish(m, n, s.x + s.y + s.z + s.w);
        } else {
            [[unroll]] for (uint c = 0; c < 4; ++c) {
                finish(m, n + c, s[c]);
            }
        }
    }
}
