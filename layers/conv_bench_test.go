package layers_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/internal/optest"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// convBenchShapes are Conv layers of the torchvision models (batch 1):
// input shape, weight shape, stride, pad, group.
var convBenchShapes = []struct {
	name        string
	x, w        []int
	stride, pad int
	group       int
}{
	{"resnet18 conv1 7x7/2", []int{1, 3, 224, 224}, []int{64, 3, 7, 7}, 2, 3, 1},
	{"resnet18 layer1 3x3", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, 1, 1, 1},
	{"resnet18 layer3 3x3", []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, 1, 1, 1},
	{"resnet18 layer4 3x3", []int{1, 512, 7, 7}, []int{512, 512, 3, 3}, 1, 1, 1},
	{"mobilenet_v2 1x1 24->144 56x56", []int{1, 24, 56, 56}, []int{144, 24, 1, 1}, 1, 0, 1},
	{"mobilenet_v2 1x1 960->160 7x7", []int{1, 960, 7, 7}, []int{160, 960, 1, 1}, 1, 0, 1},
	{"googlenet conv3 3x3 64->192 56x56", []int{1, 64, 56, 56}, []int{192, 64, 3, 3}, 1, 1, 1},
	{"resnet18 layer2 3x3", []int{1, 128, 28, 28}, []int{128, 128, 3, 3}, 1, 1, 1},
	{"squeezenet expand 3x3 16->64 54x54", []int{1, 16, 54, 54}, []int{64, 16, 3, 3}, 1, 1, 1},
	{"squeezenet expand 3x3 16->64 55x55", []int{1, 16, 55, 55}, []int{64, 16, 3, 3}, 1, 1, 1},
	{"squeezenet expand 3x3 32->128 27x27", []int{1, 32, 27, 27}, []int{128, 32, 3, 3}, 1, 1, 1},
	{"squeezenet expand 3x3 64->256 13x13", []int{1, 64, 13, 13}, []int{256, 64, 3, 3}, 1, 1, 1},
	{"mobilenet_v2 1x1 16->96 112x112", []int{1, 16, 112, 112}, []int{96, 16, 1, 1}, 1, 0, 1},
	{"squeezenet conv1 3x3/2 3->64 224", []int{1, 3, 224, 224}, []int{64, 3, 3, 3}, 2, 0, 1},
	{"squeezenet squeeze 1x1 128->16 55x55", []int{1, 128, 55, 55}, []int{16, 128, 1, 1}, 1, 0, 1},
	{"resnet18 layer2 downsample 1x1/2", []int{1, 64, 56, 56}, []int{128, 64, 1, 1}, 2, 0, 1},
	{"mobilenet_v2 1x1 32->192 28x28", []int{1, 32, 28, 28}, []int{192, 32, 1, 1}, 1, 0, 1},
	{"mobilenet_v2 1x1 64->384 14x14", []int{1, 64, 14, 14}, []int{384, 64, 1, 1}, 1, 0, 1},
	{"mobilenet_v2 1x1 96->576 14x14", []int{1, 96, 14, 14}, []int{576, 96, 1, 1}, 1, 0, 1},
	{"squeezenet expand 1x1 48->192 13x13", []int{1, 48, 13, 13}, []int{192, 48, 1, 1}, 1, 0, 1},
	{"mobilenet_v2 dw 3x3 32 112x112", []int{1, 32, 112, 112}, []int{32, 1, 3, 3}, 1, 1, 32},
	{"mobilenet_v2 dw 3x3 144 56x56", []int{1, 144, 56, 56}, []int{144, 1, 3, 3}, 1, 1, 144},
	{"mobilenet_v2 dw 3x3/2 96 112x112", []int{1, 96, 112, 112}, []int{96, 1, 3, 3}, 2, 1, 96},
	{"mobilenet_v2 dw 3x3 384 14x14", []int{1, 384, 14, 14}, []int{384, 1, 3, 3}, 1, 1, 384},
	{"mobilenet_v2 dw 3x3 960 7x7", []int{1, 960, 7, 7}, []int{960, 1, 3, 3}, 1, 1, 960},
	{"efficientnet_b0 dw 5x5/2 144 56x56", []int{1, 144, 56, 56}, []int{144, 1, 5, 5}, 2, 2, 144},
	{"efficientnet_b0 dw 5x5 480 14x14", []int{1, 480, 14, 14}, []int{480, 1, 5, 5}, 1, 2, 480},
}

// TestConvSpeed (with VKINFER_CONV_BENCH=1) times each variant of each
// convBenchShapes layer, interleaved run by run so that a noisy machine
// slows them alike, and logs the medians: `VKINFER_CONV_BENCH=1
// VKINFER_VALIDATION=0 go test ./layers -run TestConvSpeed -v`. Not a
// pass/fail test. Each variant's line gives the median wall time (and
// GFLOP/s) and the median CPU time of the process (all threads) per run. With VKINFER_CONV_BENCH_CHUNKS (a comma list of
// patch-matrix bounds in floats, SetConvChunkFloats) it times the GEMM path
// at the default ("gemm") against each of those as the bound ("gemm/N")
// instead. VKINFER_CONV_BENCH_RUNS=N times N runs (default 7).
// VKINFER_CONV_BENCH_VARIANTS is a comma list of the variants to time on
// the group-1 layers (direct, gemm, im2col, gemm-only, winograd, and
// winograd/MBxTT: Winograd with MB output channels x TT tiles per
// invocation; winograd/MBxTTxL: in workgroups of L invocations;
// gemm-panels and gemm-rows: the GEMM path with gemm_texel's invocation
// order forced, SetTexelOrder; gemm-texel: the GEMM path with gemm_texel
// where gemm_shuffle would run, SetGemmShuffle).
// VKINFER_CONV_BENCH_BATCH=N runs the layers at batch N (default 1).
// VKINFER_CONV_BENCH_ONLY=S times only the layers whose name
// contains S (e.g. " dw " for the depthwise ones, which compare conv.comp
// with conv_dw: see VKINFER_CONV_BENCH_DW_STRIPS below).
func TestConvSpeed(t *testing.T) {
	if os.Getenv("VKINFER_CONV_BENCH") == "" {
		t.Skip("set VKINFER_CONV_BENCH=1 to time the Conv variants")
	}
	d := gputest.Open(t, engine.Options{})
	r := rand.New(rand.NewSource(1))
	// direct, the GEMM path, and its halves: the patch matrix alone and
	// the GEMM alone (a 1x1 Conv of one image has no patch matrix), and
	// Winograd F(2x2, 3x3) (3x3 stride-1 layers; elsewhere the static rule).
	variants := []string{"direct", "gemm", "im2col", "gemm-only", "winograd"}
	if v := os.Getenv("VKINFER_CONV_BENCH_VARIANTS"); v != "" {
		variants = strings.Split(v, ",")
	}
	if chunks := os.Getenv("VKINFER_CONV_BENCH_CHUNKS"); chunks != "" {
		variants = []string{"gemm"}
		for _, c := range strings.Split(chunks, ",") {
			variants = append(variants, "gemm/"+strings.TrimSpace(c))
		}
	}
	runs := 7
	if n, err := strconv.Atoi(os.Getenv("VKINFER_CONV_BENCH_RUNS")); err == nil && n > 0 {
		runs = n
	}
	// Depthwise layers: conv.comp ("direct") against conv_dw at its own
	// strip ("dw") and at each strip of VKINFER_CONV_BENCH_DW_STRIPS (a
	// comma list of output columns per invocation, "dw/N").
	dwVariants := []string{"direct", "dw"}
	if strips := os.Getenv("VKINFER_CONV_BENCH_DW_STRIPS"); strips != "" {
		for _, n := range strings.Split(strips, ",") {
			dwVariants = append(dwVariants, "dw/"+strings.TrimSpace(n))
		}
	}
	allVariants := variants
	only := os.Getenv("VKINFER_CONV_BENCH_ONLY") // a substring of the layers to time
	batch := 1                                   // VKINFER_CONV_BENCH_BATCH: the layers' batch size
	if n, err := strconv.Atoi(os.Getenv("VKINFER_CONV_BENCH_BATCH")); err == nil && n > 0 {
		batch = n
	}
	for _, s := range convBenchShapes {
		if !strings.Contains(s.name, only) {
			continue
		}
		variants := allVariants
		if s.group == s.x[1] {
			variants = dwVariants
		}
		node := model.Node{Op: ops.OpConv, Name: "bench", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
			Attrs: map[string]model.Attr{"strides": ints(int64(s.stride), int64(s.stride)),
				"pads": ints(int64(s.pad), int64(s.pad), int64(s.pad), int64(s.pad)), "group": model.IntAttr(int64(s.group))}}
		if act := os.Getenv("VKINFER_CONV_BENCH_ACT"); act != "" { // a fused activation (relu, ...)
			node.Attrs[ops.AttrActivation] = model.StringAttr(act)
		}
		w := optest.Random(r, s.w, 1, false).ModelTensor("w")
		b := optest.Random(r, s.w[:1], 1, false).ModelTensor("b")
		s.x = append([]int{s.x[0] * batch}, s.x[1:]...)
		x := optest.Random(r, s.x, 1, false)
		oh := (s.x[2]+2*s.pad-s.w[2])/s.stride + 1
		ow := (s.x[3]+2*s.pad-s.w[3])/s.stride + 1
		outLen := s.x[0] * s.w[0] * oh * ow
		flop := 2 * float64(outLen) * float64(s.w[1]*s.w[2]*s.w[3])
		xb, err := d.NewBuffer(engine.Activations, int64(4*x.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if err := xb.Write(x.Float()); err != nil {
			t.Fatal(err)
		}
		yb, err := d.NewBuffer(engine.Activations, int64(4*outLen))
		if err != nil {
			t.Fatal(err)
		}
		progs := make([]*engine.Program, len(variants))
		for i, v := range variants {
			env, split, chunk := v, 0, 0
			cols, order, shuffle := 0, 0, 0
			switch v {
			case "gemm-texel":
				env, shuffle = "gemm", 1
			case "gemm-panels":
				env, order = "gemm", 1
			case "gemm-rows":
				env, order = "gemm", 2
			case "im2col":
				env, split = "gemm", 1
			case "gemm-only":
				env, split = "gemm", 2
			}
			if n, ok := strings.CutPrefix(v, "dw/"); ok {
				if cols, err = strconv.Atoi(n); err != nil || cols < 1 || cols > 64 {
					t.Fatalf("VKINFER_CONV_BENCH_DW_STRIPS: %q is not a column count 1..64", n)
				}
				env = "dw"
			}
			var igTM, igMB, igCU int
			igShuf := true
			if v == "igemm-noshuf" {
				env, igShuf = "igemm", false
			}
			if b, ok := strings.CutPrefix(v, "igemm/"); ok { // igemm/TMxMB or igemm/TMxMBxCU
				if _, err := fmt.Sscanf(b, "%dx%dx%d", &igTM, &igMB, &igCU); err != nil {
					if _, err := fmt.Sscanf(b, "%dx%d", &igTM, &igMB); err != nil {
						t.Fatalf("variant %q: want igemm/TMxMB or igemm/TMxMBxCU", v)
					}
				}
				env = "igemm"
			}
			var mb, tt, local int
			if b, ok := strings.CutPrefix(v, "winograd/"); ok { // winograd/MBxTT or MBxTTxLOCAL
				if _, err := fmt.Sscanf(b, "%dx%dx%d", &mb, &tt, &local); err != nil {
					if _, err := fmt.Sscanf(b, "%dx%d", &mb, &tt); err != nil {
						t.Fatalf("variant %q: want winograd/MBxTT or winograd/MBxTTxLOCAL", v)
					}
				}
				env = "winograd"
			}
			if n, ok := strings.CutPrefix(v, "gemm/"); ok {
				if chunk, err = strconv.Atoi(n); err != nil || chunk < 1 {
					t.Fatalf("VKINFER_CONV_BENCH_CHUNKS: %q is not a float count", n)
				}
				env = "gemm"
			}
			t.Setenv(layers.ConvKernelEnv, env)
			build, _ := layers.Lookup(ops.OpConv)
			restore := layers.SetWinogradBlocks(mb, tt, local)
			restoreIg := layers.SetIgemmBlocks(igTM, igMB)
			restoreCU := layers.SetIgemmChannels(igCU)
			restoreShuf := layers.SetIgemmShuffle(igShuf)
			l, err := build(&layers.Build{Dev: d, Const: func(name string) *model.Tensor {
				return map[string]*model.Tensor{"w": w, "b": b}[name]
			}}, &node)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rec := d.NewRecorder()
			layers.SetConvSplit(split)
			oldOrder := layers.SetTexelOrder(order)
			oldShuffle := layers.SetGemmShuffle(shuffle)
			old := layers.SetConvChunkFloats(chunk)
			if chunk == 0 {
				layers.SetConvChunkFloats(old) // the default bound
			}
			oldCols := layers.SetConvDepthwiseStrip(cols)
			err = l.Record(rec, []*engine.Buffer{xb}, []layers.Shape{s.x}, []*engine.Buffer{yb})
			layers.SetConvDepthwiseStrip(oldCols)
			layers.SetConvSplit(0)
			layers.SetTexelOrder(oldOrder)
			layers.SetGemmShuffle(oldShuffle)
			layers.SetConvChunkFloats(old)
			restoreShuf()
			restoreCU()
			restoreIg()
			if err != nil {
				t.Fatal(err)
			}
			if progs[i], err = rec.Finish(); err != nil {
				t.Fatal(err)
			}
			defer progs[i].Close()
			if err := progs[i].Run(context.Background(), nil, nil); err != nil { // warm up
				t.Fatal(err)
			}
		}
		times := make([][]time.Duration, len(variants))
		cpu := make([][]time.Duration, len(variants))
		for k := 0; k < runs; k++ {
			for i, p := range progs {
				t0, c0 := time.Now(), processCPU()
				if err := p.Run(context.Background(), nil, nil); err != nil {
					t.Fatal(err)
				}
				times[i] = append(times[i], time.Since(t0))
				cpu[i] = append(cpu[i], processCPU()-c0)
			}
		}
		line := fmt.Sprintf("%-36s", s.name)
		for i, v := range variants {
			med, cpuMed := median(times[i]), median(cpu[i])
			line += fmt.Sprintf("  %s %7.2f ms", v, float64(med.Microseconds())/1000)
			if v == "direct" || strings.HasPrefix(v, "dw") || strings.HasPrefix(v, "winograd") || strings.HasPrefix(v, "igemm") || strings.HasPrefix(v, "gemm") && v != "gemm-only" {
				line += fmt.Sprintf(" (%5.2f GFLOP/s)", flop/med.Seconds()/1e9)
			}
			line += fmt.Sprintf(" cpu %.2f ms", float64(cpuMed.Microseconds())/1000)
		}
		t.Log(line)
		xb.Close()
		yb.Close()
	}
}

// median returns the median of d (sorted in place).
func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
	return d[len(d)/2]
}

// processCPU returns the CPU time (user + system) this process has used,
// every thread (lavapipe's workers too): on a machine shared with other
// work it varies far less than the wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
