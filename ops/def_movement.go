package ops

import "github.com/vkinfer/vkinfer/model"

// Data movement that CNNs run on the device: Split and Pad (Slice and
// Transpose, which shape subgraphs use too, are in def_data.go). Their Eval
// works on every host type (float32, int64, bool); values are copied, never
// computed, so NaN, infinities and -0 pass through unchanged.

// The Pad modes (attribute "mode").
const (
	PadConstant = "constant" // the border is constant_value (default 0)
	PadReflect  = "reflect"  // mirrored without repeating the edge (numpy's "reflect", periodic beyond)
	PadEdge     = "edge"     // the edge element repeated
	PadWrap     = "wrap"     // the other end continued (opset 19)
)

func init() {
	Register(&Op{
		Name: OpSplit, MinInputs: 1, MaxInputs: 2, MaxOutputs: 1 << 16,
		Attrs: []AttrDef{Int(AttrAxis, 0), IntsOpt("split"), IntOpt("num_outputs")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			var sizes *Tensor
			if len(in) > 1 && !in[1].Absent {
				if in[1].Const == nil {
					out := make([][]int, len(a.Node.Outputs))
					for i := range out {
						out[i] = unknown(len(in[0].Shape))
					}
					return out, nil
				}
				sizes = in[1].Const
			}
			return splitShapes(a, in[0].Shape, sizes)
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x := in[0]
			var sizes *Tensor
			if len(in) > 1 {
				sizes = in[1]
			}
			shapes, err := splitShapes(a, x.Shape, sizes)
			if err != nil {
				return nil, err
			}
			axis, _ := axisOf(a, a.Int(AttrAxis), len(x.Shape))
			outer, inner := 1, 1
			for i, d := range x.Shape {
				if i < axis {
					outer *= d
				} else if i > axis {
					inner *= d
				}
			}
			dim := x.Shape[axis]
			out := make([]*Tensor, len(shapes))
			off := 0
			for k, s := range shapes {
				idx := make([]int, 0, outer*s[axis]*inner)
				for o := 0; o < outer; o++ {
					for j := 0; j < s[axis]*inner; j++ {
						idx = append(idx, (o*dim+off)*inner+j)
					}
				}
				out[k] = take(x, s, idx)
				off += s[axis]
			}
			return out, nil
		},
	})
	Register(&Op{
		Name: OpPad, MinInputs: 1, MaxInputs: 4, MaxOutputs: 1,
		Attrs: []AttrDef{
			{"mode", model.AttrString, model.StringAttr(PadConstant)},
			IntsOpt("pads"), Float("value", 0),
		},
		Check: func(a Attrs) error {
			switch a.String("mode") {
			case PadConstant, PadReflect, PadEdge, PadWrap:
				return nil
			}
			return a.Errorf("mode %q: %w (constant, reflect, edge or wrap)", a.String("mode"), ErrUnsupported)
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			consts := make([]*Tensor, len(in))
			for i, v := range in {
				if i > 0 && i != 2 && !v.Absent && v.Const == nil {
					return [][]int{unknown(len(in[0].Shape))}, nil
				}
				consts[i] = v.Const
			}
			p, err := PadWindow(a, in[0].Shape, consts)
			if err != nil {
				return nil, err
			}
			return [][]int{p.Out}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x := in[0]
			p, err := PadWindow(a, x.Shape, in)
			if err != nil {
				return nil, err
			}
			n := 1
			for _, d := range p.Out {
				n *= d
			}
			r := len(p.Out)
			st := strides(x.Shape)
			idx := make([]int, n) // -1: the constant
			pos := make([]int, r)
			for i := range idx {
				off := 0
				for k := 0; k < r && off >= 0; k++ {
					j, ok := PadSource(p.Mode, pos[k]-p.Begin[k], x.Shape[k])
					if !ok {
						off = -1
						break
					}
					off += j * st[k]
				}
				idx[i] = off
				for k := r - 1; k >= 0; k-- {
					if pos[k]++; pos[k] < p.Out[k] {
						break
					}
					pos[k] = 0
				}
			}
			out := &Tensor{DType: x.DType, Shape: p.Out}
			if x.DType == Float32 {
				out.Data = make([]float32, n)
				for i, j := range idx {
					if j < 0 {
						out.Data[i] = p.Value
					} else {
						out.Data[i] = x.Data[j]
					}
				}
			} else {
				out.Ints = make([]int64, n)
				for i, j := range idx {
					if j < 0 {
						out.Ints[i] = int64(p.Value)
					} else {
						out.Ints[i] = x.Ints[j]
					}
				}
			}
			return []*Tensor{out}, nil
		},
	})
}

// SplitSizes returns the sizes of a Split node's pieces along its axis for
// an input of the given shape: from sizes (input 1, opset 13; nil when
// absent), the "split" attribute (opsets < 13), "num_outputs" (opset 18:
// ceil(dim / n) each, the last smaller), or else equal pieces, one per
// output (the dimension must divide).
func SplitSizes(a Attrs, shape []int, sizes *Tensor) (axis int, split []int, err error) {
	axis, err = axisOf(a, a.Int(AttrAxis), len(shape))
	if err != nil {
		return 0, nil, err
	}
	dim := shape[axis]
	n := len(a.Node.Outputs)
	var given []int64
	switch {
	case sizes != nil:
		if given, err = sizes.IntValues(); err != nil {
			return 0, nil, a.Errorf("split: %v", err)
		}
		if given == nil {
			given = []int64{}
		}
	case a.Has("split"):
		given = a.Ints("split")
	}
	if given != nil {
		if len(given) != n {
			return 0, nil, a.Errorf("split %v has %d sizes for %d outputs", given, len(given), n)
		}
		sum := int64(0)
		for _, s := range given {
			if s < 0 {
				return 0, nil, a.Errorf("split %v has a negative size", given)
			}
			sum += s
			split = append(split, int(s))
		}
		if dim >= 0 && sum != int64(dim) {
			return 0, nil, a.Errorf("split %v sums to %d, dimension %d is %d", given, sum, axis, dim)
		}
		return axis, split, nil
	}
	if dim < 0 {
		return axis, nil, nil
	}
	if a.Has("num_outputs") {
		k := a.Int("num_outputs")
		if k != int64(n) || k < 1 {
			return 0, nil, a.Errorf("num_outputs is %d, the node has %d outputs", k, n)
		}
		chunk := (dim + n - 1) / n
		for i := 0; i < n; i++ {
			split = append(split, max(min(chunk, dim-i*chunk), 0))
		}
		return axis, split, nil
	}
	if dim%n != 0 {
		return 0, nil, a.Errorf("dimension %d of size %d does not split into %d equal pieces (give split)", axis, dim, n)
	}
	for i := 0; i < n; i++ {
		split = append(split, dim/n)
	}
	return axis, split, nil
}

func splitShapes(a Attrs, shape []int, sizes *Tensor) ([][]int, error) {
	axis, split, err := SplitSizes(a, shape, sizes)
	if err != nil {
		return nil, err
	}
	out := make([][]int, len(a.Node.Outputs))
	for i := range out {
		out[i] = append([]int{}, shape...)
		out[i][axis] = -1
		if split != nil {
			out[i][axis] = split[i]
		}
	}
	return out, nil
}

// Padding is a Pad node resolved against an input shape.
type Padding struct {
	// Begin is the padding before each dimension (negative: removed).
	Begin []int
	// Out is the output shape: the input's plus both pads.
	Out []int
	// Mode is one of PadConstant, PadReflect, PadEdge, PadWrap.
	Mode string
	// Value is the constant of PadConstant.
	Value float32
}

// PadWindow resolves a Pad node: pads from the attribute (opsets < 11) or
// input 1, constant_value from the attribute "value" or input 2 (a scalar
// or one element; absent: 0), axes (opset 18) from input 3 (absent: every
// axis; negative counts from the end). in[0] may carry only its shape.
// Dimensions of -1 stay -1.
func PadWindow(a Attrs, shape []int, in []*Tensor) (Padding, error) {
	at := func(i int) *Tensor {
		if i < len(in) {
			return in[i]
		}
		return nil
	}
	p := Padding{Mode: a.String("mode"), Value: a.Float("value")}
	var pads []int64
	if t := at(1); t != nil {
		v, err := t.IntValues()
		if err != nil {
			return p, a.Errorf("pads: %v", err)
		}
		pads = v
	} else if a.Has("pads") {
		pads = a.Ints("pads")
	} else {
		return p, a.Errorf("pads are required")
	}
	if t := at(2); t != nil {
		if t.Len() != 1 {
			return p, a.Errorf("constant_value has %d elements, want 1", t.Len())
		}
		p.Value = t.Float()[0]
	}
	r := len(shape)
	axes := make([]int, 0, r)
	if t := at(3); t != nil {
		v, err := t.IntValues()
		if err != nil {
			return p, a.Errorf("axes: %v", err)
		}
		seen := make([]bool, r)
		for _, ax := range v {
			k, err := axisOf(a, ax, r)
			if err != nil {
				return p, err
			}
			if seen[k] {
				return p, a.Errorf("axis %d repeated in %v", ax, v)
			}
			seen[k] = true
			axes = append(axes, k)
		}
	} else {
		for k := 0; k < r; k++ {
			axes = append(axes, k)
		}
	}
	if len(pads) != 2*len(axes) {
		return p, a.Errorf("%d pads for %d axes, want %d", len(pads), len(axes), 2*len(axes))
	}
	p.Begin = make([]int, r)
	p.Out = append([]int{}, shape...)
	for i, k := range axes {
		b, e := pads[i], pads[i+len(axes)]
		if b < -1<<30 || b > 1<<30 || e < -1<<30 || e > 1<<30 {
			return p, a.Errorf("pads %v out of range", pads)
		}
		p.Begin[k] = int(b)
		if shape[k] < 0 {
			continue
		}
		d := int64(shape[k]) + b + e
		if d < 0 {
			return p, a.Errorf("pads %v make dimension %d of %v negative", pads, k, shape)
		}
		if d > 0 && shape[k] == 0 && p.Mode != PadConstant {
			return p, a.Errorf("mode %s pads dimension %d of size 0", p.Mode, k)
		}
		p.Out[k] = int(d)
	}
	return p, nil
}

// PadSource maps a coordinate j (relative to the input's start) along a
// dimension of size n to the input coordinate Pad reads for mode; ok is
// false where the constant is read.
func PadSource(mode string, j, n int) (int, bool) {
	if j >= 0 && j < n {
		return j, true
	}
	switch mode {
	case PadEdge:
		return min(max(j, 0), n-1), true
	case PadReflect:
		p := 2 * (n - 1)
		if p == 0 {
			return 0, true
		}
		j = ((j % p) + p) % p
		if j >= n {
			j = p - j
		}
		return j, true
	case PadWrap:
		return ((j % n) + n) % n, true
	}
	return 0, false
}
