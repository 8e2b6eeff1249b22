package layers_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"testing"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// TestPrimitiveCosts (with VKINFER_GEMM_BENCH=1) times the micro-kernels of
// shaders/bench_primitives.comp and logs each primitive's CPU time per
// SIMD vector of subgroup-size lanes (8 on lavapipe), in ns and in cycles at
// VKINFER_CPU_GHZ (default 2.1): `VKINFER_GEMM_BENCH=1 VKINFER_VALIDATION=0
// go test ./layers -run TestPrimitiveCosts -v` (docs/PERFORMANCE.md, "What
// each primitive costs on lavapipe"). Not a pass/fail test.
func TestPrimitiveCosts(t *testing.T) {
	if os.Getenv("VKINFER_GEMM_BENCH") == "" {
		t.Skip("set VKINFER_GEMM_BENCH=1 to time the primitives")
	}
	ghz := 2.1
	if v := os.Getenv("VKINFER_CPU_GHZ"); v != "" {
		fmt.Sscan(v, &ghz)
	}
	d := gputest.Open(t, engine.Options{})
	lanes := int(d.Info().SubgroupSize)
	if lanes == 0 {
		lanes = 1
	}
	data := make([]float32, 1<<16)
	for i := range data {
		data[i] = float32(i%7) * 0.1
	}
	T, S := devBuf(t, d, data), devBuf(t, d, data)
	const groups = 256
	O := devBuf(t, d, make([]float32, 1<<16))
	type prim struct {
		name          string
		mode, r, iter int
		ops           int // primitives per invocation
	}
	var prims []prim
	for _, r := range []int{4, 8, 16, 32, 64} {
		prims = append(prims, prim{fmt.Sprintf("FMA, %d accumulators, 1 per loop iteration each", r), 0, r, 1000, r * 1000})
	}
	for _, r := range []int{8, 16, 32, 64} {
		prims = append(prims, prim{fmt.Sprintf("FMA, %d accumulators, 4 per loop iteration each", r), 1, r, 250, 4 * r * 250})
	}
	prims = append(prims,
		prim{"texel fetch (vec4), per-lane index", 2, 512, 1, 512},
		prim{"texel fetch (vec4), push-constant index", 3, 512, 1, 512},
		prim{"storage load (float), per-lane offset", 4, 256, 1, 256},
		prim{"storage load (float), push-constant offset", 5, 256, 1, 256},
		prim{"storage store (float), per-lane offset", 6, 4, 1000, 4 * 1000},
		prim{"subgroupBroadcast (constant lane) + FMA", 7, 8, 1000, 9 * 1000},
		prim{"subgroupShuffle (constant index) + FMA", 8, 8, 1000, 9 * 1000},
		prim{"FMA (the baseline of the two above)", 9, 8, 1000, 9 * 1000},
		prim{"shared store + barrier + shared load + barrier", 10, 1, 1000, 1000},
	)
	ctx := context.Background()
	for _, p := range prims {
		pipe, err := d.Pipeline("bench_primitives", engine.Spec{"local_size_x": 64, "MODE": uint32(p.mode), "R": uint32(p.r), "ITER": uint32(p.iter)})
		if err != nil {
			t.Fatal(err)
		}
		rec := d.NewRecorder()
		push := []uint32{0, 1<<16 - 1, math.Float32bits(0.999), math.Float32bits(0.5)}
		if err := rec.Dispatch(pipe, []*engine.Buffer{T, S, O}, push, [3]uint32{groups, 1, 1}); err != nil {
			t.Fatal(err)
		}
		prog, err := rec.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if err := prog.Run(ctx, nil, nil); err != nil {
			t.Fatal(err)
		}
		var cpus []float64
		for i := 0; i < 5; i++ {
			c0 := processCPU()
			if err := prog.Run(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			cpus = append(cpus, float64((processCPU() - c0).Nanoseconds()))
		}
		prog.Close()
		sort.Float64s(cpus)
		vectors := float64(groups*64/lanes) * float64(p.ops)
		ns := cpus[2] / vectors
		t.Logf("%-50s %7.2f ns %6.2f cycles per %d-lane op", p.name, ns, ns*ghz, lanes)
	}
}
