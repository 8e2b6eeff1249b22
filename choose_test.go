package vkinfer_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// convChoiceModel is one Conv [N,8,13,11] -> [N,6,13,11] (3x3, pads 1,
// ReLU) whose bias (rtBias) or weights and bias (rtWeights) are graph
// inputs. With a runtime bias the GEMM path may refuse some bias (a texel
// view's size), so the layer keeps the direct kernel's weights too: two
// kernels can run it on the CPU drivers (gemm, direct). With runtime
// weights only the direct kernel can.
func convChoiceModel(rtWeights bool) *model.Model {
	r := rand.New(rand.NewPCG(5, 6))
	m := &model.Model{Name: "convchoice", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 8, 13, 11}}, {Name: "b", Shape: []int{6}}}}
	w := &model.Tensor{Name: "w", Shape: []int{6, 8, 3, 3}, Data: make([]float32, 6*8*9)}
	for i := range w.Data {
		w.Data[i] = float32(r.Float64() - 0.5)
	}
	if rtWeights {
		m.Inputs = append(m.Inputs, model.ValueInfo{Name: "w", Shape: w.Shape})
	} else {
		m.Initializers = append(m.Initializers, w)
	}
	m.Nodes = []model.Node{
		{Name: "conv", Op: ops.OpConv, Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"},
			Attrs: map[string]model.Attr{"pads": {Kind: model.AttrInts, Ints: []int64{1, 1, 1, 1}}}},
		{Name: "relu", Op: ops.OpRelu, Inputs: []string{"c"}, Outputs: []string{"y"}},
	}
	m.Outputs = []model.ValueInfo{{Name: "y", Shape: []int{-1, 6, 13, 11}}}
	return m
}

// runConvChoice runs m at batch n against the reference and returns the
// kernels its Conv step dispatched.
func runConvChoice(t *testing.T, lm *vkinfer.Model, m *model.Model, n int) []string {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), 7))
	x := make([]float32, n*8*13*11)
	for i := range x {
		x[i] = float32(2*r.Float64() - 1)
	}
	b := []float32{0.5, -0.25, 1, -1, 0, 2}
	ins := []vkinfer.Tensor{{Shape: []int{n, 8, 13, 11}, Data: x}, {Shape: []int{6}, Data: b}}
	ref := []*ops.Tensor{ops.F32(ins[0].Shape, x), ops.F32(ins[1].Shape, b)}
	if len(m.Inputs) == 3 {
		w := m.Initializers
		require.Empty(t, w)
		wd := make([]float32, 6*8*9)
		for i := range wd {
			wd[i] = float32(math.Sin(float64(i)))
		}
		ins = append(ins, vkinfer.Tensor{Shape: []int{6, 8, 3, 3}, Data: wd})
		ref = append(ref, ops.F32(ins[2].Shape, wd))
	}
	got, err := lm.Run(context.Background(), ins...)
	require.NoError(t, err)
	want, err := ops.Run(m, ref...)
	require.NoError(t, err)
	for i, v := range want[0].Float() {
		require.InDelta(t, v, got[0].Data[i], 1e-4+1e-3*math.Abs(float64(v)), "batch %d element %d", n, i)
	}
	pr, err := lm.Profile(context.Background(), 1, ins...)
	require.NoError(t, err)
	for _, l := range pr.Layers {
		if strings.HasPrefix(l.Name, "conv") {
			return l.Kernels
		}
	}
	t.Fatal("no Conv step in the profile")
	return nil
}

// kernelChoices returns the per-layer kernel choices stored in dir.
func kernelChoices(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "choices-*.json"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var m map[string]string
		require.NoError(t, json.Unmarshal(data, &m))
		for k, v := range m {
			if strings.HasPrefix(k, "kernel|") {
				out[k] = v
			}
		}
	}
	return out
}

// The measured per-layer kernel choice: a layer that two kernels can run
// is timed once when its first plan is made, the choice is stored beside
// the pipeline cache and reused by the next load without measuring; the
// key follows the shapes; every result matches the reference.
func TestConvKernelChoiceCached(t *testing.T) {
	t.Setenv(layers.ConvKernelEnv, "")
	t.Setenv(vkinfer.MeasureEnv, "")
	dir := t.TempDir()
	m := convChoiceModel(false)
	var variants []string
	var key1 string
	for load := 0; load < 2; load++ {
		dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: dir})
		lm, err := dev.LoadModel(m)
		require.NoError(t, err)
		if load == 0 {
			var key2 string
			variants, key1 = vkinfer.LayerVariants(lm, "conv", []int{1, 8, 13, 11}, []int{6})
			_, key2 = vkinfer.LayerVariants(lm, "conv", []int{2, 8, 13, 11}, []int{6})
			require.NotEqual(t, key1, key2, "the key names the shapes")
			// The runtime bias: the GEMM path may refuse a shape, so a
			// kernel that runs every one is there too (the direct kernel,
			// or Winograd on lavapipe).
			require.True(t, slices.Contains(variants, "direct") || slices.Contains(variants, "winograd"), "%v", variants)
		}
		kernels := runConvChoice(t, lm, m, 1)
		choices := kernelChoices(t, dir)
		t.Logf("load %d: kernels %v can run the layer; stored %v; it ran %v", load, variants, choices, kernels)
		if len(variants) < 2 {
			// One kernel (a device whose GEMM kernel has no NCHW store):
			// nothing to measure, nothing stored.
			require.Zero(t, vkinfer.VariantTrials(dev))
			require.Empty(t, choices)
		} else {
			if load == 0 {
				require.Len(t, choices, 1, "one choice stored: %v", choices)
			}
			want := int64(1 - load) // the second load reads the file
			require.Equal(t, want, vkinfer.VariantTrials(dev), "load %d", load)
			v, ok := choices[key1]
			require.True(t, ok, "%s not in %v", key1, choices)
			require.Contains(t, variants, v)
			require.Contains(t, key1, "|"+strings.Join(variants, "+")+"|", "the key names the candidates")
			isGemm := slices.ContainsFunc(kernels, func(k string) bool { return strings.HasPrefix(k, "gemm") })
			require.Equal(t, v == "gemm", isGemm, "choice %s ran %v", v, kernels)
		}
		// Another batch is another key: measured again where two kernels
		// still can run it (a winner that runs every shape lets the
		// layer drop the other's weights).
		before := vkinfer.VariantTrials(dev)
		v2, _ := vkinfer.LayerVariants(lm, "conv", []int{2, 8, 13, 11}, []int{6})
		runConvChoice(t, lm, m, 2)
		if load == 0 && len(v2) >= 2 {
			// Measured once; twice where that choice retired a candidate
			// the first batch kept (igemm at batch 1, winograd at batch 2:
			// gemm retired), so that the profile's plan has fewer
			// candidates, another key.
			trials := vkinfer.VariantTrials(dev)
			require.True(t, trials == before+1 || trials == before+2, "trials %d after %d", trials, before)
			require.GreaterOrEqual(t, len(kernelChoices(t, dir)), 2)
		} else if load == 1 {
			require.Equal(t, before, vkinfer.VariantTrials(dev))
		}
		lm.Close()
		dev.Close()
	}
}

// A forced kernel ($VKINFER_CONV) runs and is not measured against the
// others; measuring off ($VKINFER_MEASURE=0) runs the static rule; a layer
// only one kernel can run (runtime weights: the direct kernel) measures
// nothing.
func TestConvKernelChoiceForcedAndOff(t *testing.T) {
	cases := []struct {
		name, force, measure string
		rtWeights            bool
		kernel               string // a prefix of a kernel the Conv must dispatch
	}{
		{name: "forced direct", force: "direct", kernel: "conv"},
		{name: "forced winograd", force: "winograd", kernel: "conv_winograd"},
		{name: "measuring off", measure: "0"},
		{name: "runtime weights", rtWeights: true, kernel: "conv"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(layers.ConvKernelEnv, c.force)
			t.Setenv(vkinfer.MeasureEnv, c.measure)
			dir := t.TempDir()
			dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: dir})
			m := convChoiceModel(c.rtWeights)
			lm, err := dev.LoadModel(m)
			require.NoError(t, err)
			defer lm.Close()
			kernels := runConvChoice(t, lm, m, 1)
			runConvChoice(t, lm, m, 3)
			require.Zero(t, vkinfer.VariantTrials(dev))
			require.Empty(t, kernelChoices(t, dir))
			if c.kernel != "" {
				require.True(t, slices.ContainsFunc(kernels, func(k string) bool { return k == c.kernel || k == c.kernel+"_texel" }), "%v", kernels)
			}
		})
	}
}

// VKINFER_CONV=all lays out every kernel's weights, so every kernel that can
// run the layer is measured (gemm, winograd and direct on the CPU drivers);
// the result matches the reference, and after the plan the layer keeps the
// chosen kernel (the others' weights may be freed).
func TestConvKernelChoiceAll(t *testing.T) {
	t.Setenv(layers.ConvKernelEnv, "all")
	t.Setenv(vkinfer.MeasureEnv, "")
	dir := t.TempDir()
	dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: dir})
	m := convChoiceModel(false)
	lm, err := dev.LoadModel(m)
	require.NoError(t, err)
	defer lm.Close()
	shape := []int{1, 8, 13, 11}
	before, key := vkinfer.LayerVariants(lm, "conv", shape, []int{6})
	kernels := runConvChoice(t, lm, m, 1)
	after, _ := vkinfer.LayerVariants(lm, "conv", shape, []int{6})
	choices := kernelChoices(t, dir)
	t.Logf("kernels %v can run the layer; stored %v; it ran %v; %v left", before, choices, kernels, after)
	require.Contains(t, before, "direct")
	if len(before) < 2 {
		require.Zero(t, vkinfer.VariantTrials(dev))
		return
	}
	require.Equal(t, int64(1), vkinfer.VariantTrials(dev))
	v, ok := choices[key]
	require.True(t, ok, "%s not in %v", key, choices)
	require.Contains(t, after, v, "the chosen kernel stays")
	require.LessOrEqual(t, len(after), len(before))
	runConvChoice(t, lm, m, 3)
}
