package planner

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// FoldBatchNorm returns m with each inference BatchNormalization folded into
// the Conv, ConvTranspose, Gemm or Dense that computes its input, where
// that is exact up to rounding:
//
//   - the producer's output has no other reader and is not a graph output,
//     the producer has no fused activation (FuseConvActivation and
//     FuseDenseRelu run after this pass), and its weight and bias are
//     initializers that are not overridable graph inputs (model.Defaults);
//   - BatchNormalization's scale, bias, mean and variance are such
//     initializers, of shape [C] with C the producer's output channels;
//   - Gemm: its C is absent, a scalar, [N] or [1, N]; Dense: its output is
//     2-D (BatchNormalization's channel axis 1 is Dense's feature axis only
//     then; checked with ops.InferModel from the declared input shapes).
//
// With s = scale / sqrt(var + epsilon) per output channel o (ONNX
// BatchNormalization), the producer's weight becomes w·s[o] along o and its
// bias (b - mean)·s + bias (b = 0 when absent; Gemm: beta·C, and beta
// becomes 1), computed in float64 and rounded once to float32. The node
// keeps the producer's op, takes BatchNormalization's output, and is named
// "<producer>+<batchnorm>". The rewritten weights are new initializers
// (named after the old ones with "/bnfold"); initializers that no node reads
// any more are dropped. m itself is not modified; m is returned as is when
// nothing folds.
//
// Why here and not in the ONNX importer: the importer keeps a file's graph
// as written (`vkinfer convert` round-trips it and ops.Run, the CPU
// reference the device is compared with, runs the unfolded graph, so a
// folding error shows as a mismatch), and models built in Go or read from
// mlp.bin get the folding too.
func FoldBatchNorm(m *model.Model) *model.Model {
	readers := Readers(m.Nodes, m.Outputs)
	producer := map[string]int{}
	for i, n := range m.Nodes {
		for _, o := range n.Outputs {
			producer[o] = i
		}
	}
	inits := map[string]*model.Tensor{}
	for _, t := range m.Initializers {
		if t != nil && m.Default(t.Name) == nil {
			inits[t.Name] = t
		}
	}
	constant := func(name string) *model.Tensor { return inits[name] }
	var shapes map[string][]int // Dense outputs' ranks, inferred on first need
	nodes := append([]model.Node(nil), m.Nodes...)
	drop := map[int]bool{} // folded BatchNormalization nodes
	var added []*model.Tensor
	taken := map[string]bool{}
	for _, t := range m.Initializers {
		if t != nil {
			taken[t.Name] = true
		}
	}
	fresh := func(base string) string {
		name := base + "/bnfold"
		for i := 2; taken[name]; i++ {
			name = fmt.Sprintf("%s/bnfold%d", base, i)
		}
		taken[name] = true
		return name
	}
	for bi := range nodes {
		bn := &nodes[bi]
		if bn.Op != ops.OpBatchNormalization || len(bn.Inputs) != 5 || len(bn.Outputs) != 1 {
			continue
		}
		pi, ok := producer[bn.Inputs[0]]
		if !ok || readers[bn.Inputs[0]] != 1 || drop[pi] {
			continue
		}
		p := &nodes[pi]
		if len(p.Outputs) != 1 || !foldableInto(p) {
			continue
		}
		eps, ok := floatAttr(bn, "epsilon", 1e-5)
		if !ok || intAttr(bn, "training_mode", 0) != 0 || intAttr(bn, "spatial", 1) != 1 {
			continue
		}
		var params [4][]float32
		c := -1
		for k := range params {
			t := constant(bn.Inputs[1+k])
			if t == nil || len(t.Shape) != 1 || (c >= 0 && t.Shape[0] != c) || len(t.Data) != t.Shape[0] {
				c = -2
				break
			}
			c, params[k] = t.Shape[0], t.Data
		}
		if c < 0 {
			continue
		}
		if p.Op == ops.OpDense {
			if shapes == nil {
				var err error
				if shapes, err = ops.InferModel(m, nil); err != nil {
					shapes = map[string][]int{}
				}
			}
			if len(shapes[p.Outputs[0]]) != 2 {
				continue
			}
		}
		s := make([]float64, c)
		shift := make([]float64, c) // bias - mean·s
		for o := range s {
			scale, bias, mean, variance := params[0][o], params[1][o], params[2][o], params[3][o]
			s[o] = float64(scale) / math.Sqrt(float64(variance)+float64(eps))
			shift[o] = float64(bias) - float64(mean)*s[o]
		}
		f, ok := foldInto(p, s, shift, constant, fresh)
		if !ok {
			continue
		}
		f.node.Outputs = bn.Outputs
		f.node.Name = p.Name + "+" + bn.Name
		*p = f.node
		added = append(added, f.tensors...)
		for _, t := range f.tensors {
			inits[t.Name] = t
		}
		drop[bi] = true
	}
	if len(drop) == 0 {
		return m
	}
	out := *m
	out.Nodes = nil
	read := map[string]bool{}
	for i, n := range nodes {
		if drop[i] {
			continue
		}
		out.Nodes = append(out.Nodes, n)
		for _, in := range n.Inputs {
			read[in] = true
		}
	}
	for _, o := range m.Outputs {
		read[o.Name] = true
	}
	// Keep every initializer something still reads, and those nothing read
	// before either (they are the model's business).
	before := Readers(m.Nodes, m.Outputs)
	out.Initializers = nil
	for _, t := range m.Initializers {
		if t == nil || read[t.Name] || before[t.Name] == 0 {
			out.Initializers = append(out.Initializers, t)
		}
	}
	out.Initializers = append(out.Initializers, added...)
	return &out
}

// foldableInto says whether n is an op whose output channels BatchNormalization
// can be folded into, with no activation fused yet.
func foldableInto(n *model.Node) bool {
	switch n.Op {
	case ops.OpConv, ops.OpConvTranspose, ops.OpGemm, ops.OpDense:
	default:
		return false
	}
	_, act := n.Attrs[ops.AttrActivation]
	return !act
}

// folded is a producer node rewritten with BatchNormalization folded in,
// and its new initializers.
type folded struct {
	node    model.Node
	tensors []*model.Tensor
}

// foldInto rewrites n (Conv, ConvTranspose, Gemm or Dense) so that its
// output channel o is multiplied by s[o] and shifted by shift[o]; false
// when its weight or bias is not a constant of a fitting shape.
func foldInto(n *model.Node, s, shift []float64, constant func(string) *model.Tensor, fresh func(string) string) (folded, bool) {
	c := len(s)
	if len(n.Inputs) < 2 {
		return folded{}, false
	}
	w := constant(n.Inputs[1])
	if w == nil || len(w.Shape) < 2 || w.Elements() != len(w.Data) {
		return folded{}, false
	}
	// channel(i) is the output channel of weight element i.
	var channel func(i int) int
	var biasIn int // input index of the bias
	beta := 1.0
	switch n.Op {
	case ops.OpConv, ops.OpDense:
		// Conv W [Cout, Cin/group, k...]; Dense W [out, in]: channel = row.
		if w.Shape[0] != c || (n.Op == ops.OpDense && len(w.Shape) != 2) {
			return folded{}, false
		}
		inner := len(w.Data) / c
		channel = func(i int) int { return i / inner }
		biasIn = 2
	case ops.OpConvTranspose:
		// W [Cin, Cout/group, k...]: input channel ci of group ci/(Cin/group)
		// feeds output channels group·Cout/group + j.
		g := int(intAttr(n, "group", 1))
		cin, per := w.Shape[0], w.Shape[1]
		if g < 1 || cin%g != 0 || per*g != c {
			return folded{}, false
		}
		inner := len(w.Data) / (cin * per)
		channel = func(i int) int {
			ci, j := i/(per*inner), i/inner%per
			return ci/(cin/g)*per + j
		}
		biasIn = 2
	case ops.OpGemm:
		// Y = alpha·op(A)·op(B) + beta·C; BatchNormalization scales Y's
		// columns: op(B)'s columns, B's rows when transB.
		if len(w.Shape) != 2 {
			return folded{}, false
		}
		if intAttr(n, "transB", 0) != 0 {
			if w.Shape[0] != c {
				return folded{}, false
			}
			k := w.Shape[1]
			channel = func(i int) int { return i / k }
		} else {
			if w.Shape[1] != c {
				return folded{}, false
			}
			channel = func(i int) int { return i % c }
		}
		b, ok := floatAttr(n, "beta", 1)
		if !ok {
			return folded{}, false
		}
		beta = float64(b)
		biasIn = 2
	}
	bias := make([]float64, c) // the old bias per channel, zero when absent
	if biasIn < len(n.Inputs) && n.Inputs[biasIn] != "" {
		b := constant(n.Inputs[biasIn])
		if b == nil || b.Elements() != len(b.Data) {
			return folded{}, false
		}
		switch {
		case len(b.Data) == c && (len(b.Shape) == 1 || n.Op == ops.OpGemm && len(b.Shape) == 2 && b.Shape[0] == 1):
			for o := range bias {
				bias[o] = beta * float64(b.Data[o])
			}
		case n.Op == ops.OpGemm && len(b.Data) == 1: // a scalar C broadcast
			for o := range bias {
				bias[o] = beta * float64(b.Data[0])
			}
		default:
			return folded{}, false
		}
	}
	nw := &model.Tensor{Name: fresh(w.Name), Shape: append([]int(nil), w.Shape...), Data: make([]float32, len(w.Data))}
	for i, v := range w.Data {
		nw.Data[i] = float32(float64(v) * s[channel(i)])
	}
	biasName := n.Name
	if biasIn < len(n.Inputs) && n.Inputs[biasIn] != "" {
		biasName = n.Inputs[biasIn]
	} else if biasName == "" {
		biasName = w.Name + "/bias"
	}
	nb := &model.Tensor{Name: fresh(biasName), Shape: []int{c}, Data: make([]float32, c)}
	for o := range nb.Data {
		nb.Data[o] = float32(bias[o]*s[o] + shift[o])
	}
	f := *n
	f.Inputs = append([]string(nil), n.Inputs...)
	for len(f.Inputs) <= biasIn {
		f.Inputs = append(f.Inputs, "")
	}
	f.Inputs[1], f.Inputs[biasIn] = nw.Name, nb.Name
	f.Attrs = map[string]model.Attr{}
	for k, v := range n.Attrs {
		f.Attrs[k] = v
	}
	if n.Op == ops.OpGemm {
		f.Attrs["beta"] = model.FloatAttr(1)
	}
	return folded{node: f, tensors: []*model.Tensor{nw, nb}}, true
}

// floatAttr returns n's float attribute name (def when absent); false when
// it has another kind.
func floatAttr(n *model.Node, name string, def float32) (float32, bool) {
	a, ok := n.Attrs[name]
	switch {
	case !ok:
		return def, true
	case a.Kind == model.AttrFloat:
		return a.Float, true
	}
	return 0, false
}

// intAttr returns n's int attribute name, def when absent or of another
// kind.
func intAttr(n *model.Node, name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == model.AttrInt {
		return a.Int
	}
	return def
}
