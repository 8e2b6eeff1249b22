#version 450
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
// bench_primitives.comp: micro-kernels that time one primitive each, for
// TestPrimitiveCosts (layers/primitives_bench_test.go; docs/PERFORMANCE.md,
// "What each primitive costs on lavapipe"). Not used by any layer.
//
// MODE (spec constant 1) picks the primitive; R (2) is how many per
// iteration (or in all, where the loop is fully unrolled); ITER (3) the loop
// count. Every result feeds O so that nothing is optimised away.
//   0  R FMA chains, 1 FMA each per loop iteration
//   1  R FMA chains, 4 dependent FMAs each per loop iteration
//   2  R texel fetches (vec4, per-lane index), 8 independent sums, unrolled
//   3  R texel fetches, the index push constant + constant, unrolled
//   4  R storage-buffer loads (float, per-lane offset), 8 sums, unrolled
//   5  R storage-buffer loads, offset push constant + constant, unrolled
//   6  R storage-buffer stores (float, per-lane offset) per iteration
//   7  per iteration 1 FMA + 8 x (subgroupBroadcast, constant lane + FMA)
//   8  per iteration 1 FMA + 8 x (subgroupShuffle, constant index + FMA)
//   9  per iteration 1 FMA + 8 FMA (the baseline of 7 and 8)
//   10 per iteration: shared store, barrier, shared load, barrier
// bindings: 0 T (uniform texel buffer), 1 S (storage, read), 2 O (storage)
// push constants: uint base, uint mask (index mask), float m, float c

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;
layout(constant_id = 2) const uint R = 8;
layout(constant_id = 3) const uint ITER = 100;
layout(set = 0, binding = 0) uniform textureBuffer T;
layout(std430, set = 0, binding = 1) readonly buffer SBuf { float data[]; } S;
layout(std430, set = 0, binding = 2) buffer OBuf { float data[]; } O;
layout(push_constant, std430) uniform Push { uint base; uint mask; float m; float c; } pc;
shared float sh[64];

void main() {
    const uint lane = gl_LocalInvocationIndex;
    const uint gid = gl_GlobalInvocationID.x;
    float acc[64];
    [[unroll]] for (uint r = 0; r < 64; ++r) {
        acc[r] = float(gid + r);
    }
    float x = float(gid) * 0.001;
    const float m = pc.m;
    if (MODE == 0) {
        for (uint i = 0; i < ITER; ++i) {
            [[unroll]] for (uint r = 0; r < R; ++r) {
                acc[r] = fma(acc[r], m, x);
            }
        }
    } else if (MODE == 1) {
        const float x1 = x + 1.0, x2 = x + 2.0, x3 = x + 3.0;
        for (uint i = 0; i < ITER; ++i) {
            [[unroll]] for (uint r = 0; r < R; ++r) {
                acc[r] = fma(x3, m, fma(x2, m, fma(x1, m, fma(x, m, acc[r]))));
            }
        }
    } else if (MODE == 2 || MODE == 3) {
        vec4 a[8];
        [[unroll]] for (uint r = 0; r < 8; ++r) {
            a[r] = vec4(0.0);
        }
        [[unroll]] for (uint r = 0; r < R; ++r) {
            a[r % 8] += texelFetch(T, int(pc.base + (MODE == 2 ? r * 64 + lane : r)));
        }
        [[unroll]] for (uint r = 0; r < 8; ++r) {
            acc[r] = a[r].x + a[r].y + a[r].z + a[r].w;
        }
    } else if (MODE == 4 || MODE == 5) {
        [[unroll]] for (uint r = 0; r < R; ++r) {
            acc[r % 8] += S.data[pc.base + (MODE == 4 ? r * 64 + lane : r)];
        }
    } else if (MODE == 6) {
        for (uint i = 0; i < ITER; ++i) {
            [[unroll]] for (uint r = 0; r < R; ++r) {
                O.data[((i * R + r) * 64 + lane) & pc.mask] = x + float(r);
            }
        }
    } else if (MODE >= 7 && MODE <= 9) {
        for (uint i = 0; i < ITER; ++i) {
            x = fma(x, m, pc.c);
            if (MODE == 7) {
                acc[0] = fma(subgroupBroadcast(x, 0), m, acc[0]);
                acc[1] = fma(subgroupBroadcast(x, 1), m, acc[1]);
                acc[2] = fma(subgroupBroadcast(x, 2), m, acc[2]);
                acc[3] = fma(subgroupBroadcast(x, 3), m, acc[3]);
                acc[4] = fma(subgroupBroadcast(x, 0), m, acc[4]);
                acc[5] = fma(subgroupBroadcast(x, 1), m, acc[5]);
                acc[6] = fma(subgroupBroadcast(x, 2), m, acc[6]);
                acc[7] = fma(subgroupBroadcast(x, 3), m, acc[7]);
            } else if (MODE == 8) {
                [[unroll]] for (uint r = 0; r < 8; ++r) {
                    acc[r] = fma(subgroupShuffle(x, r % 4), m, acc[r]);
                }
            } else {
                [[unroll]] for (uint r = 0; r < 8; ++r) {
                    acc[r] = fma(x, m, acc[r]);
                }
            }
        }
    } else if (MODE == 10) {
        for (uint i = 0; i < ITER; ++i) {
            sh[lane] = x;
            barrier();
            x = fma(sh[(lane + 1) & 63], m, pc.c);
            barrier();
        }
        acc[0] = x;
    }
    float s = 0.0;
    [[unroll]] for (uint r = 0; r < 64; ++r) {
        s += acc[r];
    }
    O.data[gid] = s;
}
