// Package model owns the graph a neural network is (tensors, nodes, value
// shapes, how images become its input) and the mlp.bin codec that stores it.
//
// It is pure Go and needs no cgo, so converters and tools built on it compile
// with CGO_ENABLED=0. Nothing here touches a device.
//
// Concurrency: a *Model is a plain value. Reading it (Validate, Encode,
// Initializer, ParamCount, InputSpec.FromImage) from several goroutines at
// once is safe; mutating it while others read it is not. Decode and ReadFile
// return a fresh Model that shares nothing with other calls.
//
// The file format is specified in docs/FORMAT.md.
package model

import (
	"fmt"

	"github.com/google/uuid"
)

// Tensor is a named float32 tensor stored row-major (C order).
type Tensor struct {
	Name  string
	Shape []int
	Data  []float32
}

// Elements returns the product of t's dimensions (1 for a scalar), or -1 if
// a dimension is negative or the product overflows int.
func (t *Tensor) Elements() int {
	n, ok := elements(t.Shape)
	if !ok {
		return -1
	}
	return n
}

// AttrKind tells which field of an Attr holds its value.
type AttrKind int

// The kinds of attribute value.
const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
)

// String returns the name used for k in the file format ("int", "float", ...).
func (k AttrKind) String() string {
	switch k {
	case AttrInt:
		return "int"
	case AttrFloat:
		return "float"
	case AttrString:
		return "string"
	case AttrInts:
		return "ints"
	case AttrFloats:
		return "floats"
	}
	return "invalid"
}

// Attr is a node attribute: Kind says which one of the value fields is used.
type Attr struct {
	Kind   AttrKind
	Int    int64
	Float  float32
	String string
	Ints   []int64
	Floats []float32
}

// IntAttr returns an AttrInt attribute.
func IntAttr(v int64) Attr { return Attr{Kind: AttrInt, Int: v} }

// FloatAttr returns an AttrFloat attribute.
func FloatAttr(v float32) Attr { return Attr{Kind: AttrFloat, Float: v} }

// StringAttr returns an AttrString attribute.
func StringAttr(v string) Attr { return Attr{Kind: AttrString, String: v} }

// IntsAttr returns an AttrInts attribute.
func IntsAttr(v ...int64) Attr { return Attr{Kind: AttrInts, Ints: v} }

// FloatsAttr returns an AttrFloats attribute.
func FloatsAttr(v ...float32) Attr { return Attr{Kind: AttrFloats, Floats: v} }

// Node is one operation of the graph. Inputs and Outputs name values: graph
// inputs, initializers or outputs of earlier nodes.
type Node struct {
	Name    string
	Op      string
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// Attr returns the attribute called name and whether n has it.
func (n *Node) Attr(name string) (Attr, bool) {
	a, ok := n.Attrs[name]
	return a, ok
}

// ValueInfo names a graph input or output and gives its shape; a dimension
// of -1 is dynamic (typically the batch).
type ValueInfo struct {
	Name  string
	Shape []int
	// AnyShape: the graph declares no shape for this input, not even a
	// rank (an ONNX graph input whose type has no shape). It takes the
	// shape of the tensor given at run time; whether the graph can compute
	// with that shape is known when a plan is made for it. Shape is nil.
	// Outputs never set it (an output's nil Shape is simply unknown).
	AnyShape bool
}

// Takes reports whether the input takes a tensor of shape s: same rank, and
// each dimension equal to the declared one or the declared one is -1
// (every shape when AnyShape). A negative dimension of s is never taken.
func (v ValueInfo) Takes(s []int) bool {
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	if v.AnyShape {
		return true
	}
	if len(s) != len(v.Shape) {
		return false
	}
	for i, d := range v.Shape {
		if d >= 0 && d != s[i] {
			return false
		}
	}
	return true
}

// ShapeString writes the declared shape the way vkinfer shows every shape:
// "[-1 784]" (-1 is a dynamic dimension), or "any shape" for AnyShape.
func (v ValueInfo) ShapeString() string {
	if v.AnyShape {
		return "any shape"
	}
	return fmt.Sprint(v.Shape)
}

// Model is a whole network: its graph, weights and how to feed it.
type Model struct {
	Name        string
	Producer    string
	ID          uuid.UUID
	Description string

	Inputs  []ValueInfo
	Outputs []ValueInfo

	// Nodes are topologically ordered: a node only reads values produced
	// by the nodes before it, graph inputs and initializers.
	Nodes []Node
	// Initializers are the weights, referenced by name from node inputs.
	Initializers []*Tensor

	// Input says how to turn an image into Inputs[0]; nil if the model does
	// not take images.
	Input *InputSpec
	// Labels are the class names of the output, may be empty.
	Labels []string

	// Defaults are values of graph inputs that a caller may leave out
	// (ONNX initializers also listed as graph inputs, IR >= 4): each is
	// named after its input and has a shape the input takes. They are not
	// stored in mlp.bin (Encode refuses a model that has them).
	Defaults []*Tensor

	// Notes are what an importer changed while reading the model that a
	// user should know (for example DOUBLE or FLOAT16 weights converted to
	// float32), one sentence each. They are not stored in mlp.bin.
	Notes []string
}

// Initializer returns the initializer called name, or nil.
func (m *Model) Initializer(name string) *Tensor {
	for _, t := range m.Initializers {
		if t != nil && t.Name == name {
			return t
		}
	}
	return nil
}

// Default returns the default value of the input called name, or nil.
func (m *Model) Default(name string) *Tensor {
	for _, t := range m.Defaults {
		if t != nil && t.Name == name {
			return t
		}
	}
	return nil
}

// ParamCount returns the number of weights in all initializers.
func (m *Model) ParamCount() int64 {
	var n int64
	for _, t := range m.Initializers {
		if t != nil {
			n += int64(len(t.Data))
		}
	}
	return n
}

// elements returns the product of dims, false if a dim is negative or the
// product overflows int.
func elements(dims []int) (int, bool) {
	n := 1
	for _, d := range dims {
		if d < 0 {
			return 0, false
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > maxInt/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

const maxInt = int(^uint(0) >> 1)
