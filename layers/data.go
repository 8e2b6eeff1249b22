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
}

// hostParams are a node's inputs from index first on that a layer reads on
// the host: constants, read when the layer is built, or values a planner
// computes on the host, given to RecordHost. Input 0 is the runtime data.
type hostParams struct {
	n      node
	consts []*ops.Tensor // by node input; nil when absent or not constant
	rt     []int         // runtime input index by node input; -1: none
	nrt    int           // runtime inputs
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
				return nil, h.n.errorf("input %d %q is computed on the device: %w (it must be a constant or computed from shapes)", i, h.n.input(i), ErrUnsupported)
			}
			in[i] = host[h.rt[i]]
		}
	}
	return in, nil
}

// slice is Slice: one strided gather, Base at the first element read and
// each stride the input's times the step (negative steps included).
type slice struct {
	d *engine.Device
	a ops.Attrs
	p hostParams
}

func buildSlice(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	p, err := n.hostParams(1)
	if err != nil {
		return nil, err
	}
	return &slice{d: b.Dev, a: a, p: p}, nil
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
