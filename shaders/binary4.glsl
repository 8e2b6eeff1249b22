// binary4.glsl: the body of binary4.comp and binary4_texel.comp: y = a OP b
// four elements of y per invocation (binary.glsl's ops). The including
// shader defines loadA4(i) / loadB4(i) (the vec4 holding elements 4i..4i+3)
// and loadA(j) / loadB(j) (element j). Not compiled alone.
//
// MODE (spec constant), over y's count/4 vec4s, v = vec4 index of y:
//   1 same shape:  a4[v], b4[v].
//   2 b repeats:   a4[v], b4[v % (period/4)] (b a suffix of y's shape,
//                  period a multiple of 4).
//   3 a repeats:   a4[v % (period/4)], b4[v].
//   4 b spreads:   a4[v], every lane b[(4v / inner) % period] (y is
//                  [..., period, inner] with b [..., period, 1] or b
//                  [period, 1]: a per-channel scale, inner a multiple of 4).
//   5 a spreads:   likewise with a and b swapped.
// The host (layers/binary.go planBinary4) chooses; other broadcasts run
// binary.comp.
//
// push constants: uint count (vec4s of y), period, inner (elements);
//                 float alpha, beta
// spec constants: 0 local_size_x (default 64), 1 OP, 2 MODE
// grid:           ceil(count / local_size_x) workgroups, split over x and y
//                 when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;
layout(constant_id = 2) const uint MODE = 1;

const uint MODE_SAME = 1;
const uint MODE_B_REPEATS = 2;
const uint MODE_A_REPEATS = 3;
const uint MODE_B_SPREADS = 4;
const uint MODE_A_SPREADS = 5;

#include "common.glsl"

layout(push_constant, std430) uniform Push {
    uint count;
    uint period;
    uint inner;
    float alpha;
    float beta;
} pc;

#include "binary.glsl"

void main() {
    uint v = linearIndex();
    if (v >= pc.count) {
        return;
    }
    vec4 u;
    vec4 w;
    if (MODE == MODE_B_REPEATS) {
        u = loadA4(v);
        w = loadB4(v % (pc.period / 4));
    } else if (MODE == MODE_A_REPEATS) {
        u = loadA4(v % (pc.period / 4));
        w = loadB4(v);
    } else if (MODE == MODE_B_SPREADS) {
        u = loadA4(v);
        w = vec4(loadB(((4 * v) / pc.inner) % pc.period));
    } else if (MODE == MODE_A_SPREADS) {
        u = vec4(loadA(((4 * v) / pc.inner) % pc.period));
        w = loadB4(v);
    } else {
        u = loadA4(v);
        w = loadB4(v);
    }
    storeY4(v, apply4(u, w));
}
