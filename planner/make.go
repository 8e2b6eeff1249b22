package planner

import (
	"fmt"
	"sort"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// Options are what Make needs to know of the device.
type Options struct {
	// Chain returns how many nodes of the candidate run starting at node
	// first (Graph.Runs) one fused step takes when its input has shape in;
	// 0 or 1: none. Nil: no fused runs.
	Chain func(first int, in []int) int
	// Align is the alignment of slot offsets in the arena, in elements
	// (the device's buffer offset alignment / 4); 0 means 1.
	Align int
	// PerImage reports whether node's step, given one runtime input of
	// shape in, is recorded image by image at no extra cost (its output's
	// image n a function of its input's image n alone: Conv with constant
	// weights, pools, activations), so that at batch > 1 it may write into
	// a channel Concat's output, whose images are apart by the Concat's
	// per-image size (Plan.SlotStride). Nil: none; Concats at batch > 1
	// then copy their inputs.
	PerImage func(node int, in []int) bool
}

// Plan is a graph planned for concrete input shapes.
type Plan struct {
	// Shapes are the shapes of every value the plan computes or reads.
	Shapes map[string][]int
	// Host are the values evaluated on the host when the plan was made.
	Host map[string]*ops.Tensor
	// Steps are what to record, in order.
	Steps []Step
	// SlotSize is each buffer slot's size in elements (>= 1): one slot per
	// value on the device (a view shares its input's).
	SlotSize []int
	// SlotLife is each slot's lifetime: the first and last index in Steps
	// of a step that writes or reads it; -1 first: written before the run
	// (graph inputs, uploads), len(Steps) last: read after it (graph
	// outputs, uploads).
	SlotLife [][2]int
	// SlotOffset is each slot's place in one arena of ArenaSize elements:
	// slots whose lifetimes meet never overlap there; others may (memory
	// shared over time). Offsets are multiples of Options.Align.
	SlotOffset []int
	ArenaSize  int
	// PeakLive is the largest number of elements of device values alive
	// at once (graph inputs until their last reader, outputs to the end,
	// uploads throughout, each step's inputs and outputs while it runs):
	// the least any assignment of buffers could take. The slots' sum is at
	// least this; the difference is what reusing whole slots costs.
	PeakLive int
	// SlotParent is, for a slot inside another one, that slot; -1 for a
	// slot of its own. A Concat's input written in place (concatInPlace) is
	// a slot inside the Concat output's, at SlotOffset = the parent's
	// offset + its place there; its SlotLife is the parent's (the outermost
	// one's: a Concat of Concats nests).
	SlotParent []int
	// SlotStride is, for a slot written image by image into its place in
	// a Concat's output at batch > 1 (Options.PerImage), the elements from
	// the start of one of its images to the next there (the Concat
	// output's per-image size); its SlotSize then spans from the start of
	// its first image to the end of its last, and the images of the other
	// parts lie between its own. 0 for a contiguous slot.
	SlotStride []int
	// Slot maps each value on the device to its slot; a view shares its
	// input's.
	Slot map[string]int
	// Uploads are host values a device step reads: each has a slot of its
	// own, written once when the plan's buffers are made.
	Uploads []Upload
	// Inputs and Outputs are the slots of the graph inputs and outputs, in
	// the model's order.
	Inputs, Outputs []int
}

// Step is one thing to record.
type Step struct {
	// Node is the index in Graph.Nodes of the step's (first) node; Count
	// is how many consecutive nodes it runs (more than 1: a fused run, see
	// Options.Chain).
	Node, Count int
	// Copy: the node is a view whose output cannot share its input's slot
	// (a graph output): record a copy of Ins[0] into Outs[0].
	Copy bool
	// Ins are the step's runtime inputs (device values, in the node's input
	// order, initializers left out) and InShapes their shapes; Outs are the
	// values it writes.
	Ins      []string
	InShapes [][]int
	Outs     []string
	// InPlace, for a Concat step, says which of Ins its producer wrote
	// straight into its place in the Concat's output (nil: none): the
	// Concat copies only the others (none when all are: the step records
	// nothing). See concatInPlace.
	InPlace []bool
}

// Upload is a host value a device step reads.
type Upload struct {
	Name string
	Slot int
	Data []float32
}

// Make plans g for the shapes of its graph inputs (in the order of
// g.Model.Inputs). Host nodes are evaluated; every other value's shape is
// inferred with its op's definition and must be fully known.
func Make(g *Graph, inShapes [][]int, opts Options) (*Plan, error) {
	m := g.Model
	if len(inShapes) != len(m.Inputs) {
		return nil, fmt.Errorf("planner: %w: %d input shapes for %d inputs", ErrPlan, len(inShapes), len(m.Inputs))
	}
	p := &Plan{Shapes: map[string][]int{}, Host: map[string]*ops.Tensor{}, Slot: map[string]int{}}
	for name, t := range g.consts {
		p.Shapes[name] = t.Shape
	}
	for i, in := range m.Inputs {
		s := inShapes[i]
		if !in.Takes(s) {
			return nil, fmt.Errorf("planner: %w: input %q has shape %v, the model takes %s (-1: any size)", model.ErrInvalid, in.Name, s, in.ShapeString())
		}
		p.Shapes[in.Name] = s
	}
	known := func(name string) *ops.Tensor {
		if t := g.consts[name]; t != nil {
			return t
		}
		return p.Host[name]
	}
	// Pass 1: shapes and host values.
	for i := range g.Nodes {
		n := &g.Nodes[i]
		vals := make([]ops.Value, len(n.Inputs))
		for j, name := range n.Inputs {
			if name == "" {
				vals[j].Absent = true
				continue
			}
			s, ok := p.Shapes[name]
			if !ok {
				return nil, fmt.Errorf("planner: %w: node %q (%s) reads %q, which nothing computes", ErrPlan, n.Name, n.Op, name)
			}
			vals[j] = ops.Value{Shape: s, Const: known(name)}
		}
		if g.Kinds[i] == Host {
			in := make([]*ops.Tensor, len(n.Inputs))
			for j, v := range vals {
				switch {
				case v.Absent:
				case v.Const != nil:
					in[j] = v.Const
				default: // a ShapeOnly op reads only the shape
					in[j] = &ops.Tensor{Shape: v.Shape}
				}
			}
			out, err := ops.Eval(n, in)
			if err != nil {
				return nil, fmt.Errorf("planner: evaluating node %q (%s) on the host: %w", n.Name, n.Op, err)
			}
			for j, name := range n.Outputs {
				p.Host[name] = out[j]
				p.Shapes[name] = out[j].Shape
			}
			continue
		}
		outs, err := ops.Infer(n, vals)
		if err != nil {
			return nil, fmt.Errorf("planner: node %q (%s): %w", n.Name, n.Op, err)
		}
		for j, s := range outs {
			if !static(s) {
				return nil, fmt.Errorf("planner: %w: node %q (%s): output %d has shape %v for inputs %v (a dimension computed on the device)",
					ErrPlan, n.Name, n.Op, j, s, shapesOf(vals))
			}
			p.Shapes[n.Outputs[j]] = s
		}
	}
	isOutput := map[string]bool{}
	for _, o := range m.Outputs {
		if _, ok := p.Shapes[o.Name]; !ok {
			return nil, fmt.Errorf("planner: %w: output %q is not computed by any node", ErrPlan, o.Name)
		}
		isOutput[o.Name] = true
	}
	// Pass 2: steps. A view's output is an alias of its input's root value.
	root := map[string]string{}
	rootOf := func(name string) string {
		if r, ok := root[name]; ok {
			return r
		}
		return name
	}
	for i := 0; i < len(g.Nodes); {
		n := &g.Nodes[i]
		st := Step{Node: i, Count: 1}
		switch g.Kinds[i] {
		case Host:
			i++
			continue
		case View:
			if !isOutput[n.Outputs[0]] {
				root[n.Outputs[0]] = rootOf(n.Inputs[0])
				i++
				continue
			}
			st.Copy = true
		}
		for _, in := range n.Inputs {
			if in != "" && g.consts[in] == nil {
				st.Ins = append(st.Ins, in)
				st.InShapes = append(st.InShapes, p.Shapes[in])
			}
		}
		if st.Copy {
			st.Ins, st.InShapes = st.Ins[:1], st.InShapes[:1]
		}
		if run := g.Runs[i]; run != nil && opts.Chain != nil && !st.Copy {
			if k := opts.Chain(i, st.InShapes[0]); k > 1 && k <= len(run) {
				st.Count = k
			}
		}
		st.Outs = g.Nodes[i+st.Count-1].Outputs
		p.Steps = append(p.Steps, st)
		i += st.Count
	}
	// Pass 3: one slot per root value, with its lifetime in steps; then
	// slots whose lifetimes do not meet share memory (packSlots).
	n := len(p.Steps)
	var life [][2]int // per slot: first and last step using it (-1: before the run, n: after it)
	var sub []int     // per slot: its place in its parent (SlotParent)
	own := func(elems, first, last int) int {
		p.SlotSize = append(p.SlotSize, max(elems, 1))
		p.SlotParent = append(p.SlotParent, -1)
		p.SlotStride = append(p.SlotStride, 0)
		sub = append(sub, 0)
		life = append(life, [2]int{first, last})
		return len(p.SlotSize) - 1
	}
	elems := func(name string) int {
		n := 1
		for _, d := range p.Shapes[name] {
			n *= d
		}
		return n
	}
	pinned := map[string]bool{} // roots alive to the end: graph outputs
	for name := range isOutput {
		pinned[rootOf(name)] = true
	}
	// Concat inputs written in place: their storage is the Concat
	// output's (the outermost one's, for a Concat of Concats).
	inPlace := concatInPlace(g, p, root, pinned, max(opts.Align, 1), opts.PerImage)
	store := func(name string) string {
		name = rootOf(name)
		for {
			a, ok := inPlace[name]
			if !ok {
				return name
			}
			name = a.parent
		}
	}
	top := func(s int) int {
		for p.SlotParent[s] >= 0 {
			s = p.SlotParent[s]
		}
		return s
	}
	// slotOf gives a value a step writes its slot, made at step i: inside
	// its Concat output's (made now if it is the first part written) when
	// it is written in place; it reports whether it made new storage.
	var slotOf func(name string, i int) (int, bool)
	slotOf = func(name string, i int) (int, bool) {
		if s, ok := p.Slot[name]; ok {
			return s, false
		}
		a, ok := inPlace[name]
		if !ok {
			last := i
			if pinned[name] {
				last = n
			}
			s := own(elems(name), i, last)
			p.Slot[name] = s
			return s, true
		}
		ps, made := slotOf(a.parent, i)
		size := elems(name)
		if a.stride > 0 { // image by image: from the first image's start to the last's end
			n := p.Shapes[name][0]
			size = (n-1)*a.stride + size/n
		}
		s := own(size, i, i)
		p.SlotParent[s], p.SlotStride[s], sub[s] = ps, a.stride, a.off
		p.Slot[name] = s
		return s, made
	}
	lastUse := map[string]int{}
	for i, st := range p.Steps {
		for _, in := range st.Ins {
			lastUse[store(in)] = i
		}
	}
	live := 0 // elements of the values alive now
	for _, in := range m.Inputs {
		last := -1
		if pinned[in.Name] {
			last = n
		}
		p.Slot[in.Name] = own(elems(in.Name), -1, last)
		live += elems(in.Name)
	}
	p.PeakLive = live
	// Uploads are written once, when the plan's buffers are made: they
	// live through every run.
	upload := func(name string) {
		t := p.Host[name]
		if _, done := p.Slot[name]; t == nil || done {
			return
		}
		s := own(t.Len(), -1, n)
		p.Slot[name] = s
		p.Uploads = append(p.Uploads, Upload{Name: name, Slot: s, Data: t.Float()})
		live += t.Len()
		p.PeakLive = max(p.PeakLive, live)
	}
	for i, st := range p.Steps {
		for _, in := range st.Ins {
			upload(in)
			s := top(p.Slot[rootOf(in)])
			life[s][1] = max(life[s][1], i)
		}
		for _, name := range st.Outs {
			if _, made := slotOf(name, i); made {
				live += elems(store(name))
			}
		}
		p.PeakLive = max(p.PeakLive, live)
		for _, in := range st.Ins {
			r := store(in)
			if lastUse[r] == i && !pinned[r] && p.Host[r] == nil {
				lastUse[r] = -1 // a step reading a value twice frees it once
				live -= elems(r)
			}
		}
	}
	for name, r := range root {
		if s, ok := p.Slot[r]; ok {
			p.Slot[name] = s
		}
	}
	for _, o := range m.Outputs {
		upload(o.Name)
		s, ok := p.Slot[o.Name]
		if !ok {
			return nil, fmt.Errorf("planner: %w: output %q has no buffer", ErrPlan, o.Name)
		}
		p.Outputs = append(p.Outputs, s)
	}
	for _, in := range m.Inputs {
		p.Inputs = append(p.Inputs, p.Slot[in.Name])
	}
	for len(life) < len(p.SlotSize) { // uploads of outputs above
		life = append(life, [2]int{-1, n})
	}
	// Slots inside others take their outermost slot's lifetime and place:
	// only slots of their own are packed (a parent precedes its parts).
	for s := range life {
		life[s] = life[top(s)]
	}
	p.SlotLife = life
	var own2 []int
	for s, par := range p.SlotParent {
		if par < 0 {
			own2 = append(own2, s)
		}
	}
	sizes, lives := make([]int, len(own2)), make([][2]int, len(own2))
	for k, s := range own2 {
		sizes[k], lives[k] = p.SlotSize[s], life[s]
	}
	offs, size := packSlots(sizes, lives, max(opts.Align, 1))
	p.SlotOffset, p.ArenaSize = make([]int, len(p.SlotSize)), size
	for k, s := range own2 {
		p.SlotOffset[s] = offs[k]
	}
	for s, par := range p.SlotParent {
		if par >= 0 {
			p.SlotOffset[s] = p.SlotOffset[par] + sub[s]
		}
	}
	return p, nil
}

// concatPart: a value written in place at element off of the Concat output
// parent; stride > 0: image by image, its images stride elements apart
// there (off is then the first image's place).
type concatPart struct {
	parent      string
	off, stride int
}

// concatInPlace decides which Concat inputs their producers write straight
// into their place in the Concat's output, so that the Concat copies only
// the rest (Step.InPlace). An input is written in place when its part of the
// output is one contiguous range (every dimension before the axis is 1:
// channels at batch 1) starting at a multiple of align elements (the
// device's buffer offset alignment: else a range cannot be bound), or, at
// batch N > 1 where only the batch dimension comes before the axis, one
// range per image (a stride of the output's per-image size apart) when its
// producer is one node that perImage says records image by image, from one
// runtime input of batch N, the Concat is its only reader (no other step
// could read its images apart), and every image's start (of the input, of
// the output and of the part in the output) is a multiple of align; and it
// is a device value of its own: computed by a step of this plan (not a
// graph input, an upload or a view of another value), not a graph output
// (it keeps its own buffer), read only once by this Concat, and not already
// in place in another Concat. The Concat's output is then alive from the
// first of its parts' writes to its last reader (Make's slots). A Concat's
// output may itself be in place in another Concat (a Concat of Concats).
func concatInPlace(g *Graph, p *Plan, root map[string]string, pinned map[string]bool, align int, perImage func(int, []int) bool) map[string]concatPart {
	made := map[string]bool{}    // values steps write
	producer := map[string]int{} // the step writing each
	for k, st := range p.Steps {
		for _, o := range st.Outs {
			made[o] = true
			producer[o] = k
		}
	}
	reads := map[string]int{} // steps reading each value (through its views)
	for _, st := range p.Steps {
		for _, in := range st.Ins {
			r := in
			if v, ok := root[in]; ok {
				r = v
			}
			reads[r]++
		}
	}
	elems := func(name string) int {
		e := 1
		for _, d := range p.Shapes[name] {
			e *= d
		}
		return e
	}
	// byImage reports whether value name (batch n) can be written image by
	// image: its producer records so, from one input of batch n whose
	// images start on the alignment.
	byImage := func(name string, n int) bool {
		st := &p.Steps[producer[name]]
		if perImage == nil || reads[name] != 1 || st.Count != 1 || st.Copy || len(st.Outs) != 1 || len(st.Ins) != 1 {
			return false
		}
		in := st.InShapes[0]
		return len(in) > 0 && in[0] == n && (elems(st.Ins[0])/n)%align == 0 && perImage(st.Node, in)
	}
	parts := map[string]concatPart{}
	for k := range p.Steps {
		st := &p.Steps[k]
		nd := &g.Nodes[st.Node]
		if nd.Op != ops.OpConcat || st.Count != 1 || st.Copy || len(nd.Outputs) != 1 {
			continue
		}
		out := p.Shapes[nd.Outputs[0]]
		axis := 0
		if a, ok := nd.Attr(ops.AttrAxis); ok {
			axis = int(a.Int)
		}
		if axis < 0 {
			axis += len(out)
		}
		if axis < 0 || axis >= len(out) {
			continue
		}
		outer := 1
		for _, d := range out[:axis] {
			outer *= d
		}
		// stride: the output's per-image size where parts may be written
		// image by image (batch > 1, only the batch before the axis).
		stride := 0
		if outer > 1 {
			if outer != out[0] || (elems(nd.Outputs[0])/outer)%align != 0 {
				continue
			}
			stride = elems(nd.Outputs[0]) / outer
		}
		count := map[string]int{}
		for _, in := range nd.Inputs {
			count[in]++
		}
		off := 0 // the input's place in the output (in its first image)
		in := map[string]bool{}
		for _, name := range nd.Inputs {
			e := elems(name) / outer
			_, isView := root[name]
			if made[name] && !isView && count[name] == 1 && !pinned[name] && p.Host[name] == nil &&
				e > 0 && off%align == 0 && (stride == 0 || byImage(name, outer)) {
				if _, taken := parts[name]; !taken {
					parts[name] = concatPart{parent: nd.Outputs[0], off: off, stride: stride}
					in[name] = true
				}
			}
			off += e
		}
		if len(in) > 0 {
			st.InPlace = make([]bool, len(st.Ins))
			for j, name := range st.Ins {
				st.InPlace[j] = in[name]
			}
		}
	}
	return parts
}

func static(s []int) bool {
	if s == nil {
		return false
	}
	for _, d := range s {
		if d < 0 {
			return false
		}
	}
	return true
}

func shapesOf(v []ops.Value) [][]int {
	s := make([][]int, len(v))
	for i := range v {
		s[i] = v[i].Shape
	}
	return s
}

// packSlots places slots of the given sizes and lifetimes (inclusive step
// intervals) in one arena: largest first (ties: earliest first), each at
// the lowest offset, a multiple of align, where it overlaps no slot already
// placed whose lifetime meets its own (greedy by size, as TensorFlow Lite's
// arena planner does). It returns the offsets and the arena's size, in
// elements. The result is at least the largest sum of sizes alive at one
// step, and usually close to it.
func packSlots(sizes []int, life [][2]int, align int) ([]int, int) {
	up := func(v int) int { return (v + align - 1) / align * align }
	order := make([]int, len(sizes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if up(sizes[i]) != up(sizes[j]) {
			return up(sizes[i]) > up(sizes[j])
		}
		return life[i][0] < life[j][0]
	})
	offs := make([]int, len(sizes))
	var placed []int
	total := 0
	type span struct{ lo, hi int }
	for _, s := range order {
		var busy []span
		for _, t := range placed {
			if life[t][0] <= life[s][1] && life[s][0] <= life[t][1] {
				busy = append(busy, span{offs[t], offs[t] + up(sizes[t])})
			}
		}
		sort.Slice(busy, func(a, b int) bool { return busy[a].lo < busy[b].lo })
		off := 0
		for _, b := range busy {
			if off+up(sizes[s]) <= b.lo {
				break
			}
			off = max(off, b.hi)
		}
		offs[s] = off
		total = max(total, off+up(sizes[s]))
		placed = append(placed, s)
	}
	return offs, total
}
