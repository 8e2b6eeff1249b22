package layers_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// convCase is one Conv of the differential test: input shape, weight shape
// and attributes.
type convCase struct {
	name  string
	x, w  []int
	bias  bool
	attrs map[string]model.Attr
	act   string
	alpha float32
	beta  float32
	nan   bool // plant NaN and ±inf in x
	rtw   bool // weights and bias are runtime inputs
}

func ints(v ...int64) model.Attr { return model.IntsAttr(v...) }

// operands draws the case's inputs from r (X with values in ±scale and the
// planted specials when c.nan, W, then B when c.bias) and its Conv
// attributes (c.attrs plus the fused activation when c.act is set).
func (c convCase) operands(r *rand.Rand, scale float32) ([]*ops.Tensor, map[string]model.Attr) {
	x := optest.Random(r, c.x, scale, false)
	if c.nan {
		plant(x.Data)
	}
	inputs := []*ops.Tensor{x, optest.Random(r, c.w, 1, false)}
	if c.bias {
		inputs = append(inputs, optest.Random(r, []int{c.w[0]}, 1, false))
	}
	attrs := map[string]model.Attr{}
	for k, v := range c.attrs {
		attrs[k] = v
	}
	if c.act != "" {
		attrs[ops.AttrActivation] = model.StringAttr(c.act)
		attrs[ops.AttrActAlpha] = model.FloatAttr(c.alpha)
		attrs[ops.AttrActBeta] = model.FloatAttr(c.beta)
	}
	return inputs, attrs
}

// plant puts NaN, +inf and -inf at a few positions of x. (Not optest's
// Specials: ±3.4e38 in a sum overflows in fp32 but not in the reference's
// float64, whose rounded result may be finite.)
func plant(x []float32) {
	for i, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		if len(x) > 3*i {
			x[(i*7919+len(x)/2)%len(x)] = v
		}
	}
}

// TestConvDifferential runs every Conv case through the kernel the static
// rule picks (auto: conv_dw for the depthwise ones), each Conv kernel
// variant forced (layers.ConvVariants: direct, the GEMM path -- im2col +
// the device's GEMM kernel where it has one --, dw, and any registered
// later; where a forced variant cannot run a case the static rule does),
// the GEMM path with a small patch-matrix bound, so that the chunked path
// runs too, and the depthwise cases through conv_dw with strips of 3 and 5
// columns.
func TestConvDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	modes := append(append([]string{"auto"}, layers.ConvVariants()...), "gemm-chunked", "depthwise-strip-3", "depthwise-strip-5")
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			switch mode {
			case "gemm-chunked":
				t.Setenv(layers.ConvKernelEnv, "gemm")
				old := layers.SetConvChunkFloats(2048)
				t.Cleanup(func() { layers.SetConvChunkFloats(old) })
			case "depthwise-strip-3", "depthwise-strip-5":
				// conv_dw with other strips than its own choice: other
				// strip tails and segment alignments
				cols := 3
				if mode == "depthwise-strip-5" {
					cols = 5
				}
				t.Setenv(layers.ConvKernelEnv, "dw")
				old := layers.SetConvDepthwiseStrip(cols)
				t.Cleanup(func() { layers.SetConvDepthwiseStrip(old) })
				testConvCases(t, d, true)
				return
			default:
				t.Setenv(layers.ConvKernelEnv, mode)
			}
			testConvCases(t, d, false)
		})
	}
}

// testConvCases checks the Conv cases (only the depthwise ones: group =
// channels) against the reference.
func testConvCases(t *testing.T, d *engine.Device, depthwiseOnly bool) {
	r := rand.New(rand.NewSource(12))
	s := model.StringAttr
	cases := []convCase{
		{name: "1x1 image 3x3 kernel pad 1", x: []int{1, 1, 1, 1}, w: []int{1, 1, 3, 3}, bias: true, attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "odd channels stride 2", x: []int{2, 3, 7, 9}, w: []int{5, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}},
		{name: "stride > kernel", x: []int{1, 3, 13, 13}, w: []int{7, 3, 2, 1}, attrs: map[string]model.Attr{"strides": ints(3, 4)}},
		{name: "1x1 kernel", x: []int{2, 13, 5, 7}, w: []int{7, 13, 1, 1}, bias: true},
		{name: "1x1 kernel one image", x: []int{1, 13, 4, 6}, w: []int{9, 13, 1, 1}, bias: true, act: "relu"},
		{name: "1x1 kernel batch 3 in place", x: []int{3, 8, 4, 4}, w: []int{11, 8, 1, 1}, bias: true, act: "relu", nan: true},
		{name: "1x1 kernel batch 2 in place wide", x: []int{2, 64, 8, 8}, w: []int{13, 64, 1, 1}},
		{name: "1x1 kernel one image odd plane", x: []int{1, 5, 3, 3}, w: []int{17, 5, 1, 1}, act: "clip", alpha: 0, beta: 6},
		{name: "1x1 kernel stride 2", x: []int{1, 6, 7, 7}, w: []int{8, 6, 1, 1}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2)}},
		{name: "many pixels", x: []int{3, 8, 33, 31}, w: []int{19, 8, 3, 3}, bias: true, act: "relu", attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "depthwise", x: []int{1, 13, 9, 7}, w: []int{13, 1, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(13), "pads": ints(1, 1, 1, 1)}},
		{name: "depthwise multiplier 2 stride 2", x: []int{2, 5, 8, 8}, w: []int{10, 1, 3, 3}, attrs: map[string]model.Attr{"group": model.IntAttr(5), "strides": ints(2, 2), "pads": ints(0, 1, 1, 0)}},
		{name: "depthwise 5x5 strip tail", x: []int{1, 7, 13, 11}, w: []int{7, 1, 5, 5}, bias: true, act: "relu", attrs: map[string]model.Attr{"group": model.IntAttr(7), "pads": ints(2, 2, 2, 2)}},
		{name: "depthwise 5x5 stride 2 SAME_UPPER", x: []int{2, 6, 17, 19}, w: []int{6, 1, 5, 5}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(6), "strides": ints(2, 2), "auto_pad": s("SAME_UPPER")}},
		{name: "depthwise multiplier 3 dilation 2", x: []int{1, 3, 12, 13}, w: []int{9, 1, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(3), "dilations": ints(2, 2), "pads": ints(2, 2, 2, 2)}},
		{name: "depthwise kernel larger than input", x: []int{1, 3, 2, 3}, w: []int{3, 1, 5, 5}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(3), "pads": ints(2, 1, 1, 2)}},
		{name: "depthwise stride > kernel", x: []int{1, 4, 13, 13}, w: []int{4, 1, 2, 1}, attrs: map[string]model.Attr{"group": model.IntAttr(4), "strides": ints(3, 4)}},
		{name: "depthwise NaN relu6", x: []int{1, 5, 9, 10}, w: []int{5, 1, 3, 3}, bias: true, nan: true, act: "clip", alpha: 0, beta: 6, attrs: map[string]model.Attr{"group": model.IntAttr(5), "pads": ints(1, 1, 1, 1)}},
		{name: "depthwise 1-D", x: []int{2, 3, 17}, w: []int{6, 1, 4}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(3), "strides": ints(2), "dilations": ints(2), "pads": ints(3, 1)}},
		{name: "depthwise long odd rows", x: []int{1, 3, 33, 130}, w: []int{3, 1, 3, 3}, bias: true, act: "hardswish", attrs: map[string]model.Attr{"group": model.IntAttr(3), "pads": ints(1, 1, 1, 1)}},
		{name: "depthwise 7x7 SAME_LOWER", x: []int{1, 2, 9, 15}, w: []int{2, 1, 7, 7}, attrs: map[string]model.Attr{"group": model.IntAttr(2), "auto_pad": s("SAME_LOWER")}},
		{name: "depthwise 9x9", x: []int{1, 2, 11, 12}, w: []int{4, 1, 9, 9}, attrs: map[string]model.Attr{"group": model.IntAttr(2), "pads": ints(4, 4, 4, 4)}},
		{name: "depthwise 1-D kernel 40 (conv.comp: segment over 32)", x: []int{1, 2, 45}, w: []int{2, 1, 40}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(2), "pads": ints(1, 2)}},
		{name: "depthwise runtime weights", x: []int{2, 4, 6, 9}, w: []int{8, 1, 3, 3}, bias: true, rtw: true, attrs: map[string]model.Attr{"group": model.IntAttr(4), "strides": ints(1, 2), "pads": ints(0, 1, 2, 1)}},
		{name: "depthwise one channel 1x1 image", x: []int{3, 1, 1, 1}, w: []int{2, 1, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(1), "pads": ints(1, 1, 1, 1)}},
		{name: "groups 3", x: []int{1, 6, 7, 7}, w: []int{9, 2, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(3)}},
		{name: "dilation 2 asymmetric pads", x: []int{1, 3, 11, 10}, w: []int{4, 3, 3, 3}, attrs: map[string]model.Attr{"dilations": ints(2, 3), "pads": ints(1, 0, 2, 1)}},
		{name: "kernel larger than input, padded", x: []int{1, 2, 2, 3}, w: []int{3, 2, 5, 5}, bias: true, attrs: map[string]model.Attr{"pads": ints(2, 1, 1, 2)}},
		{name: "SAME_UPPER stride 2", x: []int{1, 3, 8, 7}, w: []int{4, 3, 4, 3}, attrs: map[string]model.Attr{"auto_pad": s("SAME_UPPER"), "strides": ints(2, 2)}},
		{name: "SAME_LOWER", x: []int{1, 2, 5, 6}, w: []int{3, 2, 2, 4}, attrs: map[string]model.Attr{"auto_pad": s("SAME_LOWER")}},
		{name: "VALID", x: []int{1, 2, 6, 5}, w: []int{3, 2, 3, 2}, attrs: map[string]model.Attr{"auto_pad": s("VALID"), "strides": ints(2, 1)}},
		{name: "1-D", x: []int{2, 3, 17}, w: []int{5, 3, 4}, bias: true, attrs: map[string]model.Attr{"strides": ints(2), "dilations": ints(2), "pads": ints(3, 1)}},
		{name: "large K", x: []int{1, 64, 9, 9}, w: []int{17, 64, 3, 3}, bias: true, attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "1M outputs", x: []int{1, 2, 128, 129}, w: []int{64, 2, 1, 1}, bias: true},
		{name: "NaN and inf", x: []int{1, 3, 9, 9}, w: []int{4, 3, 3, 3}, bias: true, nan: true, attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "relu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "relu", nan: true},
		{name: "relu6", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "clip", alpha: 0, beta: 6},
		{name: "leakyrelu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "leakyrelu", alpha: 0.1},
		{name: "hardsigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "hardsigmoid", alpha: 0.2, beta: 0.5},
		{name: "hardswish", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "hardswish", nan: true},
		{name: "sigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "sigmoid"},
		{name: "runtime weights", x: []int{2, 4, 5, 5}, w: []int{6, 2, 3, 3}, bias: true, rtw: true, attrs: map[string]model.Attr{"group": model.IntAttr(2), "pads": ints(1, 1, 1, 1)}},
		{name: "runtime weights no bias", x: []int{1, 3, 6, 5}, w: []int{2, 3, 2, 2}, rtw: true, act: "relu"},
		{name: "7x7 stride 2 stem", x: []int{1, 3, 23, 21}, w: []int{8, 3, 7, 7}, bias: true, act: "relu", nan: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "pads": ints(3, 3, 3, 3)}},
		{name: "silu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "silu", nan: true},
	}
	for _, c := range cases {
		if g, ok := c.attrs["group"]; depthwiseOnly && (!ok || g.Int != int64(c.x[1])) && c.x[1] != 1 {
			continue
		}
		inputs, attrs := c.operands(r, 4)
		k := c.w[1]
		for _, v := range c.w[2:] {
			k *= v
		}
		// fp32 sums of k products of |x| ~ 4, |w| ~ 1, against the float64
		// reference.
		abs := 4e-7 * float64(k+1) * 4
		rel := 1e-5
		if c.act == "sigmoid" || c.act == "silu" {
			rel = 2e-5
		}
		optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConv, Attrs: attrs}, Inputs: inputs,
			Const: []bool{false, !c.rtw, !c.rtw}, Abs: abs, Rel: rel})
	}
}

func TestPoolDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(13))
	s := model.StringAttr
	type poolCase struct {
		name  string
		op    string
		x     []int
		attrs map[string]model.Attr
		nan   bool
	}
	k := func(v ...int64) model.Attr { return ints(v...) }
	cases := []poolCase{
		{"max 2x2 s2 odd", ops.OpMaxPool, []int{2, 3, 7, 9}, map[string]model.Attr{"kernel_shape": k(2, 2), "strides": k(2, 2)}, true},
		{"max 3x3 s2 pad 1 ceil", ops.OpMaxPool, []int{1, 5, 8, 8}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "pads": k(1, 1, 1, 1), "ceil_mode": model.IntAttr(1)}, false},
		{"max ceil no pad", ops.OpMaxPool, []int{1, 2, 13, 13}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "ceil_mode": model.IntAttr(1)}, false},
		{"max dilation", ops.OpMaxPool, []int{1, 2, 9, 10}, map[string]model.Attr{"kernel_shape": k(2, 3), "dilations": k(2, 2), "pads": k(1, 0, 0, 1)}, true},
		{"max 1x1 image padded", ops.OpMaxPool, []int{1, 1, 1, 1}, map[string]model.Attr{"kernel_shape": k(3, 3), "pads": k(1, 1, 1, 1)}, false},
		{"max stride > kernel", ops.OpMaxPool, []int{1, 3, 11, 11}, map[string]model.Attr{"kernel_shape": k(2, 2), "strides": k(3, 3)}, false},
		{"max SAME_UPPER", ops.OpMaxPool, []int{1, 3, 7, 6}, map[string]model.Attr{"kernel_shape": k(3, 2), "strides": k(2, 2), "auto_pad": s("SAME_UPPER")}, false},
		{"max 1-D", ops.OpMaxPool, []int{2, 3, 17}, map[string]model.Attr{"kernel_shape": k(3), "strides": k(2), "pads": k(1, 1)}, true},
		{"avg exclude pad", ops.OpAveragePool, []int{1, 3, 7, 7}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "pads": k(1, 1, 1, 1)}, false},
		{"avg include pad", ops.OpAveragePool, []int{1, 3, 7, 7}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "pads": k(1, 1, 1, 1), "count_include_pad": model.IntAttr(1)}, false},
		{"avg include pad ceil", ops.OpAveragePool, []int{1, 2, 6, 6}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "pads": k(1, 1, 1, 1), "count_include_pad": model.IntAttr(1), "ceil_mode": model.IntAttr(1)}, false},
		{"avg SAME_LOWER NaN", ops.OpAveragePool, []int{2, 2, 5, 5}, map[string]model.Attr{"kernel_shape": k(2, 2), "auto_pad": s("SAME_LOWER")}, true},
		{"avg 1-D", ops.OpAveragePool, []int{1, 4, 10}, map[string]model.Attr{"kernel_shape": k(4), "strides": k(3), "pads": k(2, 2), "count_include_pad": model.IntAttr(1)}, false},
		{"global avg 7x7", ops.OpGlobalAveragePool, []int{2, 5, 7, 7}, nil, true},
		{"global avg 1x1", ops.OpGlobalAveragePool, []int{1, 3, 1, 1}, nil, false},
		{"global avg 1-D", ops.OpGlobalAveragePool, []int{1, 3, 13}, nil, false},
		{"global max", ops.OpGlobalMaxPool, []int{1, 13, 9, 7}, nil, true},
	}
	cases = append(cases,
		poolCase{"max 3x3 s2 ceil squeezenet", ops.OpMaxPool, []int{1, 3, 111, 111}, map[string]model.Attr{"kernel_shape": k(3, 3), "strides": k(2, 2), "ceil_mode": model.IntAttr(1)}, true},
		poolCase{"max 3x3 s1 pad 1", ops.OpMaxPool, []int{1, 4, 13, 29}, map[string]model.Attr{"kernel_shape": k(3, 3), "pads": k(1, 1, 1, 1)}, true},
		poolCase{"avg 5x5 s3 wide", ops.OpAveragePool, []int{1, 2, 14, 62}, map[string]model.Attr{"kernel_shape": k(5, 5), "strides": k(3, 3)}, false},
		poolCase{"avg 3x3 s1 include pad ceil", ops.OpAveragePool, []int{2, 3, 9, 17}, map[string]model.Attr{"kernel_shape": k(3, 3), "pads": k(1, 1, 1, 1), "count_include_pad": model.IntAttr(1), "ceil_mode": model.IntAttr(1)}, true},
	)
	// Each case with one output per invocation (pool.glsl), the default
	// strip (pool_strip.glsl) and strips of 3 and 5 (uneven last strips).
	for _, strip := range []int{1, 0, 3, 5} {
		old := layers.SetPoolStrip(strip)
		for _, c := range cases {
			optest.Check(t, d, optest.Case{Name: fmt.Sprintf("%s strip %d", c.name, strip), Node: model.Node{Op: c.op, Attrs: c.attrs},
				Inputs: []*ops.Tensor{optest.Random(r, c.x, 1, c.nan)}, Abs: 1e-6, Rel: 1e-6})
		}
		layers.SetPoolStrip(old)
	}
}

func TestBatchNormDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(14))
	for k, shape := range [][]int{{2, 5, 3, 3}, {3, 4}, {1, 7, 11}, {1, 1, 1, 1}, {2, 3, 127, 9}} {
		runtime := k%2 == 1 // statistics as runtime inputs
		c := shape[1]
		inputs := []*ops.Tensor{optest.Random(r, shape, 1, false)}
		plant(inputs[0].Data)
		for i := 0; i < 4; i++ {
			inputs = append(inputs, optest.Random(r, []int{c}, 1, false))
		}
		for i, v := range inputs[4].Data {
			inputs[4].Data[i] = float32(math.Abs(float64(v))) + 0.1
		}
		optest.Check(t, d, optest.Case{Name: fmt.Sprint(shape, " runtime ", runtime),
			Node:   model.Node{Op: ops.OpBatchNormalization, Attrs: map[string]model.Attr{"epsilon": model.FloatAttr(1e-3)}},
			Inputs: inputs, Const: []bool{false, !runtime, !runtime, !runtime, !runtime}, Abs: 1e-5, Rel: 1e-5})
	}
}

// TestConvPoolErrors checks that bad nodes and shapes are refused with the
// reason named, by the definition (ops.Infer) or the builder.
func TestConvPoolErrors(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	w := []int{2, 1, 3, 3}
	cases := []struct {
		name string
		n    model.Node
		in   [][]int
		want string
	}{
		{"3-D", model.Node{Op: ops.OpConv}, [][]int{{1, 1, 5, 5, 5}, {2, 1, 3, 3, 3}}, "3 spatial axes"},
		{"bad group", model.Node{Op: ops.OpConv, Attrs: map[string]model.Attr{"group": model.IntAttr(3)}}, [][]int{{1, 3, 5, 5}, w}, "group 3"},
		{"pads and auto_pad", model.Node{Op: ops.OpConv, Attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1), "auto_pad": model.StringAttr("VALID")}}, [][]int{{1, 1, 5, 5}, w}, "auto_pad"},
		{"kernel over input", model.Node{Op: ops.OpConv}, [][]int{{1, 1, 2, 5}, w}, "exceeds the padded input"},
		{"channels", model.Node{Op: ops.OpConv}, [][]int{{1, 2, 5, 5}, w}, "channels"},
		{"rank", model.Node{Op: ops.OpConv}, [][]int{{1, 1, 5}, w}, "rank 4"},
		{"indices", model.Node{Op: ops.OpMaxPool, Outputs: []string{"y", "i"}, Attrs: map[string]model.Attr{"kernel_shape": ints(2, 2)}}, [][]int{{1, 1, 4, 4}}, "Indices"},
		{"no kernel", model.Node{Op: ops.OpMaxPool}, [][]int{{1, 1, 4, 4}}, "kernel_shape"},
		{"strides length", model.Node{Op: ops.OpAveragePool, Attrs: map[string]model.Attr{"kernel_shape": ints(2, 2), "strides": ints(1)}}, [][]int{{1, 1, 4, 4}}, "strides"},
		{"training", model.Node{Op: ops.OpBatchNormalization, Attrs: map[string]model.Attr{"training_mode": model.IntAttr(1)}}, [][]int{{1, 2}, {2}, {2}, {2}, {2}}, "training_mode"},
		{"unknown activation", model.Node{Op: ops.OpConv, Attrs: map[string]model.Attr{ops.AttrActivation: model.StringAttr("gelu")}}, [][]int{{1, 1, 5, 5}, w}, "gelu"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := c.n
			n.Name = "bad"
			if n.Outputs == nil {
				n.Outputs = []string{"y"}
			}
			var vals []ops.Value
			for i, s := range c.in {
				n.Inputs = append(n.Inputs, fmt.Sprint("in", i))
				vals = append(vals, ops.Value{Shape: s})
			}
			_, err := ops.Infer(&n, vals)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			if b, ok := layers.Lookup(n.Op); ok {
				if l, err := b(&layers.Build{Dev: d, Const: func(string) *model.Tensor { return nil }}, &n); err == nil {
					l.Close()
				}
			}
		})
	}
}

// TestConvWeightsOnce checks that a Conv with constant weights holds them
// once when the GEMM path runs every shape it can be given (the bias a
// constant), and keeps the direct kernel's copy beside the GEMM's only when
// the GEMM path may refuse a shape (a runtime bias) and Winograd is off, or
// the GEMM path is off (direct); Winograd, which reads the GEMM path's
// layout and runs every shape, adds no copy.
func TestConvWeightsOnce(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(15))
	w := optest.Random(r, []int{16, 8, 3, 3}, 1, false)
	bias := optest.Random(r, []int{16}, 1, false)
	for _, mode := range []string{"auto", "direct", "winograd"} {
		for _, rtBias := range []bool{false, true} {
			t.Run(fmt.Sprint(mode, " runtime bias ", rtBias), func(t *testing.T) {
				t.Setenv(layers.ConvKernelEnv, mode)
				consts := map[string]*model.Tensor{"w": {Name: "w", Shape: w.Shape, Data: w.Data}}
				if !rtBias {
					consts["b"] = &model.Tensor{Name: "b", Shape: bias.Shape, Data: bias.Data}
				}
				n := model.Node{Name: "conv", Op: ops.OpConv, Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
					Attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}}
				b, ok := layers.Lookup(ops.OpConv)
				require.True(t, ok)
				l, err := b(&layers.Build{Dev: d, Const: func(name string) *model.Tensor { return consts[name] }}, &n)
				require.NoError(t, err)
				defer l.Close()
				direct, gemm, wino := layers.ConvWeightCopies(l)
				t.Logf("%s: direct copy %v, GEMM layout %v, Winograd %v", d.Info().Name, direct, gemm, wino)
				switch {
				case mode == "winograd":
					// It reads the GEMM path's panels, or its own where
					// that has none (VKINFER_GEMM=gemv, GPUs).
					require.True(t, wino && !direct, "winograd mode: Winograd %v, direct %v, gemm %v", wino, direct, gemm)
				case mode == "direct":
					require.True(t, direct && !gemm, "direct mode: direct %v, gemm %v", direct, gemm)
				case !gemm:
					require.True(t, direct, "no GEMM layout on %s and no direct copy", d.Info().Name)
				default:
					// Winograd (auto on lavapipe, 3x3 stride 1) runs every
					// shape on the GEMM layout: no fallback copy then.
					require.Equal(t, rtBias && !wino, direct, "with the GEMM layout (runtime bias %v, Winograd %v): direct copy %v", rtBias, wino, direct)
				}
			})
		}
	}
}
