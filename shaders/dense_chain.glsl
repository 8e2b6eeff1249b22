// dense_chain.glsl: the body of dense_chain.comp (weights in storage buffers)
// and dense_chain_texel.comp (weights in RGBA32F uniform texel buffers, for
// lavapipe: see gemm_texel.comp). Those files define DENSE_CHAIN_TEXEL or
// not and include this; it is not compiled alone.
//
// A chain of up to four Dense layers, y_l = act_l(y_{l-1} W_l + b_l), then
// optionally a softmax or log-softmax of each row of the last layer's
// output, for a few rows (a small batch), in ONE workgroup of ONE dispatch.
// The activations between layers stay in shared memory; the layers are
// separated by workgroup barriers instead of dispatches and pipeline
// barriers. This is the small-batch path: on CPU drivers every dispatch pays
// a thread wake-up that costs more than a whole batch-1 layer, and on GPUs
// the launch gaps dominate too. Large batches use the GEMM kernels.
//
// Layer l reads K_l inputs (K_0 = K0, K_l = N_{l-1}) and writes N_l outputs.
// Its weight W_l (K_l x N_l) is laid out as GemmWeights lays it out for the
// device: panels of P_l columns, K-major, each panel K4_l = roundup(K_l, 4)
// rows (zero filled): element (k, c) at float
// ((c / P_l) * K4_l + k) * P_l + c % P_l. Row-major K x N is the one-panel
// case P_l = N_l. The texel variant needs P_l % 4 == 0 (four columns of one
// row are one texel).
//
// Work split: an invocation computes four neighbouring output columns (one
// vec4) of every row for one slice of k; a layer with G = ceil(N/4) column
// groups uses S_l slices (chosen so G * S_l fills the workgroup), summed in
// shared memory when S_l > 1. Activations are stored as vec4 rows padded to a
// multiple of four with zeros, so every read of them is one vec4 at an
// address that is the same for all invocations.
//
// bindings (set 0): 0 x (M x K0 row-major, read-only; a storage buffer, or
//                     in the texel variant an RGBA32F texel buffer)
//                   1 y (storage, M x N_{L-1} row-major, write-only)
//                   2..5 W_0..W_3, 6..9 b_0..b_3 (N_l floats); layers >= L
//                   and absent biases are bound to any buffer (never read)
// push constants:   none
// spec constants:   0 local_size_x (default 64)
//                   1 M (rows), 2 L (layers, 1..4), 3 K0
//                   4..7 N_0..N_3, 8..11 P_0..P_3, 12..15 S_0..S_3 (>= 1)
//                   16 RELU (bit l: ReLU after layer l)
//                   17 BIAS (bit l: layer l has a bias)
//                   18 FINAL (0 none, 1 softmax, 2 log-softmax of each row)
//                   19 ACT4: vec4s of one activation buffer, at least
//                      M * roundup(K_l, 4) / 4 for every layer l, and
//                      M * roundup(N_{L-1}, 4) / 4 when FINAL != 0
//                   20 RED4: vec4s of partial sums, at least
//                      S_l * M * G_l for every l with S_l > 1 (else 1),
//                      G_l = ceil(N_l / 4), or SPLIT for layer 0 when SPLIT > 0
//                   21 SPLIT: 0, or (with L == 1 and FINAL == 0 only) the
//                      column groups (vec4s of columns) of the one layer each
//                      workgroup computes: workgroup i computes columns
//                      4*SPLIT*i .. 4*SPLIT*(i+1)-1 (the "split head": a
//                      wide first layer spread over ceil(G_0 / SPLIT)
//                      workgroups, i.e. over a CPU driver's threads, before
//                      the rest of the chain runs as a second dispatch)
// grid:             one workgroup; ceil(ceil(N_0 / 4) / SPLIT) when SPLIT > 0.
//
// First-run cost: lavapipe JIT-compiles a kernel at its first dispatch, and
// that time is part of loading a model. So only the inner product is
// unrolled; the loops around it are kept rolled ([[dont_unroll]]), column
// tails use selects, and exp has one call site. This took ~45 ms off the
// first run of examples/mnist (docs/PERFORMANCE.md) at no measurable cost
// per run.
//
// Softmax follows the rules of softmax.comp (NaN rows, infinities); the
// Dense arithmetic follows gemm.comp (IEEE fp32 multiply-adds, NaN and
// infinities propagate).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint M = 1;
layout(constant_id = 2) const uint L = 1;
layout(constant_id = 3) const uint K0 = 4;
layout(constant_id = 4) const uint N0 = 4;
layout(constant_id = 5) const uint N1 = 4;
layout(constant_id = 6) const uint N2 = 4;
layout(constant_id = 7) const uint N3 = 4;
layout(constant_id = 8) const uint P0 = 4;
layout(constant_id = 9) const uint P1 = 4;
layout(constant_id = 10) const uint P2 = 4;
layout(constant_id = 11) const uint P3 = 4;
layout(constant_id = 12) const uint S0 = 1;
layout(constant_id = 13) const uint S1 = 1;
layout(constant_id = 14) const uint S2 = 1;
layout(constant_id = 15) const uint S3 = 1;
layout(constant_id = 16) const uint RELU = 0;
layout(constant_id = 17) const uint BIAS = 0;
layout(constant_id = 18) const uint FINAL = 0;
layout(constant_id = 19) const uint ACT4 = 1;
layout(constant_id = 20) const uint RED4 = 1;
layout(constant_id = 21) const uint SPLIT = 0;

const uint FINAL_SOFTMAX = 1;
const uint FINAL_LOG_SOFTMAX = 2;

#include "common.glsl"

layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;
#ifdef DENSE_CHAIN_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
layout(set = 0, binding = 2) uniform textureBuffer W0;
layout(set = 0, binding = 3) uniform textureBuffer W1;
layout(set = 0, binding = 4) uniform textureBuffer W2;
layout(set = 0, binding = 5) uniform textureBuffer W3;
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } X;
layout(std430, set = 0, binding = 2) readonly buffer W0Buf { float data[]; } W0;
layout(std430, set = 0, binding = 3) readonly buffer W1Buf { float data[]; } W1;
layout(std430, set = 0, binding = 4) readonly buffer W2Buf { float data[]; } W2;
layout(std430, set = 0, binding = 5) readonly buffer W3Buf { float data[]; } W3;
#endif
layout(std430, set = 0, binding = 6) readonly buffer B0Buf { float data[]; } B0;
layout(std430, set = 0, binding = 7) readonly buffer B1Buf { float data[]; } B1;
layout(std430, set = 0, binding = 8) readonly buffer B2Buf { float data[]; } B2;
layout(std430, set = 0, binding = 9) readonly buffer B3Buf { float data[]; } B3;

// Two activation buffers: layer l reads act[(l % 2) * ACT4 + ...] and
// writes the other one.
shared vec4 act[2 * ACT4];
shared vec4 red[RED4];

#ifdef DENSE_CHAIN_TEXEL
// Rows of x that start on a texel (K0 % 4 == 0) are read by layer 0 straight
// from x, one texel per step of k: on lavapipe a texel fetch costs less than
// a read of shared memory, which it makes lane by lane.
const bool X_DIRECT = K0 % 4 == 0;
float xAt(uint e) { return texelFetch(X, int(e / 4))[e % 4]; }
#else
const bool X_DIRECT = false;
float xAt(uint e) { return X.data[e]; }
#endif

// inputRow returns layer l's input row m, k = 4q .. 4q+3.
vec4 inputRow(uint l, uint inBase, uint KQ, uint m, uint q) {
#ifdef DENSE_CHAIN_TEXEL
    if (l == 0 && X_DIRECT) {
        return texelFetch(X, int(m * KQ + q));
    }
#endif
    return act[inBase + m * KQ + q];
}

// weight returns W_l[k, 4g .. 4g+3] (columns >= N read as anything finite or
// not; the caller discards them).
vec4 weight(uint l, uint K, uint N, uint P, uint k, uint g) {
    const uint K4 = (K + 3) / 4 * 4;
#ifdef DENSE_CHAIN_TEXEL
    uint c = 4 * g;
    uint p = c / P;
    int t = int(((p * K4 + k) * P + (c - p * P)) / 4);
    switch (l) {
    case 0: return texelFetch(W0, t);
    case 1: return texelFetch(W1, t);
    case 2: return texelFetch(W2, t);
    }
    return texelFetch(W3, t);
#else
    vec4 v = vec4(0.0);
    for (uint i = 0; i < 4; ++i) {
        uint c = 4 * g + i;
        if (c < N) {
            uint p = c / P;
            uint j = (p * K4 + k) * P + (c - p * P);
            switch (l) {
            case 0: v[i] = W0.data[j]; break;
            case 1: v[i] = W1.data[j]; break;
            case 2: v[i] = W2.data[j]; break;
            default: v[i] = W3.data[j]; break;
            }
        }
    }
    return v;
#endif
}

float biasAt(uint l, uint c) {
    switch (l) {
    case 0: return B0.data[c];
    case 1: return B1.data[c];
    case 2: return B2.data[c];
    }
    return B3.data[c];
}

// finish adds layer l's bias and activation to the sums v of columns
// 4g..4g+3 of row m and stores them: into y for the last layer without a
// final softmax, else into the output activation buffer (columns >= N as 0).
void finish(uint l, uint N, uint m, uint g, vec4 v, uint outBase) {
    const bool last = l + 1 == L;
    const uvec4 c = 4 * g + uvec4(0, 1, 2, 3);
    const bvec4 valid = lessThan(c, uvec4(N));
    if ((BIAS & (1u << l)) != 0) {
        // Clamped reads stay inside the N-float bias; invalid lanes are
        // zeroed below. (Rolled into a loop writing v[i], this made
        // two-row runs 1.7x slower on lavapipe.)
        uvec4 cc = min(c, uvec4(N - 1));
        v += vec4(biasAt(l, cc.x), biasAt(l, cc.y), biasAt(l, cc.z), biasAt(l, cc.w));
    }
    if ((RELU & (1u << l)) != 0) {
        // A select, not max(v, 0): ReLU(NaN) is NaN as in ops.
        v = mix(v, vec4(0.0), lessThan(v, vec4(0.0)));
    }
    v = mix(vec4(0.0), v, valid);
    if (last && FINAL == 0) {
        for (uint i = 0; i < 4; ++i) {
            if (valid[i]) {
                y.data[m * N + c[i]] = v[i];
            }
        }
    } else {
        act[outBase + m * ((N + 3) / 4) + g] = v;
    }
}

// dense runs layer l: K inputs per row from act[inBase ...] (vec4 rows of
// K4/4), N outputs, weights in panels of P, S slices of k.
void dense(uint l, uint K, uint N, uint P, uint S, uint inBase, uint outBase) {
    const uint LS = gl_WorkGroupSize.x;
    const uint lid = gl_LocalInvocationID.x;
    // This workgroup computes column groups g0 .. g0+G-1 (all of them but
    // with SPLIT: see the spec constants).
    const uint G = SPLIT > 0 ? SPLIT : (N + 3) / 4;
    const uint g0 = SPLIT > 0 ? gl_WorkGroupID.x * SPLIT : 0;
    const uint KQ = (K + 3) / 4;          // vec4 steps per row
    const uint SQ = (KQ + S - 1) / S;     // steps per slice
    const uint KFULL = K / 4;             // steps with four valid k
    for (uint w = lid; w < G * S; w += LS) {
        uint g = g0 + w % G;
        uint s = w / G;
        if (g >= (N + 3) / 4) {
            continue; // past the last column (the last workgroup of SPLIT)
        }
        uint q0 = s * SQ;
        uint q1 = min(KQ, q0 + SQ);
        vec4 acc[M];
        for (uint m = 0; m < M; ++m) {
            acc[m] = vec4(0.0);
        }
        uint qf = min(q1, KFULL);
        for (uint q = q0; q < qf; ++q) {
            vec4 w0 = weight(l, K, N, P, 4 * q + 0, g);
            vec4 w1 = weight(l, K, N, P, 4 * q + 1, g);
            vec4 w2 = weight(l, K, N, P, 4 * q + 2, g);
            vec4 w3 = weight(l, K, N, P, 4 * q + 3, g);
            for (uint m = 0; m < M; ++m) {
                vec4 a = inputRow(l, inBase, KQ, m, q);
                acc[m] = fma(vec4(a.x), w0, acc[m]);
                acc[m] = fma(vec4(a.y), w1, acc[m]);
                acc[m] = fma(vec4(a.z), w2, acc[m]);
                acc[m] = fma(vec4(a.w), w3, acc[m]);
            }
        }
        if (q0 <= KFULL && KFULL < q1) {
            // The last, partial step: only k < K (rows k >= K of a row-major
            // weight are outside the buffer).
            for (uint kk = 0; kk < K - 4 * KFULL; ++kk) {
                vec4 wk = weight(l, K, N, P, 4 * KFULL + kk, g);
                for (uint m = 0; m < M; ++m) {
                    acc[m] = fma(vec4(inputRow(l, inBase, KQ, m, KFULL)[kk]), wk, acc[m]);
                }
            }
        }
        for (uint m = 0; m < M; ++m) {
            if (S == 1) {
                finish(l, N, m, g, acc[m], outBase);
            } else {
                red[(s * M + m) * G + g - g0] = acc[m];
            }
        }
    }
    if (S > 1) {
        barrier();
        for (uint w = lid; w < G * M; w += LS) {
            uint g = w % G;
            uint m = w / G;
            vec4 v = red[m * G + g];
            for (uint s = 1; s < S; ++s) {
                v += red[(s * M + m) * G + g];
            }
            finish(l, N, m, g0 + g, v, outBase);
        }
    }
    barrier();
}

// softmaxRow normalises row m of the last layer's output (N values in act
// from base) into y, by one invocation. Softmax keeps exp(v - max) in act
// for the division: exp(v - max) / sum is softmaxResult's value.
void softmaxRow(uint N, uint m, uint base) {
    const uint row = base + m * ((N + 3) / 4);
    const bool isLog = FINAL == FINAL_LOG_SOFTMAX;
    float mx = VK_NEG_INF;
    bool nan = false;
    [[dont_unroll]] for (uint c = 0; c < N; ++c) {
        float v = act[row + c / 4][c % 4];
        if (isNaNBits(v)) {
            nan = true;
        } else {
            mx = max(mx, v);
        }
    }
    // A NaN or an infinite maximum makes the whole row NaN (softmax.comp).
    const bool bad = nan || isInfBits(mx);
    float sum = 0.0;
    if (!bad) {
        [[dont_unroll]] for (uint c = 0; c < N; ++c) {
            float e = expShifted(act[row + c / 4][c % 4], mx);
            sum += e;
            if (!isLog) {
                act[row + c / 4][c % 4] = e;
            }
        }
    }
    [[dont_unroll]] for (uint c = 0; c < N; ++c) {
        float v = act[row + c / 4][c % 4];
        y.data[m * N + c] = bad ? VK_QNAN : isLog ? softmaxResult(v, mx, sum, true) : v / sum;
    }
}

void main() {
    const uint LS = gl_WorkGroupSize.x;
    const uint lid = gl_LocalInvocationID.x;
    // Stage the input rows as zero-padded vec4 rows in act[0 ...], unless
    // layer 0 reads them from x.
    if (!X_DIRECT) {
        const uint KQ0 = (K0 + 3) / 4;
        for (uint i = lid; i < M * KQ0; i += LS) {
            uint m = i / KQ0;
            uint k = 4 * (i - m * KQ0);
            vec4 v = vec4(0.0);
            [[dont_unroll]] for (uint j = 0; j < 4; ++j) {
                if (k + j < K0) {
                    v[j] = xAt(m * K0 + k + j);
                }
            }
            act[i] = v;
        }
        barrier();
    }
    dense(0, K0, N0, P0, S0, 0, ACT4);
    uint nLast = N0;
    if (L > 1) {
        dense(1, N0, N1, P1, S1, ACT4, 0);
        nLast = N1;
    }
    if (L > 2) {
        dense(2, N1, N2, P2, S2, 0, ACT4);
        nLast = N2;
    }
    if (L > 3) {
        dense(3, N2, N3, P3, S3, ACT4, 0);
        nLast = N3;
    }
    if (FINAL != 0) {
        for (uint m = lid; m < M; m += LS) {
            softmaxRow(nLast, m, (L % 2) * ACT4);
        }
    }
}
