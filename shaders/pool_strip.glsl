// pool_strip.glsl: pool.glsl's MaxPool / AveragePool with a strip of STRIP
// outputs along a row per invocation: each input row the strip's windows
// cover is loaded once into registers (SPAN values) and every output of the
// strip reads its taps from there, where pool.glsl loads every tap of every
// output (3x3 stride 2, STRIP 4: 9 floats a row instead of 12 loads; with
// texel loads, 3 or 4 aligned texels shifted into place). Same MODEs, NaN rules and counts as pool.glsl; the
// reference is ops.MaxPool / AveragePool.
//
// Compiled twice: pool_strip.comp (x a storage buffer) and
// pool_strip_texel.comp (POOL_TEXEL: an RGBA32F uniform texel buffer, for
// lavapipe).
//
// bindings (set 0): 0 x [N, C, H, W], 1 y [N, C, OH, OW]
// push constants:   uint count = N*C*OH*ceil(OW / STRIP)
// spec constants:   0 local_size_x, 1 MODE, 2..15 the shape as pool.glsl,
//                   16 STRIP (outputs per invocation)
// grid:             ceil(count / local_size_x), split as in linearIndex

layout(local_size_x = 64, local_size_x_id = 0) in;
layout(constant_id = 1) const uint MODE = 0;

#include "pool_shape.glsl"
layout(constant_id = 16) const uint STRIP = 4;

const uint STRIPS = (OW + STRIP - 1) / STRIP;     // strips per output row
const uint SPAN = (STRIP - 1) * SW + (KW - 1) * DW + 1; // input columns a strip reads
const uint NT = (SPAN + 6) / 4;                         // texels holding SPAN floats at any alignment
#ifdef POOL_TEXEL
#include "texel_span.glsl"
#endif

// loadRow sets row[k] = x[base + iw0 + k] where 0 <= iw0 + k < W, else 0
// (base: the float index of an input row's first column). With texel
// loads: texel_span.glsl's aligned texels shifted into place.
void loadRow(out float row[SPAN], uint base, int iw0) {
#ifdef POOL_TEXEL
    fetchSpan(int(base) + iw0);
    for (uint k = 0; k < SPAN; k++) {
        row[k] = uint(iw0 + int(k)) < W ? spanAt(k) : 0.0;
    }
#else
    for (uint k = 0; k < SPAN; k++) {
        int iw = iw0 + int(k);
        row[k] = 0.0;
        if (iw >= 0 && iw < int(W)) {
            row[k] = loadX(base + uint(iw));
        }
    }
#endif
}

void main() {
    uint idx = linearIndex();
    if (idx >= pc.count) {
        return;
    }
    uint s = idx % STRIPS;
    uint t = idx / STRIPS;
    uint oh = t % OH;
    uint nc = t / OH;
    uint ow0 = s * STRIP;
    int ih0 = int(oh * SH) - PAD_T;
    int iw0 = int(ow0 * SW) - PAD_L;
    uint plane = nc * H * W;
    float acc[STRIP];
    bool nan[STRIP];
    uint inside[STRIP];
    uint padded[STRIP];
    for (uint o = 0; o < STRIP; o++) {
        acc[o] = MODE == 0 ? VK_NEG_INF : 0.0;
        nan[o] = false;
        inside[o] = 0;
        padded[o] = 0;
    }
    float row[SPAN];
    for (uint i = 0; i < KH; i++) {
        int ih = ih0 + int(i * DH);
        if (ih >= END_H) {
            break;
        }
        bool rowIn = ih >= 0 && ih < int(H);
        if (rowIn) {
            loadRow(row, plane + uint(ih) * W, iw0);
        }
        for (uint o = 0; o < STRIP; o++) {
            for (uint j = 0; j < KW; j++) {
                uint k = o * SW + j * DW;
                int iw = iw0 + int(k);
                if (iw >= END_W) {
                    break;
                }
                padded[o]++;
                if (!rowIn || iw < 0 || iw >= int(W)) {
                    continue;
                }
                inside[o]++;
                float v = row[k];
                if (MODE == 0) {
                    nan[o] = nan[o] || isNaNBits(v);
                    acc[o] = v > acc[o] ? v : acc[o];
                } else {
                    acc[o] += v;
                }
            }
        }
    }
    uint out0 = (nc * OH + oh) * OW + ow0;
    for (uint o = 0; o < STRIP; o++) {
        if (ow0 + o >= OW) {
            break;
        }
        float r;
        if (MODE == 0) {
            r = nan[o] ? VK_QNAN : acc[o];
        } else {
            uint div = MODE == 1 ? inside[o] : padded[o];
            r = div == 0 ? VK_QNAN : acc[o] / float(div);
        }
        y.data[out0 + o] = r;
    }
}
