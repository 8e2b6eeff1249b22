package npy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		shape []int
		data  []float32
	}{
		{nil, []float32{3.5}},
		{[]int{3}, []float32{1, -2, float32(math.Inf(1))}},
		{[]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}},
		{[]int{2, 0, 4}, []float32{}},
		{[]int{1, 1, 2, 2}, []float32{0.1, 0.2, 0.3, 0.4}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, c.shape, c.data); err != nil {
			t.Fatal(err)
		}
		hl := int(binary.LittleEndian.Uint16(buf.Bytes()[8:]))
		if (10+hl)%64 != 0 {
			t.Errorf("%v: data starts at %d, not 64-aligned", c.shape, 10+hl)
		}
		shape, data, err := Read(&buf)
		if err != nil {
			t.Fatalf("%v: %v", c.shape, err)
		}
		if !reflect.DeepEqual(shape, c.shape) || len(data) != len(c.data) {
			t.Fatalf("got %v %v, want %v %v", shape, data, c.shape, c.data)
		}
		for i := range data {
			if data[i] != c.data[i] {
				t.Fatalf("got %v, want %v", data, c.data)
			}
		}
	}
}

// file builds a .npy stream with a raw header and data.
func file(header string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write([]byte{1, 0})
	binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func TestReadF8AndVariants(t *testing.T) {
	var d bytes.Buffer
	for _, v := range []float64{1.5, -2, 1e-3} {
		binary.Write(&d, binary.LittleEndian, v)
	}
	shape, data, err := Read(bytes.NewReader(file(`{"descr": "<f8", "shape": (3L,), "fortran_order": False}`+"\n", d.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shape, []int{3}) || data[0] != 1.5 || data[1] != -2 || data[2] != float32(1e-3) {
		t.Errorf("got %v %v", shape, data)
	}
	// Format 2.0 has a 4-byte header length.
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n"
	var b bytes.Buffer
	b.WriteString(magic)
	b.Write([]byte{2, 0})
	binary.Write(&b, binary.LittleEndian, uint32(len(h)))
	b.WriteString(h)
	binary.Write(&b, binary.LittleEndian, float32(7))
	if _, data, err := Read(&b); err != nil || data[0] != 7 {
		t.Errorf("v2: %v %v", data, err)
	}
}

func TestReject(t *testing.T) {
	four := make([]byte, 4)
	cases := []struct {
		name string
		b    []byte
		msg  string
	}{
		{"empty", nil, "magic"},
		{"magic", []byte("PK\x03\x04 zip file....."), "bad magic"},
		{"version", append([]byte(magic), 9, 0, 0, 0), "version 9"},
		{"short header", append([]byte(magic), 1, 0, 100, 0, '{'), "header"},
		{"fortran", file("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", four), "fortran_order"},
		{"big endian", file("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", four), "dtype"},
		{"int", file("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", four), "dtype"},
		{"missing key", file("{'descr': '<f4', 'shape': (1,), }", four), "fortran_order"},
		{"unknown key", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", four), "unknown key"},
		{"duplicate key", file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", four), "twice"},
		{"negative dim", file("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", four), "non-number"},
		{"absurd dims", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576), }", four), "more than"},
		{"huge dim", file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", four), "too large"},
		{"truncated data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", four), "truncated"},
		{"trailing data", file("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", four), "trailing"},
		{"garbage", file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } junk", four), "after the dict"},
		{"not dict", file("['<f4']", four), "not a dict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Read(bytes.NewReader(c.b))
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
			if !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "npy: ") {
				t.Errorf("%q should mention %q", err, c.msg)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, []int{2, 2}, []float32{1, 2, 3}); err == nil {
		t.Error("length mismatch accepted")
	}
	if err := Write(&b, []int{-1}, nil); err == nil {
		t.Error("negative dim accepted")
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

// Small files whose header claims a huge array (or a huge header) fail
// without allocating what they claim.
func TestHugeClaims(t *testing.T) {
	v1 := func(header string, data []byte) []byte {
		h := header + strings.Repeat(" ", 63-(10+len(header))%64) + "\n"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
		return append(append(b, h...), data...)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"f4", v1("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296,), }", make([]byte, 16)), "truncated"},
		{"f8", v1("{'descr': '<f8', 'fortran_order': False, 'shape': (65536, 65536, 2), }", make([]byte, 16)), "truncated"},
		{"header", append([]byte("\x93NUMPY\x02\x00"), 0xff, 0xff, 0xff, 0xff), "header of"},
	} {
		var err error
		got := allocated(func() { _, _, err = Read(bytes.NewReader(c.b)) })
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.name, err)
		}
		if got > 1<<20 {
			t.Errorf("%s: a %d-byte file made Read allocate %d bytes", c.name, len(c.b), got)
		}
	}
}

// Reader reads the same data as Read, a few rows at a time, in f4 and f8;
// its sizes add up to the stream's, and a stream that ends early is
// ErrFormat from CheckSize and from ReadRows.
func TestReaderRows(t *testing.T) {
	data := make([]float32, 7*3*2)
	for i := range data {
		data[i] = float32(i) - 0.5
	}
	var f4 bytes.Buffer
	if err := Write(&f4, []int{7, 3, 2}, data); err != nil {
		t.Fatal(err)
	}
	var f8raw bytes.Buffer
	for _, v := range data {
		binary.Write(&f8raw, binary.LittleEndian, float64(v))
	}
	f8 := file("{'descr': '<f8', 'fortran_order': False, 'shape': (7, 3, 2), }\n", f8raw.Bytes())
	for name, stream := range map[string][]byte{"f4": f4.Bytes(), "f8": f8} {
		for _, rows := range []int{1, 3, 7, 100} {
			r, err := NewReader(bytes.NewReader(stream))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Shape, []int{7, 3, 2}) || r.RowElems() != 6 ||
				r.HeaderBytes()+r.DataBytes() != int64(len(stream)) || r.CheckSize(r.DataBytes()) != nil {
				t.Fatalf("%s: shape %v, row %d, header %d + data %d of %d", name, r.Shape, r.RowElems(), r.HeaderBytes(), r.DataBytes(), len(stream))
			}
			var got []float32
			for {
				part, err := r.ReadRows(rows)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("%s rows %d: %v", name, rows, err)
				}
				if len(part) > rows*6 || len(part)%6 != 0 {
					t.Fatalf("%s rows %d: a part of %d values", name, rows, len(part))
				}
				got = append(got, part...)
			}
			if !reflect.DeepEqual(got, data) {
				t.Fatalf("%s rows %d: got %v", name, rows, got)
			}
		}
		short := stream[:len(stream)-5]
		r, err := NewReader(bytes.NewReader(short))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.CheckSize(int64(len(short)) - r.HeaderBytes()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "truncated") {
			t.Errorf("%s: CheckSize of a short stream: %v", name, err)
		}
		if err := r.CheckSize(r.DataBytes() + 1); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "trailing") {
			t.Errorf("%s: CheckSize with a byte more: %v", name, err)
		}
		var rerr error
		for rerr == nil {
			_, rerr = r.ReadRows(3)
		}
		if !errors.Is(rerr, ErrFormat) || !strings.Contains(rerr.Error(), "truncated") {
			t.Errorf("%s: ReadRows of a short stream: %v", name, rerr)
		}
	}
	// A scalar is one row of one value.
	var sc bytes.Buffer
	Write(&sc, nil, []float32{2})
	r, err := NewReader(&sc)
	if err != nil || r.Shape != nil || r.RowElems() != 1 {
		t.Fatalf("scalar: %v %v", r, err)
	}
	if v, err := r.ReadRows(5); err != nil || len(v) != 1 || v[0] != 2 {
		t.Fatalf("scalar: %v %v", v, err)
	}
}
