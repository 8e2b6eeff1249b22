// pool_shape.glsl: the bindings, push constant and shape specialization
// constants shared by pool.glsl and pool_strip.glsl (see pool.glsl for
// their meaning). count: the invocations' items (N*C*OH*OW for pool.glsl,
// N*C*OH*STRIPS for pool_strip.glsl).
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
    uint count; // items: see pool_shape.glsl
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
