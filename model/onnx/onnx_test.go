package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
	"github.com/vkinfer/vkinfer/ops"
)

func decode(t *testing.T, b *builder) *model.Model {
	t.Helper()
	m, err := Decode(b.bytes(t))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	return m
}

func decodeErr(t *testing.T, b *builder, target error, substr ...string) {
	t.Helper()
	_, err := Decode(b.bytes(t))
	if err == nil {
		t.Fatalf("Decode succeeded, want an error wrapping %v", target)
	}
	if !errors.Is(err, target) {
		t.Fatalf("Decode: %v, want it to wrap %v", err, target)
	}
	if !strings.HasPrefix(err.Error(), "onnx: ") {
		t.Errorf("error %q is not prefixed with the package", err)
	}
	for _, s := range substr {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func opList(m *model.Model) string {
	var s []string
	for _, n := range m.Nodes {
		s = append(s, n.Op)
	}
	return strings.Join(s, " ")
}

func near(a, b []float32, tol float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d values, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(y) != math.IsNaN(x) || math.Abs(x-y) > tol*(1+math.Abs(y)) {
			return fmt.Errorf("[%d] = %v, want %v", i, a[i], b[i])
		}
	}
	return nil
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// The gonnx sample (PyTorch 1.9, opset 13, Linear-ReLU-Linear, dynamic
// batch) imports to two Dense nodes and computes what gonnx's own test
// expects of it.
func TestGonnxMLP(t *testing.T) {
	m, err := ReadFile("testdata/mlp.onnx")
	if err != nil {
		t.Fatal(err)
	}
	if got := opList(m); got != "Dense Relu Dense" {
		t.Errorf("ops %q, want Dense Relu Dense", got)
	}
	if len(m.Inputs) != 1 || values(m.Inputs[0]) != "{data_input [-1 3]}" {
		t.Errorf("inputs %v, want data_input [-1 3]", m.Inputs)
	}
	if len(m.Outputs) != 1 || values(m.Outputs[0]) != "{preds [-1 2]}" {
		t.Errorf("outputs %v, want preds [-1 2]", m.Outputs)
	}
	if w := m.Initializer("layer1.weight"); w == nil || fmt.Sprint(w.Shape) != "[5 3]" {
		t.Errorf("layer1.weight = %v, want [out, in] = [5 3] as stored", w)
	}
	out, err := evalModel(m, map[string]value{"data_input": {[]int{2, 3}, []float32{0, 1, 2, 3, 4, 5}}})
	if err != nil {
		t.Fatal(err)
	}
	// From gonnx v1.1.0 model_test.go (TestModel, mlp.onnx).
	want := []float32{-0.056310713, -1.1901507, -1.5961288, -3.3445296}
	if err := near(out["preds"].data, want, 1e-5); err != nil {
		t.Error(err)
	}
	data, _ := os.ReadFile("testdata/mlp.onnx")
	m2, err := Decode(data)
	if err != nil || m2.ID != m.ID || m.ID.String() == "00000000-0000-0000-0000-000000000000" {
		t.Errorf("the ID is not a stable function of the bytes: %v %v %v", err, m.ID, m2.ID)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatalf("the imported model does not encode as mlp.bin: %v", err)
	}
	back, err := model.Read(&buf)
	if err != nil || opList(back) != opList(m) {
		t.Fatalf("mlp.bin round trip: %v", err)
	}
}

func TestNotONNX(t *testing.T) {
	var mlpbin bytes.Buffer
	small := &model.Model{
		Inputs:       []model.ValueInfo{{Name: "x", Shape: []int{-1, 2}}},
		Outputs:      []model.ValueInfo{{Name: "y", Shape: []int{-1, 1}}},
		Nodes:        []model.Node{{Op: ops.OpDense, Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Initializers: []*model.Tensor{{Name: "w", Shape: []int{1, 2}, Data: []float32{1, 2}}},
	}
	if err := small.Encode(&mlpbin); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":         nil,
		"text":          []byte("hello, world\n"),
		"mlp.bin":       mlpbin.Bytes(),
		"truncated":     newBuilder(13).input("x", 1).output("x", 1).bytes(t)[:5],
		"no graph":      mustMarshal(t, &pb.ModelProto{IrVersion: proto.Int64(8)}),
		"png":           []byte("\x89PNG\r\n\x1a\n...."),
		"field 1 bytes": {0x0a, 0x02, 0x00, 0x00},
	} {
		_, err := Decode(data)
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Decode: %v, want ErrFormat", name, err)
		}
	}
	_, err := ReadFile("testdata/does-not-exist.onnx")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v", err)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Weights load from raw_data and float_data; int64 shapes from int64_data
// and raw_data; sizes are checked before anything is allocated; other
// element types and external data fail with clear errors.
func TestTensors(t *testing.T) {
	w := []float32{1, 2, 3, 4, 5, 6}
	for _, tp := range []*pb.TensorProto{floatTensor("w", []int64{2, 3}, w), rawFloatTensor("w", []int64{2, 3}, w)} {
		b := newBuilder(13).input("x", -1, 3).output("y", -1, 2).init(tp).node("MatMul", []string{"x", "w_t"}, []string{"y"})
		b.init(rawFloatTensor("w_t", []int64{3, 2}, []float32{1, 4, 2, 5, 3, 6}))
		m := decode(t, b)
		if got := m.Initializers[0].Data; fmt.Sprint(got) != fmt.Sprint([]float32{1, 2, 3, 4, 5, 6}) {
			t.Errorf("weight %v", got)
		}
	}
	rawInt := &pb.TensorProto{Name: proto.String("s"), Dims: []int64{2}, DataType: proto.Int32(int32(pb.TensorProto_INT64)),
		RawData: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 6, 0, 0, 0, 0, 0, 0, 0}}
	for _, s := range []*pb.TensorProto{intTensor("s", -1, 6), rawInt} {
		b := newBuilder(13).input("x", 2, 3).output("y", 1, 6).init(s).node("Reshape", []string{"x", "s"}, []string{"y"})
		m := decode(t, b)
		if a := m.Nodes[0].Attrs["shape"]; fmt.Sprint(a.Ints) != "[-1 6]" {
			t.Errorf("Reshape shape %v, want [-1 6]", a.Ints)
		}
		if len(m.Initializers) != 0 || len(m.Nodes[0].Inputs) != 1 {
			t.Errorf("the shape input should be gone: %v, %v", m.Initializers, m.Nodes[0].Inputs)
		}
	}

	bad := func(tp *pb.TensorProto, target error, substr ...string) {
		t.Helper()
		b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).init(tp).node("Add", []string{"x", tp.GetName()}, []string{"y"})
		decodeErr(t, b, target, substr...)
	}
	bad(&pb.TensorProto{Name: proto.String("short"), Dims: []int64{3}, DataType: proto.Int32(1), RawData: make([]byte, 8)},
		ErrMalformed, `"short"`, "12 bytes", "has 8")
	bad(floatTensor("few", []int64{3}, []float32{1, 2}), ErrMalformed, `"few"`, "float_data has 2")
	bad(&pb.TensorProto{Name: proto.String("huge"), Dims: []int64{1 << 40, 1 << 40}, DataType: proto.Int32(1), RawData: make([]byte, 4)},
		ErrMalformed, `"huge"`)
	bad(&pb.TensorProto{Name: proto.String("neg"), Dims: []int64{-3}, DataType: proto.Int32(1)}, ErrMalformed, `"neg"`, "negative")
	bad(&pb.TensorProto{Name: proto.String("s"), Dims: []int64{3}, DataType: proto.Int32(int32(pb.TensorProto_STRING)), StringData: [][]byte{{}, {}, {}}},
		ErrUnsupported, `"s"`, "STRING")
	bad(&pb.TensorProto{Name: proto.String("c"), Dims: []int64{3}, DataType: proto.Int32(int32(pb.TensorProto_COMPLEX64)), RawData: make([]byte, 24)},
		ErrUnsupported, `"c"`, "COMPLEX64")
	ext := &pb.TensorProto{Name: proto.String("ext"), Dims: []int64{3}, DataType: proto.Int32(1),
		DataLocation: pb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("weights.bin")}}}
	bad(ext, ErrUnsupported, `"ext"`, "external data files are not supported",
		"onnx.save(model, path, save_as_external_data=False)")

	// DecodeTensor reads the test data's TensorProto files.
	tt, err := DecodeTensor(mustMarshal(t, rawFloatTensor("x", []int64{2}, []float32{1.5, -2})))
	if err != nil || tt.Name != "x" || tt.DType != Float || fmt.Sprint(tt.Float) != "[1.5 -2]" {
		t.Errorf("DecodeTensor = %+v, %v", tt, err)
	}
	if _, err := DecodeTensor([]byte{0xff}); !errors.Is(err, ErrFormat) {
		t.Errorf("DecodeTensor of garbage: %v", err)
	}
}

// The graph: inputs that are initializers are constants before IR 4 and
// inputs with a default value since; dim_param and missing dims are -1;
// inputs of other types are refused.
func TestGraphInputs(t *testing.T) {
	b := newBuilder(13).input("x", -1, 3).input("w", 3, 3).output("y", -1, 3).
		init(floatTensor("w", []int64{3, 3}, make([]float32, 9))).
		node("Add", []string{"x", "w"}, []string{"y"})
	b.g.Input[0].Type.GetTensorType().Shape.Dim[0].Value = nil // a dim with neither value nor param
	b.m.IrVersion = proto.Int64(3)
	m := decode(t, b)
	if values(m.Inputs...) != "{x [-1 3]}" || len(m.Defaults) != 0 {
		t.Errorf("IR 3: inputs %v, want only x [-1 3]", m.Inputs)
	}
	b.m.IrVersion = proto.Int64(4)
	m = decode(t, b)
	if values(m.Inputs...) != "{x [-1 3]} {w [3 3]}" || len(m.Defaults) != 1 || m.Default("w") == nil ||
		len(m.Initializers) != 0 || len(m.Notes) != 1 {
		t.Errorf("IR 4: inputs %v, defaults %v, initializers %v, notes %q", m.Inputs, m.Defaults, m.Initializers, m.Notes)
	}
	if err := m.Encode(io.Discard); err == nil || !strings.Contains(err.Error(), "default") {
		t.Errorf("Encode of a model with defaults: %v", err)
	}
	m, err := DecodeOptions(b.bytes(t), Options{Constants: map[string]*Tensor{"w": {DType: Float, Shape: []int{3, 3}, Float: make([]float32, 9)}}})
	if err != nil || len(m.Inputs) != 1 || len(m.Defaults) != 0 {
		t.Errorf("IR 4, w bound: %v %v %v", err, m.Inputs, m.Defaults)
	}
	b.g.Input[1].Type.GetTensorType().Shape.Dim[0].Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: 2}
	decodeErr(t, b, ErrMalformed, `"w"`, "initializer has [3 3]")
	b = newBuilder(13).output("y", 3).node("Relu", []string{"i"}, []string{"y"})
	b.g.Input = append(b.g.Input, valueInfo("i", pb.TensorProto_INT64, 3))
	decodeErr(t, b, ErrUnsupported, `graph input "i"`, "INT64")
}

// Unsupported ops import (the device load names them); an unnamed node is
// named after its op and position.
func TestUnsupportedOpImports(t *testing.T) {
	b := newBuilder(13).input("x", 1, 3, 8, 8).output("y", 1, 3, 8, 8).
		init(floatTensor("k", []int64{3, 3, 1, 1}, make([]float32, 9))).
		node("Conv", []string{"x", "k"}, []string{"c"}, aInts("kernel_shape", 1, 1)).named("conv1").
		node("Relu", []string{"c"}, []string{"r"}).
		node("FusedThing", []string{"r"}, []string{"y"})
	b.g.Node[2].Domain = proto.String("com.example")
	m := decode(t, b)
	if got := opList(m); got != "Conv Relu com.example.FusedThing" {
		t.Errorf("ops %q", got)
	}
	if m.Nodes[0].Name != "conv1" || m.Nodes[1].Name != "Relu_1" || fmt.Sprint(m.Nodes[0].Attrs["kernel_shape"].Ints) != "[1 1]" {
		t.Errorf("nodes %+v", m.Nodes)
	}
}

// normalised returns the one node of a one-op model after import.
func normalised(t *testing.T, b *builder) model.Node {
	t.Helper()
	m := decode(t, b)
	if len(m.Nodes) != 1 {
		t.Fatalf("nodes %v, want one", opList(m))
	}
	return m.Nodes[0]
}

func attrs(n model.Node) string {
	var s []string
	for _, k := range []string{"axis", "coerce_2d", "min", "max", "shape", "allowzero", "alpha", "beta", "transA", "transB", "axes"} {
		if a, ok := n.Attrs[k]; ok {
			switch a.Kind {
			case model.AttrInt:
				s = append(s, fmt.Sprintf("%s=%d", k, a.Int))
			case model.AttrFloat:
				s = append(s, fmt.Sprintf("%s=%g", k, a.Float))
			case model.AttrInts:
				s = append(s, fmt.Sprintf("%s=%v", k, a.Ints))
			}
		}
	}
	return strings.Join(s, " ")
}

func TestNormalise(t *testing.T) {
	one := func(opset int64, op string, in []int64, extra func(*builder), a ...*pb.AttributeProto) *builder {
		b := newBuilder(opset).input("x", in...)
		ins := []string{"x"}
		if extra != nil {
			extra(b)
			for _, i := range b.g.Initializer {
				ins = append(ins, i.GetName())
			}
		}
		return b.output("y").node(op, ins, []string{"y"}, a...)
	}
	tests := []struct {
		name string
		b    *builder
		op   string
		want string
	}{
		{"softmax opset 11 default", one(11, "Softmax", []int64{2, 3, 4}, nil), "Softmax", "axis=1 coerce_2d=1"},
		{"softmax opset 11 last axis", one(11, "Softmax", []int64{-1, 10}, nil), "Softmax", "axis=1 coerce_2d=0"},
		{"softmax opset 13 default", one(13, "Softmax", []int64{2, 3, 4}, nil), "Softmax", "axis=-1 coerce_2d=0"},
		{"logsoftmax opset 13 axis 0", one(13, "LogSoftmax", []int64{2, 3}, nil, aInt("axis", 0)), "LogSoftmax", "axis=0 coerce_2d=0"},
		{"logsoftmax opset 1 axis 0", one(1, "LogSoftmax", []int64{2, 3}, nil, aInt("axis", 0)), "LogSoftmax", "axis=0 coerce_2d=1"},
		{"clip opset 6 attributes", one(6, "Clip", []int64{3}, nil, aFloat("min", -1), aFloat("max", float32(math.Inf(1)))), "Clip", "min=-1"},
		{"clip opset 11 inputs", one(11, "Clip", []int64{3}, func(b *builder) {
			b.init(floatTensor("lo", nil, []float32{-2})).init(floatTensor("hi", nil, []float32{3}))
		}), "Clip", "min=-2 max=3"},
		{"clip opset 13 no bounds", one(13, "Clip", []int64{3}, nil), "Clip", ""},
		{"reshape opset 1 attribute", one(1, "Reshape", []int64{2, 3}, nil, aInts("shape", 3, 2)), "Reshape", "shape=[3 2] allowzero=0"},
		{"reshape opset 14 allowzero", one(14, "Reshape", []int64{2, 3}, func(b *builder) { b.init(intTensor("s", 3, 0)) }, aInt("allowzero", 1)),
			"Reshape", "shape=[3 0] allowzero=1"},
		{"flatten default", one(13, "Flatten", []int64{2, 3, 4}, nil), "Flatten", "axis=1"},
		{"gemm defaults", one(13, "Gemm", []int64{2, 3}, func(b *builder) { b.init(floatTensor("b", []int64{3, 4}, make([]float32, 12))) }, aFloat("alpha", 2)),
			"Gemm", "alpha=2 beta=1 transA=0 transB=0"},
		{"leakyrelu default", one(13, "LeakyRelu", []int64{3}, nil), "LeakyRelu", "alpha=0.01"},
		{"add opset 6 broadcast", one(6, "Add", []int64{2, 3}, func(b *builder) { b.init(floatTensor("c", []int64{3}, make([]float32, 3))) }, aInt("broadcast", 1)),
			"Add", ""},
		{"consumed_inputs dropped", one(5, "Relu", []int64{3}, nil, aInts("consumed_inputs", 0)), "Relu", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := normalised(t, tt.b)
			if n.Op != tt.op || attrs(n) != tt.want || ((tt.op == "Clip" || tt.op == "Reshape") && len(n.Inputs) != 1) {
				t.Errorf("%s %v %q, want %s %q", n.Op, n.Inputs, attrs(n), tt.op, tt.want)
			}
			if _, ok := n.Attrs["consumed_inputs"]; ok || n.Attrs["broadcast"].Kind != 0 {
				t.Errorf("legacy attributes kept: %v", n.Attrs)
			}
		})
	}
}

func TestNormaliseErrors(t *testing.T) {
	// Clip's bound computed at run time stays an input; the absent max
	// becomes a +Inf constant so the inputs keep their positions.
	b := newBuilder(11).input("x", 3).input("lo").output("y", 3).node("Clip", []string{"x", "lo"}, []string{"y"}).named("clip1")
	b.g.Input[1].Type.GetTensorType().Shape = &pb.TensorShapeProto{}
	m, err := Decode(b.bytes(t))
	if err != nil || len(m.Nodes) != 1 || len(m.Nodes[0].Inputs) != 3 || m.Nodes[0].Inputs[1] != "lo" ||
		fmt.Sprint(m.Initializer(m.Nodes[0].Inputs[2]).Data) != "[+Inf]" || attrs(m.Nodes[0]) != "" {
		t.Fatalf("Clip with a run-time bound: %v, %+v", err, m)
	}
	// ... which Options.Constants can bind.
	m, err = DecodeOptions(b.bytes(t), Options{Constants: map[string]*Tensor{"lo": {DType: Float, Float: []float32{0.5}}}})
	if err != nil || len(m.Inputs) != 1 || attrs(m.Nodes[0]) != "min=0.5" {
		t.Fatalf("bound Clip: %v, %+v", err, m)
	}
	if _, err := DecodeOptions(b.bytes(t), Options{Constants: map[string]*Tensor{"nope": {DType: Float, Float: []float32{1}}}}); err == nil {
		t.Error("binding a name that is not an input succeeded")
	}
	// Reshape's shape computed from another input stays an input, for the
	// planner to evaluate when the input shapes are known.
	b = newBuilder(13).input("x", 2, 3).input("z", -1, 6).output("y", -1, -1).
		node("Shape", []string{"z"}, []string{"s"}).node("Reshape", []string{"x", "s"}, []string{"y"})
	if m, err := Decode(b.bytes(t)); err != nil || opList(m) != "Shape Reshape" || len(m.Nodes[1].Inputs) != 2 {
		t.Errorf("Reshape by another input's shape: %v, %+v", err, m)
	}
	// Dropout's mask read by a node.
	b = newBuilder(13).input("x", 3).output("y", 3).
		node("Dropout", []string{"x"}, []string{"d", "mask"}).named("drop").node("Add", []string{"d", "mask"}, []string{"y"})
	decodeErr(t, b, ErrUnsupported, `"mask"`, "the mask output of Dropout node \"drop\"")
	// Undefined inputs.
	b = newBuilder(13).input("x", 3).output("y", 3).node("Relu", []string{"r"}, []string{"y"}).named("a")
	decodeErr(t, b, ErrMalformed, `"r"`, `"a"`, "any node")
}

// Dropout and Identity disappear; a Constant becomes an initializer;
// constant subgraphs fold.
func TestRemoveAndFold(t *testing.T) {
	b := newBuilder(13).input("x", -1, 4).output("y", -1, 2).
		node("Dropout", []string{"x"}, []string{"d", "mask"}, aFloat("ratio", 0.5)).
		node("Constant", nil, []string{"wt"}, aTensor("value", floatTensor("", []int64{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}))).
		node("Transpose", []string{"wt"}, []string{"w"}).
		node("Constant", nil, []string{"two"}, aFloat("value_float", 2)).
		node("Constant", nil, []string{"bias0"}, aTensor("value", floatTensor("", []int64{2}, []float32{0.5, -0.5}))).
		node("Mul", []string{"bias0", "two"}, []string{"bias"}).
		node("MatMul", []string{"d", "w"}, []string{"mm"}).
		node("Add", []string{"mm", "bias"}, []string{"pre"}).
		node("Relu", []string{"pre"}, []string{"r"}).
		node("Identity", []string{"r"}, []string{"y"})
	m := decode(t, b)
	if got := opList(m); got != "Dense Relu" {
		t.Fatalf("ops %q, want Dense Relu", got)
	}
	if m.Nodes[1].Outputs[0] != "y" {
		t.Errorf("the Identity's output should now be the Relu's: %v", m.Nodes[1].Outputs)
	}
	x := []float32{1, -1, 0.5, 2, 0, 0, 0, 1}
	out, err := evalModel(m, map[string]value{"x": {[]int{2, 4}, x}})
	if err != nil {
		t.Fatal(err)
	}
	// y = relu(x · wtᵀ + 2·bias0)
	want := []float32{max(1-2+1.5+8+1, 0), max(5-6+3.5+16-1, 0), max(4+1, 0), max(8-1, 0)}
	if err := near(out["y"].data, want, 1e-6); err != nil {
		t.Error(err)
	}
}

// PyTorch's x.view(x.size(0), -1) with a dynamic batch: the shape
// subgraph becomes Reshape [0, -1] and is removed.
func TestDynamicBatchView(t *testing.T) {
	b := newBuilder(11).input("x", -1, 2, 3).output("y", -1, 6).
		node("Shape", []string{"x"}, []string{"s"}).
		node("Constant", nil, []string{"zero"}, aTensor("value", intTensorScalar(0))).
		node("Gather", []string{"s", "zero"}, []string{"b"}, aInt("axis", 0)).
		node("Unsqueeze", []string{"b"}, []string{"b1"}, aInts("axes", 0)).
		node("Constant", nil, []string{"m1"}, aTensor("value", intTensor("", -1))).
		node("Concat", []string{"b1", "m1"}, []string{"shape"}, aInt("axis", 0)).
		node("Reshape", []string{"x", "shape"}, []string{"y"})
	m := decode(t, b)
	if got := opList(m); got != "Reshape" || attrs(m.Nodes[0]) != "shape=[0 -1] allowzero=0" {
		t.Fatalf("%q %q", got, attrs(m.Nodes[0]))
	}
	// A static input folds the whole subgraph to a constant shape.
	b.g.Input[0] = valueInfo("x", pb.TensorProto_FLOAT, 4, 2, 3)
	m = decode(t, b)
	if attrs(m.Nodes[0]) != "shape=[4 -1] allowzero=0" {
		t.Errorf("static: %q", attrs(m.Nodes[0]))
	}
}

func intTensorScalar(v int64) *pb.TensorProto {
	return &pb.TensorProto{DataType: proto.Int32(int32(pb.TensorProto_INT64)), Int64Data: []int64{v}}
}

// Gemm and MatMul+Add map to Dense exactly when the math stays the same;
// every variant computes what ONNX says.
func TestDense(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const k, n = 5, 3
	bKN, bNK := randFloats(r, k*n), randFloats(r, k*n)
	c := randFloats(r, n)
	tests := []struct {
		name  string
		build func(b *builder)
		want  string
	}{
		{"gemm transB", func(b *builder) {
			b.init(floatTensor("B", []int64{n, k}, bNK)).init(floatTensor("C", []int64{n}, c)).
				node("Gemm", []string{"x", "B", "C"}, []string{"y"}, aInt("transB", 1))
		}, "Dense"},
		{"gemm B [K,N]", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{1, n}, c)).
				node("Gemm", []string{"x", "B", "C"}, []string{"y"})
		}, "Dense"},
		{"gemm no C", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).node("Gemm", []string{"x", "B"}, []string{"y"}, aFloat("beta", 0.5))
		}, "Dense"},
		{"gemm scalar C", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", nil, []float32{0.25})).
				node("Gemm", []string{"x", "B", "C"}, []string{"y"})
		}, "Dense"},
		{"gemm alpha", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).node("Gemm", []string{"x", "B"}, []string{"y"}, aFloat("alpha", 0.5))
		}, "Gemm"},
		{"gemm beta", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{n}, c)).
				node("Gemm", []string{"x", "B", "C"}, []string{"y"}, aFloat("beta", 2))
		}, "Gemm"},
		{"gemm matrix C", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{2, n}, append(append([]float32{}, c...), c...))).
				node("Gemm", []string{"x", "B", "C"}, []string{"y"})
		}, "Gemm"},
		{"matmul add", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{n}, c)).
				node("MatMul", []string{"x", "B"}, []string{"m"}).node("Add", []string{"C", "m"}, []string{"y"})
		}, "Dense"},
		{"matmul alone", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).node("MatMul", []string{"x", "B"}, []string{"y"})
		}, "Dense"},
		{"matmul add read twice", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{n}, c)).
				node("MatMul", []string{"x", "B"}, []string{"m"}).node("Add", []string{"m", "C"}, []string{"a"}).
				node("Add", []string{"a", "m"}, []string{"y"})
		}, "Dense Add Add"},
		{"matmul add matrix", func(b *builder) {
			b.init(floatTensor("B", []int64{k, n}, bKN)).init(floatTensor("C", []int64{2, n}, append(append([]float32{}, c...), c...))).
				node("MatMul", []string{"x", "B"}, []string{"m"}).node("Add", []string{"m", "C"}, []string{"y"})
		}, "Dense Add"},
	}
	x := randFloats(r, 2*k)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuilder(13).input("x", -1, k).output("y", -1, n)
			tt.build(b)
			m := decode(t, b)
			if got := opList(m); got != tt.want {
				t.Errorf("ops %q, want %q", got, tt.want)
			}
			// The same graph, evaluated as ONNX says, without the mapping:
			// every node but the input's reader is a plain ONNX op.
			plain := evalPlain(t, b, x)
			out, err := evalModel(m, map[string]value{"x": {[]int{2, k}, x}})
			if err != nil {
				t.Fatal(err)
			}
			if err := near(out["y"].data, plain, 1e-5); err != nil {
				t.Error(err)
			}
		})
	}
}

// evalPlain evaluates the builder's graph node by node with ONNX semantics
// (ref.GemmONNX, ref.MatMul, ref.Binary), bypassing the importer's rewrites.
func evalPlain(t *testing.T, b *builder, x []float32) []float32 {
	t.Helper()
	m := &model.Model{Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, -1}}}, Outputs: []model.ValueInfo{{Name: "y"}}}
	for _, tp := range b.g.Initializer {
		tt, err := tensorFromProto(tp, "initializer")
		if err != nil {
			t.Fatal(err)
		}
		mt, _ := tt.Float32()
		m.Initializers = append(m.Initializers, mt)
	}
	for _, np := range b.g.Node {
		n := model.Node{Name: np.GetOutput()[0], Op: np.GetOpType(), Inputs: np.GetInput(), Outputs: np.GetOutput(), Attrs: map[string]model.Attr{}}
		for _, a := range np.GetAttribute() {
			if a.GetType() == pb.AttributeProto_FLOAT {
				n.Attrs[a.GetName()] = model.FloatAttr(a.GetF())
			} else {
				n.Attrs[a.GetName()] = model.IntAttr(a.GetI())
			}
		}
		m.Nodes = append(m.Nodes, n)
	}
	out, err := evalModel(m, map[string]value{"x": {[]int{2, len(x) / 2}, x}})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"].data
}

// A graph output that is a constant becomes Mul(value, 1) (the runtime
// computes outputs); one that is a graph input stays the input.
func TestConstantOutput(t *testing.T) {
	b := newBuilder(13).input("x", 2).output("y", 2).output("z", 2).output("x", 2).
		init(floatTensor("a", []int64{2}, []float32{-1, 2})).node("Relu", []string{"a"}, []string{"y"}).
		node("Add", []string{"x", "y"}, []string{"z"})
	m := decode(t, b)
	if opList(m) != "Add Mul" || values(m.Outputs...) != "{y [2]} {z [2]} {x [2]}" {
		t.Fatalf("ops %s, outputs %v", opList(m), m.Outputs)
	}
	out, err := evalModel(m, map[string]value{"x": {[]int{2}, []float32{10, 20}}})
	if err != nil || fmt.Sprint(out["y"].data, out["z"].data, out["x"].data) != "[0 2] [10 22] [10 20]" {
		t.Errorf("%v %v", out, err)
	}
}

// FuzzDecode: no input makes Decode panic, and what it accepts validates.
func FuzzDecode(f *testing.F) {
	data, err := os.ReadFile("testdata/mlp.onnx")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x07})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid model: %v", err)
		}
	})
}

// values writes graph inputs or outputs as "{name shape} ...", shape
// "any" for an input that declares none.
func values(vs ...model.ValueInfo) string {
	var parts []string
	for _, v := range vs {
		if v.AnyShape {
			parts = append(parts, "{"+v.Name+" any}")
			continue
		}
		parts = append(parts, fmt.Sprintf("{%s %v}", v.Name, v.Shape))
	}
	return strings.Join(parts, " ")
}
