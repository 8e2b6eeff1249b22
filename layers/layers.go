// Package layers is the GPU side of vkinfer's ops: each file registers, under
// the op's name in package ops, a Builder that uploads the node's weights,
// and a Layer that chooses pipelines for concrete shapes and records the
// dispatches. What an op means (attributes, output shapes, the reference)
// is defined once, in package ops; a layer is built only for a node that
// ops.Resolve accepted, and is given shapes ops.Infer computed. There is no
// central switch over op names.
//
// Concurrency: Register is meant for init functions. Lookup and Ops are safe
// for concurrent use. A Layer is built and recorded by one goroutine; once
// recorded, the programs it took part in may run concurrently.
package layers

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// ErrUnsupported is returned for ops, attributes or shapes no layer handles.
// It is ops.ErrUnsupported.
var ErrUnsupported = ops.ErrUnsupported

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
// chosen per shape at record time. Output shapes are not the layer's
// business: they come from the op's ops.Op.Infer.
type Layer interface {
	// Record records the computation of out from in for concrete shapes:
	// in and inShapes are the node's runtime inputs (those not constant),
	// in order; out are buffers of at least the output shapes' sizes.
	Record(r *engine.Recorder, in []*engine.Buffer, inShapes []Shape, out []*engine.Buffer) error
	// Close frees the layer's device memory. Safe to call twice.
	Close()
}

// HostLayer is a Layer that reads some inputs' values on the host when it
// is recorded (Slice's starts and ends, Pad's pads, Split's sizes): values
// that are not constants of the model but that a planner computes on the
// host when it makes a plan (shape arithmetic on a dynamic batch). The
// recorder calls RecordHost instead of Record, with host[i] the value of
// runtime input i when it is known on the host, else nil. Record alone
// works when those inputs are constants.
type HostLayer interface {
	Layer
	RecordHost(r *engine.Recorder, in []*engine.Buffer, inShapes []Shape, host []*ops.Tensor, out []*engine.Buffer) error
}

// VariantLayer is a Layer with several kernels for some input shapes (Conv:
// ConvVariants). When a plan is made, the caller asks which kernels can run
// the plan's shapes; where more than one can, it times each once on zeroed
// inputs (TrialVariant into a program of its own), records the fastest with
// RecordVariant, caches the choice under VariantKey, and then calls
// DropUnused so the layer frees the weights of kernels no recorded program
// uses. Record is RecordVariant with the static rule's kernel.
type VariantLayer interface {
	Layer
	// Variants returns the names of the kernels that can run these input
	// shapes, the static rule's choice first; fewer than two: nothing to
	// choose.
	Variants(shapes []Shape) []string
	// VariantKey names everything the choice depends on besides the device
	// and the candidates: the op, its input shapes and the attributes that
	// change the work (window, strides, pads, dilations, group, fused
	// activation, bias).
	VariantKey(shapes []Shape) string
	// RecordVariant records the layer with the named kernel ("", or one not
	// in Variants(shapes): the static rule's) and keeps that kernel's
	// weights for as long as the layer lives.
	RecordVariant(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer, variant string) error
	// TrialVariant records the named kernel for timing only: the program
	// must be closed before DropUnused.
	TrialVariant(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer, variant string) error
	// DropUnused frees the weights of the kernels never recorded by Record
	// or RecordVariant, where a kernel that was runs every input shape; such
	// kernels are no longer in Variants.
	DropUnused()
}

// ByImageLayer is a Layer that can tell whether recording it one image at
// a time (a batch of one per image, on views of its input and output: how
// a producer writes into its place in a Concat's output at batch > 1) costs
// about what recording the whole batch does. A layer that is not one is
// taken to (one dispatch per image instead of one: pools, activations).
type ByImageLayer interface {
	Layer
	// ByImage reports whether image-by-image recording costs about what
	// the batch does for input x (batch > 1).
	ByImage(x Shape) bool
}

// StridedLayer is a ByImageLayer that writes its output's images apart
// itself (one runtime input, constant weights): image n of its output at
// element n*stride of out (stride >= the output's per-image size), with
// the named kernel as RecordVariant takes it ("": the static rule's).
// Other layers are recorded one image at a time on views.
type StridedLayer interface {
	ByImageLayer
	RecordStrided(r *engine.Recorder, in []*engine.Buffer, inShapes []Shape, out *engine.Buffer, stride int, variant string) error
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

// Register makes an op runnable on the GPU. op must be defined in package
// ops (the same name); it panics otherwise or on a duplicate (programming
// errors).
func Register(op string, b Builder) {
	if ops.Lookup(op) == nil {
		panic("layers: op " + op + " has no definition in package ops")
	}
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
// uploadData uploads constant data into the Weights arena; own puts it in
// a device block of its own (engine.Device.NewBuffers), which is freed
// when the buffer is closed and which Compact leaves where it is: for
// weights a layer may drop after load (a Conv kernel variant that lost the
// measured choice), whose memory must then return to the device.
func uploadData(d *engine.Device, data []float32, own bool) (*engine.Buffer, error) {
	var buf *engine.Buffer
	var err error
	if own {
		var bufs []*engine.Buffer
		if bufs, err = d.NewBuffers(engine.Weights, []int64{int64(4 * max(len(data), 1))}); err == nil {
			buf = bufs[0]
		}
	} else {
		buf, err = d.NewBuffer(engine.Weights, int64(4*len(data)))
	}
	if err != nil {
		return nil, err
	}
	if err := buf.Write(data); err != nil {
		buf.Close()
		return nil, err
	}
	return buf, nil
}

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
