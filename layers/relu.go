package layers

import (
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func init() { Register(ops.OpRelu, buildRelu) }

// relu is y = x < 0 ? 0 : x elementwise (NaN stays NaN).
type relu struct{ d *engine.Device }

func buildRelu(b *Build, n *model.Node) (Layer, error) { return relu{b.Dev}, nil }

func (relu) Infer(in []Shape) ([]Shape, error) {
	if err := oneInput("Relu", in); err != nil {
		return nil, err
	}
	return []Shape{append(Shape(nil), in[0]...)}, nil
}

func (l relu) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return RecordReLU(r, l.d, in[0], out[0], shapes[0].Elems())
}

func (relu) Close() {}
