#version 450
#extension GL_GOOGLE_include_directive : require
// reduce.comp: y[o] = finish(init (+) term(x[e]) over the reduced elements e of
// output o), the ONNX reductions (ops.Reduce has the same rules).
//
// OP (spec constant): ops.ReduceOp, the same numbering:
//   0 sum        init 0, term x, combine +
//   1 mean       sum / n (n = 0: NaN)
//   2 max        init -inf, combine max (NaN if either is NaN)
//   3 min        init +inf, combine min (likewise)
//   4 prod       init 1, combine *
//   5 l1         term |x|, combine +
//   6 l2         term x*x, combine +, finish sqrt
//   7 sumsquare  term x*x, combine +
//   8 logsum     sum, finish log (0 gives -inf, below 0 NaN, +inf stays)
//   9 logsumexp  two passes: m = max (as 2), then m + log(sum exp(x - m));
//                NaN if any is NaN, m itself when it is +-inf
// Accumulation is in fp32: sums whose partial results overflow give +-inf,
// as do squares of values beyond 1.8e19 (the float64 reference may be finite).
//
// Loop bound: lavapipe (Mesa 22's gallivm) counts the loop iterations of an
// invocation, all loops together, and silently leaves every loop after
// 65,535 of them (a guard against endless loops). The host keeps each
// invocation under that (layers.MaxReduceIterations): the serial form
// for short reductions only, the tree form up to ~60,000 * local_size_x.
//
// Indexing: the host merges the input's axes into at most 4 kept groups and
// 4 reduced groups (innermost first; unused ones have size 1). Output o is
// row-major over the kept groups: o = sum o_i * prod_{j<i} ks[j], and reads
// from base(o) = sum o_i * kst[i]; reduced element k = sum k_i * prod rs[j<i]
// is at base(o) + sum k_i * rst[i]. rsize = prod rs.
//
// bindings (set 0): 0 x (read-only), 1 y (write-only)
// push constants:   uint count (outputs), rsize; uint ks[4], kst[4], rs[4], rst[4]
// spec constants:   0 local_size_x (default 64), 1 OP,
//                   2 SERIAL (bool): one invocation per output, summing in order
//                     (short reductions, CPU drivers) instead of one workgroup
//                     per output with a shared-memory tree
// grid:             SERIAL: ceil(count / local_size_x) workgroups, split as for
//                   element-wise kernels (linearIndex). Otherwise `count`
//                   workgroups, split over x and y when that exceeds the x limit
//                   (o = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x).

layout(local_size_x = 64, local_size_x_id = 0) in;

layout(constant_id = 1) const uint OP = 0;
layout(constant_id = 2) const bool SERIAL = false;

const uint OP_SUM = 0;
const uint OP_MEAN = 1;
const uint OP_MAX = 2;
const uint OP_MIN = 3;
const uint OP_PROD = 4;
const uint OP_L1 = 5;
const uint OP_L2 = 6;
const uint OP_SUMSQUARE = 7;
const uint OP_LOGSUM = 8;
const uint OP_LOGSUMEXP = 9;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count;
    uint rsize;
    uint ks[4];
    uint kst[4];
    uint rs[4];
    uint rst[4];
} pc;

shared float sAcc[gl_WorkGroupSize.x];

// OP_LSE_SUM is logsumexp's second pass (not a host value): sum of
// exp(x - m) for the row maximum m.
const uint OP_LSE_SUM = 100;

float initial(uint op) {
    if (op == OP_MAX) {
        return VK_NEG_INF;
    } else if (op == OP_MIN) {
        return uintBitsToFloat(0x7f800000u);
    } else if (op == OP_PROD) {
        return 1.0;
    }
    return 0.0;
}

float term(uint op, float v, float m) {
    if (op == OP_L1) {
        return abs(v);
    } else if (op == OP_L2 || op == OP_SUMSQUARE) {
        return v * v;
    } else if (op == OP_LSE_SUM) {
        return expShifted(v, m); // v <= m, finite m; exp(-inf) = 0
    }
    return v;
}

float combine(uint op, float a, float b) {
    if (op == OP_MAX || op == OP_MIN) {
        // GLSL's max/min are undefined for NaN: decide on the bits.
        if (isNaNBits(a) || isNaNBits(b)) {
            return VK_QNAN;
        }
        return op == OP_MAX ? max(a, b) : min(a, b);
    } else if (op == OP_PROD) {
        return a * b;
    }
    return a + b;
}

float finish(float acc) {
    if (OP == OP_MEAN) {
        return pc.rsize == 0 ? VK_QNAN : acc / float(pc.rsize);
    } else if (OP == OP_L2) {
        return isNaNBits(acc) || isInfBits(acc) ? acc : sqrt(acc);
    } else if (OP == OP_LOGSUM) {
        if (isNaNBits(acc) || acc < 0.0) {
            return VK_QNAN;
        } else if (acc == 0.0) {
            return VK_NEG_INF;
        }
        return isInfBits(acc) ? acc : log(acc);
    }
    return acc;
}

// baseOf is where output o's reduced elements start.
uint baseOf(uint o) {
    uint b = 0;
    for (uint i = 0; i < 4; ++i) {
        uint q = o / pc.ks[i];
        b += (o - q * pc.ks[i]) * pc.kst[i];
        o = q;
    }
    return b;
}

// offsetOf is the offset of reduced element k from its output's base.
uint offsetOf(uint k) {
    uint b = 0;
    for (uint i = 0; i < 4; ++i) {
        uint q = k / pc.rs[i];
        b += (k - q * pc.rs[i]) * pc.rst[i];
        k = q;
    }
    return b;
}

// reduceSerial is one pass of op over output o's elements by one invocation.
float reduceSerial(uint op, uint base, float m) {
    float acc = initial(op);
    for (uint i3 = 0; i3 < pc.rs[3]; ++i3) {
        for (uint i2 = 0; i2 < pc.rs[2]; ++i2) {
            for (uint i1 = 0; i1 < pc.rs[1]; ++i1) {
                uint off = base + i3 * pc.rst[3] + i2 * pc.rst[2] + i1 * pc.rst[1];
                for (uint i0 = 0; i0 < pc.rs[0]; ++i0) {
                    acc = combine(op, acc, term(op, x.data[off + i0 * pc.rst[0]], m));
                }
            }
        }
    }
    return acc;
}

// reduceTree is one pass of op over output o's elements by the workgroup
// (called by all of it): strided partial results, then a shared-memory tree.
float reduceTree(uint op, uint base, float m) {
    const uint lid = gl_LocalInvocationID.x;
    const uint LS = gl_WorkGroupSize.x;
    float acc = initial(op);
    for (uint k = lid; k < pc.rsize; k += LS) {
        acc = combine(op, acc, term(op, x.data[base + offsetOf(k)], m));
    }
    sAcc[lid] = acc;
    barrier();
    for (uint s = 1; s < LS; s <<= 1) {
        if ((lid & (2 * s - 1)) == 0 && lid + s < LS) {
            sAcc[lid] = combine(op, sAcc[lid], sAcc[lid + s]);
        }
        barrier();
    }
    float r = sAcc[0];
    barrier(); // a next pass overwrites sAcc
    return r;
}

void main() {
    uint o;
    if (SERIAL) {
        o = linearIndex();
        if (o >= pc.count) {
            return;
        }
    } else {
        o = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
        if (o >= pc.count) {
            return; // the whole workgroup leaves together: barriers stay uniform
        }
    }
    const uint base = baseOf(o);
    float r;
    if (OP == OP_LOGSUMEXP) {
        float m = SERIAL ? reduceSerial(OP_MAX, base, 0.0) : reduceTree(OP_MAX, base, 0.0);
        if (isNaNBits(m) || isInfBits(m)) {
            r = m; // NaN, +inf, or -inf for all -inf (or no elements)
        } else {
            float sum = SERIAL ? reduceSerial(OP_LSE_SUM, base, m) : reduceTree(OP_LSE_SUM, base, m);
            r = m + log(sum); // sum >= 1: the maximum contributes exp(0)
        }
    } else {
        r = finish(SERIAL ? reduceSerial(OP, base, 0.0) : reduceTree(OP, base, 0.0));
    }
    if (SERIAL || gl_LocalInvocationID.x == 0) {
        y.data[o] = r;
    }
}
