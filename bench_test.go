package vkinfer_test

import (
	"context"
	"math/rand"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// benchDevice opens a device without validation (it would dominate timings).
func benchDevice(b *testing.B) *vkinfer.Device {
	b.Helper()
	gputest.Require(b)
	dev, err := vkinfer.Open(vkinfer.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dev.Close() })
	return dev
}

// BenchmarkMLP times a whole forward pass through the public API (input
// upload, one submit, output download) of the shipped models at batch 1
// (latency) and 256 (throughput), beside an empty submit+wait on the same
// device: the floor any run pays.
func BenchmarkMLP(b *testing.B) {
	dev := benchDevice(b)
	b.Run("empty-submit", func(b *testing.B) {
		rec := dev.Engine().NewRecorder()
		p, err := rec.Finish()
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			if err := p.Run(context.Background(), nil, nil); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		reportLatency(b, lat, 1)
	})
	for _, c := range []struct {
		name, path string
	}{
		{"mnist-784-128-256-10", "examples/mnist/mlp.bin"},
		{"digits8x8-64-128-256-10", "examples/digits8x8/mlp.bin"},
	} {
		m, err := dev.Load(c.path)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		in := m.Spec().Inputs[0].Shape[1]
		for _, batch := range []int{1, 256} {
			b.Run(c.name+"/batch="+strconv.Itoa(batch), func(b *testing.B) {
				r := rand.New(rand.NewSource(1))
				x := vkinfer.Tensor{Shape: []int{batch, in}, Data: make([]float32, batch*in)}
				for i := range x.Data {
					x.Data[i] = r.Float32()
				}
				for i := 0; i < 3; i++ { // warm up: record, first submits
					if _, err := m.Run(context.Background(), x); err != nil {
						b.Fatal(err)
					}
				}
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					t0 := time.Now()
					if _, err := m.Run(context.Background(), x); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				reportLatency(b, lat, batch)
			})
		}
	}
}

func reportLatency(b *testing.B, lat []time.Duration, batch int) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(p(0.5), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
	var total time.Duration
	for _, l := range lat {
		total += l
	}
	b.ReportMetric(float64(batch*len(lat))/total.Seconds(), "images/s")
}

// BenchmarkLoad times "file to first result" for the shipped MNIST model:
// open the device, read and prepare the model, run one image. cold starts
// each iteration with empty on-disk caches: vkinfer's pipeline cache
// directory and the driver's own shader cache where it has one (Mesa's,
// which lavapipe uses, moved with MESA_SHADER_CACHE_DIR); warm reuses
// both, as a second start of a program does.
func BenchmarkLoad(b *testing.B) {
	gputest.Require(b)
	b.Setenv("MESA_SHADER_CACHE_DIR", b.TempDir()) // restored afterwards
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			warmDir := b.TempDir()
			mesaWarm := b.TempDir()
			x := vkinfer.Tensor{Shape: []int{1, 784}, Data: make([]float32, 784)}
			for i := 0; i < b.N; i++ {
				dir, mesa := warmDir, mesaWarm
				if mode == "cold" {
					b.StopTimer()
					dir, mesa = b.TempDir(), b.TempDir()
					b.StartTimer()
				}
				os.Setenv("MESA_SHADER_CACHE_DIR", mesa)
				if mode == "warm" && i == 0 {
					b.StopTimer() // fill the caches once
					loadAndRun(b, dir, x)
					b.StartTimer()
				}
				loadAndRun(b, dir, x)
			}
		})
	}
}

func loadAndRun(b *testing.B, cacheDir string, x vkinfer.Tensor) {
	dev, err := vkinfer.Open(vkinfer.Options{PipelineCacheDir: cacheDir})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	m, err := dev.Load("examples/mnist/mlp.bin")
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Run(context.Background(), x); err != nil {
		b.Fatal(err)
	}
}
