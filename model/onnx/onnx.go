// Package onnx imports ONNX models (.onnx files) into vkinfer's graph,
// model.Model. It is the only package that knows protobuf; the Go types of
// the ONNX schema are generated from the official onnx.proto (see
// internal/pb and `./build.sh onnx`).
//
// The import reads the graph, its initializers (of every float, integer and
// BOOL element type) and the opset of the default domain, then:
//
//   - sorts the nodes topologically (refusing only real cycles);
//   - makes initializers that are also graph inputs (IR >= 4) inputs with
//     a default value (model.Model.Defaults) a caller may override;
//   - normalises ops whose semantics moved between opsets, so the GPU ops
//     see one form (Softmax/LogSoftmax get an explicit "axis" and
//     "coerce_2d"; constant Clip bounds and Reshape's shape become
//     attributes; defaults of Flatten, Gemm, LeakyRelu, ... are written
//     out);
//   - turns Constant nodes into initializers and folds every node whose
//     inputs are all constant on the CPU with layers/ref (PyTorch's shape
//     subgraphs: Shape, Gather, Concat, Unsqueeze, Cast, ...);
//   - drops Identity and inference-time Dropout;
//   - maps Gemm with a constant weight and MatMul+Add of a constant bias to
//     the model op "Dense", so a following Relu fuses into one dispatch;
//   - makes a graph output that is a constant the output of Mul(value, 1)
//     (a graph input that is also an output stays as it is).
//
// Nothing a file claims is allocated before the data is there, values
// computed at load time are capped (MaxFoldElements each, MaxFoldTotal
// together), and every field read may be absent, empty or of another type
// in the file: that is an error naming the node and attribute, never a
// panic (FuzzDecode and the structure-aware FuzzModelStructure check it).
//
// Ops keep their ONNX names otherwise (ops of another domain are named
// "domain.Op"); the import succeeds for ops no layer implements, and
// loading the model on a device then fails with one error listing every
// such node. Errors start with "onnx: ", name the node or tensor, and wrap
// ErrFormat (the bytes are not an ONNX model), ErrMalformed (an ONNX model
// that breaks the format's rules) or ErrUnsupported (a feature this
// importer does not read: external data, STRING or complex tensors, ...).
//
// Concurrency: Decode, DecodeOptions, ReadFile and DecodeTensor share no
// state and are safe to call from several goroutines.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrFormat means the bytes are not an ONNX model (or tensor): they do
	// not parse as a ModelProto, or it has no graph. It plays the part of
	// model.ErrNotModel for .onnx files.
	ErrFormat = errors.New("not an ONNX model")
	// ErrMalformed means an ONNX model breaks the format's rules: sizes
	// that do not match, undefined or duplicate names, cycles, attributes
	// of the wrong type or without their value, values that cannot be
	// computed.
	ErrMalformed = errors.New("malformed ONNX model")
	// ErrUnsupported means the model uses a feature the importer does not
	// read. Ops without a GPU layer are not reported here but when the
	// model is loaded on a device.
	ErrUnsupported = errors.New("unsupported")
)

// ConstantError reports an input that the importer needs as a constant
// (Reshape's shape, Clip's bounds, ...) but that is computed at run time or
// is a graph input. Bind a graph input with Options.Constants. It wraps
// ErrUnsupported.
type ConstantError struct {
	Node  string // the node's name
	Op    string // its ONNX op type
	Input string // the value that must be constant
	What  string // what the input is ("shape", "min", ...)
}

func (e *ConstantError) Error() string {
	return fmt.Sprintf("onnx: node %q (%s): its %s %q is computed at run time: %v: it must be a constant "+
		"(an initializer, or computable from initializers at load time)", e.Node, e.Op, e.What, e.Input, ErrUnsupported)
}

// Unwrap returns ErrUnsupported.
func (e *ConstantError) Unwrap() error { return ErrUnsupported }

// Options tune DecodeOptions.
type Options struct {
	// Constants fixes graph inputs to values known at import time: each
	// named input leaves the model's inputs and is treated as an
	// initializer, so the nodes it feeds can be folded or normalised
	// (a Reshape whose shape is an input, Clip bounds given as inputs).
	Constants map[string]*Tensor
}

// MaxFileSize is the largest .onnx file ReadFile reads (protobuf's 2 GiB).
const MaxFileSize = 2<<30 - 1

// Decode imports a serialized ONNX ModelProto.
func Decode(data []byte) (*model.Model, error) {
	return DecodeOptions(data, Options{})
}

// DecodeOptions imports a serialized ONNX ModelProto with options.
func DecodeOptions(data []byte, opts Options) (*model.Model, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("onnx: %d bytes is over protobuf's 2 GiB limit: %w", len(data), ErrUnsupported)
	}
	if !Sniff(data) {
		return nil, fmt.Errorf("onnx: %w: the data does not start like a serialized ModelProto", ErrFormat)
	}
	var mp pb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("onnx: %w: it starts like one but does not parse (%v): a truncated or damaged copy? copy or export it again", ErrFormat, err)
	}
	if mp.GetGraph() == nil || mp.GetIrVersion() <= 0 {
		return nil, fmt.Errorf("onnx: %w: no graph or no IR version", ErrFormat)
	}
	m, err := importModel(&mp, len(data), opts)
	if err != nil {
		return nil, err
	}
	m.ID = uuid.NewSHA1(idSpace, data)
	return m, nil
}

// idSpace makes the model ID a function of the file's bytes, so importing
// the same file twice gives the same ID.
var idSpace = uuid.MustParse("5c0f6a4e-2d7b-4d43-9a55-6f6e6e782d69")

// ReadFile imports the ONNX model in the file at path. The model is named
// after the graph, or the file when the graph has no name. Errors read
// "onnx: PATH: ..." and wrap what Decode's do.
func ReadFile(path string) (*model.Model, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("onnx: %s: is a directory; give a model file in it (an .onnx or an mlp.bin such as examples/mnist/mlp.bin)", path)
		}
		return nil, fmt.Errorf("onnx: %s: not a regular file", path)
	}
	if fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("onnx: %s: %d bytes is over protobuf's 2 GiB limit: %w", path, fi.Size(), ErrUnsupported)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := Decode(data)
	if err != nil {
		return nil, &pathError{path, err}
	}
	if m.Name == "" {
		m.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return m, nil
}

// pathError puts the file name after the package prefix of err.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string {
	return "onnx: " + e.path + ": " + strings.TrimPrefix(e.err.Error(), "onnx: ")
}

func (e *pathError) Unwrap() error { return e.err }

// Sniff reports whether data may be a serialized ONNX ModelProto: it looks
// at the first field's tag only (a cheap test before decoding, like
// model.Magic for mlp.bin). A true answer still needs Decode to confirm.
func Sniff(data []byte) bool {
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 {
		return false
	}
	// ModelProto's fields: ir_version (1), model_version (5) are varints;
	// producer_name (2), producer_version (3), domain (4), doc_string (6),
	// graph (7), opset_import (8), metadata_props (14), training_info (20)
	// and functions (25) are length-delimited.
	switch num {
	case 1, 5:
		return typ == protowire.VarintType
	case 2, 3, 4, 6, 7, 8, 14, 20, 25:
		return typ == protowire.BytesType
	}
	return false
}
