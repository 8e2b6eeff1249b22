package main

import (
	"fmt"
	"regexp"
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
// its last axis is appended after the node that made it. The output keeps
// its name (the logits get the name NAME_logits), unless the name says it
// holds logits ("logits", "out_logit", ...): then the logits keep that name
// and the output is renamed with "probs" in its place, since an output
// called logits that holds probabilities misleads. It returns the output's
// name after the change.
func appendSoftmax(m *model.Model) (string, error) {
	if len(m.Outputs) == 0 {
		return "", fmt.Errorf("the model has no outputs")
	}
	out := m.Outputs[0].Name
	if m.IsProbability(out) {
		return "", fmt.Errorf("output %q already ends in a Softmax or Sigmoid; convert without --softmax", out)
	}
	taken := map[string]bool{}
	for _, v := range m.Inputs {
		taken[v.Name] = true
	}
	for _, n := range m.Nodes {
		taken[n.Name] = true
		for _, o := range n.Outputs {
			taken[o] = true
		}
	}
	for _, t := range m.Initializers {
		taken[t.Name] = true
	}
	unique := func(name string) string {
		u := name
		for i := 2; taken[u]; i++ {
			u = fmt.Sprintf("%s%d", name, i)
		}
		return u
	}
	produced := false
	for i := range m.Nodes {
		for _, o := range m.Nodes[i].Outputs {
			produced = produced || o == out
		}
	}
	if !produced {
		return "", fmt.Errorf("output %q is not made by a node (it is an input or a weight)", out)
	}
	if at := logitsName.FindStringIndex(out); at != nil {
		// The logits keep their name; the output becomes probabilities.
		probs := unique(out[:at[0]] + "probs" + out[at[1]:])
		m.Outputs[0].Name = probs
		m.Nodes = append(m.Nodes, model.Node{
			Name: unique(probs + "_softmax"), Op: ops.OpSoftmax, Inputs: []string{out}, Outputs: []string{probs},
			Attrs: map[string]model.Attr{ops.AttrAxis: model.IntAttr(-1)},
		})
		return probs, nil
	}
	logits := unique(out + "_logits")
	for i := range m.Nodes {
		n := &m.Nodes[i]
		for j, o := range n.Outputs {
			if o == out {
				n.Outputs[j] = logits
			}
		}
		for j, in := range n.Inputs {
			if in == out {
				n.Inputs[j] = logits
			}
		}
	}
	m.Nodes = append(m.Nodes, model.Node{
		Name: unique(out + "_softmax"), Op: ops.OpSoftmax, Inputs: []string{logits}, Outputs: []string{out},
		Attrs: map[string]model.Attr{ops.AttrAxis: model.IntAttr(-1)},
	})
	return out, nil
}

// logitsName finds "logits" or "logit" in an output name, any case.
var logitsName = regexp.MustCompile(`(?i)logits?`)
