// Package ops defines every op vkinfer knows, once: its attributes (with
// defaults and checks), its output-shape inference and its pure-Go
// evaluation, the reference. Each op is an *Op registered under its ONNX
// name (Register, in the init of the file that defines it); there is no
// central switch over op names.
//
// Everything that needs an op's meaning asks this registry: model
// validation (Validate), the ONNX importer's shape inference and constant
// folding, the planner (shapes of a plan, shape subgraphs evaluated on the
// host), the CPU executor (Run: the CLI's --reference, the trainer's
// evaluation, every test's oracle) and the GPU layers in package layers,
// which register under the same names and take their shapes from here.
//
// No cgo, no device: the package builds with CGO_ENABLED=0.
//
// Concurrency: Register is for init functions. Lookup, Names, Resolve,
// Infer, Eval, Run and Validate are safe for concurrent use; they never
// modify their inputs.
package ops

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer/model"
)

// ErrUnsupported: an op, an attribute or a case of one that this build does
// not implement (the node is named in the error). vkinfer.ErrUnsupportedOp
// and layers.ErrUnsupported are this error.
var ErrUnsupported = errors.New("unsupported")

// ErrInvalid: a node breaks its op's rules (arity, attribute kinds or
// values, input shapes that do not fit). It is model.ErrInvalid, so a bad
// graph is one error whichever check found it.
var ErrInvalid = model.ErrInvalid

// Op is the definition of one op.
type Op struct {
	// Name is the ONNX op name (or, for vkinfer's own ops, a name no ONNX
	// op has: Dense, BiasAdd).
	Name string
	// MinInputs and MaxInputs bound the node's input count (optional
	// inputs may be named "" in between). MaxOutputs bounds the outputs;
	// at least one is required.
	MinInputs, MaxInputs, MaxOutputs int
	// Attrs are the attributes the op takes; any other is ErrUnsupported.
	Attrs []AttrDef
	// Check validates attribute values beyond their kinds (ranges,
	// combinations). Optional.
	Check func(a Attrs) error
	// Infer returns the output shapes for input shapes. A dimension of -1
	// is unknown and must give -1 (not an error) where the output depends
	// on it; ranks are always known. in[i].Const holds the input's value
	// when it is known on the host (constants, shape subgraphs), which ops
	// like Reshape need. Absent optional inputs are a zero Value with
	// Absent set. Infer returns one shape per output the node names.
	Infer func(a Attrs, in []Value) ([][]int, error)
	// Eval computes the outputs on the host: the reference. Absent optional
	// inputs are nil. Eval never modifies its inputs; outputs may share
	// data with an input only when they are equal to it (views).
	Eval func(a Attrs, in []*Tensor) ([]*Tensor, error)
	// View reports that output 0 is input 0's data unchanged under a new
	// shape (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout): a
	// planner may alias the buffers.
	View bool
	// ShapeOnly marks ops that read only their inputs' shapes, not their
	// data (Shape, Size): a planner evaluates them on the host as soon as
	// the shapes are known.
	ShapeOnly bool
}

// AttrDef describes one attribute of an op.
type AttrDef struct {
	Name string
	// Kind is the attribute's kind. An AttrFloat also accepts an int
	// (exporters write alpha=1 as an int), converted when read.
	Kind model.AttrKind
	// Default is used when the node does not have the attribute; a zero
	// Default (Kind 0) means the attribute has no default: Attrs.Has tells
	// whether it is there, and reading it absent gives the zero value.
	Default model.Attr
}

// Int, Float, Ints, Floats and String are AttrDef constructors with a
// default; the *Opt forms have none.
func Int(name string, def int64) AttrDef {
	return AttrDef{name, model.AttrInt, model.IntAttr(def)}
}

// Float declares a float attribute with a default.
func Float(name string, def float32) AttrDef {
	return AttrDef{name, model.AttrFloat, model.FloatAttr(def)}
}

// IntOpt declares an int attribute without a default.
func IntOpt(name string) AttrDef { return AttrDef{Name: name, Kind: model.AttrInt} }

// FloatOpt declares a float attribute without a default.
func FloatOpt(name string) AttrDef { return AttrDef{Name: name, Kind: model.AttrFloat} }

// IntsOpt declares an ints attribute without a default.
func IntsOpt(name string) AttrDef { return AttrDef{Name: name, Kind: model.AttrInts} }

// FloatsOpt declares a floats attribute without a default.
func FloatsOpt(name string) AttrDef { return AttrDef{Name: name, Kind: model.AttrFloats} }

// StringOpt declares a string attribute without a default.
func StringOpt(name string) AttrDef { return AttrDef{Name: name, Kind: model.AttrString} }

var (
	regMu    sync.RWMutex
	registry = map[string]*Op{}
)

// Register adds op to the registry. It panics on a duplicate or a
// definition without Name, Infer or Eval (programming errors).
func Register(op *Op) {
	if op.Name == "" || op.Infer == nil || op.Eval == nil || op.MaxOutputs < 1 || op.MinInputs > op.MaxInputs {
		panic(fmt.Sprintf("ops: incomplete definition of %q", op.Name))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[op.Name]; dup {
		panic("ops: op " + op.Name + " registered twice")
	}
	registry[op.Name] = op
}

// Lookup returns the op called name, or nil.
func Lookup(name string) *Op {
	regMu.RLock()
	defer regMu.RUnlock()
	return registry[name]
}

// Names lists the registered ops, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Attrs are a node's attributes resolved against its op: kinds checked,
// defaults filled in. Reading an attribute the op does not declare panics
// (a programming error in the op's definition).
type Attrs struct {
	Node *model.Node
	op   *Op
	vals map[string]model.Attr
}

func (a Attrs) get(name string, kind model.AttrKind) model.Attr {
	for _, d := range a.op.Attrs {
		if d.Name == name {
			if d.Kind != kind {
				panic(fmt.Sprintf("ops: %s reads attribute %s as %s, declared %s", a.op.Name, name, kind, d.Kind))
			}
			return a.vals[name]
		}
	}
	panic(fmt.Sprintf("ops: %s reads undeclared attribute %s", a.op.Name, name))
}

// Has reports whether the node gives the attribute or it has a default.
func (a Attrs) Has(name string) bool { _, ok := a.vals[name]; return ok }

// Int returns an int attribute.
func (a Attrs) Int(name string) int64 { return a.get(name, model.AttrInt).Int }

// Bool returns a 0/1 int attribute as a bool (Check it with CheckBool).
func (a Attrs) Bool(name string) bool { return a.Int(name) != 0 }

// Float returns a float attribute.
func (a Attrs) Float(name string) float32 { return a.get(name, model.AttrFloat).Float }

// Ints returns an ints attribute.
func (a Attrs) Ints(name string) []int64 { return a.get(name, model.AttrInts).Ints }

// Floats returns a floats attribute.
func (a Attrs) Floats(name string) []float32 { return a.get(name, model.AttrFloats).Floats }

// String returns a string attribute.
func (a Attrs) String(name string) string { return a.get(name, model.AttrString).String }

// Errorf returns an error naming the node: "ops: Op "name": ...". Wrap
// ErrUnsupported or ErrInvalid in it with %w; without either it wraps
// ErrInvalid.
func (a Attrs) Errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) {
		err = fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return fmt.Errorf("ops: %s %q: %w", a.Node.Op, a.Node.Name, err)
}

// CheckBool checks that the int attribute name is 0 or 1.
func (a Attrs) CheckBool(name string) error {
	if v := a.Int(name); v != 0 && v != 1 {
		return a.Errorf("attribute %s is %d, want 0 or 1", name, v)
	}
	return nil
}

// Resolve looks n's op up and checks the node against it: input and output
// counts, attribute names and kinds (unknown ones are ErrUnsupported: they
// may change the op's meaning), then the op's Check. An op that is not
// registered is ErrUnsupported.
func Resolve(n *model.Node) (*Op, Attrs, error) {
	op := Lookup(n.Op)
	if op == nil {
		return nil, Attrs{}, fmt.Errorf("ops: %s %q: op %w (this build knows %s)", n.Op, n.Name, ErrUnsupported, strings.Join(Names(), ", "))
	}
	a := Attrs{Node: n, op: op, vals: map[string]model.Attr{}}
	if len(n.Inputs) < op.MinInputs || len(n.Inputs) > op.MaxInputs {
		if op.MinInputs == op.MaxInputs {
			return nil, a, a.Errorf("takes %d input(s), the node has %d", op.MinInputs, len(n.Inputs))
		}
		return nil, a, a.Errorf("takes %d to %d inputs, the node has %d", op.MinInputs, op.MaxInputs, len(n.Inputs))
	}
	for i := 0; i < op.MinInputs; i++ {
		if n.Inputs[i] == "" {
			return nil, a, a.Errorf("input %d is required", i)
		}
	}
	if len(n.Outputs) < 1 || len(n.Outputs) > op.MaxOutputs {
		return nil, a, a.Errorf("makes at most %d output(s), the node names %d: %w", op.MaxOutputs, len(n.Outputs), ErrUnsupported)
	}
	var extra []string
	for k, v := range n.Attrs {
		var def *AttrDef
		for i := range op.Attrs {
			if op.Attrs[i].Name == k {
				def = &op.Attrs[i]
			}
		}
		if def == nil {
			extra = append(extra, k)
			continue
		}
		if v.Kind == model.AttrInt && def.Kind == model.AttrFloat {
			v = model.FloatAttr(float32(v.Int))
		}
		if v.Kind != def.Kind {
			return nil, a, a.Errorf("attribute %s must be %s, is %s", k, def.Kind, v.Kind)
		}
		if v.Kind == model.AttrFloat && math.IsNaN(float64(v.Float)) {
			return nil, a, a.Errorf("attribute %s is NaN", k)
		}
		a.vals[k] = v
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		var known []string
		for _, d := range op.Attrs {
			known = append(known, d.Name)
		}
		return nil, a, a.Errorf("attribute(s) %v: %w (%s takes %v)", extra, ErrUnsupported, op.Name, known)
	}
	for _, d := range op.Attrs {
		if _, ok := a.vals[d.Name]; !ok && d.Default.Kind != 0 {
			a.vals[d.Name] = d.Default
		}
	}
	if op.Check != nil {
		if err := op.Check(a); err != nil {
			return nil, a, err
		}
	}
	return op, a, nil
}

// Value is what shape inference knows of one input.
type Value struct {
	// Shape has -1 for unknown dimensions.
	Shape []int
	// Const is the input's value when known on the host, else nil.
	Const *Tensor
	// Absent marks an omitted optional input.
	Absent bool
}

// Infer resolves n and returns its output shapes for the input values, one
// per output the node names.
func Infer(n *model.Node, in []Value) ([][]int, error) {
	op, a, err := Resolve(n)
	if err != nil {
		return nil, err
	}
	out, err := op.Infer(a, in)
	if err != nil {
		return nil, err
	}
	if len(out) < len(n.Outputs) {
		return nil, a.Errorf("makes %d output(s), the node names %d: %w", len(out), len(n.Outputs), ErrUnsupported)
	}
	return out[:len(n.Outputs)], nil
}

// Eval resolves n and evaluates it on the host.
func Eval(n *model.Node, in []*Tensor) ([]*Tensor, error) {
	op, a, err := Resolve(n)
	if err != nil {
		return nil, err
	}
	out, err := op.Eval(a, in)
	if err != nil {
		return nil, err
	}
	if len(out) < len(n.Outputs) {
		return nil, a.Errorf("makes %d output(s), the node names %d: %w", len(out), len(n.Outputs), ErrUnsupported)
	}
	return out[:len(n.Outputs)], nil
}
