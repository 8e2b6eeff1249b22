// pool.glsl: 2-D MaxPool / AveragePool (ONNX, NCHW) and GlobalAveragePool
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
// Compiled twice: pool.comp reads x as a storage buffer, pool_texel.comp
// (POOL_TEXEL, for lavapipe, where a storage load whose address differs per
// lane is a loop over the lanes) through an RGBA32F uniform texel buffer.
//
// bindings (set 0): 0 x [N, C, H, W], 1 y [N, C, OH, OW]
// push constants:   uint count = N*C*OH*OW
// spec constants:   0 local_size_x, 1 MODE, 2.. the shape (below: divisions
//                   by constants become multiplications, loops unroll; the
//                   pipeline is per layer)
// grid:             ceil(N*C*OH*OW / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

#include "common.glsl"

#ifdef POOL_TEXEL
layout(set = 0, binding = 0) uniform textureBuffer X;
float loadX(uint i) { return texelFetch(X, int(i >> 2))[i & 3]; }
#else
layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;
float loadX(uint i) { return x.data[i]; }
#endif
layout(std430, set = 0, binding = 1) writeonly buffer YBuf { float data[]; } y;

layout(push_constant, std430) uniform Push {
    uint count; // N*C*OH*OW
} pc;

layout(constant_id = 2) const uint H = 1;
layout(constant_id = 3) const uint W = 1;
layout(constant_id = 4) const uint OH = 1;
layout(constant_id = 5) const uint OW = 1;
layout(constant_id = 6) const uint KH = 1;
layout(constant_id = 7) const uint KW = 1;
layout(constant_id = 8) const uint SH = 1;
layout(constant_id = 9) const uint SW = 1;
layout(constant_id = 10) const uint DH = 1;
layout(constant_id = 11) const uint DW = 1;
layout(constant_id = 12) const int PAD_T = 0;
layout(constant_id = 13) const int PAD_L = 0;
layout(constant_id = 14) const int END_H = 1; // H + padB
layout(constant_id = 15) const int END_W = 1; // W + padR

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint ow = idx % OW;
    uint t = idx / OW;
    uint oh = t % OH;
    uint nc = t / OH;
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow * SW) - PAD_L;
    uint plane = nc * H * W;
    float acc = MODE == 0 ? VK_NEG_INF : 0.0;
    bool nan = false;
    uint inside = 0;
    uint padded = 0;
    for (uint i = 0; i < KH; i++) {
        int ih = ih0 + int(i * DH);
        if (ih >= END_H) {
            break;
        }
        for (uint j = 0; j < KW; j++) {
            int iw = iw0 + int(j * DW);
            if (iw >= END_W) {
                break;
            }
            padded++;
            if (ih < 0 || ih >= int(H) || iw < 0 || iw >= int(W)) {
                continue;
            }
            inside++;
            float v = loadX(plane + uint(ih) * W + uint(iw));
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
