package ops

// Softmax and LogSoftmax along "axis" (default -1, mlp.bin's), with
// "coerce_2d" 1 for the opset 1-12 semantics (the importer writes both
// explicitly). Reference: SoftmaxAxis.

func init() {
	for _, log := range []bool{false, true} {
		name := OpSoftmax
		if log {
			name = OpLogSoftmax
		}
		log := log
		Register(&Op{
			Name: name, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
			Attrs: []AttrDef{Int(AttrAxis, -1), Int(AttrCoerce2D, 0)},
			Check: func(a Attrs) error { return a.CheckBool(AttrCoerce2D) },
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				s := in[0].Shape
				if len(s) == 0 {
					return nil, a.Errorf("input is a scalar; %s needs rank >= 1", a.Node.Op)
				}
				if _, err := SoftmaxAxisOf(a, len(s)); err != nil {
					return nil, err
				}
				return [][]int{append([]int{}, s...)}, nil
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				y, err := SoftmaxAxis(in[0].Float(), in[0].Shape, int(a.Int(AttrAxis)), log, a.Bool(AttrCoerce2D))
				if err != nil {
					return nil, a.Errorf("%v", err)
				}
				return []*Tensor{F32(in[0].Shape, y)}, nil
			},
		})
	}
}

// SoftmaxAxisOf returns the softmax node's axis for an input of the given
// rank, in [0, rank), or an error when it is out of range.
func SoftmaxAxisOf(a Attrs, rank int) (int, error) {
	axis := a.Int(AttrAxis)
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, a.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}
