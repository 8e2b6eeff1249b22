// Package npy reads and writes NumPy .npy files of float32 data, used to
// exchange reference tensors with Python. Read accepts little-endian float32
// ('<f4') and float64 ('<f8', converted to float32) in C order; Write writes
// format version 1.0 with '<f4'.
//
// Header values are checked, and the element count the shape claims is
// compared with what the stream really holds, before anything the file
// claims is allocated.
//
// Concurrency: the functions keep no state and may be called from many
// goroutines at once.
package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ErrFormat means the data is not a supported .npy file.
var ErrFormat = errors.New("not a supported .npy file")

const magic = "\x93NUMPY"

// MaxHeaderSize caps the header dictionary.
const MaxHeaderSize = 1 << 16

// MaxElements caps the element count a file may claim.
const MaxElements = 1 << 34

// Read reads a .npy stream and returns its shape and data.
func Read(r io.Reader) (shape []int, data []float32, err error) {
	nr, err := newReader(r)
	if err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	// Read what is really there (one byte more to detect trailing data)
	// before allocating the float slice.
	raw, err := io.ReadAll(io.LimitReader(r, nr.DataBytes()+1))
	if err != nil {
		return nil, nil, fmt.Errorf("npy: reading data: %w", err)
	}
	if err := nr.checkSize(int64(len(raw))); err != nil {
		return nil, nil, fmt.Errorf("npy: %w", err)
	}
	data = make([]float32, nr.elems)
	nr.decode(raw, data)
	return nr.Shape, data, nil
}

// Reader reads a .npy stream piece by piece: NewReader reads and checks the
// header, ReadRows then reads the data a few rows (slices along the first
// dimension) at a time, so a large file never has to be in memory whole.
type Reader struct {
	// Shape is the array's shape (nil for a scalar).
	Shape []int
	r     io.Reader
	size  int   // bytes per element: 4 ('<f4') or 8 ('<f8')
	elems int   // elements in all
	left  int   // elements not read yet
	hdr   int64 // header bytes
	buf   []byte
}

// NewReader reads the header of the .npy stream r. Errors wrap ErrFormat
// for data that is not a supported .npy file. When the caller knows how many
// bytes the stream holds after the header (a file's size minus
// HeaderBytes), CheckSize finds a truncated file before its data is read.
func NewReader(r io.Reader) (*Reader, error) {
	nr, err := newReader(r)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return nr, nil
}

func newReader(r io.Reader) (*Reader, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("%w: reading magic: %w", ErrFormat, err)
	}
	if string(pre[:6]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrFormat, pre[:6])
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: reading header length: %w", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: reading header length: %w", ErrFormat, err)
		}
		hlen = int(binary.LittleEndian.Uint32(b[:]))
	default:
		return nil, fmt.Errorf("%w: format version %d.%d (supported: 1.0, 2.0, 3.0)", ErrFormat, pre[6], pre[7])
	}
	if hlen > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes exceeds the limit %d", ErrFormat, hlen, MaxHeaderSize)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrFormat, err)
	}
	descr, fortran, shape, err := parseHeader(string(hb))
	if err != nil {
		return nil, fmt.Errorf("%w: header %q: %v", ErrFormat, strings.TrimSpace(string(hb)), err)
	}
	if fortran {
		return nil, fmt.Errorf("%w: fortran_order is True; save a C-ordered array (numpy.ascontiguousarray)", ErrFormat)
	}
	var size int
	switch descr {
	case "<f4":
		size = 4
	case "<f8":
		size = 8
	default:
		return nil, fmt.Errorf("%w: dtype %q, want '<f4' or '<f8' (little-endian float)", ErrFormat, descr)
	}
	n := 1
	for _, d := range shape {
		if d != 0 && n > MaxElements/d {
			return nil, fmt.Errorf("%w: shape %v claims more than %d elements", ErrFormat, shape, MaxElements)
		}
		n *= d
	}
	if len(shape) == 0 {
		shape = nil
	}
	headerBytes := 8 + hlen + 2
	if pre[6] != 1 {
		headerBytes += 2
	}
	return &Reader{Shape: shape, r: r, size: size, elems: n, left: n, hdr: int64(headerBytes)}, nil
}

// HeaderBytes is the size of the stream's header: the data starts there.
func (r *Reader) HeaderBytes() int64 { return r.hdr }

// DataBytes is the size of the data the header announces.
func (r *Reader) DataBytes() int64 { return int64(r.elems) * int64(r.size) }

// CheckSize says whether a stream holding n bytes of data after its header
// has exactly the data the header announces (ErrFormat: truncated, or
// trailing data).
func (r *Reader) CheckSize(n int64) error {
	if err := r.checkSize(n); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}

func (r *Reader) checkSize(n int64) error {
	switch want := r.DataBytes(); {
	case n < want:
		return fmt.Errorf("%w: truncated: shape %v needs %d bytes of data, found %d", ErrFormat, r.Shape, want, n)
	case n > want:
		return fmt.Errorf("%w: trailing data after the %d bytes of shape %v", ErrFormat, want, r.Shape)
	}
	return nil
}

// RowElems is the number of elements of one row (a slice along the first
// dimension; the whole array for a scalar).
func (r *Reader) RowElems() int {
	n := 1
	for _, d := range r.Shape[min(1, len(r.Shape)):] {
		n *= d
	}
	return n
}

// ReadRows reads the next rows rows (fewer at the end of the data) into a
// new slice; io.EOF when every row has been read. A stream that ends early
// is ErrFormat (truncated).
func (r *Reader) ReadRows(rows int) ([]float32, error) {
	if r.left == 0 {
		return nil, io.EOF
	}
	n := min(r.left, rows*r.RowElems())
	if n <= 0 {
		return nil, fmt.Errorf("npy: ReadRows(%d): want at least one row", rows)
	}
	if cap(r.buf) < n*r.size {
		r.buf = make([]byte, n*r.size)
	}
	buf := r.buf[:n*r.size]
	if _, err := io.ReadFull(r.r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("npy: %w: truncated: shape %v needs %d bytes of data, the stream ends before", ErrFormat, r.Shape, r.DataBytes())
		}
		return nil, fmt.Errorf("npy: reading data: %w", err)
	}
	r.left -= n
	data := make([]float32, n)
	r.decode(buf, data)
	return data, nil
}

// decode converts raw little-endian elements into data.
func (r *Reader) decode(raw []byte, data []float32) {
	for i := range data {
		if r.size == 4 {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		} else {
			data[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	}
}

// parseHeader parses the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
func parseHeader(h string) (descr string, fortran bool, shape []int, err error) {
	p := &parser{s: strings.TrimRight(h, " \n\x00")}
	if !p.eat("{") {
		return "", false, nil, errors.New("not a dict")
	}
	seen := map[string]bool{}
	for {
		if p.eat("}") {
			break
		}
		key, err := p.str()
		if err != nil {
			return "", false, nil, err
		}
		if seen[key] {
			return "", false, nil, fmt.Errorf("key %q twice", key)
		}
		seen[key] = true
		if !p.eat(":") {
			return "", false, nil, fmt.Errorf("missing ':' after %q", key)
		}
		switch key {
		case "descr":
			if descr, err = p.str(); err != nil {
				return "", false, nil, err
			}
		case "fortran_order":
			switch {
			case p.eat("True"):
				fortran = true
			case p.eat("False"):
			default:
				return "", false, nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if shape, err = p.tuple(); err != nil {
				return "", false, nil, err
			}
		default:
			return "", false, nil, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(",") {
			if !p.eat("}") {
				return "", false, nil, errors.New("expected ',' or '}'")
			}
			break
		}
	}
	if p.skip(); p.s != "" {
		return "", false, nil, errors.New("text after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return "", false, nil, fmt.Errorf("missing key %q", k)
		}
	}
	return descr, fortran, shape, nil
}

type parser struct{ s string }

func (p *parser) skip() { p.s = strings.TrimLeft(p.s, " \t\n") }

func (p *parser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.s, tok) {
		p.s = p.s[len(tok):]
		return true
	}
	return false
}

func (p *parser) str() (string, error) {
	p.skip()
	if p.s == "" || (p.s[0] != '\'' && p.s[0] != '"') {
		return "", errors.New("expected a string")
	}
	q := p.s[0]
	end := strings.IndexByte(p.s[1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[1 : 1+end]
	p.s = p.s[2+end:]
	return v, nil
}

func (p *parser) tuple() ([]int, error) {
	if !p.eat("(") {
		return nil, errors.New("shape is not a tuple")
	}
	var dims []int
	for {
		if p.eat(")") {
			return dims, nil
		}
		p.skip()
		i := 0
		for i < len(p.s) && p.s[i] >= '0' && p.s[i] <= '9' {
			i++
		}
		if i == 0 {
			return nil, errors.New("shape holds a non-number")
		}
		d, err := strconv.Atoi(p.s[:i])
		if err != nil || d > MaxElements {
			return nil, fmt.Errorf("dimension %q is too large", p.s[:i])
		}
		p.s = p.s[i:]
		p.eat("L") // Python 2 longs
		dims = append(dims, d)
		if !p.eat(",") {
			if !p.eat(")") {
				return nil, errors.New("expected ',' or ')' in shape")
			}
			return dims, nil
		}
	}
}

// Write writes data of the given shape as a version 1.0 .npy stream with
// dtype '<f4' in C order.
func Write(w io.Writer, shape []int, data []float32) error {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: write: negative dimension in shape %v", shape)
		}
		if d != 0 && n > MaxElements/d {
			return fmt.Errorf("npy: write: shape %v is too large", shape)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("npy: write: shape %v needs %d values, got %d", shape, n, len(data))
	}
	var dims strings.Builder
	for i, d := range shape {
		if i > 0 {
			dims.WriteString(", ")
		}
		dims.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		dims.WriteString(",")
	}
	h := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims.String())
	// Pad so that magic+version+len+header+'\n' is a multiple of 64.
	total := len(magic) + 2 + 2 + len(h) + 1
	pad := (64 - total%64) % 64
	h += strings.Repeat(" ", pad) + "\n"
	if len(h) > math.MaxUint16 {
		return fmt.Errorf("npy: write: header too long for format 1.0")
	}
	var buf bytes.Buffer
	buf.Grow(10 + len(h) + 4*len(data))
	buf.WriteString(magic)
	buf.Write([]byte{1, 0})
	binary.Write(&buf, binary.LittleEndian, uint16(len(h)))
	buf.WriteString(h)
	var b [4]byte
	for _, v := range data {
		binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
		buf.Write(b[:])
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("npy: write: %w", err)
	}
	return nil
}
