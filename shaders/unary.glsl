// unary.glsl: the element-wise ops of unary.comp and unary4*.comp (see
// unary.comp for the ops, their numbering and their NaN/inf rules). The
// including shader declares the OP spec constant and a push-constant
// block pc with float alpha and beta. Not compiled alone.

#ifndef VKINFER_UNARY_GLSL
#define VKINFER_UNARY_GLSL

const uint OP_IDENTITY = 0;
const uint OP_RELU = 1;
const uint OP_LEAKY = 2;
const uint OP_SIGMOID = 3;
const uint OP_TANH = 4;
const uint OP_CLIP = 5;
const uint OP_NEG = 6;
const uint OP_HARDSIGMOID = 7;
const uint OP_HARDSWISH = 8;

#include "common.glsl"
#include "activation.glsl"

float sigmoid(float v) {
    // t = exp(-|v|) in (0, 1]; exp(-104) is 0 in fp32, so clamping |v| there
    // changes nothing and keeps -inf and huge values out of exp().
    float t = exp(-min(abs(v), 104.0));
    float s = 1.0 / (1.0 + t); // sigmoid(|v|), in [0.5, 1]
    return v >= 0.0 ? s : t * s; // sigmoid(-|v|) = t / (1 + t)
}

float tanhStable(float v) {
    float z = abs(v);
    float r;
    if (z < 0.625) {
        // Cephes tanhf: odd minimax polynomial, |v| < 0.625.
        float s = z * z;
        r = ((((-5.70498872745e-3 * s + 2.06390887954e-2) * s - 5.37397155531e-2) * s +
              1.33314422036e-1) * s - 3.33332819422e-1) * s * z + z;
    } else {
        // tanh(z) = 1 - 2 / (exp(2z) + 1); tanh(10) rounds to 1 in fp32, so
        // clamping z keeps exp() finite.
        float e = exp(2.0 * min(z, 10.0));
        r = 1.0 - 2.0 / (e + 1.0);
    }
    return v < 0.0 ? -r : r;
}

float unaryOp(float v) {
    float r = v;
    if (OP == OP_RELU) {
        r = v < 0.0 ? 0.0 : v;
    } else if (OP == OP_LEAKY) {
        r = v < 0.0 ? pc.alpha * v : v;
    } else if (OP == OP_SIGMOID) {
        r = isNaNBits(v) ? v : sigmoid(v);
    } else if (OP == OP_TANH) {
        r = isNaNBits(v) ? v : tanhStable(v);
    } else if (OP == OP_CLIP) {
        r = v < pc.alpha ? pc.alpha : v;
        r = r > pc.beta ? pc.beta : r;
    } else if (OP == OP_NEG) {
        r = -v;
    } else if (OP == OP_HARDSIGMOID) {
        r = activate(ACT_HARDSIGMOID, v, pc.alpha, pc.beta);
    } else if (OP == OP_HARDSWISH) {
        r = activate(ACT_HARDSWISH, v, 0.0, 0.0);
    }
    return r;
}

#endif
