package onnx

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
	"github.com/vkinfer/vkinfer/ops"
)

// anyShapeCase is the ONNX model of testdata/onnxcases/any_shape_input in
// the repository root: a graph input "x" whose type has no shape at all,
// r = Relu(x) (an output of x's shape), then "flatten all but the first
// dimension" computed from r's shape (Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape), Gemm with a 12 x 5 weight and Softmax: y [n, 5].
// So x may be [n, 12], [n, 3, 4], [n, 2, 2, 3], ...
func anyShapeCase() *builder {
	w := make([]float32, 12*5)
	for i := range w {
		w[i] = float32((i*7)%11-5) / 8
	}
	return newBuilder(13).input("x").output("r").output("y", -1, 5).
		init(floatTensor("w", []int64{12, 5}, w)).
		init(floatTensor("b", []int64{5}, []float32{0.5, -0.25, 0, 1, -1})).
		init(intTensor("zero", 0)).init(intTensor("minus1", -1)).
		node("Relu", []string{"x"}, []string{"r"}).named("relu").
		node("Shape", []string{"r"}, []string{"s"}).named("shape").
		node("Gather", []string{"s", "zero"}, []string{"n"}, aInt("axis", 0)).named("gather").
		node("Concat", []string{"n", "minus1"}, []string{"target"}, aInt("axis", 0)).named("concat").
		node("Reshape", []string{"r", "target"}, []string{"flat"}).named("reshape").
		node("Gemm", []string{"flat", "w", "b"}, []string{"logits"}).named("gemm").
		node("Softmax", []string{"logits"}, []string{"y"}, aInt("axis", 1)).named("softmax")
}

// anyShapeWant computes y of anyShapeCase by hand for x with first
// dimension n (row-major, 12 values per row).
func anyShapeWant(x []float32, n int) []float32 {
	b := anyShapeCase()
	w := b.g.Initializer[0].FloatData
	bias := b.g.Initializer[1].FloatData
	y := make([]float32, 0, n*5)
	for i := 0; i < n; i++ {
		row := make([]float64, 5)
		mx := math.Inf(-1)
		for c := range row {
			s := float64(bias[c])
			for k := 0; k < 12; k++ {
				s += float64(max(x[i*12+k], 0)) * float64(w[k*5+c])
			}
			row[c] = s
			mx = math.Max(mx, s)
		}
		sum := 0.0
		for c := range row {
			row[c] = math.Exp(row[c] - mx)
			sum += row[c]
		}
		for c := range row {
			y = append(y, float32(row[c]/sum))
		}
	}
	return y
}

// A graph input without a shape imports as AnyShape, validates, and runs
// (reference executor) at shapes of different ranks; a shape the graph
// cannot take fails when the shapes are known, naming the node.
func TestAnyShapeInput(t *testing.T) {
	m := decode(t, anyShapeCase())
	if len(m.Inputs) != 1 || !m.Inputs[0].AnyShape || m.Inputs[0].Shape != nil || m.Inputs[0].ShapeString() != "any shape" {
		t.Fatalf("inputs %s, want x of any shape", values(m.Inputs...))
	}
	if err := ops.Validate(m); err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{2, 12}, {3, 3, 4}, {1, 2, 2, 3}} {
		xs := make([]float32, 0, 12*shape[0])
		for i := 0; i < cap(xs); i++ {
			xs = append(xs, float32(i%9-4)/3)
		}
		out, err := ops.Run(m, ops.F32(shape, xs))
		if err != nil {
			t.Fatalf("x %v: %v", shape, err)
		}
		if !equalInts(out[0].Shape, shape) || !equalInts(out[1].Shape, []int{shape[0], 5}) {
			t.Fatalf("x %v: outputs %v and %v", shape, out[0].Shape, out[1].Shape)
		}
		want := anyShapeWant(xs, shape[0])
		for i, v := range out[1].Float() {
			if math.Abs(float64(v-want[i])) > 1e-6 {
				t.Fatalf("x %v: y[%d] = %v, want %v", shape, i, v, want[i])
			}
		}
	}
	_, err := ops.Run(m, ops.F32([]int{2, 7}, make([]float32, 14)))
	if !errors.Is(err, ops.ErrInvalid) || !strings.Contains(err.Error(), "gemm") {
		t.Errorf("x [2 7]: %v, want ErrInvalid naming the Gemm", err)
	}

	// mlp.bin keeps it, and says that a reader must know the feature.
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(`"requires":["`+model.FeatureAnyShape+`"]`)) ||
		!bytes.Contains(buf.Bytes(), []byte(`"any_shape":true`)) {
		t.Errorf("mlp.bin metadata lacks requires/any_shape")
	}
	m2, err := model.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Inputs[0].AnyShape || m2.Inputs[0].Shape != nil {
		t.Errorf("after mlp.bin: input %s", values(m2.Inputs...))
	}

	// A declared rank (dims without values) is not AnyShape.
	b := anyShapeCase()
	b.g.Input[0] = valueInfo("x", pb.TensorProto_FLOAT, -1, -1)
	if m := decode(t, b); m.Inputs[0].AnyShape || values(m.Inputs...) != "{x [-1 -1]}" {
		t.Errorf("x with two dynamic dims: %s", values(m.Inputs...))
	}
	// MatMul + Add of an input of any shape fuses into a Dense, which
	// takes [..., K] like MatMul: rank 3 and rank 1 run as MatMul would.
	mm := newBuilder(13).input("x").output("y").
		init(floatTensor("w", []int64{3, 2}, []float32{1, 2, 3, 4, 5, 6})).
		init(floatTensor("b", []int64{2}, []float32{0.5, -1})).
		node("MatMul", []string{"x", "w"}, []string{"xw"}).node("Add", []string{"xw", "b"}, []string{"y"})
	dm := decode(t, mm)
	if opList(dm) != "Dense" {
		t.Errorf("MatMul+Add of an input of any shape: ops %s", opList(dm))
	}
	for _, shape := range [][]int{{2, 2, 3}, {3}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i)
		}
		out, err := ops.Run(dm, ops.F32(shape, x))
		if err != nil {
			t.Fatalf("x %v: %v", shape, err)
		}
		want := append(append([]int(nil), shape[:len(shape)-1]...), 2)
		if !equalInts(out[0].Shape, want) {
			t.Fatalf("x %v: y %v, want %v", shape, out[0].Shape, want)
		}
		y := out[0].Float()
		for r := 0; r < n/3; r++ {
			for c := 0; c < 2; c++ {
				v := []float32{0.5, -1}[c]
				for k := 0; k < 3; k++ {
					v += x[r*3+k] * []float32{1, 2, 3, 4, 5, 6}[k*2+c]
				}
				if y[r*2+c] != v {
					t.Fatalf("x %v: y[%d,%d] = %v, want %v", shape, r, c, y[r*2+c], v)
				}
			}
		}
	}

	// An image input spec needs a declared layout.
	m.Input = &model.InputSpec{Color: model.Gray, Width: 2, Height: 6, Layout: "NCHW", Scale: 1}
	if err := m.Validate(); !errors.Is(err, model.ErrInvalid) || !strings.Contains(err.Error(), "declares no shape") {
		t.Errorf("input spec on an input of any shape: %v", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The committed ../../testdata/onnxcases/any_shape_input/model.onnx is
// anyShapeCase's bytes (the root package runs it on the device);
// VKINFER_WRITE_CASES=1 rewrites it.
func TestAnyShapeCaseFile(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "onnxcases", "any_shape_input", "model.onnx")
	data := anyShapeCase().bytes(t)
	if os.Getenv("VKINFER_WRITE_CASES") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (VKINFER_WRITE_CASES=1 writes it)", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s is not anyShapeCase's model: rerun with VKINFER_WRITE_CASES=1", path)
	}
}
