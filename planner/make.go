package planner

import (
	"fmt"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Options are what Make needs to know of the device.
type Options struct {
	// Chain returns how many nodes of the candidate run starting at node
	// first (Graph.Runs) one fused step takes when its input has shape in;
	// 0 or 1: none. Nil: no fused runs.
	Chain func(first int, in []int) int
}

// Plan is a graph planned for concrete input shapes.
type Plan struct {
	// Shapes are the shapes of every value the plan computes or reads.
	Shapes map[string][]int
	// Host are the values evaluated on the host when the plan was made.
	Host map[string]*ops.Tensor
	// Steps are what to record, in order.
	Steps []Step
	// SlotSize is each buffer slot's size in elements (>= 1).
	SlotSize []int
	// Slot maps each value on the device to its slot; a view shares its
	// input's.
	Slot map[string]int
	// Uploads are host values a device step reads: each has a slot of its
	// own, written once when the plan's buffers are made.
	Uploads []Upload
	// Inputs and Outputs are the slots of the graph inputs and outputs, in
	// the model's order.
	Inputs, Outputs []int
}

// Step is one thing to record.
type Step struct {
	// Node is the index in Graph.Nodes of the step's (first) node; Count
	// is how many consecutive nodes it runs (more than 1: a fused run, see
	// Options.Chain).
	Node, Count int
	// Copy: the node is a view whose output cannot share its input's slot
	// (a graph output): record a copy of Ins[0] into Outs[0].
	Copy bool
	// Ins are the step's runtime inputs (device values, in the node's input
	// order, initializers left out) and InShapes their shapes; Outs are the
	// values it writes.
	Ins      []string
	InShapes [][]int
	Outs     []string
}

// Upload is a host value a device step reads.
type Upload struct {
	Name string
	Slot int
	Data []float32
}

// Make plans g for the shapes of its graph inputs (in the order of
// g.Model.Inputs). Host nodes are evaluated; every other value's shape is
// inferred with its op's definition and must be fully known.
func Make(g *Graph, inShapes [][]int, opts Options) (*Plan, error) {
	m := g.Model
	if len(inShapes) != len(m.Inputs) {
		return nil, fmt.Errorf("planner: %w: %d input shapes for %d inputs", ErrPlan, len(inShapes), len(m.Inputs))
	}
	p := &Plan{Shapes: map[string][]int{}, Host: map[string]*ops.Tensor{}, Slot: map[string]int{}}
	for name, t := range g.consts {
		p.Shapes[name] = t.Shape
	}
	for i, in := range m.Inputs {
		s := inShapes[i]
		if !in.Takes(s) {
			return nil, fmt.Errorf("planner: %w: input %q has shape %v, the model takes %s (-1: any size)", model.ErrInvalid, in.Name, s, in.ShapeString())
		}
		p.Shapes[in.Name] = s
	}
	known := func(name string) *ops.Tensor {
		if t := g.consts[name]; t != nil {
			return t
		}
		return p.Host[name]
	}
	// Pass 1: shapes and host values.
	for i := range g.Nodes {
		n := &g.Nodes[i]
		vals := make([]ops.Value, len(n.Inputs))
		for j, name := range n.Inputs {
			if name == "" {
				vals[j].Absent = true
				continue
			}
			s, ok := p.Shapes[name]
			if !ok {
				return nil, fmt.Errorf("planner: %w: node %q (%s) reads %q, which nothing computes", ErrPlan, n.Name, n.Op, name)
			}
			vals[j] = ops.Value{Shape: s, Const: known(name)}
		}
		if g.Kinds[i] == Host {
			in := make([]*ops.Tensor, len(n.Inputs))
			for j, v := range vals {
				switch {
				case v.Absent:
				case v.Const != nil:
					in[j] = v.Const
				default: // a ShapeOnly op reads only the shape
					in[j] = &ops.Tensor{Shape: v.Shape}
				}
			}
			out, err := ops.Eval(n, in)
			if err != nil {
				return nil, fmt.Errorf("planner: evaluating node %q (%s) on the host: %w", n.Name, n.Op, err)
			}
			for j, name := range n.Outputs {
				p.Host[name] = out[j]
				p.Shapes[name] = out[j].Shape
			}
			continue
		}
		outs, err := ops.Infer(n, vals)
		if err != nil {
			return nil, fmt.Errorf("planner: node %q (%s): %w", n.Name, n.Op, err)
		}
		for j, s := range outs {
			if !static(s) {
				return nil, fmt.Errorf("planner: %w: node %q (%s): output %d has shape %v for inputs %v (a dimension computed on the device)",
					ErrPlan, n.Name, n.Op, j, s, shapesOf(vals))
			}
			p.Shapes[n.Outputs[j]] = s
		}
	}
	isOutput := map[string]bool{}
	for _, o := range m.Outputs {
		if _, ok := p.Shapes[o.Name]; !ok {
			return nil, fmt.Errorf("planner: %w: output %q is not computed by any node", ErrPlan, o.Name)
		}
		isOutput[o.Name] = true
	}
	// Pass 2: steps. A view's output is an alias of its input's root value.
	root := map[string]string{}
	rootOf := func(name string) string {
		if r, ok := root[name]; ok {
			return r
		}
		return name
	}
	for i := 0; i < len(g.Nodes); {
		n := &g.Nodes[i]
		st := Step{Node: i, Count: 1}
		switch g.Kinds[i] {
		case Host:
			i++
			continue
		case View:
			if !isOutput[n.Outputs[0]] {
				root[n.Outputs[0]] = rootOf(n.Inputs[0])
				i++
				continue
			}
			st.Copy = true
		}
		for _, in := range n.Inputs {
			if in != "" && g.consts[in] == nil {
				st.Ins = append(st.Ins, in)
				st.InShapes = append(st.InShapes, p.Shapes[in])
			}
		}
		if st.Copy {
			st.Ins, st.InShapes = st.Ins[:1], st.InShapes[:1]
		}
		if run := g.Runs[i]; run != nil && opts.Chain != nil && !st.Copy {
			if k := opts.Chain(i, st.InShapes[0]); k > 1 && k <= len(run) {
				st.Count = k
			}
		}
		st.Outs = g.Nodes[i+st.Count-1].Outputs
		p.Steps = append(p.Steps, st)
		i += st.Count
	}
	// Pass 3: slots by liveness, on root values.
	var free []int
	take := func(elems int) int {
		elems = max(elems, 1)
		best := -1
		for i, s := range free {
			if p.SlotSize[s] >= elems && (best < 0 || p.SlotSize[s] < p.SlotSize[free[best]]) {
				best = i
			}
		}
		if best >= 0 {
			s := free[best]
			free = append(free[:best], free[best+1:]...)
			return s
		}
		p.SlotSize = append(p.SlotSize, elems)
		return len(p.SlotSize) - 1
	}
	own := func(elems int) int {
		p.SlotSize = append(p.SlotSize, max(elems, 1))
		return len(p.SlotSize) - 1
	}
	elems := func(name string) int {
		n := 1
		for _, d := range p.Shapes[name] {
			n *= d
		}
		return n
	}
	pinned := map[string]bool{} // roots whose slot is never reused
	for name := range isOutput {
		pinned[rootOf(name)] = true
	}
	lastUse := map[string]int{}
	for i, st := range p.Steps {
		for _, in := range st.Ins {
			lastUse[rootOf(in)] = i
		}
	}
	for _, in := range m.Inputs {
		p.Slot[in.Name] = take(elems(in.Name))
	}
	upload := func(name string) {
		t := p.Host[name]
		if _, done := p.Slot[name]; t == nil || done {
			return
		}
		s := own(t.Len())
		p.Slot[name] = s
		p.Uploads = append(p.Uploads, Upload{Name: name, Slot: s, Data: t.Float()})
	}
	for i, st := range p.Steps {
		for _, in := range st.Ins {
			upload(in)
		}
		for _, name := range st.Outs {
			if pinned[name] {
				p.Slot[name] = own(elems(name))
			} else {
				p.Slot[name] = take(elems(name))
			}
		}
		for _, in := range st.Ins {
			r := rootOf(in)
			if lastUse[r] == i && !pinned[r] && p.Host[r] == nil {
				free = append(free, p.Slot[r])
				lastUse[r] = -1 // a step reading a value twice frees it once
			}
		}
	}
	for name, r := range root {
		if s, ok := p.Slot[r]; ok {
			p.Slot[name] = s
		}
	}
	for _, o := range m.Outputs {
		upload(o.Name)
		s, ok := p.Slot[o.Name]
		if !ok {
			return nil, fmt.Errorf("planner: %w: output %q has no buffer", ErrPlan, o.Name)
		}
		p.Outputs = append(p.Outputs, s)
	}
	for _, in := range m.Inputs {
		p.Inputs = append(p.Inputs, p.Slot[in.Name])
	}
	return p, nil
}

func static(s []int) bool {
	if s == nil {
		return false
	}
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

func shapesOf(v []ops.Value) [][]int {
	s := make([][]int, len(v))
	for i := range v {
		s[i] = v[i].Shape
	}
	return s
}
