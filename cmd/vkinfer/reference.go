package main

import (
	"fmt"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/layers/ref"
	"github.com/vkinfer/vkinfer/model"
)

// The reference forward pass runs a model on the CPU with layers/ref, the
// pure-Go oracle of the GPU ops, so `vkinfer eval --reference` can check the
// device's answers. It knows the ops of the mlp.bin models: Dense (with its
// optional bias and fused relu), Relu and Softmax over the last axis.

// referenceOps are the ops referenceForward runs.
var referenceOps = []string{model.OpDense, model.OpRelu, model.OpSoftmax}

// referenceSupports returns an error naming the first node the reference
// cannot run, so a command can refuse before doing any work.
func referenceSupports(m *model.Model) error {
	for _, n := range m.Nodes {
		switch n.Op {
		case model.OpDense, model.OpRelu, model.OpSoftmax:
		default:
			return fmt.Errorf("reference: node %q: op %q has no CPU reference here (it runs %v)", n.Name, n.Op, referenceOps)
		}
	}
	return nil
}

// referenceForward runs m on inputs (in the order of m.Inputs) and returns
// its outputs in the order of m.Outputs.
func referenceForward(m *model.Model, inputs []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
	if err := referenceSupports(m); err != nil {
		return nil, err
	}
	if len(inputs) != len(m.Inputs) {
		return nil, fmt.Errorf("reference: model takes %d inputs, got %d", len(m.Inputs), len(inputs))
	}
	vals := map[string]vkinfer.Tensor{}
	for i, in := range m.Inputs {
		t := inputs[i]
		if n := elems(t.Shape); n != len(t.Data) {
			return nil, fmt.Errorf("reference: input %q has shape %v (%d values) but %d values", in.Name, t.Shape, n, len(t.Data))
		}
		vals[in.Name] = t
	}
	get := func(n *model.Node, name string) (vkinfer.Tensor, error) {
		if t, ok := vals[name]; ok {
			return t, nil
		}
		if w := m.Initializer(name); w != nil {
			return vkinfer.Tensor{Shape: w.Shape, Data: w.Data}, nil
		}
		return vkinfer.Tensor{}, fmt.Errorf("reference: node %q reads %q, which nothing computes", n.Name, name)
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			return nil, fmt.Errorf("reference: node %q (%s) has %d inputs and %d outputs", n.Name, n.Op, len(n.Inputs), len(n.Outputs))
		}
		x, err := get(n, n.Inputs[0])
		if err != nil {
			return nil, err
		}
		var y vkinfer.Tensor
		switch n.Op {
		case model.OpDense:
			y, err = referenceDense(m, n, x, get)
			if err != nil {
				return nil, err
			}
		case model.OpRelu:
			y = vkinfer.Tensor{Shape: x.Shape, Data: ref.ReLU(x.Data)}
		case model.OpSoftmax:
			if len(x.Shape) == 0 {
				return nil, fmt.Errorf("reference: node %q: Softmax of a scalar", n.Name)
			}
			if a, ok := n.Attrs[model.AttrAxis]; ok && a.Kind == model.AttrInt && a.Int != -1 && a.Int != int64(len(x.Shape)-1) {
				return nil, fmt.Errorf("reference: node %q: Softmax over axis %d of %v; the reference runs it over the last axis only", n.Name, a.Int, x.Shape)
			}
			cols := x.Shape[len(x.Shape)-1]
			rows := 0
			if cols > 0 {
				rows = len(x.Data) / cols
			}
			y = vkinfer.Tensor{Shape: x.Shape, Data: ref.Softmax(x.Data, rows, cols)}
		}
		vals[n.Outputs[0]] = y
	}
	outs := make([]vkinfer.Tensor, len(m.Outputs))
	for i, o := range m.Outputs {
		t, ok := vals[o.Name]
		if !ok {
			return nil, fmt.Errorf("reference: output %q is not computed by any node", o.Name)
		}
		outs[i] = t
	}
	return outs, nil
}

// referenceDense is y = act(x·Wᵀ + b) with x [N, in], W [out, in], b [out].
func referenceDense(m *model.Model, n *model.Node, x vkinfer.Tensor, get func(*model.Node, string) (vkinfer.Tensor, error)) (vkinfer.Tensor, error) {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return vkinfer.Tensor{}, fmt.Errorf("reference: node %q: Dense takes 2 or 3 inputs, has %d", n.Name, len(n.Inputs))
	}
	w, err := get(n, n.Inputs[1])
	if err != nil {
		return vkinfer.Tensor{}, err
	}
	if len(x.Shape) != 2 || len(w.Shape) != 2 || x.Shape[1] != w.Shape[1] {
		return vkinfer.Tensor{}, fmt.Errorf("reference: node %q: Dense of x %v with weight %v (want [N, in] and [out, in])", n.Name, x.Shape, w.Shape)
	}
	batch, out, in := x.Shape[0], w.Shape[0], w.Shape[1]
	var bias []float32
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		b, err := get(n, n.Inputs[2])
		if err != nil {
			return vkinfer.Tensor{}, err
		}
		if len(b.Data) != out {
			return vkinfer.Tensor{}, fmt.Errorf("reference: node %q: bias %v for %d outputs", n.Name, b.Shape, out)
		}
		bias = b.Data
	}
	act := ref.ActNone
	if a, ok := n.Attrs[model.AttrActivation]; ok {
		if a.Kind != model.AttrString || a.String != model.ActivationRelu {
			return vkinfer.Tensor{}, fmt.Errorf("reference: node %q: activation %q is not supported (only %q)", n.Name, attrString(a), model.ActivationRelu)
		}
		act = ref.ActReLU
	}
	y := ref.Gemm(x.Data, w.Data, bias, batch, out, in, false, true, act)
	return vkinfer.Tensor{Shape: []int{batch, out}, Data: y}, nil
}

// elems is the product of shape's dimensions.
func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
