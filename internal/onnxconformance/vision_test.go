package onnxconformance

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/model/onnx"
	"github.com/vkinfer/vkinfer/planner"
)

// Tolerance against PyTorch on the torchvision architectures: |got - want|
// <= visionAbs + visionRel·|want|.
const (
	visionAbs = 1e-4
	visionRel = 1e-3
)

// visionModels are the architectures tools/torch/vision.py exports.
// (efficientnet_b0 was left out while it missed torch by ~200x the
// tolerance: its fixture was ill-conditioned, torch in float64 missing torch
// in float32 by 49x, as tools/torch/vision_fp64.py measures; vision.py now
// calibrates BatchNorm after drawing its affine parameters and refuses a
// fixture so ill-conditioned, and the stamp check below keeps fixtures made
// the old way from running.)
var visionModels = []string{"resnet18", "mobilenet_v2", "squeezenet1_1", "shufflenet_v2_x0_5", "efficientnet_b0", "mnasnet0_5", "googlenet"}

// visionStamp is what `./build.sh fixtures` writes to each model's .stamp:
// the first 16 hex digits of tools/torch/vision.py's SHA-256.
func visionStamp(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../tools/torch/vision.py")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))[:16]
}

// fixturesDir is where `./build.sh fixtures` wrote them: $VKINFER_FIXTURES
// (by default the build writes ~/.cache/vkinfer/fixtures). The test is
// opt-in: without the variable it skips, as the seven networks take minutes
// on the CPU drivers.
func fixturesDir() string { return os.Getenv("VKINFER_FIXTURES") }

func readNpy(t *testing.T, path string) vkinfer.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	shape, data, err := npy.Read(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return vkinfer.Tensor{Shape: shape, Data: data}
}

// TestTorchVision runs the torchvision architectures exported by
// `./build.sh fixtures` (random weights, non-trivial BatchNorm statistics)
// at batch 1 and 2 and compares them with PyTorch's outputs. A model whose
// fixtures are absent is skipped (a failure with VKINFER_REQUIRE_FIXTURES=1);
// one with an op vkinfer lacks is skipped with the op named.
func TestTorchVision(t *testing.T) {
	gputest.Require(t)
	// The static rule's kernels: measuring the layers several kernels can
	// run (depthwise: dw, direct) would time them under the validation
	// layer and check nothing more; TestConvDifferential checks every
	// kernel against the reference.
	t.Setenv(vkinfer.MeasureEnv, "0")
	// A 224x224 network at batch 2 is seconds of work on a CPU driver, and
	// minutes under the validation layer on a loaded machine: a generous
	// bound on one submission, not a performance check.
	dev, err := vkinfer.Open(vkinfer.Options{Validation: gputest.Validation(), Timeout: 15 * time.Minute})
	if err != nil {
		t.Fatalf("open device: %v", err)
	}
	defer dev.Close()
	if fixturesDir() == "" {
		if os.Getenv("VKINFER_REQUIRE_FIXTURES") == "1" {
			t.Fatal("VKINFER_REQUIRE_FIXTURES=1 without VKINFER_FIXTURES: run ./build.sh fixtures and set VKINFER_FIXTURES")
		}
		t.Skip("set VKINFER_FIXTURES to the folder ./build.sh fixtures wrote (~/.cache/vkinfer/fixtures)")
	}
	dir := filepath.Join(fixturesDir(), "vision")
	stamp := visionStamp(t)
	for _, name := range visionModels {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name, "model.onnx")
			skip := t.Skipf
			if os.Getenv("VKINFER_REQUIRE_FIXTURES") == "1" {
				skip = t.Fatalf
			}
			if _, err := os.Stat(path); err != nil {
				skip("no %s: run ./build.sh fixtures", path)
			}
			// Fixtures from another version of the script compare with
			// another torch output: stale, not wrong.
			if got, _ := os.ReadFile(filepath.Join(dir, name, ".stamp")); strings.TrimSpace(string(got)) != stamp {
				skip("%s was made by another version of tools/torch/vision.py (stamp %q, now %q): rerun ./build.sh fixtures",
					filepath.Join(dir, name), strings.TrimSpace(string(got)), stamp)
			}
			spec, err := onnx.ReadFile(path)
			if err != nil {
				if errors.Is(err, onnx.ErrUnsupported) {
					t.Skipf("import: %v", err)
				}
				t.Fatal(err)
			}
			m, err := dev.LoadModel(spec)
			if errors.Is(err, vkinfer.ErrUnsupportedOp) {
				t.Skipf("%v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			for _, batch := range []int{1, 2} {
				x := readNpy(t, filepath.Join(dir, name, fmt.Sprintf("input_%d.npy", batch)))
				want := readNpy(t, filepath.Join(dir, name, fmt.Sprintf("output_%d.npy", batch)))
				out, err := m.Run(context.Background(), x)
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				got := out[0]
				if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
					t.Fatalf("batch %d: shape %v, torch %v", batch, got.Shape, want.Shape)
				}
				worst, at := 0.0, 0
				for i, w := range want.Data {
					e := math.Abs(float64(got.Data[i]) - float64(w))
					if r := e / (visionAbs + visionRel*math.Abs(float64(w))); r > worst || math.IsNaN(e) {
						worst, at = r, i
						if math.IsNaN(e) {
							worst = math.Inf(1)
						}
					}
				}
				t.Logf("batch %d: worst error %.3f of the tolerance (at %d: %v, torch %v)", batch, worst, at, got.Data[at], want.Data[at])
				if worst > 1 {
					t.Fatalf("batch %d: output[%d] = %v, torch %v (tolerance %g + %g·|torch|)", batch, at, got.Data[at], want.Data[at], visionAbs, visionRel)
				}
			}
		})
	}
}

// TestVisionDeviceMemory: resnet18's device memory at batch 1 and 32
// against the bound, weights + 1.2x the largest set of
// simultaneously live activations (planner.Plan.PeakLive). The plan is
// recorded (Model.Reserve), not run. It asserts what the planner decides,
// the activation arena within 1.2x the live set, and the whole device
// within the bound: the weights arena (a Conv that runs as a GEMM holds its
// weights only in the GEMM's layout) plus the activations and the layers'
// temporaries (Recorder.Temp: im2col patch matrices, which the plan does not
// place; layers/conv.go convChunkTarget keeps them small).
func TestVisionDeviceMemory(t *testing.T) {
	gputest.Require(t)
	if fixturesDir() == "" {
		t.Skip("set VKINFER_FIXTURES to the folder ./build.sh fixtures wrote (~/.cache/vkinfer/fixtures)")
	}
	path := filepath.Join(fixturesDir(), "vision", "resnet18", "model.onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("no %s: run ./build.sh fixtures", path)
	}
	spec, err := onnx.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := planner.Prepare(spec, planner.Passes)
	if err != nil {
		t.Fatal(err)
	}
	weights := 4 * spec.ParamCount()
	for _, batch := range []int{1, 32} {
		dev, err := vkinfer.Open(vkinfer.Options{Validation: gputest.Validation()})
		if err != nil {
			t.Fatal(err)
		}
		m, err := dev.LoadModel(spec)
		if err != nil {
			dev.Close()
			t.Fatal(err)
		}
		shape := []int{batch, 3, 224, 224}
		if err := m.Reserve(shape); err != nil {
			dev.Close()
			t.Fatal(err)
		}
		st := dev.Stats()
		align := dev.Engine().Alignment()
		pl, err := planner.Make(g, [][]int{shape}, planner.Options{Align: int(align / 4)})
		if err != nil {
			dev.Close()
			t.Fatal(err)
		}
		live := 4 * int64(pl.PeakLive)
		arena := (4*int64(pl.ArenaSize) + align - 1) / align * align
		w, act := st.Arena(engine.Weights).Allocated, st.Arena(engine.Activations).Allocated
		held := w + act
		budget := weights + live*12/10
		t.Logf("resnet18 batch %d: device memory %.2f MB = weights arena %.2f MB (%.2fx the weights' %.2f MB) + activations %.2f MB "+
			"(plan arena %.2f MB = %.3fx the largest live set of %.2f MB, temporaries %.2f MB); bound weights + 1.2x live = %.2f MB: %s",
			batch, mb(held), mb(w), float64(w)/float64(weights), mb(weights), mb(act), mb(arena), float64(arena)/float64(live), mb(live),
			mb(act-arena), mb(budget), map[bool]string{true: "within", false: "OVER"}[held <= budget])
		m.Close()
		dev.Close()
		if arena*10 > live*12 {
			t.Errorf("batch %d: the plan's arena of %d B is over 1.2x the largest live set of %d B", batch, arena, live)
		}
		// Issue 12's bound on the whole device: the weights once, the
		// activations and the layers' temporaries within 1.2x the live set.
		if held > budget {
			t.Errorf("batch %d: the device holds %d B, over the weights (%d B) + 1.2x the largest live set (%d B) = %d B",
				batch, held, weights, live, budget)
		}
	}
}

func mb(b int64) float64 { return float64(b) / 1e6 }
