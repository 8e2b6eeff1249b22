package layers_test

import (
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

// TestConvWinogradDifferential runs 3x3 stride-1 Convs at awkward sizes
// through Winograd F(2x2, 3x3) (VKINFER_CONV=winograd; each case checked to
// take that path) against the reference: 1x1 and 2x3 images, odd sizes,
// 1..257 input and 1..13 output channels (partial channel blocks), pads
// 0/1/2 and asymmetric, auto_pad, batch 2, every fused activation, NaN and
// infinities (which must come out as the direct sum's), large values.
func TestConvWinogradDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	t.Setenv(layers.ConvKernelEnv, "winograd")
	r := rand.New(rand.NewSource(22))
	s := model.StringAttr
	p1 := map[string]model.Attr{"pads": ints(1, 1, 1, 1)}
	cases := []struct {
		convCase
		scale float32
	}{
		{convCase: convCase{name: "1x1 image pad 1", x: []int{1, 1, 1, 1}, w: []int{1, 1, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "2x3 image C 3 M 7", x: []int{1, 3, 2, 3}, w: []int{7, 3, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "3x3 image unpadded", x: []int{1, 2, 3, 3}, w: []int{4, 2, 3, 3}}},
		{convCase: convCase{name: "odd 9x11 C 7 M 13 batch 2", x: []int{2, 7, 9, 11}, w: []int{13, 7, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "C 13 M 1 pads 0", x: []int{1, 13, 6, 7}, w: []int{1, 13, 3, 3}, bias: true}},
		{convCase: convCase{name: "C 257 M 7", x: []int{1, 257, 5, 6}, w: []int{7, 257, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "C 1 M 13 pads 2", x: []int{2, 1, 7, 8}, w: []int{13, 1, 3, 3}, attrs: map[string]model.Attr{"pads": ints(2, 2, 2, 2)}}},
		{convCase: convCase{name: "asymmetric pads", x: []int{1, 3, 8, 7}, w: []int{8, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"pads": ints(0, 1, 2, 0)}}},
		{convCase: convCase{name: "asymmetric pads 2 1", x: []int{1, 4, 5, 9}, w: []int{9, 4, 3, 3}, attrs: map[string]model.Attr{"pads": ints(2, 0, 1, 2)}}},
		{convCase: convCase{name: "SAME_UPPER", x: []int{1, 3, 6, 5}, w: []int{5, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"auto_pad": s("SAME_UPPER")}}},
		{convCase: convCase{name: "VALID", x: []int{2, 3, 7, 4}, w: []int{16, 3, 3, 3}, attrs: map[string]model.Attr{"auto_pad": s("VALID")}}},
		{convCase: convCase{name: "resnet-like 64 56x56", x: []int{1, 64, 14, 14}, w: []int{64, 64, 3, 3}, bias: true, act: "relu", attrs: p1}},
		{convCase: convCase{name: "NaN and inf", x: []int{1, 3, 9, 9}, w: []int{4, 3, 3, 3}, bias: true, nan: true, attrs: p1}},
		{convCase: convCase{name: "NaN and inf M 13 batch 2", x: []int{2, 5, 7, 6}, w: []int{13, 5, 3, 3}, nan: true, attrs: p1}},
		{convCase: convCase{name: "large values", x: []int{1, 7, 7, 7}, w: []int{9, 7, 3, 3}, bias: true, attrs: p1}, scale: 1e30},
		{convCase: convCase{name: "relu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "relu", nan: true, attrs: p1}},
		{convCase: convCase{name: "relu6", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "clip", alpha: 0, beta: 6, attrs: p1}},
		{convCase: convCase{name: "leakyrelu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "leakyrelu", alpha: 0.1, attrs: p1}},
		{convCase: convCase{name: "hardsigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "hardsigmoid", alpha: 0.2, beta: 0.5}},
		{convCase: convCase{name: "hardswish", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "hardswish", nan: true, attrs: p1}},
		{convCase: convCase{name: "sigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "sigmoid", attrs: p1}},
		{convCase: convCase{name: "silu", x: []int{1, 3, 6, 6}, w: []int{12, 3, 3, 3}, bias: true, act: "silu", nan: true, attrs: p1}},
	}
	build, _ := layers.Lookup(ops.OpConv)
	for _, c := range cases {
		scale := c.scale
		if scale == 0 {
			scale = 4
		}
		inputs, attrs := c.operands(r, scale)
		// The layer must take the Winograd path.
		n := model.Node{Name: "wino", Op: ops.OpConv, Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: attrs}
		l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor {
			if name == "w" {
				return inputs[1].ModelTensor("w")
			}
			return nil
		}}, &n)
		require.NoError(t, err, c.name)
		_, _, wino := layers.ConvWeightCopies(l)
		l.Close()
		require.True(t, wino, "%s: not run as Winograd", c.name)
		// The conv tests' tolerance: fp32 sums of k products of |x| ~ 4,
		// |w| ~ 1 against the float64 reference.
		k := c.w[1] * 9
		abs := 4e-7 * float64(k+1) * float64(scale)
		rel := 1e-5
		if c.act == "sigmoid" || c.act == "silu" {
			rel = 2e-5
		}
		optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConv, Attrs: attrs}, Inputs: inputs,
			Const: []bool{false, true, true}, Abs: abs, Rel: rel})
	}
}
