#version 450
#extension GL_GOOGLE_include_directive : require
// softmax.comp: softmax (or log-softmax) along one axis. The tensor is read
// as rows of `cols` elements: row r = o * inner + j (o < rows / inner,
// j < inner) holds x[o*cols*inner + c*inner + j] for c < cols, so inner = 1 is
// a row-major rows x cols matrix (the last axis) and inner > 1 an inner axis
// with the product of the later dimensions as its stride.
//
//   softmax:      y = exp(x - m) / sum_c exp(x - m)
//   log-softmax:  y = (x - m) - log(sum_c exp(x - m))       (LOG = true)
//   m = max_c x (subtracting it keeps rows like +-1e30 finite).
//
// bindings (set 0): 0 x (read-only), 1 y (write-only)
// push constants:   uint rows, cols, inner (rows is a multiple of inner)
// spec constants:   0 local_size_x (default 64; any size works, a power of
//                   two is best; the engine keeps it <= the device maximum)
//                   1 LOG (bool): log-softmax
//                   2 SERIAL (bool): one invocation per row instead of one
//                     workgroup per row (for short rows; with inner > 1
//                     neighbouring invocations read neighbouring elements)
// grid:             SERIAL false: one workgroup per row: `rows` workgroups,
//                   split over x and y when that exceeds the device's x limit
//                   (row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x).
//                   SERIAL true: ceil(rows / local_size_x) workgroups, split
//                   as for element-wise kernels (see linearIndex).
//
// Special values (the same rules as ops.Softmax and SoftmaxAxis):
//   - any NaN in a row makes the whole output row NaN (tested explicitly);
//   - otherwise the IEEE result of the formula: a +inf in the row gives
//     inf - inf = NaN, so the row is NaN; a row of only -inf gives
//     -inf - -inf = NaN, so the row is NaN; with a finite max, -inf elements
//     give exp(-inf) = 0 (log-softmax: -inf).
// These are decided on bits and written as an explicit NaN, so they hold
// even where a driver's exp() is loose about infinities.
//
// Without SERIAL each invocation walks the row with stride local_size_x (any
// cols works), then partial results are combined by a shared-memory tree
// reduction that assumes nothing about subgroups. Three passes over the row:
// max, sum, write.

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const bool LOG = false;
layout(constant_id = 2) const bool SERIAL = false;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint rows;
    uint cols;
    uint inner;
} pc;

shared float sMax[gl_WorkGroupSize.x];
shared uint sNaN[gl_WorkGroupSize.x];
shared float sSum[gl_WorkGroupSize.x];

// rowSerial is the whole softmax of one row by one invocation.
void rowSerial(uint base, uint stride, uint cols) {
    float m = VK_NEG_INF;
    bool nan = false;
    for (uint c = 0; c < cols; ++c) {
        float v = x.data[base + c * stride];
        if (isNaNBits(v)) {
            nan = true;
        } else {
            m = max(m, v);
        }
    }
    if (nan || isInfBits(m)) {
        for (uint c = 0; c < cols; ++c) {
            y.data[base + c * stride] = VK_QNAN;
        }
        return;
    }
    float sum = 0.0;
    for (uint c = 0; c < cols; ++c) {
        sum += expShifted(x.data[base + c * stride], m);
    }
    for (uint c = 0; c < cols; ++c) {
        y.data[base + c * stride] = softmaxResult(x.data[base + c * stride], m, sum, LOG);
    }
}

void main() {
    const uint cols = pc.cols;
    const uint stride = pc.inner;
    if (SERIAL) {
        uint row = linearIndex();
        if (row >= pc.rows) {
            return;
        }
        uint o = row / stride;
        rowSerial(o * cols * stride + (row - o * stride), stride, cols);
        return;
    }
    const uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= pc.rows) {
        return; // the whole workgroup leaves together: barriers stay uniform
    }
    const uint lid = gl_LocalInvocationID.x;
    const uint LS = gl_WorkGroupSize.x;
    const uint o = row / stride;
    const uint base = o * cols * stride + (row - o * stride);

    // Pass 1: row maximum over non-NaN elements, and whether any NaN exists.
    float m = VK_NEG_INF;
    uint nan = 0;
    for (uint c = lid; c < cols; c += LS) {
        float v = x.data[base + c * stride];
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
            y.data[base + c * stride] = VK_QNAN;
        }
        return;
    }

    // Pass 2: sum of exp(x - m). The max element contributes exp(0) = 1, so sum >= 1.
    float sum = 0.0;
    for (uint c = lid; c < cols; c += LS) {
        sum += expShifted(x.data[base + c * stride], m);
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
        y.data[base + c * stride] = softmaxResult(x.data[base + c * stride], m, sum, LOG);
    }
}
