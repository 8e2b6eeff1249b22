package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func init() { Register(ops.OpDense, buildDense) }

// dense is y = act(x·Wᵀ + b), one fused GEMM dispatch that reads x in place.
// The weight is laid out for the device's GEMM kernel once, at build time
// (see NewGemmWeights); any packed copy of x a kernel might need is a
// temporary buffer of the recorded program.
type dense struct {
	d       *engine.Device
	name    string
	in, out int
	w       *GemmWeights
	b       *engine.Buffer
	relu    bool
}

func buildDense(b *Build, n *model.Node) (Layer, error) {
	if len(n.Inputs) < 2 || len(n.Inputs) > 3 {
		return nil, fmt.Errorf("layers: Dense %q takes inputs (x, W[, b]), got %d", n.Name, len(n.Inputs))
	}
	w := b.Const(n.Inputs[1])
	if w == nil {
		return nil, fmt.Errorf("layers: Dense %q: weight %q must be a constant: %w", n.Name, n.Inputs[1], ErrUnsupported)
	}
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("layers: Dense %q: weight %q has shape %v, want [out, in]", n.Name, w.Name, w.Shape)
	}
	l := &dense{d: b.Dev, name: n.Name, out: w.Shape[0], in: w.Shape[1]}
	if a, ok := n.Attr(ops.AttrActivation); ok {
		if a.Kind != model.AttrString || a.String != ops.ActivationRelu {
			return nil, fmt.Errorf("layers: Dense %q: activation %q: %w (only %q)", n.Name, a.String, ErrUnsupported, ops.ActivationRelu)
		}
		l.relu = true
	}
	var bias *model.Tensor
	if len(n.Inputs) == 3 && n.Inputs[2] != "" {
		if bias = b.Const(n.Inputs[2]); bias == nil {
			return nil, fmt.Errorf("layers: Dense %q: bias %q must be a constant: %w", n.Name, n.Inputs[2], ErrUnsupported)
		}
		if bias.Elements() != l.out {
			return nil, fmt.Errorf("layers: Dense %q: bias %q has %d elements, want %d", n.Name, bias.Name, bias.Elements(), l.out)
		}
	}
	var err error
	if l.w, err = NewGemmWeights(b.Dev, w.Data, l.in, l.out, true); err != nil {
		return nil, fmt.Errorf("layers: Dense %q: weight %q: %w", n.Name, w.Name, err)
	}
	if bias != nil {
		if l.b, err = upload(b.Dev, bias); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

func (l *dense) Infer(in []Shape) ([]Shape, error) {
	if err := oneInput("Dense", in); err != nil {
		return nil, err
	}
	s := in[0]
	if len(s) < 1 || s[len(s)-1] != l.in {
		return nil, fmt.Errorf("layers: Dense %q takes [..., %d], got %v", l.name, l.in, s)
	}
	out := append(Shape(nil), s...)
	out[len(out)-1] = l.out
	return []Shape{out}, nil
}

func (l *dense) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	m := shapes[0].Elems() / l.in
	return RecordGemmWeights(r, l.d, Gemm{M: m, N: l.out, K: l.in, Bias: l.b, ReLU: l.relu}, in[0], l.w, out[0])
}

func (l *dense) Close() {
	l.w.Close()
	l.b.Close()
}
