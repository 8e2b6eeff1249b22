#version 450
#extension GL_GOOGLE_include_directive : require
// strided.comp: the data-movement kernel (Transpose, Slice, Split, Pad, and
// any op that is an index mapping). For each output element i < count, with
// coordinates c_k over the output dimensions dims[0..RANK) (row-major),
//
//   j_k = lo[k] + c_k                      (source coordinate along k)
//   y[offY + i] = x[base + sum_k j_k * stride[k]]
//
// where, when j_k falls outside [0, inDims[k]), MODE decides:
//   0 inside    never happens (the host proved every j_k in range: Transpose,
//               Slice, Split; no checks compiled)
//   1 constant  y = value (Pad constant), or v[0] when VALUE_INPUT is 1 (a
//               constant_value computed at run time)
//   2 edge      j_k clamped to [0, inDims[k] - 1] (Pad edge)
//   3 reflect   j_k reflected about the ends without repeating them, with
//               period 2(inDims[k] - 1) (Pad reflect; numpy's rule)
//   4 wrap      j_k modulo inDims[k] (Pad wrap, opset 19)
// A stride may be negative (Slice with a negative step, base at the first
// element read) or 0. The host (layers.RecordStrided) merges dimensions
// that are contiguous in the source and checks every address is inside x.
// The value is copied bit for bit (NaN payloads, infinities and -0 survive)
// unless ROUND rounds it to a narrower float type held as float32 (Cast;
// ops.FloatRound): 1 binary16, 2 bfloat16, both to nearest even.
//
// bindings (set 0): 0 x (read-only), 1 y (write-only), 2 v (read-only; read
//                   only when VALUE_INPUT is 1, else any buffer, e.g. x)
// push constants:   uint count; int base; uint offY; float value;
//                   uint dims[6]; uint inDims[6]; int lo[6]; int stride[6]
//                   (112 bytes, inside the 128 every device has)
// spec constants:   0 local_size_x (default 64), 1 RANK (1..6), 2 MODE,
//                   3 VALUE_INPUT (0/1), 4 ROUND (0 none, 1 half, 2 bfloat16)
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint RANK = 1;
layout(constant_id = 2) const uint MODE = 0;
layout(constant_id = 3) const uint VALUE_INPUT = 0;
layout(constant_id = 4) const uint ROUND = 0;

const uint MODE_INSIDE = 0;
const uint MODE_CONSTANT = 1;
const uint MODE_EDGE = 2;
const uint MODE_REFLECT = 3;
const uint MODE_WRAP = 4;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;
layout(std430, set = 0, binding = 2) readonly buffer VBuf { float data[]; } v;

layout(push_constant, std430) uniform Push {
    uint count;
    int base;
    uint offY;
    float value;
    uint dims[6];
    uint inDims[6];
    int lo[6];
    int stride[6];
} pc;

// posMod is a mod b in [0, b) for b > 0, whatever a's sign.
int posMod(int a, int b) {
    int r = a % b;
    return r < 0 ? r + b : r;
}

// roundTo rounds f to binary16 (ROUND 1) or bfloat16 (ROUND 2) precision,
// to nearest even, as ops.FloatRound.Apply: the same bit operations.
float roundTo(float f) {
    uint u = floatBitsToUint(f);
    uint sign = u & 0x80000000u;
    uint a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        return f; // inf, NaN
    }
    if (ROUND == 1) {
        if (a >= 0x477ff000u) { // 65520 and up: past the largest half
            return uintBitsToFloat(sign | 0x7f800000u);
        }
        if (a < 0x38800000u) { // below 2^-14: multiples of 2^-24 (exact scaling)
            float q = roundEven(uintBitsToFloat(a) * 16777216.0) * (1.0 / 16777216.0);
            return uintBitsToFloat(sign | floatBitsToUint(q));
        }
        a += 0xfffu + ((a >> 13) & 1u);
        return uintBitsToFloat(sign | (a & ~0x1fffu));
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    return uintBitsToFloat(u & ~0xffffu);
}

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    uint rem = i;
    int src = pc.base;
    bool inside = true;
    for (int k = int(RANK) - 1; k >= 0; k--) {
        uint c = rem;
        if (k > 0) {
            c = rem % pc.dims[k];
            rem /= pc.dims[k];
        }
        int j = pc.lo[k] + int(c);
        if (MODE != MODE_INSIDE) {
            int n = int(pc.inDims[k]);
            if (j < 0 || j >= n) {
                if (MODE == MODE_CONSTANT) {
                    inside = false;
                } else if (MODE == MODE_EDGE) {
                    j = clamp(j, 0, n - 1);
                } else if (MODE == MODE_REFLECT) {
                    int p = 2 * (n - 1);
                    j = p == 0 ? 0 : posMod(j, p);
                    j = j >= n ? p - j : j;
                } else if (MODE == MODE_WRAP) {
                    j = posMod(j, n);
                }
            }
        }
        src += j * pc.stride[k];
    }
    float r;
    if (MODE != MODE_CONSTANT || inside) {
        r = x.data[src];
        if (ROUND != 0) {
            r = roundTo(r);
        }
    } else {
        r = VALUE_INPUT != 0 ? v.data[0] : pc.value;
    }
    y.data[pc.offY + i] = r;
}
