package serve

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The REST decoder reads the JSON of an infer request in one pass with the
// small reader below instead of encoding/json: the request is a fixed
// shape (a few named members around long arrays of numbers), and
// encoding/json would scan the tensor data twice (validation, then
// json.RawMessage) before it is parsed a third time into float32; under
// load that was half of the server's CPU per request (docs/SERVING.md
// "Where the time goes"). The reader is strict RFC 8259 JSON: every value
// it skips is checked, member names match exactly (the protocol's names
// are case-sensitive), and nesting is bounded.

// maxJSONDepth bounds the nesting of arrays and objects anywhere in a
// request (tensor data nested deeper than this is not a tensor).
const maxJSONDepth = 64

// jsonIn reads one JSON text from b.
type jsonIn struct {
	b []byte
	i int
}

// errorf is a syntax error at the reader's position.
func (r *jsonIn) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: the body is not an inference request in JSON: %s at byte %d", ErrInvalid, fmt.Sprintf(format, args...), r.i)
}

// peek skips white space and returns the next byte, 0 at the end.
func (r *jsonIn) peek() byte {
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

// found describes the next byte for an error message.
func (r *jsonIn) found() string {
	if r.peek() == 0 && r.i >= len(r.b) {
		return "the end of the JSON"
	}
	return strconv.QuoteRune(rune(r.b[r.i]))
}

// open reads the opening bracket c ('{' or '[').
func (r *jsonIn) open(c byte) error {
	if r.peek() != c {
		kind := map[byte]string{'{': "an object", '[': "an array"}[c]
		return r.errorf("want %s, found %s", kind, r.found())
	}
	r.i++
	return nil
}

// more is called before each member or element of an object or array whose
// opening bracket was read; n counts those read so far. It reads the comma
// between them, or the closing bracket end and then reports false.
func (r *jsonIn) more(end byte, n *int) (bool, error) {
	c := r.peek()
	if c == end {
		r.i++
		return false, nil
	}
	if *n > 0 {
		if c != ',' {
			return false, r.errorf("want ',' or '%c', found %s", end, r.found())
		}
		r.i++
	}
	*n++
	return true, nil
}

// key reads an object member's name and the colon after it. The bytes are
// the reader's own or, for names with escapes, a new slice; convert them
// to keep them.
func (r *jsonIn) key() ([]byte, error) {
	k, err := r.str()
	if err != nil {
		return nil, err
	}
	if r.peek() != ':' {
		return nil, r.errorf("want ':' after a member name, found %s", r.found())
	}
	r.i++
	return k, nil
}

// str reads a string and returns its decoded bytes (see key).
func (r *jsonIn) str() ([]byte, error) {
	if r.peek() != '"' {
		return nil, r.errorf("want a string, found %s", r.found())
	}
	r.i++
	start := r.i
	for r.i < len(r.b) {
		switch c := r.b[r.i]; {
		case c == '"':
			r.i++
			return r.b[start : r.i-1], nil
		case c == '\\':
			return r.strEscaped(start)
		case c < 0x20:
			return nil, r.errorf("control character %#x in a string", c)
		}
		r.i++
	}
	return nil, r.errorf("unterminated string")
}

// strEscaped finishes a string that has escapes, from its first byte start.
func (r *jsonIn) strEscaped(start int) ([]byte, error) {
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch {
		case c == '"':
			r.i++
			return out, nil
		case c < 0x20:
			return nil, r.errorf("control character %#x in a string", c)
		case c != '\\':
			out = append(out, c)
			r.i++
			continue
		}
		if r.i+1 >= len(r.b) {
			return nil, r.errorf("unterminated string")
		}
		e := r.b[r.i+1]
		r.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			u, ok := r.hex4()
			if !ok {
				return nil, r.errorf(`bad \u escape in a string`)
			}
			ru := rune(u)
			if utf16.IsSurrogate(ru) {
				ru = utf8.RuneError
				if r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					if lo, ok := r.hex4(); ok {
						if p := utf16.DecodeRune(rune(u), rune(lo)); p != utf8.RuneError {
							ru = p
						} else {
							r.i = save // not a pair: the next escape stands alone
						}
					} else {
						return nil, r.errorf(`bad \u escape in a string`)
					}
				}
			}
			out = utf8.AppendRune(out, ru)
		default:
			return nil, r.errorf("bad escape '\\%c' in a string", e)
		}
	}
	return nil, r.errorf("unterminated string")
}

// hex4 reads the four hex digits of a \u escape.
func (r *jsonIn) hex4() (uint16, bool) {
	if r.i+4 > len(r.b) {
		return 0, false
	}
	var u uint16
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		u = u<<4 | uint16(c)
	}
	r.i += 4
	return u, true
}

// literal reads the literal word (true, false, null).
func (r *jsonIn) literal(word string) error {
	if !bytes.HasPrefix(r.b[r.i:], []byte(word)) {
		return r.errorf("want a value, found %s", r.found())
	}
	r.i += len(word)
	return nil
}

// null reads a null if one is next and reports whether it did.
func (r *jsonIn) null() bool {
	if r.peek() == 'n' && r.literal("null") == nil {
		return true
	}
	return false
}

// boolean reads true or false.
func (r *jsonIn) boolean() (bool, error) {
	switch r.peek() {
	case 't':
		return true, r.literal("true")
	case 'f':
		return false, r.literal("false")
	}
	return false, r.errorf("want true or false, found %s", r.found())
}

// number reads a number and returns its text, checked against JSON's
// grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *jsonIn) number() ([]byte, error) {
	r.peek()
	b, i := r.b, r.i
	digits := func() int {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i - s
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return nil, r.errorf("want a value, found %s", r.found())
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			r.i = i
			return nil, r.errorf("want a digit after '.' in a number")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			r.i = i
			return nil, r.errorf("want a digit in a number's exponent")
		}
	}
	s := b[r.i:i]
	r.i = i
	return s, nil
}

// int64 reads an integer that fits into int64.
func (r *jsonIn) int64() (int64, error) {
	s, err := r.number()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, r.errorf("want an integer of 64 bits, found %s", s)
	}
	return n, nil
}

// skip reads and checks any value; depth is the nesting it is at.
func (r *jsonIn) skip(depth int) error {
	if depth > maxJSONDepth {
		return r.errorf("values nested deeper than %d", maxJSONDepth)
	}
	switch r.peek() {
	case '{':
		r.i++
		for n := 0; ; {
			ok, err := r.more('}', &n)
			if err != nil || !ok {
				return err
			}
			if _, err := r.key(); err != nil {
				return err
			}
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
	case '[':
		r.i++
		for n := 0; ; {
			ok, err := r.more(']', &n)
			if err != nil || !ok {
				return err
			}
			if err := r.skip(depth + 1); err != nil {
				return err
			}
		}
	case '"':
		_, err := r.str()
		return err
	case 't':
		return r.literal("true")
	case 'f':
		return r.literal("false")
	case 'n':
		return r.literal("null")
	}
	_, err := r.number()
	return err
}

// end checks that nothing but white space follows the value read.
func (r *jsonIn) end() error {
	if r.peek() != 0 || r.i < len(r.b) {
		return r.errorf("%s after the end of the JSON value", r.found())
	}
	return nil
}

// data reads the "data" member of a JSON input tensor: a number (true or
// false for BOOL) or arrays of them nested to any depth (flat and nested
// layouts are both row-major), converted to float32 by datatype dt, into
// dst, which has exactly the element count the tensor's shape gives. It
// allocates nothing and never writes more than len(dst) values.
func (r *jsonIn) data(dst []float32, name, dt string) error {
	n, err := r.values(dst, 0, 0, name, dt)
	if err != nil {
		return err
	}
	if n != len(dst) {
		return fmt.Errorf("%w: input %q: data has %d values, its shape gives %d", ErrInvalid, name, n, len(dst))
	}
	return nil
}

// values reads one value of data (an array: all its values) into dst[n:]
// and returns the count read so far.
func (r *jsonIn) values(dst []float32, n, depth int, name, dt string) (int, error) {
	c := r.peek()
	if c == '[' {
		if depth >= maxJSONDepth {
			return 0, fmt.Errorf("%w: input %q: data nested deeper than %d arrays", ErrInvalid, name, maxJSONDepth)
		}
		r.i++
		for k := 0; ; {
			ok, err := r.more(']', &k)
			if err != nil || !ok {
				return n, err
			}
			if n, err = r.values(dst, n, depth+1, name, dt); err != nil {
				return 0, err
			}
		}
	}
	if n >= len(dst) && (c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9') {
		return 0, fmt.Errorf("%w: input %q: data has more than the %d values its shape gives", ErrInvalid, name, len(dst))
	}
	switch {
	case c == 't' || c == 'f':
		if dt != "BOOL" {
			return 0, fmt.Errorf("%w: input %q: true/false in data of datatype %s", ErrInvalid, name, dt)
		}
		v, err := r.boolean()
		if err != nil {
			return 0, err
		}
		dst[n] = 0
		if v {
			dst[n] = 1
		}
		return n + 1, nil
	case c == '-' || c >= '0' && c <= '9':
		if dt == "BOOL" {
			return 0, fmt.Errorf("%w: input %q: number in data of datatype BOOL; use true/false", ErrInvalid, name)
		}
		s, err := r.number()
		if err != nil {
			return 0, err
		}
		dst[n] = parseNumber(s, dt)
		return n + 1, nil
	}
	return 0, fmt.Errorf("%w: input %q: data holds %s at byte %d; want numbers in arrays", ErrInvalid, name, r.found(), r.i)
}

// parseNumber converts the text of a JSON number (checked against the
// grammar) to the float32 input of a tensor of datatype dt: the nearest
// float32, except that FP16 and BF16 values are first rounded to the
// nearest value of those types (then widened exactly), as a client that
// sends such a tensor means them. Values beyond the range become ±Inf.
func parseNumber(s []byte, dt string) float32 {
	switch dt {
	case "FP16", "BF16":
		f, _ := strconv.ParseFloat(string(s), 64) // a range error gives ±Inf
		if dt == "FP16" {
			return roundFP16(f)
		}
		return roundBF16(f)
	}
	if f, ok := fastFloat32(s); ok {
		return f
	}
	f, _ := strconv.ParseFloat(string(s), 32) // a range error gives ±Inf
	return float32(f)
}

// pow10f32 are the powers of ten exact in float32.
var pow10f32 = [...]float32{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10}

// fastFloat32 converts the common short numbers of tensor data ("0.25",
// "17", "-3e2") without strconv: when the decimal significand is below
// 2^23 and the power of ten at most 10 either way, both are exact float32
// values and one float32 multiplication or division rounds correctly
// (Clinger's fast path, the one strconv takes first too). ok is false
// for every other number; s must be a valid JSON number.
func fastFloat32(s []byte) (_ float32, ok bool) {
	i, neg := 0, s[0] == '-'
	if neg {
		i++
	}
	var m uint32
	exp := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if m = m*10 + uint32(s[i]-'0'); m >= 1<<23 {
			return 0, false
		}
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if m = m*10 + uint32(s[i]-'0'); m >= 1<<23 {
				return 0, false
			}
			exp--
		}
	}
	if i < len(s) { // exponent
		i++
		eneg := s[i] == '-'
		if s[i] == '-' || s[i] == '+' {
			i++
		}
		if len(s)-i > 2 {
			return 0, false
		}
		e := 0
		for ; i < len(s); i++ {
			e = e*10 + int(s[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if exp < -10 || exp > 10 {
		return 0, false
	}
	f := float32(m)
	if exp < 0 {
		f /= pow10f32[-exp]
	} else {
		f *= pow10f32[exp]
	}
	if neg {
		f = -f
	}
	return f, true
}

// roundFP16 rounds f to the nearest IEEE 754 binary16 value (ties to even;
// beyond ±65504 after rounding: ±Inf) and returns it as a float32, which
// holds every binary16 value exactly.
func roundFP16(f float64) float32 { return roundFloat(f, 10, -14, 65504) }

// roundBF16 rounds f to the nearest bfloat16 value (8 exponent bits like
// float32, 7 fraction bits; ties to even) and returns it as a float32.
func roundBF16(f float64) float32 { return roundFloat(f, 7, -126, 0x1.fep127) }

// roundFloat rounds f to the nearest value of a binary format with frac
// fraction bits, smallest normal exponent minExp (subnormals below it) and
// largest finite value maxFinite, ties to even.
func roundFloat(f float64, frac, minExp int, maxFinite float64) float32 {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return float32(f)
	}
	_, e := math.Frexp(f) // |f| = m * 2^e, m in [0.5, 1)
	e = max(e-1, minExp)  // the exponent of f's leading bit, not below the subnormals'
	q := math.Ldexp(1, e-frac)
	r := math.RoundToEven(f/q) * q // f/q and *q are exact: q is a power of two
	if math.Abs(r) > maxFinite {
		return float32(math.Copysign(math.Inf(1), f))
	}
	return float32(r)
}

// appendJSONString appends s as a JSON string: '"' and '\' and control
// characters escaped, bytes that are not UTF-8 replaced with U+FFFD (as
// encoding/json does).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
			}
			i++
			continue
		}
		ru, n := utf8.DecodeRuneInString(s[i:])
		if ru == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
