// binary.glsl: the element-wise ops of binary.comp and binary4*.comp (see
// binary.comp for the ops, their numbering and their NaN/inf rules). The
// including shader declares the OP spec constant and a push-constant block
// pc with float alpha and beta. Not compiled alone.

#ifndef VKINFER_BINARY_GLSL
#define VKINFER_BINARY_GLSL

const uint OP_ADD = 0;
const uint OP_SUB = 1;
const uint OP_MUL = 2;
const uint OP_DIV = 3;
const uint OP_AXPBY = 4;
const uint OP_MAX = 5;
const uint OP_MIN = 6;
const uint OP_PRELU = 7;

// divide is u / v with Vulkan's accuracy guarantee (2.5 ULP) extended to
// every divisor: the guarantee covers |v| in [2^-126, 2^126] only (a GPU may
// divide by multiplying with an approximate 1/v, which flushes to 0 for
// larger |v|), so larger divisors are scaled into range by an exact power of
// two first. inf and NaN divisors stay inf and NaN. Denormal divisors are
// left to the driver (one that flushes them to zero gives +-inf).
float divide(float u, float v) {
    if (abs(v) > uintBitsToFloat(0x7e800000u)) { // 2^126
        u *= 0.25;
        v *= 0.25;
    }
    return u / v;
}

float apply(float u, float v) {
    if (OP == OP_ADD) {
        return u + v;
    } else if (OP == OP_SUB) {
        return u - v;
    } else if (OP == OP_MUL) {
        return u * v;
    } else if (OP == OP_DIV) {
        return divide(u, v);
    } else if (OP == OP_MAX) {
        return u < v ? v : u;
    } else if (OP == OP_MIN) {
        return u > v ? v : u;
    } else if (OP == OP_PRELU) {
        return u < 0.0 ? u * v : u;
    }
    return pc.alpha * u + pc.beta * v;
}

vec4 apply4(vec4 u, vec4 v) {
    return vec4(apply(u.x, v.x), apply(u.y, v.y), apply(u.z, v.z), apply(u.w, v.w));
}

#endif
