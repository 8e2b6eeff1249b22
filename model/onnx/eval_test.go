package onnx

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/layers/ref"
	"github.com/vkinfer/vkinfer/model"
)

// evalArity is the least number of inputs of the ops evalModel runs
// (1 for the others).
var evalArity = map[string]int{model.OpDense: 2, "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "MatMul": 2, "Gemm": 2}

// value is a tensor during evalModel.
type value struct {
	shape []int
	data  []float32
}

// evalModel runs an imported model on the CPU with layers/ref, the oracle
// the GPU ops are tested against: it checks that the importer's rewrites
// (Dense, attributes) keep ONNX's meaning.
func evalModel(m *model.Model, inputs map[string]value) (map[string]value, error) {
	vals := map[string]value{}
	for k, v := range inputs {
		vals[k] = v
	}
	for _, t := range m.Initializers {
		vals[t.Name] = value{t.Shape, t.Data}
	}
	for _, n := range m.Nodes {
		in := make([]value, len(n.Inputs))
		for i, name := range n.Inputs {
			v, ok := vals[name]
			if !ok {
				return nil, fmt.Errorf("node %s: no value %q", n.Name, name)
			}
			in[i] = v
		}
		attrF := func(name string, def float32) float32 {
			if a, ok := n.Attrs[name]; ok {
				return a.Float
			}
			return def
		}
		attrI := func(name string, def int64) int64 {
			if a, ok := n.Attrs[name]; ok {
				return a.Int
			}
			return def
		}
		if need := evalArity[n.Op]; len(in) < need || len(n.Outputs) == 0 || len(in) == 0 {
			return nil, fmt.Errorf("node %s: %d inputs, %d outputs", n.Name, len(in), len(n.Outputs))
		}
		var out value
		var err error
		unary := func(op ref.UnaryOp, a, b float32) value { return value{in[0].shape, ref.Unary(op, in[0].data, a, b)} }
		switch n.Op {
		case model.OpDense:
			w := in[1]
			x := in[0].shape
			if len(w.shape) != 2 || len(x) == 0 || x[len(x)-1] != w.shape[1] || w.shape[1] == 0 ||
				(len(in) == 3 && len(in[2].data) != w.shape[0]) {
				return nil, fmt.Errorf("node %s: Dense of %v by %v", n.Name, x, w.shape)
			}
			rows := len(in[0].data) / w.shape[1]
			var bias []float32
			if len(in) == 3 {
				bias = in[2].data
			}
			act := ref.ActNone
			if _, ok := n.Attrs[model.AttrActivation]; ok {
				act = ref.ActReLU
			}
			s := append([]int{}, in[0].shape...)
			s[len(s)-1] = w.shape[0]
			out = value{s, ref.Gemm(in[0].data, w.data, bias, rows, w.shape[0], w.shape[1], false, true, act)}
		case "Relu":
			out = unary(ref.UnaryRelu, 0, 0)
		case "Sigmoid":
			out = unary(ref.UnarySigmoid, 0, 0)
		case "Tanh":
			out = unary(ref.UnaryTanh, 0, 0)
		case "Identity":
			out = unary(ref.UnaryIdentity, 0, 0)
		case "LeakyRelu":
			out = unary(ref.UnaryLeakyRelu, attrF("alpha", 0.01), 0)
		case "Clip":
			out = unary(ref.UnaryClip, attrF("min", float32(math.Inf(-1))), attrF("max", float32(math.Inf(1))))
		case "Softmax", "LogSoftmax":
			var y []float32
			y, err = ref.SoftmaxAxis(in[0].data, in[0].shape, int(attrI("axis", -1)), n.Op == "LogSoftmax", attrI("coerce_2d", 0) != 0)
			out = value{in[0].shape, y}
		case "Add", "Sub", "Mul", "Div":
			op := map[string]ref.BinaryOp{"Add": ref.Add, "Sub": ref.Sub, "Mul": ref.Mul, "Div": ref.Div}[n.Op]
			out.data, out.shape, err = ref.Binary(op, in[0].data, in[0].shape, in[1].data, in[1].shape)
		case "MatMul":
			out.data, out.shape, err = ref.MatMul(in[0].data, in[0].shape, in[1].data, in[1].shape)
		case "Gemm":
			var c []float32
			var cs []int
			if len(in) == 3 {
				c, cs = in[2].data, in[2].shape
			}
			out.data, out.shape, err = ref.GemmONNX(in[0].data, in[0].shape, in[1].data, in[1].shape, c, cs,
				attrF("alpha", 1), attrF("beta", 1), attrI("transA", 0) != 0, attrI("transB", 0) != 0)
		case "Flatten":
			var s []int
			s, err = flattenShape(in[0].shape, attrI("axis", 1))
			out = value{s, in[0].data}
		case "Reshape":
			var s []int
			s, err = reshapeShape(in[0].shape, n.Attrs["shape"].Ints, attrI("allowzero", 0) != 0)
			out = value{s, in[0].data}
		default:
			return nil, fmt.Errorf("node %s: evalModel has no op %s", n.Name, n.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.Name, n.Op, err)
		}
		vals[n.Outputs[0]] = out
	}
	res := map[string]value{}
	for _, o := range m.Outputs {
		res[o.Name] = vals[o.Name]
	}
	return res, nil
}
