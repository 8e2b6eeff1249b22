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

// The element types the importer reads. Float types are held as float32 in
// Tensor.Float (DOUBLE rounded to nearest, FLOAT16 and BFLOAT16 exactly);
// integer types and BOOL (0 or 1) as int64 in Tensor.Int (UINT64 values
// above 2^63-1 are refused). STRING, COMPLEX64/128 and the 8- and 4-bit
// float and integer types are named in errors only.
const (
	Float    DataType = DataType(pb.TensorProto_FLOAT)
	Uint8    DataType = DataType(pb.TensorProto_UINT8)
	Int8     DataType = DataType(pb.TensorProto_INT8)
	Uint16   DataType = DataType(pb.TensorProto_UINT16)
	Int16    DataType = DataType(pb.TensorProto_INT16)
	Int32    DataType = DataType(pb.TensorProto_INT32)
	Int64    DataType = DataType(pb.TensorProto_INT64)
	Bool     DataType = DataType(pb.TensorProto_BOOL)
	Float16  DataType = DataType(pb.TensorProto_FLOAT16)
	Double   DataType = DataType(pb.TensorProto_DOUBLE)
	Uint32   DataType = DataType(pb.TensorProto_UINT32)
	Uint64   DataType = DataType(pb.TensorProto_UINT64)
	BFloat16 DataType = DataType(pb.TensorProto_BFLOAT16)
)

// String returns the ONNX name of t ("FLOAT", "INT64", ...).
func (t DataType) String() string {
	if s, ok := pb.TensorProto_DataType_name[int32(t)]; ok {
		return s
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// isInt reports whether t is an integer type or BOOL, held in Tensor.Int.
func (t DataType) isInt() bool {
	switch t {
	case Uint8, Int8, Uint16, Int16, Int32, Int64, Bool, Uint32, Uint64:
		return true
	}
	return false
}

// isFloat reports whether t is a floating-point type, held in Tensor.Float.
func (t DataType) isFloat() bool {
	return t == Float || t == Double || t == Float16 || t == BFloat16
}

// size is the number of bytes of one element of t in raw_data, 0 for
// types the importer does not read.
func (t DataType) size() int {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Int32, Uint32, Float:
		return 4
	case Int64, Uint64, Double:
		return 8
	}
	return 0
}

// wrap converts v to the range of the integer type t as a C cast does
// (two's complement truncation; BOOL: v != 0).
func (t DataType) wrap(v int64) int64 {
	switch t {
	case Bool:
		if v != 0 {
			return 1
		}
		return 0
	case Int8:
		return int64(int8(v))
	case Uint8:
		return int64(uint8(v))
	case Int16:
		return int64(int16(v))
	case Uint16:
		return int64(uint16(v))
	case Int32:
		return int64(int32(v))
	case Uint32:
		return int64(uint32(v))
	}
	return v
}

// round rounds v to the precision of the float type t (FLOAT16, BFLOAT16:
// to nearest even; overflow gives ±Inf), as a cast to that type would.
func (t DataType) round(v float32) float32 {
	switch t {
	case Float16:
		return halfToFloat(floatToHalf(v))
	case BFloat16:
		return bfloatToFloat(floatToBfloat(v))
	}
	return v
}

// halfToFloat converts IEEE 754 binary16 bits to float32 (exact).
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
	case man == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: man * 2^-24
	v := float32(man) / (1 << 24)
	if sign != 0 {
		v = -v
	}
	return v
}

// floatToHalf converts float32 to binary16 bits, rounding to nearest even.
func floatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff
	switch {
	case exp == 0xff:
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp-127 > 15:
		return sign | 0x7c00
	case exp-127 >= -14: // normal half
		h := uint32(exp-127+15)<<10 | man>>13
		rest := man & 0x1fff
		if rest > 0x1000 || (rest == 0x1000 && h&1 != 0) {
			h++ // may carry into the exponent, up to Inf: still correct
		}
		return sign | uint16(h)
	case exp-127 < -25:
		return sign
	}
	// subnormal half: value = m * 2^-24 with m = (1.man) * 2^(e+24)
	m := man | 0x800000
	shift := uint32(-(exp - 127) - 14 + 13) // 14..24
	h := m >> shift
	rest := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rest > half || (rest == half && h&1 != 0) {
		h++
	}
	return sign | uint16(h)
}

// bfloatToFloat converts bfloat16 bits to float32 (exact).
func bfloatToFloat(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// floatToBfloat converts float32 to bfloat16 bits, rounding to nearest even.
func floatToBfloat(f float32) uint16 {
	b := math.Float32bits(f)
	if f != f {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// Limits on what a file may declare, checked before anything is allocated.
const (
	// MaxRank is the largest tensor rank accepted.
	MaxRank = 32
	// MaxElements is the largest element count of one tensor (2 GiB of
	// float32, the most a protobuf message can hold).
	MaxElements = 1 << 29
)

// Tensor is an ONNX tensor as the importer holds it: values of the float
// types (FLOAT, DOUBLE, FLOAT16, BFLOAT16) as float32 in Float, of the
// integer types and BOOL as int64 in Int. Exactly one of them is used, by
// DType. Shape is row-major; an empty Shape is a scalar.
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

// Float32 returns t as a model tensor. Values of the other float types
// are already float32; integer tensors are converted when every value is
// exactly representable in float32 (|v| <= 2^24).
func (t *Tensor) Float32() (*model.Tensor, error) {
	out := &model.Tensor{Name: t.Name, Shape: append([]int{}, t.Shape...)}
	switch {
	case t.DType.isFloat():
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

// tensorFromProto reads a tensor of any element type the importer holds
// (see Tensor) from raw_data (little-endian) or the typed fields, checking
// the sizes first. what names the tensor in errors ("initializer",
// "attribute value of node ..."). tp may be nil (an attribute of type
// TENSOR without its tensor): that is an error, not a panic.
func tensorFromProto(tp *pb.TensorProto, what string) (*Tensor, error) {
	if tp == nil {
		return nil, fmt.Errorf("onnx: %s: no tensor is given: %w", what, ErrMalformed)
	}
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
	size := dt.size()
	if size == 0 {
		return nil, fmt.Errorf("onnx: %s: element type %s: %w (float, integer and BOOL tensors are read)", where, dt, ErrUnsupported)
	}
	shape, n, err := checkDims(where, tp.GetDims())
	if err != nil {
		return nil, err
	}
	t := &Tensor{Name: name, DType: dt, Shape: shape}
	if tp.RawData != nil {
		raw := tp.GetRawData()
		if len(raw)%size != 0 || len(raw)/size != n {
			return nil, fmt.Errorf("onnx: %s: shape %v needs %d bytes of %s, raw_data has %d: %w", where, shape, n*size, dt, len(raw), ErrMalformed)
		}
		if dt.isFloat() {
			t.Float = make([]float32, n)
		} else {
			t.Int = make([]int64, n)
		}
		le := binary.LittleEndian
		for i := 0; i < n; i++ {
			switch dt {
			case Float:
				t.Float[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			case Double:
				t.Float[i] = float32(math.Float64frombits(le.Uint64(raw[8*i:])))
			case Float16:
				t.Float[i] = halfToFloat(le.Uint16(raw[2*i:]))
			case BFloat16:
				t.Float[i] = bfloatToFloat(le.Uint16(raw[2*i:]))
			case Int8, Uint8, Bool:
				t.Int[i] = dt.wrap(int64(int8(raw[i])))
			case Int16, Uint16:
				t.Int[i] = dt.wrap(int64(int16(le.Uint16(raw[2*i:]))))
			case Int32, Uint32:
				t.Int[i] = dt.wrap(int64(int32(le.Uint32(raw[4*i:]))))
			case Int64:
				t.Int[i] = int64(le.Uint64(raw[8*i:]))
			case Uint64:
				v := le.Uint64(raw[8*i:])
				if v > math.MaxInt64 {
					return nil, fmt.Errorf("onnx: %s: UINT64 value %d at index %d is over 2^63-1: %w", where, v, i, ErrUnsupported)
				}
				t.Int[i] = int64(v)
			}
		}
		return t, nil
	}
	// The typed fields (onnx.proto): float_data for FLOAT; int32_data for
	// INT32, INT16, INT8, UINT16, UINT8, BOOL and the bits of FLOAT16 and
	// BFLOAT16; int64_data for INT64; uint64_data for UINT32 and UINT64;
	// double_data for DOUBLE.
	count := func(field string, got int) error {
		if got != n {
			return fmt.Errorf("onnx: %s: shape %v needs %d values, %s has %d: %w", where, shape, n, field, got, ErrMalformed)
		}
		return nil
	}
	switch dt {
	case Float:
		if err := count("float_data", len(tp.GetFloatData())); err != nil {
			return nil, err
		}
		t.Float = append(make([]float32, 0, n), tp.GetFloatData()...)
	case Double:
		if err := count("double_data", len(tp.GetDoubleData())); err != nil {
			return nil, err
		}
		t.Float = make([]float32, n)
		for i, v := range tp.GetDoubleData() {
			t.Float[i] = float32(v)
		}
	case Float16, BFloat16:
		if err := count("int32_data", len(tp.GetInt32Data())); err != nil {
			return nil, err
		}
		t.Float = make([]float32, n)
		for i, v := range tp.GetInt32Data() {
			if dt == Float16 {
				t.Float[i] = halfToFloat(uint16(v))
			} else {
				t.Float[i] = bfloatToFloat(uint16(v))
			}
		}
	case Int64:
		if err := count("int64_data", len(tp.GetInt64Data())); err != nil {
			return nil, err
		}
		t.Int = append(make([]int64, 0, n), tp.GetInt64Data()...)
	case Uint32, Uint64:
		if err := count("uint64_data", len(tp.GetUint64Data())); err != nil {
			return nil, err
		}
		t.Int = make([]int64, n)
		for i, v := range tp.GetUint64Data() {
			if v > math.MaxInt64 || (dt == Uint32 && v > math.MaxUint32) {
				return nil, fmt.Errorf("onnx: %s: %s value %d at index %d is out of range: %w", where, dt, v, i, ErrMalformed)
			}
			t.Int[i] = int64(v)
		}
	default: // INT32, INT16, INT8, UINT16, UINT8, BOOL
		if err := count("int32_data", len(tp.GetInt32Data())); err != nil {
			return nil, err
		}
		t.Int = make([]int64, n)
		for i, v := range tp.GetInt32Data() {
			t.Int[i] = dt.wrap(int64(v))
		}
	}
	return t, nil
}
