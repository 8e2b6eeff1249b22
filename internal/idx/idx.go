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

// ReadImages reads an IDX3 unsigned-byte file: n images of rows×cols
// pixels, returned row-major one image after another.
func ReadImages(path string) (n, rows, cols int, pixels []uint8, err error) {
	dims, data, err := read(path, 3)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	return dims[0], dims[1], dims[2], data, nil
}

// ReadLabels reads an IDX1 unsigned-byte file of labels.
func ReadLabels(path string) ([]uint8, error) {
	_, data, err := read(path, 1)
	return data, err
}

func read(path string, ndim int) ([]int, []uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	dims, data, err := decode(f, ndim)
	if err != nil {
		return nil, nil, fmt.Errorf("idx: %s: %w", path, err)
	}
	return dims, data, nil
}

// decode reads an IDX stream of ndim dimensions, gunzipping if needed.
func decode(r io.Reader, ndim int) ([]int, []uint8, error) {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if p, err := br.Peek(2); err == nil && p[0] == 0x1f && p[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		src = zr
	}
	var magic [4]byte
	if _, err := io.ReadFull(src, magic[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: reading magic: %w", ErrFormat, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, nil, fmt.Errorf("%w: magic % x does not start with two zero bytes", ErrFormat, magic)
	}
	if magic[2] != typeUByte {
		return nil, nil, fmt.Errorf("%w: element type %#02x, only unsigned byte (0x08) is supported", ErrFormat, magic[2])
	}
	if int(magic[3]) != ndim {
		return nil, nil, fmt.Errorf("%w: %d dimensions, want %d", ErrFormat, magic[3], ndim)
	}
	hdr := make([]byte, 4*ndim)
	if _, err := io.ReadFull(src, hdr); err != nil {
		return nil, nil, fmt.Errorf("%w: reading dimensions: %w", ErrFormat, err)
	}
	dims := make([]int, ndim)
	total := uint64(1)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4*i:])
		dims[i] = int(d)
		total *= uint64(d) // at most 3 factors below 2^32 each: check as we go
		if total > MaxElements {
			return nil, nil, fmt.Errorf("%w: dimensions %v claim more than %d elements", ErrFormat, dims[:i+1], uint64(MaxElements))
		}
	}
	// Read what is really there, at most one byte more than claimed.
	data, err := io.ReadAll(io.LimitReader(src, int64(total)+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading data: %w", err)
	}
	if uint64(len(data)) < total {
		return nil, nil, fmt.Errorf("%w: truncated: dimensions %v need %d bytes of data, file has %d", ErrFormat, dims, total, len(data))
	}
	if uint64(len(data)) > total {
		return nil, nil, fmt.Errorf("%w: trailing data after the %d bytes that dimensions %v need", ErrFormat, total, dims)
	}
	return dims, data, nil
}
