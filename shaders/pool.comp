#version 450
#extension GL_GOOGLE_include_directive : require
// pool.comp: 2-D MaxPool / AveragePool (ONNX, NCHW) and GlobalAveragePool
// (a window of the whole plane); one invocation per output element. The
// reference is layers/ref.MaxPool / AveragePool; 1-D pools run with H = KH = 1.
//
// MODE (spec constant):
//   0 max                  over the window's positions inside the input; a NaN
//                          there gives NaN; no position inside gives -inf
//   1 average, count_include_pad = 0: sum / positions inside the input
//   2 average, count_include_pad = 1: sum / positions inside the padded
//                          input (beyond the end padding, which ceil_mode
//                          makes, does not count)
//
// bindings (set 0): 0 x [N, C, H, W], 1 y [N, C, OH, OW]
// push constants:   see Push
// spec constants:   0 local_size_x, 1 MODE
// grid:             ceil(N*C*OH*OW / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

#include "common.glsl"

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N*C*OH*OW
    uint H, W;
    uint OH, OW;
    uint KH, KW;
    uint SH, SW;
    uint DH, DW;
    int padT, padL;
    int endH, endW; // H + padB, W + padR
} pc;

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint ow = idx % pc.OW;
    uint t = idx / pc.OW;
    uint oh = t % pc.OH;
    uint nc = t / pc.OH;
    int ih0 = int(oh * pc.SH) - pc.padT;
    int iw0 = int(ow * pc.SW) - pc.padL;
    uint plane = nc * pc.H * pc.W;
    float acc = MODE == 0 ? VK_NEG_INF : 0.0;
    bool nan = false;
    uint inside = 0;
    uint padded = 0;
    for (uint i = 0; i < pc.KH; i++) {
        int ih = ih0 + int(i * pc.DH);
        if (ih >= pc.endH) {
            break;
        }
        for (uint j = 0; j < pc.KW; j++) {
            int iw = iw0 + int(j * pc.DW);
            if (iw >= pc.endW) {
                break;
            }
            padded++;
            if (ih < 0 || ih >= int(pc.H) || iw < 0 || iw >= int(pc.W)) {
                continue;
            }
            inside++;
            float v = x.data[plane + uint(ih) * pc.W + uint(iw)];
            if (MODE == 0) {
                nan = nan || isNaNBits(v);
                acc = v > acc ? v : acc;
            } else {
                acc += v;
            }
        }
    }
    float r;
    if (MODE == 0) {
        r = nan ? VK_QNAN : acc;
    } else {
        uint div = MODE == 1 ? inside : padded;
        r = div == 0 ? VK_QNAN : acc / float(div);
    }
    y.data[idx] = r;
}
