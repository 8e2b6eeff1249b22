package onnx

import (
	"encoding/binary"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// builder writes small ONNX models for the tests.
type builder struct {
	m *pb.ModelProto
	g *pb.GraphProto
}

func newBuilder(opset int64) *builder {
	g := &pb.GraphProto{Name: proto.String("test")}
	return &builder{
		m: &pb.ModelProto{
			IrVersion:    proto.Int64(8),
			ProducerName: proto.String("vkinfer-test"),
			OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
			Graph:        g,
		},
		g: g,
	}
}

// valueInfo makes a tensor value; a dim of -1 is the dim_param "N"; no
// dims: no shape (use an empty TensorShapeProto for a scalar).
func valueInfo(name string, dt pb.TensorProto_DataType, dims ...int64) *pb.ValueInfoProto {
	var sp *pb.TensorShapeProto
	if len(dims) > 0 {
		sp = &pb.TensorShapeProto{}
	}
	for _, d := range dims {
		if d < 0 {
			sp.Dim = append(sp.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}})
		} else {
			sp.Dim = append(sp.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: sp}}}}
}

func (b *builder) input(name string, dims ...int64) *builder {
	b.g.Input = append(b.g.Input, valueInfo(name, pb.TensorProto_FLOAT, dims...))
	return b
}

func (b *builder) output(name string, dims ...int64) *builder {
	b.g.Output = append(b.g.Output, valueInfo(name, pb.TensorProto_FLOAT, dims...))
	return b
}

// floatTensor stores values in float_data.
func floatTensor(name string, dims []int64, v []float32) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), FloatData: v}
}

// rawFloatTensor stores values in raw_data, little-endian.
func rawFloatTensor(name string, dims []int64, v []float32) *pb.TensorProto {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return &pb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), RawData: raw}
}

func intTensor(name string, v ...int64) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))}, DataType: proto.Int32(int32(pb.TensorProto_INT64)), Int64Data: v}
}

func (b *builder) init(t *pb.TensorProto) *builder {
	b.g.Initializer = append(b.g.Initializer, t)
	return b
}

func (b *builder) node(op string, ins, outs []string, attrs ...*pb.AttributeProto) *builder {
	b.g.Node = append(b.g.Node, &pb.NodeProto{OpType: proto.String(op), Input: ins, Output: outs, Attribute: attrs})
	return b
}

func (b *builder) named(name string) *builder {
	b.g.Node[len(b.g.Node)-1].Name = proto.String(name)
	return b
}

func aInt(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func aFloat(name string, v float32) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aInts(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}

func aTensor(name string, t *pb.TensorProto) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_TENSOR.Enum(), T: t}
}

func (b *builder) bytes(t testing.TB) []byte {
	t.Helper()
	data, err := proto.Marshal(b.m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
