package serve

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Datatypes of the protocol's tensors that requests may use, with the size
// of one element. Inputs of every type are converted to float32, the type
// vkinfer's models take (FP16 and BF16 exactly: float32 holds all their
// values); outputs are always FP32. BYTES (strings) is refused.
var elemSize = map[string]int{
	"BOOL":  1,
	"UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8,
	"INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8,
	"FP16": 2, "BF16": 2, "FP32": 4, "FP64": 8,
}

// checkDatatype returns the size in bytes of one element of dt, or an
// ErrInvalid error naming the input and dt.
func checkDatatype(name, dt string) (int, error) {
	n, ok := elemSize[dt]
	switch {
	case ok:
		return n, nil
	case dt == "BYTES":
		return 0, fmt.Errorf("%w: input %q has datatype BYTES (strings); vkinfer's models take numbers: send FP32 (or FP16, BF16, FP64, BOOL, INT8..INT64, UINT8..UINT64, converted to FP32)", ErrInvalid, name)
	}
	return 0, fmt.Errorf("%w: input %q has datatype %q; use FP32 (or FP16, BF16, FP64, BOOL, INT8..INT64, UINT8..UINT64, converted to FP32)", ErrInvalid, name, dt)
}

// decodeRaw converts little-endian binary tensor data of datatype dt (the
// protocol's raw and binary-extension layout, row-major) into float32.
// len(b) must be n*size(dt); the caller checked it.
func decodeRaw(dst []float32, b []byte, dt string) {
	le := binary.LittleEndian
	switch dt {
	case "FP32":
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
	case "FP64":
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		}
	case "FP16":
		for i := range dst {
			dst[i] = fp16ToFloat32(le.Uint16(b[2*i:]))
		}
	case "BF16":
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(b[2*i:])) << 16)
		}
	case "BOOL", "UINT8":
		for i := range dst {
			dst[i] = float32(b[i])
		}
	case "INT8":
		for i := range dst {
			dst[i] = float32(int8(b[i]))
		}
	case "UINT16":
		for i := range dst {
			dst[i] = float32(le.Uint16(b[2*i:]))
		}
	case "INT16":
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(b[2*i:])))
		}
	case "UINT32":
		for i := range dst {
			dst[i] = float32(le.Uint32(b[4*i:]))
		}
	case "INT32":
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(b[4*i:])))
		}
	case "UINT64":
		for i := range dst {
			dst[i] = float32(le.Uint64(b[8*i:]))
		}
	case "INT64":
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(b[8*i:])))
		}
	}
}

// fp16ToFloat32 widens an IEEE 754 binary16 value (its bits) to float32,
// exactly: subnormals, infinities and NaNs (payload kept) included.
func fp16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	}
	// zero and subnormals: frac * 2^-24, exact in float32
	f := float32(frac) * 0x1p-24
	if sign != 0 {
		f = -f
	}
	return f
}

// encodeFP32 appends data as little-endian FP32 bytes.
func encodeFP32(dst []byte, data []float32) []byte {
	for _, v := range data {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return dst
}

// appendJSONFloats appends data as a JSON array. JSON has no NaN or
// infinities: those are written as the strings "NaN", "Infinity" and
// "-Infinity" (as Python's json module reads them back with parse_constant).
func appendJSONFloats(dst []byte, data []float32) []byte {
	dst = append(dst, '[')
	for i, v := range data {
		if i > 0 {
			dst = append(dst, ',')
		}
		switch {
		case math.IsNaN(float64(v)):
			dst = append(dst, `"NaN"`...)
		case math.IsInf(float64(v), 1):
			dst = append(dst, `"Infinity"`...)
		case math.IsInf(float64(v), -1):
			dst = append(dst, `"-Infinity"`...)
		default:
			dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
		}
	}
	return append(dst, ']')
}
