package ops

import (
	"fmt"
	"math"
)

// ConvTranspose (opsets 1 and 11), 1-D and 2-D, NCHW: the transpose (the
// gradient with respect to its input) of Conv. Weights W are [C, M/group,
// kh, kw], bias [M]. Every attribute: kernel_shape, strides, dilations,
// pads, auto_pad, group, output_padding, output_shape. The reference is
// ConvTranspose (a scatter: each input element adds its kernel-sized
// patch), the GPU layer a gather (each output collects its inputs).

func init() {
	Register(&Op{
		Name: OpConvTranspose, MinInputs: 2, MaxInputs: 3, MaxOutputs: 1,
		Attrs: append(append([]AttrDef{}, windowAttrs...), Int("group", 1), IntsOpt("output_padding"), IntsOpt("output_shape")),
		Check: func(a Attrs) error {
			if a.Int("group") < 1 || a.Int("group") > math.MaxInt32 {
				return a.Errorf("group %d", a.Int("group"))
			}
			for _, name := range []string{"output_padding", "output_shape"} {
				if !a.Has(name) {
					continue
				}
				for _, v := range a.Ints(name) {
					if v < 0 || v > math.MaxInt32 {
						return a.Errorf("attribute %s %v: values must be in [0, 2^31)", name, a.Ints(name))
					}
				}
			}
			return checkWindowAttrs(a)
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x, w := in[0].Shape, in[1].Shape
			if len(w) < 3 {
				return nil, a.Errorf("weights %q have shape %v, want [C, M/group, k...]", a.Node.Inputs[1], w)
			}
			if len(w) > 4 {
				return nil, a.Errorf("weights %v: %d spatial axes: %w (only 1-D and 2-D)", w, len(w)-2, ErrUnsupported)
			}
			if len(x) != len(w) {
				return nil, a.Errorf("input %v and weights %v differ in rank", x, w)
			}
			group := int(a.Int("group"))
			if w[0] >= 0 && w[0]%group != 0 {
				return nil, a.Errorf("group %d with weights %v (C must be a multiple of group)", group, w)
			}
			if x[1] >= 0 && w[0] >= 0 && x[1] != w[0] {
				return nil, a.Errorf("input %v has %d channels, the weights %v take %d", x, x[1], w, w[0])
			}
			m := -1
			if w[1] >= 0 {
				m = w[1] * group
			}
			if len(in) == 3 && !in[2].Absent {
				if b := in[2].Shape; len(b) != 1 || (b[0] >= 0 && m >= 0 && b[0] != m) {
					return nil, a.Errorf("bias has shape %v, want [%d]", b, m)
				}
			}
			out := append([]int{x[0], m}, make([]int, len(x)-2)...)
			known := true
			for _, d := range append(append([]int{}, x[2:]...), w[2:]...) {
				known = known && d >= 0
			}
			if !known {
				for i := 2; i < len(out); i++ {
					out[i] = -1
				}
				return [][]int{out}, nil
			}
			probe := append([]int{}, x...)
			probe[0], probe[1] = max(x[0], 1), max(w[0], 1)
			wp := append([]int{}, w...)
			wp[0], wp[1] = probe[1], max(w[1], 1)
			g, err := ConvTransposeWindow(a, probe, wp)
			if err != nil {
				return nil, err
			}
			if len(x) == 3 {
				out[2] = g.OW
			} else {
				out[2], out[3] = g.OH, g.OW
			}
			return [][]int{out}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x, w := in[0], in[1]
			g, err := ConvTransposeWindow(a, x.Shape, w.Shape)
			if err != nil {
				return nil, err
			}
			var b []float32
			if len(in) == 3 && in[2] != nil {
				b = in[2].Float()
			}
			m := w.Shape[1] * int(a.Int("group"))
			y := ConvTranspose(x.Float(), w.Float(), b, g, m, int(a.Int("group")))
			return []*Tensor{F32(windowShape(g, len(x.Shape), m), y)}, nil
		},
	})
}

// ConvTransposeWindow returns the geometry of ConvTranspose node attributes
// a for input shape x [N, C, ...] and weights w [C, M/group, k...]: the
// kernel, strides, dilations and the input in the Window's input fields,
// the resolved padding, and the output size in OH, OW. Along each axis,
// with total = stride·(in-1) + output_padding + (k-1)·dilation + 1:
//   - output_shape given (its last 1 or 2 values): out is that, and the
//     padding total - out is split with the odd one at the end for
//     SAME_UPPER, at the beginning otherwise (ONNX; pads are ignored);
//   - auto_pad SAME_UPPER / SAME_LOWER: out = in·stride, padding split so;
//   - VALID: no padding, out = total; NOTSET: out = total - pads.
//
// A padding that would be negative (an output larger than total) is 0:
// outputs past total only get the bias.
func ConvTransposeWindow(a Attrs, x, w []int) (Window, error) {
	if len(w) < 3 || len(x) != len(w) {
		return Window{}, a.Errorf("input %v with weights %v, want [N, C, ...] and [C, M/group, k...] of one rank", x, w)
	}
	if x[1] != w[0] {
		return Window{}, a.Errorf("input %v has %d channels, the weights %v take %d", x, x[1], w, w[0])
	}
	g, err := window(a, x, w[2:])
	if err != nil {
		return g, err
	}
	sp := len(w) - 2
	get := func(name string) ([]int, error) {
		v := make([]int, sp)
		if !a.Has(name) {
			return v, nil
		}
		vals := toInts(a.Ints(name))
		if name == "output_shape" && len(vals) == sp+2 {
			vals = vals[2:]
		}
		if len(vals) != sp {
			return nil, a.Errorf("attribute %s %v has %d values, want %d", name, vals, len(vals), sp)
		}
		return vals, nil
	}
	opad, err := get("output_padding")
	if err != nil {
		return g, err
	}
	oshape, err := get("output_shape")
	if err != nil {
		return g, err
	}
	type axis struct{ in, k, s, d, pb, pe, op, os, out int }
	axes := []*axis{{in: g.W, k: g.KW, s: g.SW, d: g.DW, pb: g.PadL, pe: g.PadR}}
	if sp == 2 {
		axes = []*axis{{in: g.H, k: g.KH, s: g.SH, d: g.DH, pb: g.PadT, pe: g.PadB}, axes[0]}
	}
	for i, ax := range axes {
		ax.op, ax.os = opad[i], oshape[i]
		if ax.in < 1 {
			return g, a.Errorf("input %v has an empty spatial axis", x)
		}
		if ax.op >= max(ax.s, ax.d) {
			return g, a.Errorf("output_padding %v must be less than the stride or the dilation", opad)
		}
		total := ax.s*(ax.in-1) + ax.op + (ax.k-1)*ax.d + 1
		ap := g.AutoPad
		switch {
		case a.Has("output_shape") || ap == "SAME_UPPER" || ap == "SAME_LOWER":
			ax.out = ax.os
			if !a.Has("output_shape") {
				ax.out = ax.in * ax.s
			}
			p := max(total-ax.out, 0)
			if ap == "SAME_UPPER" {
				ax.pb, ax.pe = p/2, p-p/2
			} else {
				ax.pb, ax.pe = p-p/2, p/2
			}
		case ap == "VALID":
			ax.pb, ax.pe, ax.out = 0, 0, total
		default:
			ax.out = total - ax.pb - ax.pe
		}
		if ax.out < 1 {
			return g, a.Errorf("input %v with weights %v gives an output of %d along a spatial axis (pads too large?)", x, w, ax.out)
		}
	}
	last := axes[len(axes)-1]
	g.PadL, g.PadR, g.OW = last.pb, last.pe, last.out
	g.OH = 1
	if sp == 2 {
		g.PadT, g.PadB, g.OH = axes[0].pb, axes[0].pe, axes[0].out
	}
	g.resolvedPads = true
	return g, nil
}

// ConvTranspose is ONNX ConvTranspose on NCHW float32 tensors with the
// geometry of ConvTransposeWindow: every input element x[n, c, ih, iw]
// adds x · w[c, m, i, j] to y[n, g·M/G + m, ih·SH - PadT + i·DH, iw·SW -
// PadL + j·DW] (g = c / (C/G)) where that lies inside y, then b[oc] is
// added. w is [C, M/group, KH, KW]; b is nil or [M]. Accumulates in
// float64. Panics on sizes that do not fit (a programming error).
func ConvTranspose(x, w, b []float32, g Window, m, group int) []float32 {
	if !g.resolvedPads {
		panic("ops.ConvTranspose: window not resolved")
	}
	if group < 1 || g.C%group != 0 || m%group != 0 {
		panic(fmt.Sprintf("ops.ConvTranspose: %d channels in, %d out, group %d", g.C, m, group))
	}
	cg, mg := g.C/group, m/group
	if len(x) != g.N*g.C*g.H*g.W || len(w) != g.C*mg*g.KH*g.KW || (b != nil && len(b) != m) {
		panic(fmt.Sprintf("ops.ConvTranspose: sizes x %d, w %d, b %d for %+v, M %d, group %d", len(x), len(w), len(b), g, m, group))
	}
	acc := make([]float64, g.N*m*g.OH*g.OW)
	for n := 0; n < g.N; n++ {
		for c := 0; c < g.C; c++ {
			oc0 := c / cg * mg
			for ih := 0; ih < g.H; ih++ {
				for iw := 0; iw < g.W; iw++ {
					v := float64(x[((n*g.C+c)*g.H+ih)*g.W+iw])
					for mo := 0; mo < mg; mo++ {
						for i := 0; i < g.KH; i++ {
							oh := ih*g.SH - g.PadT + i*g.DH
							if oh < 0 || oh >= g.OH {
								continue
							}
							for j := 0; j < g.KW; j++ {
								ow := iw*g.SW - g.PadL + j*g.DW
								if ow < 0 || ow >= g.OW {
									continue
								}
								acc[((n*m+oc0+mo)*g.OH+oh)*g.OW+ow] += v * float64(w[((c*mg+mo)*g.KH+i)*g.KW+j])
							}
						}
					}
				}
			}
		}
	}
	y := make([]float32, len(acc))
	plane := g.OH * g.OW
	for i, v := range acc {
		if b != nil {
			v += float64(b[(i/plane)%m])
		}
		y[i] = float32(v)
	}
	return y
}
