#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
// gemm_texel.comp: C = act(op(A) * op(B) + bias), fp32, reading A and B as
// RGBA32F uniform texel buffers (texelFetch). For CPU Vulkan drivers
// (lavapipe): a texel fetch compiles to plain vector loads there, where a
// storage-buffer load whose address differs per lane becomes a loop over the
// lanes. Out-of-range fetches return 0, so only stores need edge guards.
//
// Each invocation computes a TM x 8 block of C (TM in {1, 2, 4, 8}) in
// TM*2 vec4 accumulators, no shared memory and no barriers. The K loop steps
// 4 values of k at a time: per step it fetches about TM texels of A and 8 of
// B (more when rows are not texel aligned) and does TM*8*4 multiply-adds.
// K and the row strides are specialization constants: the loop count and
// the alignment of every row are known when the pipeline is created (a Dense
// layer's K is fixed), so misaligned rows cost extra fetches but no
// run-time shuffling.
//
// Operand layouts. K4 is K rounded up to a multiple of 4.
//   A_KCONTIG: op(A) row-major with a row stride of LDA floats (LDA = K for
//              A as stored, any K): element (r, k) at float r*LDA + k. A row
//              that does not start on a texel is read as two texels per step
//              and shifted. The last step uses only k < K.
//   else:      a texel holds 4 consecutive rows at one k (needs TM % 4 == 0):
//              texel(block p, k, h) = p * aS0 + k * aS1 + h, rows p*TM + 4h..+3.
//              (stored K x M with M % 4 == 0: aS0 = TM/4, aS1 = M/4;
//               packed panels of TM rows: aS0 = K4*TM/4, aS1 = TM/4.)
//   B_MODE 0:  packed 8-column panels, K-major, K padded to K4 with zeros:
//              texel (p * K4 + k) * 2 + h holds columns 8p + 4h..+3 at k.
//   B_MODE 1:  op(B) = Bᵀ, B stored N x K with a row stride of LDB floats
//              (a Dense weight as stored): (k, n) at float n*LDB + k; read
//              like A_KCONTIG.
//   B_MODE 2:  B stored K x N row-major with a row stride of LDB floats:
//              (k, n) at float k*LDB + n; a row segment that does not start
//              on a texel is read as three texels and shifted.
// Rows >= M and columns >= N may read anything (the view's end gives 0,
// padding or neighbouring rows give garbage): they only reach accumulators
// that are not stored.
//
// Output layout. C is M x N row-major, or with NCHW (a convolution as a
// GEMM: rows are output pixels, columns channels) row r is pixel
// P = r + row0 of the images' hw pixels each, stored at
// ((P / hw) * N + col) * hw + P % hw: the NCHW output tensor.
//
// bindings (set 0): 0 A (uniform texel buffer), 1 B (uniform texel buffer),
//                   2 bias (uniform texel buffer, N floats; bound always,
//                     read only when HAS_BIAS), 3 C (storage)
// push constants:   uint M, N, aS0, aS1, hw, row0 (NCHW only);
//                   float alpha, beta (the activation's parameters)
// spec constants:   0 local_size_x (default 16), 1 TM (default 8), 2 K,
//                   3 LDA, 4 A_KCONTIG (bool), 5 B_MODE (uint), 6 LDB,
//                   7 HAS_BIAS (bool), 8 ACT (activation.glsl: 0 none,
//                   1 ReLU, ...), 9 NCHW (bool), 10 ROWS_FIRST (bool)
// grid:             one invocation per block: ceil(M/TM) * ceil(N/8)
//                   invocations, 1-D, split over x and y when that exceeds
//                   the device's x limit (see linearIndex). Invocation i owns
//                   column panel i % ceil(N/8) and row block i / ceil(N/8)
//                   (neighbouring lanes share A's rows, and a workgroup
//                   walks through B), or with ROWS_FIRST row block
//                   i % ceil(M/TM) and panel i / ceil(M/TM) (they share B's
//                   panel: B is read from memory about once when it is the
//                   larger operand). Only the last workgroup has idle lanes.
//
// Stores are a float at a time: storing 4 adjacent floats as a vec4 where
// C is aligned (4 pixels of a channel in NCHW) measured up to 9x slower on
// lavapipe at resnet18's conv1 (docs/PERFORMANCE.md).

layout(local_size_x = 16, local_size_x_id = 0) in;

layout(constant_id = 1) const uint TM = 8;
layout(constant_id = 2) const uint K = 4;
layout(constant_id = 3) const uint LDA = 4;
layout(constant_id = 4) const bool A_KCONTIG = true;
layout(constant_id = 5) const uint B_MODE = 0;
layout(constant_id = 6) const uint LDB = 4;
layout(constant_id = 7) const bool HAS_BIAS = false;
layout(constant_id = 8) const uint ACT = 0;
layout(constant_id = 9) const bool NCHW = false;
layout(constant_id = 10) const bool ROWS_FIRST = false;

const uint B_PANELS = 0;
const uint B_KCONTIG = 1;
const uint B_ROWMAJOR = 2;
const uint KFULL = K / 4;   // steps with 4 valid k
const uint KREM = K % 4;    // valid k in the last, partial step

#include "common.glsl"
#include "activation.glsl"

layout(set = 0, binding = 0) uniform textureBuffer A;
layout(set = 0, binding = 1) uniform textureBuffer B;
layout(set = 0, binding = 2) uniform textureBuffer bias;
layout(std430, set = 0, binding = 3) writeonly buffer CBuf { float data[]; } C;

layout(push_constant, std430) uniform Push {
    uint M;
    uint N;
    uint aS0;
    uint aS1;
    uint hw;
    uint row0;
    float alpha;
    float beta;
} pc;

vec4 acc[TM][2];
int aRow[TM];    // A_KCONTIG: texel of row i's first float
uint aShift[TM]; // A_KCONTIG: that float's position in its texel
int aBase;       // else: texel of this block at k = 0
int bCol[8];     // B_KCONTIG: texel of column j's first float
uint bShift[8];  // B_KCONTIG: that float's position in its texel
int bBase;       // B_PANELS: texel of this panel at k = 0;
                 // B_ROWMAJOR: float of this panel's first column at k = 0

// shift returns floats s..s+3 of the 8 floats in u, v.
vec4 shift(vec4 u, vec4 v, uint s) {
    if (s == 0) {
        return u;
    } else if (s == 1) {
        return vec4(u.yzw, v.x);
    } else if (s == 2) {
        return vec4(u.zw, v.xy);
    }
    return vec4(u.w, v.xyz);
}

// step accumulates k = 4q .. 4q + nk - 1 (nk <= 4; k beyond are ignored).
void step(uint q, uint nk) {
    // a[i][kk] = op(A)[row0 + i, 4q + kk]; b[kk][h] = op(B)[4q + kk, col0 + 4h..+3]
    vec4 a[TM];
    vec4 b[4][2];
    if (A_KCONTIG) {
        for (uint i = 0; i < TM; ++i) {
            vec4 u = texelFetch(A, aRow[i] + int(q));
            vec4 v = vec4(0.0);
            if (aShift[i] != 0) {
                v = texelFetch(A, aRow[i] + int(q) + 1);
            }
            a[i] = shift(u, v, aShift[i]);
        }
    } else {
        for (uint kk = 0; kk < nk; ++kk) {
            for (uint h = 0; h < TM / 4; ++h) {
                vec4 t = texelFetch(A, aBase + int((4 * q + kk) * pc.aS1 + h));
                a[4 * h + 0][kk] = t.x;
                a[4 * h + 1][kk] = t.y;
                a[4 * h + 2][kk] = t.z;
                a[4 * h + 3][kk] = t.w;
            }
        }
    }
    if (B_MODE == B_KCONTIG) {
        for (uint j = 0; j < 8; ++j) {
            vec4 u = texelFetch(B, bCol[j] + int(q));
            vec4 v = vec4(0.0);
            if (bShift[j] != 0) {
                v = texelFetch(B, bCol[j] + int(q) + 1);
            }
            vec4 t = shift(u, v, bShift[j]);
            b[0][j / 4][j % 4] = t.x;
            b[1][j / 4][j % 4] = t.y;
            b[2][j / 4][j % 4] = t.z;
            b[3][j / 4][j % 4] = t.w;
        }
    } else if (B_MODE == B_ROWMAJOR) {
        for (uint kk = 0; kk < nk; ++kk) {
            // The panel starts on a multiple of 8 floats of its row, so the
            // row's alignment decides the shift: known per kk.
            uint s = (kk * LDB) % 4;
            int t = (bBase + int((4 * q + kk) * LDB) - int(s)) / 4;
            vec4 u0 = texelFetch(B, t);
            vec4 u1 = texelFetch(B, t + 1);
            vec4 u2 = vec4(0.0);
            if (s != 0) {
                u2 = texelFetch(B, t + 2);
            }
            b[kk][0] = shift(u0, u1, s);
            b[kk][1] = shift(u1, u2, s);
        }
    } else {
        for (uint kk = 0; kk < nk; ++kk) {
            b[kk][0] = texelFetch(B, bBase + int((4 * q + kk) * 2));
            b[kk][1] = texelFetch(B, bBase + int((4 * q + kk) * 2 + 1));
        }
    }
    for (uint kk = 0; kk < nk; ++kk) {
        for (uint i = 0; i < TM; ++i) {
            acc[i][0] += a[i][kk] * b[kk][0];
            acc[i][1] += a[i][kk] * b[kk][1];
        }
    }
}

void main() {
    const uint id = linearIndex();
    uint blockRow, panel;
    if (ROWS_FIRST) {
        const uint blocks = (pc.M + TM - 1) / TM;
        panel = id / blocks;
        blockRow = id - panel * blocks;
        if (panel >= (pc.N + 7) / 8) {
            return;
        }
    } else {
        const uint panels = (pc.N + 7) / 8;
        blockRow = id / panels;
        panel = id - blockRow * panels;
    }
    const uint row0 = blockRow * TM;
    const uint col0 = panel * 8;
    if (row0 >= pc.M) {
        return;
    }

    for (uint i = 0; i < TM; ++i) {
        acc[i][0] = vec4(0.0);
        acc[i][1] = vec4(0.0);
    }
    if (A_KCONTIG) {
        for (uint i = 0; i < TM; ++i) {
            // With TM % 4 == 0, row0 % 4 == 0: the shift is known at
            // pipeline creation.
            uint s = TM % 4 == 0 ? (i * LDA) % 4 : ((row0 + i) * LDA) % 4;
            aShift[i] = s;
            aRow[i] = int(((row0 + i) * LDA - s) / 4);
        }
    } else {
        aBase = int(blockRow * pc.aS0);
    }
    if (B_MODE == B_KCONTIG) {
        for (uint j = 0; j < 8; ++j) {
            // col0 % 8 == 0: the shift is known at pipeline creation.
            uint s = (j * LDB) % 4;
            bShift[j] = s;
            bCol[j] = int(((col0 + j) * LDB - s) / 4);
        }
    } else if (B_MODE == B_ROWMAJOR) {
        bBase = int(col0);
    } else {
        bBase = int(panel * 2 * (4 * ((K + 3) / 4)));
    }

    for (uint q = 0; q < KFULL; ++q) {
        step(q, 4);
    }
    if (KREM != 0) {
        step(KFULL, KREM);
    }

    vec4 bv[2];
    if (HAS_BIAS) {
        bv[0] = texelFetch(bias, int(col0 / 4));
        bv[1] = texelFetch(bias, int(col0 / 4 + 1));
    }
    const uint N = pc.N;
    for (uint i = 0; i < TM; ++i) {
        uint r = row0 + i;
        if (r >= pc.M) {
            break;
        }
        uint cRow = r * N; // C's element of (r, col) is cRow + col * cCol
        uint cCol = 1;
        if (NCHW) {
            uint P = r + pc.row0;
            uint img = P / pc.hw;
            cRow = img * N * pc.hw + (P - img * pc.hw);
            cCol = pc.hw;
        }
        for (uint h = 0; h < 2; ++h) {
            vec4 v = acc[i][h];
            if (HAS_BIAS) {
                v += bv[h];
            }
            for (uint c = 0; c < 4; ++c) {
                uint col = col0 + 4 * h + c;
                if (col >= N) {
                    break;
                }
                C.data[cRow + col * cCol] = activate(ACT, v[c], pc.alpha, pc.beta);
            }
        }
    }
}
