package model

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// Validate checks that m is a well-formed graph: names are unique and
// non-empty, every node input is a graph input, an initializer or an output
// of an earlier node, initializer data matches its shape, attributes are
// well-formed, the declared graph outputs exist, and the input spec is
// consistent with the first input. Ops are checked structurally only: their
// meaning (arity, attributes, shapes) is package ops' (ops.Validate runs
// this and then every known op's checks). Errors wrap ErrInvalid.
func (m *Model) Validate() error {
	if err := m.validate(); err != nil {
		return fmt.Errorf("model: %w", err)
	}
	return nil
}

func (m *Model) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	for _, s := range []struct{ field, v string }{{"name", m.Name}, {"producer", m.Producer}, {"description", m.Description}} {
		if !utf8.ValidString(s.v) {
			return bad("%s is not valid UTF-8", s.field)
		}
	}
	for i, l := range m.Labels {
		if !utf8.ValidString(l) {
			return bad("label %d is not valid UTF-8", i)
		}
	}
	checkName := func(what, name string) error {
		if name == "" {
			return bad("%s has an empty name", what)
		}
		if !utf8.ValidString(name) {
			return bad("%s name %q is not valid UTF-8", what, name)
		}
		return nil
	}
	vals := make(map[string]bool)
	define := func(what, name string) error {
		if err := checkName(what, name); err != nil {
			return err
		}
		if _, dup := vals[name]; dup {
			return bad("%s %q: the name is already defined", what, name)
		}
		vals[name] = true
		return nil
	}
	for i, t := range m.Initializers {
		if t == nil {
			return bad("initializer %d is nil", i)
		}
		n, ok := elements(t.Shape)
		if !ok {
			return bad("initializer %q: invalid shape %v", t.Name, t.Shape)
		}
		if n != len(t.Data) {
			return bad("initializer %q: shape %v needs %d values, has %d", t.Name, t.Shape, n, len(t.Data))
		}
		if err := define("initializer", t.Name); err != nil {
			return err
		}
	}
	for _, v := range m.Inputs {
		if v.AnyShape && v.Shape != nil {
			return bad("input %q: AnyShape with a shape %v", v.Name, v.Shape)
		}
		for _, d := range v.Shape {
			if d < -1 {
				return bad("input %q: dimension %d in shape %v (only -1 is dynamic)", v.Name, d, v.Shape)
			}
		}
		if err := define("input", v.Name); err != nil {
			return err
		}
	}
	nodeNames := make(map[string]bool)
	for i := range m.Nodes {
		n := &m.Nodes[i]
		where := fmt.Sprintf("node %d (%q, op %q)", i, n.Name, n.Op)
		if n.Name != "" {
			if !utf8.ValidString(n.Name) {
				return bad("node %d: name is not valid UTF-8", i)
			}
			if nodeNames[n.Name] {
				return bad("%s: node name used twice", where)
			}
			nodeNames[n.Name] = true
		}
		if n.Op == "" || !utf8.ValidString(n.Op) {
			return bad("%s: op must be a non-empty UTF-8 string", where)
		}
		for k, a := range n.Attrs {
			if err := checkAttr(k, a); err != nil {
				return bad("%s: %v", where, err)
			}
		}
		for j, name := range n.Inputs {
			if name == "" {
				continue // an absent optional input (ONNX's ""); ops.Resolve checks the required ones
			}
			if _, ok := vals[name]; !ok {
				return bad("%s: input %d %q is not a graph input, an initializer or an earlier output", where, j, name)
			}
		}
		if len(n.Outputs) == 0 {
			return bad("%s: no outputs", where)
		}
		for _, name := range n.Outputs {
			if err := define(where+" output", name); err != nil {
				return err
			}
		}
	}
	for i, t := range m.Defaults {
		if t == nil {
			return bad("default %d is nil", i)
		}
		var in *ValueInfo
		for j := range m.Inputs {
			if m.Inputs[j].Name == t.Name {
				in = &m.Inputs[j]
			}
		}
		if in == nil || m.Default(t.Name) != t {
			return bad("default %q: not the one default of a graph input", t.Name)
		}
		if n, ok := elements(t.Shape); !ok || n != len(t.Data) || !in.AnyShape && !compatible(in.Shape, t.Shape) {
			return bad("default %q: shape %v with %d values for input shape %s", t.Name, t.Shape, len(t.Data), in.ShapeString())
		}
	}
	outNames := make(map[string]bool)
	for _, v := range m.Outputs {
		if err := checkName("output", v.Name); err != nil {
			return err
		}
		if outNames[v.Name] {
			return bad("output %q listed twice", v.Name)
		}
		outNames[v.Name] = true
		if _, ok := vals[v.Name]; !ok {
			return bad("output %q is not produced by any node", v.Name)
		}
		if v.AnyShape {
			return bad("output %q: AnyShape is for inputs (an output's unknown shape is a nil Shape)", v.Name)
		}
		for _, d := range v.Shape {
			if d < -1 {
				return bad("output %q: dimension %d in shape %v (only -1 is dynamic)", v.Name, d, v.Shape)
			}
		}
	}
	if m.Input != nil {
		if err := m.Input.check(); err != nil {
			return bad("input spec: %v", err)
		}
		if len(m.Inputs) == 0 {
			return bad("input spec given but the model has no inputs")
		}
		if m.Inputs[0].AnyShape {
			return bad("input spec given for input %q, which declares no shape: an image needs a known layout", m.Inputs[0].Name)
		}
		want := m.Input.Color.Channels() * m.Input.Width * m.Input.Height
		shape := m.Inputs[0].Shape
		if len(shape) >= 2 {
			per, known := 1, true
			for _, d := range shape[1:] {
				if d < 0 {
					known = false
					break
				}
				per *= d
			}
			if known && per != want {
				return bad("input spec makes %d values per image, input %q %v takes %d", want, m.Inputs[0].Name, shape, per)
			}
		}
	}
	if len(m.Labels) > 0 && len(m.Outputs) > 0 {
		if s := m.Outputs[0].Shape; len(s) > 0 && s[len(s)-1] >= 0 && s[len(s)-1] != len(m.Labels) {
			return bad("%d labels for output %q of shape %v", len(m.Labels), m.Outputs[0].Name, s)
		}
	}
	return nil
}

func checkAttr(name string, a Attr) error {
	if name == "" || !utf8.ValidString(name) {
		return fmt.Errorf("attribute name %q must be a non-empty UTF-8 string", name)
	}
	switch a.Kind {
	case AttrInt, AttrInts:
	case AttrFloat:
		if !finite(a.Float) {
			return fmt.Errorf("attribute %q: %v is not finite", name, a.Float)
		}
	case AttrString:
		if !utf8.ValidString(a.String) {
			return fmt.Errorf("attribute %q: string is not valid UTF-8", name)
		}
	case AttrFloats:
		for _, f := range a.Floats {
			if !finite(f) {
				return fmt.Errorf("attribute %q: %v is not finite", name, f)
			}
		}
	default:
		return fmt.Errorf("attribute %q: invalid kind %d", name, a.Kind)
	}
	return nil
}

func finite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// compatible reports whether two shapes can be the same, -1 matching any dim.
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
