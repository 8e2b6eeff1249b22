// texel_span.glsl: a run of consecutive floats of a uniform texel buffer
// loaded as the aligned texels that hold it, shifted into place: one fetch
// per 4 floats instead of one per float (on lavapipe a texel fetch is a
// vector load). Used by conv_dw.glsl and pool_strip.glsl to load a window
// row's input span once per invocation.
//
// Before including: `uniform textureBuffer X` and `const uint NT`, the
// texels a span may touch: (floats + 6) / 4 holds any alignment.

float spanTexels[4 * NT];
uint spanShift;

// fetchSpan loads the NT texels holding floats f0, f0 + 1, ... of X. f0 may
// be negative or the span may run past X's end (padding): those texels are
// clamped into the view, so the floats there are garbage the caller masks.
void fetchSpan(int f0) {
    int t0 = f0 >> 2; // floor(f0 / 4)
    spanShift = uint(f0 & 3);
    int last = textureSize(X) - 1;
    for (uint q = 0; q < NT; q++) {
        vec4 t = texelFetch(X, clamp(t0 + int(q), 0, last));
        spanTexels[4 * q] = t.x;
        spanTexels[4 * q + 1] = t.y;
        spanTexels[4 * q + 2] = t.z;
        spanTexels[4 * q + 3] = t.w;
    }
}

// spanAt returns float f0 + e of the span fetchSpan(f0) loaded last
// (e + 3 < 4 * NT).
float spanAt(uint e) {
    uint s = spanShift;
    return s == 0 ? spanTexels[e] : s == 1 ? spanTexels[e + 1] : s == 2 ? spanTexels[e + 2] : spanTexels[e + 3];
}
