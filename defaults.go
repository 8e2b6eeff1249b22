package vkinfer

import "github.com/vkinfer/vkinfer/model"

// withDefaults returns inputs (in the order of m.Inputs) with the inputs
// that have a default value and are given as a zero Tensor, or left out at
// the end, set to their default. Other inputs are returned as they are.
func withDefaults(m *model.Model, inputs []Tensor) []Tensor {
	if len(m.Defaults) == 0 || len(inputs) > len(m.Inputs) {
		return inputs
	}
	out := make([]Tensor, len(m.Inputs))
	copy(out, inputs)
	for i, in := range m.Inputs {
		if out[i].Shape != nil || out[i].Data != nil {
			continue
		}
		if d := m.Default(in.Name); d != nil {
			out[i] = Tensor{Shape: append([]int{}, d.Shape...), Data: d.Data}
		} else if i >= len(inputs) {
			return inputs // a required input is missing: checkInputs says so
		}
	}
	return out
}
