package vkinfer_test

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The five view_* cases of the shared ONNX cases (PyTorch exports whose
// Reshape target is computed from the input's shape with a dynamic batch),
// each with ONNX Runtime's output: the planner evaluates the shape
// subgraphs on the host when it makes a plan.
func TestViewCases(t *testing.T) {
	dev := openDevice(t)
	for _, name := range []string{"view_as_other_tensor", "view_batch_size_taken_before_normalise",
		"view_batch_times_dim", "view_minus1_then_batch", "view_size_of_pre_relu_tensor"} {
		t.Run(name, func(t *testing.T) {
			c := readCase(t, name)
			got := runCase(t, dev, c, c.inputs)
			require.Len(t, got, len(c.expected))
			for n, want := range c.expected {
				requireCaseClose(t, n, got[n], want)
			}
		})
	}
}

// viewVariant builds x [-1, 4, 3] -> Relu -> (a shape subgraph computing
// the target) -> Reshape -> Dense [12 -> 5]: the variants exporters write
// for "flatten all but the batch".
type viewVariant struct {
	name  string
	nodes []model.Node // compute "target" from "x" (and "r")
	init  []*model.Tensor
}

func nd(name, op string, in []string, out string, attrs map[string]model.Attr) model.Node {
	return model.Node{Name: name, Op: op, Inputs: in, Outputs: []string{out}, Attrs: attrs}
}

func ints(v ...int64) map[string]model.Attr {
	return map[string]model.Attr{"axes": model.IntsAttr(v...)}
}

func axis(v int64) map[string]model.Attr { return map[string]model.Attr{"axis": model.IntAttr(v)} }

func scalarT(name string, shape []int, v ...float32) *model.Tensor {
	return &model.Tensor{Name: name, Shape: shape, Data: v}
}

var viewVariants = []viewVariant{
	{"torch_view_size0_minus1", []model.Node{ // x.view(x.size(0), -1)
		nd("shape", "Shape", []string{"x"}, "s", nil),
		nd("gather", "Gather", []string{"s", "zero"}, "n", axis(0)),
		nd("unsq", "Unsqueeze", []string{"n"}, "n1", ints(0)),
		nd("concat", "Concat", []string{"n1", "minus1"}, "target", axis(0)),
	}, []*model.Tensor{scalarT("zero", nil, 0), scalarT("minus1", []int{1}, -1)}},
	{"tf2onnx_slice_concat", []model.Node{ // tf.reshape(x, [tf.shape(x)[0], -1]) with int32 casts
		nd("shape", "Shape", []string{"x"}, "s", nil),
		nd("cast", "Cast", []string{"s"}, "s32", map[string]model.Attr{"to": model.IntAttr(6)}),
		nd("slice", "Slice", []string{"s32", "zero1", "one1", "zero1"}, "n1", nil),
		nd("concat", "Concat", []string{"n1", "minus1"}, "t32", axis(0)),
		nd("cast64", "Cast", []string{"t32"}, "target", map[string]model.Attr{"to": model.IntAttr(7)}),
	}, []*model.Tensor{scalarT("zero1", []int{1}, 0), scalarT("one1", []int{1}, 1), scalarT("minus1", []int{1}, -1)}},
	{"keras_prod_of_dims", []model.Node{ // [batch, prod(shape[1:])] with Slice end past the rank and Mul
		nd("shape", "Shape", []string{"r"}, "s", nil),
		nd("head", "Slice", []string{"s", "zero1", "one1"}, "n1", nil),
		nd("d1", "Gather", []string{"s", "one"}, "a", axis(0)),
		nd("d2", "Gather", []string{"s", "two"}, "c", axis(0)),
		nd("mul", "Mul", []string{"a", "c"}, "ab", nil),
		nd("unsq", "Unsqueeze", []string{"ab"}, "ab1", ints(0)),
		nd("concat", "Concat", []string{"n1", "ab1"}, "target", axis(0)),
	}, []*model.Tensor{scalarT("zero1", []int{1}, 0), scalarT("one1", []int{1}, 1), scalarT("one", nil, 1), scalarT("two", nil, 2)}},
	{"dynamo_shape_start_end", []model.Node{ // sym_size through Shape(start, end) (opset 15) and Squeeze
		nd("shape", "Shape", []string{"x"}, "n1", map[string]model.Attr{"start": model.IntAttr(0), "end": model.IntAttr(1)}),
		nd("sq", "Squeeze", []string{"n1"}, "n", ints(0)),
		nd("unsq", "Unsqueeze", []string{"n"}, "n2", ints(0)),
		nd("concat", "Concat", []string{"n2", "twelve"}, "target", axis(0)),
	}, []*model.Tensor{scalarT("twelve", []int{1}, 12)}},
	{"torch_where_equal_minus1", []model.Node{ // the -1 written as Where(Equal(t, -1), ...) then ConstantOfShape
		nd("shape", "Shape", []string{"x"}, "s", nil),
		nd("gather", "Gather", []string{"s", "zero1"}, "n1", axis(0)),
		nd("concat", "Concat", []string{"n1", "minus1"}, "t0", axis(0)),
		nd("eq", "Equal", []string{"t0", "minus1"}, "isneg", nil),
		nd("cos", "ConstantOfShape", []string{"two1"}, "ones", map[string]model.Attr{"value": model.FloatsAttr(1)}),
		nd("where", "Where", []string{"isneg", "minus1", "t0"}, "t1", nil),
		nd("mul", "Mul", []string{"t1", "ones"}, "target", nil),
	}, []*model.Tensor{scalarT("zero1", []int{1}, 0), scalarT("minus1", []int{1}, -1), scalarT("two1", []int{1}, 2)}},
	{"batch_div_size", []model.Node{ // x.view(x.size(0) * 2, -1) // 2 ... as Div of Size by 12
		nd("size", "Size", []string{"x"}, "sz", nil),
		nd("div", "Div", []string{"sz", "twelve"}, "n", nil),
		nd("unsq", "Unsqueeze", []string{"n"}, "n1", ints(0)),
		nd("concat", "Concat", []string{"n1", "minus1"}, "target", axis(0)),
	}, []*model.Tensor{scalarT("twelve", nil, 12), scalarT("minus1", []int{1}, -1)}},
}

// Every variant loads once and runs at several batch sizes (one plan each),
// matching ops.Run, the CPU reference.
func TestViewVariants(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewSource(5))
	for _, v := range viewVariants {
		t.Run(v.name, func(t *testing.T) {
			m := &model.Model{
				Name:    v.name,
				Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 4, 3}}},
				Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 5}}},
				Nodes: append(append([]model.Node{nd("relu", "Relu", []string{"x"}, "r", nil)}, v.nodes...),
					nd("reshape", "Reshape", []string{"r", "target"}, "f", nil),
					nd("dense", ops.OpDense, []string{"f", "w", "b"}, "y", nil)),
				Initializers: append([]*model.Tensor{
					{Name: "w", Shape: []int{5, 12}, Data: randSlice(r, 60)},
					{Name: "b", Shape: []int{5}, Data: randSlice(r, 5)}}, v.init...),
			}
			lm, err := dev.LoadModel(m)
			require.NoError(t, err)
			defer lm.Close()
			for _, batch := range []int{1, 3, 7, 1} {
				x := randSlice(r, batch*12)
				got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 4, 3}, Data: x})
				require.NoError(t, err, "batch %d", batch)
				want, err := ops.Run(m, ops.F32([]int{batch, 4, 3}, x))
				require.NoError(t, err)
				require.Equal(t, want[0].Shape, got[0].Shape)
				requireCaseClose(t, fmt.Sprintf("y (batch %d)", batch), got[0], vkinfer.Tensor{Shape: want[0].Shape, Data: want[0].Data})
			}
		})
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// A graph input whose ONNX type has no shape (testdata/onnxcases/
// any_shape_input, written by model/onnx's TestAnyShapeCaseFile) takes the
// shape of the tensor given at run time: one plan per shape, ranks 2 to 4,
// each compared with the reference executor; a shape the graph cannot take
// is ErrShape naming the node, and the model still runs afterwards.
func TestAnyShapeInput(t *testing.T) {
	dev := openDevice(t)
	path := filepath.Join("testdata", "onnxcases", "any_shape_input", "model.onnx")
	m, err := dev.Load(path)
	require.NoError(t, err)
	defer m.Close()
	in := m.Spec().Inputs[0]
	require.True(t, in.AnyShape, "input %s", in.ShapeString())
	r := rand.New(rand.NewSource(5))
	for _, shape := range [][]int{{2, 12}, {3, 3, 4}, {1, 2, 2, 3}, {13, 12}, {2, 12}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := vkinfer.Tensor{Shape: shape, Data: randSlice(r, n)}
		got, err := m.Run(context.Background(), x)
		require.NoError(t, err, "x %v", shape)
		want, err := ops.Run(m.Spec(), ops.F32(shape, x.Data))
		require.NoError(t, err)
		for i := range want {
			require.Equal(t, want[i].Shape, got[i].Shape, "output %d for x %v", i, shape)
			requireCaseClose(t, fmt.Sprintf("%d for x %v", i, shape), got[i], vkinfer.Tensor{Shape: want[i].Shape, Data: want[i].Float()})
		}
	}
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 7}, Data: make([]float32, 14)})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	require.ErrorContains(t, err, "gemm")
	require.ErrorContains(t, err, "[[2 7]]")
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{0, 12}})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	require.ErrorContains(t, err, "any shape whose dimensions are all > 0")
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 12}, Data: make([]float32, 12)})
	require.NoError(t, err, "after a shape the graph cannot take")
}
