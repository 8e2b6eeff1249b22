// strided.glsl: the body of strided.comp and strided_texel.comp (see
// strided.comp for what it computes). Not compiled alone: the including file
// declares binding 0 and loadX.

#ifndef VKINFER_STRIDED_GLSL
#define VKINFER_STRIDED_GLSL

#include "common.glsl"

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint RANK = 1;
layout(constant_id = 2) const uint MODE = 0;
layout(constant_id = 3) const uint VALUE_INPUT = 0;
layout(constant_id = 4) const uint ROUND = 0;
layout(constant_id = 5) const uint RUN = 1;

const uint MODE_INSIDE = 0;
const uint MODE_CONSTANT = 1;
const uint MODE_EDGE = 2;
const uint MODE_REFLECT = 3;
const uint MODE_WRAP = 4;


// binding 0 x is declared by the including file, with loadX(int i) reading
// element i of it.
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
    uint runs;
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

// mapCoord maps source coordinate j along dimension k by MODE; inside turns
// false where the constant is read.
int mapCoord(int k, int j, inout bool inside) {
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
    return j;
}

// Each invocation writes up to RUN consecutive output elements of one row
// (the last dimension, cut into pc.runs runs of RUN, the last one shorter):
// the divisions that find the coordinates are paid once per run.
void main() {
    uint g = linearIndex();
    if (g >= pc.count) {
        return;
    }
    const int last = int(RANK) - 1;
    uint row = g / pc.runs;
    int c0 = int(g - row * pc.runs) * int(RUN);
    int n = int(pc.dims[last]);
    uint i = row * uint(n) + uint(c0);
    uint rem = row;
    int src = pc.base;
    bool insideRow = true;
    for (int k = last - 1; k >= 0; k--) {
        uint c = rem;
        if (k > 0) {
            c = rem % pc.dims[k];
            rem /= pc.dims[k];
        }
        src += mapCoord(k, pc.lo[k] + int(c), insideRow) * pc.stride[k];
    }
    float fill = VALUE_INPUT != 0 ? v.data[0] : pc.value;
    for (int e = 0; e < int(RUN) && c0 + e < n; e++) {
        bool inside = insideRow;
        int j = mapCoord(last, pc.lo[last] + c0 + e, inside);
        float r = fill;
        if (MODE != MODE_CONSTANT || inside) {
            r = loadX(src + j * pc.stride[last]);
            if (ROUND != 0) {
                r = roundTo(r);
            }
        }
        y.data[pc.offY + i + uint(e)] = r;
    }
}

#endif
