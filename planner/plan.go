// Package planner is the planner: the stage between a model graph and the
// GPU layers. Prepare rewrites a graph once, at load, with a list of small
// fusion passes and sorts its nodes into those the device runs, those that
// only give a tensor a new shape (views, no dispatch) and those evaluated on
// the host (shape subgraphs). Make then turns the prepared graph and
// concrete input shapes into a Plan: every value's shape, the host values
// (evaluated with package ops when the plan is made, so exporters' shape
// arithmetic on a dynamic batch costs nothing on the device), the steps to
// record (single nodes or fused runs), and buffer slots assigned by
// liveness, views sharing their input's slot.
//
// No cgo and no device: the planner's decisions are testable with
// CGO_ENABLED=0. What only a device can answer (does a fused kernel fit
// these shapes) comes in through Options.
//
// Concurrency: a *Graph is read-only after Prepare and may be planned from
// several goroutines at once; a *Plan is a plain value.
package planner

import (
	"errors"
	"fmt"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// ErrPlan: the graph cannot be planned for the given shapes (a value the
// device needs is only known on the host in a form it cannot take, a
// dimension that stays unknown, ...). Errors also wrap the ops error where
// one caused them (ops.ErrUnsupported, model.ErrInvalid).
var ErrPlan = errors.New("cannot plan")

// Kind says who computes a node.
type Kind int

// The kinds of node.
const (
	// Device nodes are recorded by a GPU layer.
	Device Kind = iota
	// View nodes give input 0's data a new shape (ops.Op.View): their
	// output shares the input's slot; nothing is recorded unless the
	// layout needs a copy (Step.Copy).
	View
	// Host nodes are evaluated with ops.Eval when a plan is made: every
	// input is known on the host (initializers, other host values), or the
	// op reads only shapes (ops.Op.ShapeOnly).
	Host
)

func (k Kind) String() string {
	switch k {
	case Device:
		return "device"
	case View:
		return "view"
	case Host:
		return "host"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Graph is a model prepared for planning.
type Graph struct {
	Model *model.Model
	// Nodes are Model.Nodes after the fusion passes, in order.
	Nodes []model.Node
	// Kinds has one entry per node.
	Kinds []Kind
	// Runs are the candidate fused runs (see ChainRuns), by first node.
	Runs map[int][]int

	consts map[string]*ops.Tensor // initializers
}

// Pass is one graph rewrite, testable on a graph alone. Run rewrites the
// nodes only; Model, set instead, rewrites the whole model, initializers
// included (it returns a new Model, or its argument when nothing changes,
// and never modifies its argument).
type Pass struct {
	Name  string
	Run   func(nodes []model.Node, outputs []model.ValueInfo) []model.Node
	Model func(m *model.Model) *model.Model
}

// Passes are the fusion passes Prepare runs, in order.
var Passes = []Pass{
	{Name: "batchnorm folding", Model: FoldBatchNorm},
	{Name: "dense+relu", Run: FuseDenseRelu},
	{Name: "conv+activation", Run: FuseConvActivation},
}

// Prepare runs the passes on m and classifies its nodes. m must be valid
// (ops.Validate); it is not modified: Graph.Model is m, or a rewritten copy
// when a Model pass changed it (new initializers: layers must take their
// constants from Graph.Model).
func Prepare(m *model.Model, passes []Pass) (*Graph, error) {
	nodes := append([]model.Node(nil), m.Nodes...)
	for _, p := range passes {
		if p.Model != nil {
			cur := *m
			cur.Nodes = nodes
			m = p.Model(&cur)
			nodes = append([]model.Node(nil), m.Nodes...)
			continue
		}
		nodes = p.Run(nodes, m.Outputs)
	}
	g := &Graph{Model: m, Nodes: nodes, consts: map[string]*ops.Tensor{}}
	for _, t := range m.Initializers {
		g.consts[t.Name] = ops.F32(t.Shape, t.Data)
	}
	host := map[string]bool{}
	for name := range g.consts {
		if m.Default(name) == nil {
			host[name] = true
		}
	}
	for i := range nodes {
		n := &nodes[i]
		op := ops.Lookup(n.Op)
		k := Device
		if op != nil {
			all := true
			for _, in := range n.Inputs {
				all = all && (in == "" || host[in])
			}
			switch {
			case all || op.ShapeOnly:
				k = Host
			case op.View && n.Inputs[0] != "" && !host[n.Inputs[0]]:
				k = View
			}
		}
		if k == Host {
			for _, o := range n.Outputs {
				host[o] = true
			}
		}
		g.Kinds = append(g.Kinds, k)
	}
	g.Runs = ChainRuns(g)
	return g, nil
}

// Readers counts, for each value, the nodes that read it, a graph output
// counting as one reader more.
func Readers(nodes []model.Node, outputs []model.ValueInfo) map[string]int {
	n := map[string]int{}
	for _, nd := range nodes {
		for _, in := range nd.Inputs {
			n[in]++
		}
	}
	for _, o := range outputs {
		n[o.Name]++
	}
	return n
}

// FuseDenseRelu folds each Dense whose only reader is the next node, a
// Relu, into one Dense with activation "relu" (one GEMM dispatch).
func FuseDenseRelu(nodes []model.Node, outputs []model.ValueInfo) []model.Node {
	readers := Readers(nodes, outputs)
	var out []model.Node
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if n.Op == ops.OpDense && len(n.Outputs) == 1 && readers[n.Outputs[0]] == 1 && i+1 < len(nodes) {
			if _, has := n.Attrs[ops.AttrActivation]; !has {
				next := nodes[i+1]
				if next.Op == ops.OpRelu && len(next.Inputs) == 1 && next.Inputs[0] == n.Outputs[0] {
					f := n
					f.Attrs = map[string]model.Attr{}
					for k, v := range n.Attrs {
						f.Attrs[k] = v
					}
					f.Attrs[ops.AttrActivation] = model.StringAttr(ops.ActivationRelu)
					f.Outputs = next.Outputs
					f.Name = n.Name + "+" + next.Name
					out = append(out, f)
					i++
					continue
				}
			}
		}
		out = append(out, n)
	}
	return out
}

// ChainRuns returns, for each device node that starts one, the longest run
// of consecutive device nodes a fused kernel could take as one step: each
// node but the last has one output, read only by the next node, which reads
// it as its only runtime input, and not a graph output. Whether a fused
// kernel takes a prefix of the run, and at which shapes, is the device's
// answer (Options.Chain).
func ChainRuns(g *Graph) map[int][]int {
	readers := Readers(g.Nodes, g.Model.Outputs)
	runtime := func(n *model.Node) []string {
		var r []string
		for _, in := range n.Inputs {
			if in != "" && g.consts[in] == nil {
				r = append(r, in)
			}
		}
		return r
	}
	out := map[int][]int{}
	for i := range g.Nodes {
		if g.Kinds[i] != Device || len(runtime(&g.Nodes[i])) != 1 {
			continue
		}
		run := []int{i}
		for j := i; j+1 < len(g.Nodes); j++ {
			n, next := &g.Nodes[j], &g.Nodes[j+1]
			rt := runtime(next)
			if g.Kinds[j+1] != Device || len(n.Outputs) != 1 || readers[n.Outputs[0]] != 1 ||
				len(rt) != 1 || rt[0] != n.Outputs[0] {
				break
			}
			run = append(run, j+1)
		}
		if len(run) > 1 {
			out[i] = run
		}
	}
	return out
}
