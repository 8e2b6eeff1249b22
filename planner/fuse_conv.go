package planner

import (
	"math"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// FuseConvActivation folds each Conv whose only reader is the next node, an
// element-wise activation of it, into one Conv with that activation
// (ops.AttrActivation with AttrActAlpha/AttrActBeta: one dispatch, the
// activation applied to the sum in registers). Relu, LeakyRelu, Clip with
// attribute bounds (the importer's form for constant bounds), HardSigmoid,
// HardSwish and Sigmoid fold; Clip with runtime bounds does not. A Conv
// followed by Sigmoid of it and the Mul of the two (x·sigmoid(x), SiLU or
// Swish as PyTorch exports it: efficientnet, the Conv read by both) folds
// into one Conv with activation "silu" (siluAfter).
func FuseConvActivation(nodes []model.Node, outputs []model.ValueInfo) []model.Node {
	readers := Readers(nodes, outputs)
	var out []model.Node
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if y, ok := siluAfter(nodes, i, readers); ok {
			f := n
			f.Attrs = map[string]model.Attr{}
			for k, v := range n.Attrs {
				f.Attrs[k] = v
			}
			f.Attrs[ops.AttrActivation] = model.StringAttr("silu")
			f.Attrs[ops.AttrActAlpha] = model.FloatAttr(0)
			f.Attrs[ops.AttrActBeta] = model.FloatAttr(0)
			f.Outputs = []string{y}
			f.Name = n.Name + "+" + nodes[i+1].Name + "+" + nodes[i+2].Name
			out = append(out, f)
			i += 2
			continue
		}
		if n.Op == ops.OpConv && len(n.Outputs) == 1 && readers[n.Outputs[0]] == 1 && i+1 < len(nodes) {
			if _, has := n.Attrs[ops.AttrActivation]; !has {
				next := nodes[i+1]
				if len(next.Inputs) == 1 && next.Inputs[0] == n.Outputs[0] && len(next.Outputs) == 1 {
					if act, alpha, beta, ok := foldableActivation(&next); ok {
						f := n
						f.Attrs = map[string]model.Attr{}
						for k, v := range n.Attrs {
							f.Attrs[k] = v
						}
						f.Attrs[ops.AttrActivation] = model.StringAttr(act)
						f.Attrs[ops.AttrActAlpha] = model.FloatAttr(alpha)
						f.Attrs[ops.AttrActBeta] = model.FloatAttr(beta)
						f.Outputs = next.Outputs
						f.Name = n.Name + "+" + next.Name
						out = append(out, f)
						i++
						continue
					}
				}
			}
		}
		out = append(out, n)
	}
	return out
}

// siluAfter reports whether nodes[i] is a Conv without an activation whose
// output c is read only by the next two nodes, s = Sigmoid(c) (read only by
// the Mul) and y = Mul(c, s) or Mul(s, c), and returns y.
func siluAfter(nodes []model.Node, i int, readers map[string]int) (string, bool) {
	if i+2 >= len(nodes) {
		return "", false
	}
	n, sig, mul := &nodes[i], &nodes[i+1], &nodes[i+2]
	if n.Op != ops.OpConv || len(n.Outputs) != 1 || sig.Op != ops.OpSigmoid || mul.Op != ops.OpMul ||
		len(sig.Inputs) != 1 || len(sig.Outputs) != 1 || len(sig.Attrs) != 0 || len(mul.Inputs) != 2 || len(mul.Outputs) != 1 {
		return "", false
	}
	if _, has := n.Attrs[ops.AttrActivation]; has {
		return "", false
	}
	c, s := n.Outputs[0], sig.Outputs[0]
	pair := (mul.Inputs[0] == c && mul.Inputs[1] == s) || (mul.Inputs[0] == s && mul.Inputs[1] == c)
	if sig.Inputs[0] != c || !pair || readers[c] != 2 || readers[s] != 1 || len(mul.Attrs) != 0 {
		return "", false
	}
	return mul.Outputs[0], true
}

// foldableActivation returns Conv's fused-activation name and parameters
// for node n, if n is one Conv can apply. Attribute defaults are ONNX's.
func foldableActivation(n *model.Node) (string, float32, float32, bool) {
	f := func(name string, def float32) (float32, bool) {
		a, ok := n.Attrs[name]
		switch {
		case !ok:
			return def, true
		case a.Kind == model.AttrFloat:
			return a.Float, true
		case a.Kind == model.AttrInt:
			return float32(a.Int), true
		}
		return 0, false
	}
	only := func(names ...string) bool {
		for k := range n.Attrs {
			known := false
			for _, name := range names {
				known = known || k == name
			}
			if !known {
				return false
			}
		}
		return true
	}
	switch n.Op {
	case ops.OpRelu, ops.OpSigmoid:
		if only() {
			return map[string]string{ops.OpRelu: "relu", ops.OpSigmoid: "sigmoid"}[n.Op], 0, 0, true
		}
	case ops.OpLeakyRelu:
		if alpha, ok := f("alpha", 0.01); ok && only("alpha") {
			return "leakyrelu", alpha, 0, true
		}
	case ops.OpClip:
		lo, ok1 := f("min", float32(math.Inf(-1)))
		hi, ok2 := f("max", float32(math.Inf(1)))
		if ok1 && ok2 && only("min", "max") {
			return "clip", lo, hi, true
		}
	case "HardSigmoid":
		alpha, ok1 := f("alpha", 0.2)
		beta, ok2 := f("beta", 0.5)
		if ok1 && ok2 && only("alpha", "beta") {
			return "hardsigmoid", alpha, beta, true
		}
	case "HardSwish":
		if only() {
			return "hardswish", 0, 0, true
		}
	}
	return "", 0, 0, false
}
