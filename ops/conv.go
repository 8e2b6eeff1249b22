package ops

import (
	"fmt"
	"math"
)

// Window is the geometry of a sliding-window op (Conv, MaxPool,
// AveragePool) over a 2-D image; a 1-D op is the same with H = KH = 1,
// stride and dilation 1 and no padding along H.
//
// Tensors are NCHW, row-major. Output sizes follow ONNX: along each axis
// out = floor((in + padBegin + padEnd - ((k-1)·dilation + 1)) / stride) + 1
// (ceil instead of floor with CeilMode; see Resolve for auto_pad).
type Window struct {
	N, C, H, W   int // input
	KH, KW       int // kernel
	SH, SW       int // strides
	DH, DW       int // dilations
	PadT, PadL   int // padding before (top, left)
	PadB, PadR   int // padding after (bottom, right)
	OH, OW       int // output, set by Resolve
	CeilMode     bool
	AutoPad      string // "", "NOTSET", "VALID", "SAME_UPPER" or "SAME_LOWER"
	resolvedPads bool
}

// ErrWindow is wrapped by Resolve's errors about impossible geometries.
var ErrWindow = fmt.Errorf("invalid window")

// Resolve checks the geometry, applies AutoPad (SAME_UPPER / SAME_LOWER:
// out = ceil(in / stride) and the total padding max(0, (out-1)·stride +
// (k-1)·dilation + 1 - in) split with the odd one at the end (UPPER) or the
// beginning (LOWER); VALID: no padding) and sets OH and OW. With CeilMode
// a last window that would start in the end padding is dropped (as ONNX
// Runtime and PyTorch do).
func (w *Window) Resolve() error {
	for _, v := range []struct {
		name string
		v    int
		min  int
	}{{"N", w.N, 0}, {"C", w.C, 0}, {"H", w.H, 0}, {"W", w.W, 0}, {"kernel height", w.KH, 1}, {"kernel width", w.KW, 1},
		{"stride", w.SH, 1}, {"stride", w.SW, 1}, {"dilation", w.DH, 1}, {"dilation", w.DW, 1},
		{"pad", w.PadT, 0}, {"pad", w.PadL, 0}, {"pad", w.PadB, 0}, {"pad", w.PadR, 0}} {
		if v.v < v.min {
			return fmt.Errorf("%w: %s is %d (at least %d)", ErrWindow, v.name, v.v, v.min)
		}
	}
	switch w.AutoPad {
	case "", "NOTSET":
	case "VALID":
		w.PadT, w.PadL, w.PadB, w.PadR = 0, 0, 0, 0
	case "SAME_UPPER", "SAME_LOWER":
		w.PadT, w.PadB = samePads(w.H, w.KH, w.SH, w.DH, w.AutoPad == "SAME_LOWER")
		w.PadL, w.PadR = samePads(w.W, w.KW, w.SW, w.DW, w.AutoPad == "SAME_LOWER")
	default:
		return fmt.Errorf("%w: auto_pad %q (want NOTSET, VALID, SAME_UPPER or SAME_LOWER)", ErrWindow, w.AutoPad)
	}
	var err error
	if w.OH, err = outSize(w.H, w.KH, w.SH, w.DH, w.PadT, w.PadB, w.CeilMode); err != nil {
		return err
	}
	if w.OW, err = outSize(w.W, w.KW, w.SW, w.DW, w.PadL, w.PadR, w.CeilMode); err != nil {
		return err
	}
	w.resolvedPads = true
	return nil
}

func samePads(in, k, s, d int, lower bool) (int, int) {
	out := (in + s - 1) / s
	total := (out-1)*s + (k-1)*d + 1 - in
	if total < 0 {
		total = 0
	}
	small := total / 2
	if lower {
		return total - small, small
	}
	return small, total - small
}

func outSize(in, k, s, d, pb, pe int, ceil bool) (int, error) {
	span := (k-1)*d + 1
	room := in + pb + pe - span
	if room < 0 {
		return 0, fmt.Errorf("%w: kernel span %d (size %d, dilation %d) exceeds the padded input %d", ErrWindow, span, k, d, in+pb+pe)
	}
	out := room/s + 1
	if ceil && room%s != 0 {
		out++
		if (out-1)*s >= in+pb {
			out--
		}
	}
	return out, nil
}

// Conv is ONNX Conv on NCHW float32 tensors: y[n, m, oh, ow] = b[m] +
// Σ_{c, i, j} x[n, g·C/G + c, oh·SH - PadT + i·DH, ow·SW - PadL + j·DW] ·
// w[m, c, i, j] with g = m / (M/G), positions outside the input reading 0.
// w is [M, C/group, KH, KW]; b is nil or [M]. Accumulates in float64.
// Panics on sizes that do not fit (Resolve first).
func Conv(x, w, b []float32, g Window, m, group int) []float32 {
	if !g.resolvedPads {
		panic("ref.Conv: window not resolved")
	}
	if group < 1 || g.C%group != 0 || m%group != 0 {
		panic(fmt.Sprintf("ref.Conv: %d channels in, %d out, group %d", g.C, m, group))
	}
	cg, mg := g.C/group, m/group
	if len(x) != g.N*g.C*g.H*g.W || len(w) != m*cg*g.KH*g.KW || (b != nil && len(b) != m) {
		panic(fmt.Sprintf("ref.Conv: sizes x %d, w %d, b %d for %+v, M %d, group %d", len(x), len(w), len(b), g, m, group))
	}
	y := make([]float32, g.N*m*g.OH*g.OW)
	for n := 0; n < g.N; n++ {
		for oc := 0; oc < m; oc++ {
			c0 := oc / mg * cg
			for oh := 0; oh < g.OH; oh++ {
				for ow := 0; ow < g.OW; ow++ {
					s := 0.0
					if b != nil {
						s = float64(b[oc])
					}
					for c := 0; c < cg; c++ {
						for i := 0; i < g.KH; i++ {
							ih := oh*g.SH - g.PadT + i*g.DH
							if ih < 0 || ih >= g.H {
								continue
							}
							for j := 0; j < g.KW; j++ {
								iw := ow*g.SW - g.PadL + j*g.DW
								if iw < 0 || iw >= g.W {
									continue
								}
								s += float64(x[((n*g.C+c0+c)*g.H+ih)*g.W+iw]) * float64(w[((oc*cg+c)*g.KH+i)*g.KW+j])
							}
						}
					}
					y[((n*m+oc)*g.OH+oh)*g.OW+ow] = float32(s)
				}
			}
		}
	}
	return y
}

// MaxPool is ONNX MaxPool (no Indices output) on NCHW: the maximum over each
// window's positions inside the input (padding is never the maximum). A
// NaN in the window gives NaN. A window with no position inside the input
// (possible only with padding) gives -inf.
func MaxPool(x []float32, g Window) []float32 {
	return pool(x, g, func(vals []float32, _ int) float32 {
		m := float32(math.Inf(-1))
		for _, v := range vals {
			if v != v {
				return v
			}
			if v > m {
				m = v
			}
		}
		return m
	})
}

// AveragePool is ONNX AveragePool on NCHW: the mean over each window. With
// countIncludePad the divisor is the number of window positions inside
// the padded input (pads count, positions beyond them, which only ceil_mode
// creates, do not); otherwise the number inside the input.
func AveragePool(x []float32, g Window, countIncludePad bool) []float32 {
	return pool(x, g, func(vals []float32, padded int) float32 {
		s := 0.0
		for _, v := range vals {
			s += float64(v)
		}
		div := len(vals)
		if countIncludePad {
			div = padded
		}
		if div == 0 {
			return float32(math.NaN())
		}
		return float32(s / float64(div))
	})
}

func pool(x []float32, g Window, f func(vals []float32, padded int) float32) []float32 {
	if !g.resolvedPads {
		panic("ref: pool window not resolved")
	}
	if len(x) != g.N*g.C*g.H*g.W {
		panic(fmt.Sprintf("ref: pool of %d elements for %+v", len(x), g))
	}
	y := make([]float32, g.N*g.C*g.OH*g.OW)
	vals := make([]float32, 0, g.KH*g.KW)
	for nc := 0; nc < g.N*g.C; nc++ {
		for oh := 0; oh < g.OH; oh++ {
			for ow := 0; ow < g.OW; ow++ {
				vals = vals[:0]
				padded := 0
				for i := 0; i < g.KH; i++ {
					ih := oh*g.SH - g.PadT + i*g.DH
					if ih >= g.H+g.PadB {
						continue
					}
					for j := 0; j < g.KW; j++ {
						iw := ow*g.SW - g.PadL + j*g.DW
						if iw >= g.W+g.PadR {
							continue
						}
						padded++
						if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
							continue
						}
						vals = append(vals, x[(nc*g.H+ih)*g.W+iw])
					}
				}
				y[(nc*g.OH+oh)*g.OW+ow] = f(vals, padded)
			}
		}
	}
	return y
}

// GlobalAveragePool is the mean over H·W of each of the n·c planes of x.
func GlobalAveragePool(x []float32, nc, hw int) []float32 {
	if len(x) != nc*hw || hw < 1 {
		panic(fmt.Sprintf("ref.GlobalAveragePool: %d elements for %d planes of %d", len(x), nc, hw))
	}
	y := make([]float32, nc)
	for i := range y {
		s := 0.0
		for _, v := range x[i*hw : (i+1)*hw] {
			s += float64(v)
		}
		y[i] = float32(s / float64(hw))
	}
	return y
}

// BatchNormalization is ONNX BatchNormalization in inference mode on [N, C,
// ...] with inner = the product of the dimensions after C: y = (x - mean[c])
// / sqrt(var[c] + eps) · scale[c] + bias[c].
func BatchNormalization(x, scale, bias, mean, variance []float32, eps float32, n, c, inner int) []float32 {
	if len(x) != n*c*inner || len(scale) != c || len(bias) != c || len(mean) != c || len(variance) != c {
		panic(fmt.Sprintf("ref.BatchNormalization: sizes %d, %d, %d, %d, %d for [%d %d %d]", len(x), len(scale), len(bias), len(mean), len(variance), n, c, inner))
	}
	y := make([]float32, len(x))
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			k := float64(scale[ch]) / math.Sqrt(float64(variance[ch])+float64(eps))
			for j := 0; j < inner; j++ {
				o := (i*c+ch)*inner + j
				y[o] = float32((float64(x[o])-float64(mean[ch]))*k + float64(bias[ch]))
			}
		}
	}
	return y
}

// The fused activations beyond ActReLU (shaders/activation.glsl's ACT
// numbering follows this order).
const (
	ActClip        Activation = iota + 2 // min(max(x, alpha), beta)
	ActLeakyRelu                         // x < 0 ? alpha·x : x
	ActHardSigmoid                       // clamp(alpha·x + beta, 0, 1)
	ActHardSwish                         // x · clamp(x/6 + 1/2, 0, 1)
	ActSigmoid                           // 1 / (1 + exp(-x))
	ActSiLU                              // x · sigmoid(x)
)

// Activate applies act with parameters alpha and beta to every element of
// x in place. NaN stays NaN.
func Activate(x []float32, act Activation, alpha, beta float32) {
	clamp01 := func(v float64) float64 {
		if v < 0 {
			return 0
		}
		if v > 1 {
			return 1
		}
		return v
	}
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	for i, f := range x {
		v := float64(f)
		switch act {
		case ActNone:
		case ActReLU:
			if v < 0 {
				v = 0
			}
		case ActClip:
			if v < float64(alpha) {
				v = float64(alpha)
			}
			if v > float64(beta) {
				v = float64(beta)
			}
		case ActLeakyRelu:
			if v < 0 {
				v *= float64(alpha)
			}
		case ActHardSigmoid:
			v = clamp01(float64(alpha)*v + float64(beta))
		case ActHardSwish:
			v *= clamp01(v/6 + 0.5)
		case ActSigmoid:
			v = sig(v)
		case ActSiLU:
			v *= sig(v)
		default:
			panic(fmt.Sprintf("ref.Activate: unknown activation %d", act))
		}
		if math.IsNaN(float64(f)) {
			v = math.NaN()
		}
		x[i] = float32(v)
	}
}
