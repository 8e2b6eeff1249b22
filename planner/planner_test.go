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
	for i := range p.SlotSize {
		if p.SlotOffset[i] < 0 || p.SlotOffset[i]+p.SlotSize[i] > p.ArenaSize {
			t.Fatalf("slot %d [%d, %d) outside the arena of %d", i, p.SlotOffset[i], p.SlotOffset[i]+p.SlotSize[i], p.ArenaSize)
		}
		for j := range i {
			a, b := p.SlotLife[i], p.SlotLife[j]
			if a[0] <= b[1] && b[0] <= a[1] &&
				p.SlotOffset[i] < p.SlotOffset[j]+p.SlotSize[j] && p.SlotOffset[j] < p.SlotOffset[i]+p.SlotSize[i] {
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
