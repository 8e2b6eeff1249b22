package vkinfer_test

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// mlp builds a Dense/Relu/.../Softmax model with random weights.
func mlp(seed int64, sizes ...int) *model.Model {
	r := rand.New(rand.NewSource(seed))
	m := &model.Model{
		Name: "test-mlp", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, sizes[0]}}},
	}
	prev := "x"
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		w := &model.Tensor{Name: fmt.Sprintf("w%d", i), Shape: []int{out, in}, Data: make([]float32, out*in)}
		b := &model.Tensor{Name: fmt.Sprintf("b%d", i), Shape: []int{out}, Data: make([]float32, out)}
		scale := math.Sqrt(2 / float64(in))
		for j := range w.Data {
			w.Data[j] = float32(r.NormFloat64() * scale)
		}
		for j := range b.Data {
			b.Data[j] = float32(r.NormFloat64() * 0.1)
		}
		m.Initializers = append(m.Initializers, w, b)
		y := fmt.Sprintf("y%d", i)
		m.Nodes = append(m.Nodes, model.Node{Name: fmt.Sprintf("dense%d", i), Op: ops.OpDense, Inputs: []string{prev, w.Name, b.Name}, Outputs: []string{y}})
		prev = y
		if i+2 < len(sizes) {
			a := fmt.Sprintf("a%d", i)
			m.Nodes = append(m.Nodes, model.Node{Name: fmt.Sprintf("relu%d", i), Op: ops.OpRelu, Inputs: []string{prev}, Outputs: []string{a}})
			prev = a
		}
	}
	m.Nodes = append(m.Nodes, model.Node{Name: "softmax", Op: ops.OpSoftmax, Inputs: []string{prev}, Outputs: []string{"probs"}})
	m.Outputs = []model.ValueInfo{{Name: "probs", Shape: []int{-1, sizes[len(sizes)-1]}}}
	return m
}

// reference runs the model on the CPU with package ops (ops.Run), the
// oracle the GPU is compared with.
func reference(m *model.Model, x []float32, batch int) []float32 {
	outs, err := ops.Run(m, ops.F32([]int{batch, len(x) / batch}, x))
	if err != nil {
		panic(err)
	}
	return outs[0].Data
}

func openDevice(t *testing.T) *vkinfer.Device {
	t.Helper()
	return openDeviceWith(t, vkinfer.Options{})
}

// openDeviceWith is openDevice with options (validation and its messages
// are set here).
func openDeviceWith(t *testing.T, opts vkinfer.Options) *vkinfer.Device {
	t.Helper()
	gputest.Require(t)
	opts.Validation = gputest.Validation()
	opts.OnMessage = func(sev, msg string) {
		t.Errorf("validation: %s: %s", sev, msg)
	}
	dev, err := vkinfer.Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	return dev
}

func TestRunMatchesReference(t *testing.T) {
	dev := openDevice(t)
	spec := mlp(1, 784, 128, 256, 10)
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	r := rand.New(rand.NewSource(2))
	for _, batch := range []int{1, 7, 64, 1, 7} {
		x := make([]float32, batch*784)
		for i := range x {
			x[i] = r.Float32()
		}
		out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 784}, Data: x})
		require.NoError(t, err)
		require.Equal(t, []int{batch, 10}, out[0].Shape)
		want := reference(spec, x, batch)
		for i := range want {
			require.InDelta(t, want[i], out[0].Data[i], 1e-5, "batch %d, [%d]", batch, i)
		}
	}
}

// Small batches of a Dense chain run as one dispatch (layers.DenseChain)
// where the device's budget allows it, larger ones as one dispatch per
// layer; both match the reference, and a graph whose intermediate tensor is
// also an output is never chained past it.
func TestSmallBatchChain(t *testing.T) {
	dev := openDeviceWith(t, vkinfer.Options{FixedPlans: true}) // the chain by its thresholds, not measured
	spec := mlp(5, 64, 128, 256, 10)                            // 43k multiply-adds per row
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	chained := dev.Info().DriverID != engine.DriverSwiftShader && // the chain is slower there: off
		// and it binds more descriptors than the spec minimums (VKINFER_LIMITS=min) allow
		dev.Engine().KernelFits("dense_chain") == nil && dev.Engine().KernelFits("dense_chain_texel") == nil
	r := rand.New(rand.NewSource(6))
	for _, batch := range []int{1, 3, 64} {
		x := make([]float32, batch*64)
		for i := range x {
			x[i] = r.Float32()
		}
		before := dev.Stats().DescriptorSets
		out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 64}, Data: x})
		require.NoError(t, err)
		dispatches := dev.Stats().DescriptorSets - before
		if chained && batch <= 3 {
			require.EqualValues(t, 1, dispatches, "batch %d: one chain dispatch", batch)
		} else {
			require.GreaterOrEqual(t, dispatches, int64(4), "batch %d: one dispatch per layer", batch)
		}
		want := reference(spec, x, batch)
		for i := range want {
			require.InDelta(t, want[i], out[0].Data[i], 1e-5, "batch %d, [%d]", batch, i)
		}
	}

	// The first layer's output is a graph output too: the chain may not
	// swallow it, and it must come out right.
	spec = mlp(7, 16, 8, 4)
	spec.Outputs = append(spec.Outputs, model.ValueInfo{Name: "y0", Shape: []int{-1, 8}})
	m2, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m2.Close()
	x := make([]float32, 16)
	for i := range x {
		x[i] = r.Float32()
	}
	out, err := m2.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 16}, Data: x})
	require.NoError(t, err)
	require.Len(t, out, 2)
	want := reference(spec, x, 1)
	for i := range want {
		require.InDelta(t, want[i], out[0].Data[i], 1e-5, "[%d]", i)
	}
	w0, b0 := spec.Initializer("w0"), spec.Initializer("b0")
	y0 := ops.Gemm(x, w0.Data, b0.Data, 1, 8, 16, false, true, ops.ActNone)
	for i := range y0 {
		require.InDelta(t, y0[i], out[1].Data[i], 1e-5, "y0[%d]", i)
	}
}

// A second run at a known batch size records nothing, allocates nothing and
// submits exactly once.
// The first plan for a shape with a chain candidate measures both
// candidates and stores the choice beside the pipeline cache; a second
// device on the same cache reads it back, and either choice computes the
// same result.
func TestMeasuredPlanChoice(t *testing.T) {
	dir := t.TempDir()
	spec := mlp(5, 64, 128, 256, 10)
	x := make([]float32, 64)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	want := reference(spec, x, 1)
	for round := 0; round < 2; round++ {
		dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: dir})
		m, err := dev.LoadModel(spec)
		require.NoError(t, err)
		out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 64}, Data: x})
		require.NoError(t, err)
		for i := range want {
			require.InDelta(t, want[i], out[0].Data[i], 1e-5, "round %d [%d]", round, i)
		}
		m.Close()
		dev.Close()
		files, _ := filepath.Glob(filepath.Join(dir, "choices-*.json"))
		chainable := dev.Info().DriverID != engine.DriverSwiftShader && dev.Engine().KernelFits("dense_chain") == nil
		if chainable {
			require.Len(t, files, 1, "round %d: the choice is stored", round)
			data, err := os.ReadFile(files[0])
			require.NoError(t, err)
			require.Regexp(t, `"[0-9a-f]+\|1,64,;\|chain\+split\|zeroed": "(chain|split|layers)"`, string(data))
		}
	}
	// Each choice, stored, is planned as it says (the chain step's
	// dispatches: one, two for the split form, one per layer otherwise)
	// and computes the same.
	files, _ := filepath.Glob(filepath.Join(dir, "choices-*.json"))
	if len(files) == 0 {
		return
	}
	data, err := os.ReadFile(files[0])
	require.NoError(t, err)
	for choice, dispatches := range map[string]int{"chain": 1, "split": 2, "layers": 1} {
		stored := regexp.MustCompile(`": "(chain|split|layers)"`).ReplaceAll(data, []byte(`": "`+choice+`"`))
		require.NoError(t, os.WriteFile(files[0], stored, 0o644))
		dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: dir})
		m, err := dev.LoadModel(spec)
		require.NoError(t, err)
		x1 := vkinfer.Tensor{Shape: []int{1, 64}, Data: x}
		out, err := m.Run(context.Background(), x1)
		require.NoError(t, err)
		for i := range want {
			require.InDelta(t, want[i], out[0].Data[i], 1e-5, "choice %s [%d]", choice, i)
		}
		prof, err := m.Profile(context.Background(), 1, x1)
		require.NoError(t, err)
		steps := 0
		for _, l := range prof.Layers {
			if len(l.Nodes) > 0 {
				steps++
				require.Equal(t, dispatches, l.Dispatches, "choice %s: step %s", choice, l.Name)
			}
		}
		if choice == "layers" {
			require.Equal(t, 4, steps, "choice layers: one step per Dense (with its ReLU) and the softmax")
		} else {
			require.Equal(t, 1, steps, "choice %s: one fused step", choice)
		}
		m.Close()
		dev.Close()
	}
}

// A plan with nothing to choose (no run of Dense layers) is recorded once,
// not once per candidate.
func TestPlanWithoutChoiceRecordsOnce(t *testing.T) {
	dev := openDeviceWith(t, vkinfer.Options{PipelineCacheDir: t.TempDir()})
	spec := &model.Model{
		Name: "relu", Producer: "vkinfer tests", ID: uuid.New(),
		Inputs:  []model.ValueInfo{{Name: "x", Shape: []int{-1, 5}}},
		Outputs: []model.ValueInfo{{Name: "y", Shape: []int{-1, 5}}},
		Nodes:   []model.Node{{Name: "relu", Op: ops.OpRelu, Inputs: []string{"x"}, Outputs: []string{"y"}}},
	}
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	before := dev.Stats().Recorded
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{3, 5}, Data: make([]float32, 15)})
	require.NoError(t, err)
	require.Equal(t, before+1, dev.Stats().Recorded, "command buffers recorded by the first run")
}

func TestSecondRunIsOnlyASubmit(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(mlp(3, 64, 128, 256, 10))
	require.NoError(t, err)
	defer m.Close()
	x := vkinfer.Tensor{Shape: []int{4, 64}, Data: make([]float32, 4*64)}
	_, err = m.Run(context.Background(), x)
	require.NoError(t, err)
	before := dev.Stats()
	for i := 0; i < 3; i++ {
		_, err = m.Run(context.Background(), x)
		require.NoError(t, err)
	}
	after := dev.Stats()
	require.Equal(t, before.Recorded, after.Recorded, "command buffers recorded")
	require.Equal(t, before.AllocateCalls, after.AllocateCalls, "vkAllocateMemory calls")
	require.Equal(t, before.Pipelines, after.Pipelines, "pipelines created")
	require.Equal(t, before.DescriptorSets, after.DescriptorSets, "descriptor sets")
	require.Equal(t, before.Arenas, after.Arenas, "arena bytes")
	require.Equal(t, before.Submits+3, after.Submits, "one submit per run")
}

// A ten-layer network needs a small constant number of vkAllocateMemory
// calls, not one per buffer.
func TestTenLayersFewAllocations(t *testing.T) {
	dev := openDeviceWith(t, vkinfer.Options{FixedPlans: true}) // a measured choice records a candidate plan too
	before := dev.Stats().AllocateCalls
	sizes := []int{100, 90, 80, 70, 60, 50, 40, 30, 20, 15, 10}
	m, err := dev.LoadModel(mlp(4, sizes...))
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 100}, Data: make([]float32, 200)})
	require.NoError(t, err)
	calls := dev.Stats().AllocateCalls - before
	t.Logf("10 Dense layers: 20 weight tensors + activations in %d vkAllocateMemory calls", calls)
	most := int64(3)
	if dev.Info().Staging {
		most++ // the staging arena's block
	}
	require.LessOrEqual(t, calls, most, "a block per arena (weights, compacted weights, activations, staging when staged)")
}

func TestConcurrentRuns(t *testing.T) {
	dev := openDevice(t)
	spec := mlp(5, 64, 128, 256, 10)
	m, err := dev.LoadModel(spec)
	require.NoError(t, err)
	defer m.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(g)))
			batch := 1 + g%3
			for it := 0; it < 10; it++ {
				x := make([]float32, batch*64)
				for i := range x {
					x[i] = r.Float32()
				}
				out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 64}, Data: x})
				if err != nil {
					errs <- err
					return
				}
				want := reference(spec, x, batch)
				for i := range want {
					if math.Abs(float64(want[i]-out[0].Data[i])) > 1e-5 {
						errs <- fmt.Errorf("goroutine %d: [%d] = %v, want %v", g, i, out[0].Data[i], want[i])
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBadInputsAndOps(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.LoadModel(mlp(6, 8, 4))
	require.NoError(t, err)
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 9}, Data: make([]float32, 9)})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	require.ErrorContains(t, err, "[-1 8]")
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 8}, Data: make([]float32, 9)})
	require.ErrorIs(t, err, vkinfer.ErrShape)
	_, err = m.Run(context.Background())
	require.ErrorIs(t, err, vkinfer.ErrShape)
	m.Close()
	m.Close()
	_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 8}, Data: make([]float32, 8)})
	require.True(t, errors.Is(err, vkinfer.ErrClosed), "%v", err)

	bad := mlp(7, 8, 4)
	bad.Nodes = append([]model.Node{{Name: "conv1", Op: "DeformConv", Inputs: []string{"x"}, Outputs: []string{"c"}},
		{Name: "pool", Op: "LpPool", Inputs: []string{"c"}, Outputs: []string{"p"}}}, bad.Nodes...)
	bad.Nodes[2].Inputs[0] = "x"
	_, err = dev.LoadModel(bad)
	require.ErrorIs(t, err, vkinfer.ErrUnsupportedOp)
	require.ErrorContains(t, err, "conv1 (DeformConv)")
	require.ErrorContains(t, err, "pool (LpPool)")
}

// The shipped model classifies the shipped digits (what Example does), and
// a load from an io.Reader gives the same model.
func TestShippedModel(t *testing.T) {
	dev := openDevice(t)
	f, err := os.Open("examples/mnist/mlp.bin")
	require.NoError(t, err)
	defer f.Close()
	m, err := dev.LoadReader(f)
	require.NoError(t, err)
	defer m.Close()
	files, err := filepath.Glob("examples/images/digit-*.png")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var imgs []image.Image
	for _, p := range files {
		r, err := os.Open(p)
		require.NoError(t, err)
		img, err := png.Decode(r)
		r.Close()
		require.NoError(t, err)
		imgs = append(imgs, img)
	}
	top, err := m.Classify(context.Background(), imgs, 3)
	require.NoError(t, err)
	for i, p := range files {
		want := strings.Split(filepath.Base(p), "-")[1]
		require.Len(t, top[i], 3)
		require.Equal(t, want, top[i][0].Label, "%s: %v", p, top[i])
		require.Greater(t, top[i][0].Score, top[i][1].Score)
	}
	_, err = dev.Load("examples/does-not-exist.bin")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// A loaded model holds no more device memory than its weights plus the
// largest set of activations alive at once (+ staging, none on these
// drivers), within 10%, by the engine's own accounting.
func TestDeviceMemoryWithinTenPercent(t *testing.T) {
	dev := openDevice(t)
	m, err := dev.Load("examples/mnist/mlp.bin")
	require.NoError(t, err)
	defer func() { m.Close() }()
	weights := 4 * m.Spec().ParamCount()
	// The network is a chain of 784 -> 128 -> 256 -> 10 -> softmax 10: while
	// a layer runs, its input and its output are alive.
	widths := []int64{784, 128, 256, 10, 10}
	for _, batch := range []int{1, 256} {
		var live int64
		for i := 0; i+1 < len(widths); i++ {
			live = max(live, 4*int64(batch)*(widths[i]+widths[i+1]))
		}
		_, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{batch, 784}, Data: make([]float32, batch*784)})
		require.NoError(t, err)
		st := dev.Stats()
		staging := st.Arena(engine.Staging).Allocated
		held := st.DeviceBytes()
		budget := weights + live + staging
		t.Logf("batch %d: device memory %d B (weights arena %d, activations arena %d, staging %d); weights %d B + largest live set %d B = %d B; %.1f%%",
			batch, held, st.Arena(engine.Weights).Allocated, st.Arena(engine.Activations).Allocated, staging, weights, live, budget, 100*float64(held)/float64(budget))
		require.LessOrEqual(t, float64(held), 1.1*float64(budget))
		// Only this batch size's plan is measured: drop the others.
		m.Close()
		m, err = dev.Load("examples/mnist/mlp.bin")
		require.NoError(t, err)
	}
}

// Loading a model uploads all its weights in one submission (plus the one
// that compacts them), not one submit and wait per tensor: on devices
// whose memory the host cannot map (discrete GPUs, VKINFER_LIMITS=min) the
// writes are staged and queued.
func TestLoadUploadsInOneSubmit(t *testing.T) {
	dev := openDevice(t)
	before := dev.Stats().Submits
	m, err := dev.LoadModel(mlp(8, 100, 90, 80, 70, 60, 50, 40, 30, 20, 15, 10)) // 20 weight tensors
	require.NoError(t, err)
	defer m.Close()
	submits := dev.Stats().Submits - before
	t.Logf("load of 20 weight tensors: %d submits (staged: %v)", submits, dev.Info().Staging)
	require.LessOrEqual(t, submits, int64(2))
	out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{1, 100}, Data: make([]float32, 100)})
	require.NoError(t, err)
	require.Len(t, out[0].Data, 10)
}
