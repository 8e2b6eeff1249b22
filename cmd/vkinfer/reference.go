package main

import (
	"fmt"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The reference forward pass runs a model on the CPU with package ops (the
// pure-Go definition of every op, ops.Run), so `vkinfer eval --reference`
// can check the device's answers. It runs every op the GPU runs.

// referenceSupports returns an error naming the first node whose op has no
// definition in package ops, so a command can refuse before doing any work.
func referenceSupports(m *model.Model) error {
	for _, n := range m.Nodes {
		if ops.Lookup(n.Op) == nil {
			return fmt.Errorf("reference: node %q: op %q has no CPU reference (package ops knows %v)", n.Name, n.Op, ops.Names())
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
	ins := make([]*ops.Tensor, len(inputs))
	for i, t := range inputs {
		ins[i] = ops.F32(t.Shape, t.Data)
	}
	outs, err := ops.Run(m, ins...)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	res := make([]vkinfer.Tensor, len(outs))
	for i, t := range outs {
		res[i] = vkinfer.Tensor{Shape: t.Shape, Data: t.Float()}
	}
	return res, nil
}
