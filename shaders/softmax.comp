#version 450
#extension GL_GOOGLE_include_directive : require
// softmax.comp: row-wise softmax over the last axis of a row-major
// rows x cols matrix: y[r][c] = exp(x[r][c] - m) / sum_c' exp(x[r][c'] - m),
// m = max_c x[r][c] (subtracting the max keeps rows like +-1e30 finite).
//
// bindings (set 0): 0 x (read-only), 1 y (write-only)
// push constants:   uint rows, cols
// spec constants:   0 local_size_x (default 64; any size works, a power of
//                   two is best; the engine keeps it <= the device maximum)
// grid:             one workgroup per row: `rows` workgroups, split over x and
//                   y when that exceeds the device's x limit
//                   (row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x).
//
// Special values (the same rules as layers/ref.Softmax):
//   - any NaN in a row makes the whole output row NaN (tested explicitly);
//   - otherwise the IEEE result of the formula: a +inf in the row gives
//     inf - inf = NaN, so the row is NaN; a row of only -inf gives
//     -inf - -inf = NaN, so the row is NaN; with a finite max, -inf elements
//     give exp(-inf) = 0.
// These are decided on bits and written as an explicit NaN, so they hold
// even where a driver's exp() is loose about infinities.
//
// Each invocation walks the row with stride local_size_x (any cols works),
// then partial results are combined by a shared-memory tree reduction that
// assumes nothing about subgroups. Three passes over the row: max, sum, write.

layout(local_size_x = 64, local_size_x_id = 0) in;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint rows;
    uint cols;
} pc;

shared float sMax[gl_WorkGroupSize.x];
shared uint sNaN[gl_WorkGroupSize.x];
shared float sSum[gl_WorkGroupSize.x];

// expShifted returns exp(v - m) for a non-NaN v and a finite row maximum m,
// so v - m <= 0. Below -104 the fp32 result is 0 (it also catches v = -inf
// and a difference that overflowed to -inf).
float expShifted(float v, float m) {
    float d = v - m;
    return d < -104.0 ? 0.0 : exp(d);
}

void main() {
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows) {
        return; // the whole workgroup leaves together: barriers stay uniform
    }
    const uint lid = gl_LocalInvocationID.x;
    const uint LS = gl_WorkGroupSize.x;
    const uint cols = pc.cols;
    const uint base = row * cols;

    // Pass 1: row maximum over non-NaN elements, and whether any NaN exists.
    float m = VK_NEG_INF;
    uint nan = 0;
    for (uint c = lid; c < cols; c += LS) {
        float v = x.data[base + c];
        if (isNaNBits(v)) {
            nan = 1;
        } else {
            m = max(m, v);
        }
    }
    sMax[lid] = m;
    sNaN[lid] = nan;
    barrier();
    for (uint s = 1; s < LS; s <<= 1) {
        if ((lid & (2 * s - 1)) == 0 && lid + s < LS) {
            sMax[lid] = max(sMax[lid], sMax[lid + s]);
            sNaN[lid] |= sNaN[lid + s];
        }
        barrier();
    }
    m = sMax[0];
    if (sNaN[0] != 0 || isInfBits(m)) {
        // Uniform across the workgroup: every invocation read the same values.
        for (uint c = lid; c < cols; c += LS) {
            y.data[base + c] = VK_QNAN;
        }
        return;
    }

    // Pass 2: sum of exp(x - m). The max element contributes exp(0) = 1, so sum >= 1.
    float sum = 0.0;
    for (uint c = lid; c < cols; c += LS) {
        sum += expShifted(x.data[base + c], m);
    }
    sSum[lid] = sum;
    barrier();
    for (uint s = 1; s < LS; s <<= 1) {
        if ((lid & (2 * s - 1)) == 0 && lid + s < LS) {
            sSum[lid] += sSum[lid + s];
        }
        barrier();
    }
    sum = sSum[0];

    // Pass 3: normalise.
    for (uint c = lid; c < cols; c += LS) {
        y.data[base + c] = expShifted(x.data[base + c], m) / sum;
    }
}
