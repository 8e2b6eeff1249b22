package ops

import (
	"fmt"

	"github.com/vkinfer/vkinfer/model"
)

// Run evaluates m on the host with every node's reference (Infer on the
// concrete shapes, then Eval): the CPU
// executor behind `vkinfer eval --reference`, the trainer's evaluation and
// the tests' oracle. inputs are in the order of m.Inputs; a declared
// dimension of -1 takes any size. The outputs are in the order of
// m.Outputs; they may share data with the inputs or the initializers
// (views), so treat them as read-only.
//
// Errors name the node; an op this build does not know is ErrUnsupported.
func Run(m *model.Model, inputs ...*Tensor) ([]*Tensor, error) {
	if len(inputs) != len(m.Inputs) {
		return nil, fmt.Errorf("ops: run %q: the model takes %d input(s), got %d", m.Name, len(m.Inputs), len(inputs))
	}
	vals := make(map[string]*Tensor, len(m.Initializers)+len(m.Nodes))
	for _, t := range m.Initializers {
		vals[t.Name] = F32(t.Shape, t.Data)
	}
	for i, in := range m.Inputs {
		t := inputs[i]
		if t == nil {
			if d := m.Default(in.Name); d != nil {
				t = F32(d.Shape, d.Data) // the input's default value
			} else {
				return nil, fmt.Errorf("ops: run %q: input %q is nil and has no default", m.Name, in.Name)
			}
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("ops: run %q: input %q: %w", m.Name, in.Name, err)
		}
		if !in.Takes(t.Shape) {
			return nil, fmt.Errorf("ops: run %q: input %q has shape %v, the model takes %s (-1: any size): %w", m.Name, in.Name, t.Shape, in.ShapeString(), ErrInvalid)
		}
		vals[in.Name] = t
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		in := make([]*Tensor, len(n.Inputs))
		for j, name := range n.Inputs {
			if name == "" {
				continue
			}
			t, ok := vals[name]
			if !ok {
				return nil, fmt.Errorf("ops: run %q: node %q (%s) reads %q, which nothing computes: %w", m.Name, n.Name, n.Op, name, ErrInvalid)
			}
			in[j] = t
		}
		out, err := evalChecked(n, in)
		if err != nil {
			return nil, fmt.Errorf("ops: run %q: %w", m.Name, err)
		}
		for j, name := range n.Outputs {
			if name != "" {
				vals[name] = out[j]
			}
		}
	}
	res := make([]*Tensor, len(m.Outputs))
	for i, o := range m.Outputs {
		t, ok := vals[o.Name]
		if !ok {
			return nil, fmt.Errorf("ops: run %q: output %q is not computed by any node: %w", m.Name, o.Name, ErrInvalid)
		}
		res[i] = t
	}
	return res, nil
}

// evalChecked is Eval after Infer on the concrete shapes, so an Eval never
// sees inputs its op's rules refuse, and checks that the results have the
// shapes Infer promised.
func evalChecked(n *model.Node, in []*Tensor) ([]*Tensor, error) {
	vals := make([]Value, len(in))
	for i, t := range in {
		if t == nil {
			vals[i].Absent = true
			continue
		}
		if err := t.Check(); err != nil {
			return nil, fmt.Errorf("ops: %s %q: input %d: %w", n.Op, n.Name, i, err)
		}
		vals[i] = Value{Shape: t.Shape, Const: t}
	}
	shapes, err := Infer(n, vals)
	if err != nil {
		return nil, err
	}
	out, err := Eval(n, in)
	if err != nil {
		return nil, err
	}
	for i, s := range shapes {
		if s != nil && !fits(out[i].Shape, s) {
			return nil, fmt.Errorf("ops: %s %q: output %d has shape %v, Infer says %v (a bug in its definition)", n.Op, n.Name, i, out[i].Shape, s)
		}
	}
	return out, nil
}

// fits reports whether shape s matches the declared shape want, -1 in want
// matching any size.
func fits(s, want []int) bool {
	if len(s) != len(want) {
		return false
	}
	for i := range s {
		if want[i] >= 0 && s[i] != want[i] {
			return false
		}
	}
	return true
}

// Validate checks m: the structural rules of model.Validate, then, node by
// node, each known op's arity, attributes and input shapes with its Infer
// (inputs of unknown rank skip it), and the declared graph output shapes
// against the inferred ones. Ops this build does not know are checked
// structurally only, so such a model still validates. Errors wrap
// model.ErrInvalid, or ErrUnsupported for a known op used in a way this
// build does not implement.
func Validate(m *model.Model) error {
	if err := m.Validate(); err != nil {
		return err
	}
	shapes, err := InferModel(m, nil)
	if err != nil {
		return err
	}
	for _, o := range m.Outputs {
		if s, ok := shapes[o.Name]; ok && s != nil && o.Shape != nil && !compatible(s, o.Shape) {
			return fmt.Errorf("ops: %w: output %q: declared shape %v, the graph computes %v", ErrInvalid, o.Name, o.Shape, s)
		}
	}
	return nil
}

// InferModel infers the shape of every value of m (nil: rank unknown; -1:
// dimension unknown) from the declared input shapes, or from inputs (by
// input name) where given. Nodes of ops this build does not know get
// outputs of unknown rank. Initializers are constants for Infer.
func InferModel(m *model.Model, inputs map[string][]int) (map[string][]int, error) {
	shapes := map[string][]int{}
	consts := map[string]*Tensor{}
	for _, t := range m.Initializers {
		shapes[t.Name] = t.Shape
		consts[t.Name] = F32(t.Shape, t.Data)
	}
	for _, in := range m.Inputs {
		shapes[in.Name] = in.Shape
		if s, ok := inputs[in.Name]; ok {
			shapes[in.Name] = s
		}
	}
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if Lookup(n.Op) == nil {
			continue
		}
		in := make([]Value, len(n.Inputs))
		known := true
		for j, name := range n.Inputs {
			if name == "" {
				in[j].Absent = true
				continue
			}
			s, ok := shapes[name]
			known = known && ok && s != nil
			in[j] = Value{Shape: s, Const: consts[name]}
		}
		if !known {
			if _, _, err := Resolve(n); err != nil {
				return nil, err
			}
			continue
		}
		out, err := Infer(n, in)
		if err != nil {
			return nil, err
		}
		for j, name := range n.Outputs {
			shapes[name] = out[j]
		}
	}
	return shapes, nil
}

// compatible reports whether two shapes can be the same, -1 matching any
// dimension.
func compatible(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}
