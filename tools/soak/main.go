// Command soak opens a device, loads a model, runs it and closes both, over
// and over, and prints how the process's open file descriptors, resident
// memory and pipeline cache file grow per 1,000 such cycles. It is the soak
// test of `./build.sh soak` (not part of the default test run): a leak in
// vkinfer or in a driver shows as steady growth.
//
//	go run ./tools/soak -cycles 300 [-model examples/mnist/mlp.bin]
//
// The driver is the Vulkan loader's choice (VK_ICD_FILENAMES picks one).
// Figures are measured after a warm-up of -warmup cycles, so one-time
// allocations (driver initialisation, JIT caches) do not count as growth.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func main() {
	cycles := flag.Int("cycles", 300, "measured Open/Load/Run/Close cycles")
	warmup := flag.Int("warmup", 20, "cycles before the first measurement")
	path := flag.String("model", "", "model file to load (default: a small built-in MLP)")
	cacheDir := flag.String("cache", "", "pipeline cache folder (default: a fresh temporary one; - = off)")
	flag.Parse()
	if err := run(*cycles, *warmup, *path, *cacheDir); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type sample struct {
	fds, memfds int
	rss         int64 // bytes
	goHeap      int64 // bytes of live Go heap
	cache       int64 // bytes of pipeline cache files
}

func run(cycles, warmup int, path, cacheDir string) error {
	if cacheDir == "" {
		dir, err := os.MkdirTemp("", "vkinfer-soak-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cacheDir = dir
	}
	var spec *model.Model
	if path == "" {
		spec = mlp(784, 128, 10)
	}
	name := ""
	cycle := func(i int) error {
		dev, err := vkinfer.Open(vkinfer.Options{PipelineCacheDir: cacheDir})
		if err != nil {
			return err
		}
		name = dev.Info().String()
		var m *vkinfer.Model
		if path != "" {
			m, err = dev.Load(path)
		} else {
			m, err = dev.LoadModel(spec)
		}
		if err == nil {
			in := m.Spec().Inputs[0].Shape
			shape := append([]int{1 + i%4}, in[1:]...)
			n := 1
			for _, d := range shape {
				n *= d
			}
			_, err = m.Run(context.Background(), vkinfer.Tensor{Shape: shape, Data: make([]float32, n)})
			if cerr := m.Close(); err == nil {
				err = cerr
			}
		}
		if cerr := dev.Close(); err == nil {
			err = cerr
		}
		return err
	}
	for i := 0; i < warmup; i++ {
		if err := cycle(i); err != nil {
			return fmt.Errorf("warm-up cycle %d: %w", i, err)
		}
	}
	before := measure(cacheDir)
	start := time.Now()
	var mid sample
	for i := 0; i < cycles; i++ {
		if i == cycles/2 {
			mid = measure(cacheDir)
		}
		if err := cycle(i); err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	elapsed := time.Since(start)
	after := measure(cacheDir)
	per := 1000 / float64(cycles)
	fmt.Printf("device: %s\n", name)
	fmt.Printf("cycles: %d measured after %d warm-up, %.1f ms each\n", cycles, warmup, float64(elapsed.Milliseconds())/float64(cycles))
	fmt.Printf("fds:    %d -> %d (memfd %d -> %d): %+.0f per 1,000 cycles\n", before.fds, after.fds, before.memfds, after.memfds, float64(after.fds-before.fds)*per)
	fmt.Printf("rss:    %.1f -> %.1f MiB: %+.1f MiB per 1,000 cycles\n", mib(before.rss), mib(after.rss), mib(after.rss-before.rss)*per)
	half := 1000 / float64(cycles-cycles/2)
	fmt.Printf("        second half alone: fds %+.0f, rss %+.1f MiB per 1,000 cycles (a leak grows as fast as in the first half; allocator arenas level off)\n",
		float64(after.fds-mid.fds)*half, mib(after.rss-mid.rss)*half)
	fmt.Printf("go heap: %.1f -> %.1f MiB: %+.1f MiB per 1,000 cycles\n", mib(before.goHeap), mib(after.goHeap), mib(after.goHeap-before.goHeap)*per)
	fmt.Printf("cache:  %d -> %d B: %+.0f B per 1,000 cycles\n", before.cache, after.cache, float64(after.cache-before.cache)*per)
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// measure samples the process after a garbage collection, so that Go's own
// heap garbage does not read as growth.
func measure(cacheDir string) sample {
	runtime.GC()
	debug.FreeOSMemory()
	var s sample
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.goHeap = int64(ms.HeapAlloc)
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		s.fds++
		if t, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(t, "/memfd:") {
			s.memfds++
		}
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				s.rss = kb << 10
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(cacheDir, "*.bin"))
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			s.cache += st.Size()
		}
	}
	return s
}

// mlp is a Dense/Relu/Dense/Softmax model with random weights.
func mlp(sizes ...int) *model.Model {
	r := rand.New(rand.NewSource(1))
	m := &model.Model{Name: "soak-mlp", Inputs: []model.ValueInfo{{Name: "x", Shape: []int{-1, sizes[0]}}}}
	prev := "x"
	for i := 0; i+1 < len(sizes); i++ {
		in, out := sizes[i], sizes[i+1]
		w := &model.Tensor{Name: fmt.Sprintf("w%d", i), Shape: []int{out, in}, Data: make([]float32, out*in)}
		b := &model.Tensor{Name: fmt.Sprintf("b%d", i), Shape: []int{out}, Data: make([]float32, out)}
		for j := range w.Data {
			w.Data[j] = float32(r.NormFloat64() * 0.05)
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
