package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// sampleModel uses every feature of the format: all attribute kinds, an
// unknown op, a Dense without bias and with a fused activation, a scalar and
// an empty tensor, labels and an input spec.
func sampleModel() *Model {
	return &Model{
		Name:        "sample",
		Producer:    "model tests",
		ID:          uuid.MustParse("0f8fad5b-d9cb-469f-a165-70867728950e"),
		Description: "a small graph: dense → relu → dense(relu) → softmax, plus a custom op",
		Inputs:      []ValueInfo{{Name: "x", Shape: []int{-1, 4}}},
		Outputs:     []ValueInfo{{Name: "probs", Shape: []int{-1, 2}}, {Name: "extra"}},
		Nodes: []Node{
			{Name: "fc1", Op: "Dense", Inputs: []string{"x", "w1", "b1"}, Outputs: []string{"h1"}},
			{Name: "relu1", Op: "Relu", Inputs: []string{"h1"}, Outputs: []string{"a1"}},
			{Name: "fc2", Op: "Dense", Inputs: []string{"a1", "w2"}, Outputs: []string{"h2"},
				Attrs: map[string]Attr{"activation": StringAttr("relu")}},
			{Name: "softmax", Op: "Softmax", Inputs: []string{"h2"}, Outputs: []string{"probs"},
				Attrs: map[string]Attr{"axis": IntAttr(-1)}},
			{Name: "custom", Op: "FutureOp", Inputs: []string{"probs", "s", "empty"}, Outputs: []string{"extra"},
				Attrs: map[string]Attr{
					"i":  IntAttr(-7),
					"f":  FloatAttr(0.1),
					"s":  StringAttr("héllo"),
					"is": IntsAttr(1, 2, 1<<40),
					"fs": FloatsAttr(1.5, -2.25, math.MaxFloat32),
				}},
		},
		Initializers: []*Tensor{
			{Name: "w1", Shape: []int{3, 4}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
			{Name: "b1", Shape: []int{3}, Data: []float32{-1, 0, 1}},
			{Name: "w2", Shape: []int{2, 3}, Data: []float32{0.5, -0.5, 0.25, float32(math.Inf(1)), float32(math.NaN()), -0}},
			{Name: "s", Data: []float32{42}},
			{Name: "empty", Shape: []int{0, 5}},
			{Name: "empty2", Shape: []int{1 << 40, 0}},
		},
		Input:  &InputSpec{Color: Gray, Width: 2, Height: 2, Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float32{0.5}, Std: []float32{0.25}, Invert: true},
		Labels: []string{"cat", "dog"},
	}
}

func encode(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

func decode(b []byte) (*Model, error) { return Decode(bytes.NewReader(b), int64(len(b))) }

// equalModels compares models, tensor data bit for bit (NaN included).
func equalModels(a, b *Model) bool {
	if len(a.Initializers) != len(b.Initializers) {
		return false
	}
	for i := range a.Initializers {
		x, y := a.Initializers[i], b.Initializers[i]
		if x.Name != y.Name || !reflect.DeepEqual(x.Shape, y.Shape) || len(x.Data) != len(y.Data) {
			return false
		}
		for j := range x.Data {
			if math.Float32bits(x.Data[j]) != math.Float32bits(y.Data[j]) {
				return false
			}
		}
	}
	ac, bc := *a, *b
	ac.Initializers, bc.Initializers = nil, nil
	return reflect.DeepEqual(ac, bc)
}

func TestRoundTrip(t *testing.T) {
	m := sampleModel()
	b := encode(t, m)
	got, err := decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !equalModels(m, got) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, m)
	}
	got2, err := Read(bytes.NewReader(b))
	if err != nil || !equalModels(m, got2) {
		t.Fatalf("Read: %v (equal %v)", err, err == nil && equalModels(m, got2))
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got3, err := ReadFile(path)
	if err != nil || !equalModels(m, got3) {
		t.Fatalf("ReadFile: %v", err)
	}
	if n := m.ParamCount(); n != 12+3+6+1 {
		t.Errorf("ParamCount = %d", n)
	}
	if m.Initializer("b1") != m.Initializers[1] || m.Initializer("nope") != nil {
		t.Error("Initializer lookup")
	}
	// Encoding is deterministic.
	if !bytes.Equal(b, encode(t, got)) {
		t.Error("re-encoding a decoded model changed the bytes")
	}
}

func TestLayout(t *testing.T) {
	b := encode(t, sampleModel())
	h := readHeader(b)
	if string(b[:8]) != Magic || h.version != Version || h.fileSize != uint64(len(b)) {
		t.Fatalf("header %+v", h)
	}
	if h.dataOff%Alignment != 0 {
		t.Errorf("data offset %d not aligned", h.dataOff)
	}
	var meta metaJSON
	if err := json.Unmarshal(b[h.metaOff:h.metaOff+h.metaLen], &meta); err != nil {
		t.Fatal(err)
	}
	for _, tj := range meta.Tensors {
		if (h.dataOff+uint64(tj.Offset))%Alignment != 0 {
			t.Errorf("tensor %q at file offset %d is not 64-byte aligned", tj.Name, h.dataOff+uint64(tj.Offset))
		}
	}
}

func TestTruncated(t *testing.T) {
	b := encode(t, sampleModel())
	for cut := 0; cut < len(b); cut++ {
		_, err := decode(b[:cut])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: got %v, want ErrTruncated", cut, len(b), err)
		}
	}
	// A reader shorter than the size it is said to have.
	if _, err := Decode(bytes.NewReader(b[:100]), int64(len(b))); !errors.Is(err, ErrTruncated) {
		t.Errorf("short reader: %v", err)
	}
	if _, err := Read(bytes.NewReader(b[:len(b)-1])); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Read truncated: %v", err)
	}
}

func TestFlippedByte(t *testing.T) {
	b := encode(t, sampleModel())
	for i := 0; i < len(b); i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x10
		_, err := decode(c)
		var want error
		switch {
		case i < 8:
			want = ErrNotModel
		case i < 12:
			want = ErrVersion // 0x10 more in any version byte is a newer version
		default:
			want = ErrChecksum
		}
		if !errors.Is(err, want) {
			t.Fatalf("byte %d flipped: got %v, want %v", i, err, want)
		}
	}
	c := bytes.Clone(b)
	c[len(c)/2] ^= 1
	if _, err := decode(c); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("message should say the file is damaged: %v", err)
	}
}

func TestMagicAndVersion(t *testing.T) {
	b := encode(t, sampleModel())
	if _, err := decode([]byte("GIF89a and then some more bytes to be long enough for a header......")); !errors.Is(err, ErrNotModel) {
		t.Errorf("gif: %v", err)
	}
	if _, err := decode([]byte("xy")); !errors.Is(err, ErrNotModel) {
		t.Errorf("short junk: %v", err)
	}
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint32(c[8:], 2)
	fixChecksums(c)
	_, err := decode(c)
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
	for _, s := range []string{"version 2", "version 1", "upgrade vkinfer"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not mention %q", err, s)
		}
	}
	binary.LittleEndian.PutUint32(c[8:], 0)
	fixChecksums(c)
	if _, err := decode(c); !errors.Is(err, ErrCorrupt) {
		t.Errorf("version 0: %v", err)
	}
}

func readHeader(b []byte) header {
	le := binary.LittleEndian
	return header{
		version: le.Uint32(b[8:]), flags: le.Uint32(b[12:]), fileSize: le.Uint64(b[16:]),
		metaOff: le.Uint64(b[24:]), metaLen: le.Uint64(b[32:]),
		dataOff: le.Uint64(b[40:]), dataLen: le.Uint64(b[48:]), reserved: le.Uint32(b[56:]),
	}
}

// fixChecksums recomputes both CRCs of b in place, so tests and the fuzzer
// can reach the checks behind them.
func fixChecksums(b []byte) {
	if len(b) < HeaderSize+4 {
		return
	}
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	n := len(b) - 4
	binary.LittleEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
}

// assemble builds a file around raw metadata and data with correct sizes
// and checksums; edit may change the header before the CRCs are computed.
func assemble(meta, data []byte, edit func(*header)) []byte {
	dataOff := alignUp(HeaderSize + len(meta))
	size := dataOff + len(data) + 4
	h := header{version: Version, fileSize: uint64(size), metaOff: HeaderSize, metaLen: uint64(len(meta)),
		dataOff: uint64(dataOff), dataLen: uint64(len(data))}
	if edit != nil {
		edit(&h)
	}
	b := make([]byte, size)
	h.put(b)
	copy(b[HeaderSize:], meta)
	copy(b[dataOff:], data)
	fixChecksums(b)
	return b
}

// sampleMeta returns the metadata and data of the sample model.
func sampleMeta(t *testing.T) (metaJSON, []byte) {
	b := encode(t, sampleModel())
	h := readHeader(b)
	var meta metaJSON
	if err := json.Unmarshal(b[h.metaOff:h.metaOff+h.metaLen], &meta); err != nil {
		t.Fatal(err)
	}
	return meta, b[h.dataOff : h.dataOff+h.dataLen]
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRejectsCorrupt(t *testing.T) {
	tensor := func(m *metaJSON, name string) *tensorJSON {
		for i := range m.Tensors {
			if m.Tensors[i].Name == name {
				return &m.Tensors[i]
			}
		}
		t.Fatalf("no tensor %q", name)
		return nil
	}
	cases := []struct {
		name  string
		meta  func(*metaJSON)
		raw   []byte // metadata bytes instead of meta
		hdr   func(*header)
		extra int // bytes appended to the data section
		want  error
		msg   string
	}{
		{name: "overlap", meta: func(m *metaJSON) { tensor(m, "b1").Offset = tensor(m, "w1").Offset }, want: ErrCorrupt, msg: "overlap"},
		{name: "misaligned", meta: func(m *metaJSON) { tensor(m, "b1").Offset += 4 }, want: ErrCorrupt, msg: "multiple of 64"},
		{name: "negative offset", meta: func(m *metaJSON) { tensor(m, "b1").Offset = -64 }, want: ErrCorrupt, msg: "offset"},
		{name: "past data", meta: func(m *metaJSON) { tensor(m, "b1").Offset = 1 << 20 }, want: ErrCorrupt, msg: "outside"},
		{name: "absurd dims", meta: func(m *metaJSON) { tensor(m, "w1").Shape = []int{1 << 40, 1 << 40} }, want: ErrCorrupt, msg: "more elements"},
		{name: "huge dims", meta: func(m *metaJSON) { tensor(m, "w1").Shape = []int{1 << 62, 1 << 62, 4} }, want: ErrCorrupt, msg: "more elements"},
		{name: "negative dim", meta: func(m *metaJSON) { tensor(m, "w1").Shape = []int{-3, -4} }, want: ErrCorrupt, msg: "negative"},
		{name: "length mismatch", meta: func(m *metaJSON) { tensor(m, "w1").Length = 44 }, want: ErrCorrupt, msg: "length 44"},
		{name: "duplicate tensor", meta: func(m *metaJSON) { tensor(m, "b1").Name = "w1" }, want: ErrCorrupt, msg: "twice"},
		{name: "unnamed tensor", meta: func(m *metaJSON) { tensor(m, "b1").Name = "" }, want: ErrCorrupt, msg: "no name"},
		{name: "dtype", meta: func(m *metaJSON) { tensor(m, "b1").DType = "f16" }, want: ErrCorrupt, msg: "dtype"},
		{name: "requires", meta: func(m *metaJSON) { m.Requires = []string{"sparse-weights"} }, want: ErrVersion, msg: "upgrade vkinfer"},
		{name: "bad uuid", meta: func(m *metaJSON) { m.ID = "not-a-uuid" }, want: ErrCorrupt, msg: "id"},
		{name: "attr type", meta: func(m *metaJSON) { m.Nodes[3].Attrs["axis"] = attrJSON{Type: "tensor"} }, want: ErrCorrupt, msg: "tensor"},
		{name: "attr value missing", meta: func(m *metaJSON) { m.Nodes[3].Attrs["axis"] = attrJSON{Type: "int"} }, want: ErrCorrupt, msg: "axis"},
		{name: "color", meta: func(m *metaJSON) { m.InputSpec.Color = "cmyk" }, want: ErrCorrupt, msg: "cmyk"},
		{name: "undefined input", meta: func(m *metaJSON) { m.Nodes[1].Inputs = []string{"ghost"} }, want: ErrInvalid, msg: "ghost"},
		{name: "bad json", raw: []byte(`{"name": `), want: ErrCorrupt, msg: "metadata"},
		{name: "json wrong type", raw: []byte(`{"tensors": 5}`), want: ErrCorrupt, msg: "metadata"},
		{name: "flags", hdr: func(h *header) { h.flags = 1 }, want: ErrCorrupt, msg: "flags"},
		{name: "reserved", hdr: func(h *header) { h.reserved = 9 }, want: ErrCorrupt, msg: "reserved"},
		{name: "meta too big", hdr: func(h *header) { h.metaLen = MaxMetadataSize + 1 }, want: ErrCorrupt, msg: "limit"},
		{name: "meta out of file", hdr: func(h *header) { h.metaLen = 1 << 40 }, want: ErrCorrupt, msg: "metadata"},
		{name: "meta in header", hdr: func(h *header) { h.metaOff = 8 }, want: ErrCorrupt, msg: "metadata section"},
		{name: "data offset misaligned", hdr: func(h *header) { h.dataOff += 8 }, want: ErrCorrupt, msg: "data offset"},
		{name: "data overflows", hdr: func(h *header) { h.dataLen = math.MaxUint64 }, want: ErrCorrupt, msg: "data section"},
		{name: "data over meta", hdr: func(h *header) { h.dataOff = 64 }, want: ErrCorrupt, msg: "data section"},
		{name: "size too small", hdr: func(h *header) { h.fileSize = 10 }, want: ErrCorrupt, msg: "follow"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			meta, data := sampleMeta(t)
			raw := c.raw
			if raw == nil {
				if c.meta != nil {
					c.meta(&meta)
				}
				raw = mustJSON(t, meta)
			}
			b := assemble(raw, append(bytes.Clone(data), make([]byte, c.extra)...), c.hdr)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := decode(b)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%q does not mention %q", err, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "model: ") {
				t.Errorf("%q lacks the package prefix", err)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("rejecting allocated %d bytes", grew)
			}
		})
	}
}

func TestTrailingBytes(t *testing.T) {
	b := append(encode(t, sampleModel()), 0)
	if _, err := decode(b); !errors.Is(err, ErrCorrupt) {
		t.Errorf("trailing byte: %v", err)
	}
}

func TestEncodeRejectsInvalid(t *testing.T) {
	m := sampleModel()
	m.Nodes[0].Inputs[0] = "nowhere"
	var buf bytes.Buffer
	if err := m.Encode(&buf); !errors.Is(err, ErrInvalid) || buf.Len() != 0 {
		t.Errorf("Encode of an invalid model: %v, wrote %d bytes", err, buf.Len())
	}
	if err := m.WriteFile(filepath.Join(t.TempDir(), "x.bin")); !errors.Is(err, ErrInvalid) {
		t.Errorf("WriteFile: %v", err)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(filepath.Join(dir, "missing.bin")); err == nil || !strings.Contains(err.Error(), "missing.bin") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadFile(dir); err == nil {
		t.Error("a directory was accepted")
	}
	p := filepath.Join(dir, "cut.bin")
	b := encode(t, sampleModel())
	m := sampleModel()
	if err := m.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	if err := writeBytes(p, b[:len(b)/2]); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "cut.bin") {
		t.Errorf("truncated file: %v", err)
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

// Small files (or readers) that claim huge sizes fail without allocating
// what they claim: the size given to Decode, the header's file and section
// sizes, a tensor's shape and length.
func TestHugeClaims(t *testing.T) {
	meta := []byte(`{"id":"00000000-0000-0000-0000-000000000000","tensors":[{"name":"t","dtype":"f32","shape":[1048576,1048576],"offset":0,"length":4398046511104}]}`)
	small := encode(t, sampleModel())
	files := map[string][]byte{
		"tensor":   assemble(meta, make([]byte, 64), nil),
		"fileSize": assemble([]byte(`{}`), nil, func(h *header) { h.fileSize = 1 << 62 }),
		"metaLen":  assemble([]byte(`{}`), nil, func(h *header) { h.metaLen = 1 << 40 }),
		"dataLen":  assemble([]byte(`{}`), nil, func(h *header) { h.dataLen = 1 << 40 }),
	}
	for name, b := range files {
		var err error
		got := allocated(func() { _, err = decode(b) })
		if err == nil || got > 1<<20 {
			t.Errorf("%s: %v, %d bytes allocated", name, err, got)
		}
		path := filepath.Join(t.TempDir(), "m.bin")
		if err := writeBytes(path, b); err != nil {
			t.Fatal(err)
		}
		got = allocated(func() { _, err = ReadFile(path) })
		if err == nil || got > 1<<20 {
			t.Errorf("%s: ReadFile: %v, %d bytes allocated", name, err, got)
		}
	}
	var err error
	got := allocated(func() { _, err = Decode(bytes.NewReader(small), 1<<40) })
	if !errors.Is(err, ErrTruncated) || got > 1<<20 {
		t.Errorf("Decode of %d bytes claimed as 2^40: %v, %d bytes allocated", len(small), err, got)
	}
}
