package ops

import "fmt"

// PRelu (opsets 6, 7, 9, 16): y = x < 0 ? slope·x : x, the slope
// broadcast to x's shape (ONNX's unidirectional broadcasting: the result
// has x's shape). Before opset 7 a slope of x's channel count was per
// channel; the ONNX importer reshapes such a slope to [C, 1, ...] so that
// this rule applies. The reference is Binary with PRelu (one IEEE float32
// multiply where x < 0).

func init() {
	Register(&Op{
		Name: OpPRelu, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			x := in[0].Shape
			s, err := BroadcastDims(x, in[1].Shape)
			if err == nil && len(s) != len(x) {
				err = fmt.Errorf("slope %v has more dimensions than x %v", in[1].Shape, x)
			}
			for i := range s {
				if err == nil && x[i] >= 0 && s[i] != x[i] {
					err = fmt.Errorf("slope %v does not broadcast to x %v (unidirectionally: the result must have x's shape)", in[1].Shape, x)
				}
			}
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{append([]int{}, x...)}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x, slope := in[0], in[1]
			out, s, err := Binary(PRelu, x.Float(), x.Shape, slope.Float(), slope.Shape)
			if err == nil && fmt.Sprint(s) != fmt.Sprint(x.Shape) {
				err = fmt.Errorf("slope %v does not broadcast to x %v (unidirectionally)", slope.Shape, x.Shape)
			}
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return []*Tensor{F32(s, out)}, nil
		},
	})
}
