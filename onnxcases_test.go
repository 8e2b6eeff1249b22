package vkinfer_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/model"
)

// onnxCase is a folder of testdata/onnxcases: model.onnx, input.NAME.npy per
// graph input fed, expected.NAME.npy per graph output (ONNX Runtime's).
type onnxCase struct {
	dir      string
	inputs   map[string]vkinfer.Tensor
	expected map[string]vkinfer.Tensor
}

func readNpyT(t *testing.T, path string) vkinfer.Tensor {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	shape, data, err := npy.Read(f)
	require.NoError(t, err, path)
	return vkinfer.Tensor{Shape: shape, Data: data}
}

func readCase(t *testing.T, name string) onnxCase {
	t.Helper()
	c := onnxCase{dir: filepath.Join("testdata", "onnxcases", name), inputs: map[string]vkinfer.Tensor{}, expected: map[string]vkinfer.Tensor{}}
	files, err := filepath.Glob(filepath.Join(c.dir, "*.npy"))
	require.NoError(t, err)
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".npy")
		if n, ok := strings.CutPrefix(base, "input."); ok {
			c.inputs[n] = readNpyT(t, f)
		} else if n, ok := strings.CutPrefix(base, "expected."); ok {
			c.expected[n] = readNpyT(t, f)
		}
	}
	return c
}

// runCase loads the case's model and runs it on feed (by input name; a
// missing input takes its default), returning the outputs by name.
func runCase(t *testing.T, dev *vkinfer.Device, c onnxCase, feed map[string]vkinfer.Tensor) map[string]vkinfer.Tensor {
	t.Helper()
	m, err := dev.Load(filepath.Join(c.dir, "model.onnx"))
	require.NoError(t, err)
	defer m.Close()
	var in []vkinfer.Tensor
	for _, v := range m.Spec().Inputs {
		in = append(in, feed[v.Name]) // a zero Tensor when not fed
	}
	out, err := m.Run(context.Background(), in...)
	require.NoError(t, err)
	res := map[string]vkinfer.Tensor{}
	for i, v := range m.Spec().Outputs {
		res[v.Name] = out[i]
	}
	return res
}

// requireCaseClose compares with |got - want| <= 1e-4 + 1e-3·|want|, the
// tolerance of the shared ONNX cases.
func requireCaseClose(t *testing.T, name string, got, want vkinfer.Tensor) {
	t.Helper()
	require.Equal(t, want.Shape, got.Shape, "output %s shape", name)
	for i, w := range want.Data {
		g := got.Data[i]
		if math.IsNaN(float64(w)) {
			require.True(t, math.IsNaN(float64(g)), "output %s[%d] = %v, want NaN", name, i, g)
			continue
		}
		require.LessOrEqual(t, math.Abs(float64(g-w)), 1e-4+1e-3*math.Abs(float64(w)), "output %s[%d] = %v, want %v", name, i, g, w)
	}
}

// The ONNX constructs of issue 10 that exporters emit, each with ONNX
// Runtime's outputs: a BOOL constant (Dropout 12's training_mode), a DOUBLE
// initializer through Cast, a graph input that is also a graph output, an
// initializer overridden by a graph input (IR 7), nodes in reverse order,
// and Clip bounds given at run time.
func TestONNXCases(t *testing.T) {
	dev := openDevice(t)
	for _, name := range []string{"dropout12_training_mode_false_bool", "double_initializer_cast_to_float",
		"graph_input_also_graph_output", "nodes_in_reverse_order", "clip_bounds_at_run_time"} {
		t.Run(name, func(t *testing.T) {
			c := readCase(t, name)
			got := runCase(t, dev, c, c.inputs)
			require.Len(t, got, len(c.expected))
			for n, want := range c.expected {
				requireCaseClose(t, n, got[n], want)
			}
		})
	}
	// initializer_overridden_by_input: out = Add(hidden, in) where hidden is
	// an initializer listed as a graph input. Its expected.out.npy is
	// initializer + in (what ONNX Runtime returns when hidden is not fed);
	// fed, hidden's value wins (ONNX Runtime's rule for IR >= 4).
	t.Run("initializer_overridden_by_input", func(t *testing.T) {
		c := readCase(t, "initializer_overridden_by_input")
		in, hidden := c.inputs["in"], c.inputs["hidden"]
		got := runCase(t, dev, c, map[string]vkinfer.Tensor{"in": in})
		requireCaseClose(t, "out (default hidden)", got["out"], c.expected["out"])
		got = runCase(t, dev, c, c.inputs)
		want := vkinfer.Tensor{Shape: in.Shape, Data: make([]float32, len(in.Data))}
		for i := range want.Data {
			want.Data[i] = in.Data[i] + hidden.Data[i]
		}
		requireCaseClose(t, "out (hidden fed)", got["out"], want)
		// Left out at the end of Run's inputs, hidden takes its default.
		m, err := dev.Load(filepath.Join(c.dir, "model.onnx"))
		require.NoError(t, err)
		defer m.Close()
		require.Equal(t, []string{"in", "hidden"}, []string{m.Spec().Inputs[0].Name, m.Spec().Inputs[1].Name})
		out, err := m.Run(context.Background(), in)
		require.NoError(t, err)
		requireCaseClose(t, "out (hidden left out)", out[0], c.expected["out"])
		_, err = m.Run(context.Background())
		require.ErrorIs(t, err, vkinfer.ErrShape, "the required input left out")
	})
}

// Graph outputs no node computes from the inputs: a graph input passed
// through (also in a graph without nodes) and a constant (the importer's
// Mul(value, 1)) are returned as they are.
func TestPassThroughOutputs(t *testing.T) {
	dev := openDevice(t)
	x := vkinfer.Tensor{Shape: []int{2, 3}, Data: []float32{1, -2, 3, -4, 5, float32(math.NaN())}}
	for _, spec := range []*model.Model{
		{Name: "identity", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}}, Outputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}}},
		{Name: "mixed", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}},
			Outputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, 3}}, {Name: "r", Shape: []int{-1, 3}}, {Name: "c", Shape: []int{2}}},
			Nodes: []model.Node{{Name: "relu", Op: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}},
				{Name: "const", Op: "Mul", Inputs: []string{"v", "one"}, Outputs: []string{"c"}}},
			Initializers: []*model.Tensor{{Name: "v", Shape: []int{2}, Data: []float32{float32(math.Copysign(0, -1)), 7}},
				{Name: "one", Data: []float32{1}}}},
	} {
		t.Run(spec.Name, func(t *testing.T) {
			m, err := dev.LoadModel(spec)
			require.NoError(t, err)
			defer m.Close()
			out, err := m.Run(context.Background(), x)
			require.NoError(t, err)
			require.Len(t, out, len(spec.Outputs))
			require.Equal(t, x.Shape, out[0].Shape)
			require.Equal(t, x.Data[:5], out[0].Data[:5])
			require.True(t, math.IsNaN(float64(out[0].Data[5])))
			if len(out) > 1 {
				require.Equal(t, []float32{1, 0, 3, 0, 5}, out[1].Data[:5])
				require.Equal(t, []int{2}, out[2].Shape)
				require.Equal(t, []float32{0, 7}, out[2].Data)
				require.True(t, math.Signbit(float64(out[2].Data[0])), "-0 stays -0")
			}
		})
	}
}
