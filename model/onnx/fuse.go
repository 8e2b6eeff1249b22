package onnx

import (
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// fuseDense maps the affine layers of a model to the fused fast path, the
// model op Dense (y = x·Wᵀ + b, W stored [out, in]):
//
//   - Gemm(A, B[, C]) with B a constant matrix, alpha = 1, transA = 0, and
//     C absent, or beta = 1 and C a constant of N values ([N], [1, N] or a
//     single value broadcast);
//   - MatMul(A, B) with B a constant matrix, together with an Add of a
//     constant bias of N values when the Add is the MatMul's only reader.
//
// W is B when B is already [out, in] (Gemm transB = 1) and Bᵀ otherwise.
// The Dense node takes the Add's place, so a Relu right after it fuses too.
// A whose rank is known and not 2 is left alone (Dense takes [N, in]).
func (imp *importer) fuseDense(isOutput map[string]bool) {
	readers := map[string]int{}
	for _, n := range imp.nodes {
		for _, in := range n.Inputs {
			readers[in]++
		}
	}
	var out []*node
	drop := map[*node]bool{}
	replace := map[*node]*node{} // an Add replaced by the Dense made of it
	for i, n := range imp.nodes {
		if drop[n] {
			continue
		}
		if d := replace[n]; d != nil {
			out = append(out, d)
			continue
		}
		switch n.Op {
		case "Gemm":
			if d := imp.gemmDense(n); d != nil {
				n = d
			}
		case "MatMul":
			w := imp.denseWeight(n, false)
			if w == "" {
				break
			}
			// The bias must not broadcast y to a higher rank: y has A's
			// rank, 2 or unknown (then 1 or more).
			maxRank := 1
			if s := imp.shapeOf(n.Inputs[0]); len(s) == 2 {
				maxRank = 2
			}
			out := imp.consts[w].Shape[0]
			if add, bias := imp.biasAdd(imp.nodes[i+1:], n.Outputs[0], out, maxRank, readers, isOutput); add != nil {
				dense := &node{Name: n.Name, Op: ops.OpDense, Default: true,
					Inputs: []string{n.Inputs[0], w, bias}, Outputs: add.Outputs, Attrs: map[string]model.Attr{}}
				replace[add] = dense
				drop[n] = true
				continue
			}
			n = &node{Name: n.Name, Op: ops.OpDense, Default: true,
				Inputs: []string{n.Inputs[0], w}, Outputs: n.Outputs, Attrs: map[string]model.Attr{}}
		}
		out = append(out, n)
	}
	imp.nodes = out
}

// rank2OK reports whether x may feed a Dense: its rank is 2 or unknown.
func (imp *importer) rank2OK(x string) bool {
	s := imp.shapeOf(x)
	return s == nil || len(s) == 2
}

// denseWeight returns the name of a constant [out, in] weight for the
// MatMul/Gemm n whose B is a constant matrix, transposing it (a new
// constant) unless transB; "" if B is not a constant float matrix.
func (imp *importer) denseWeight(n *node, transB bool) string {
	if len(n.Inputs) < 2 || len(n.Outputs) != 1 || !imp.rank2OK(n.Inputs[0]) {
		return ""
	}
	b, ok := imp.consts[n.Inputs[1]]
	if !ok || !b.DType.isFloat() || len(b.Shape) != 2 || b.Len() == 0 {
		return ""
	}
	if transB {
		return n.Inputs[1]
	}
	k, m := b.Shape[0], b.Shape[1]
	w := make([]float32, len(b.Float))
	for i := 0; i < k; i++ {
		for j := 0; j < m; j++ {
			w[j*k+i] = b.Float[i*m+j]
		}
	}
	name := imp.fresh(n.Inputs[1] + "_T")
	imp.addConst(name, &Tensor{DType: b.DType, Shape: []int{m, k}, Float: w})
	return name
}

// biasVector returns the name of a constant [n] bias made of t when t holds
// n values along its last axis (shape [n], [1, n], ...) or one value; ""
// otherwise. maxRank bounds t's rank (broadcasting must not add dims).
func (imp *importer) biasVector(t *Tensor, n, maxRank int) string {
	if t == nil || !t.DType.isFloat() || len(t.Shape) > maxRank {
		return ""
	}
	switch {
	case t.Len() == 1 && n > 0:
		v := make([]float32, n)
		for i := range v {
			v[i] = t.Float[0]
		}
		name := imp.fresh(t.Name + "_bias")
		imp.addConst(name, &Tensor{DType: t.DType, Shape: []int{n}, Float: v})
		return name
	case t.Len() == n && len(t.Shape) >= 1 && t.Shape[len(t.Shape)-1] == n:
		if len(t.Shape) == 1 {
			return t.Name
		}
		name := imp.fresh(t.Name + "_bias")
		imp.addConst(name, &Tensor{DType: t.DType, Shape: []int{n}, Float: t.Float})
		return name
	}
	return ""
}

// gemmDense returns the Dense node for a Gemm that maps to one, or nil.
func (imp *importer) gemmDense(n *node) *node {
	if n.floatAttr("alpha", 1) != 1 || n.intAttr("transA", 0) != 0 || len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return nil
	}
	b, ok := imp.consts[n.in(1)]
	if !ok || len(b.Shape) != 2 {
		return nil
	}
	transB := n.intAttr("transB", 0) != 0
	out := b.Shape[1]
	if transB {
		out = b.Shape[0]
	}
	bias := ""
	if len(n.Inputs) == 3 {
		c, ok := imp.consts[n.Inputs[2]]
		if !ok || n.floatAttr("beta", 1) != 1 {
			return nil
		}
		if bias = imp.biasVector(c, out, 2); bias == "" {
			return nil
		}
	}
	w := imp.denseWeight(n, transB)
	if w == "" {
		return nil
	}
	ins := []string{n.Inputs[0], w}
	if bias != "" {
		ins = append(ins, bias)
	}
	return &node{Name: n.Name, Op: ops.OpDense, Default: true, Inputs: ins, Outputs: n.Outputs, Attrs: map[string]model.Attr{}}
}

// biasAdd returns the Add among later nodes that is the only reader of y
// (not a graph output) and adds a constant of n values to it, with the
// name of that constant as an [n] bias. maxRank bounds the constant's rank
// so that broadcasting cannot change y's shape.
func (imp *importer) biasAdd(later []*node, y string, n, maxRank int, readers map[string]int, isOutput map[string]bool) (*node, string) {
	if readers[y] != 1 || isOutput[y] {
		return nil, ""
	}
	for _, add := range later {
		for _, in := range add.Inputs {
			if in != y {
				continue
			}
			if add.Op != "Add" || len(add.Inputs) != 2 || add.Inputs[0] == add.Inputs[1] {
				return nil, ""
			}
			c := add.Inputs[1]
			if c == y {
				c = add.Inputs[0]
			}
			bias := imp.biasVector(imp.consts[c], n, maxRank)
			if bias == "" {
				return nil, ""
			}
			return add, bias
		}
	}
	return nil, ""
}
