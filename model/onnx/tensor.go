package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// DataType is an ONNX tensor element type (TensorProto.DataType).
type DataType int32

// The element types the importer reads. Others are named in errors only.
const (
	Float DataType = DataType(pb.TensorProto_FLOAT)
	Int32 DataType = DataType(pb.TensorProto_INT32)
	Int64 DataType = DataType(pb.TensorProto_INT64)
)

// String returns the ONNX name of t ("FLOAT", "INT64", ...).
func (t DataType) String() string {
	if s, ok := pb.TensorProto_DataType_name[int32(t)]; ok {
		return s
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// isInt reports whether t is one of the integer types held in Tensor.Int.
func (t DataType) isInt() bool { return t == Int32 || t == Int64 }

// Limits on what a file may declare, checked before anything is allocated.
const (
	// MaxRank is the largest tensor rank accepted.
	MaxRank = 32
	// MaxElements is the largest element count of one tensor (2 GiB of
	// float32, the most a protobuf message can hold).
	MaxElements = 1 << 29
)

// Tensor is an ONNX tensor as the importer holds it: float32 values in
// Float, integer values (INT32, INT64) in Int. Exactly one of them is used,
// by DType. Shape is row-major; an empty Shape is a scalar.
type Tensor struct {
	Name  string
	DType DataType
	Shape []int
	Float []float32
	Int   []int64
}

// Len returns the number of elements Shape describes.
func (t *Tensor) Len() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float32 returns t as a model tensor. Integer tensors are converted when
// every value is exactly representable in float32 (|v| <= 2^24).
func (t *Tensor) Float32() (*model.Tensor, error) {
	out := &model.Tensor{Name: t.Name, Shape: append([]int{}, t.Shape...)}
	switch {
	case t.DType == Float:
		out.Data = t.Float
	case t.DType.isInt():
		out.Data = make([]float32, len(t.Int))
		for i, v := range t.Int {
			if v > 1<<24 || v < -(1<<24) {
				return nil, fmt.Errorf("onnx: tensor %q: %s value %d at index %d has no exact float32: %w", t.Name, t.DType, v, i, ErrUnsupported)
			}
			out.Data[i] = float32(v)
		}
	default:
		return nil, fmt.Errorf("onnx: tensor %q: element type %s: %w", t.Name, t.DType, ErrUnsupported)
	}
	return out, nil
}

// DecodeTensor decodes one serialized TensorProto, as the ONNX test data
// (test_data_set_*/input_*.pb) stores them.
func DecodeTensor(data []byte) (*Tensor, error) {
	var tp pb.TensorProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &tp); err != nil {
		return nil, fmt.Errorf("onnx: %w: not a TensorProto: %v", ErrFormat, err)
	}
	return tensorFromProto(&tp, "tensor")
}

// checkDims converts ONNX dims to a shape, rejecting negative dims, ranks
// over MaxRank and element counts over MaxElements.
func checkDims(what string, dims []int64) ([]int, int, error) {
	if len(dims) > MaxRank {
		return nil, 0, fmt.Errorf("onnx: %s: rank %d is over the limit of %d: %w", what, len(dims), MaxRank, ErrMalformed)
	}
	shape := make([]int, len(dims))
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return nil, 0, fmt.Errorf("onnx: %s: negative dimension %d in %v: %w", what, d, dims, ErrMalformed)
		}
		if d > MaxElements || (d > 0 && n > MaxElements/d) {
			return nil, 0, fmt.Errorf("onnx: %s: dims %v make more than %d elements: %w", what, dims, MaxElements, ErrMalformed)
		}
		n *= d
		shape[i] = int(d)
	}
	return shape, int(n), nil
}

// tensorFromProto reads a FLOAT, INT32 or INT64 tensor from raw_data
// (little-endian) or the typed fields, checking the sizes first. what names
// the tensor in errors ("initializer", "attribute value of node ...").
func tensorFromProto(tp *pb.TensorProto, what string) (*Tensor, error) {
	name := tp.GetName()
	where := fmt.Sprintf("%s %q", what, name)
	if name == "" {
		where = what
	}
	if tp.GetDataLocation() == pb.TensorProto_EXTERNAL || len(tp.GetExternalData()) > 0 {
		return nil, fmt.Errorf("onnx: %s: its data is in an external file: %w: external data files are not supported; "+
			"re-export with all tensors inside the model, e.g. onnx.save(model, path, save_as_external_data=False)", where, ErrUnsupported)
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("onnx: %s: segmented tensors are %w", where, ErrUnsupported)
	}
	dt := DataType(tp.GetDataType())
	shape, n, err := checkDims(where, tp.GetDims())
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: name, DType: dt, Shape: shape}
	raw := tp.GetRawData()
	hasRaw := tp.RawData != nil
	count := func(field string, got int) error {
		if got != n {
			return fmt.Errorf("onnx: %s: shape %v needs %d values, %s has %d: %w", where, shape, n, field, got, ErrMalformed)
		}
		return nil
	}
	rawLen := func(size int) error {
		if len(raw)%size != 0 || len(raw)/size != n {
			return fmt.Errorf("onnx: %s: shape %v needs %d bytes of %s, raw_data has %d: %w", where, shape, n*size, dt, len(raw), ErrMalformed)
		}
		return nil
	}
	switch dt {
	case Float:
		if hasRaw {
			if err := rawLen(4); err != nil {
				return nil, err
			}
			t.Float = make([]float32, n)
			for i := range t.Float {
				t.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			return t, nil
		}
		if err := count("float_data", len(tp.GetFloatData())); err != nil {
			return nil, err
		}
		t.Float = append(make([]float32, 0, n), tp.GetFloatData()...)
	case Int64:
		if hasRaw {
			if err := rawLen(8); err != nil {
				return nil, err
			}
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			return t, nil
		}
		if err := count("int64_data", len(tp.GetInt64Data())); err != nil {
			return nil, err
		}
		t.Int = append(make([]int64, 0, n), tp.GetInt64Data()...)
	case Int32:
		if hasRaw {
			if err := rawLen(4); err != nil {
				return nil, err
			}
			t.Int = make([]int64, n)
			for i := range t.Int {
				t.Int[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return t, nil
		}
		if err := count("int32_data", len(tp.GetInt32Data())); err != nil {
			return nil, err
		}
		t.Int = make([]int64, n)
		for i, v := range tp.GetInt32Data() {
			t.Int[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("onnx: %s: element type %s: %w (FLOAT weights, INT64/INT32 shapes and indices)", where, dt, ErrUnsupported)
	}
	return t, nil
}
