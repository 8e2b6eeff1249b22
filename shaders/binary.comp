#version 450
#extension GL_GOOGLE_include_directive : require
// binary.comp: y = a OP b element-wise, with numpy (ONNX multidirectional)
// broadcasting of a and b to y's shape.
//
// OP (spec constant): 0 add, 1 sub, 2 mul, 3 div, 4 axpby (y = alpha*a + beta*b,
// alpha and beta from push constants; Gemm's epilogue), 5 max (u < v ? v : u),
// 6 min (u > v ? v : u) -- Clip's comparisons: NaN in a stays NaN, a NaN b is
// ignored (Clip with bounds computed at run time), 7 prelu (u < 0 ? u * v : u,
// v the slope: NaN and -0 in a stay). Each op is the plain
// IEEE expression, so NaN and infinities follow IEEE rules (x/0 = inf,
// 0/0 = NaN, inf - inf = NaN) as far as the driver's arithmetic does; see
// divide() for division by huge values.
//
// Indexing (spec constant MODE), all over y's `count` elements, i = y index:
//   0 general: y's shape is dims[0..rank) (row-major, rank <= 6, already
//     coalesced by the host), and element i reads a[sum coord_d * sa[d]] and
//     b[sum coord_d * sb[d]]; a stride of 0 broadcasts along that dimension.
//   1 same shape: a[i], b[i].
//   2 b repeats: a[i], b[i % period] (b is a suffix of y's shape: a bias
//     row, or a scalar with period 1).
//   3 a repeats: a[i % period], b[i].
// Modes 1 to 3 are the fast paths; the host chooses (layers/binary.go).
//
// bindings (set 0): 0 a (read-only), 1 b (read-only), 2 y (write-only)
// push constants:   uint count, rank, period; float alpha, beta;
//                   uint dims[6], sa[6], sb[6]
// spec constants:   0 local_size_x (default 64), 1 OP, 2 MODE
// grid:             ceil(count / local_size_x) workgroups, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;
layout(constant_id = 2) const uint MODE = 0;

const uint MODE_GENERAL = 0;
const uint MODE_SAME = 1;
const uint MODE_B_REPEATS = 2;
const uint MODE_A_REPEATS = 3;

const uint MAX_RANK = 6;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float data[]; } a;
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float data[]; } b;
layout(std430, set = 0, binding = 2) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint rank;
    uint period;
    float alpha;
    float beta;
    uint dims[MAX_RANK];
    uint sa[MAX_RANK];
    uint sb[MAX_RANK];
} pc;

#include "binary.glsl"

void main() {
    uint i = linearIndex();
    if (i >= pc.count) {
        return;
    }
    uint ia = i;
    uint ib = i;
    if (MODE == MODE_GENERAL) {
        ia = 0;
        ib = 0;
        uint rem = i;
        for (uint k = 0; k < pc.rank; ++k) {
            uint d = pc.rank - 1 - k;
            uint n = pc.dims[d];
            uint q = rem / n;
            uint c = rem - q * n;
            rem = q;
            ia += c * pc.sa[d];
            ib += c * pc.sb[d];
        }
    } else if (MODE == MODE_B_REPEATS) {
        ib = i % pc.period;
    } else if (MODE == MODE_A_REPEATS) {
        ia = i % pc.period;
    }
    y.data[i] = apply(a.data[ia], b.data[ib]);
}
