// common.glsl: helpers shared by the compute shaders. Included with
// #include "common.glsl" (GL_GOOGLE_include_directive); not compiled alone.
//
// NaN and infinity are tested on the bit pattern, not with isnan/isinf or
// comparisons, so that a driver compiling with relaxed float rules cannot
// fold the tests away.

#ifndef VKINFER_COMMON_GLSL
#define VKINFER_COMMON_GLSL

// IEEE-754 binary32 quiet NaN, written as bits so no arithmetic produces it.
#define VK_QNAN uintBitsToFloat(0x7fc00000u)
// Negative infinity, written as bits.
#define VK_NEG_INF uintBitsToFloat(0xff800000u)

bool isNaNBits(float v) {
    return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u;
}

bool isInfBits(float v) {
    return (floatBitsToUint(v) & 0x7fffffffu) == 0x7f800000u;
}

// expShifted (softmax) returns exp(v - m) for a non-NaN v and a finite row maximum m,
// so v - m <= 0. Below -104 the fp32 result is 0 (it also catches v = -inf
// and a difference that overflowed to -inf).
float expShifted(float v, float m) {
    float d = v - m;
    return d < -104.0 ? 0.0 : exp(d);
}

// softmaxResult is the output for element v of a row with finite maximum m
// and sum = sum_c exp(x - m) >= 1: softmax, or log-softmax when isLog.
float softmaxResult(float v, float m, float sum, bool isLog) {
    if (isLog) {
        return (v - m) - log(sum);
    }
    return expShifted(v, m) / sum;
}

// linearIndex returns the element index of this invocation for 1-D
// element-wise kernels. The engine dispatches a 2-D grid when the element
// count needs more than maxComputeWorkGroupCount[0] workgroups, so rows of
// the grid continue where the previous row ended. Callers guard
// `if (i >= count) return;`.
uint linearIndex() {
    return gl_GlobalInvocationID.x +
           gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
}

#endif
