package serve

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
)

// Datatypes of the protocol's tensors that requests may use. Inputs of
// every type are converted to float32, the type vkinfer's models take;
// outputs are always FP32. BYTES and FP16/BF16 are refused.
var elemSize = map[string]int{
	"BOOL":  1,
	"UINT8": 1, "UINT16": 2, "UINT32": 4, "UINT64": 8,
	"INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8,
	"FP32": 4, "FP64": 8,
}

// checkDatatype returns the size in bytes of one element of dt, or an
// ErrInvalid error naming dt.
func checkDatatype(name, dt string) (int, error) {
	n, ok := elemSize[dt]
	if !ok {
		return 0, fmt.Errorf("%w: input %q has datatype %q; use FP32 (or BOOL, INT8..INT64, UINT8..UINT64, FP64, converted to FP32)", ErrInvalid, name, dt)
	}
	return n, nil
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

// encodeFP32 appends data as little-endian FP32 bytes.
func encodeFP32(dst []byte, data []float32) []byte {
	for _, v := range data {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
	}
	return dst
}

// parseData reads the "data" member of a JSON input tensor: numbers (or
// true/false) in arrays nested to any depth (flat and nested layouts are
// both row-major), into dst, which has exactly the element count the
// tensor's shape gives. It allocates nothing beyond dst and never reads
// more values than len(dst).
func parseData(dst []float32, raw []byte, name, dt string) error {
	p := dataParser{b: raw}
	n := 0
	depth := 0
	p.space()
	if p.i >= len(p.b) {
		return fmt.Errorf("%w: input %q has no data", ErrInvalid, name)
	}
	for {
		p.space()
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		switch {
		case c == '[':
			depth++
			if depth > 64 {
				return fmt.Errorf("%w: input %q: data nested deeper than 64 arrays", ErrInvalid, name)
			}
			p.i++
		case c == ']':
			depth--
			if depth < 0 {
				return fmt.Errorf("%w: input %q: unbalanced ']' in data", ErrInvalid, name)
			}
			p.i++
		case c == ',':
			p.i++
		case c == 't' || c == 'f':
			if dt != "BOOL" {
				return fmt.Errorf("%w: input %q: true/false in data of datatype %s", ErrInvalid, name, dt)
			}
			v, ok := p.boolean()
			if !ok {
				return fmt.Errorf("%w: input %q: bad literal in data at byte %d", ErrInvalid, name, p.i)
			}
			if n >= len(dst) {
				return fmt.Errorf("%w: input %q: data has more than the %d values its shape gives", ErrInvalid, name, len(dst))
			}
			dst[n] = v
			n++
		default:
			start := p.i
			for p.i < len(p.b) && isNumByte(p.b[p.i]) {
				p.i++
			}
			if p.i == start {
				return fmt.Errorf("%w: input %q: data holds %q at byte %d; want numbers in arrays", ErrInvalid, name, c, start)
			}
			f, err := strconv.ParseFloat(string(p.b[start:p.i]), 32)
			if err != nil && !isRange(err) {
				return fmt.Errorf("%w: input %q: bad number %q in data", ErrInvalid, name, p.b[start:p.i])
			}
			if dt == "BOOL" {
				return fmt.Errorf("%w: input %q: number in data of datatype BOOL; use true/false", ErrInvalid, name)
			}
			if n >= len(dst) {
				return fmt.Errorf("%w: input %q: data has more than the %d values its shape gives", ErrInvalid, name, len(dst))
			}
			dst[n] = float32(f)
			n++
		}
	}
	if depth != 0 {
		return fmt.Errorf("%w: input %q: unbalanced '[' in data", ErrInvalid, name)
	}
	if n != len(dst) {
		return fmt.Errorf("%w: input %q: data has %d values, its shape gives %d", ErrInvalid, name, n, len(dst))
	}
	return nil
}

type dataParser struct {
	b []byte
	i int
}

func (p *dataParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *dataParser) boolean() (float32, bool) {
	rest := p.b[p.i:]
	if len(rest) >= 4 && string(rest[:4]) == "true" {
		p.i += 4
		return 1, true
	}
	if len(rest) >= 5 && string(rest[:5]) == "false" {
		p.i += 5
		return 0, true
	}
	return 0, false
}

func isNumByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// isRange reports a strconv range error: a value beyond float32 becomes ±Inf
// (as a float32 conversion would), not an error.
func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
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
