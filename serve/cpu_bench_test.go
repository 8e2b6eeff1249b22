//go:build unix

package serve

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// BenchmarkRunCPU measures what batching saves the device: the CPU time
// (all the process's threads, a CPU driver's included: getrusage) of one
// Model.Run of examples/mnist at each batch size the batcher pads to, per
// run and per row, with the server's settings (no polling for the device).
// On lavapipe the device is the CPU, so this is the device work a request
// costs alone (batch 1) and as a row of a batch. docs/SERVING.md:
//
//	go test ./serve -run '^$' -bench RunCPU -benchtime 2000x
func BenchmarkRunCPU(b *testing.B) {
	gputest.Require(b)
	dev, err := vkinfer.Open(vkinfer.Options{SpinWait: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	m, err := dev.Load(mnistBin)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for _, n := range padSizes(64) {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			x := vkinfer.Tensor{Shape: []int{n, 784}, Data: make([]float32, n*784)}
			for i := range x.Data {
				x.Data[i] = float32(i%4) / 4
			}
			for range 20 { // records and measures the plan, warms up
				if _, err := m.Run(context.Background(), x); err != nil {
					b.Fatal(err)
				}
			}
			c0 := cpuTime()
			b.ResetTimer()
			for range b.N {
				if _, err := m.Run(context.Background(), x); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu := float64((cpuTime() - c0).Microseconds()) / float64(b.N)
			b.ReportMetric(cpu, "cpu-µs/run")
			b.ReportMetric(cpu/float64(n), "cpu-µs/row")
		})
	}
}

// cpuTime is the process's CPU time so far, user and system, all threads.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
