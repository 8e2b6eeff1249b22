package onnx

import (
	"fmt"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// value is a tensor during evalModel.
type value struct {
	shape []int
	data  []float32
}

// evalModel runs an imported model on the CPU with package ops (ops.Run),
// the oracle the GPU ops are tested against: it checks that the importer's
// rewrites (Dense, attributes) keep ONNX's meaning.
func evalModel(m *model.Model, inputs map[string]value) (map[string]value, error) {
	ins := make([]*ops.Tensor, len(m.Inputs))
	for i, in := range m.Inputs {
		v, ok := inputs[in.Name]
		switch {
		case ok:
			ins[i] = ops.F32(v.shape, v.data)
		case m.Default(in.Name) == nil:
			return nil, fmt.Errorf("no value for input %q", in.Name)
		}
	}
	outs, err := ops.Run(m, ins...)
	if err != nil {
		return nil, err
	}
	res := map[string]value{}
	for i, o := range m.Outputs {
		res[o.Name] = value{outs[i].Shape, outs[i].Float()}
	}
	return res, nil
}
