package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newInfoCmd) }

func newInfoCmd(e *env) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "info MODEL",
		Short: "describe a model file (needs no GPU)",
		Long: `Prints what the model file MODEL (mlp.bin or ONNX) holds, as vkinfer
runs it (an ONNX graph after import, docs/OPS.md): name, producer, id and
description; the graph inputs and outputs with their shapes (-1 is any size,
usually the batch); every node with its op, attributes and the shapes of its
weights; the parameter count; how images become the input (input spec); and
the labels. The file is read and checked, nothing is run.`,
		ValidArgsFunction: modelFiles,
		RunE:              func(_ *cobra.Command, args []string) error { return runInfo(e, asJSON, args) },
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return c
}

func runInfo(e *env, asJSON bool, pos []string) error {
	if len(pos) != 1 {
		return usagef("info takes one model file, got %s", count(len(pos), "argument"))
	}
	m, err := readModel(pos[0])
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(infoOf(pos[0], m))
	}
	printInfo(e.stdout, pos[0], m)
	return nil
}

type modelInfoJSON struct {
	File        string         `json:"file"`
	Name        string         `json:"name"`
	Producer    string         `json:"producer"`
	ID          string         `json:"id"`
	Description string         `json:"description"`
	Parameters  int64          `json:"parameters"`
	Inputs      []valueJSON    `json:"inputs"`
	Outputs     []valueJSON    `json:"outputs"`
	Nodes       []nodeJSON     `json:"nodes"`
	InputSpec   *inputSpecJSON `json:"input_spec"`
	Labels      []string       `json:"labels"`
	Weights     []weightJSON   `json:"weights"`
	Notes       []string       `json:"notes,omitempty"`
	// Unsupported names the nodes ("name (Op)") whose op no layer runs.
	Unsupported []string `json:"unsupported"`
}

type valueJSON struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	// AnyShape: an input that declares no shape (Shape is null); it takes
	// the shape of the tensor given at run time.
	AnyShape bool `json:"any_shape,omitempty"`
	// Probability is set for outputs: whether they hold probabilities
	// (model.IsProbability) or raw scores.
	Probability *bool `json:"probability,omitempty"`
}

type weightJSON struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
}

type nodeJSON struct {
	Name    string         `json:"name"`
	Op      string         `json:"op"`
	Inputs  []string       `json:"inputs"`
	Outputs []string       `json:"outputs"`
	Attrs   map[string]any `json:"attrs"`
	Weights []weightJSON   `json:"weights"`
	// Supported says whether a layer of this build runs the node's op.
	Supported bool `json:"supported"`
}

type inputSpecJSON struct {
	Color  string    `json:"color"`
	Width  int       `json:"width"`
	Height int       `json:"height"`
	Layout string    `json:"layout"`
	Scale  float32   `json:"scale"`
	Mean   []float32 `json:"mean"`
	Std    []float32 `json:"std"`
	Invert bool      `json:"invert"`
}

func infoOf(path string, m *model.Model) *modelInfoJSON {
	j := &modelInfoJSON{
		File: path, Name: m.Name, Producer: m.Producer, ID: m.ID.String(), Description: m.Description,
		Parameters: m.ParamCount(), Labels: m.Labels, Notes: m.Notes,
		Inputs: []valueJSON{}, Outputs: []valueJSON{}, Nodes: []nodeJSON{}, Weights: []weightJSON{},
		Unsupported: unsupported(m),
	}
	if j.Unsupported == nil {
		j.Unsupported = []string{}
	}
	if j.Labels == nil {
		j.Labels = []string{}
	}
	for _, v := range m.Inputs {
		j.Inputs = append(j.Inputs, valueJSON{Name: v.Name, Shape: v.Shape, AnyShape: v.AnyShape})
	}
	for _, v := range m.Outputs {
		p := m.IsProbability(v.Name)
		j.Outputs = append(j.Outputs, valueJSON{Name: v.Name, Shape: v.Shape, Probability: &p})
	}
	for _, t := range m.Initializers {
		j.Weights = append(j.Weights, weightJSON{t.Name, t.Shape})
	}
	ok := runnable(m)
	for i, n := range m.Nodes {
		nj := nodeJSON{Name: n.Name, Op: n.Op, Inputs: n.Inputs, Outputs: n.Outputs, Attrs: map[string]any{}, Weights: []weightJSON{}, Supported: ok[i]}
		for k, a := range n.Attrs {
			nj.Attrs[k] = attrValue(a)
		}
		for _, t := range nodeWeights(m, &n) {
			nj.Weights = append(nj.Weights, weightJSON{t.Name, t.Shape})
		}
		j.Nodes = append(j.Nodes, nj)
	}
	if s := m.Input; s != nil {
		j.InputSpec = &inputSpecJSON{
			Color: s.Color.String(), Width: s.Width, Height: s.Height, Layout: s.Layout,
			Scale: s.Scale, Mean: s.Mean, Std: s.Std, Invert: s.Invert,
		}
		if j.InputSpec.Mean == nil {
			j.InputSpec.Mean, j.InputSpec.Std = []float32{}, []float32{}
		}
	}
	return j
}

// nodeWeights returns the initializers n reads.
func nodeWeights(m *model.Model, n *model.Node) []*model.Tensor {
	var ts []*model.Tensor
	for _, in := range n.Inputs {
		if t := m.Initializer(in); t != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

func attrValue(a model.Attr) any {
	switch a.Kind {
	case model.AttrInt:
		return a.Int
	case model.AttrFloat:
		return a.Float
	case model.AttrString:
		return a.String
	case model.AttrInts:
		return a.Ints
	case model.AttrFloats:
		return a.Floats
	}
	return nil
}

func attrString(a model.Attr) string {
	switch a.Kind {
	case model.AttrString:
		return a.String
	case model.AttrInts, model.AttrFloats:
		return strings.ReplaceAll(fmt.Sprint(attrValue(a)), " ", ",")
	}
	return fmt.Sprint(attrValue(a))
}

// shapeString writes a shape the one way vkinfer shows shapes, in the CLI
// and in the library's errors alike (Go's %v of a []int): "[-1 784]", -1
// being a dynamic dimension (any size, usually the batch).
func shapeString(s []int) string { return fmt.Sprint(s) }

// valueShape writes a graph input's or output's declared shape: "[-1 784]",
// "any shape" for an input that declares none (model.ValueInfo.AnyShape),
// "unknown" for an output whose shape the file does not say.
func valueShape(v model.ValueInfo) string {
	switch {
	case v.AnyShape:
		return "any shape"
	case v.Shape == nil:
		return "unknown"
	}
	return shapeString(v.Shape)
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// maxLabelsShown caps the labels printed as text; --json lists all.
const maxLabelsShown = 30

func printInfo(w io.Writer, path string, m *model.Model) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	row("file", "%s", path)
	row("name", "%s", m.Name)
	row("producer", "%s", m.Producer)
	row("id", "%s", m.ID)
	if m.Description != "" {
		row("description", "%s", strings.Join(strings.Fields(m.Description), " "))
	}
	for _, n := range m.Notes {
		row("note", "%s", n)
	}
	p := m.ParamCount()
	row("parameters", "%s (%s of float32 weights)", commas(p), bytesString(uint64(4*p)))
	var ins []string
	dynamic := false
	for _, v := range m.Inputs {
		ins = append(ins, v.Name+" "+valueShape(v))
		dynamic = dynamic || slices.ContainsFunc(v.Shape, func(d int) bool { return d < 0 })
	}
	legend := ""
	if dynamic {
		legend = " (-1: any size)"
	}
	row("inputs", "%s%s", strings.Join(ins, ", "), legend)
	var outs []string
	for _, v := range m.Outputs {
		kind := "scores, not probabilities"
		if m.IsProbability(v.Name) {
			kind = "probabilities"
		}
		outs = append(outs, fmt.Sprintf("%s %s (%s)", v.Name, valueShape(v), kind))
	}
	row("outputs", "%s", strings.Join(outs, ", "))
	if s := m.Input; s != nil {
		desc := fmt.Sprintf("%s %d×%d %s, scale %g", s.Color, s.Width, s.Height, s.Layout, s.Scale)
		if len(s.Mean) > 0 {
			desc += fmt.Sprintf(", mean %v, std %v", s.Mean, s.Std)
		}
		if s.Invert {
			desc += ", inverted (255-v: dark on light becomes light on dark)"
		}
		row("input spec", "%s", desc)
	} else {
		row("input spec", "none (the model does not take images; use 'vkinfer run')")
	}
	switch n := len(m.Labels); {
	case n == 0:
		row("labels", "none (classes are numbered)")
	case n <= maxLabelsShown:
		row("labels", "%s (%d)", strings.Join(m.Labels, ", "), n)
	default:
		row("labels", "%s, ... (%d; --json lists all)", strings.Join(m.Labels[:maxLabelsShown], ", "), n)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nnodes (%d):\n", len(m.Nodes))
	var buf strings.Builder
	tw = tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	ok := runnable(m)
	for i, n := range m.Nodes {
		weights := map[string]bool{}
		var ws []string
		for _, t := range nodeWeights(m, &n) {
			weights[t.Name] = true
			ws = append(ws, t.Name+" "+shapeString(t.Shape))
		}
		var ins []string
		for _, in := range n.Inputs {
			if !weights[in] {
				ins = append(ins, in)
			}
		}
		keys := make([]string, 0, len(n.Attrs))
		for k := range n.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var attrs []string
		for _, k := range keys {
			attrs = append(attrs, k+"="+attrString(n.Attrs[k]))
		}
		details := strings.Join(ws, ", ")
		if len(attrs) > 0 {
			if details != "" {
				details += "; "
			}
			details += strings.Join(attrs, " ")
		}
		mark := " "
		if !ok[i] {
			mark = "!"
			details = strings.TrimPrefix(details+"; ", "; ") + "<- unsupported op"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s -> %s\t%s\n", mark, n.Name, n.Op, strings.Join(ins, ", "), strings.Join(n.Outputs, ", "), details)
	}
	tw.Flush()
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		io.WriteString(w, strings.TrimRight(line, " \n"))
		if strings.HasSuffix(line, "\n") {
			io.WriteString(w, "\n")
		}
	}
	if nodes := unsupported(m); len(nodes) > 0 {
		fmt.Fprintf(w, "\nunsupported: %s\n", unsupportedSummary(m, nodes))
	} else {
		fmt.Fprintf(w, "\nsupported: every node runs (on a layer, or on the host when a plan is made: shape arithmetic and views); attributes and shapes are checked at load\n")
	}
}
