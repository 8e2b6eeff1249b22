// activation.glsl: the element-wise activations fused into conv.comp (and
// other producers) through a specialization constant ACT, with parameters
// alpha and beta. Included; not compiled alone. Same rules as
// layers/ref.Activate (kept in the same order as ref.Act*):
//   0 none        x
//   1 relu        x < 0 ? 0 : x
//   2 clip        x < alpha ? alpha : x, then > beta ? beta : x (ReLU6: 0, 6)
//   3 leakyrelu   x < 0 ? alpha * x : x
//   4 hardsigmoid clamp(alpha * x + beta, 0, 1)
//   5 hardswish   x * clamp(x / 6 + 1/2, 0, 1)
//   6 sigmoid     1 / (1 + exp(-x)), stable
//   7 silu        x * sigmoid(x)
// NaN stays NaN in every case (comparisons are false for NaN).

#ifndef VKINFER_ACTIVATION_GLSL
#define VKINFER_ACTIVATION_GLSL

const uint ACT_NONE = 0;
const uint ACT_RELU = 1;
const uint ACT_CLIP = 2;
const uint ACT_LEAKY = 3;
const uint ACT_HARDSIGMOID = 4;
const uint ACT_HARDSWISH = 5;
const uint ACT_SIGMOID = 6;
const uint ACT_SILU = 7;

float actSigmoid(float v) {
    float t = exp(-min(abs(v), 104.0));
    float s = 1.0 / (1.0 + t);
    return v >= 0.0 ? s : t * s;
}

// clamp01 keeps NaN (GLSL's clamp may not).
float clamp01(float v) {
    v = v < 0.0 ? 0.0 : v;
    return v > 1.0 ? 1.0 : v;
}

// activate needs common.glsl (isNaNBits) included first.
float activate(uint act, float v, float alpha, float beta) {
    if (act == ACT_NONE || isNaNBits(v)) {
        return v;
    } else if (act == ACT_RELU) {
        return v < 0.0 ? 0.0 : v;
    } else if (act == ACT_CLIP) {
        v = v < alpha ? alpha : v;
        return v > beta ? beta : v;
    } else if (act == ACT_LEAKY) {
        return v < 0.0 ? alpha * v : v;
    } else if (act == ACT_HARDSIGMOID) {
        return clamp01(alpha * v + beta);
    } else if (act == ACT_HARDSWISH) {
        return v * clamp01(v * (1.0 / 6.0) + 0.5);
    } else if (act == ACT_SIGMOID) {
        return actSigmoid(v);
    } else if (act == ACT_SILU) {
        return v * actSigmoid(v);
    }
    return v;
}

#endif
