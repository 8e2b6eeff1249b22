#version 450
#extension GL_GOOGLE_include_directive : require
// binary4.comp: binary.comp four elements of y per invocation, for the
// broadcasts binary4.glsl lists, with a, b and y read and written as vec4
// storage buffers (the host uses it when each buffer holds whole vec4s for
// what is read). Four elements per invocation cut the per-invocation cost
// (index arithmetic, bounds test, and on lavapipe the per-lane address loop
// of a storage-buffer access) by four.
//
// bindings (set 0): 0 a (read-only), 1 b (read-only), 2 y (write-only)
// push and spec constants, grid: binary4.glsl.

layout(std430, set = 0, binding = 0) readonly buffer ABuf { vec4 data[]; } a;
layout(std430, set = 0, binding = 1) readonly buffer BBuf { vec4 data[]; } b;
layout(std430, set = 0, binding = 2) writeonly buffer YBuf { vec4 data[]; } y;

vec4 loadA4(uint i) { return a.data[i]; }
vec4 loadB4(uint i) { return b.data[i]; }
float loadA(uint j) { return a.data[j >> 2][j & 3]; }
float loadB(uint j) { return b.data[j >> 2][j & 3]; }
void storeY4(uint i, vec4 r) { y.data[i] = r; }

#include "binary4.glsl"
