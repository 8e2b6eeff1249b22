package vkinfer

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
	"github.com/vkinfer/vkinfer/planner"
)

// Profile is the per-layer timing of a model at one set of input shapes
// (Model.Profile).
type Profile struct {
	// Mode is how the steps were timed: engine.ProfileDevice (GPU
	// timestamps around each step, in one submission) or engine.ProfileHost
	// (one submission per step timed on the host, each including a submit
	// and a wait).
	Mode engine.ProfileMode
	// Runs is how many profiled runs the medians are over.
	Runs int
	// Layers are the recorded steps in order: one per device node or fused
	// run of nodes, plus the staging copies of inputs and outputs where the
	// device needs them.
	Layers []LayerTime
	// Total is the sum of the Layers' times (of their medians, so that the
	// shares add up).
	Total time.Duration
}

// LayerTime is one step of a profiled model.
type LayerTime struct {
	// Name is the step's node name (fused nodes joined by "+"); Nodes are
	// the graph nodes it runs (empty for staging copies).
	Name  string
	Nodes []string
	// Op is the node's op (fused: the ops joined by "+", e.g. "Conv+Relu";
	// a fused activation counts as part of the op it follows).
	Op string
	// Kernels are the shaders the step dispatched.
	Kernels            []string
	Dispatches, Copies int
	// Time is the median over the runs.
	Time time.Duration
	// FLOPs is the step's floating-point work per run (2 per
	// multiply-add) where the op has a count (Conv, ConvTranspose, Gemm,
	// MatMul, Dense); 0 otherwise.
	FLOPs int64
}

// GFLOPS is the step's FLOPs over its time (0 without a count or a time).
func (l LayerTime) GFLOPS() float64 {
	if l.FLOPs == 0 || l.Time <= 0 {
		return 0
	}
	return float64(l.FLOPs) / l.Time.Seconds() / 1e9
}

// Profile records the model's plan for the shapes of inputs once more, with
// a timestamp after each step (engine.ProfileAuto: GPU timestamps where the
// device's queue has them, host timing per step otherwise), runs it once
// untimed and then runs times, and returns each step's median time. The
// plan is the one Run would use (with the chain choice Run made, where it
// has made one); the profiled program is freed before Profile returns, so
// Run's own programs stay as fast as they were.
func (m *Model) Profile(ctx context.Context, runs int, inputs ...Tensor) (*Profile, error) {
	if runs < 1 {
		return nil, fmt.Errorf("vkinfer: profile: runs must be at least 1, got %d", runs)
	}
	inputs = withDefaults(m.spec, inputs)
	shapes, err := m.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("vkinfer: profile %s: the Model was closed: %w", m.spec.Name, ErrClosed)
	}
	m.runs.Add(1)
	m.mu.Unlock()
	defer m.runs.Done()

	mode, _ := m.storedMode(shapes) // the measured choice, else chains
	m.rec.Lock()
	p, _, err := m.record(shapes, mode, engine.ProfileAuto)
	m.rec.Unlock()
	if err != nil {
		return nil, err
	}
	defer p.close()
	ins := make([]engine.IO, len(inputs))
	for i, t := range inputs {
		ins[i] = engine.IO{Buf: p.inputs[i], Data: t.Data}
	}
	var profs []engine.Profile
	for i := 0; i <= runs; i++ {
		if err := p.prog.Run(ctx, ins, nil); err != nil {
			return nil, fmt.Errorf("vkinfer: profile %s: %w", m.spec.Name, err)
		}
		if i == 0 {
			continue // warm-up
		}
		pr, err := p.prog.Profile()
		if err != nil {
			return nil, fmt.Errorf("vkinfer: profile %s: %w", m.spec.Name, err)
		}
		profs = append(profs, pr)
	}
	return m.profileOf(p, profs), nil
}

// profileOf takes the medians of profs, runs of p's program.
func (m *Model) profileOf(p *plan, profs []engine.Profile) *Profile {
	first := profs[0]
	out := &Profile{Mode: first.Mode, Runs: len(profs)}
	med := func(f func(engine.Profile) time.Duration) time.Duration {
		ds := make([]time.Duration, len(profs))
		for i, pr := range profs {
			ds[i] = f(pr)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	for i, st := range first.Steps {
		l := LayerTime{Name: st.Name, Op: "(copy)", Kernels: st.Kernels, Dispatches: st.Dispatches, Copies: st.Copies,
			Time: med(func(pr engine.Profile) time.Duration { return pr.Steps[i].Duration })}
		if st.Step >= 0 {
			ps := p.planned.Steps[st.Step]
			var opNames []string
			for k := ps.Node; k < ps.Node+ps.Count; k++ {
				n := &m.graph.Nodes[k]
				l.Nodes = append(l.Nodes, n.Name)
				op := n.Op
				if a, ok := n.Attrs[ops.AttrActivation]; ok && a.Kind == model.AttrString && a.String != "" {
					op += "+" + activationOp(a.String)
				}
				opNames = append(opNames, op)
				l.FLOPs += nodeFLOPs(n, p.planned.Shapes)
			}
			l.Op = strings.Join(opNames, "+")
			if ps.Count > 1 {
				l.Name = strings.Join(l.Nodes, "+")
			}
			if ps.Copy {
				l.Op += " (copy)"
			}
			if k := inPlace(ps); k == len(ps.Ins) {
				l.Op += " (aliased)" // its producers wrote its inputs in place
			} else if k > 0 {
				l.Op += fmt.Sprintf(" (%d/%d aliased)", k, len(ps.Ins))
			}
		}
		out.Layers = append(out.Layers, l)
		out.Total += l.Time
	}
	return out
}

// inPlace counts a step's inputs its producers wrote in place
// (planner.Step.InPlace: a Concat's).
func inPlace(st planner.Step) int {
	k := 0
	for _, in := range st.InPlace {
		if in {
			k++
		}
	}
	return k
}

// activationOp names a fused activation (ops.AttrActivation) by its ONNX op.
func activationOp(act string) string {
	switch act {
	case "relu":
		return ops.OpRelu
	case "sigmoid":
		return ops.OpSigmoid
	case "leakyrelu":
		return ops.OpLeakyRelu
	case "clip":
		return ops.OpClip
	case "hardsigmoid":
		return "HardSigmoid"
	case "hardswish":
		return "HardSwish"
	case "silu":
		return "SiLU"
	}
	return act
}

// FLOPs counts the floating-point work of one run for inputs of the given
// shapes (one per model input, in order): 2 per multiply-add of every Conv,
// ConvTranspose, Gemm, MatMul and Dense node (bias and activations left
// out), as Profile counts each step's. The shapes go through the planner
// on the host (no device work); shapes the graph cannot take return its
// error.
func (m *Model) FLOPs(shapes ...[]int) (int64, error) {
	pl, err := planner.Make(m.graph, shapes, planner.Options{})
	if err != nil {
		return 0, fmt.Errorf("vkinfer: FLOPs of %s: %w", m.spec.Name, err)
	}
	var n int64
	for i := range m.graph.Nodes {
		n += nodeFLOPs(&m.graph.Nodes[i], pl.Shapes)
	}
	return n, nil
}

// nodeFLOPs counts the floating-point operations of n (2 per multiply-add,
// the bias and activation left out) for the shapes of a plan; 0 for ops
// without a count or when a shape is missing.
func nodeFLOPs(n *model.Node, shapes map[string][]int) int64 {
	shape := func(i int) []int {
		if i >= len(n.Inputs) || n.Inputs[i] == "" {
			return nil
		}
		return shapes[n.Inputs[i]]
	}
	prod := func(s []int) int64 {
		v := int64(1)
		for _, d := range s {
			v *= int64(d)
		}
		return v
	}
	var out []int
	if len(n.Outputs) > 0 {
		out = shapes[n.Outputs[0]]
	}
	x, w := shape(0), shape(1)
	switch n.Op {
	case ops.OpConv:
		// Each output element sums Cin/groups * prod(kernel) products:
		// W is [Cout, Cin/groups, k...].
		if len(w) < 2 || out == nil {
			return 0
		}
		return 2 * prod(out) * prod(w[1:])
	case "ConvTranspose":
		// Each input element scatters into Cout/groups * prod(kernel)
		// outputs: W is [Cin, Cout/groups, k...].
		if len(w) < 2 || x == nil {
			return 0
		}
		return 2 * prod(x) * prod(w[1:])
	case ops.OpDense:
		// x [.., in] · Wᵀ, W [out, in].
		if len(w) != 2 || out == nil {
			return 0
		}
		return 2 * prod(out) * int64(w[1])
	case ops.OpGemm, ops.OpMatMul:
		// Each output element is a dot product over K: A's last dimension,
		// or its first for Gemm with transA.
		if len(x) == 0 || out == nil {
			return 0
		}
		k := x[len(x)-1]
		if n.Op == ops.OpGemm && len(x) == 2 {
			if a, ok := n.Attrs["transA"]; ok && a.Kind == model.AttrInt && a.Int != 0 {
				k = x[0]
			}
		}
		if len(x) == 1 { // MatMul of a vector
			k = x[0]
		}
		return 2 * prod(out) * int64(k)
	}
	return 0
}
