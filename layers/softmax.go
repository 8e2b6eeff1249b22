package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
)

func init() { Register(model.OpSoftmax, buildSoftmax) }

// softmax normalises along the last axis, numerically stable.
type softmax struct {
	d    *engine.Device
	name string
	axis int
}

func buildSoftmax(b *Build, n *model.Node) (Layer, error) {
	l := &softmax{d: b.Dev, name: n.Name, axis: -1}
	if a, ok := n.Attr(model.AttrAxis); ok {
		if a.Kind != model.AttrInt {
			return nil, fmt.Errorf("layers: Softmax %q: attribute axis must be an int", n.Name)
		}
		l.axis = int(a.Int)
	}
	return l, nil
}

func (l *softmax) Infer(in []Shape) ([]Shape, error) {
	if err := oneInput("Softmax", in); err != nil {
		return nil, err
	}
	s := in[0]
	if len(s) == 0 {
		return nil, fmt.Errorf("layers: Softmax %q of a scalar", l.name)
	}
	if l.axis != -1 && l.axis != len(s)-1 {
		return nil, fmt.Errorf("layers: Softmax %q over axis %d of a rank-%d tensor: %w (only the last axis)", l.name, l.axis, len(s), ErrUnsupported)
	}
	return []Shape{append(Shape(nil), s...)}, nil
}

func (l *softmax) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	s := shapes[0]
	cols := s[len(s)-1]
	return RecordSoftmax(r, l.d, in[0], out[0], s.Elems()/cols, cols)
}

func (l *softmax) Close() {}
