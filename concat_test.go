package vkinfer_test

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// concatGraph is x [-1, c, h, w] through channel Concats whose inputs the
// planner may have their producers write in place (planner.Step.InPlace):
//
//	a  = Relu(Conv 1x1 (x) to 5 channels)  (a GEMM, its activation fused)
//	b  = Sigmoid(x); y1 = Concat(a, b)      (a is read again below)
//	e  = Relu(a);    p = MaxPool 3x3 (x)
//	y2 = Concat(y1, p, x)                   (a Concat of a Concat, a graph input)
//	y3 = Concat(e, e)                       (one value twice)
//	b2 = Concat(b, p)                       (b, p already in place in y1, y2)
//
// with y2, y3, b2 the graph outputs.
func concatGraph(r *rand.Rand, c int) *model.Model {
	conv := func(name, in, out string) model.Node {
		return model.Node{Name: name, Op: ops.OpConv, Inputs: []string{in, "w", "bias"}, Outputs: []string{out},
			Attrs: map[string]model.Attr{"kernel_shape": model.IntsAttr(1, 1)}}
	}
	pool := model.Node{Name: "p", Op: ops.OpMaxPool, Inputs: []string{"x"}, Outputs: []string{"p"},
		Attrs: map[string]model.Attr{"kernel_shape": model.IntsAttr(3, 3), "pads": model.IntsAttr(1, 1, 1, 1)}}
	return &model.Model{
		Name: "concats", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, c, -1, -1}}},
		Outputs: []model.ValueInfo{{Name: "y2"}, {Name: "y3"}, {Name: "b2"}},
		Nodes: []model.Node{
			conv("conv", "x", "ca"),
			nd("a", ops.OpRelu, []string{"ca"}, "a", nil),
			nd("b", ops.OpSigmoid, []string{"x"}, "b", nil),
			nd("y1", ops.OpConcat, []string{"a", "b"}, "y1", axis(1)),
			nd("e", ops.OpRelu, []string{"a"}, "e", nil),
			pool,
			nd("y2", ops.OpConcat, []string{"y1", "p", "x"}, "y2", axis(-3)),
			nd("y3", ops.OpConcat, []string{"e", "e"}, "y3", axis(1)),
			nd("b2", ops.OpConcat, []string{"b", "p"}, "b2", axis(1)),
		},
		Initializers: []*model.Tensor{
			{Name: "w", Shape: []int{5, c, 1, 1}, Data: randSlice(r, 5*c)},
			{Name: "bias", Shape: []int{5}, Data: randSlice(r, 5)},
		},
	}
}

// Concats whose inputs are written in place by their producers give what
// the reference gives, at batch 1 (in place where the places are aligned:
// 8x8 images; copied where not: 7x13, 1x1) and batch 2 and 3 (copied), with
// NaN and ±Inf in the input; at batch 1 with 8x8 images the profile shows
// the Concats aliased.
func TestConcatInPlace(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewSource(21))
	const c = 3
	m := concatGraph(r, c)
	require.NoError(t, ops.Validate(m))
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, tc := range []struct{ batch, h, w int }{{1, 8, 8}, {1, 7, 13}, {2, 8, 8}, {1, 1, 1}, {3, 7, 13}, {1, 8, 8}} {
		shape := []int{tc.batch, c, tc.h, tc.w}
		x := randSlice(r, tc.batch*c*tc.h*tc.w)
		special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		for i := range special {
			x[r.Intn(len(x))] = special[i]
		}
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		want, err := ops.Run(m, ops.F32(shape, x))
		require.NoError(t, err)
		require.Len(t, got, 3)
		for k, name := range []string{"y2", "y3", "b2"} {
			require.Equal(t, want[k].Shape, got[k].Shape, "%s at %v", name, shape)
			for i, w := range want[k].Float() {
				g := got[k].Data[i]
				switch {
				case math.IsNaN(float64(w)):
					require.True(t, math.IsNaN(float64(g)), "%s[%d] at %v = %v, want NaN", name, i, shape, g)
				case math.IsInf(float64(w), 0):
					require.Equal(t, w, g, "%s[%d] at %v", name, i, shape)
				default:
					require.InDelta(t, w, g, 1e-5+1e-5*math.Abs(float64(w)), "%s[%d] at %v", name, i, shape)
				}
			}
		}
	}
	// At batch 1 with 8x8 images every place is a multiple of 64 floats:
	// y1 and y2 take their inputs in place but x; y3 (e twice) and b2 (b
	// and p are in y1 and y2) copy.
	prof, err := lm.Profile(context.Background(), 1, vkinfer.Tensor{Shape: []int{1, c, 8, 8}, Data: randSlice(r, c*64)})
	require.NoError(t, err)
	var concats []string
	for _, l := range prof.Layers {
		if strings.HasPrefix(l.Op, ops.OpConcat) {
			concats = append(concats, fmt.Sprintf("%s:%s:%d", l.Name, l.Op, l.Dispatches))
		}
	}
	if dev.Engine().Alignment() <= 256 {
		require.Equal(t, "[y1:Concat (aliased):0 y2:Concat (2/3 aliased):1 y3:Concat:2 b2:Concat:2]", fmt.Sprint(concats))
	} else {
		t.Logf("the device's buffer offset alignment %d B is over 256 B: the places of 64 floats are not aligned; Concats %v",
			dev.Engine().Alignment(), concats)
	}
}

// concatByImageGraph is x [-1, c, h, w] through channel Concats whose inputs
// the planner may have their producers write image by image at batch > 1
// (planner.Plan.SlotStride):
//
//	a = Relu(Conv 1x1 (x) to 5 channels)   (the GEMM reading X in place)
//	k = Conv 3x3, pad 1 (x) to 4 channels   (patch matrix and GEMM: layers.StridedLayer)
//	p = MaxPool 3x3, pad 1 (x); s = Sigmoid(x)
//	y = Concat(a, k, p, s, x)               (x, a graph input, is copied)
//	q = AveragePool 3x3, pad 1 (y)
//	z = Concat(q, y)                        (y, a Concat's output, is copied)
//
// with z the graph output.
func concatByImageGraph(r *rand.Rand, c int) *model.Model {
	conv := func(name, in, out, w string, k int) model.Node {
		return model.Node{Name: name, Op: ops.OpConv, Inputs: []string{in, w, w + "b"}, Outputs: []string{out},
			Attrs: map[string]model.Attr{"kernel_shape": model.IntsAttr(int64(k), int64(k)), "pads": model.IntsAttr(int64(k/2), int64(k/2), int64(k/2), int64(k/2))}}
	}
	pool := func(name, op, in string) model.Node {
		return model.Node{Name: name, Op: op, Inputs: []string{in}, Outputs: []string{name},
			Attrs: map[string]model.Attr{"kernel_shape": model.IntsAttr(3, 3), "pads": model.IntsAttr(1, 1, 1, 1)}}
	}
	return &model.Model{
		Name: "concats by image", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, c, -1, -1}}},
		Outputs: []model.ValueInfo{{Name: "z"}},
		Nodes: []model.Node{
			conv("conv1", "x", "ca", "w1", 1),
			nd("a", ops.OpRelu, []string{"ca"}, "a", nil),
			conv("conv3", "x", "k", "w3", 3),
			pool("p", ops.OpMaxPool, "x"),
			nd("s", ops.OpSigmoid, []string{"x"}, "s", nil),
			nd("y", ops.OpConcat, []string{"a", "k", "p", "s", "x"}, "y", axis(1)),
			pool("q", ops.OpAveragePool, "y"),
			nd("z", ops.OpConcat, []string{"q", "y"}, "z", axis(1)),
		},
		Initializers: []*model.Tensor{
			{Name: "w1", Shape: []int{5, c, 1, 1}, Data: randSlice(r, 5*c)},
			{Name: "w1b", Shape: []int{5}, Data: randSlice(r, 5)},
			{Name: "w3", Shape: []int{4, c, 3, 3}, Data: randSlice(r, 4*c*9)},
			{Name: "w3b", Shape: []int{4}, Data: randSlice(r, 4)},
		},
	}
}

// Concats at batch > 1 whose inputs' producers write them image by image
// (both Convs, MaxPool, AveragePool, Sigmoid) give what the
// reference gives at batch 1, 2 and 3, with 8x8 images (every image's
// place aligned: in place) and 7x13 (not: copied), NaN and ±Inf in the
// input; at batch 2 with 8x8 images the profile shows which were aliased.
func TestConcatInPlaceByImage(t *testing.T) {
	dev := openDevice(t)
	r := rand.New(rand.NewSource(22))
	const c = 3
	m := concatByImageGraph(r, c)
	require.NoError(t, ops.Validate(m))
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	for _, tc := range []struct{ batch, h, w int }{{2, 8, 8}, {3, 7, 13}, {1, 8, 8}, {2, 1, 1}} {
		shape := []int{tc.batch, c, tc.h, tc.w}
		x := randSlice(r, tc.batch*c*tc.h*tc.w)
		special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}
		for i := range special {
			x[r.Intn(len(x))] = special[i]
		}
		got, err := lm.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: x})
		require.NoError(t, err)
		want, err := ops.Run(m, ops.F32(shape, x))
		require.NoError(t, err)
		require.Equal(t, want[0].Shape, got[0].Shape, "at %v", shape)
		for i, w := range want[0].Float() {
			g := got[0].Data[i]
			switch {
			case math.IsNaN(float64(w)):
				require.True(t, math.IsNaN(float64(g)), "z[%d] at %v = %v, want NaN", i, shape, g)
			case math.IsInf(float64(w), 0):
				require.Equal(t, w, g, "z[%d] at %v", i, shape)
			default:
				require.InDelta(t, w, g, 1e-4+1e-4*math.Abs(float64(w)), "z[%d] at %v", i, shape)
			}
		}
	}
	// At batch 2 with 8x8 images every image's place is a multiple of 64
	// floats: y takes all but x in place, z takes q.
	prof, err := lm.Profile(context.Background(), 1, vkinfer.Tensor{Shape: []int{2, c, 8, 8}, Data: randSlice(r, 2*c*64)})
	require.NoError(t, err)
	var concats []string
	for _, l := range prof.Layers {
		if strings.HasPrefix(l.Op, ops.OpConcat) {
			concats = append(concats, fmt.Sprintf("%s:%s:%d", l.Name, l.Op, l.Dispatches))
		}
	}
	if dev.Engine().Alignment() <= 256 {
		require.Equal(t, "[y:Concat (4/5 aliased):2 z:Concat (1/2 aliased):2]", fmt.Sprint(concats))
	} else {
		t.Logf("the device's buffer offset alignment %d B is over 256 B: the images' places are not aligned; Concats %v",
			dev.Engine().Alignment(), concats)
	}
}
