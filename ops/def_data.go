package ops

import (
	"fmt"
	"math"
)

// Data movement and comparison on small tensors, what exporters compute
// shapes with (x.view(x.size(0), -1) is Shape → Gather → Unsqueeze →
// Concat → Reshape): Shape, Size, Gather, Concat, Unsqueeze, Squeeze,
// Cast, Slice, ConstantOfShape, Range, Equal, Where, Transpose. Their Eval
// works on every host type (float32, int64, bool); a planner evaluates them
// on the host when their inputs are known there. A model file stores
// integer constants as float32 (exactly, |v| <= 2^24), so index and axis
// inputs take either type.

func init() {
	Register(&Op{
		Name: OpShape, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1, ShapeOnly: true,
		Attrs: []AttrDef{IntOpt("start"), IntOpt("end")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			lo, hi := shapeRange(a, len(in[0].Shape))
			return [][]int{{hi - lo}}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			s := in[0].Shape
			lo, hi := shapeRange(a, len(s))
			v := make([]int64, 0, hi-lo)
			for _, d := range s[lo:hi] {
				v = append(v, int64(d))
			}
			return []*Tensor{I64([]int{len(v)}, v)}, nil
		},
	})
	Register(&Op{
		Name: OpSize, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1, ShapeOnly: true,
		Infer: func(a Attrs, in []Value) ([][]int, error) { return [][]int{{}}, nil },
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			n := 1
			for _, d := range in[0].Shape {
				n *= d
			}
			return []*Tensor{I64(nil, []int64{int64(n)})}, nil
		},
	})
	Register(&Op{
		Name: OpGather, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
		Attrs: []AttrDef{Int(AttrAxis, 0)},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			d := in[0].Shape
			axis, err := axisOf(a, a.Int(AttrAxis), len(d))
			if err != nil {
				return nil, err
			}
			return [][]int{concatDims(d[:axis], in[1].Shape, d[axis+1:])}, nil
		},
		Eval: evalGather,
	})
	Register(&Op{
		Name: OpConcat, MinInputs: 1, MaxInputs: 1 << 16, MaxOutputs: 1,
		Attrs: []AttrDef{IntOpt(AttrAxis)},
		Check: func(a Attrs) error {
			if !a.Has(AttrAxis) {
				return a.Errorf("attribute axis is required")
			}
			return nil
		},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			first := in[0].Shape
			axis, err := axisOf(a, a.Int(AttrAxis), len(first))
			if err != nil {
				return nil, err
			}
			out := append([]int{}, first...)
			for _, v := range in[1:] {
				if len(v.Shape) != len(first) {
					return nil, a.Errorf("inputs of ranks %d and %d", len(first), len(v.Shape))
				}
				for i, d := range v.Shape {
					switch {
					case i == axis:
						if out[i] >= 0 && d >= 0 {
							out[i] += d
						} else {
							out[i] = -1
						}
					case d >= 0 && out[i] >= 0 && d != out[i]:
						return nil, a.Errorf("input shapes %v and %v differ outside axis %d", first, v.Shape, axis)
					case out[i] < 0:
						out[i] = d
					}
				}
			}
			return [][]int{out}, nil
		},
		Eval: evalConcat,
	})
	for _, name := range []string{OpUnsqueeze, OpSqueeze} {
		un := name == OpUnsqueeze
		Register(&Op{
			Name: name, MinInputs: 1, MaxInputs: 2, MaxOutputs: 1, View: true,
			Attrs: []AttrDef{IntsOpt("axes")},
			Infer: func(a Attrs, in []Value) ([][]int, error) {
				axes, all, err := axesOf(a, in)
				if err != nil {
					return nil, err
				}
				if axes == nil && !all {
					return [][]int{nil}, nil // axes computed on the device
				}
				var s []int
				if un {
					s, err = UnsqueezeDims(in[0].Shape, axes)
				} else {
					s, err = SqueezeDims(in[0].Shape, axes, all)
				}
				if err != nil {
					return nil, a.Errorf("%v", err)
				}
				return [][]int{s}, nil
			},
			Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
				vals := make([]Value, len(in))
				for i, t := range in {
					if t != nil {
						vals[i] = Value{Shape: t.Shape, Const: t}
					} else {
						vals[i].Absent = true
					}
				}
				op := Lookup(a.Node.Op)
				s, err := op.Infer(a, vals)
				if err != nil {
					return nil, err
				}
				return []*Tensor{in[0].reshaped(s[0])}, nil
			},
		})
	}
	Register(&Op{
		Name: OpCast, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
		Attrs: []AttrDef{IntOpt("to"), IntOpt("saturate")},
		Check: func(a Attrs) error {
			if _, err := castType(a.Int("to")); err != nil {
				return a.Errorf("%w", err)
			}
			return nil
		},
		Infer: sameShape,
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			to, _ := castType(a.Int("to"))
			x := in[0]
			switch {
			case to.t == Float32:
				r, _ := CastFloatRound(a.Int("to"))
				y := x.Float()
				if r != RoundNone {
					y = append([]float32(nil), y...)
					for i, v := range y {
						y[i] = r.Apply(v)
					}
				}
				return []*Tensor{F32(x.Shape, y)}, nil
			case to.t == Bool:
				y := make([]int64, x.Len())
				for i := range y {
					if (x.DType == Float32 && x.Data[i] != 0) || (x.DType != Float32 && x.Ints[i] != 0) {
						y[i] = 1 // NaN too
					}
				}
				return []*Tensor{{Shape: x.Shape, DType: Bool, Ints: y}}, nil
			}
			y := make([]int64, x.Len())
			for i := range y {
				var v int64
				if x.DType == Float32 {
					f := float64(x.Data[i])
					if math.IsNaN(f) || math.Abs(f) >= 1<<62 {
						return nil, a.Errorf("%v has no %s value", f, to.name)
					}
					v = int64(f) // toward zero, as C and ONNX Runtime
				} else {
					v = x.Ints[i]
				}
				y[i] = to.wrap(v)
			}
			return []*Tensor{I64(x.Shape, y)}, nil
		},
	})
	Register(&Op{
		Name: OpSlice, MinInputs: 1, MaxInputs: 5, MaxOutputs: 1,
		// steps is not ONNX: the importer writes constant inputs of opset
		// >= 10 as attributes, steps included.
		Attrs: []AttrDef{IntsOpt("starts"), IntsOpt("ends"), IntsOpt("axes"), IntsOpt("steps")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			consts := make([]*Tensor, len(in))
			for i, v := range in {
				if i > 0 && !v.Absent && v.Const == nil {
					return [][]int{unknown(len(in[0].Shape))}, nil
				}
				consts[i] = v.Const
			}
			sl, err := sliceOf(a, in[0].Shape, consts)
			if err != nil {
				return nil, err
			}
			return [][]int{sl.cnt}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x := in[0]
			sl, err := sliceOf(a, x.Shape, in)
			if err != nil {
				return nil, err
			}
			r := len(x.Shape)
			stride := strides(x.Shape)
			total := 1
			for _, c := range sl.cnt {
				total *= c
			}
			idx := make([]int, 0, total)
			pos := make([]int, r)
			for i := 0; i < total; i++ {
				off := 0
				for d := 0; d < r; d++ {
					off += (sl.lo[d] + pos[d]*sl.step[d]) * stride[d]
				}
				idx = append(idx, off)
				for d := r - 1; d >= 0; d-- {
					if pos[d]++; pos[d] < sl.cnt[d] {
						break
					}
					pos[d] = 0
				}
			}
			return []*Tensor{take(x, sl.cnt, idx)}, nil
		},
	})
	Register(&Op{
		Name: OpConstantOfShape, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
		Attrs: []AttrDef{FloatsOpt("value")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			if in[0].Const == nil {
				if len(in[0].Shape) == 1 && in[0].Shape[0] >= 0 {
					return [][]int{unknown(in[0].Shape[0])}, nil
				}
				return [][]int{nil}, nil
			}
			s, err := shapeValue(a, in[0].Const)
			return [][]int{s}, err
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			s, err := shapeValue(a, in[0])
			if err != nil {
				return nil, err
			}
			v := float32(0)
			if a.Has("value") {
				if f := a.Floats("value"); len(f) == 1 {
					v = f[0]
				} else {
					return nil, a.Errorf("value has %d elements, want 1", len(f))
				}
			}
			n := 1
			for _, d := range s {
				n *= d
			}
			y := make([]float32, n)
			for i := range y {
				y[i] = v
			}
			return []*Tensor{F32(s, y)}, nil
		},
	})
	Register(&Op{
		Name: OpRange, MinInputs: 3, MaxInputs: 3, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			for _, v := range in {
				if v.Const == nil {
					return [][]int{{-1}}, nil
				}
			}
			t, err := evalRange(a, []*Tensor{in[0].Const, in[1].Const, in[2].Const})
			if err != nil {
				return nil, err
			}
			return [][]int{t.Shape}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			t, err := evalRange(a, in)
			return []*Tensor{t}, err
		},
	})
	Register(&Op{
		Name: OpEqual, MinInputs: 2, MaxInputs: 2, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			s, err := BroadcastDims(in[0].Shape, in[1].Shape)
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x, y := in[0], in[1]
			if is, ok := asInts(x, y); ok {
				x, y = is[0], is[1]
			}
			out, err := BroadcastShape(x.Shape, y.Shape)
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			ix, iy := broadcastIndex(x.Shape, out), broadcastIndex(y.Shape, out)
			ints := x.DType != Float32 && y.DType != Float32
			xf, yf := x.Float(), y.Float()
			r := make([]int64, len(ix))
			for i := range r {
				eq := xf[ix[i]] == yf[iy[i]]
				if ints {
					eq = x.Ints[ix[i]] == y.Ints[iy[i]]
				}
				if eq {
					r[i] = 1
				}
			}
			return []*Tensor{{Shape: out, DType: Bool, Ints: r}}, nil
		},
	})
	Register(&Op{
		Name: OpWhere, MinInputs: 3, MaxInputs: 3, MaxOutputs: 1,
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			s, err := BroadcastDims(in[0].Shape, in[1].Shape)
			if err == nil {
				s, err = BroadcastDims(s, in[2].Shape)
			}
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			c, x, y := in[0], in[1], in[2]
			out, err := BroadcastShape(c.Shape, x.Shape)
			if err == nil {
				out, err = BroadcastShape(out, y.Shape)
			}
			if err != nil {
				return nil, a.Errorf("%v", err)
			}
			ic, ix, iy := broadcastIndex(c.Shape, out), broadcastIndex(x.Shape, out), broadcastIndex(y.Shape, out)
			cf := c.Float()
			if is, ok := asInts(x, y); ok {
				x, y = is[0], is[1]
			}
			if x.DType != Float32 && y.DType != Float32 {
				r := make([]int64, len(ic))
				for i := range r {
					r[i] = y.Ints[iy[i]]
					if cf[ic[i]] != 0 {
						r[i] = x.Ints[ix[i]]
					}
				}
				return []*Tensor{{Shape: out, DType: x.DType, Ints: r}}, nil
			}
			xf, yf := x.Float(), y.Float()
			r := make([]float32, len(ic))
			for i := range r {
				r[i] = yf[iy[i]]
				if cf[ic[i]] != 0 {
					r[i] = xf[ix[i]]
				}
			}
			return []*Tensor{F32(out, r)}, nil
		},
	})
	Register(&Op{
		Name: OpTranspose, MinInputs: 1, MaxInputs: 1, MaxOutputs: 1,
		Attrs: []AttrDef{IntsOpt("perm")},
		Infer: func(a Attrs, in []Value) ([][]int, error) {
			p, err := permOf(a, len(in[0].Shape))
			if err != nil {
				return nil, err
			}
			s := make([]int, len(p))
			for i, j := range p {
				s[i] = in[0].Shape[j]
			}
			return [][]int{s}, nil
		},
		Eval: func(a Attrs, in []*Tensor) ([]*Tensor, error) {
			x := in[0]
			p, err := permOf(a, len(x.Shape))
			if err != nil {
				return nil, err
			}
			r := len(p)
			shape := make([]int, r)
			for i, j := range p {
				shape[i] = x.Shape[j]
			}
			stride := strides(x.Shape)
			idx := make([]int, x.Len())
			pos := make([]int, r)
			for i, off := 0, 0; i < len(idx); i++ {
				idx[i] = off
				for d := r - 1; d >= 0; d-- {
					pos[d]++
					off += stride[p[d]]
					if pos[d] < shape[d] {
						break
					}
					off -= stride[p[d]] * shape[d]
					pos[d] = 0
				}
			}
			return []*Tensor{take(x, shape, idx)}, nil
		},
	})
}

// shapeRange returns Shape's [start, end) (opset 15) clamped to the rank.
func shapeRange(a Attrs, rank int) (int, int) {
	clamp := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		return int(min(max(v, 0), int64(rank)))
	}
	lo, hi := 0, rank
	if a.Has("start") {
		lo = clamp(a.Int("start"))
	}
	if a.Has("end") {
		hi = clamp(a.Int("end"))
	}
	return lo, max(lo, hi)
}

// axisOf returns axis (negative counts from the end) in [0, rank).
func axisOf(a Attrs, axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, a.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

func concatDims(parts ...[]int) []int {
	var out []int
	for _, p := range parts {
		out = append(out, p...)
	}
	if out == nil {
		out = []int{}
	}
	return out
}

// strides returns the row-major element strides of shape.
func strides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// take returns the tensor of the given shape whose element i is t's
// element idx[i], of t's type.
func take(t *Tensor, shape []int, idx []int) *Tensor {
	out := &Tensor{DType: t.DType, Shape: shape}
	if t.DType == Float32 {
		out.Data = make([]float32, len(idx))
		for i, j := range idx {
			out.Data[i] = t.Data[j]
		}
	} else {
		out.Ints = make([]int64, len(idx))
		for i, j := range idx {
			out.Ints[i] = t.Ints[j]
		}
	}
	return out
}

// broadcastIndex returns, for each element of out (row-major), the index
// of the element of a tensor of shape s broadcast to out.
func broadcastIndex(s, out []int) []int {
	n := 1
	for _, d := range out {
		n *= d
	}
	st := broadcastStrides(s, out)
	idx := make([]int, n)
	pos := make([]int, len(out))
	for i, off := 0, 0; i < n; i++ {
		idx[i] = off
		for d := len(out) - 1; d >= 0; d-- {
			pos[d]++
			off += st[d]
			if pos[d] < out[d] {
				break
			}
			off -= st[d] * out[d]
			pos[d] = 0
		}
	}
	return idx
}

func evalGather(a Attrs, in []*Tensor) ([]*Tensor, error) {
	data, ind := in[0], in[1]
	axis, err := axisOf(a, a.Int(AttrAxis), len(data.Shape))
	if err != nil {
		return nil, err
	}
	k, err := ind.IntValues()
	if err != nil {
		return nil, a.Errorf("indices: %v", err)
	}
	outer, inner := 1, 1
	for i, d := range data.Shape {
		if i < axis {
			outer *= d
		} else if i > axis {
			inner *= d
		}
	}
	dim := data.Shape[axis]
	shape := concatDims(data.Shape[:axis], ind.Shape, data.Shape[axis+1:])
	idx := make([]int, 0, outer*len(k)*inner)
	for o := 0; o < outer; o++ {
		for _, j := range k {
			if j < 0 {
				j += int64(dim)
			}
			if j < 0 || j >= int64(dim) {
				return nil, a.Errorf("index %d is out of range for dimension %d of size %d", j, axis, dim)
			}
			for i := 0; i < inner; i++ {
				idx = append(idx, (o*dim+int(j))*inner+i)
			}
		}
	}
	return []*Tensor{take(data, shape, idx)}, nil
}

func evalConcat(a Attrs, in []*Tensor) ([]*Tensor, error) {
	vals := make([]Value, len(in))
	ints := false
	if is, ok := asInts(in...); ok {
		in, ints = is, true
	}
	for i, t := range in {
		vals[i] = Value{Shape: t.Shape}
	}
	shapes, err := Lookup(OpConcat).Infer(a, vals)
	if err != nil {
		return nil, err
	}
	shape := shapes[0]
	axis, _ := axisOf(a, a.Int(AttrAxis), len(shape))
	outer := 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	out := &Tensor{Shape: shape}
	if ints {
		out.DType = Int64
	}
	for o := 0; o < outer; o++ {
		for _, t := range in {
			chunk := t.Len() / max(outer, 1)
			if ints {
				out.Ints = append(out.Ints, t.Ints[o*chunk:(o+1)*chunk]...)
			} else {
				out.Data = append(out.Data, t.Float()[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	if !ints && out.Data == nil {
		out.Data = []float32{}
	}
	if ints && out.Ints == nil {
		out.Ints = []int64{}
	}
	return []*Tensor{out}, nil
}

// axesOf returns Squeeze/Unsqueeze's axes from the attribute or input 1;
// all reports that none are given (Squeeze: every 1). nil axes and all
// false: input 1 is not known on the host.
func axesOf(a Attrs, in []Value) (axes []int64, all bool, err error) {
	if a.Has("axes") {
		return a.Ints("axes"), false, nil
	}
	if len(in) < 2 || in[1].Absent {
		return nil, true, nil
	}
	if in[1].Const == nil {
		return nil, false, nil
	}
	v, err := in[1].Const.IntValues()
	if err != nil {
		return nil, false, a.Errorf("axes: %v", err)
	}
	if v == nil {
		v = []int64{}
	}
	return v, false, nil
}

// UnsqueezeDims is Unsqueeze's output shape: s with 1s inserted at axes
// (relative to the output's rank, negative from the end). It fails on an
// axis out of range or repeated.
func UnsqueezeDims(s []int, axes []int64) ([]int, error) {
	r := len(s) + len(axes)
	ones := make([]bool, r)
	for _, ax := range axes {
		i := ax
		if i < 0 {
			i += int64(r)
		}
		if i < 0 || i >= int64(r) {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", ax, r)
		}
		if ones[i] {
			return nil, fmt.Errorf("axis %d repeated", ax)
		}
		ones[i] = true
	}
	out := make([]int, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ones[i] {
			out = append(out, 1)
		} else {
			out = append(out, s[j])
			j++
		}
	}
	return out, nil
}

// SqueezeDims is Squeeze's output shape: s without the axes, or without
// every dimension of 1 when all; the dimensions removed must be 1 (-1,
// unknown, is let through for axes, refused when all).
func SqueezeDims(s []int, axes []int64, all bool) ([]int, error) {
	drop := make([]bool, len(s))
	if all {
		for i, d := range s {
			if d < 0 {
				return nil, fmt.Errorf("squeezing every 1 of %v, whose dimension %d is not known", s, i)
			}
			drop[i] = d == 1
		}
	}
	for _, ax := range axes {
		i := ax
		if i < 0 {
			i += int64(len(s))
		}
		if i < 0 || i >= int64(len(s)) {
			return nil, fmt.Errorf("axis %d is out of range for rank %d", ax, len(s))
		}
		if s[i] != 1 && s[i] >= 0 {
			return nil, fmt.Errorf("cannot squeeze dimension %d of size %d", i, s[i])
		}
		drop[i] = true
	}
	out := []int{}
	for i, d := range s {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return out, nil
}

// castTarget is a Cast's target type on the host.
type castTarget struct {
	t    DType
	name string
	bits uint // integer width, 0 for 64
	uns  bool
}

// wrap truncates v to the target's integer width (two's complement).
func (c castTarget) wrap(v int64) int64 {
	if c.bits == 0 {
		return v
	}
	if c.uns {
		return int64(uint64(v) & (1<<c.bits - 1))
	}
	sh := 64 - c.bits
	return v << sh >> sh
}

// castType maps ONNX's TensorProto.DataType to a host type: the float
// types to Float32 (DOUBLE, FLOAT16 and BFLOAT16 are computed as float32),
// the integer types to Int64 wrapped to their width, BOOL to Bool.
func castType(to int64) (castTarget, error) {
	switch to {
	case 1, 10, 11, 16:
		return castTarget{t: Float32, name: "float"}, nil
	case 2:
		return castTarget{Int64, "uint8", 8, true}, nil
	case 3:
		return castTarget{Int64, "int8", 8, false}, nil
	case 4:
		return castTarget{Int64, "uint16", 16, true}, nil
	case 5:
		return castTarget{Int64, "int16", 16, false}, nil
	case 6:
		return castTarget{Int64, "int32", 32, false}, nil
	case 7, 13:
		return castTarget{Int64, "int64", 0, false}, nil
	case 12:
		return castTarget{Int64, "uint32", 32, true}, nil
	case 9:
		return castTarget{t: Bool, name: "bool"}, nil
	}
	return castTarget{}, fmt.Errorf("cast to element type %d: %w", to, ErrUnsupported)
}

// slice is a Slice resolved against a shape: per dimension the first index,
// the step and the count.
type slice struct{ lo, step, cnt []int }

// SliceWindow resolves a Slice node (resolved attributes a) against an
// input of the given shape: per dimension the first index read, the step
// and the count, as ONNX clamps them. in are the node's inputs (in[0] may
// carry only its shape; starts, ends, axes and steps, when inputs, must be
// known: opsets >= 10).
func SliceWindow(a Attrs, shape []int, in []*Tensor) (lo, step, cnt []int, err error) {
	sl, err := sliceOf(a, shape, in)
	return sl.lo, sl.step, sl.cnt, err
}

func sliceOf(a Attrs, shape []int, in []*Tensor) (slice, error) {
	var starts, ends, axes, steps []int64
	if len(in) == 1 { // opsets < 10: attributes
		if !a.Has("starts") || !a.Has("ends") {
			return slice{}, a.Errorf("starts and ends are required")
		}
		starts, ends = a.Ints("starts"), a.Ints("ends")
		if a.Has("axes") {
			axes = a.Ints("axes")
		}
		if a.Has("steps") {
			steps = a.Ints("steps")
		}
	} else {
		if len(in) < 3 || in[1] == nil || in[2] == nil {
			return slice{}, a.Errorf("starts and ends are required")
		}
		for i, dst := range []*[]int64{&starts, &ends, &axes, &steps} {
			if i+1 < len(in) && in[i+1] != nil {
				v, err := in[i+1].IntValues()
				if err != nil {
					return slice{}, a.Errorf("%v", err)
				}
				if v == nil {
					v = []int64{}
				}
				*dst = v
			}
		}
	}
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return slice{}, a.Errorf("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	r := len(shape)
	sl := slice{make([]int, r), make([]int, r), append([]int{}, shape...)}
	for i := range sl.step {
		sl.step[i] = 1
	}
	for i := range starts {
		ax := int64(i)
		if axes != nil {
			ax = axes[i]
		}
		ai, err := axisOf(a, ax, r)
		if err != nil {
			return slice{}, err
		}
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return slice{}, a.Errorf("step 0")
		}
		d := int64(shape[ai])
		if d < 0 {
			sl.cnt[ai] = -1
			continue
		}
		b, e := starts[i], ends[i]
		if b < 0 {
			b += d
		}
		if e < 0 {
			e += d
		}
		if st > 0 {
			b, e = min(max(b, 0), d), min(max(e, 0), d)
		} else {
			b, e = min(max(b, -1), d-1), min(max(e, -1), d-1)
		}
		c := int64(0)
		if st > 0 && e > b {
			c = (e - b + st - 1) / st
		} else if st < 0 && b > e {
			c = (b - e - st - 1) / -st
		}
		sl.lo[ai], sl.step[ai], sl.cnt[ai] = int(b), int(st), int(c)
	}
	return sl, nil
}

// shapeValue reads a 1-D tensor of non-negative dimensions.
func shapeValue(a Attrs, t *Tensor) ([]int, error) {
	v, err := t.IntValues()
	if err != nil || len(t.Shape) != 1 {
		return nil, a.Errorf("shape input %v: want a 1-D tensor of integers", t.Shape)
	}
	s := make([]int, len(v))
	n := int64(1)
	for i, d := range v {
		if d < 0 || d > 1<<30 {
			return nil, a.Errorf("shape %v: dimension %d is %d", v, i, d)
		}
		if n *= max(d, 1); n > 1<<30 {
			return nil, a.Errorf("shape %v has over 2^30 elements", v)
		}
		s[i] = int(d)
	}
	return s, nil
}

func evalRange(a Attrs, in []*Tensor) (*Tensor, error) {
	for _, t := range in {
		if t.Len() != 1 {
			return nil, a.Errorf("start, limit and delta must be scalars")
		}
	}
	if in[0].DType != Float32 && in[1].DType != Float32 && in[2].DType != Float32 {
		start, limit, delta := in[0].Ints[0], in[1].Ints[0], in[2].Ints[0]
		if delta == 0 {
			return nil, a.Errorf("delta 0")
		}
		cnt := max(int64(math.Ceil(float64(limit-start)/float64(delta))), 0)
		if cnt > 1<<30 {
			return nil, a.Errorf("%d elements", cnt)
		}
		y := make([]int64, cnt)
		for i := range y {
			y[i] = start + int64(i)*delta
		}
		return I64([]int{int(cnt)}, y), nil
	}
	start, limit, delta := float64(in[0].Float()[0]), float64(in[1].Float()[0]), float64(in[2].Float()[0])
	c := math.Ceil((limit - start) / delta)
	if delta == 0 || math.IsNaN(c) || c > 1<<30 {
		return nil, a.Errorf("range(%v, %v, %v)", start, limit, delta)
	}
	c = max(c, 0)
	y := make([]float32, int(c))
	for i := range y {
		y[i] = float32(start + float64(i)*delta)
	}
	return F32([]int{len(y)}, y), nil
}

// TransposePerm returns the permutation of a Transpose node (resolved
// attributes a) for an input of rank r: perm, or the dimensions reversed
// when it is absent. It fails when perm is not a permutation of [0, r).
func TransposePerm(a Attrs, r int) ([]int, error) { return permOf(a, r) }

// permOf returns Transpose's permutation for rank r (default: reversed).
func permOf(a Attrs, r int) ([]int, error) {
	p := make([]int, r)
	if !a.Has("perm") {
		for i := range p {
			p[i] = r - 1 - i
		}
		return p, nil
	}
	v := a.Ints("perm")
	if len(v) != r {
		return nil, a.Errorf("perm %v for rank %d", v, r)
	}
	seen := make([]bool, r)
	for i, j := range v {
		if j < 0 || j >= int64(r) || seen[j] {
			return nil, a.Errorf("perm %v is not a permutation", v)
		}
		seen[j] = true
		p[i] = int(j)
	}
	return p, nil
}

// FloatRound is the precision a Cast to a float type rounds float32 values
// to (the result is held as float32): shaders/strided.comp's ROUND
// constant is its value.
type FloatRound uint32

// The float precisions of Cast.
const (
	// RoundNone: FLOAT and DOUBLE (a float32 value is exact in both).
	RoundNone FloatRound = iota
	// RoundHalf: FLOAT16, to nearest even; beyond 65504 (from 65520 on)
	// ±inf; below 2^-14 the subnormals' 2^-24 steps.
	RoundHalf
	// RoundBFloat16: BFLOAT16, to nearest even (the top 16 bits of
	// float32); overflow gives ±inf.
	RoundBFloat16
)

// CastFloatRound returns the rounding of a Cast to the ONNX element type
// to; ok is false when to is not a float type.
func CastFloatRound(to int64) (r FloatRound, ok bool) {
	switch to {
	case 1, 11:
		return RoundNone, true
	case 10:
		return RoundHalf, true
	case 16:
		return RoundBFloat16, true
	}
	return 0, false
}

// Apply rounds v. NaN stays NaN, infinities and signed zeros stay.
func (r FloatRound) Apply(v float32) float32 {
	u := math.Float32bits(v)
	sign, abs := u&0x80000000, u&0x7fffffff
	if abs >= 0x7f800000 || r == RoundNone {
		return v // inf, NaN
	}
	switch r {
	case RoundHalf:
		switch {
		case abs >= 0x477ff000: // 65520: rounds past the largest half
			return math.Float32frombits(sign | 0x7f800000)
		case abs < 0x38800000: // below 2^-14: multiples of 2^-24
			q := math.RoundToEven(float64(math.Float32frombits(abs)) * (1 << 24))
			return math.Float32frombits(sign | math.Float32bits(float32(q/(1<<24))))
		}
		abs += 0xfff + (abs>>13)&1
		return math.Float32frombits(sign | abs&^0x1fff)
	case RoundBFloat16:
		u += 0x7fff + (u>>16)&1
		return math.Float32frombits(u &^ 0xffff)
	}
	return v
}
