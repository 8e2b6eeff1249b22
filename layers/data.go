package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The data-movement layers on shaders/strided.comp (RecordStrided): Slice,
// Split, Pad; and Squeeze, Unsqueeze and Cast as copies. Their semantics
// are in package ops (def_data.go, def_pad.go); the layers only map output
// coordinates to input addresses.

func init() {
	Register(ops.OpSlice, buildSlice)
	Register(ops.OpSplit, buildSplit)
	Register(ops.OpPad, buildPad)
	Register(ops.OpCast, buildCast)
	Register(ops.OpSqueeze, buildCopy)
	Register(ops.OpUnsqueeze, buildCopy)
}

// hostParams are a node's inputs from index first on that a layer reads on
// the host: constants, read when the layer is built, or values a planner
// computes on the host, given to RecordHost. Input 0 is the runtime data.
type hostParams struct {
	n      node
	consts []*ops.Tensor // by node input; nil when absent or not constant
	rt     []int         // runtime input index by node input; -1: none
	nrt    int           // runtime inputs
	device int           // the one input the layer may read on the device (0: none)
}

func (n node) hostParams(first int) (hostParams, error) {
	h := hostParams{n: n, consts: make([]*ops.Tensor, len(n.Inputs)), rt: make([]int, len(n.Inputs))}
	if err := n.runtimeData(); err != nil {
		return h, err
	}
	h.rt[0], h.nrt = 0, 1
	for i := 1; i < len(n.Inputs); i++ {
		h.rt[i] = -1
		if n.input(i) == "" {
			continue
		}
		if i < first {
			return h, n.errorf("input %d must be absent", i)
		}
		if t := n.constant(i); t != nil {
			h.consts[i] = ops.F32(t.Shape, t.Data)
			continue
		}
		h.rt[i] = h.nrt
		h.nrt++
	}
	return h, nil
}

// values returns the node's inputs for package ops: input 0 carries only
// its shape, the others their values (constants or host values; nil when
// absent). An input computed on the device is ErrUnsupported.
func (h hostParams) values(shapes []Shape, host []*ops.Tensor) ([]*ops.Tensor, error) {
	if len(shapes) != h.nrt {
		return nil, fmt.Errorf("layers: %s %q takes %d runtime input(s), got %d", h.n.Op, h.n.Name, h.nrt, len(shapes))
	}
	in := make([]*ops.Tensor, len(h.consts))
	in[0] = &ops.Tensor{Shape: shapes[0]}
	for i := 1; i < len(in); i++ {
		switch {
		case h.consts[i] != nil:
			in[i] = h.consts[i]
		case h.rt[i] >= 0:
			if h.rt[i] >= len(host) || host[h.rt[i]] == nil {
				if i == h.device {
					continue // read on the device (onDevice)
				}
				return nil, h.n.errorf("input %d %q is computed on the device: %w (it must be a constant or computed from shapes)", i, h.n.input(i), ErrUnsupported)
			}
			in[i] = host[h.rt[i]]
		}
	}
	return in, nil
}

// onDevice returns the runtime buffer of node input i when its value is
// not known on the host, else nil.
func (h hostParams) onDevice(i int, in []*engine.Buffer, host []*ops.Tensor) *engine.Buffer {
	if i >= len(h.rt) || h.rt[i] < 0 || (h.rt[i] < len(host) && host[h.rt[i]] != nil) {
		return nil
	}
	return in[h.rt[i]]
}

// hostOp is what a layer whose parameters are inputs 1 and on, known on
// the host (constant, or computed from shapes when a plan is made), keeps:
// its device, its attributes and those parameter inputs. Slice, Split, Pad
// and the reductions are one.
type hostOp struct {
	d *engine.Device
	a ops.Attrs
	p hostParams
}

// newHostOp resolves mn's attributes and takes inputs 1 and on as host
// parameters.
func newHostOp(b *Build, mn *model.Node) (hostOp, error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return hostOp{}, err
	}
	p, err := n.hostParams(1)
	if err != nil {
		return hostOp{}, err
	}
	return hostOp{d: b.Dev, a: a, p: p}, nil
}

// slice is Slice: one strided gather, Base at the first element read and
// each stride the input's times the step (negative steps included).
type slice struct{ hostOp }

func buildSlice(b *Build, mn *model.Node) (Layer, error) {
	h, err := newHostOp(b, mn)
	if err != nil {
		return nil, err
	}
	return &slice{h}, nil
}

func (l *slice) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return l.RecordHost(r, in, shapes, nil, out)
}

func (l *slice) RecordHost(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, host []*ops.Tensor, out []*engine.Buffer) error {
	vals, err := l.p.values(shapes, host)
	if err != nil {
		return err
	}
	lo, step, cnt, err := ops.SliceWindow(l.a, shapes[0], vals)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	st := rowStrides(shapes[0])
	s := Strided{Dims: cnt, Lo: make([]int, len(cnt)), Stride: make([]int, len(cnt))}
	for k := range cnt {
		s.Base += lo[k] * st[k]
		s.Stride[k] = step[k] * st[k]
	}
	if err := RecordStrided(r, l.d, s, in[0], out[0]); err != nil {
		return fmt.Errorf("layers: Slice %q: %w", l.a.Node.Name, err)
	}
	return nil
}

func (l *slice) Close() {}

// split is Split: one strided gather per output, the input's strides with
// the base at the piece's start along the axis (a contiguous range copy
// when the axis is the outermost dimension that is not 1).
type split struct{ hostOp }

func buildSplit(b *Build, mn *model.Node) (Layer, error) {
	h, err := newHostOp(b, mn)
	if err != nil {
		return nil, err
	}
	return &split{h}, nil
}

func (l *split) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return l.RecordHost(r, in, shapes, nil, out)
}

func (l *split) RecordHost(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, host []*ops.Tensor, out []*engine.Buffer) error {
	vals, err := l.p.values(shapes, host)
	if err != nil {
		return err
	}
	var sizes *ops.Tensor
	if len(vals) > 1 {
		sizes = vals[1]
	}
	axis, pieces, err := ops.SplitSizes(l.a, shapes[0], sizes)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	if len(out) != len(pieces) {
		return fmt.Errorf("layers: Split %q: %d output buffers for %d pieces", l.a.Node.Name, len(out), len(pieces))
	}
	st := rowStrides(shapes[0])
	off := 0
	for i, size := range pieces {
		dims := append([]int{}, shapes[0]...)
		dims[axis] = size
		s := Strided{Dims: dims, Lo: make([]int, len(dims)), Stride: st, Base: off * st[axis]}
		if err := RecordStrided(r, l.d, s, in[0], out[i]); err != nil {
			return fmt.Errorf("layers: Split %q output %d: %w", l.a.Node.Name, i, err)
		}
		off += size
	}
	return nil
}

func (l *split) Close() {}

// padModes maps Pad's modes to the strided kernel's.
var padModes = map[string]StridedMode{
	ops.PadConstant: StridedConstant, ops.PadEdge: StridedEdge, ops.PadReflect: StridedReflect, ops.PadWrap: StridedWrap,
}

// pad is Pad: one strided gather whose source coordinate is the output's
// minus the leading pad, mapped by the mode where it falls outside.
type pad struct{ hostOp }

func buildPad(b *Build, mn *model.Node) (Layer, error) {
	h, err := newHostOp(b, mn)
	if err != nil {
		return nil, err
	}
	h.p.device = 2 // constant_value may be computed on the device
	return &pad{h}, nil
}

func (l *pad) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return l.RecordHost(r, in, shapes, nil, out)
}

func (l *pad) RecordHost(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, host []*ops.Tensor, out []*engine.Buffer) error {
	vals, err := l.p.values(shapes, host)
	if err != nil {
		return err
	}
	p, err := ops.PadWindow(l.a, shapes[0], vals)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	s := Strided{Dims: p.Out, In: shapes[0], Lo: make([]int, len(p.Out)), Stride: rowStrides(shapes[0]), Mode: padModes[p.Mode], Value: p.Value}
	if v := l.p.onDevice(2, in, host); v != nil {
		if n := shapes[l.p.rt[2]].Elems(); n != 1 {
			return fmt.Errorf("layers: Pad %q: constant_value has %d elements, want 1", l.a.Node.Name, n)
		}
		s.ValueAt = v
	}
	for k, b := range p.Begin {
		s.Lo[k] = -b
	}
	if err := RecordStrided(r, l.d, s, in[0], out[0]); err != nil {
		return fmt.Errorf("layers: Pad %q: %w", l.a.Node.Name, err)
	}
	return nil
}

func (l *pad) Close() {}

// cast is Cast to a float type: the device holds float32, so FLOAT and
// DOUBLE are a copy and FLOAT16 and BFLOAT16 a copy rounded to their
// precision (the values a cast there and back would give). Casts to
// integer or bool types run only on the host (shape arithmetic).
type cast struct {
	d     *engine.Device
	name  string
	round ops.FloatRound
}

func buildCast(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	r, ok := ops.CastFloatRound(a.Int("to"))
	if !ok {
		return nil, n.errorf("cast to element type %d on the device: %w (the device holds float32; only FLOAT, DOUBLE, FLOAT16 and BFLOAT16, or casts of values known on the host)", a.Int("to"), ErrUnsupported)
	}
	return &cast{d: b.Dev, name: n.Name, round: r}, nil
}

func (l *cast) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	if err := checkRuntime(ops.OpCast, l.name, shapes, 1); err != nil {
		return err
	}
	n := shapes[0].Elems()
	s := Strided{Dims: []int{n}, Lo: []int{0}, Stride: []int{1}, Round: l.round}
	if err := RecordStrided(r, l.d, s, in[0], out[0]); err != nil {
		return fmt.Errorf("layers: Cast %q: %w", l.name, err)
	}
	return nil
}

func (l *cast) Close() {}

// copyLayer is Squeeze or Unsqueeze where the planner cannot alias the
// buffers: a copy of input 0 (the output shape, whatever the axes, has the
// same elements in the same order). Axes, an attribute or input 1, are the
// planner's business (ops.Infer).
type copyLayer struct {
	d    *engine.Device
	name string
}

func buildCopy(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	if _, err := n.resolve(); err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	return &copyLayer{d: b.Dev, name: n.Name}, nil
}

func (l *copyLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	if len(in) == 0 {
		return fmt.Errorf("layers: %q has no runtime data input", l.name)
	}
	return RecordUnary(r, l.d, Unary{Op: ops.UnaryIdentity, N: shapes[0].Elems()}, in[0], out[0])
}

func (l *copyLayer) Close() {}
