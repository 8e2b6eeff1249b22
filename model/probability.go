package model

// IsProbability reports whether the graph output called name holds
// probabilities: it is produced by a Softmax along its last axis (each row
// sums to 1) or by a Sigmoid (each value is in [0, 1]). Any other output,
// e.g. the logits of a model exported without its final Softmax, holds
// scores that are not probabilities. `vkinfer convert --softmax` appends a
// Softmax to a model whose output is logits.
func (m *Model) IsProbability(name string) bool {
	rank := -1
	for _, o := range m.Outputs {
		if o.Name == name {
			rank = len(o.Shape)
		}
	}
	if rank < 0 {
		return false
	}
	for i := len(m.Nodes) - 1; i >= 0; i-- {
		n := &m.Nodes[i]
		for _, out := range n.Outputs {
			if out != name {
				continue
			}
			switch n.Op {
			case "Sigmoid":
				return true
			case "Softmax":
				a, ok := n.Attr("axis")
				return !ok || a.Kind == AttrInt && (a.Int == -1 || a.Int == int64(rank-1))
			}
			return false
		}
	}
	return false
}
