package onnx

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// Optional protobuf fields the importer reads may be absent, empty or of
// another type: each gives an error naming the node and the attribute.
func TestAttributeProblems(t *testing.T) {
	base := func() *builder { return newBuilder(13).input("x", -1, 3).output("y", -1, 3) }
	// An attribute of type TENSOR without a tensor (was a nil dereference).
	b := base().node("Constant", nil, []string{"c"}, &pb.AttributeProto{Name: proto.String("value"), Type: pb.AttributeProto_TENSOR.Enum()}).
		named("k").node("Add", []string{"x", "c"}, []string{"y"})
	decodeErr(t, b, ErrMalformed, `"k"`, `"value"`, "no tensor")
	// The same on an op the importer does not know.
	b = base().node("Foo", []string{"x"}, []string{"y"}, &pb.AttributeProto{Name: proto.String("t"), Type: pb.AttributeProto_TENSOR.Enum()}).named("f")
	decodeErr(t, b, ErrMalformed, `"f"`, `"t"`, "no tensor")
	// A wrong type.
	b = base().node("Softmax", []string{"x"}, []string{"y"}, aFloat("axis", 1)).named("s")
	decodeErr(t, b, ErrMalformed, `"s"`, `"axis"`, "FLOAT", "want INT")
	b = base().node("Constant", nil, []string{"c"}, aInt("value_floats", 1)).named("k").node("Add", []string{"x", "c"}, []string{"y"})
	decodeErr(t, b, ErrMalformed, `"k"`, `"value_floats"`)
	b = base().node("Transpose", []string{"x"}, []string{"y"}, aFloat("perm", 1)).named("tr")
	decodeErr(t, b, ErrMalformed, `"tr"`, `"perm"`)
	// No type and no value.
	b = base().node("LeakyRelu", []string{"x"}, []string{"y"}, &pb.AttributeProto{Name: proto.String("alpha")}).named("l")
	decodeErr(t, b, ErrMalformed, `"l"`, `"alpha"`, "UNDEFINED")
	// Given twice.
	b = base().node("LeakyRelu", []string{"x"}, []string{"y"}, aFloat("alpha", 1), aFloat("alpha", 2)).named("l")
	decodeErr(t, b, ErrMalformed, `"l"`, `"alpha"`, "twice")
	// A Constant with a tensor of an empty shape but data, and one with none.
	b = base().node("Constant", nil, []string{"c"}, aTensor("value", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{0}, FloatData: []float32{1}})).
		named("k").node("Add", []string{"x", "c"}, []string{"y"})
	decodeErr(t, b, ErrMalformed, `"k"`, `"value"`)
	b = base().node("Constant", nil, []string{"c"}, aTensor("value", &pb.TensorProto{})).named("k").node("Add", []string{"x", "c"}, []string{"y"})
	decodeErr(t, b, ErrUnsupported, `"k"`, "UNDEFINED")
}

// Nodes are sorted topologically at import; only real cycles are refused,
// naming a node on the cycle.
func TestTopologicalOrder(t *testing.T) {
	b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).
		node("Sigmoid", []string{"b"}, []string{"y"}).named("last").
		node("Tanh", []string{"a"}, []string{"b"}).named("mid").
		node("Relu", []string{"x"}, []string{"a"}).named("first")
	m := decode(t, b)
	if got := opList(m); got != "Relu Tanh Sigmoid" {
		t.Errorf("order %s, want Relu Tanh Sigmoid", got)
	}
	// Already sorted nodes keep the file's order, also among independent ones.
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 3).output("z", -1, 3).
		node("Tanh", []string{"x"}, []string{"z"}).node("Relu", []string{"x"}, []string{"y"})
	if got := opList(decode(t, b)); got != "Tanh Relu" {
		t.Errorf("order %s, want Tanh Relu", got)
	}
	// A cycle behind a valid start.
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 3).
		node("Relu", []string{"x"}, []string{"a"}).named("ok").
		node("Add", []string{"a", "c"}, []string{"b"}).named("p").
		node("Tanh", []string{"b"}, []string{"c"}).named("q").
		node("Sigmoid", []string{"b"}, []string{"y"})
	decodeErr(t, b, ErrMalformed, "cycle")
	// A node reading its own output.
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 3).node("Add", []string{"x", "y"}, []string{"y"}).named("self")
	decodeErr(t, b, ErrMalformed, `"self"`, "cycle")
}

// Ops the importer reads itself are checked for their input count first
// (a Dropout without inputs was an index out of range).
func TestArity(t *testing.T) {
	b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).node("Dropout", nil, []string{"y"}).named("d")
	decodeErr(t, b, ErrMalformed, `"d"`, "takes 1 to 3 inputs, has 0")
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 3).node("Add", []string{"", "x"}, []string{"y"}).named("a")
	decodeErr(t, b, ErrMalformed, `"a"`, "required input 0")
	b = newBuilder(4).input("x", -1, 3).output("y", -1, 3).node("Reshape", nil, []string{"y"}, aInts("shape", -1, 3)).named("r")
	decodeErr(t, b, ErrMalformed, `"r"`, "inputs, has 0")
}

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// Small files that claim huge tensors fail before anything of the claimed
// size is allocated; constants computed at load time are capped in total.
func TestHugeClaims(t *testing.T) {
	for _, tp := range []*pb.TensorProto{
		{Name: proto.String("raw"), Dims: []int64{1 << 28}, DataType: proto.Int32(1), RawData: make([]byte, 4)},
		{Name: proto.String("typed"), Dims: []int64{1 << 14, 1 << 14}, DataType: proto.Int32(1), FloatData: []float32{1}},
		{Name: proto.String("int"), Dims: []int64{1 << 28}, DataType: proto.Int32(int32(pb.TensorProto_INT64)), Int64Data: []int64{1}},
		{Name: proto.String("half"), Dims: []int64{1 << 28}, DataType: proto.Int32(int32(pb.TensorProto_FLOAT16)), Int32Data: []int32{1}},
	} {
		b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).init(tp).node("Add", []string{"x", tp.GetName()}, []string{"y"})
		data := b.bytes(t)
		var err error
		got := allocated(func() { _, err = Decode(data) })
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tp.GetName(), err)
		}
		if got > 1<<20 {
			t.Errorf("%s: a %d-byte file claiming 2^28 elements made Decode allocate %d bytes", tp.GetName(), len(data), got)
		}
	}
	// 64 ConstantOfShape of 2^18 elements each: 2^24 elements claimed, the
	// total is lowered to 2^20 for the test. Folding stops when it is spent.
	defer func(v int) { foldTotal = v }(foldTotal)
	foldTotal = 1 << 20
	b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).init(intTensor("shape", 1<<18))
	for i := 0; i < 64; i++ {
		b.node("ConstantOfShape", []string{"shape"}, []string{fmt.Sprintf("c%d", i)})
	}
	b.node("Relu", []string{"x"}, []string{"y"})
	data := b.bytes(t)
	var err error
	got := allocated(func() { _, err = Decode(data) })
	if err != nil {
		t.Fatal(err)
	}
	if claimed := uint64(64 << 18 * 4); got > claimed/4 {
		t.Errorf("folding 64 ConstantOfShape of 2^18 allocated %d bytes, over a quarter of the %d claimed", got, claimed)
	}
}

// A Reshape target whose product wraps around int64 to the input's size
// ((2^32+1)(2^32-1) twice is 1 mod 2^64) is refused, not folded into a
// constant whose shape claims more than its data.
func TestReshapeOverflow(t *testing.T) {
	b := newBuilder(13).input("x", -1, 3).output("y", -1, 3).
		init(floatTensor("c", []int64{2, 3}, []float32{1, 2, 3, 4, 5, 6})).
		init(intTensor("s", 6, 1<<32+1, 1<<32-1, 1<<32+1, 1<<32-1)).
		node("Reshape", []string{"c", "s"}, []string{"r"}).named("r").
		node("Flatten", []string{"r"}, []string{"f"}).node("Add", []string{"x", "f"}, []string{"y"})
	decodeErr(t, b, ErrMalformed, `"r"`, "more elements")
}

// Options.Constants are checked like tensors of the file.
func TestBadConstants(t *testing.T) {
	b := newBuilder(13).input("x", -1, 3).input("s").output("y", -1, 3).node("Reshape", []string{"x", "s"}, []string{"y"})
	for _, c := range []*Tensor{
		nil,
		{DType: Int64, Shape: []int{-1, -1}, Int: []int64{3}},
		{DType: Int64, Shape: []int{2}, Int: []int64{3}},
		{DType: Int64, Shape: []int{1}, Float: []float32{3}},
		{DType: DataType(8), Shape: []int{1}, Int: []int64{3}},
	} {
		if _, err := DecodeOptions(b.bytes(t), Options{Constants: map[string]*Tensor{"s": c}}); err == nil {
			t.Errorf("Options.Constants %+v accepted", c)
		}
	}
}
