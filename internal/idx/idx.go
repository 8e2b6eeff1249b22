// Package idx reads IDX files, the format of the MNIST data set: a 4-byte
// magic (two zero bytes, an element type, the number of dimensions), the
// dimensions as big-endian uint32, then the elements. Files may be gzipped;
// gzip is detected by its magic 0x1f 0x8b, not by the file name.
//
// Only unsigned-byte (type 0x08) image (3-D) and label (1-D) files are read.
// Element counts a file claims are never allocated up front: data is read
// as it arrives and must match the claim exactly.
//
// Concurrency: the functions keep no state and may be called from many
// goroutines at once.
package idx

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrFormat means a file is not a valid IDX file of the expected kind.
var ErrFormat = errors.New("not a valid IDX file")

// MaxElements caps the element count an IDX file may claim (4 GiB).
const MaxElements = 1 << 32

const typeUByte = 0x08

// Reader reads the items of an IDX file (images of an IDX3 file, labels of
// an IDX1 file) a few at a time, so that a file's claimed size is never
// allocated up front: Open reads only the header; Next reads what is asked
// for, as it arrives. Close it when done.
type Reader struct {
	// Dims are the dimensions the header gives: Dims[0] items of the
	// product of the others bytes each.
	Dims []int

	f    *os.File
	zr   *gzip.Reader
	src  io.Reader
	item int // bytes per item
	read int // items read so far
	path string
}

// Open opens the IDX file at path, which must have ndim dimensions
// (3: images, 1: labels) of unsigned bytes, and reads its header.
func Open(path string, ndim int) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	r := &Reader{f: f, path: path}
	if err := r.header(f, ndim); err != nil {
		r.Close()
		return nil, fmt.Errorf("idx: %s: %w", path, err)
	}
	return r, nil
}

// Len returns the number of items the header claims (Dims[0]).
func (r *Reader) Len() int { return r.Dims[0] }

// Next reads the next k items (fewer at the end of the file: min(k,
// Len()-read)) and returns their bytes, item after item. It allocates only
// for data that is there: a file shorter than its header claims is an
// ErrFormat error naming where it ends. At the end it returns nil, io.EOF.
func (r *Reader) Next(k int) ([]byte, error) {
	left := r.Dims[0] - r.read
	if left == 0 {
		return nil, io.EOF
	}
	k = min(k, left)
	if k <= 0 {
		return nil, fmt.Errorf("idx: %s: Next(%d)", r.path, k)
	}
	want := int64(k) * int64(r.item)
	b, err := io.ReadAll(io.LimitReader(r.src, want))
	if err != nil {
		return nil, fmt.Errorf("idx: %s: reading data: %w", r.path, err)
	}
	if int64(len(b)) < want {
		return nil, fmt.Errorf("idx: %s: %w: truncated: dimensions %v need %d bytes of data, the file ends after %d",
			r.path, ErrFormat, r.Dims, int64(r.Dims[0])*int64(r.item), int64(r.read)*int64(r.item)+int64(len(b)))
	}
	r.read += k
	if r.read == r.Dims[0] {
		var one [1]byte
		if n, _ := io.ReadFull(r.src, one[:]); n > 0 {
			return nil, fmt.Errorf("idx: %s: %w: trailing data after the %d bytes that dimensions %v need",
				r.path, ErrFormat, int64(r.Dims[0])*int64(r.item), r.Dims)
		}
	}
	return b, nil
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.zr != nil {
		r.zr.Close()
	}
	return r.f.Close()
}

// header reads the magic and the dimensions, gunzipping if needed.
func (r *Reader) header(f io.Reader, ndim int) error {
	br := bufio.NewReader(f)
	r.src = br
	if p, err := br.Peek(2); err == nil && p[0] == 0x1f && p[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		r.zr, r.src = zr, zr
	}
	var magic [4]byte
	if _, err := io.ReadFull(r.src, magic[:]); err != nil {
		return fmt.Errorf("%w: reading magic: %w", ErrFormat, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return fmt.Errorf("%w: magic % x does not start with two zero bytes", ErrFormat, magic)
	}
	if magic[2] != typeUByte {
		return fmt.Errorf("%w: element type %#02x, only unsigned byte (0x08) is supported", ErrFormat, magic[2])
	}
	if int(magic[3]) != ndim {
		return fmt.Errorf("%w: %d dimensions, want %d", ErrFormat, magic[3], ndim)
	}
	hdr := make([]byte, 4*ndim)
	if _, err := io.ReadFull(r.src, hdr); err != nil {
		return fmt.Errorf("%w: reading dimensions: %w", ErrFormat, err)
	}
	r.Dims = make([]int, ndim)
	total := uint64(1)
	for i := range r.Dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		r.Dims[i] = int(d)
		total *= uint64(d) // at most 3 factors below 2^32 each: check as we go
		if total > MaxElements {
			return fmt.Errorf("%w: dimensions %v claim more than %d elements", ErrFormat, r.Dims[:i+1], uint64(MaxElements))
		}
	}
	r.item = 1
	for _, d := range r.Dims[1:] {
		r.item *= d
	}
	if r.item == 0 && r.Dims[0] > 0 {
		return fmt.Errorf("%w: dimensions %v make empty items", ErrFormat, r.Dims)
	}
	return nil
}

// ReadImages reads a whole IDX3 unsigned-byte file: n images of rows×cols
// pixels, returned row-major one image after another. To read a large
// file a batch at a time, use Open.
func ReadImages(path string) (n, rows, cols int, pixels []uint8, err error) {
	dims, data, err := read(path, 3)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return dims[0], dims[1], dims[2], data, nil
}

// ReadLabels reads a whole IDX1 unsigned-byte file of labels.
func ReadLabels(path string) ([]uint8, error) {
	_, data, err := read(path, 1)
	return data, err
}

func read(path string, ndim int) ([]int, []uint8, error) {
	r, err := Open(path, ndim)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	if r.Len() == 0 {
		var one [1]byte
		if n, _ := io.ReadFull(r.src, one[:]); n > 0 {
			return nil, nil, fmt.Errorf("idx: %s: %w: trailing data after dimensions %v", path, ErrFormat, r.Dims)
		}
		return r.Dims, []uint8{}, nil
	}
	data, err := r.Next(r.Len())
	if err != nil {
		return nil, nil, err
	}
	return r.Dims, data, nil
}
