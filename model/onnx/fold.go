package onnx

import (
	"errors"
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// MaxFoldElements caps the size of one value computed at load time; a node
// whose result would be larger stays in the graph.
const MaxFoldElements = 1 << 24

// MaxFoldTotal caps the elements all values computed at load time may hold
// together, beyond half an element per byte of the file: once it is spent,
// nodes stay in the graph. So a small file cannot make the importer compute
// and hold gigabytes (ConstantOfShape after ConstantOfShape).
const MaxFoldTotal = 1 << 26

// foldTotal is MaxFoldTotal, lowered by tests.
var foldTotal = MaxFoldTotal

// errNoFold: the node is left in the graph (a type or case the CPU
// evaluation does not cover); not an error of the model.
var errNoFold = errors.New("not folded")

// folder evaluates one op on constant inputs.
type folder func(n *node, in []*Tensor) ([]*Tensor, error)

// folders are the ops the importer evaluates on the CPU when all their
// inputs are constant. The arithmetic ones use layers/ref, the GPU ops'
// own oracle; the rest move data (PyTorch's shape subgraphs).
var folders map[string]folder

func init() {
	folders = map[string]folder{
		"Abs":             foldMath(math.Abs),
		"Floor":           foldMath(math.Floor),
		"Ceil":            foldMath(math.Ceil),
		"Sqrt":            foldMath(math.Sqrt),
		"Reciprocal":      foldMath(func(v float64) float64 { return 1 / v }),
		"Shape":           foldShape,
		"Size":            foldSize,
		"Gather":          foldGather,
		"Concat":          foldConcat,
		"Unsqueeze":       foldUnsqueeze,
		"Squeeze":         foldSqueeze,
		"Cast":            foldCast,
		"Reshape":         foldReshape,
		"Flatten":         foldFlatten,
		"Transpose":       foldTranspose,
		"Slice":           foldSlice,
		"ConstantOfShape": foldConstantOfShape,
		"Range":           foldRange,
	}
}

// fold evaluates n when its inputs are constant (or, for Shape, when its
// input's shape is fully known) and defines its outputs as constants.
func (imp *importer) fold(n *node) (bool, error) {
	f := folderOf(n.Op)
	if f == nil || imp.foldLeft < 0 {
		return false, nil
	}
	in := make([]*Tensor, len(n.Inputs))
	for i, name := range n.Inputs {
		t, ok := imp.consts[name]
		if !ok && n.Op == "Shape" && i == 0 {
			if s := imp.shapeOf(name); s != nil && static(s) {
				t, ok = &Tensor{Name: name, DType: Float, Shape: s}, true // only its shape is read
			}
		}
		if !ok {
			return false, nil
		}
		in[i] = t
	}
	out, err := f(n, in)
	if errors.Is(err, errNoFold) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("onnx: %s: evaluating it at load time: %v: %w", n.where(), err, ErrMalformed)
	}
	if len(out) != len(n.Outputs) {
		return false, nil // optional outputs this evaluation does not make
	}
	for _, t := range out {
		imp.foldLeft -= max(len(t.Float), len(t.Int))
	}
	if imp.foldLeft < 0 {
		return false, nil
	}
	for i, t := range out {
		imp.addConst(n.Outputs[i], t)
	}
	return true, nil
}

func static(s []int) bool {
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

func elems(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > MaxFoldElements/d {
			return 0, errNoFold
		}
		n *= d
	}
	if n > MaxFoldElements {
		return 0, errNoFold
	}
	return n, nil
}

func floats(in ...*Tensor) bool {
	for _, t := range in {
		if !t.DType.isFloat() {
			return false
		}
	}
	return true
}

// folderOf returns the folder of op: its own in folders, else foldOp for
// an op defined in package ops, else nil.
func folderOf(op string) folder {
	if f, ok := folders[op]; ok {
		return f
	}
	if ops.Lookup(op) != nil {
		return foldOp
	}
	return nil
}

// foldOp evaluates n with its definition in package ops: shapes first
// (ops.Infer: a shape error is a malformed model; a result over
// MaxFoldElements is not folded), then ops.Eval. Integer inputs are
// int64 there; results keep the inputs' integer type (all the same, not
// bool), wrapped as that type overflows. A case the
// definition does not cover, or an evaluation error, leaves the node in the
// graph for the loader to report.
func foldOp(n *node, in []*Tensor) ([]*Tensor, error) {
	mn := &model.Node{Name: n.Name, Op: n.Op, Inputs: n.Inputs, Outputs: n.Outputs, Attrs: n.Attrs}
	ins := make([]*ops.Tensor, len(in))
	vals := make([]ops.Value, len(in))
	intType, ints := DataType(0), true
	for i, t := range in {
		switch {
		case t.DType == Float:
			ins[i], ints = ops.F32(t.Shape, t.Float), false
		case t.DType.isInt() && t.DType != Bool && (intType == 0 || intType == t.DType):
			ins[i], intType = ops.I64(t.Shape, t.Int), t.DType
		default:
			return nil, errNoFold
		}
		vals[i] = ops.Value{Shape: t.Shape, Const: ins[i]}
	}
	shapes, err := ops.Infer(mn, vals)
	if errors.Is(err, ops.ErrUnsupported) {
		return nil, errNoFold
	}
	if err != nil {
		return nil, err
	}
	for _, s := range shapes {
		if s == nil {
			return nil, errNoFold
		}
		if _, err := elems(s); err != nil {
			return nil, err
		}
	}
	out, err := ops.Eval(mn, ins)
	if err != nil {
		return nil, errNoFold
	}
	res := make([]*Tensor, len(out))
	for i, t := range out {
		switch {
		case t.DType == ops.Float32 && !ints:
			res[i] = &Tensor{DType: Float, Shape: t.Shape, Float: t.Data}
		case t.DType == ops.Int64 && ints:
			y := make([]int64, len(t.Ints))
			for j, v := range t.Ints {
				y[j] = intType.wrap(v) // the input type's overflow
			}
			res[i] = &Tensor{DType: intType, Shape: t.Shape, Int: y}
		default:
			return nil, errNoFold // a type the definition would change
		}
	}
	return res, nil
}

func foldMath(f func(float64) float64) folder {
	return func(n *node, in []*Tensor) ([]*Tensor, error) {
		if len(in) != 1 || !floats(in[0]) {
			return nil, errNoFold
		}
		y := make([]float32, len(in[0].Float))
		for i, v := range in[0].Float {
			y[i] = float32(f(float64(v)))
		}
		return []*Tensor{{DType: Float, Shape: in[0].Shape, Float: y}}, nil
	}
}

// axisIn returns axis (negative counts from the end) as an index in
// [0, rank), or an error.
func axisIn(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

// shapeRange returns Shape's [start, end) (opset 15) clamped to the rank.
func shapeRange(n *node, rank int) (int, int) {
	clamp := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		return int(min(max(v, 0), int64(rank)))
	}
	start, end := clamp(n.intAttr("start", 0)), clamp(n.intAttr("end", int64(rank)))
	return start, max(start, end)
}

func foldShape(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 {
		return nil, errNoFold
	}
	start, end := shapeRange(n, len(in[0].Shape))
	v := make([]int64, 0, end-start)
	for _, d := range in[0].Shape[start:end] {
		v = append(v, int64(d))
	}
	return []*Tensor{{DType: Int64, Shape: []int{len(v)}, Int: v}}, nil
}

func foldSize(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 {
		return nil, errNoFold
	}
	return []*Tensor{{DType: Int64, Int: []int64{int64(in[0].Len())}}}, nil
}

// take returns the tensor of the given shape whose element i is t's
// element idx[i], of t's type.
func take(t *Tensor, shape []int, idx []int) *Tensor {
	out := &Tensor{DType: t.DType, Shape: shape}
	if t.DType.isFloat() {
		out.Float = make([]float32, len(idx))
		for i, j := range idx {
			out.Float[i] = t.Float[j]
		}
	} else {
		out.Int = make([]int64, len(idx))
		for i, j := range idx {
			out.Int[i] = t.Int[j]
		}
	}
	return out
}

func usable(t *Tensor) bool { return t.DType.isFloat() || t.DType.isInt() }

func foldGather(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 2 || !usable(in[0]) || !in[1].DType.isInt() {
		return nil, errNoFold
	}
	data, ind := in[0], in[1]
	axis, err := axisIn(n.intAttr("axis", 0), len(data.Shape))
	if err != nil {
		return nil, err
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
	shape := append(append(append([]int{}, data.Shape[:axis]...), ind.Shape...), data.Shape[axis+1:]...)
	total, err := elems(shape)
	if err != nil {
		return nil, err
	}
	idx := make([]int, 0, total)
	for o := 0; o < outer; o++ {
		for _, k := range ind.Int {
			if k < 0 {
				k += int64(dim)
			}
			if k < 0 || k >= int64(dim) {
				return nil, fmt.Errorf("index %d is out of range for dimension %d of size %d", k, axis, dim)
			}
			for i := 0; i < inner; i++ {
				idx = append(idx, (o*dim+int(k))*inner+i)
			}
		}
	}
	return []*Tensor{take(data, shape, idx)}, nil
}

func foldConcat(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) == 0 || !usable(in[0]) {
		return nil, errNoFold
	}
	first := in[0]
	axis, err := axisIn(n.intAttr("axis", 0), len(first.Shape))
	if err != nil {
		return nil, err
	}
	shape := append([]int{}, first.Shape...)
	shape[axis] = 0
	for _, t := range in {
		if t.DType.isInt() != first.DType.isInt() || !usable(t) {
			return nil, errNoFold
		}
		if len(t.Shape) != len(shape) {
			return nil, fmt.Errorf("inputs of ranks %d and %d", len(first.Shape), len(t.Shape))
		}
		for i, d := range t.Shape {
			if i != axis && d != shape[i] {
				return nil, fmt.Errorf("input shapes %v and %v differ outside axis %d", first.Shape, t.Shape, axis)
			}
		}
		shape[axis] += t.Shape[axis]
	}
	if _, err := elems(shape); err != nil {
		return nil, err
	}
	outer := 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	out := &Tensor{DType: first.DType, Shape: shape, Float: []float32{}, Int: []int64{}}
	for o := 0; o < outer; o++ {
		for _, t := range in {
			chunk := t.Len() / outer // the elements of t under one index of the leading dims
			if out.DType.isFloat() {
				out.Float = append(out.Float, t.Float[o*chunk:(o+1)*chunk]...)
			} else {
				out.Int = append(out.Int, t.Int[o*chunk:(o+1)*chunk]...)
			}
		}
	}
	if out.DType.isFloat() {
		out.Int = nil
	} else {
		out.Float = nil
	}
	return []*Tensor{out}, nil
}

// reshaped returns t with a new shape of the same size.
func reshaped(t *Tensor, shape []int) *Tensor {
	c := *t
	c.Shape = shape
	return &c
}

func axesAttr(n *node) ([]int64, bool) {
	a, ok := n.Attrs["axes"]
	if !ok || a.Kind != model.AttrInts {
		return nil, false
	}
	return a.Ints, true
}

func foldUnsqueeze(n *node, in []*Tensor) ([]*Tensor, error) {
	axes, ok := axesAttr(n)
	if len(in) != 1 || !ok {
		return nil, errNoFold
	}
	s, err := ops.UnsqueezeDims(in[0].Shape, axes)
	if err != nil {
		return nil, err
	}
	return []*Tensor{reshaped(in[0], s)}, nil
}

func foldSqueeze(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 {
		return nil, errNoFold
	}
	axes, ok := axesAttr(n)
	if !ok {
		for _, d := range in[0].Shape {
			if d < 0 {
				return nil, errNoFold // which dimensions go depends on unknown sizes
			}
		}
	}
	s, err := ops.SqueezeDims(in[0].Shape, axes, !ok)
	if err != nil {
		return nil, err
	}
	return []*Tensor{reshaped(in[0], s)}, nil
}

// foldCast converts between the element types the importer holds, as
// ONNX Runtime does: to a float type by rounding to its precision, from a
// float to an integer toward zero (values out of int64's range are left to
// run time), between integers by two's complement truncation, to BOOL by
// v != 0 (NaN is true).
func foldCast(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 || !usable(in[0]) {
		return nil, errNoFold
	}
	x := in[0]
	to := DataType(n.intAttr("to", 0))
	switch {
	case to.isFloat():
		y := make([]float32, x.Len())
		for i := range y {
			if x.DType.isFloat() {
				y[i] = to.round(x.Float[i])
			} else {
				y[i] = to.round(float32(x.Int[i]))
			}
		}
		return []*Tensor{{DType: to, Shape: x.Shape, Float: y}}, nil
	case to.isInt():
		y := make([]int64, x.Len())
		for i := range y {
			if x.DType.isInt() {
				y[i] = to.wrap(x.Int[i])
				continue
			}
			f := float64(x.Float[i])
			if to == Bool {
				if f != 0 { // NaN too
					y[i] = 1
				}
				continue
			}
			if !finite(f) || math.Abs(f) >= 1<<62 {
				return nil, errNoFold
			}
			y[i] = to.wrap(int64(f)) // toward zero, as C and ONNX Runtime
		}
		return []*Tensor{{DType: to, Shape: x.Shape, Int: y}}, nil
	}
	return nil, errNoFold
}

// product returns the product of dims (>= 0), false when it overflows.
func product(dims []int) (int, bool) {
	n := 1
	for _, d := range dims {
		if d != 0 && n > math.MaxInt64/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// reshapeShape resolves Reshape's target against the input shape in: 0
// copies the input's dimension (unless allowzero), one -1 takes what is
// left. Dimensions of in may be -1 (unknown): the result then has -1 where
// it cannot be known.
func reshapeShape(in []int, shape []int64, allowzero bool) ([]int, error) {
	out := make([]int, len(shape))
	neg := -1
	known := 1
	for i, d := range shape {
		switch {
		case d == 0 && !allowzero:
			if i >= len(in) {
				return nil, fmt.Errorf("shape %v copies dimension %d of an input of rank %d", shape, i, len(in))
			}
			out[i] = in[i]
		case d == -1:
			neg = i
			out[i] = -1
			continue
		case d < -1:
			return nil, fmt.Errorf("shape %v has %d", shape, d)
		default:
			out[i] = int(d)
		}
		if out[i] < 0 {
			known = -1
		} else if known >= 0 {
			if out[i] != 0 && known > math.MaxInt64/out[i] {
				return nil, fmt.Errorf("shape %v has more elements than an int holds", shape)
			}
			known *= out[i]
		}
	}
	if static(in) {
		if _, ok := product(in); !ok {
			return nil, fmt.Errorf("input shape %v has more elements than an int holds", in)
		}
	}
	if neg >= 0 && known > 0 && static(in) {
		total, _ := product(in)
		if total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, shape)
		}
		out[neg] = total / known
	}
	if static(in) && static(out) {
		a, _ := product(in)
		b, ok := product(out)
		if !ok || a != b {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d)", in, a, shape, b)
		}
	}
	return out, nil
}

func foldReshape(n *node, in []*Tensor) ([]*Tensor, error) {
	a, ok := n.Attrs["shape"]
	if len(in) != 1 || !ok {
		return nil, errNoFold
	}
	s, err := reshapeShape(in[0].Shape, a.Ints, n.intAttr("allowzero", 0) != 0)
	if err != nil {
		return nil, err
	}
	if !static(s) {
		return nil, fmt.Errorf("cannot reshape %v to %v", in[0].Shape, a.Ints)
	}
	return []*Tensor{reshaped(in[0], s)}, nil
}

// flattenShape is Flatten's output shape (-1 where unknown).
func flattenShape(s []int, axis int64) ([]int, error) {
	r := int64(len(s))
	if axis < 0 {
		axis += r
	}
	if axis < 0 || axis > r {
		return nil, fmt.Errorf("axis %d is out of range for rank %d", axis, r)
	}
	out := []int{1, 1}
	for i, d := range s {
		k := 0
		if int64(i) >= axis {
			k = 1
		}
		if d < 0 || out[k] < 0 {
			out[k] = -1
		} else {
			out[k] *= d
		}
	}
	return out, nil
}

func foldFlatten(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 {
		return nil, errNoFold
	}
	s, err := flattenShape(in[0].Shape, n.intAttr("axis", 1))
	if err != nil {
		return nil, err
	}
	return []*Tensor{reshaped(in[0], s)}, nil
}

// perm returns Transpose's permutation for rank r (default: reversed).
func perm(n *node, r int) ([]int, error) {
	p := make([]int, r)
	a, ok := n.Attrs["perm"]
	if !ok {
		for i := range p {
			p[i] = r - 1 - i
		}
		return p, nil
	}
	if len(a.Ints) != r {
		return nil, fmt.Errorf("perm %v for rank %d", a.Ints, r)
	}
	seen := make([]bool, r)
	for i, v := range a.Ints {
		if v < 0 || v >= int64(r) || seen[v] {
			return nil, fmt.Errorf("perm %v is not a permutation", a.Ints)
		}
		seen[v] = true
		p[i] = int(v)
	}
	return p, nil
}

func foldTranspose(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 || !usable(in[0]) {
		return nil, errNoFold
	}
	x := in[0]
	p, err := perm(n, len(x.Shape))
	if err != nil {
		return nil, err
	}
	r := len(p)
	shape := make([]int, r)
	for i, j := range p {
		shape[i] = x.Shape[j]
	}
	stride := make([]int, r) // x's stride of each input dim
	s := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = s
		s *= x.Shape[i]
	}
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
}

func foldSlice(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) == 0 || !usable(in[0]) {
		return nil, errNoFold
	}
	x := in[0]
	var starts, ends, axes, steps []int64
	if len(in) == 1 { // opset < 10: attributes
		starts, ends = n.Attrs["starts"].Ints, n.Attrs["ends"].Ints
		if a, ok := n.Attrs["axes"]; ok {
			axes = a.Ints
		}
		if a, ok := n.Attrs["steps"]; ok { // normSlice's, from opset 10
			steps = a.Ints
		}
	} else {
		if len(in) < 3 {
			return nil, errNoFold
		}
		for i, dst := range []*[]int64{&starts, &ends, &axes, &steps} {
			if i+1 < len(in) {
				if !in[i+1].DType.isInt() {
					return nil, errNoFold
				}
				*dst = in[i+1].Int
			}
		}
	}
	if len(ends) != len(starts) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts %v, ends %v, axes %v and steps %v differ in length", starts, ends, axes, steps)
	}
	r := len(x.Shape)
	lo, step, cnt := make([]int, r), make([]int, r), append([]int{}, x.Shape...)
	for i := range step {
		step[i] = 1
	}
	for i := range starts {
		ax := int64(i)
		if axes != nil {
			ax = axes[i]
		}
		a, err := axisIn(ax, r)
		if err != nil {
			return nil, err
		}
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, fmt.Errorf("step 0")
		}
		d := int64(x.Shape[a])
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
			c = (e-b-1)/st + 1 // no overflow for any step
		} else if st < 0 && b > e {
			c = (b-e-1)/-max(st, -math.MaxInt64) + 1
		}
		lo[a], step[a], cnt[a] = int(b), int(st), int(c)
	}
	total, err := elems(cnt)
	if err != nil {
		return nil, err
	}
	stride := make([]int, r)
	s := 1
	for i := r - 1; i >= 0; i-- {
		stride[i] = s
		s *= x.Shape[i]
	}
	idx := make([]int, 0, total)
	pos := make([]int, r)
	for i := 0; i < total; i++ {
		off := 0
		for d := 0; d < r; d++ {
			off += (lo[d] + pos[d]*step[d]) * stride[d]
		}
		idx = append(idx, off)
		for d := r - 1; d >= 0; d-- {
			if pos[d]++; pos[d] < cnt[d] {
				break
			}
			pos[d] = 0
		}
	}
	return []*Tensor{take(x, cnt, idx)}, nil
}

func foldConstantOfShape(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 1 || !in[0].DType.isInt() {
		return nil, errNoFold
	}
	shape := make([]int, len(in[0].Int))
	for i, d := range in[0].Int {
		if d < 0 || d > MaxFoldElements {
			return nil, fmt.Errorf("shape %v", in[0].Int)
		}
		shape[i] = int(d)
	}
	total, err := elems(shape)
	if err != nil {
		return nil, err
	}
	v := &Tensor{DType: Float, Float: []float32{0}}
	if t := n.Tensors["value"]; t != nil {
		if t.Len() != 1 || !usable(t) {
			return nil, errNoFold
		}
		v = t
	}
	return []*Tensor{take(v, shape, make([]int, total))}, nil
}

func foldRange(n *node, in []*Tensor) ([]*Tensor, error) {
	if len(in) != 3 {
		return nil, errNoFold
	}
	for _, t := range in {
		if t.Len() != 1 || t.DType != in[0].DType || !usable(t) {
			return nil, errNoFold
		}
	}
	if in[0].DType.isInt() {
		start, limit, delta := in[0].Int[0], in[1].Int[0], in[2].Int[0]
		if delta == 0 {
			return nil, fmt.Errorf("delta 0")
		}
		cnt := max(int64(math.Ceil(float64(limit-start)/float64(delta))), 0)
		if cnt > MaxFoldElements {
			return nil, errNoFold
		}
		out := &Tensor{DType: in[0].DType, Shape: []int{int(cnt)}, Int: make([]int64, cnt)}
		for i := range out.Int {
			out.Int[i] = start + int64(i)*delta
		}
		return []*Tensor{out}, nil
	}
	start, limit, delta := float64(in[0].Float[0]), float64(in[1].Float[0]), float64(in[2].Float[0])
	if delta == 0 || !finite(start) || !finite(limit) || !finite(delta) {
		return nil, errNoFold
	}
	c := math.Max(math.Ceil((limit-start)/delta), 0)
	if c > MaxFoldElements {
		return nil, errNoFold
	}
	out := &Tensor{DType: Float, Shape: []int{int(c)}, Float: make([]float32, int(c))}
	for i := range out.Float {
		out.Float[i] = float32(start + float64(i)*delta)
	}
	return []*Tensor{out}, nil
}
