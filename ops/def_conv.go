package ops

import (
	"math"

	"github.com/vkinfer/vkinfer/model"
)

// The convolution family: Conv, MaxPool, AveragePool, GlobalAveragePool,
// GlobalMaxPool (1-D and 2-D windows, NCHW) and inference
// BatchNormalization. References: Conv, MaxPool, AveragePool,
// BatchNormalization (conv.go).

var windowAttrs = []AttrDef{IntsOpt("kernel_shape"), IntsOpt("strides"), IntsOpt("dilations"), IntsOpt("pads"),
	{Name: "auto_pad", Kind: model.AttrString, Default: model.StringAttr("NOTSET")}}

func init() {
	Register(&Op{
		Name: OpConv, MinInputs: 2, MaxInputs: 3, MaxOutputs: 1,
		Attrs: append(append([]AttrDef{}, windowAttrs...), Int("group", 1),
			StringOpt(AttrActivation), FloatOpt(AttrActAlpha), FloatOpt(AttrActBeta)),
		Check: func(a Attrs) error {
			if a.Int("group") < 1 || a.Int("group") > math.MaxInt32 {
				return a.Errorf("group %d", a.Int("group"))
			}
			if a.Has(AttrActivation) {
				if _, ok := Activations[a.String(AttrActivation)]; !ok {
					return a.Errorf("fused activation %q: %w", a.String(AttrActivation), ErrUnsupported)
				}
			}
			return checkWindowAttrs(a)
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x, w := in[0].Shape, in[1].Shape
			if len(w) < 3 {
				return nil, a.Errorf("weights %q have shape %v, want [M, C/group, k...]", a.Node.Inputs[1], w)
			}
			group := int(a.Int("group"))
			if w[0] >= 0 && (w[0] == 0 || w[0]%group != 0) {
				return nil, a.Errorf("group %d with weights %v (M must be a positive multiple of group)", group, w)
			}
			if len(x) >= 2 && x[1] >= 0 && w[1] >= 0 && x[1] != w[1]*group {
				return nil, a.Errorf("input %v has %d channels, the weights %v take %d x group %d", x, x[1], w, w[1], group)
			}
			if len(in) == 3 && !in[2].Absent {
				if b := in[2].Shape; len(b) != 1 || (b[0] >= 0 && w[0] >= 0 && b[0] != w[0]) {
					return nil, a.Errorf("bias has shape %v, want [%d]", b, w[0])
				}
			}
			return inferWindow(a, x, w[2:], w[0])
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x, w := in[0], in[1]
			g, err := ConvWindow(a, x.Shape, w.Shape)
			if err != nil {
				return nil, err
			}
			var b []float32
			if len(in) == 3 && in[2] != nil {
				b = in[2].Float()
			}
			y := Conv(x.Float(), w.Float(), b, g, w.Shape[0], int(a.Int("group")))
			act, alpha, beta := ConvActivation(a)
			Activate(y, act, alpha, beta)
			return []*Tensor{F32(windowShape(g, len(x.Shape), w.Shape[0]), y)}, nil
		},
	})
	for _, name := range []string{OpMaxPool, OpAveragePool} {
		attrs := append(append([]AttrDef{}, windowAttrs...), Int("ceil_mode", 0))
		outs := 1
		if name == OpMaxPool {
			attrs = append(attrs, Int("storage_order", 0))
			outs = 2
		} else {
			attrs = append(attrs, Int("count_include_pad", 0))
		}
		name := name
		Register(&Op{
			Name: name, MinInputs: 1, MaxInputs: 1, MaxOutputs: outs, Attrs: attrs,
			Check: func(a Attrs) error {
				if len(a.Node.Outputs) == 2 && a.Node.Outputs[1] != "" {
					return a.Errorf("the Indices output: %w", ErrUnsupported)
				}
				if !a.Has("kernel_shape") {
					return a.Errorf("has no kernel_shape")
				}
				if err := a.CheckBool("ceil_mode"); err != nil {
					return err
				}
				if name == OpAveragePool {
					if err := a.CheckBool("count_include_pad"); err != nil {
						return err
					}
				}
				return checkWindowAttrs(a)
			},
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				x := in[0].Shape
				c := -1
				if len(x) >= 2 {
					c = x[1]
				}
				return inferWindow(a, x, toInts(a.Ints("kernel_shape")), c)
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				x := in[0]
				g, err := PoolWindow(a, x.Shape)
				if err != nil {
					return nil, err
				}
				var y []float32
				if name == OpMaxPool {
					y = MaxPool(x.Float(), g)
				} else {
					y = AveragePool(x.Float(), g, a.Bool("count_include_pad"))
				}
				return []*Tensor{F32(windowShape(g, len(x.Shape), g.C), y)}, nil
			},
		})
	}
	for _, name := range []string{OpGlobalAveragePool, OpGlobalMaxPool} {
		name := name
		Register(&Op{
			Name: name, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				x := in[0].Shape
				if len(x) < 3 || len(x) > 4 {
					return nil, a.Errorf("input %v: %w (only 1-D and 2-D)", x, ErrUnsupported)
				}
				out := []int{x[0], x[1], 1, 1}
				return [][]int{out[:len(x)]}, nil
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				x := in[0]
				g, err := GlobalPoolWindow(a, x.Shape)
				if err != nil {
					return nil, err
				}
				var y []float32
				if name == OpGlobalMaxPool {
					y = MaxPool(x.Float(), g)
				} else {
					y = AveragePool(x.Float(), g, false)
				}
				return []*Tensor{F32(windowShape(g, len(x.Shape), g.C), y)}, nil
			},
		})
	}
	Register(&Op{
		Name: OpBatchNormalization, MinInputs: 5, MaxInputs: 5, MaxOutputs: 1,
		// momentum only matters in training; is_test (opsets < 7) only says
		// which outputs there are, and only one is allowed.
		Attrs: []AttrDef{Float("epsilon", 1e-5), FloatOpt("momentum"), Int("training_mode", 0), Int("spatial", 1), IntOpt("is_test")},
		Check: func(a Attrs) error {
			if a.Int("training_mode") != 0 {
				return a.Errorf("training_mode = %d: %w (inference only)", a.Int("training_mode"), ErrUnsupported)
			}
			if a.Int("spatial") != 1 {
				return a.Errorf("spatial = %d: %w", a.Int("spatial"), ErrUnsupported)
			}
			return nil
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x := in[0].Shape
			if len(x) < 2 {
				return nil, a.Errorf("input %v, want [N, C, ...]", x)
			}
			for i := 1; i < 5; i++ {
				if s := in[i].Shape; len(s) != 1 || (s[0] >= 0 && x[1] >= 0 && s[0] != x[1]) {
					return nil, a.Errorf("input %q has shape %v, want [%d]", a.Node.Inputs[i], s, x[1])
				}
			}
			return [][]int{append([]int{}, x...)}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x := in[0]
			n, c := x.Shape[0], x.Shape[1]
			inner := 0
			if n*c > 0 {
				inner = x.Len() / (n * c)
			}
			y := BatchNormalization(x.Float(), in[1].Float(), in[2].Float(), in[3].Float(), in[4].Float(), a.Float("epsilon"), n, c, inner)
			return []*Tensor{F32(append([]int{}, x.Shape...), y)}, nil
		},
	})
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// checkWindowAttrs checks what can be checked without the input shape.
func checkWindowAttrs(a Attrs) error {
	switch ap := a.String("auto_pad"); ap {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
		if ap != "NOTSET" && a.Has("pads") {
			return a.Errorf("pads given with auto_pad %s", ap)
		}
	default:
		return a.Errorf("auto_pad %q (want NOTSET, VALID, SAME_UPPER or SAME_LOWER)", ap)
	}
	for _, name := range []string{"kernel_shape", "strides", "dilations", "pads"} {
		if !a.Has(name) {
			continue
		}
		for _, v := range a.Ints(name) {
			if v < 0 || v > math.MaxInt32 || (v == 0 && name != "pads") {
				return a.Errorf("attribute %s %v: values must be in [%d, 2^31)", name, a.Ints(name), map[bool]int{true: 0, false: 1}[name == "pads"])
			}
		}
	}
	return nil
}

// window reads the window attributes for kernel (the weights' spatial
// dimensions for Conv, kernel_shape for pools) on input shape x.
func window(a Attrs, x, kernel []int) (Window, error) {
	sp := len(kernel)
	if sp < 1 || sp > 2 {
		return Window{}, a.Errorf("%d spatial axes: %w (only 1-D and 2-D windows)", sp, ErrUnsupported)
	}
	if len(x) != sp+2 {
		return Window{}, a.Errorf("input %v, want rank %d (%d spatial axes)", x, sp+2, sp)
	}
	if a.Has("kernel_shape") {
		if ks := toInts(a.Ints("kernel_shape")); len(ks) != sp || (ks[0] != kernel[0] || (sp == 2 && ks[1] != kernel[1])) {
			return Window{}, a.Errorf("kernel_shape %v but the kernel is %v", ks, kernel)
		}
	}
	get := func(name string, size, def int) ([]int, error) {
		if !a.Has(name) {
			v := make([]int, size)
			for i := range v {
				v[i] = def
			}
			return v, nil
		}
		v := toInts(a.Ints(name))
		if len(v) != size {
			return nil, a.Errorf("attribute %s has %d values, want %d", name, len(v), size)
		}
		return v, nil
	}
	s, err := get("strides", sp, 1)
	if err != nil {
		return Window{}, err
	}
	d, err := get("dilations", sp, 1)
	if err != nil {
		return Window{}, err
	}
	p, err := get("pads", 2*sp, 0)
	if err != nil {
		return Window{}, err
	}
	g := Window{N: x[0], C: x[1], H: 1, W: x[2], KH: 1, KW: kernel[0], SH: 1, SW: s[0], DH: 1, DW: d[0],
		PadL: p[0], PadR: p[1], AutoPad: a.String("auto_pad")}
	if sp == 2 {
		g.H, g.W, g.KH, g.KW = x[2], x[3], kernel[0], kernel[1]
		g.SH, g.SW, g.DH, g.DW = s[0], s[1], d[0], d[1]
		g.PadT, g.PadL, g.PadB, g.PadR = p[0], p[1], p[2], p[3]
	}
	for _, name := range []string{"ceil_mode"} {
		for _, def := range a.op.Attrs {
			if def.Name == name {
				g.CeilMode = a.Bool(name)
			}
		}
	}
	return g, nil
}

// ConvWindow returns the resolved geometry of Conv node attributes a for
// input shape x and weight shape w (both known).
func ConvWindow(a Attrs, x, w []int) (Window, error) {
	if len(w) < 3 {
		return Window{}, a.Errorf("weights have shape %v, want [M, C/group, k...]", w)
	}
	g, err := window(a, x, w[2:])
	if err != nil {
		return g, err
	}
	if g.C != w[1]*int(a.Int("group")) {
		return g, a.Errorf("input %v has %d channels, the weights %v take %d x group %d", x, g.C, w, w[1], a.Int("group"))
	}
	if err := g.Resolve(); err != nil {
		return g, a.Errorf("input %v: %w", x, err)
	}
	return g, nil
}

// PoolWindow returns the resolved geometry of MaxPool or AveragePool node
// attributes a for input shape x.
func PoolWindow(a Attrs, x []int) (Window, error) {
	g, err := window(a, x, toInts(a.Ints("kernel_shape")))
	if err != nil {
		return g, err
	}
	if err := g.Resolve(); err != nil {
		return g, a.Errorf("input %v: %w", x, err)
	}
	return g, nil
}

// GlobalPoolWindow returns the geometry of a global pool: the whole plane
// of input x ([N, C, H, W] or [N, C, L], no empty plane) as the window.
func GlobalPoolWindow(a Attrs, x []int) (Window, error) {
	if len(x) < 3 || len(x) > 4 {
		return Window{}, a.Errorf("input %v: %w (only 1-D and 2-D)", x, ErrUnsupported)
	}
	g := Window{N: x[0], C: x[1], H: 1, W: x[2], KH: 1, KW: x[2], SH: 1, SW: 1, DH: 1, DW: 1}
	if len(x) == 4 {
		g.H, g.KH = x[2], x[2]
		g.W, g.KW = x[3], x[3]
	}
	if g.H == 0 || g.W == 0 {
		return g, a.Errorf("input %v has an empty plane", x)
	}
	if err := g.Resolve(); err != nil {
		return g, a.Errorf("input %v: %w", x, err)
	}
	return g, nil
}

// ConvActivation returns Conv's fused activation and its parameters.
func ConvActivation(a Attrs) (Activation, float32, float32) {
	if !a.Has(AttrActivation) {
		return ActNone, 0, 0
	}
	return Activations[a.String(AttrActivation)], a.Float(AttrActAlpha), a.Float(AttrActBeta)
}

// windowShape is the output shape of g with c channels for an input of
// rank 3 or 4.
func windowShape(g Window, rank, c int) []int {
	if rank == 3 {
		return []int{g.N, c, g.OW}
	}
	return []int{g.N, c, g.OH, g.OW}
}

// inferWindow is Infer for window ops: unknown (-1) input dimensions give
// -1 in the output; c is the output channel count (-1 if unknown).
func inferWindow(a Attrs, x, kernel []int, c int) ([][]int, error) {
	sp := len(kernel)
	if sp < 1 || sp > 2 {
		return nil, a.Errorf("%d spatial axes: %w (only 1-D and 2-D windows)", sp, ErrUnsupported)
	}
	if len(x) != sp+2 {
		return nil, a.Errorf("input %v, want rank %d (%d spatial axes)", x, sp+2, sp)
	}
	probe := append([]int{}, x...)
	probe[0] = max(probe[0], 1)
	probe[1] = 1
	for i := 2; i < len(probe); i++ {
		if probe[i] < 0 {
			// Unknown: check the attributes on a size the kernel fits.
			probe[i] = 1 << 20
		}
	}
	g, err := window(a, probe, kernel)
	if err != nil {
		return nil, err
	}
	g.C = 1
	if err := g.Resolve(); err != nil {
		return nil, a.Errorf("input %v: %w", x, err)
	}
	out := windowShape(g, len(x), c)
	out[0] = x[0]
	for i := 2; i < len(x); i++ {
		if x[i] < 0 {
			out[i] = -1
		}
	}
	return [][]int{out}, nil
}
