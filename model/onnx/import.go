package onnx

import (
	"container/heap"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx/internal/pb"
)

// node is a graph node while the importer works on it. Op is the ONNX op
// type, prefixed with its domain ("com.microsoft.X") outside the default
// one. Inputs keep ONNX's empty names for absent optional inputs until
// the node is emitted.
type node struct {
	Name    string
	Op      string
	Default bool // in the default (ai.onnx) domain: normalised, folded
	Inputs  []string
	Outputs []string
	Attrs   map[string]model.Attr
	Tensors map[string]*Tensor // tensor-valued attributes (Constant's value)
}

// in returns input i, or "" when the node has fewer inputs.
func (n *node) in(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// intAttr returns the int attribute name, or def.
func (n *node) intAttr(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == model.AttrInt {
		return a.Int
	}
	return def
}

// floatAttr returns the float attribute name, or def.
func (n *node) floatAttr(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Kind == model.AttrFloat {
		return a.Float
	}
	return def
}

// setDefault sets attribute name to def unless the node has it.
func (n *node) setDefault(name string, def model.Attr) {
	if _, ok := n.Attrs[name]; !ok {
		n.Attrs[name] = def
	}
}

// where names the node in errors.
func (n *node) where() string { return fmt.Sprintf("node %q (%s)", n.Name, n.Op) }

// importer holds the state of one import.
type importer struct {
	opset int64 // of the default domain
	ir    int64 // the file's IR version

	foldLeft int // elements folding may still make (MaxFoldTotal)

	consts     map[string]*Tensor  // constant values: initializers, Constant outputs, folded results
	constOrder []string            // the order constants were defined, for the output
	sym        map[string][]symDim // symbolic elements of shape values (see shapes.go)
	symScalar  map[string]bool
	shapes     map[string][]int // known shapes of run-time values; nil: unknown rank
	declared   map[string][]int // shapes from the graph's value_info
	defined    map[string]bool  // every value defined so far
	dropped    map[string]string
	inputs     []model.ValueInfo
	defaults   []*model.Tensor // of inputs that are initializers too (IR >= 4)
	isInput    map[string]bool
	nodes      []*node
	names      map[string]bool // value and node names in use
}

func importModel(mp *pb.ModelProto, size int, opts Options) (*model.Model, error) {
	imp := &importer{
		foldLeft:  foldTotal + size/2,
		opset:     1,
		ir:        mp.GetIrVersion(),
		consts:    map[string]*Tensor{},
		sym:       map[string][]symDim{},
		symScalar: map[string]bool{},
		shapes:    map[string][]int{},
		declared:  map[string][]int{},
		defined:   map[string]bool{},
		dropped:   map[string]string{},
		isInput:   map[string]bool{},
		names:     map[string]bool{},
	}
	for _, o := range mp.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			imp.opset = o.GetVersion()
		}
	}
	g := mp.GetGraph()
	m := &model.Model{
		Name:        g.GetName(),
		Producer:    strings.TrimSpace(mp.GetProducerName() + " " + mp.GetProducerVersion()),
		Description: mp.GetDocString(),
	}
	if m.Description == "" {
		m.Description = g.GetDocString()
	}
	for _, s := range []*string{&m.Name, &m.Producer, &m.Description} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	if err := imp.readGraph(g, opts); err != nil {
		return nil, err
	}
	if err := imp.finish(g, m); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("onnx: the imported graph is not valid: %w: %w", ErrMalformed, err)
	}
	return m, nil
}

// addConst defines a constant value.
func (imp *importer) addConst(name string, t *Tensor) {
	t.Name = name
	if _, ok := imp.consts[name]; !ok {
		imp.constOrder = append(imp.constOrder, name)
	}
	imp.consts[name] = t
	imp.defined[name] = true
	imp.names[name] = true
}

// validShape reports whether s has no negative dims, rank <= MaxRank and
// at most MaxElements elements.
func validShape(s []int) bool {
	dims := make([]int64, len(s))
	for i, d := range s {
		dims[i] = int64(d)
	}
	_, _, err := checkDims("", dims)
	return err == nil
}

// unConst forgets the constant name (an initializer that is an input).
func (imp *importer) unConst(name string) {
	delete(imp.consts, name)
	delete(imp.defined, name)
	for i, n := range imp.constOrder {
		if n == name {
			imp.constOrder = append(imp.constOrder[:i:i], imp.constOrder[i+1:]...)
			break
		}
	}
}

// fresh returns a name based on base that is not used yet, and reserves it.
func (imp *importer) fresh(base string) string {
	name := base
	for i := 1; imp.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	imp.names[name] = true
	return name
}

// shapeOf returns what is known of a value's shape: a constant's shape, an
// inferred or declared shape; nil when the rank is unknown.
func (imp *importer) shapeOf(name string) []int {
	if t, ok := imp.consts[name]; ok {
		return t.Shape
	}
	if s, ok := imp.shapes[name]; ok && s != nil {
		return s
	}
	return imp.declared[name]
}

func (imp *importer) readGraph(g *pb.GraphProto, opts Options) error {
	if len(g.GetSparseInitializer()) > 0 {
		return fmt.Errorf("onnx: graph has %d sparse initializer(s) (first %q): %w", len(g.GetSparseInitializer()),
			g.GetSparseInitializer()[0].GetValues().GetName(), ErrUnsupported)
	}
	for _, tp := range g.GetInitializer() {
		name := tp.GetName()
		if name == "" {
			return fmt.Errorf("onnx: an initializer has no name: %w", ErrMalformed)
		}
		if imp.defined[name] {
			return fmt.Errorf("onnx: initializer %q is defined twice: %w", name, ErrMalformed)
		}
		t, err := tensorFromProto(tp, "initializer")
		if err != nil {
			return err
		}
		imp.addConst(name, t)
	}
	for _, vi := range g.GetValueInfo() {
		if s, err := valueShape("value", vi); err == nil && s != nil {
			imp.declared[vi.GetName()] = s
		}
	}
	bound := map[string]bool{}
	for _, vi := range g.GetInput() {
		name := vi.GetName()
		var def *Tensor // the default of an overridable initializer
		if c, ok := imp.consts[name]; ok {
			if imp.ir < 4 || !c.DType.isFloat() || DataType(vi.GetType().GetTensorType().GetElemType()) != Float {
				continue // an initializer listed as an input too (IR < 4): a constant
			}
			// IR >= 4: a default the caller may override, so an input.
			def = c
			imp.unConst(name)
		}
		if name == "" || imp.defined[name] {
			return fmt.Errorf("onnx: graph input %q: empty or duplicate name: %w", name, ErrMalformed)
		}
		shape, err := valueShape("graph input", vi)
		if t, ok := opts.Constants[name]; ok {
			if t == nil || !validShape(t.Shape) || len(t.Float)+len(t.Int) != t.Len() || (!t.DType.isFloat() && !t.DType.isInt()) ||
				(t.DType.isFloat() && t.Int != nil) || (t.DType.isInt() && t.Float != nil) {
				return fmt.Errorf("onnx: Options.Constants[%q]: not a FLOAT or INT64 tensor whose data matches its shape", name)
			}
			if err == nil && shape != nil && !compatible(shape, t.Shape) {
				return fmt.Errorf("onnx: Options.Constants[%q] has shape %v, the input takes %v", name, t.Shape, shape)
			}
			c := *t
			imp.addConst(name, &c)
			bound[name] = true
			continue
		}
		if err != nil {
			return err
		}
		if def != nil {
			if shape == nil {
				shape = def.Shape
			}
			if !compatible(shape, def.Shape) {
				return fmt.Errorf("onnx: graph input %q takes shape %v, its initializer has %v: %w", name, shape, def.Shape, ErrMalformed)
			}
			t, err := def.Float32()
			if err != nil {
				return err
			}
			imp.defaults = append(imp.defaults, t)
		}
		// An input without a shape (not even a rank) takes the shape of the
		// tensor given at run time: its shape stays unknown (nil) here and
		// is known when a plan is made for that tensor.
		imp.inputs = append(imp.inputs, model.ValueInfo{Name: name, Shape: shape, AnyShape: shape == nil})
		imp.isInput[name] = true
		imp.defined[name] = true
		imp.names[name] = true
		imp.shapes[name] = shape
	}
	for name := range opts.Constants {
		if !bound[name] {
			return fmt.Errorf("onnx: Options.Constants names %q, which is not a graph input", name)
		}
	}
	order, err := topoOrder(g.GetNode(), imp.defined)
	if err != nil {
		return err
	}
	nodeNames := map[string]bool{}
	for _, i := range order {
		n, err := imp.convertNode(i, g.GetNode()[i], nodeNames)
		if err != nil {
			return err
		}
		if err := imp.addNode(n); err != nil {
			return err
		}
	}
	return nil
}

// topoOrder returns the indices of nodes in an order where each node comes
// after the nodes computing its inputs (some converters write nodes in
// another order), keeping the file's order wherever it already is one.
// defined are the values no node computes (graph inputs, initializers).
// Inputs nothing computes are left for addNode to report. A cycle is
// ErrMalformed naming a node on it.
func topoOrder(nodes []*pb.NodeProto, defined map[string]bool) ([]int, error) {
	producer := map[string]int{}
	for i, np := range nodes {
		for _, o := range np.GetOutput() {
			if _, dup := producer[o]; !dup && o != "" && !defined[o] {
				producer[o] = i
			}
		}
	}
	waiting := make([]int, len(nodes)) // inputs not computed yet
	readers := make([][]int, len(nodes))
	for i, np := range nodes {
		for _, in := range np.GetInput() {
			if p, ok := producer[in]; ok && in != "" {
				waiting[i]++
				readers[p] = append(readers[p], i)
			}
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if waiting[i] == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]int, 0, len(nodes))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, i)
		for _, r := range readers[i] {
			if waiting[r]--; waiting[r] == 0 {
				heap.Push(ready, r)
			}
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	// Every node left waits for another node left: walk back from one
	// along inputs until a node repeats; that node is on a cycle.
	at := -1
	for i := range nodes {
		if waiting[i] > 0 {
			at = i
			break
		}
	}
	seen := map[int]bool{}
	var via string
	for !seen[at] {
		seen[at] = true
		for _, in := range nodes[at].GetInput() {
			if p, ok := producer[in]; ok && waiting[p] > 0 {
				at, via = p, in
				break
			}
		}
	}
	np := nodes[at]
	return nil, fmt.Errorf("onnx: node %d (%q, %s) is on a cycle: its output %q is needed to compute its own inputs: %w",
		at, strings.ToValidUTF8(np.GetName(), "\uFFFD"), np.GetOpType(), via, ErrMalformed)
}

// intHeap is a min-heap of node indices (container/heap).
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// valueShape returns the shape of a graph input or output: -1 for a
// dim_param or missing dim; nil when no shape is given. Only float32
// tensors are accepted.
func valueShape(what string, vi *pb.ValueInfoProto) ([]int, error) {
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return nil, fmt.Errorf("onnx: %s %q is not a tensor (sequence, map, optional or sparse values are %w)", what, vi.GetName(), ErrUnsupported)
	}
	if dt := DataType(tt.GetElemType()); dt != Float {
		return nil, fmt.Errorf("onnx: %s %q has element type %s: %w (inputs and outputs must be FLOAT)", what, vi.GetName(), dt, ErrUnsupported)
	}
	sp := tt.GetShape()
	if sp == nil {
		return nil, nil
	}
	if len(sp.GetDim()) > MaxRank {
		return nil, fmt.Errorf("onnx: %s %q: rank %d is over the limit of %d: %w", what, vi.GetName(), len(sp.GetDim()), MaxRank, ErrMalformed)
	}
	shape := make([]int, len(sp.GetDim()))
	for i, d := range sp.GetDim() {
		shape[i] = -1
		if v, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok {
			if v.DimValue < 0 || v.DimValue > MaxElements {
				return nil, fmt.Errorf("onnx: %s %q: dimension %d is %d: %w", what, vi.GetName(), i, v.DimValue, ErrMalformed)
			}
			shape[i] = int(v.DimValue)
		}
	}
	return shape, nil
}

func compatible(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] >= 0 && b[i] >= 0 && a[i] != b[i] {
			return false
		}
	}
	return true
}

// convertNode reads a NodeProto: names (a missing or repeated node name
// becomes Op_index), domain, attributes.
func (imp *importer) convertNode(i int, np *pb.NodeProto, nodeNames map[string]bool) (*node, error) {
	op := np.GetOpType()
	if op == "" {
		return nil, fmt.Errorf("onnx: node %d (%q) has no op type: %w", i, np.GetName(), ErrMalformed)
	}
	n := &node{Name: strings.ToValidUTF8(np.GetName(), "\uFFFD"), Op: op, Attrs: map[string]model.Attr{}}
	switch d := np.GetDomain(); d {
	case "", "ai.onnx":
		n.Default = true
	default:
		n.Op = d + "." + op
	}
	if n.Name == "" || nodeNames[n.Name] {
		base := n.Name
		if base == "" {
			base = op
		}
		name := fmt.Sprintf("%s_%d", base, i)
		for j := 1; nodeNames[name]; j++ {
			name = fmt.Sprintf("%s_%d_%d", base, i, j)
		}
		n.Name = name
	}
	nodeNames[n.Name] = true
	n.Inputs = append([]string(nil), np.GetInput()...)
	n.Outputs = append([]string(nil), np.GetOutput()...)
	seen := map[string]bool{}
	for _, a := range np.GetAttribute() {
		name := a.GetName()
		if name == "" || !utf8.ValidString(name) {
			return nil, fmt.Errorf("onnx: %s: an attribute has an invalid name %q: %w", n.where(), name, ErrMalformed)
		}
		if seen[name] {
			return nil, fmt.Errorf("onnx: %s: attribute %q is given twice: %w", n.where(), name, ErrMalformed)
		}
		seen[name] = true
		if a.GetRefAttrName() != "" {
			continue // only inside functions, which are not imported
		}
		typ := a.GetType()
		if typ == pb.AttributeProto_UNDEFINED { // old files: guess from the field set
			switch {
			case a.T != nil:
				typ = pb.AttributeProto_TENSOR
			case a.F != nil:
				typ = pb.AttributeProto_FLOAT
			case a.I != nil:
				typ = pb.AttributeProto_INT
			case a.S != nil:
				typ = pb.AttributeProto_STRING
			case len(a.Floats) > 0:
				typ = pb.AttributeProto_FLOATS
			case len(a.Ints) > 0:
				typ = pb.AttributeProto_INTS
			}
		}
		switch typ {
		case pb.AttributeProto_FLOAT:
			n.Attrs[name] = model.FloatAttr(a.GetF())
		case pb.AttributeProto_INT:
			n.Attrs[name] = model.IntAttr(a.GetI())
		case pb.AttributeProto_STRING:
			n.Attrs[name] = model.StringAttr(strings.ToValidUTF8(string(a.GetS()), "\uFFFD"))
		case pb.AttributeProto_FLOATS:
			n.Attrs[name] = model.FloatsAttr(append([]float32{}, a.GetFloats()...)...)
		case pb.AttributeProto_INTS:
			n.Attrs[name] = model.IntsAttr(append([]int64{}, a.GetInts()...)...)
		case pb.AttributeProto_TENSOR:
			t, err := tensorFromProto(a.GetT(), fmt.Sprintf("attribute %q of %s", name, n.where()))
			if err != nil {
				return nil, err
			}
			if n.Tensors == nil {
				n.Tensors = map[string]*Tensor{}
			}
			n.Tensors[name] = t
		default:
			// Graphs (If, Loop, Scan), sparse tensors, strings, type
			// protos: no op this importer runs takes them, and the op
			// is reported unsupported when the model is loaded.
		}
		want, ok := attrTypes[name]
		if w, own := opAttrTypes[n.Op][name]; own {
			want, ok = w, true
		}
		if ok && n.Default && typ != want && knownOp(n.Op) {
			return nil, fmt.Errorf("onnx: %s: attribute %q has type %s, want %s: %w", n.where(), name, typ, want, ErrMalformed)
		}
	}
	return n, nil
}

// attrTypes are the types ONNX gives the attributes the importer reads
// itself, checked for the ops it normalises, folds or infers shapes of
// (knownOp), so that a reader of an attribute never sees another type.
var attrTypes = map[string]pb.AttributeProto_AttributeType{
	"axis": pb.AttributeProto_INT, "axes": pb.AttributeProto_INTS, "alpha": pb.AttributeProto_FLOAT,
	"beta": pb.AttributeProto_FLOAT, "gamma": pb.AttributeProto_FLOAT, "transA": pb.AttributeProto_INT,
	"transB": pb.AttributeProto_INT, "to": pb.AttributeProto_INT, "perm": pb.AttributeProto_INTS,
	"min": pb.AttributeProto_FLOAT, "max": pb.AttributeProto_FLOAT, "shape": pb.AttributeProto_INTS,
	"allowzero": pb.AttributeProto_INT, "start": pb.AttributeProto_INT, "end": pb.AttributeProto_INT,
	"starts": pb.AttributeProto_INTS, "ends": pb.AttributeProto_INTS, "value": pb.AttributeProto_TENSOR,
	"value_float": pb.AttributeProto_FLOAT, "value_floats": pb.AttributeProto_FLOATS,
	"value_int": pb.AttributeProto_INT, "value_ints": pb.AttributeProto_INTS, "ratio": pb.AttributeProto_FLOAT,
	"is_test": pb.AttributeProto_INT, "broadcast": pb.AttributeProto_INT,
}

// opAttrTypes are attributes whose type differs by op from attrTypes.
var opAttrTypes = map[string]map[string]pb.AttributeProto_AttributeType{
	"Pad": {"value": pb.AttributeProto_FLOAT},
}

// arity is the number of inputs ONNX gives the ops the importer reads
// itself: the first min are required (non-empty), at most max (-1: any).
type arity struct{ min, max int }

var arities = map[string]arity{
	"Constant": {0, 0}, "Clip": {1, 3}, "Reshape": {1, 2}, "Dropout": {1, 3}, "Gemm": {2, 3}, "Squeeze": {1, 2},
	"Unsqueeze": {1, 2}, "MatMul": {2, 2}, "Shape": {1, 1}, "Size": {1, 1}, "Gather": {2, 2}, "Concat": {1, -1},
	"Cast": {1, 1}, "Transpose": {1, 1}, "Slice": {1, 5}, "ConstantOfShape": {1, 1}, "Range": {3, 3}, "Flatten": {1, 1},
}

// checkArity checks the input count of a default-domain op the importer
// reads (arities, unaryOps: 1, binaryOps: 2) and that it has an output.
func checkArity(n *node) error {
	if !n.Default || !knownOp(n.Op) {
		return nil
	}
	a, ok := arities[n.Op]
	switch {
	case ok:
	case unaryOps[n.Op]:
		a = arity{1, 1}
	case binaryOps[n.Op]:
		a = arity{2, 2}
	default:
		return nil
	}
	if len(n.Inputs) < a.min || (a.max >= 0 && len(n.Inputs) > a.max) {
		want := fmt.Sprintf("%d to %d", a.min, a.max)
		if a.max < 0 {
			want = fmt.Sprintf("at least %d", a.min)
		} else if a.min == a.max {
			want = fmt.Sprint(a.min)
		}
		return fmt.Errorf("onnx: %s takes %s inputs, has %d: %w", n.where(), want, len(n.Inputs), ErrMalformed)
	}
	for i := 0; i < a.min; i++ {
		if n.Inputs[i] == "" {
			return fmt.Errorf("onnx: %s: required input %d is empty: %w", n.where(), i, ErrMalformed)
		}
	}
	if len(n.Outputs) == 0 || n.Outputs[0] == "" {
		return fmt.Errorf("onnx: %s has no output: %w", n.where(), ErrMalformed)
	}
	return nil
}

// knownOp reports whether the importer reads attributes of op (of the
// default domain) itself.
func knownOp(op string) bool {
	_, norm := normalisers[op]
	_, fold := folders[op]
	return norm || fold || unaryOps[op] || binaryOps[op]
}

// addNode checks that n reads defined values, normalises it, folds it when
// its inputs are constant, and otherwise appends it to the graph.
func (imp *importer) addNode(n *node) error {
	for j, in := range n.Inputs {
		if in == "" || imp.defined[in] {
			continue
		}
		if why, ok := imp.dropped[in]; ok {
			return fmt.Errorf("onnx: %s: input %d %q is %s, which the importer drops: %w", n.where(), j, in, why, ErrUnsupported)
		}
		return fmt.Errorf("onnx: %s: input %d %q is not a graph input, an initializer or an output of any node: %w",
			n.where(), j, in, ErrMalformed)
	}
	for _, out := range n.Outputs {
		if out == "" {
			continue
		}
		if imp.defined[out] {
			return fmt.Errorf("onnx: %s: output %q is already defined (ONNX graphs are SSA): %w", n.where(), out, ErrMalformed)
		}
	}
	if err := checkArity(n); err != nil {
		return err
	}
	delete(n.Attrs, "consumed_inputs") // legacy (opset < 6), meaningless here
	keep := true
	if n.Default {
		if norm, ok := normalisers[n.Op]; ok {
			var err error
			if keep, err = norm(imp, n); err != nil {
				return err
			}
		}
	}
	if !keep {
		return nil
	}
	// Drop trailing absent optional inputs and outputs: they are simply not
	// there. An absent input before a present one keeps its place as ""
	// (ops.Value.Absent), so the inputs after it keep their positions.
	for len(n.Inputs) > 0 && n.Inputs[len(n.Inputs)-1] == "" {
		n.Inputs = n.Inputs[:len(n.Inputs)-1]
	}
	for len(n.Outputs) > 0 && n.Outputs[len(n.Outputs)-1] == "" {
		n.Outputs = n.Outputs[:len(n.Outputs)-1]
	}
	for i, out := range n.Outputs {
		if out == "" {
			n.Outputs[i] = imp.fresh(n.Name + "_unused")
		}
	}
	if len(n.Outputs) == 0 {
		return fmt.Errorf("onnx: %s has no outputs: %w", n.where(), ErrMalformed)
	}
	for _, out := range n.Outputs {
		imp.defined[out] = true
		imp.names[out] = true
	}
	if n.Default {
		done, err := imp.fold(n)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		imp.symbolic(n)
		imp.infer(n)
	}
	imp.names[n.Name] = true
	imp.nodes = append(imp.nodes, n)
	return nil
}

// finish cleans the graph up (Identity, Dense, dead nodes) and fills m.
func (imp *importer) finish(g *pb.GraphProto, m *model.Model) error {
	var outputs []model.ValueInfo
	seen := map[string]bool{}
	for _, vi := range g.GetOutput() {
		name := vi.GetName()
		if name == "" || seen[name] {
			return fmt.Errorf("onnx: graph output %q: empty or duplicate name: %w", name, ErrMalformed)
		}
		seen[name] = true
		shape, err := valueShape("graph output", vi)
		if err != nil {
			return err
		}
		if !imp.defined[name] {
			if why, ok := imp.dropped[name]; ok {
				return fmt.Errorf("onnx: graph output %q is %s, which the importer drops: %w", name, why, ErrUnsupported)
			}
			return fmt.Errorf("onnx: graph output %q is not computed by any node: %w", name, ErrMalformed)
		}
		outputs = append(outputs, model.ValueInfo{Name: name, Shape: shape})
	}
	if len(outputs) == 0 {
		return fmt.Errorf("onnx: the graph has no outputs: %w", ErrMalformed)
	}
	isOutput := map[string]bool{}
	for _, o := range outputs {
		isOutput[o.Name] = true
	}
	imp.removeIdentities(isOutput)
	imp.fuseDense(isOutput)
	imp.removeDead(isOutput)
	for i, o := range outputs {
		if c, ok := imp.consts[o.Name]; ok {
			imp.constOutput(o.Name, c)
		}
		if s := imp.shapes[o.Name]; outputs[i].Shape == nil && s != nil {
			outputs[i].Shape = append([]int(nil), s...)
		}
	}
	m.Inputs = imp.inputs
	m.Defaults = imp.defaults
	if len(imp.defaults) > 0 {
		var names []string
		for _, t := range imp.defaults {
			names = append(names, t.Name)
		}
		m.Notes = append(m.Notes, fmt.Sprintf("%d initializer(s) are graph inputs too (IR >= 4): inputs with a default value "+
			"a caller may override, so not folded into the graph: %s", len(names), listNames(names, 5)))
	}
	m.Outputs = outputs
	used := map[string]bool{}
	for _, n := range imp.nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
		m.Nodes = append(m.Nodes, model.Node{Name: n.Name, Op: n.Op, Inputs: n.Inputs, Outputs: n.Outputs, Attrs: n.Attrs})
	}
	converted := map[DataType][]string{}
	for _, name := range imp.constOrder {
		c := imp.consts[name]
		if !used[name] || c == nil {
			continue
		}
		if c.DType.isFloat() && c.DType != Float {
			converted[c.DType] = append(converted[c.DType], name)
		}
		t, err := c.Float32()
		if err != nil {
			return err
		}
		m.Initializers = append(m.Initializers, t)
	}
	for _, dt := range []DataType{Double, Float16, BFloat16} {
		if names := converted[dt]; len(names) > 0 {
			m.Notes = append(m.Notes, fmt.Sprintf("%d %s weight(s) converted to float32: %s", len(names), dt, listNames(names, 5)))
		}
	}
	return nil
}

// constOutput makes the graph output name, a constant, the output of a node
// (the runtime computes outputs; ONNX Runtime returns such constants as
// they are): Mul(value, 1), exact for every float including -0 and NaN.
// The constant moves to a new name, which its other readers read too.
func (imp *importer) constOutput(name string, c *Tensor) {
	moved := imp.fresh(name + "_value")
	for _, n := range imp.nodes {
		for i, in := range n.Inputs {
			if in == name {
				n.Inputs[i] = moved
			}
		}
	}
	delete(imp.consts, name)
	imp.addConst(moved, c)
	one := imp.fresh(name + "_one")
	imp.addConst(one, &Tensor{DType: Float, Float: []float32{1}})
	imp.nodes = append(imp.nodes, &node{Name: imp.fresh(name + "_const"), Op: "Mul", Default: true,
		Inputs: []string{moved, one}, Outputs: []string{name}, Attrs: map[string]model.Attr{}})
	imp.shapes[name] = append([]int{}, c.Shape...)
}

// removeIdentities takes Identity nodes out of the graph by renaming: the
// consumers of y = Identity(x) read x instead; when y is a graph output,
// x's producer writes y instead (if x is computed by a node and is not
// itself an output). Otherwise the Identity stays.
func (imp *importer) removeIdentities(isOutput map[string]bool) {
	producer := map[string]*node{}
	for _, n := range imp.nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	rename := func(from, to string) {
		for _, n := range imp.nodes {
			for i, in := range n.Inputs {
				if in == from {
					n.Inputs[i] = to
				}
			}
			for i, o := range n.Outputs {
				if o == from {
					n.Outputs[i] = to
				}
			}
		}
		if s, ok := imp.shapes[from]; ok {
			if _, has := imp.shapes[to]; !has {
				imp.shapes[to] = s
			}
		}
	}
	kept := imp.nodes[:0]
	for _, n := range imp.nodes {
		if n.Op != "Identity" || len(n.Inputs) != 1 || len(n.Outputs) != 1 {
			kept = append(kept, n)
			continue
		}
		x, y := n.Inputs[0], n.Outputs[0]
		switch {
		case !isOutput[y]:
			rename(y, x)
		case producer[x] != nil && !isOutput[x]:
			p := producer[x]
			n.Outputs[0] = "" // so rename does not touch it
			rename(x, y)
			producer[y] = p
		default:
			kept = append(kept, n)
			continue
		}
		delete(producer, y)
	}
	imp.nodes = kept
}

// removeDead drops nodes none of whose outputs reach a graph output.
func (imp *importer) removeDead(isOutput map[string]bool) {
	live := map[string]bool{}
	for k := range isOutput {
		live[k] = true
	}
	keep := make([]bool, len(imp.nodes))
	for i := len(imp.nodes) - 1; i >= 0; i-- {
		n := imp.nodes[i]
		for _, o := range n.Outputs {
			if live[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, in := range n.Inputs {
				live[in] = true
			}
		}
	}
	kept := imp.nodes[:0]
	for i, n := range imp.nodes {
		if keep[i] {
			kept = append(kept, n)
		}
	}
	imp.nodes = kept
}

// needConst returns the constant at input i of n, a ConstantError when the
// input is computed at run time, nil when it is absent.
func (imp *importer) needConst(n *node, i int, what string) (*Tensor, error) {
	name := n.in(i)
	if name == "" {
		return nil, nil
	}
	t, ok := imp.consts[name]
	if !ok {
		return nil, &ConstantError{Node: n.Name, Op: n.Op, Input: name, What: what}
	}
	return t, nil
}

// scalar returns the one value of a float or integer tensor as float64.
func scalar(n *node, t *Tensor, what string) (float64, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("onnx: %s: %s %q has shape %v, want a scalar: %w", n.where(), what, t.Name, t.Shape, ErrMalformed)
	}
	if t.DType.isFloat() {
		return float64(t.Float[0]), nil
	}
	if t.DType.isInt() {
		return float64(t.Int[0]), nil
	}
	return 0, fmt.Errorf("onnx: %s: %s %q has element type %s: %w", n.where(), what, t.Name, t.DType, ErrUnsupported)
}

// ints returns the values of an integer tensor.
func ints(n *node, t *Tensor, what string) ([]int64, error) {
	if !t.DType.isInt() {
		return nil, fmt.Errorf("onnx: %s: %s %q has element type %s, want INT64: %w", n.where(), what, t.Name, t.DType, ErrMalformed)
	}
	return t.Int, nil
}

func finite(v float64) bool { return !math.IsInf(v, 0) && !math.IsNaN(v) }

// listNames quotes the first max names, then says how many more there are.
func listNames(names []string, max int) string {
	var b strings.Builder
	for i, n := range names {
		if i == max {
			fmt.Fprintf(&b, " and %d more", len(names)-max)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", n)
	}
	return b.String()
}
