#version 450
#extension GL_GOOGLE_include_directive : require
// strided.comp: the data-movement kernel (Transpose, Slice, Split, Pad, and
// any op that is an index mapping). For each output element i < count, with
// coordinates c_k over the output dimensions dims[0..RANK) (row-major),
//
//   j_k = lo[k] + c_k                      (source coordinate along k)
//   y[offY + i] = x[base + sum_k j_k * stride[k]]
//
// where, when j_k falls outside [0, inDims[k]), MODE decides:
//   0 inside    never happens (the host proved every j_k in range: Transpose,
//               Slice, Split; no checks compiled)
//   1 constant  y = value (Pad constant), or v[0] when VALUE_INPUT is 1 (a
//               constant_value computed at run time)
//   2 edge      j_k clamped to [0, inDims[k] - 1] (Pad edge)
//   3 reflect   j_k reflected about the ends without repeating them, with
//               period 2(inDims[k] - 1) (Pad reflect; numpy's rule)
//   4 wrap      j_k modulo inDims[k] (Pad wrap, opset 19)
// A stride may be negative (Slice with a negative step, base at the first
// element read) or 0. The host (layers.RecordStrided) merges dimensions
// that are contiguous in the source and checks every address is inside x.
// The value is copied bit for bit (NaN payloads, infinities and -0 survive)
// unless ROUND rounds it to a narrower float type held as float32 (Cast;
// ops.FloatRound): 1 binary16, 2 bfloat16, both to nearest even.
//
// bindings (set 0): 0 x (read-only; strided_texel.comp: an RGBA32F uniform
//                   texel buffer, for the CPU drivers, where texelFetch is a
//                   plain vector load and a storage-buffer load whose address
//                   differs per lane a loop over the lanes), 1 y (write-only), 2 v (read-only; read
//                   only when VALUE_INPUT is 1, else any buffer, e.g. x)
// push constants:   uint count (invocations); int base; uint offY; float value;
//                   uint dims[6]; uint inDims[6]; int lo[6]; int stride[6];
//                   uint runs (per row) (116 bytes, inside the 128 every
//                   device has)
// spec constants:   0 local_size_x (default 64), 1 RANK (1..6), 2 MODE,
//                   3 VALUE_INPUT (0/1), 4 ROUND (0 none, 1 half, 2 bfloat16),
//                   5 RUN (output elements per invocation along the last
//                   dimension: each row is cut into runs of RUN, the last
//                   one shorter)
// grid:             ceil(count / local_size_x) workgroups, count = rows x runs, split over x and y
//                   when that exceeds the device's x limit (see linearIndex).

layout(std430, set = 0, binding = 0) readonly buffer XBuf { float data[]; } x;

float loadX(int i) {
    return x.data[i];
}

#include "strided.glsl"
