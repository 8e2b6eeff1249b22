package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// Every element type a constant can have is read, from raw_data and from
// its typed field, as ONNX Runtime would convert it.
func TestElementTypes(t *testing.T) {
	dt := func(d pb.TensorProto_DataType) *int32 { return proto.Int32(int32(d)) }
	le := binary.LittleEndian
	cases := []struct {
		tp   *pb.TensorProto
		want string
	}{
		{&pb.TensorProto{DataType: dt(pb.TensorProto_BOOL), Dims: []int64{3}, RawData: []byte{0, 1, 7}}, "[0 1 1]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_BOOL), Dims: []int64{2}, Int32Data: []int32{1, 0}}, "[1 0]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_INT8), Dims: []int64{2}, RawData: []byte{0xff, 0x7f}}, "[-1 127]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_INT8), Dims: []int64{2}, Int32Data: []int32{-128, 5}}, "[-128 5]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT8), Dims: []int64{2}, RawData: []byte{0xff, 3}}, "[255 3]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_INT16), Dims: []int64{1}, RawData: []byte{0x00, 0x80}}, "[-32768]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT16), Dims: []int64{1}, RawData: []byte{0xff, 0xff}}, "[65535]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT16), Dims: []int64{1}, Int32Data: []int32{65535}}, "[65535]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_INT32), Dims: []int64{1}, RawData: le.AppendUint32(nil, 0xfffffffe)}, "[-2]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT32), Dims: []int64{1}, RawData: le.AppendUint32(nil, 0xfffffffe)}, "[4294967294]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT32), Dims: []int64{1}, Uint64Data: []uint64{7}}, "[7]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT64), Dims: []int64{1}, RawData: le.AppendUint64(nil, 1<<62)}, "[4611686018427387904]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_UINT64), Dims: []int64{1}, Uint64Data: []uint64{9}}, "[9]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_INT64), Dims: []int64{1}, RawData: le.AppendUint64(nil, math.MaxUint64)}, "[-1]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_DOUBLE), Dims: []int64{2}, RawData: le.AppendUint64(le.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(1e300))}, "[0.1 +Inf]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_DOUBLE), Dims: []int64{1}, DoubleData: []float64{-2.5}}, "[-2.5]"},
		// FLOAT16: 1, -2, 65504 (max), 2^-24 (smallest subnormal), -Inf.
		{&pb.TensorProto{DataType: dt(pb.TensorProto_FLOAT16), Dims: []int64{5}, RawData: []byte{0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b, 0x01, 0x00, 0x00, 0xfc}}, "[1 -2 65504 5.9604645e-08 -Inf]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_FLOAT16), Dims: []int64{1}, Int32Data: []int32{0x3555}}, "[0.33325195]"},
		// BFLOAT16: 1, -3.
		{&pb.TensorProto{DataType: dt(pb.TensorProto_BFLOAT16), Dims: []int64{2}, RawData: []byte{0x80, 0x3f, 0x40, 0xc0}}, "[1 -3]"},
		{&pb.TensorProto{DataType: dt(pb.TensorProto_BFLOAT16), Dims: []int64{1}, Int32Data: []int32{0x4000}}, "[2]"},
	}
	for _, c := range cases {
		tt, err := tensorFromProto(c.tp, "test")
		if err != nil {
			t.Errorf("%s: %v", DataType(c.tp.GetDataType()), err)
			continue
		}
		got := fmt.Sprint(tt.Int)
		if tt.DType.isFloat() {
			got = fmt.Sprint(tt.Float)
		}
		if got != c.want {
			t.Errorf("%s %v: got %s, want %s", tt.DType, c.tp.GetDims(), got, c.want)
		}
	}
	big := &pb.TensorProto{DataType: dt(pb.TensorProto_UINT64), Dims: []int64{1}, RawData: le.AppendUint64(nil, 1<<63)}
	if _, err := tensorFromProto(big, "big"); err == nil {
		t.Error("a UINT64 over 2^63-1 was accepted")
	}
}

// floatToHalf rounds to nearest even and back-converts exactly; every
// binary16 value survives the round trip.
func TestHalfConversion(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := halfToFloat(uint16(h))
		if f != f {
			if back := halfToFloat(floatToHalf(f)); back == back {
				t.Fatalf("NaN %#04x came back as %v", h, back)
			}
			continue
		}
		if got := floatToHalf(f); got != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},           // halfway between 1 and the next: even (1)
		{1 + 3.0/2048, 0x3c02},           // halfway, odd below: up
		{65520, 0x7c00},                  // rounds up to Inf
		{float32(math.Ldexp(1, -25)), 0}, // halfway to the smallest subnormal: even (0)
		{float32(math.Ldexp(3, -26)), 1}, // above halfway
		{1e-10, 0},
	} {
		if got := floatToHalf(c.f); got != c.want {
			t.Errorf("floatToHalf(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if got := floatToBfloat(1 + 1.0/256); got != 0x3f80 {
		t.Errorf("bfloat16 of 1+2^-8 = %#04x, want 0x3f80 (even)", got)
	}
	if got := floatToBfloat(1 + 3.0/256); got != 0x3f82 {
		t.Errorf("bfloat16 of 1+3·2^-8 = %#04x, want 0x3f82", got)
	}
}

// Cast folds to and from every type as ONNX Runtime does.
func TestFoldCast(t *testing.T) {
	cast := func(x *Tensor, to DataType) string {
		n := &node{Name: "c", Op: "Cast", Attrs: map[string]model.Attr{"to": model.IntAttr(int64(to))}}
		out, err := foldCast(n, []*Tensor{x})
		if err != nil {
			return "error: " + err.Error()
		}
		if out[0].DType != to {
			return fmt.Sprintf("type %s", out[0].DType)
		}
		if to.isFloat() {
			return fmt.Sprint(out[0].Float)
		}
		return fmt.Sprint(out[0].Int)
	}
	f := &Tensor{DType: Float, Shape: []int{5}, Float: []float32{-1.7, 0.3, 0, 300, float32(math.NaN())}}
	for _, c := range []struct {
		to   DataType
		want string
	}{
		{Bool, "[1 1 0 1 1]"},
		{Float16, "[-1.7001953 0.30004883 0 300 NaN]"},
		{Double, "[-1.7 0.3 0 300 NaN]"},
	} {
		if got := cast(f, c.to); got != c.want {
			t.Errorf("Cast FLOAT to %s: %s, want %s", c.to, got, c.want)
		}
	}
	fi := &Tensor{DType: Double, Shape: []int{3}, Float: []float32{-1.7, 0.3, 300}}
	for _, c := range []struct {
		to   DataType
		want string
	}{
		{Int64, "[-1 0 300]"},
		{Int8, "[-1 0 44]"},
		{Uint8, "[255 0 44]"},
		{Float, "[-1.7 0.3 300]"},
	} {
		if got := cast(fi, c.to); got != c.want {
			t.Errorf("Cast DOUBLE to %s: %s, want %s", c.to, got, c.want)
		}
	}
	i := &Tensor{DType: Int64, Shape: []int{3}, Int: []int64{-1, 256, 0}}
	for _, c := range []struct {
		to   DataType
		want string
	}{
		{Uint8, "[255 0 0]"},
		{Bool, "[1 1 0]"},
		{Float, "[-1 256 0]"},
		{Int16, "[-1 256 0]"},
	} {
		if got := cast(i, c.to); got != c.want {
			t.Errorf("Cast INT64 to %s: %s, want %s", c.to, got, c.want)
		}
	}
}

// DOUBLE and FLOAT16 weights become float32 with a note; a BOOL
// training_mode (Dropout 12) and a DOUBLE constant through Cast are read.
func TestConvertedWeights(t *testing.T) {
	le := binary.LittleEndian
	var raw []byte
	for _, v := range []float64{1, 2, 3, 4, 5, 6} {
		raw = le.AppendUint64(raw, math.Float64bits(v))
	}
	w := &pb.TensorProto{Name: proto.String("w"), Dims: []int64{3, 2}, DataType: proto.Int32(int32(pb.TensorProto_DOUBLE)), RawData: raw}
	h := &pb.TensorProto{Name: proto.String("h"), Dims: []int64{2}, DataType: proto.Int32(int32(pb.TensorProto_FLOAT16)), RawData: []byte{0x00, 0x3c, 0x00, 0x40}}
	b := newBuilder(13).input("x", -1, 3).output("y", -1, 2).init(w).init(h).
		node("MatMul", []string{"x", "w"}, []string{"m"}).node("Add", []string{"m", "h"}, []string{"y"})
	m := decode(t, b)
	if opList(m) != "Dense" || len(m.Notes) != 2 || !strings.Contains(m.Notes[0], `DOUBLE weight(s) converted to float32: "w_T"`) ||
		!strings.Contains(m.Notes[1], `FLOAT16 weight(s) converted to float32: "h"`) {
		t.Errorf("ops %s, notes %q", opList(m), m.Notes)
	}
	if got := fmt.Sprint(m.Initializer("h").Data); got != "[1 2]" {
		t.Errorf("bias %s", got)
	}
	tm := &pb.TensorProto{Name: proto.String("tm"), DataType: proto.Int32(int32(pb.TensorProto_BOOL)), RawData: []byte{0}}
	ratio := &pb.TensorProto{Name: proto.String("r"), DataType: proto.Int32(int32(pb.TensorProto_DOUBLE)), DoubleData: []float64{0.5}}
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 3).init(tm).init(ratio).
		node("Dropout", []string{"x", "r", "tm"}, []string{"d"}).node("Relu", []string{"d"}, []string{"y"})
	if m := decode(t, b); opList(m) != "Relu" || len(m.Notes) != 0 {
		t.Errorf("Dropout with BOOL training_mode: ops %s, notes %q", opList(m), m.Notes)
	}
	tm.RawData = []byte{1}
	decodeErr(t, newBuilder(13).input("x", -1, 3).output("y", -1, 3).init(tm).init(ratio).
		node("Dropout", []string{"x", "r", "tm"}, []string{"y"}), ErrUnsupported, "training_mode is true")
	b = newBuilder(13).input("x", -1, 3).output("y", -1, 2).init(w).
		node("Cast", []string{"w"}, []string{"wf"}, aInt("to", 1)).node("MatMul", []string{"x", "wf"}, []string{"y"})
	if m := decode(t, b); opList(m) != "Dense" || len(m.Notes) != 0 || fmt.Sprint(m.Initializers[0].Data) != "[1 3 5 2 4 6]" {
		t.Errorf("Cast DOUBLE to FLOAT: ops %s, notes %q, %v", opList(m), m.Notes, m.Initializers)
	}
}
