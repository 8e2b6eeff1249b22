package main

import (
	"fmt"
	"strings"

	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
	"github.com/vkinfer/vkinfer/planner"
)

// supportedOp reports whether a layer of this build runs op (docs/OPS.md).
// An attribute or shape a layer does not take is found only at load.
func supportedOp(op string) bool {
	_, ok := layers.Lookup(op)
	return ok
}

// runnable reports, for each node of m, whether this build can run it: a
// layer runs its op, or the planner evaluates it on the host when a plan is
// made (shape arithmetic: Shape, Gather, Concat, ... on host values) or
// makes it a view (planner.Prepare's kinds).
func runnable(m *model.Model) []bool {
	ok := make([]bool, len(m.Nodes))
	g, err := planner.Prepare(m, nil)
	for i, n := range m.Nodes {
		ok[i] = supportedOp(n.Op) || err == nil && g.Kinds[i] != planner.Device
	}
	return ok
}

// unsupported lists the nodes of m that this build cannot run (runnable),
// as "name (Op)".
func unsupported(m *model.Model) []string {
	var s []string
	for i, ok := range runnable(m) {
		if !ok {
			s = append(s, fmt.Sprintf("%s (%s)", m.Nodes[i].Name, m.Nodes[i].Op))
		}
	}
	return s
}

// unsupportedSummary is the sentence naming the nodes no layer runs.
func unsupportedSummary(m *model.Model, nodes []string) string {
	return fmt.Sprintf("%d of %d nodes use an op no layer of vkinfer runs: %s; loading the model on a device fails (docs/OPS.md lists the supported ops)",
		len(nodes), len(m.Nodes), strings.Join(nodes, ", "))
}

// appendSoftmax makes the first output of m a probability: a Softmax over
// its last axis is appended after the node that made it, and the output
// keeps its name (the logits get the name NAME_logits).
func appendSoftmax(m *model.Model) error {
	if len(m.Outputs) == 0 {
		return fmt.Errorf("the model has no outputs")
	}
	out := m.Outputs[0].Name
	if m.IsProbability(out) {
		return fmt.Errorf("output %q already ends in a Softmax or Sigmoid; convert without --softmax", out)
	}
	taken := map[string]bool{}
	for _, v := range m.Inputs {
		taken[v.Name] = true
	}
	for _, n := range m.Nodes {
		for _, o := range n.Outputs {
			taken[o] = true
		}
	}
	for _, t := range m.Initializers {
		taken[t.Name] = true
	}
	logits := out + "_logits"
	for i := 2; taken[logits]; i++ {
		logits = fmt.Sprintf("%s_logits%d", out, i)
	}
	produced := false
	for i := range m.Nodes {
		n := &m.Nodes[i]
		for j, o := range n.Outputs {
			if o == out {
				n.Outputs[j], produced = logits, true
			}
		}
		for j, in := range n.Inputs {
			if in == out {
				n.Inputs[j] = logits
			}
		}
	}
	if !produced {
		return fmt.Errorf("output %q is not made by a node (it is an input or a weight)", out)
	}
	m.Nodes = append(m.Nodes, model.Node{
		Name: out + "_softmax", Op: ops.OpSoftmax, Inputs: []string{logits}, Outputs: []string{out},
		Attrs: map[string]model.Attr{ops.AttrAxis: model.IntAttr(-1)},
	})
	return nil
}
