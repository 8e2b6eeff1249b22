package ops

import "math"

// The element-wise ops of one tensor: Relu, LeakyRelu, Sigmoid, Tanh, Clip,
// Neg, HardSigmoid, HardSwish, Identity, Dropout. Their reference is Unary.

func init() {
	plain := func(name string, u UnaryOp) *Op {
		return &Op{Name: name, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
			Infer: sameShape, Eval: unaryEval(u, nil)}
	}
	Register(plain(OpRelu, UnaryRelu))
	Register(plain(OpSigmoid, UnarySigmoid))
	Register(plain(OpTanh, UnaryTanh))
	Register(plain(OpNeg, UnaryNeg))
	Register(plain(OpHardSwish, UnaryHardSwish))
	Register(&Op{
		Name: OpHardSigmoid, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
		Attrs: []AttrDef{Float("alpha", 0.2), Float("beta", 0.5)},
		Check: func(a Attrs) error {
			for _, k := range []string{"alpha", "beta"} {
				if math.IsInf(float64(a.Float(k)), 0) {
					return a.Errorf("%s is %v", k, a.Float(k))
				}
			}
			return nil
		},
		Infer: sameShape,
		Eval: unaryEval(UnaryHardSigmoid, func(a Attrs, _ []*Tensor) (float32, float32, error) {
			return a.Float("alpha"), a.Float("beta"), nil
		}),
	})
	id := plain(OpIdentity, UnaryIdentity)
	id.View = true
	Register(id)
	Register(&Op{
		Name: OpLeakyRelu, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
		Attrs: []AttrDef{Float("alpha", 0.01)},
		Check: func(a Attrs) error {
			if math.IsInf(float64(a.Float("alpha")), 0) {
				return a.Errorf("alpha is %v", a.Float("alpha"))
			}
			return nil
		},
		Infer: sameShape,
		Eval: unaryEval(UnaryLeakyRelu, func(a Attrs, _ []*Tensor) (float32, float32, error) {
			return a.Float("alpha"), 0, nil
		}),
	})
	Register(&Op{
		Name: OpClip, MinInputs: 1, MaxInputs: 3, MaxOutputs: 1,
		Attrs: []AttrDef{FloatOpt("min"), FloatOpt("max")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			consts := make([]*Tensor, len(in))
			for i, v := range in {
				consts[i] = v.Const
				if i > 0 && !v.Absent && dimsProduct(v.Shape) > 1 {
					return nil, a.Errorf("bound %q has shape %v, want a scalar", a.Node.Inputs[i], v.Shape)
				}
			}
			if _, _, err := ClipBounds(a, consts); err != nil {
				return nil, err
			}
			return sameShape(a, in)
		},
		Eval: unaryEval(UnaryClip, ClipBounds),
	})
	Register(&Op{
		Name: OpDropout, MinInputs: 1, MaxInputs: 3, MaxOutputs: 1, View: true,
		Attrs: []AttrDef{FloatOpt("ratio"), IntOpt("seed"), Int("is_test", 1)},
		Check: func(a Attrs) error {
			if a.Int("is_test") == 0 {
				return a.Errorf("is_test = 0 (training): %w", ErrUnsupported)
			}
			return nil
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			if len(in) > 1 && !in[1].Absent && in[1].Const == nil {
				return nil, a.Errorf("ratio %q is computed at run time: %w", a.Node.Inputs[1], ErrUnsupported)
			}
			if len(in) > 2 && !in[2].Absent {
				t := in[2].Const
				if t == nil {
					return nil, a.Errorf("training_mode %q is computed at run time: %w", a.Node.Inputs[2], ErrUnsupported)
				}
				if t.Len() != 1 || t.Float()[0] != 0 {
					return nil, a.Errorf("training_mode %q is not a constant false: %w (inference only)", a.Node.Inputs[2], ErrUnsupported)
				}
			}
			return sameShape(a, in)
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) { return []*Tensor{in[0]}, nil },
	})
}

// sameShape is the Infer of ops whose one output has input 0's shape.
func sameShape(_ Attrs, in []Value) ([][]int, error) {
	return [][]int{append([]int{}, in[0].Shape...)}, nil
}

// unaryEval is the Eval of an element-wise op; params returns its alpha
// and beta (nil: none). Int64 input is converted to float32 for the
// float ops; Identity keeps any type.
func unaryEval(u UnaryOp, params func(Attrs, []*Tensor) (float32, float32, error)) func(Attrs, []*Tensor) ([]*Tensor, error) {
	return func(a Attrs, in []*Tensor) ([]*Tensor, error) {
		x := in[0]
		if u == UnaryIdentity {
			return []*Tensor{x}, nil
		}
		var alpha, beta float32
		if params != nil {
			var err error
			if alpha, beta, err = params(a, in); err != nil {
				return nil, err
			}
		}
		if x.DType == Int64 && u == UnaryNeg {
			y := make([]int64, len(x.Ints))
			for i, v := range x.Ints {
				y[i] = -v
			}
			return []*Tensor{I64(x.Shape, y)}, nil
		}
		return []*Tensor{F32(x.Shape, Unary(u, x.Float(), alpha, beta))}, nil
	}
}

// ClipBounds returns Clip's bounds (min, max) from its attributes or, as
// opsets 11 and later write them, from constant scalar inputs 1 and 2
// (consts[i], nil when absent). A missing bound is ∓inf.
func ClipBounds(a Attrs, consts []*Tensor) (lo, hi float32, err error) {
	lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
	if a.Has("min") {
		lo = a.Float("min")
	}
	if a.Has("max") {
		hi = a.Float("max")
	}
	for i, name := range []string{"min", "max"} {
		if i+1 >= len(consts) || consts[i+1] == nil {
			continue
		}
		if a.Has(name) {
			return 0, 0, a.Errorf("%s given both as an attribute and as input %q", name, a.Node.Inputs[i+1])
		}
		t := consts[i+1]
		if t.Len() != 1 {
			return 0, 0, a.Errorf("bound %q has shape %v, want a scalar", a.Node.Inputs[i+1], t.Shape)
		}
		v := t.Float()[0]
		if math.IsNaN(float64(v)) {
			return 0, 0, a.Errorf("bound %q is NaN", a.Node.Inputs[i+1])
		}
		if i == 0 {
			lo = v
		} else {
			hi = v
		}
	}
	return lo, hi, nil
}
