#version 450
#extension GL_GOOGLE_include_directive : require
// gemm_pack.comp: lays a GEMM operand out for gemm_texel.comp, zero padded.
//
// The operand is read as an R x K matrix X with X[r, k] = src[r*rs + k*ks]
// (A: R = M; B: R = N, the columns of op(B); the strides express the
// transposes). K4 = 4*KT is K rounded up to a multiple of 4. Each invocation
// writes one vec4 (one RGBA32F texel) of dst:
//   KCONTIG:  texel t = r * KT + q holds X[r, 4q .. 4q+3]           (R * KT texels)
//   else:     panels of P rows (P a multiple of 4), K-major:
//             texel t = (p * K4 + k) * (P/4) + h holds X[p*P + 4h .. +3, k]
//                                                        (ceil(R/P) * K4 * P/4 texels)
// Elements outside X (r >= R or k >= K) are written as 0.
//
// bindings (set 0): 0 src (read-only), 1 dst (write-only, vec4)
// push constants:   uint R, K, KT, rs, ks, count (texels to write)
// spec constants:   0 local_size_x (default 64), 1 KCONTIG (bool), 2 P (default 8)
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const bool KCONTIG = true;
layout(constant_id = 2) const uint P = 8;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer SrcBuf { float data[]; } src;
layout(std430, set = 0, binding = 1) writeonly buffer DstBuf { vec4 data[]; } dst;

layout(push_constant, std430) uniform Push {
    uint R;
    uint K;
    uint KT;
    uint rs;
    uint ks;
    uint count;
} pc;

float at(uint r, uint k) {
    return (r < pc.R && k < pc.K) ? src.data[r * pc.rs + k * pc.ks] : 0.0;
}

void main() {
    uint t = linearIndex();
    if (t >= pc.count) {
        return;
    }
    vec4 v;
    if (KCONTIG) {
        uint r = t / pc.KT;
        uint k = (t - r * pc.KT) * 4;
        v = vec4(at(r, k), at(r, k + 1), at(r, k + 2), at(r, k + 3));
    } else {
        const uint H = P / 4;
        uint panel = t / (4 * pc.KT * H);
        uint rem = t - panel * (4 * pc.KT * H);
        uint k = rem / H;
        uint r = panel * P + (rem - k * H) * 4;
        v = vec4(at(r, k), at(r + 1, k), at(r + 2, k), at(r + 3, k));
    }
    dst.data[t] = v;
}
