package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/google/uuid"
)

// Sentinel errors of the mlp.bin codec; test for them with errors.Is.
var (
	// ErrNotModel means the bytes do not start with the mlp.bin magic.
	ErrNotModel = errors.New("not an mlp.bin file")
	// ErrVersion means the file needs a newer reader than this build.
	ErrVersion = errors.New("unsupported mlp.bin version")
	// ErrTruncated means the file ends before its declared size.
	ErrTruncated = errors.New("mlp.bin is truncated")
	// ErrChecksum means a CRC32-C does not match: the file is damaged.
	ErrChecksum = errors.New("checksum mismatch: file is damaged")
	// ErrCorrupt means the file is structurally wrong (counts, offsets,
	// shapes, names). A graph that fails Validate is also ErrCorrupt when
	// it comes from a file.
	ErrCorrupt = errors.New("corrupt mlp.bin")
	// ErrInvalid means a Model fails Validate.
	ErrInvalid = errors.New("invalid model")
)

// Format constants; see docs/FORMAT.md.
const (
	// Magic is the first 8 bytes of every mlp.bin file.
	Magic = "VKINFER\x00"
	// Version is the format version this build writes and the newest it reads.
	Version = 1
	// HeaderSize is the size of the fixed header in bytes.
	HeaderSize = 64
	// Alignment is the alignment, in bytes, of the data section and of
	// every tensor in it, relative to the start of the file.
	Alignment = 64
	// MaxMetadataSize caps the JSON metadata section.
	MaxMetadataSize = 64 << 20
	// DTypeF32 is the only tensor element type of version 1.
	DTypeF32 = "f32"
	// FeatureAnyShape is the "requires" entry of a file with an input that
	// declares no shape (ValueInfo.AnyShape, "any_shape": true): readers
	// that predate it would take such an input for a scalar, so they must
	// refuse the file.
	FeatureAnyShape = "any_shape_inputs"
)

// knownFeatures are the "requires" entries this build reads.
var knownFeatures = map[string]bool{FeatureAnyShape: true}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the fixed 64-byte header.
type header struct {
	version  uint32
	flags    uint32
	fileSize uint64
	metaOff  uint64
	metaLen  uint64
	dataOff  uint64
	dataLen  uint64
	reserved uint32
}

func (h *header) put(b []byte) {
	copy(b[0:8], Magic)
	le := binary.LittleEndian
	le.PutUint32(b[8:], h.version)
	le.PutUint32(b[12:], h.flags)
	le.PutUint64(b[16:], h.fileSize)
	le.PutUint64(b[24:], h.metaOff)
	le.PutUint64(b[32:], h.metaLen)
	le.PutUint64(b[40:], h.dataOff)
	le.PutUint64(b[48:], h.dataLen)
	le.PutUint32(b[56:], h.reserved)
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
}

// JSON shapes of the metadata section.
type metaJSON struct {
	Requires    []string     `json:"requires,omitempty"`
	Name        string       `json:"name"`
	Producer    string       `json:"producer"`
	ID          string       `json:"id"`
	Description string       `json:"description"`
	Inputs      []valueJSON  `json:"inputs"`
	Outputs     []valueJSON  `json:"outputs"`
	Nodes       []nodeJSON   `json:"nodes"`
	InputSpec   *inputJSON   `json:"input_spec,omitempty"`
	Labels      []string     `json:"labels,omitempty"`
	Tensors     []tensorJSON `json:"tensors"`
}

type valueJSON struct {
	Name     string `json:"name"`
	Shape    []int  `json:"shape"`
	AnyShape bool   `json:"any_shape,omitempty"`
}

type nodeJSON struct {
	Name    string              `json:"name"`
	Op      string              `json:"op"`
	Inputs  []string            `json:"inputs"`
	Outputs []string            `json:"outputs"`
	Attrs   map[string]attrJSON `json:"attrs,omitempty"`
}

type attrJSON struct {
	Type   string    `json:"type"`
	Int    *int64    `json:"int,omitempty"`
	Float  *float32  `json:"float,omitempty"`
	String *string   `json:"string,omitempty"`
	Ints   []int64   `json:"ints,omitempty"`
	Floats []float32 `json:"floats,omitempty"`
}

type inputJSON struct {
	Color  string    `json:"color"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Layout string    `json:"layout"`
	Scale  float32   `json:"scale"`
	Mean   []float32 `json:"mean,omitempty"`
	Std    []float32 `json:"std,omitempty"`
	Invert bool      `json:"invert,omitempty"`
}

type tensorJSON struct {
	Name   string `json:"name"`
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

func alignUp(n int) int { return (n + Alignment - 1) &^ (Alignment - 1) }

// Encode writes m to w in the mlp.bin format. It refuses a model that fails
// Validate, so whatever Encode writes, Decode reads back.
func (m *Model) Encode(w io.Writer) error {
	b, err := m.marshal()
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("model: write: %w", err)
	}
	return nil
}

// marshal returns the whole file as bytes.
func (m *Model) marshal() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("model: encode: %w", err)
	}
	if len(m.Defaults) > 0 {
		return nil, fmt.Errorf("model: encode: input %q has a default value, which mlp.bin version %d does not store", m.Defaults[0].Name, Version)
	}
	meta := metaJSON{
		Name:        m.Name,
		Producer:    m.Producer,
		ID:          m.ID.String(),
		Description: m.Description,
		Requires:    requires(m),
		Inputs:      valuesToJSON(m.Inputs),
		Outputs:     valuesToJSON(m.Outputs),
		Nodes:       make([]nodeJSON, 0, len(m.Nodes)),
		Labels:      m.Labels,
		Tensors:     make([]tensorJSON, 0, len(m.Initializers)),
	}
	for _, n := range m.Nodes {
		nj := nodeJSON{Name: n.Name, Op: n.Op, Inputs: nonNil(n.Inputs), Outputs: nonNil(n.Outputs)}
		if len(n.Attrs) > 0 {
			nj.Attrs = make(map[string]attrJSON, len(n.Attrs))
			for k, a := range n.Attrs {
				nj.Attrs[k] = attrToJSON(a)
			}
		}
		meta.Nodes = append(meta.Nodes, nj)
	}
	if s := m.Input; s != nil {
		meta.InputSpec = &inputJSON{
			Color: s.Color.String(), Width: s.Width, Height: s.Height, Layout: s.Layout,
			Scale: s.Scale, Mean: s.Mean, Std: s.Std, Invert: s.Invert,
		}
	}
	off := 0
	for _, t := range m.Initializers {
		n := 4 * len(t.Data)
		meta.Tensors = append(meta.Tensors, tensorJSON{
			Name: t.Name, DType: DTypeF32, Shape: nonNil(t.Shape), Offset: int64(off), Length: int64(n),
		})
		off = alignUp(off + n)
	}
	js, err := json.Marshal(&meta)
	if err != nil {
		return nil, fmt.Errorf("model: encode metadata: %w", err)
	}
	if len(js) > MaxMetadataSize {
		return nil, fmt.Errorf("model: encode: metadata is %d bytes, the limit is %d", len(js), MaxMetadataSize)
	}
	dataOff := alignUp(HeaderSize + len(js))
	dataLen := 0
	if k := len(meta.Tensors); k > 0 {
		last := meta.Tensors[k-1]
		dataLen = int(last.Offset + last.Length)
	}
	size := dataOff + dataLen + 4
	buf := make([]byte, size)
	h := header{
		version: Version, fileSize: uint64(size),
		metaOff: HeaderSize, metaLen: uint64(len(js)),
		dataOff: uint64(dataOff), dataLen: uint64(dataLen),
	}
	h.put(buf)
	copy(buf[HeaderSize:], js)
	for i, t := range m.Initializers {
		p := buf[dataOff+int(meta.Tensors[i].Offset):]
		for j, v := range t.Data {
			binary.LittleEndian.PutUint32(p[4*j:], math.Float32bits(v))
		}
	}
	binary.LittleEndian.PutUint32(buf[size-4:], crc32.Checksum(buf[:size-4], castagnoli))
	return buf, nil
}

// WriteFile encodes m into path, writing a temporary file in the same
// directory and renaming it over path, so readers never see half a file.
func (m *Model) WriteFile(path string) (err error) {
	b, err := m.marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("model: write %s: %w", path, err)
	}
	return nil
}

// Decode reads an mlp.bin of size bytes from r. size is the real size of
// the data r holds (a file's size from Stat); declared lengths in the file
// are checked against it before anything they claim is allocated.
func Decode(r io.Reader, size int64) (*Model, error) {
	if size < 0 {
		return nil, fmt.Errorf("model: decode: negative size %d", size)
	}
	// ReadAll grows its buffer as bytes arrive, so a wrong size never
	// allocates more than is really there.
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, fmt.Errorf("model: read: %w", err)
	}
	if int64(len(b)) < size {
		return nil, fmt.Errorf("model: %w: expected %d bytes, could read %d", ErrTruncated, size, len(b))
	}
	m, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return m, nil
}

// Read reads an mlp.bin from r until EOF.
func Read(r io.Reader) (*Model, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("model: read: %w", err)
	}
	m, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return m, nil
}

// ReadFile reads the mlp.bin at path.
func ReadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if !st.Mode().IsRegular() {
		if st.IsDir() {
			return nil, fmt.Errorf("model: %s: is a directory; give a model file in it (an .onnx or an mlp.bin such as examples/mnist/mlp.bin)", path)
		}
		return nil, fmt.Errorf("model: %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("model: read %s: %w", path, err)
	}
	m, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %w", path, err)
	}
	return m, nil
}

// parse decodes a whole file held in b. Errors carry no package prefix.
func parse(b []byte) (*Model, error) {
	le := binary.LittleEndian
	if len(b) < len(Magic) {
		if bytes.HasPrefix([]byte(Magic), b) {
			return nil, fmt.Errorf("%w: only %d bytes, the header needs %d", ErrTruncated, len(b), HeaderSize)
		}
		return nil, ErrNotModel
	}
	if string(b[:len(Magic)]) != Magic {
		return nil, fmt.Errorf("%w (magic %q, want %q)", ErrNotModel, b[:len(Magic)], Magic)
	}
	if len(b) < 12 {
		return nil, fmt.Errorf("%w: only %d bytes, the header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	var h header
	h.version = le.Uint32(b[8:])
	if h.version == 0 {
		return nil, fmt.Errorf("%w: version 0 does not exist", ErrCorrupt)
	}
	if h.version > Version {
		return nil, fmt.Errorf("%w: the file has format version %d, this build reads up to version %d: upgrade vkinfer", ErrVersion, h.version, Version)
	}
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: only %d bytes, the header needs %d", ErrTruncated, len(b), HeaderSize)
	}
	if got, want := crc32.Checksum(b[:60], castagnoli), le.Uint32(b[60:]); got != want {
		return nil, fmt.Errorf("%w: header CRC32-C is %08x, stored %08x", ErrChecksum, got, want)
	}
	h.flags = le.Uint32(b[12:])
	h.fileSize = le.Uint64(b[16:])
	h.metaOff = le.Uint64(b[24:])
	h.metaLen = le.Uint64(b[32:])
	h.dataOff = le.Uint64(b[40:])
	h.dataLen = le.Uint64(b[48:])
	h.reserved = le.Uint32(b[56:])
	real := uint64(len(b))
	if h.fileSize > real {
		return nil, fmt.Errorf("%w: header says %d bytes, only %d present", ErrTruncated, h.fileSize, real)
	}
	if h.fileSize < real {
		return nil, fmt.Errorf("%w: header says %d bytes, %d follow", ErrCorrupt, h.fileSize, real-h.fileSize)
	}
	if h.fileSize < HeaderSize+4 {
		return nil, fmt.Errorf("%w: file size %d is below the minimum %d", ErrCorrupt, h.fileSize, HeaderSize+4)
	}
	end := h.fileSize - 4
	if got, want := crc32.Checksum(b[:end], castagnoli), le.Uint32(b[end:]); got != want {
		return nil, fmt.Errorf("%w: CRC32-C is %08x, stored %08x", ErrChecksum, got, want)
	}
	if h.flags != 0 {
		return nil, fmt.Errorf("%w: unknown header flags %#x", ErrCorrupt, h.flags)
	}
	if h.reserved != 0 {
		return nil, fmt.Errorf("%w: reserved header field is %#x, want 0", ErrCorrupt, h.reserved)
	}
	// Sections: metadata then data, inside [HeaderSize, end).
	if h.metaLen > MaxMetadataSize {
		return nil, fmt.Errorf("%w: metadata length %d exceeds the limit %d", ErrCorrupt, h.metaLen, MaxMetadataSize)
	}
	if h.metaOff < HeaderSize || h.metaOff > end || h.metaLen > end-h.metaOff {
		return nil, fmt.Errorf("%w: metadata section [%d, +%d) is outside [%d, %d)", ErrCorrupt, h.metaOff, h.metaLen, HeaderSize, end)
	}
	if h.dataOff%Alignment != 0 {
		return nil, fmt.Errorf("%w: data offset %d is not a multiple of %d", ErrCorrupt, h.dataOff, Alignment)
	}
	if h.dataOff < h.metaOff+h.metaLen || h.dataOff > end || h.dataLen > end-h.dataOff {
		return nil, fmt.Errorf("%w: data section [%d, +%d) is outside [%d, %d)", ErrCorrupt, h.dataOff, h.dataLen, h.metaOff+h.metaLen, end)
	}
	var meta metaJSON
	if err := json.Unmarshal(b[h.metaOff:h.metaOff+h.metaLen], &meta); err != nil {
		return nil, fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	var unknown []string
	for _, f := range meta.Requires {
		if !knownFeatures[f] {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: the file requires features %q that this build does not know: upgrade vkinfer", ErrVersion, unknown)
	}
	m, err := meta.model()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := readTensors(m, meta.Tensors, b[h.dataOff:h.dataOff+h.dataLen]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return m, nil
}

// readTensors checks the tensor directory against the data section and
// only then allocates and fills each tensor.
func readTensors(m *Model, dir []tensorJSON, data []byte) error {
	type span struct {
		off, end int64
		name     string
	}
	spans := make([]span, 0, len(dir))
	seen := make(map[string]bool, len(dir))
	maxElems := len(data) / 4
	for i, t := range dir {
		if t.Name == "" {
			return fmt.Errorf("tensor %d has no name", i)
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if t.DType != DTypeF32 {
			return fmt.Errorf("tensor %q: dtype %q, version %d knows only %q", t.Name, t.DType, Version, DTypeF32)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fmt.Errorf("tensor %q: negative dimension %d in shape %v", t.Name, d, t.Shape)
			}
			if d == 0 {
				n = 0
			}
		}
		for _, d := range t.Shape {
			if n == 0 {
				break
			}
			if n > maxElems/d {
				return fmt.Errorf("tensor %q: shape %v holds more elements than the %d-byte data section", t.Name, t.Shape, len(data))
			}
			n *= d
		}
		if t.Length != int64(4*n) {
			return fmt.Errorf("tensor %q: length %d, shape %v needs %d bytes", t.Name, t.Length, t.Shape, 4*n)
		}
		if t.Offset < 0 || t.Offset%Alignment != 0 {
			return fmt.Errorf("tensor %q: offset %d is not a non-negative multiple of %d", t.Name, t.Offset, Alignment)
		}
		if t.Offset > int64(len(data)) || t.Length > int64(len(data))-t.Offset {
			return fmt.Errorf("tensor %q: bytes [%d, %d) are outside the %d-byte data section", t.Name, t.Offset, t.Offset+t.Length, len(data))
		}
		spans = append(spans, span{t.Offset, t.Offset + t.Length, t.Name})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].off < spans[j].off })
	for i := 1; i < len(spans); i++ {
		if spans[i].off < spans[i-1].end {
			return fmt.Errorf("tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	m.Initializers = make([]*Tensor, 0, len(dir))
	for _, t := range dir {
		n := int(t.Length / 4)
		p := data[t.Offset : t.Offset+t.Length]
		d := make([]float32, n)
		for j := range d {
			d[j] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*j:]))
		}
		m.Initializers = append(m.Initializers, &Tensor{Name: t.Name, Shape: nilIfEmpty(t.Shape), Data: nilIfEmpty(d)})
	}
	return nil
}

// model converts the metadata to a Model without tensors.
func (meta *metaJSON) model() (*Model, error) {
	id, err := uuid.Parse(meta.ID)
	if err != nil {
		return nil, fmt.Errorf("id %q: %v", meta.ID, err)
	}
	m := &Model{
		Name: meta.Name, Producer: meta.Producer, ID: id, Description: meta.Description,
		Inputs: valuesFromJSON(meta.Inputs), Outputs: valuesFromJSON(meta.Outputs),
		Labels: nilIfEmpty(meta.Labels),
	}
	if len(meta.Nodes) > 0 {
		m.Nodes = make([]Node, 0, len(meta.Nodes))
	}
	for i, nj := range meta.Nodes {
		n := Node{Name: nj.Name, Op: nj.Op, Inputs: nilIfEmpty(nj.Inputs), Outputs: nilIfEmpty(nj.Outputs)}
		if len(nj.Attrs) > 0 {
			n.Attrs = make(map[string]Attr, len(nj.Attrs))
			for k, aj := range nj.Attrs {
				a, err := aj.attr()
				if err != nil {
					return nil, fmt.Errorf("node %d (%q) attribute %q: %v", i, nj.Name, k, err)
				}
				n.Attrs[k] = a
			}
		}
		m.Nodes = append(m.Nodes, n)
	}
	if s := meta.InputSpec; s != nil {
		c, err := parseColor(s.Color)
		if err != nil {
			return nil, fmt.Errorf("input_spec: %v", err)
		}
		m.Input = &InputSpec{
			Color: c, Width: s.Width, Height: s.Height, Layout: s.Layout, Scale: s.Scale,
			Mean: nilIfEmpty(s.Mean), Std: nilIfEmpty(s.Std), Invert: s.Invert,
		}
	}
	return m, nil
}

func attrToJSON(a Attr) attrJSON {
	j := attrJSON{Type: a.Kind.String()}
	switch a.Kind {
	case AttrInt:
		v := a.Int
		j.Int = &v
	case AttrFloat:
		v := a.Float
		j.Float = &v
	case AttrString:
		v := a.String
		j.String = &v
	case AttrInts:
		j.Ints = a.Ints
	case AttrFloats:
		j.Floats = a.Floats
	}
	return j
}

func (j attrJSON) attr() (Attr, error) {
	switch j.Type {
	case "int":
		if j.Int == nil {
			return Attr{}, errors.New(`type "int" without an "int" value`)
		}
		return IntAttr(*j.Int), nil
	case "float":
		if j.Float == nil {
			return Attr{}, errors.New(`type "float" without a "float" value`)
		}
		return FloatAttr(*j.Float), nil
	case "string":
		if j.String == nil {
			return Attr{}, errors.New(`type "string" without a "string" value`)
		}
		return StringAttr(*j.String), nil
	case "ints":
		return Attr{Kind: AttrInts, Ints: nilIfEmpty(j.Ints)}, nil
	case "floats":
		return Attr{Kind: AttrFloats, Floats: nilIfEmpty(j.Floats)}, nil
	}
	return Attr{}, fmt.Errorf("unknown attribute type %q", j.Type)
}

// requires lists the features beyond version 1 that m's file needs.
func requires(m *Model) []string {
	for _, v := range m.Inputs {
		if v.AnyShape {
			return []string{FeatureAnyShape}
		}
	}
	return nil
}

func valuesToJSON(vs []ValueInfo) []valueJSON {
	out := make([]valueJSON, len(vs))
	for i, v := range vs {
		out[i] = valueJSON{Name: v.Name, Shape: nonNil(v.Shape), AnyShape: v.AnyShape}
	}
	return out
}

func valuesFromJSON(vs []valueJSON) []ValueInfo {
	if len(vs) == 0 {
		return nil
	}
	out := make([]ValueInfo, len(vs))
	for i, v := range vs {
		out[i] = ValueInfo{Name: v.Name, Shape: nilIfEmpty(v.Shape), AnyShape: v.AnyShape}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}
