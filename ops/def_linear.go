package ops

// The matrix products: Dense and BiasAdd (mlp.bin's ops), MatMul and Gemm
// (ONNX). References: Gemm, BiasAdd, MatMul, GemmONNX.

func init() {
	Register(&Op{
		Name: OpDense, MinInputs: 2, MaxInputs: 3, MaxOutputs: 1,
		Attrs: []AttrDef{StringOpt(AttrActivation)},
		Check: func(a Attrs) error {
			if a.Has(AttrActivation) && a.String(AttrActivation) != ActivationRelu {
				return a.Errorf("activation %q: %w (only %q)", a.String(AttrActivation), ErrUnsupported, ActivationRelu)
			}
			return nil
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x, w := in[0].Shape, in[1].Shape
			if len(w) != 2 {
				return nil, a.Errorf("weight %q has shape %v, want [out, in]", a.Node.Inputs[1], w)
			}
			if len(x) < 1 {
				return nil, a.Errorf("input x is a scalar, want [..., %d]", w[1])
			}
			if k := x[len(x)-1]; k >= 0 && w[1] >= 0 && k != w[1] {
				return nil, a.Errorf("input x %v has %d features, weight %v takes %d", x, k, w, w[1])
			}
			if len(in) == 3 && !in[2].Absent {
				if b := in[2].Shape; len(b) != 1 || (b[0] >= 0 && w[0] >= 0 && b[0] != w[0]) {
					return nil, a.Errorf("bias has shape %v, want [%d]", b, w[0])
				}
			}
			out := append([]int{}, x...)
			out[len(out)-1] = w[0]
			return [][]int{out}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x, w := in[0], in[1]
			if err := x.Check(); err != nil {
				return nil, a.Errorf("%v", err)
			}
			out, k := w.Shape[0], w.Shape[1]
			rows := 0
			if k > 0 {
				rows = x.Len() / k
			} else if len(x.Shape) > 0 {
				rows = x.Len()
			}
			var bias []float32
			if len(in) == 3 && in[2] != nil {
				bias = in[2].Float()
			}
			act := ActNone
			if a.Has(AttrActivation) {
				act = ActReLU
			}
			s := append([]int{}, x.Shape...)
			s[len(s)-1] = out
			return []*Tensor{F32(s, Gemm(x.Float(), w.Float(), bias, rows, out, k, false, true, act))}, nil
		},
	})
	Register(&Op{
		Name: OpBiasAdd, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x, b := in[0].Shape, in[1].Shape
			if len(b) != 1 || len(x) == 0 || (x[len(x)-1] >= 0 && b[0] >= 0 && x[len(x)-1] != b[0]) {
				return nil, a.Errorf("x %v and bias %v: want [..., n] and [n]", x, b)
			}
			return [][]int{append([]int{}, x...)}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			return []*Tensor{F32(in[0].Shape, BiasAdd(in[0].Float(), in[1].Float()))}, nil
		},
	})
	Register(&Op{
		Name: OpMatMul, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			s, err := MatMulDims(in[0].Shape, in[1].Shape)
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			y, s, err := MatMul(in[0].Float(), in[0].Shape, in[1].Float(), in[1].Shape)
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return []*Tensor{F32(s, y)}, nil
		},
	})
	Register(&Op{
		Name: OpGemm, MinInputs: 2, MaxInputs: 3, MaxOutputs: 1,
		Attrs: []AttrDef{Float("alpha", 1), Float("beta", 1), Int("transA", 0), Int("transB", 0)},
		Check: func(a Attrs) error {
			if err := a.CheckBool("transA"); err != nil {
				return err
			}
			return a.CheckBool("transB")
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			as, bs := in[0].Shape, in[1].Shape
			if len(as) != 2 || len(bs) != 2 {
				return nil, a.Errorf("A %v and B %v must both be 2-D", as, bs)
			}
			m, k := as[0], as[1]
			if a.Bool("transA") {
				m, k = k, m
			}
			k2, n := bs[0], bs[1]
			if a.Bool("transB") {
				k2, n = n, k2
			}
			if k >= 0 && k2 >= 0 && k != k2 {
				return nil, a.Errorf("op(A) is %dx%d, op(B) is %dx%d: inner dimensions differ", m, k, k2, n)
			}
			if len(in) == 3 && !in[2].Absent {
				c := in[2].Shape
				if len(c) > 2 {
					return nil, a.Errorf("C %v has rank > 2", c)
				}
				for i := range c {
					d, want := c[len(c)-1-i], []int{n, m}[i]
					if d != 1 && d >= 0 && want >= 0 && d != want {
						return nil, a.Errorf("C %v does not broadcast to [%d %d]", c, m, n)
					}
				}
			}
			return [][]int{{m, n}}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			var c []float32
			var cs []int
			if len(in) == 3 && in[2] != nil {
				c, cs = in[2].Float(), in[2].Shape
			}
			y, s, err := GemmONNX(in[0].Float(), in[0].Shape, in[1].Float(), in[1].Shape, c, cs,
				a.Float("alpha"), a.Float("beta"), a.Bool("transA"), a.Bool("transB"))
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return []*Tensor{F32(s, y)}, nil
		},
	})
}

// MatMulDims is MatMul's output shape for shapes with unknown (-1)
// dimensions (numpy rules: 1-D promotion, batch broadcasting).
func MatMulDims(a, b []int) ([]int, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmtErrorf("%v · %v: scalars are not matrices", a, b)
	}
	as, bs := a, b
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	if k, k2 := as[len(as)-1], bs[len(bs)-2]; k >= 0 && k2 >= 0 && k != k2 {
		return nil, fmtErrorf("%v · %v: inner dimensions %d and %d differ", a, b, k, k2)
	}
	out, err := BroadcastDims(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, fmtErrorf("%v · %v: batch dimensions: %v", a, b, err)
	}
	if len(a) > 1 {
		out = append(out, as[len(as)-2])
	}
	if len(b) > 1 {
		out = append(out, bs[len(bs)-1])
	}
	return out, nil
}
