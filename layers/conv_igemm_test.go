package layers_test

import (
	"fmt"
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

// TestConvIgemmDifferential runs group-1 Convs at awkward sizes through the
// implicit-GEMM kernel (VKINFER_CONV=igemm; each case checked to take that
// path) against the reference, at its own blocks and at forced ones (3 and
// 5 pixels: other block tails and span alignments; 4 output channels:
// half panels; 1 and 2 input channels per loop iteration, its own choice
// being 4 or 1: channel tails of 1-3): 1x1 images, odd channels (1, 7, 13, 257), kernels larger
// than the input, stride > kernel, strides 2 and 3, dilations, asymmetric
// pads and auto_pad, 1-D, batch 3, 1x1 kernels, 7x7/2, every fused
// activation, NaN and infinities, large values.
func TestConvIgemmDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	t.Setenv(layers.ConvKernelEnv, "igemm")
	s := model.StringAttr
	p1 := map[string]model.Attr{"pads": ints(1, 1, 1, 1)}
	type igemmCase struct {
		convCase
		scale float32
	}
	cases := []igemmCase{
		{convCase: convCase{name: "1x1 image pad 1", x: []int{1, 1, 1, 1}, w: []int{1, 1, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "1x1 image 1x1 kernel", x: []int{2, 3, 1, 1}, w: []int{5, 3, 1, 1}, bias: true, act: "relu"}},
		{convCase: convCase{name: "odd 9x11 C 7 M 13 batch 3", x: []int{3, 7, 9, 11}, w: []int{13, 7, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "C 13 M 1 unpadded", x: []int{1, 13, 6, 7}, w: []int{1, 13, 3, 3}, bias: true}},
		{convCase: convCase{name: "C 257 M 9", x: []int{1, 257, 5, 6}, w: []int{9, 257, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "C 1 M 13 pads 2", x: []int{2, 1, 7, 8}, w: []int{13, 1, 3, 3}, attrs: map[string]model.Attr{"pads": ints(2, 2, 2, 2)}}},
		{convCase: convCase{name: "kernel larger than input", x: []int{1, 2, 2, 3}, w: []int{3, 2, 5, 5}, bias: true, attrs: map[string]model.Attr{"pads": ints(2, 1, 1, 2)}}},
		{convCase: convCase{name: "stride > kernel", x: []int{1, 3, 13, 13}, w: []int{7, 3, 2, 1}, attrs: map[string]model.Attr{"strides": ints(3, 4)}}},
		{convCase: convCase{name: "stride 2 odd", x: []int{2, 3, 7, 9}, w: []int{5, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}}},
		{convCase: convCase{name: "dilation 2x3 asymmetric pads", x: []int{1, 3, 11, 10}, w: []int{4, 3, 3, 3}, attrs: map[string]model.Attr{"dilations": ints(2, 3), "pads": ints(1, 0, 2, 1)}}},
		{convCase: convCase{name: "dilation 2 stride 2 wide", x: []int{1, 5, 9, 37}, w: []int{11, 5, 3, 3}, bias: true, attrs: map[string]model.Attr{"dilations": ints(2, 2), "strides": ints(2, 2), "pads": ints(2, 2, 2, 2)}}},
		{convCase: convCase{name: "SAME_UPPER stride 2", x: []int{1, 3, 8, 7}, w: []int{4, 3, 4, 3}, attrs: map[string]model.Attr{"auto_pad": s("SAME_UPPER"), "strides": ints(2, 2)}}},
		{convCase: convCase{name: "SAME_LOWER", x: []int{1, 2, 5, 6}, w: []int{3, 2, 2, 4}, attrs: map[string]model.Attr{"auto_pad": s("SAME_LOWER")}}},
		{convCase: convCase{name: "VALID", x: []int{2, 3, 7, 4}, w: []int{16, 3, 3, 3}, attrs: map[string]model.Attr{"auto_pad": s("VALID")}}},
		{convCase: convCase{name: "1-D", x: []int{2, 3, 17}, w: []int{5, 3, 4}, bias: true, attrs: map[string]model.Attr{"strides": ints(2), "dilations": ints(2), "pads": ints(3, 1)}}},
		{convCase: convCase{name: "1-D long row", x: []int{1, 4, 130}, w: []int{6, 4, 5}, bias: true, act: "relu", attrs: map[string]model.Attr{"pads": ints(2, 2)}}},
		{convCase: convCase{name: "1x1 kernel 13x13 (no in-place GEMM)", x: []int{1, 48, 13, 13}, w: []int{19, 48, 1, 1}, bias: true, act: "relu"}},
		{convCase: convCase{name: "1x1 stride 2", x: []int{2, 6, 7, 7}, w: []int{8, 6, 1, 1}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2)}}},
		{convCase: convCase{name: "7x7 stride 2 stem", x: []int{1, 3, 23, 21}, w: []int{8, 3, 7, 7}, bias: true, act: "relu", nan: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "pads": ints(3, 3, 3, 3)}}},
		{convCase: convCase{name: "aligned rows 16x16 C 16 M 24", x: []int{1, 16, 16, 16}, w: []int{24, 16, 3, 3}, bias: true, act: "relu", attrs: p1}},
		{convCase: convCase{name: "aligned rows unpadded 1x1", x: []int{1, 8, 8, 16}, w: []int{12, 8, 1, 1}}},
		{convCase: convCase{name: "large K", x: []int{1, 64, 9, 9}, w: []int{17, 64, 3, 3}, bias: true, attrs: p1}},
		{convCase: convCase{name: "NaN and inf", x: []int{1, 3, 9, 9}, w: []int{4, 3, 3, 3}, bias: true, nan: true, attrs: p1}},
		{convCase: convCase{name: "NaN and inf M 13 batch 2", x: []int{2, 5, 7, 6}, w: []int{13, 5, 3, 3}, nan: true, attrs: p1}},
		{convCase: convCase{name: "large values", x: []int{1, 7, 7, 7}, w: []int{9, 7, 3, 3}, bias: true, attrs: p1}, scale: 1e30},
		{convCase: convCase{name: "relu6", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "clip", alpha: 0, beta: 6, attrs: p1}},
		{convCase: convCase{name: "leakyrelu", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "leakyrelu", alpha: 0.1, attrs: p1}},
		{convCase: convCase{name: "hardsigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "hardsigmoid", alpha: 0.2, beta: 0.5}},
		{convCase: convCase{name: "hardswish", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, bias: true, act: "hardswish", nan: true, attrs: p1}},
		{convCase: convCase{name: "sigmoid", x: []int{1, 3, 6, 6}, w: []int{4, 3, 3, 3}, act: "sigmoid", attrs: p1}},
		{convCase: convCase{name: "silu", x: []int{1, 3, 6, 6}, w: []int{12, 3, 3, 3}, bias: true, act: "silu", nan: true, attrs: p1}},
		{convCase: convCase{name: "runtime bias", x: []int{1, 5, 6, 9}, w: []int{7, 5, 3, 3}, bias: true, rtw: true, attrs: p1}},
	}
	build, _ := layers.Lookup(ops.OpConv)
	configs := [][3]int{{0, 0, 0}, {3, 8, 1}, {5, 4, 2}}
	if !layers.ConvIgemmTexel(d) {
		// The storage-buffer kernel (SwiftShader, small limits): the
		// texel-only paths (span shifts, the shuffle) do not run, and
		// every pipeline compiles slowly there: one forced block.
		configs = [][3]int{configs[0], configs[2]}
	}
	for _, blocks := range configs {
		t.Run(fmt.Sprintf("tm %d mb %d cu %d", blocks[0], blocks[1], blocks[2]), func(t *testing.T) {
			restore := layers.SetIgemmBlocks(blocks[0], blocks[1])
			defer restore()
			restoreCU := layers.SetIgemmChannels(blocks[2])
			defer restoreCU()
			r := rand.New(rand.NewSource(31))
			for _, c := range cases {
				scale := c.scale
				if scale == 0 {
					scale = 4
				}
				inputs, attrs := c.operands(r, scale)
				// The layer must take the implicit-GEMM path (the runtime
				// bias case: weights constant, the bias an input).
				n := model.Node{Name: "igemm", Op: ops.OpConv, Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: attrs}
				shapes := []layers.Shape{c.x, c.w}
				if c.bias {
					n.Inputs = append(n.Inputs, "b")
					shapes = append(shapes, layers.Shape{c.w[0]})
				}
				l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor {
					if name == "w" {
						return inputs[1].ModelTensor("w")
					}
					if name == "b" && !c.rtw {
						return inputs[2].ModelTensor("b")
					}
					return nil
				}}, &n)
				require.NoError(t, err, c.name)
				got := l.(layers.VariantLayer).Variants(shapes)
				l.Close()
				require.Equal(t, []string{"igemm"}, got, "%s: not run as the implicit GEMM on %s", c.name, d.Info().Name)
				k := c.w[1]
				for _, v := range c.w[2:] {
					k *= v
				}
				abs := 4e-7 * float64(k+1) * float64(scale)
				rel := 1e-5
				if c.act == "sigmoid" || c.act == "silu" {
					rel = 2e-5
				}
				optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConv, Attrs: attrs}, Inputs: inputs,
					Const: []bool{false, true, !c.rtw}, Abs: abs, Rel: rel})
			}
		})
	}
}
