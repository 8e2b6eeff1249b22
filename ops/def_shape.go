package ops

import (
	"errors"
	"math"
)

// The ops that give the same data a new shape: Flatten and Reshape. Both are
// views (a planner aliases the buffers).

func init() {
	Register(&Op{
		Name: OpFlatten, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1, View: true,
		Attrs: []AttrDef{Int(AttrAxis, 1)},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			s, err := FlattenShape(in[0].Shape, int(a.Int(AttrAxis)))
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			s, err := FlattenShape(in[0].Shape, int(a.Int(AttrAxis)))
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return []*Tensor{in[0].reshaped(s)}, nil
		},
	})
	Register(&Op{
		Name: OpReshape, MinInputs: 1, MaxInputs: 2, MaxOutputs: 1, View: true,
		Attrs: []AttrDef{IntsOpt(AttrShape), Int(AttrAllowZero, 0)},
		Check: func(a Attrs) error {
			if a.Has(AttrShape) && len(a.Node.Inputs) > 1 && a.Node.Inputs[1] != "" {
				return a.Errorf("shape given both as an attribute and as input %q", a.Node.Inputs[1])
			}
			if !a.Has(AttrShape) && (len(a.Node.Inputs) < 2 || a.Node.Inputs[1] == "") {
				return a.Errorf("no target shape (attribute shape or input 1)")
			}
			if err := a.CheckBool(AttrAllowZero); err != nil {
				return err
			}
			if a.Has(AttrShape) {
				// Structural checks (several -1, -1 next to allowzero's
				// literal 0) against a stand-in input of ones.
				target, err := reshapeTarget(a, nil)
				if err != nil {
					return err
				}
				if _, err := ReshapeDims(unknown(len(target)), target, a.Bool(AttrAllowZero)); err != nil {
					return a.Errorf("%v", err)
				}
			}
			return nil
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			var shape *Tensor
			if len(in) > 1 && !in[1].Absent {
				if shape = in[1].Const; shape == nil {
					// Computed at run time: only its length is known.
					if s := in[1].Shape; len(s) == 1 && s[0] >= 0 {
						return [][]int{unknown(s[0])}, nil
					}
					return [][]int{nil}, nil
				}
			}
			target, err := reshapeTarget(a, shape)
			if err != nil {
				return nil, err
			}
			s, err := ReshapeDims(in[0].Shape, target, a.Bool(AttrAllowZero))
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			var shape *Tensor
			if len(in) > 1 {
				shape = in[1]
			}
			target, err := reshapeTarget(a, shape)
			if err != nil {
				return nil, err
			}
			s, err := ReshapeShape(in[0].Shape, target, a.Bool(AttrAllowZero))
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return []*Tensor{in[0].reshaped(s)}, nil
		},
	})
}

// unknown returns a shape of rank r with every dimension unknown.
func unknown(r int) []int {
	s := make([]int, r)
	for i := range s {
		s[i] = -1
	}
	return s
}

// reshapeTarget returns Reshape's target from its attribute or its shape
// input (1-D integers).
func reshapeTarget(a Attrs, shape *Tensor) ([]int, error) {
	var v []int64
	if a.Has(AttrShape) {
		v = a.Ints(AttrShape)
	} else {
		if len(shape.Shape) != 1 {
			return nil, a.Errorf("shape %q has shape %v, want 1-D", a.Node.Inputs[1], shape.Shape)
		}
		var err error
		if v, err = shape.IntValues(); err != nil {
			return nil, a.Errorf("shape %q: %v", a.Node.Inputs[1], err)
		}
	}
	out := make([]int, len(v))
	for i, d := range v {
		if d < -1 || d > math.MaxInt32 {
			return nil, a.Errorf("shape %v: dimension %d is %d", v, i, d)
		}
		out[i] = int(d)
	}
	return out, nil
}

// FlattenShape is ONNX Flatten's output shape: [prod(s[:axis]),
// prod(s[axis:])], axis in [-rank, rank] (negative counts from the end). An
// unknown (-1) dimension makes its side unknown.
func FlattenShape(s []int, axis int) ([]int, error) {
	r := len(s)
	if axis < -r || axis > r {
		return nil, fmtErrorf("axis %d is out of range for shape %v", axis, s)
	}
	if axis < 0 {
		axis += r
	}
	return []int{dimsProduct(s[:axis]), dimsProduct(s[axis:])}, nil
}

// dimsProduct is the product of s, -1 if a dimension is unknown (and none
// is 0).
func dimsProduct(s []int) int {
	n, unk := 1, false
	for _, d := range s {
		if d < 0 {
			unk = true
			continue
		}
		n *= d
	}
	if unk && n != 0 {
		return -1
	}
	return n
}

// ErrReshapeSize is ReshapeShape's error for element counts that differ.
var ErrReshapeSize = errors.New("element counts differ")

// ReshapeShape resolves ONNX Reshape's target shape for input shape s:
// 0 copies the input's dimension at the same index (unless allowZero, where
// 0 is a zero dimension), -1 is inferred from the element count (at most
// one). The result has as many elements as s (else ErrReshapeSize).
func ReshapeShape(s []int, target []int, allowZero bool) ([]int, error) {
	out := make([]int, len(target))
	infer := -1
	zero := false
	known := 1
	for i, d := range target {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, fmtErrorf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d < -1:
			return nil, fmtErrorf("shape %v: dimension %d is %d", target, i, d)
		case d == 0 && !allowZero:
			if i >= len(s) {
				return nil, fmtErrorf("shape %v copies dimension %d (0) of the rank-%d input %v", target, i, len(s), s)
			}
			out[i] = s[i]
		case d == 0:
			zero = true
		default:
			out[i] = d
		}
		known *= out[i]
	}
	total := 1
	for _, d := range s {
		total *= d
	}
	if infer >= 0 {
		if zero {
			return nil, fmtErrorf("shape %v has both -1 and a literal 0 (allowzero)", target)
		}
		if known == 0 {
			return nil, fmtErrorf("shape %v: -1 is ambiguous next to a zero dimension (input %v)", target, s)
		}
		out[infer] = total / known
	}
	n := 1
	for _, d := range out {
		n *= d
	}
	if n != total {
		return nil, fmtErrorf("cannot reshape %v into %v: %w", s, out, ErrReshapeSize)
	}
	return out, nil
}

// ReshapeDims is ReshapeShape for an input shape with unknown (-1)
// dimensions: dimensions that follow from unknown ones are -1, and the
// element count is checked only when everything is known.
func ReshapeDims(s []int, target []int, allowZero bool) ([]int, error) {
	if dimsProduct(s) >= 0 {
		return ReshapeShape(s, target, allowZero)
	}
	// Structural checks against a stand-in input of ones.
	ones := make([]int, max(len(s), len(target)))
	for i := range ones {
		ones[i] = 1
	}
	if _, err := ReshapeShape(ones, target, allowZero); err != nil && !errors.Is(err, ErrReshapeSize) {
		return nil, err
	}
	out := make([]int, len(target))
	for i, d := range target {
		switch {
		case d == -1:
			out[i] = -1
		case d == 0 && !allowZero:
			if i >= len(s) {
				return nil, fmtErrorf("shape %v copies dimension %d (0) of the rank-%d input %v", target, i, len(s), s)
			}
			out[i] = s[i]
		default:
			out[i] = d
		}
	}
	return out, nil
}
