package layers_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The data-movement ops (shaders/strided.comp) copy values bit for bit:
// every case is exact, signed zeros, NaN and infinities included.

// permutations returns every permutation of [0, r).
func permutations(r int) [][]int64 {
	if r == 0 {
		return [][]int64{{}}
	}
	var out [][]int64
	for _, p := range permutations(r - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int64{}, p[:i]...), int64(r-1)), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

func TestTranspose(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(29))
	node := func(perm []int64) model.Node {
		n := model.Node{Op: ops.OpTranspose, Attrs: map[string]model.Attr{}}
		if perm != nil {
			n.Attrs["perm"] = model.IntsAttr(perm...)
		}
		return n
	}
	var cases []optest.Case
	add := func(shape []int, perm []int64) {
		cases = append(cases, optest.Case{
			Name:       fmt.Sprintf("Transpose%v_perm%v", shape, perm),
			Node:       node(perm),
			Inputs:     []*ops.Tensor{optest.Random(r, shape, 10, true)},
			SignedZero: true,
		})
	}
	// Every permutation at ranks 2 to 4, at awkward sizes.
	for _, shape := range [][]int{{7, 13}, {1, 257}, {3, 5, 7}, {2, 1, 13}, {2, 3, 5, 7}, {1, 7, 1, 13}} {
		for _, p := range permutations(len(shape)) {
			add(shape, p)
		}
	}
	// The default (reversed), rank 0 to 6, and shufflenet's channel shuffle.
	for _, shape := range [][]int{{}, {127}, {7, 13}, {2, 3, 4, 5, 6}, {2, 3, 1, 5, 2, 7}} {
		add(shape, nil)
	}
	add([]int{2, 2, 24, 7, 7}, []int64{0, 2, 1, 3, 4})
	add([]int{1, 2, 58, 13, 13}, []int64{0, 2, 1, 3, 4})
	add([]int{2, 3, 5, 7, 2, 3}, []int64{5, 3, 1, 0, 2, 4})
	add([]int{3, 2, 5, 1, 7, 2}, []int64{1, 0, 3, 2, 5, 4})
	// Large enough for a 2-D grid; NCHW -> NHWC.
	add([]int{1, 257, 65, 65}, []int64{0, 2, 3, 1})
	for _, c := range cases {
		optest.Check(t, d, c)
	}
	// One element per invocation, as GPUs run it.
	defer layers.SetStridedRun(1)()
	for _, c := range cases[len(cases)-6:] {
		c.Name += "_run1"
		optest.Check(t, d, c)
	}
}

func i64s(v ...int64) *ops.Tensor { return ops.I64([]int{len(v)}, v) }

// values prints int64 tensors (nil: absent) for subtest names.
func values(ts []*ops.Tensor) string {
	s := ""
	for _, t := range ts {
		switch {
		case t == nil:
			s += "_"
		case t.DType == ops.Float32:
			s += fmt.Sprint(t.Data)
		default:
			s += fmt.Sprint(t.Ints)
		}
	}
	return s
}

func TestSlice(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(31))
	attrs := func(kv ...any) map[string]model.Attr {
		m := map[string]model.Attr{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = model.IntsAttr(kv[i+1].([]int64)...)
		}
		return m
	}
	var cases []optest.Case
	// Opsets < 10: attributes (steps is the importer's).
	for _, c := range []struct {
		shape []int
		attrs map[string]model.Attr
	}{
		{[]int{7, 5, 13}, attrs("starts", []int64{1, -3}, "ends", []int64{1000, -1}, "axes", []int64{0, 2})},
		{[]int{7, 5, 13}, attrs("starts", []int64{0, 1, 2}, "ends", []int64{7, 4, 13})},
		{[]int{3, 13, 7}, attrs("starts", []int64{-1}, "ends", []int64{-1000000}, "axes", []int64{1}, "steps", []int64{-2})},
		{[]int{3, 13, 7}, attrs("starts", []int64{100, 5}, "ends", []int64{-100, 2}, "axes", []int64{-1, -2}, "steps", []int64{-3, 1})},
		{[]int{127}, attrs("starts", []int64{-1 << 40}, "ends", []int64{1 << 40})},
		{[]int{257}, attrs("starts", []int64{3}, "ends", []int64{256}, "steps", []int64{7})},
		{[]int{2, 116, 7, 7}, attrs("starts", []int64{58}, "ends", []int64{116}, "axes", []int64{1})},
		{[]int{1, 257, 65, 65}, attrs("starts", []int64{1}, "ends", []int64{257}, "axes", []int64{1}, "steps", []int64{2})},
		{[]int{2, 3, 4, 5, 6, 7}, attrs("starts", []int64{1, 1, 1, 1, 1, 1}, "ends", []int64{2, 3, 4, 5, 6, 7}, "steps", []int64{1, 1, 2, 3, 4, 5})},
		{[]int{5, 7}, attrs("starts", []int64{3}, "ends", []int64{1}, "axes", []int64{0})}, // empty
	} {
		cases = append(cases, optest.Case{
			Name:       fmt.Sprintf("Slice%v_%v", c.shape, c.attrs),
			Node:       model.Node{Op: ops.OpSlice, Attrs: c.attrs},
			Inputs:     []*ops.Tensor{optest.Random(r, c.shape, 10, true)},
			SignedZero: true,
		})
	}
	// Opsets >= 10: inputs, constant or known on the host (shape arithmetic);
	// absent axes and steps.
	for _, form := range []string{"const", "host"} {
		for _, in := range [][]*ops.Tensor{
			{i64s(-5, 0), i64s(-1, 1<<40), i64s(2, 0), i64s(-1, 2)},
			{i64s(1, 2), i64s(6, 12)},
			{i64s(12), i64s(-1 << 40), nil, i64s(-5)},
			{i64s(0), i64s(3), i64s(-3)},
		} {
			x := optest.Random(r, []int{7, 5, 13}, 10, true)
			c := optest.Case{
				Name:       fmt.Sprintf("Slice_%s_%v", form, values(in)),
				Node:       model.Node{Op: ops.OpSlice},
				Inputs:     append([]*ops.Tensor{x}, in...),
				SignedZero: true,
			}
			for i := range c.Inputs {
				c.Const = append(c.Const, i > 0 && form == "const")
				c.Host = append(c.Host, i > 0 && form == "host")
			}
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}

func TestSplit(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(37))
	outs := func(n int) []string {
		var s []string
		for i := 0; i < n; i++ {
			s = append(s, fmt.Sprintf("out%d", i))
		}
		return s
	}
	var cases []optest.Case
	for _, c := range []struct {
		shape []int
		axis  int64
		n     int
		split []int64 // nil: equal pieces
		num   bool    // num_outputs (opset 18)
		form  string  // "attr", "const", "host"
	}{
		{[]int{12}, 0, 3, nil, false, "attr"},
		{[]int{7, 13}, 1, 3, []int64{1, 7, 5}, false, "attr"},
		{[]int{7, 13}, -2, 2, []int64{6, 1}, false, "const"},
		{[]int{2, 116, 7, 7}, 1, 2, nil, false, "attr"},
		{[]int{2, 3, 127}, -1, 4, []int64{0, 100, 26, 1}, false, "host"},
		{[]int{13, 5}, 0, 4, nil, true, "attr"},
		{[]int{1, 257, 65, 65}, 1, 2, []int64{128, 129}, false, "const"},
		{[]int{2, 3, 2, 5, 2, 7}, 3, 5, nil, false, "attr"},
	} {
		n := model.Node{Op: ops.OpSplit, Attrs: map[string]model.Attr{"axis": model.IntAttr(c.axis)}, Outputs: outs(c.n)}
		if c.num {
			n.Attrs["num_outputs"] = model.IntAttr(int64(c.n))
		}
		inputs := []*ops.Tensor{optest.Random(r, c.shape, 10, true)}
		cs := optest.Case{Name: fmt.Sprintf("Split%v_axis%d_%d_%v_%s", c.shape, c.axis, c.n, c.split, c.form), SignedZero: true}
		if c.split != nil && c.form == "attr" {
			n.Attrs["split"] = model.IntsAttr(c.split...)
		} else if c.split != nil {
			inputs = append(inputs, i64s(c.split...))
			cs.Const = []bool{false, c.form == "const"}
			cs.Host = []bool{false, c.form == "host"}
		}
		cs.Node, cs.Inputs = n, inputs
		cases = append(cases, cs)
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}

func TestPad(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(41))
	var cases []optest.Case
	for _, mode := range []string{ops.PadConstant, ops.PadEdge, ops.PadReflect, ops.PadWrap} {
		for _, c := range []struct {
			shape []int
			pads  []int64
		}{
			{[]int{1, 3, 5, 7}, []int64{0, 0, 2, 3, 0, 0, 1, 4}},
			{[]int{7}, []int64{10, 13}},                          // beyond the dimension: periodic
			{[]int{1, 1, 1, 1}, []int64{0, 0, 2, 3, 0, 1, 1, 4}}, // 1x1 image
			{[]int{3, 13}, []int64{-1, 2, 1, -5}},                // negative: cropped
			{[]int{2, 3, 2, 1, 2, 3}, []int64{1, 0, 1, 2, 0, 1, 0, 1, 0, 1, 1, 0}},
			{[]int{1, 33, 127, 127}, []int64{0, 0, 1, 1, 0, 0, 1, 1}},
		} {
			// Opsets < 11: attributes.
			attrs := map[string]model.Attr{"mode": model.StringAttr(mode), "pads": model.IntsAttr(c.pads...)}
			if mode == ops.PadConstant {
				attrs["value"] = model.FloatAttr(-1.5)
			}
			x := optest.Random(r, c.shape, 10, true)
			cases = append(cases, optest.Case{
				Name:       fmt.Sprintf("Pad_%s%v_%v", mode, c.shape, c.pads),
				Node:       model.Node{Op: ops.OpPad, Attrs: attrs},
				Inputs:     []*ops.Tensor{x},
				SignedZero: true,
			})
		}
	}
	// Opsets >= 11: pads, constant_value and (18) axes as inputs, constant
	// or known on the host.
	inf := float32(math.Inf(-1))
	for _, form := range []string{"const", "host"} {
		for _, c := range []struct {
			mode  string
			shape []int
			in    []*ops.Tensor
		}{
			{ops.PadConstant, []int{2, 3, 7, 13}, []*ops.Tensor{i64s(0, 0, 1, 2, 0, 0, 3, 4), ops.F32(nil, []float32{inf})}},
			{ops.PadConstant, []int{2, 3, 7, 13}, []*ops.Tensor{i64s(1, 2, 3, 4), nil, i64s(-1, 2)}},
			{ops.PadReflect, []int{2, 3, 7, 13}, []*ops.Tensor{i64s(2, 3, 4, 1), nil, i64s(-2, -1)}},
			{ops.PadEdge, []int{2, 3, 7, 13}, []*ops.Tensor{i64s(0, 0, 2, 3, 0, 0, 1, 4)}},
		} {
			x := optest.Random(r, c.shape, 10, true)
			cs := optest.Case{
				Name:       fmt.Sprintf("Pad_%s_%s%v_%v", form, c.mode, c.shape, values(c.in)),
				Node:       model.Node{Op: ops.OpPad, Attrs: map[string]model.Attr{"mode": model.StringAttr(c.mode)}},
				Inputs:     append([]*ops.Tensor{x}, c.in...),
				SignedZero: true,
			}
			for i := range cs.Inputs {
				cs.Const = append(cs.Const, i > 0 && form == "const")
				cs.Host = append(cs.Host, i > 0 && form == "host")
			}
			cases = append(cases, cs)
		}
	}
	// constant_value computed on the device (read by the kernel).
	for _, v := range []float32{inf, float32(math.NaN()), float32(math.Copysign(0, -1)), 3.5} {
		cases = append(cases, optest.Case{
			Name:       fmt.Sprintf("Pad_device_value_%v", v),
			Node:       model.Node{Op: ops.OpPad, Attrs: map[string]model.Attr{"mode": model.StringAttr(ops.PadConstant)}},
			Inputs:     []*ops.Tensor{optest.Random(r, []int{3, 7, 13}, 10, true), i64s(1, 0, 2, 0, 3, 1), ops.F32([]int{1}, []float32{v})},
			Const:      []bool{false, true, false},
			SignedZero: true,
		})
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
	// One element per invocation, as GPUs run it.
	defer layers.SetStridedRun(1)()
	for _, c := range cases[:6] {
		c.Name += "_run1"
		optest.Check(t, d, c)
	}
}

// castValues are float32 values at the edges of FLOAT16 and BFLOAT16
// rounding, with their neighbours: ties, the largest finite values, the
// smallest normals and subnormals.
func castValues() *ops.Tensor {
	var v []float32
	for _, b := range []float32{1, 1 + 1.0/2048, 1 + 3.0/2048, 65504, 65519, 65520, 1.0 / 16384, 1.0 / (1 << 24), 1.0 / (1 << 25), 3.0 / (1 << 25),
		1 + 1.0/256, 1 + 3.0/256, 3.3895314e38, 3.4e38, 1e-38, 0.1, 1e5} {
		for _, s := range []float32{1, -1} {
			u := math.Float32bits(b * s)
			for d := -2; d <= 2; d++ {
				v = append(v, math.Float32frombits(uint32(int64(u)+int64(d))))
			}
		}
	}
	return ops.F32([]int{len(v)}, v)
}

func TestCast(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(43))
	var cases []optest.Case
	for _, to := range []int64{1, 11, 10, 16} { // FLOAT, DOUBLE, FLOAT16, BFLOAT16
		node := model.Node{Op: ops.OpCast, Attrs: map[string]model.Attr{"to": model.IntAttr(to)}}
		cases = append(cases, optest.Case{Name: fmt.Sprintf("Cast%d_edges", to), Node: node, Inputs: []*ops.Tensor{castValues()}, SignedZero: true})
		for _, n := range optest.Sizes {
			cases = append(cases, optest.Case{
				Name: fmt.Sprintf("Cast%d_%d", to, n), Node: node,
				Inputs:     []*ops.Tensor{optest.Random(r, []int{n}, float32(math.Pow(10, float64(r.Intn(9)-4))), true)},
				SignedZero: true,
			})
		}
		cases = append(cases, optest.Case{Node: node, Inputs: []*ops.Tensor{optest.Random(r, []int{2, 3, 5, 7}, 100, true)}, SignedZero: true})
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
	// Casts to integer types stay on the host.
	b, _ := layers.Lookup(ops.OpCast)
	_, err := b(&layers.Build{Dev: d, Const: func(string) *model.Tensor { return nil }},
		&model.Node{Op: ops.OpCast, Name: "c", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: map[string]model.Attr{"to": model.IntAttr(7)}})
	if !errors.Is(err, layers.ErrUnsupported) {
		t.Errorf("Cast to INT64 on the device: %v, want ErrUnsupported", err)
	}
}

func TestSqueezeUnsqueezeCopy(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(47))
	var cases []optest.Case
	for _, c := range []struct {
		op    string
		shape []int
		axes  []int64
		form  string // "attr", "host", "none"
	}{
		{ops.OpSqueeze, []int{1, 7, 1, 13}, []int64{0, -2}, "attr"},
		{ops.OpSqueeze, []int{1, 7, 1, 13}, []int64{2}, "host"},
		{ops.OpSqueeze, []int{1, 257, 1}, nil, "none"},
		{ops.OpUnsqueeze, []int{7, 13}, []int64{0, 3}, "attr"},
		{ops.OpUnsqueeze, []int{127}, []int64{-1, 0}, "host"},
	} {
		cs := optest.Case{Name: fmt.Sprintf("%s%v_%v_%s", c.op, c.shape, c.axes, c.form), Node: model.Node{Op: c.op, Attrs: map[string]model.Attr{}},
			Inputs: []*ops.Tensor{optest.Random(r, c.shape, 10, true)}, SignedZero: true}
		switch c.form {
		case "attr":
			cs.Node.Attrs["axes"] = model.IntsAttr(c.axes...)
		case "host":
			cs.Inputs = append(cs.Inputs, i64s(c.axes...))
			cs.Host = []bool{false, true}
		}
		cases = append(cases, cs)
	}
	for _, c := range cases {
		optest.Check(t, d, c)
	}
}
