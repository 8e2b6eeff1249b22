package planner

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// These tests need no device and no cgo: CGO_ENABLED=0 go test ./planner.

func node(name, op string, in, out []string, attrs ...any) model.Node {
	n := model.Node{Name: name, Op: op, Inputs: in, Outputs: out, Attrs: map[string]model.Attr{}}
	for i := 0; i+1 < len(attrs); i += 2 {
		switch v := attrs[i+1].(type) {
		case int:
			n.Attrs[attrs[i].(string)] = model.IntAttr(int64(v))
		case []int64:
			n.Attrs[attrs[i].(string)] = model.IntsAttr(v...)
		case string:
			n.Attrs[attrs[i].(string)] = model.StringAttr(v)
		}
	}
	return n
}

func tensor(name string, shape []int, v ...float32) *model.Tensor {
	return &model.Tensor{Name: name, Shape: shape, Data: v}
}

// mlp is x[-1,4] -> Dense -> Relu -> Dense -> Relu -> Dense -> Softmax.
func mlp() *model.Model {
	w := func(name string, out, in int) *model.Tensor {
		return tensor(name, []int{out, in}, make([]float32, out*in)...)
	}
	return &model.Model{
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 4}}},
		Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 2}}},
		Nodes: []model.Node{
			node("d1", ops.OpDense, []string{"x", "w1"}, []string{"h1"}),
			node("r1", ops.OpRelu, []string{"h1"}, []string{"a1"}),
			node("d2", ops.OpDense, []string{"a1", "w2"}, []string{"h2"}),
			node("r2", ops.OpRelu, []string{"h2"}, []string{"a2"}),
			node("d3", ops.OpDense, []string{"a2", "w3"}, []string{"h3"}),
			node("sm", ops.OpSoftmax, []string{"h3"}, []string{"y"}),
		},
		Initializers: []*model.Tensor{w("w1", 8, 4), w("w2", 8, 8), w("w3", 2, 8)},
	}
}

func prepare(t *testing.T, m *model.Model) *Graph {
	t.Helper()
	if err := ops.Validate(m); err != nil {
		t.Fatal(err)
	}
	g, err := Prepare(m, Passes)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func opsOf(nodes []model.Node) string {
	var s []string
	for _, n := range nodes {
		s = append(s, n.Op+":"+n.Outputs[0])
	}
	return strings.Join(s, " ")
}

func TestFuseDenseRelu(t *testing.T) {
	m := mlp()
	got := FuseDenseRelu(m.Nodes, m.Outputs)
	if s := opsOf(got); s != "Dense:a1 Dense:a2 Dense:h3 Softmax:y" {
		t.Fatalf("fused %s", s)
	}
	if got[0].Attrs[ops.AttrActivation].String != ops.ActivationRelu || m.Nodes[0].Attrs[ops.AttrActivation].Kind != 0 {
		t.Fatal("activation not set on the copy only")
	}
	// A Dense read twice, or one that is a graph output, stays unfused.
	m.Nodes[1].Inputs = []string{"h1"}
	m.Nodes[2].Inputs = []string{"h1", "w2"}
	if s := opsOf(FuseDenseRelu(m.Nodes, m.Outputs)); !strings.HasPrefix(s, "Dense:h1 Relu:a1") {
		t.Fatalf("read twice: %s", s)
	}
	m = mlp()
	m.Outputs = append(m.Outputs, model.ValueInfo{Name: "h1"})
	if s := opsOf(FuseDenseRelu(m.Nodes, m.Outputs)); !strings.HasPrefix(s, "Dense:h1 Relu:a1") {
		t.Fatalf("graph output: %s", s)
	}
}

func TestChainRunsAndSteps(t *testing.T) {
	g := prepare(t, mlp())
	if fmt.Sprint(g.Runs) != "map[0:[0 1 2 3] 1:[1 2 3] 2:[2 3]]" {
		t.Fatalf("runs %v", g.Runs)
	}
	// The device takes the whole run at batch <= 8 only.
	opts := Options{Chain: func(first int, in []int) int {
		if first == 0 && in[0] <= 8 {
			return 4
		}
		return 0
	}}
	p, err := Make(g, [][]int{{3, 4}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1 || p.Steps[0].Count != 4 || fmt.Sprint(p.Steps[0].Outs) != "[y]" {
		t.Fatalf("steps %+v", p.Steps)
	}
	p, err = Make(g, [][]int{{9, 4}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 4 || fmt.Sprint(p.Shapes["y"]) != "[9 2]" {
		t.Fatalf("steps %+v shapes %v", p.Steps, p.Shapes)
	}
}

// Slots: one per value, with its lifetime; values alive at the same step
// never share memory in the arena, others do; graph outputs live to the end.
func TestSlotsByLiveness(t *testing.T) {
	g := prepare(t, mlp())
	p, err := Make(g, [][]int{{5, 4}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// x(20) -> a1(40) -> a2(40) -> h3(10) -> y(10, an output).
	if got := fmt.Sprint(p.SlotSize, p.SlotLife); got != "[20 40 40 10 10] [[-1 0] [0 1] [1 2] [2 3] [3 4]]" {
		t.Fatalf("slot sizes and lifetimes %s", got)
	}
	// Largest first: a1 at 0, a2 beside it (both alive at step 1), x over
	// a2 (dead by then), h3 over a1, y beside h3.
	if got := fmt.Sprint(p.SlotOffset, p.ArenaSize, p.PeakLive); got != "[40 0 40 0 10] 80 80" {
		t.Fatalf("offsets, arena, peak %s", got)
	}
	if p.Outputs[0] != p.Slot["y"] || p.Inputs[0] != p.Slot["x"] {
		t.Fatalf("slots %v", p.Slot)
	}
	checkArena(t, p)
	// Alignment: offsets are multiples of it, the arena grows to fit.
	p, err = Make(g, [][]int{{5, 4}}, Options{Align: 64})
	if err != nil {
		t.Fatal(err)
	}
	for s, off := range p.SlotOffset {
		if off%64 != 0 {
			t.Fatalf("slot %d at %d", s, off)
		}
	}
	if p.ArenaSize != 128 {
		t.Fatalf("arena %d with 64-element alignment, want 128", p.ArenaSize)
	}
	checkArena(t, p)
}

// checkArena checks that slots alive at a common step never overlap in the
// arena, and that each value a step reads is alive then.
func checkArena(t *testing.T, p *Plan) {
	t.Helper()
	// spans are the element ranges slot s holds: its images apart for a
	// slot written image by image (SlotStride), else one range.
	spans := func(s int) [][2]int {
		lo, stride := p.SlotOffset[s], p.SlotStride[s]
		if stride == 0 {
			return [][2]int{{lo, lo + p.SlotSize[s]}}
		}
		for name, v := range p.Slot {
			if v != s {
				continue
			}
			n := p.Shapes[name][0]
			img := 1
			for _, d := range p.Shapes[name][1:] {
				img *= d
			}
			if n < 2 || img > stride || p.SlotSize[s] != (n-1)*stride+img {
				t.Fatalf("slot %d (%s %v) of %d elements with images %d apart", s, name, p.Shapes[name], p.SlotSize[s], stride)
			}
			var r [][2]int
			for k := range n {
				r = append(r, [2]int{lo + k*stride, lo + k*stride + img})
			}
			return r
		}
		t.Fatalf("slot %d with a stride holds no value", s)
		return nil
	}
	overlap := func(i, j int) bool {
		for _, a := range spans(i) {
			for _, b := range spans(j) {
				if a[0] < b[1] && b[0] < a[1] {
					return true
				}
			}
		}
		return false
	}
	for i := range p.SlotSize {
		if p.SlotOffset[i] < 0 || p.SlotOffset[i]+p.SlotSize[i] > p.ArenaSize {
			t.Fatalf("slot %d [%d, %d) outside the arena of %d", i, p.SlotOffset[i], p.SlotOffset[i]+p.SlotSize[i], p.ArenaSize)
		}
		if par := p.SlotParent[i]; par >= 0 {
			if p.SlotOffset[i] < p.SlotOffset[par] || p.SlotOffset[i]+p.SlotSize[i] > p.SlotOffset[par]+p.SlotSize[par] ||
				par > i || p.SlotLife[i] != p.SlotLife[par] {
				t.Fatalf("slot %d [%d, %d) lives %v, not within its parent %d [%d, %d) living %v", i, p.SlotOffset[i], p.SlotOffset[i]+p.SlotSize[i],
					p.SlotLife[i], par, p.SlotOffset[par], p.SlotOffset[par]+p.SlotSize[par], p.SlotLife[par])
			}
		}
		for j := range i {
			a, b := p.SlotLife[i], p.SlotLife[j]
			if nested(p, i, j) || nested(p, j, i) {
				continue // a Concat input written in place in its output
			}
			if a[0] <= b[1] && b[0] <= a[1] && overlap(i, j) {
				t.Fatalf("slots %d %v and %d %v are alive together and overlap", i, a, j, b)
			}
		}
	}
	for k, st := range p.Steps {
		for _, names := range [][]string{st.Ins, st.Outs} {
			for _, in := range names {
				if l := p.SlotLife[p.Slot[in]]; l[0] > k || l[1] < k {
					t.Fatalf("step %d uses %s, whose slot lives %v", k, in, l)
				}
			}
		}
	}
	for _, s := range p.Outputs {
		if p.SlotLife[s][1] != len(p.Steps) {
			t.Fatalf("output slot %d lives %v", s, p.SlotLife[s])
		}
	}
	for _, u := range p.Uploads {
		if l := p.SlotLife[u.Slot]; l != [2]int{-1, len(p.Steps)} {
			t.Fatalf("upload %s lives %v", u.Name, l)
		}
	}
}

// nested reports whether slot i lies inside slot j (SlotParent).
func nested(p *Plan, i, j int) bool {
	for i = p.SlotParent[i]; i >= 0; i = p.SlotParent[i] {
		if i == j {
			return true
		}
	}
	return false
}

// concatModel: channel Concats whose inputs are written in place or not:
// y1 = Concat(a, b) with a read again after it (e = Relu(a)); y2 =
// Concat(y1, c, x): a Concat of a Concat and a graph input; y3 = Concat(e,
// e): one value twice; y2, y3 and b2 are graph outputs, b2 = Concat(b, c)
// again (b and c are already in place in y1 and y2).
func concatModel() *model.Model {
	return &model.Model{
		Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 2, 3, 3}}},
		Outputs: []model.ValueInfo{{Name: "y2", Shape: []int{-1, 8, 3, 3}}, {Name: "y3", Shape: []int{-1, 4, 3, 3}},
			{Name: "b2", Shape: []int{-1, 4, 3, 3}}},
		Nodes: []model.Node{
			node("a", ops.OpRelu, []string{"x"}, []string{"a"}),
			node("b", ops.OpSigmoid, []string{"x"}, []string{"b"}),
			node("y1", ops.OpConcat, []string{"a", "b"}, []string{"y1"}, "axis", 1),
			node("e", ops.OpRelu, []string{"a"}, []string{"e"}),
			node("c", ops.OpNeg, []string{"x"}, []string{"c"}),
			node("y2", ops.OpConcat, []string{"y1", "c", "x"}, []string{"y2"}, "axis", -3),
			node("y3", ops.OpConcat, []string{"e", "e"}, []string{"y3"}, "axis", 1),
			node("b2", ops.OpConcat, []string{"b", "c"}, []string{"b2"}, "axis", 1),
		},
	}
}

// Concat inputs written in place (concatInPlace): at batch 1 a, b, y1 and c
// lie inside y2's slot at their places; x (a graph input), e (twice in one
// Concat) and the second Concat of b and c are copied. At batch 2, or
// where a place is not aligned, the Concats copy.
func TestConcatInPlace(t *testing.T) {
	g := prepare(t, concatModel())
	inPlace := func(p *Plan) string {
		var s []string
		for _, st := range p.Steps {
			if g.Nodes[st.Node].Op == ops.OpConcat {
				s = append(s, fmt.Sprintf("%s%v", g.Nodes[st.Node].Name, st.InPlace))
			}
		}
		return strings.Join(s, " ")
	}
	p, err := Make(g, [][]int{{1, 2, 3, 3}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkArena(t, p)
	if got := inPlace(p); got != "y1[true true] y2[true true false] y3[] b2[]" {
		t.Fatalf("in place: %s", got)
	}
	y2 := p.Slot["y2"]
	for name, at := range map[string]int{"a": 0, "b": 18, "y1": 0, "c": 36} {
		s := p.Slot[name]
		if !nested(p, s, y2) || p.SlotOffset[s] != p.SlotOffset[y2]+at || p.SlotSize[s] != 18*(1+len(name)/2) {
			t.Fatalf("%s: slot %d at %d size %d, want inside y2 (slot %d at %d) at +%d", name, s, p.SlotOffset[s], p.SlotSize[s], y2, p.SlotOffset[y2], at)
		}
	}
	// y2 lives from a's write (step 0) to the end (a graph output); e, read
	// after y1, is alive while y2 is.
	if l := p.SlotLife[y2]; l != [2]int{0, len(p.Steps)} {
		t.Fatalf("y2 lives %v", l)
	}
	for _, name := range []string{"x", "e", "y3", "b2"} {
		if s := p.Slot[name]; p.SlotParent[s] != -1 {
			t.Fatalf("%s is inside slot %d", name, p.SlotParent[s])
		}
	}
	// Peak at the last step: the outputs y2 (72, alive from step 0), y3
	// and b2 (36 each); x (18) and e (18) are dead by then.
	if p.PeakLive != 72+36+36 {
		t.Fatalf("peak %d", p.PeakLive)
	}
	// Batch 2: a channel's parts are not contiguous: every Concat copies.
	p, err = Make(g, [][]int{{2, 2, 3, 3}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkArena(t, p)
	if got := inPlace(p); got != "y1[] y2[] y3[] b2[]" {
		t.Fatalf("batch 2 in place: %s", got)
	}
	for s, par := range p.SlotParent {
		if par != -1 {
			t.Fatalf("batch 2: slot %d inside %d", s, par)
		}
	}
	// Places at multiples of 36 elements only: b (at 18) is copied into
	// y1, y1 (at 0) and c (at 36) are in place in y2, and b, free now, in
	// place in b2.
	p, err = Make(g, [][]int{{1, 2, 3, 3}}, Options{Align: 36})
	if err != nil {
		t.Fatal(err)
	}
	checkArena(t, p)
	if got := inPlace(p); got != "y1[true false] y2[true true false] y3[] b2[true false]" {
		t.Fatalf("aligned to 36: in place: %s", got)
	}
	for s, off := range p.SlotOffset {
		if off%36 != 0 {
			t.Fatalf("slot %d at %d", s, off)
		}
	}
}

// concatByImageModel: channel Concats at batch > 1 whose inputs may be
// written image by image (Options.PerImage: here Relu and Sigmoid):
// y = Concat(a, b, d, x) with a = Relu(x) (in place), b = Sigmoid(x) (read
// again by e = Relu(b): copied), d = Neg(x) (not image by image) and the
// graph input x; f = Concat(a2, a3) (both in place), y2 = Concat(e, f) (e in
// place; f, a Concat, is copied).
func concatByImageModel() *model.Model {
	return &model.Model{
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 2, 3, 3}}},
		Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 8, 3, 3}}, {Name: "y2", Shape: []int{-1, 6, 3, 3}}},
		Nodes: []model.Node{
			node("a", ops.OpRelu, []string{"x"}, []string{"a"}),
			node("b", ops.OpSigmoid, []string{"x"}, []string{"b"}),
			node("d", ops.OpNeg, []string{"x"}, []string{"d"}),
			node("y", ops.OpConcat, []string{"a", "b", "d", "x"}, []string{"y"}, "axis", 1),
			node("e", ops.OpRelu, []string{"b"}, []string{"e"}),
			node("a2", ops.OpRelu, []string{"x"}, []string{"a2"}),
			node("a3", ops.OpSigmoid, []string{"x"}, []string{"a3"}),
			node("f", ops.OpConcat, []string{"a2", "a3"}, []string{"f"}, "axis", 1),
			node("y2", ops.OpConcat, []string{"e", "f"}, []string{"y2"}, "axis", 1),
		},
	}
}

func TestConcatInPlaceByImage(t *testing.T) {
	g := prepare(t, concatByImageModel())
	perImage := func(i int, _ []int) bool { return g.Nodes[i].Op == ops.OpRelu || g.Nodes[i].Op == ops.OpSigmoid }
	inPlace := func(p *Plan) string {
		var s []string
		for _, st := range p.Steps {
			if g.Nodes[st.Node].Op == ops.OpConcat {
				s = append(s, fmt.Sprintf("%s%v", g.Nodes[st.Node].Name, st.InPlace))
			}
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		batch, align int
		perImage     bool
		want         string
	}{
		{1, 1, true, "y[true true true false] f[true true] y2[true true]"},
		{2, 1, true, "y[true false false false] f[true true] y2[true false]"},
		{3, 9, true, "y[true false false false] f[true true] y2[true false]"},
		{2, 1, false, "y[] f[] y2[]"},
		{2, 36, true, "y[] f[] y2[]"}, // x's images (18) are not aligned
	} {
		name := fmt.Sprintf("batch %d align %d per image %t", tc.batch, tc.align, tc.perImage)
		opts := Options{Align: tc.align}
		if tc.perImage {
			opts.PerImage = perImage
		}
		p, err := Make(g, [][]int{{tc.batch, 2, 3, 3}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkArena(t, p)
		if got := inPlace(p); got != tc.want {
			t.Fatalf("%s: in place %s, want %s", name, got, tc.want)
		}
		if tc.batch == 1 || tc.want == "y[] f[] y2[]" {
			for s, st := range p.SlotStride {
				if st != 0 {
					t.Fatalf("%s: slot %d has a stride %d", name, s, st)
				}
			}
			continue
		}
		// The parts' places and strides: a at 0 of y's 72 per image, a2
		// and a3 at 0 and 18 of f's 36, e at 0 of y2's 54.
		n := tc.batch
		for v, want := range map[string][3]int{"a": {0, 72, 18}, "a2": {0, 36, 18}, "a3": {18, 36, 18}, "e": {0, 54, 18}} {
			s := p.Slot[v]
			par := map[string]string{"a": "y", "a2": "f", "a3": "f", "e": "y2"}[v]
			if p.SlotParent[s] != p.Slot[par] || p.SlotOffset[s] != p.SlotOffset[p.Slot[par]]+want[0] ||
				p.SlotStride[s] != want[1] || p.SlotSize[s] != (n-1)*want[1]+want[2] {
				t.Fatalf("%s: %s: slot %d inside %d at %d stride %d size %d; want inside %s (slot %d at %d) at +%d, stride %d",
					name, v, s, p.SlotParent[s], p.SlotOffset[s], p.SlotStride[s], p.SlotSize[s], par, p.Slot[par], p.SlotOffset[p.Slot[par]], want[0], want[1])
			}
		}
		for _, v := range []string{"b", "d", "x", "f"} {
			if s := p.Slot[v]; p.SlotParent[s] != -1 || p.SlotStride[s] != 0 {
				t.Fatalf("%s: %s is inside slot %d with stride %d", name, v, p.SlotParent[s], p.SlotStride[s])
			}
		}
	}
}

// viewModel is x -> Relu -> Flatten -> Reshape(target computed from x's
// shape: PyTorch's x.view(x.size(0), -1)) -> Dense, with a graph output that
// is a view too.
func viewModel() *model.Model {
	return &model.Model{
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 2, 3}}},
		Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 2}}, {Name: "v", Shape: []int{-1, 6}}},
		Nodes: []model.Node{
			node("relu", ops.OpRelu, []string{"x"}, []string{"r"}),
			node("shape", ops.OpShape, []string{"x"}, []string{"s"}),
			node("gather", ops.OpGather, []string{"s", "zero"}, []string{"n"}, "axis", 0),
			node("unsq", ops.OpUnsqueeze, []string{"n"}, []string{"n1"}, "axes", []int64{0}),
			node("concat", ops.OpConcat, []string{"n1", "minus1"}, []string{"target"}, "axis", 0),
			node("reshape", ops.OpReshape, []string{"r", "target"}, []string{"f"}),
			node("dense", ops.OpDense, []string{"f", "w"}, []string{"y"}),
			node("flat", ops.OpFlatten, []string{"r"}, []string{"v"}),
		},
		Initializers: []*model.Tensor{tensor("zero", nil, 0), tensor("minus1", []int{1}, -1), tensor("w", []int{2, 6}, make([]float32, 12)...)},
	}
}

func TestShapeSubgraphsAndViews(t *testing.T) {
	g := prepare(t, viewModel())
	want := []Kind{Device, Host, Host, Host, Host, View, Device, View}
	if fmt.Sprint(g.Kinds) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", g.Kinds, want)
	}
	for _, batch := range []int{1, 7} {
		p, err := Make(g, [][]int{{batch, 2, 3}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Host["target"].Ints) != fmt.Sprintf("[%d -1]", batch) || fmt.Sprint(p.Shapes["f"]) != fmt.Sprintf("[%d 6]", batch) {
			t.Fatalf("batch %d: target %v, f %v", batch, p.Host["target"], p.Shapes["f"])
		}
		// relu, dense, and the copy of the view that is a graph output.
		var steps []string
		for _, st := range p.Steps {
			steps = append(steps, fmt.Sprintf("%s%v", g.Nodes[st.Node].Name, st.Copy))
		}
		if fmt.Sprint(steps) != "[relufalse densefalse flattrue]" {
			t.Fatalf("steps %v", steps)
		}
		if p.Slot["f"] != p.Slot["r"] || p.Slot["v"] == p.Slot["r"] {
			t.Fatalf("views: slots %v", p.Slot)
		}
		checkArena(t, p)
		if len(p.Uploads) != 0 {
			t.Fatalf("uploads %v", p.Uploads)
		}
	}
}

// A host value a device node reads is uploaded into a slot of its own; a
// host value that is a graph output too.
func TestUploads(t *testing.T) {
	m := &model.Model{
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}},
		Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 3}}, {Name: "s", Shape: []int{2}}},
		Nodes: []model.Node{
			node("shape", ops.OpShape, []string{"x"}, []string{"s"}),
			node("cast", ops.OpCast, []string{"s"}, []string{"sf"}, "to", 1),
			node("add", ops.OpAdd, []string{"x", "sf1"}, []string{"y"}),
			node("slice", ops.OpSlice, []string{"sf", "one", "two"}, []string{"sf1"}),
		},
		Initializers: []*model.Tensor{tensor("one", []int{1}, 1), tensor("two", []int{1}, 2)},
	}
	m.Nodes[2], m.Nodes[3] = m.Nodes[3], m.Nodes[2]
	g := prepare(t, m)
	p, err := Make(g, [][]int{{4, 3}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Uploads) != 2 || p.Uploads[0].Name != "sf1" || fmt.Sprint(p.Uploads[0].Data) != "[3]" ||
		p.Uploads[1].Name != "s" || fmt.Sprint(p.Uploads[1].Data) != "[4 3]" {
		t.Fatalf("uploads %+v", p.Uploads)
	}
	if p.Outputs[1] != p.Slot["s"] {
		t.Fatal("host output has no slot")
	}
}

func TestMakeErrors(t *testing.T) {
	g := prepare(t, viewModel())
	if _, err := Make(g, [][]int{{2, 3, 2}}, Options{}); err == nil || !errors.Is(err, model.ErrInvalid) {
		t.Errorf("wrong input shape: %v", err)
	}
	if _, err := Make(g, nil, Options{}); !errors.Is(err, ErrPlan) {
		t.Errorf("no shapes: %v", err)
	}
	// A reshape target computed on the device cannot be planned.
	m := viewModel()
	m.Nodes[5].Inputs[1] = "x2"
	m.Inputs = append(m.Inputs, model.ValueInfo{Name: "x2", Shape: []int{2}})
	g2 := prepare(t, m)
	if _, err := Make(g2, [][]int{{1, 2, 3}, {2}}, Options{}); !errors.Is(err, ErrPlan) {
		t.Errorf("device-computed target: %v", err)
	}
}
