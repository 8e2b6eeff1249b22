package idx

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func idxBytes(typ byte, dims []uint32, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(data)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func write(t *testing.T, name string, b []byte) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	px := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	raw := idxBytes(0x08, []uint32{2, 3, 2}, px)
	for _, c := range []struct {
		name string
		b    []byte
	}{{"images.idx", raw}, {"images.idx.gz", gz(raw)}, {"gzipped-without-suffix", gz(raw)}} {
		n, rows, cols, got, err := ReadImages(write(t, c.name, c.b))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n != 2 || rows != 3 || cols != 2 || !bytes.Equal(got, px) {
			t.Errorf("%s: got %d %d %d %v", c.name, n, rows, cols, got)
		}
	}
	lb := []byte{7, 2, 1, 0}
	got, err := ReadLabels(write(t, "labels.gz", gz(idxBytes(0x08, []uint32{4}, lb))))
	if err != nil || !reflect.DeepEqual(got, lb) {
		t.Errorf("labels: %v %v", got, err)
	}
}

func TestReject(t *testing.T) {
	cases := []struct {
		name   string
		b      []byte
		labels bool
		msg    string
	}{
		{"empty", nil, false, "magic"},
		{"bad magic", []byte{1, 2, 8, 3, 0, 0, 0, 0}, false, "two zero bytes"},
		{"float type", idxBytes(0x0d, []uint32{1, 1, 1}, []byte{0, 0, 0, 0}), false, "element type"},
		{"labels as images", idxBytes(0x08, []uint32{2}, []byte{1, 2}), false, "1 dimensions, want 3"},
		{"images as labels", idxBytes(0x08, []uint32{1, 1, 1}, []byte{1}), true, "3 dimensions, want 1"},
		{"short dims", []byte{0, 0, 8, 3, 0, 0, 0, 1}, false, "dimensions"},
		{"absurd dims", idxBytes(0x08, []uint32{1 << 31, 1 << 31, 1 << 31}, nil), false, "claim more than"},
		{"truncated", idxBytes(0x08, []uint32{2, 2, 2}, []byte{1, 2, 3}), false, "truncated"},
		{"truncated gz", gz(idxBytes(0x08, []uint32{100000, 28, 28}, []byte{1, 2, 3})), false, "truncated"},
		{"trailing", idxBytes(0x08, []uint32{1}, []byte{1, 2}), true, "trailing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, "f.idx", c.b)
			var err error
			if c.labels {
				_, err = ReadLabels(p)
			} else {
				_, _, _, _, err = ReadImages(p)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.Contains(err.Error(), "f.idx") || !strings.HasPrefix(err.Error(), "idx: ") {
				t.Errorf("%q should name the file and mention %q", err, c.msg)
			}
			if c.name != "empty" && c.name != "truncated gz" && !errors.Is(err, ErrFormat) {
				t.Errorf("%v is not ErrFormat", err)
			}
		})
	}
	if _, err := ReadLabels(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing file: %v", err)
	}
}

// allocated returns the bytes f allocates (runtime.MemStats.TotalAlloc).
func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// A small file whose header claims 5,000,000 images of 28×28 (3.9 GB) is
// opened by reading its header only; reading it fails at the truncation
// without allocating what the header claims, gzipped or not.
func TestHugeClaim(t *testing.T) {
	raw := idxBytes(0x08, []uint32{5_000_000, 28, 28}, make([]byte, 10*28*28))
	for _, c := range []struct {
		name string
		b    []byte
	}{{"raw", raw}, {"gzip", gz(raw)}} {
		path := write(t, c.name, c.b)
		var err error
		var r *Reader
		got := allocated(func() {
			r, err = Open(path, 3)
		})
		if err != nil || r.Len() != 5_000_000 || !reflect.DeepEqual(r.Dims, []int{5_000_000, 28, 28}) {
			t.Fatalf("%s: Open: %v %v", c.name, r, err)
		}
		if got > 1<<20 {
			t.Errorf("%s: Open allocated %d bytes", c.name, got)
		}
		b, err := r.Next(4)
		if err != nil || len(b) != 4*28*28 {
			t.Fatalf("%s: Next(4): %d bytes, %v", c.name, len(b), err)
		}
		got = allocated(func() { _, err = r.Next(256) })
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "truncated") || !strings.Contains(err.Error(), "ends after 7840") {
			t.Errorf("%s: Next past the data: %v", c.name, err)
		}
		if got > 4<<20 {
			t.Errorf("%s: Next past the data allocated %d bytes", c.name, got)
		}
		r.Close()
		got = allocated(func() { _, _, _, _, err = ReadImages(path) })
		if !errors.Is(err, ErrFormat) || got > 4<<20 {
			t.Errorf("%s: ReadImages: %v, %d bytes allocated", c.name, err, got)
		}
	}
	// Labels claiming 4 billion entries.
	path := write(t, "labels", gz(idxBytes(0x08, []uint32{4_000_000_000}, []byte{1, 2, 3})))
	var err error
	got := allocated(func() { _, err = ReadLabels(path) })
	if !errors.Is(err, ErrFormat) || got > 4<<20 {
		t.Errorf("labels: %v, %d bytes allocated", err, got)
	}
}

// Next reads an IDX file in batches to its end, then says io.EOF.
func TestNext(t *testing.T) {
	px := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	r, err := Open(write(t, "i.gz", gz(idxBytes(0x08, []uint32{5, 1, 2}, px))), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var all []byte
	for {
		b, err := r.Next(2)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if !bytes.Equal(all, px) {
		t.Errorf("read %v", all)
	}
	r2, err := Open(write(t, "t", idxBytes(0x08, []uint32{2, 1, 2}, []byte{1, 2, 3, 4, 5})), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if _, err := r2.Next(2); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing data: %v", err)
	}
}
