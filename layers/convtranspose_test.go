package layers_test

import (
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// TestConvTransposeDifferential compares convtranspose.comp (a gather)
// with the scatter reference ops.ConvTranspose over every attribute: 1x1
// images, stride larger than the kernel, dilation, groups up to depthwise
// with a channel multiplier, asymmetric pads, output_padding, output_shape
// (spatial and full), auto_pad, 1-D, runtime weights and bias, NaN and inf.
// W is [C, M/group, kh, kw].
func TestConvTransposeDifferential(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(41))
	s := model.StringAttr
	cases := []convCase{
		{name: "1x1 image 3x3 kernel", x: []int{1, 1, 1, 1}, w: []int{1, 1, 3, 3}, bias: true},
		{name: "1x1 image pads crop", x: []int{1, 2, 1, 1}, w: []int{2, 3, 3, 3}, attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "odd channels stride 2", x: []int{2, 3, 7, 9}, w: []int{3, 5, 3, 3}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}},
		{name: "stride > kernel", x: []int{1, 3, 13, 13}, w: []int{3, 7, 2, 1}, attrs: map[string]model.Attr{"strides": ints(3, 4)}},
		{name: "1x1 kernel", x: []int{2, 13, 5, 7}, w: []int{13, 7, 1, 1}, bias: true},
		{name: "depthwise", x: []int{1, 13, 9, 7}, w: []int{13, 1, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(13), "pads": ints(1, 1, 1, 1)}},
		{name: "depthwise multiplier 2 stride 2", x: []int{2, 5, 8, 8}, w: []int{5, 2, 3, 3}, attrs: map[string]model.Attr{"group": model.IntAttr(5), "strides": ints(2, 2), "pads": ints(0, 1, 1, 0)}},
		{name: "groups 3", x: []int{1, 6, 7, 7}, w: []int{6, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"group": model.IntAttr(3)}},
		{name: "dilation asymmetric pads", x: []int{1, 3, 11, 10}, w: []int{3, 4, 3, 3}, attrs: map[string]model.Attr{"dilations": ints(2, 3), "pads": ints(1, 0, 2, 1)}},
		{name: "kernel larger than input", x: []int{1, 2, 2, 3}, w: []int{2, 3, 5, 5}, bias: true, attrs: map[string]model.Attr{"pads": ints(2, 1, 1, 2)}},
		{name: "output_padding", x: []int{1, 2, 5, 4}, w: []int{2, 3, 3, 3}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 3), "output_padding": ints(1, 2), "pads": ints(1, 1, 1, 1)}},
		{name: "output_padding below dilation", x: []int{1, 2, 5, 4}, w: []int{2, 3, 3, 2}, attrs: map[string]model.Attr{"dilations": ints(3, 2), "output_padding": ints(2, 1)}},
		{name: "output_shape spatial", x: []int{1, 3, 4, 5}, w: []int{3, 2, 3, 3}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2), "output_shape": ints(9, 10)}},
		{name: "output_shape full SAME_UPPER", x: []int{2, 3, 4, 5}, w: []int{3, 2, 4, 3}, attrs: map[string]model.Attr{"strides": ints(2, 2), "auto_pad": s("SAME_UPPER"), "output_shape": ints(2, 2, 8, 11)}},
		{name: "SAME_UPPER stride 2", x: []int{1, 3, 8, 7}, w: []int{3, 4, 3, 4}, attrs: map[string]model.Attr{"auto_pad": s("SAME_UPPER"), "strides": ints(2, 2)}},
		{name: "SAME_LOWER stride 3", x: []int{1, 2, 5, 6}, w: []int{2, 3, 2, 4}, attrs: map[string]model.Attr{"auto_pad": s("SAME_LOWER"), "strides": ints(3, 2)}},
		{name: "SAME_UPPER stride > kernel", x: []int{1, 2, 3, 3}, w: []int{2, 2, 2, 2}, bias: true, attrs: map[string]model.Attr{"auto_pad": s("SAME_UPPER"), "strides": ints(4, 3)}},
		{name: "VALID", x: []int{1, 2, 6, 5}, w: []int{2, 3, 3, 2}, attrs: map[string]model.Attr{"auto_pad": s("VALID"), "strides": ints(2, 1)}},
		{name: "1-D", x: []int{2, 3, 17}, w: []int{3, 5, 4}, bias: true, attrs: map[string]model.Attr{"strides": ints(2), "dilations": ints(2), "pads": ints(3, 1), "output_padding": ints(1)}},
		{name: "kernel_shape given", x: []int{1, 2, 4, 4}, w: []int{2, 2, 3, 3}, attrs: map[string]model.Attr{"kernel_shape": ints(3, 3), "strides": ints(2, 2)}},
		{name: "large K", x: []int{1, 64, 9, 9}, w: []int{64, 17, 3, 3}, bias: true, attrs: map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{name: "1M outputs", x: []int{1, 2, 127, 129}, w: []int{2, 16, 2, 2}, bias: true, attrs: map[string]model.Attr{"strides": ints(2, 2)}},
		{name: "NaN and inf", x: []int{1, 3, 9, 9}, w: []int{3, 4, 3, 3}, bias: true, nan: true, attrs: map[string]model.Attr{"strides": ints(2, 2)}},
		{name: "runtime weights", x: []int{2, 4, 5, 5}, w: []int{4, 3, 3, 3}, bias: true, rtw: true, attrs: map[string]model.Attr{"group": model.IntAttr(2), "pads": ints(1, 1, 1, 1)}},
		{name: "runtime weights no bias", x: []int{1, 3, 6, 5}, w: []int{3, 2, 2, 2}, rtw: true, attrs: map[string]model.Attr{"strides": ints(2, 2)}},
	}
	for _, c := range cases {
		x := optest.Random(r, c.x, 4, false)
		if c.nan {
			plant(x.Data)
		}
		inputs := []*ops.Tensor{x, optest.Random(r, c.w, 1, false)}
		group := 1
		if g, ok := c.attrs["group"]; ok {
			group = int(g.Int)
		}
		if c.bias {
			inputs = append(inputs, optest.Random(r, []int{c.w[1] * group}, 1, false))
		}
		// fp32 sums of at most C/group·kh·kw products of |x| ~ 4, |w| ~ 1
		// against the float64 reference.
		k := c.w[0] / group
		for _, v := range c.w[2:] {
			k *= v
		}
		optest.Check(t, d, optest.Case{Name: c.name, Node: model.Node{Op: ops.OpConvTranspose, Attrs: c.attrs}, Inputs: inputs,
			Const: []bool{false, !c.rtw, !c.rtw}, Abs: 4e-7 * float64(k+1) * 4, Rel: 1e-5})
	}
}

// TestConvTransposeErrors checks that impossible geometries are refused by
// the op's definition, naming the node.
func TestConvTransposeErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		x, w  []int
		attrs map[string]model.Attr
	}{
		{"channels", []int{1, 3, 4, 4}, []int{2, 2, 3, 3}, nil},
		{"group", []int{1, 3, 4, 4}, []int{3, 2, 3, 3}, map[string]model.Attr{"group": model.IntAttr(2)}},
		{"output_padding too large", []int{1, 2, 4, 4}, []int{2, 2, 3, 3}, map[string]model.Attr{"strides": ints(2, 2), "output_padding": ints(2, 0)}},
		{"pads too large", []int{1, 2, 1, 1}, []int{2, 2, 2, 2}, map[string]model.Attr{"pads": ints(1, 1, 1, 1)}},
		{"output_shape length", []int{1, 2, 4, 4}, []int{2, 2, 3, 3}, map[string]model.Attr{"output_shape": ints(1, 2, 3)}},
		{"3-D", []int{1, 2, 4, 4, 4}, []int{2, 2, 3, 3, 3}, nil},
	} {
		n := model.Node{Op: ops.OpConvTranspose, Name: "ct", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: c.attrs}
		if _, err := ops.Infer(&n, []ops.Value{{Shape: c.x}, {Shape: c.w}}); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}
