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

#include "pool_shape.glsl"

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
