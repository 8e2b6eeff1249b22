// Package layers holds vkinfer's ops: each file registers one op with its
// shape inference, pipeline setup and dispatch recording. A model graph is
// compiled by looking up each node's op here; there is no central switch.
//
// layers/ref holds the pure-Go reference of every op, the test oracle.
//
// Concurrency: Register is meant for init functions. Lookup and Ops are safe
// for concurrent use. A Layer is built and recorded by one goroutine; once
// recorded, the programs it took part in may run concurrently.
package layers

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

// ErrUnsupported is returned for ops, attributes or shapes no layer handles.
var ErrUnsupported = errors.New("unsupported")

// Shape is a tensor shape, row-major.
type Shape []int

// Elems is the number of elements.
func (s Shape) Elems() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Equal reports whether two shapes are equal.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Layer is one node compiled for a device: weights uploaded, pipelines
// chosen per shape at record time.
type Layer interface {
	// Infer returns the output shapes for the runtime input shapes.
	Infer(in []Shape) ([]Shape, error)
	// Record records the computation of out from in for concrete shapes.
	Record(r *engine.Recorder, in []*engine.Buffer, inShapes []Shape, out []*engine.Buffer) error
	// Close frees the layer's device memory. Safe to call twice.
	Close()
}

// Build is what a Builder gets to compile one node.
type Build struct {
	Dev *engine.Device
	// Const returns the constant (initializer) tensor of that name, or nil
	// when the input is computed at run time.
	Const func(name string) *model.Tensor
}

// Builder compiles a node of its op. It returns a Layer whose runtime inputs
// are the node's inputs that are not constants, in order.
type Builder func(b *Build, n *model.Node) (Layer, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Builder{}
)

// Register makes an op available. It panics on a duplicate (a programming
// error).
func Register(op string, b Builder) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[op]; dup {
		panic("layers: op " + op + " registered twice")
	}
	registry[op] = b
}

// Lookup returns the builder of op.
func Lookup(op string) (Builder, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	b, ok := registry[op]
	return b, ok
}

// Ops lists the registered ops, sorted.
func Ops() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	ops := make([]string, 0, len(registry))
	for op := range registry {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// upload copies a constant tensor into a new Weights buffer.
func upload(d *engine.Device, t *model.Tensor) (*engine.Buffer, error) {
	buf, err := d.NewBuffer(engine.Weights, int64(4*len(t.Data)))
	if err != nil {
		return nil, fmt.Errorf("layers: upload %s: %w", t.Name, err)
	}
	if err := buf.Write(t.Data); err != nil {
		buf.Close()
		return nil, fmt.Errorf("layers: upload %s: %w", t.Name, err)
	}
	return buf, nil
}

func oneInput(op string, in []Shape) error {
	if len(in) != 1 {
		return fmt.Errorf("layers: %s takes 1 runtime input, got %d", op, len(in))
	}
	return nil
}

func u32(v int) uint32 { return uint32(v) }
