package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/ops"
)

// elementLocal is the workgroup size of an element-wise kernel over n items
// (elements, or rows of a serial softmax): 256 within limits, or for a
// small n the smallest power of two that holds it, down to one SIMD vector
// (the subgroup size). CPU drivers run every invocation of a workgroup,
// masked or not: one softmax row in a 256-wide workgroup took ~150 µs on
// SwiftShader, in a 4-wide one ~10 µs. Small sizes add a pipeline variant
// or two per kernel.
func elementLocal(d *engine.Device, n int) uint32 {
	info := d.Info()
	l := uint32(256)
	if m := info.Limits.MaxComputeWorkGroupInvocations; l > m {
		l = m
	}
	floor := max(info.SubgroupSize, 1)
	for l/2 >= floor && n <= int(l/2) {
		l /= 2
	}
	return l
}

// RecordReLU records y = relu(x) over n elements (RecordUnary's kernels:
// four elements per invocation where n is a multiple of 4).
func RecordReLU(r *engine.Recorder, d *engine.Device, x, y *engine.Buffer, n int) error {
	return RecordUnary(r, d, Unary{Op: ops.UnaryRelu, N: n}, x, y)
}

// RecordBias records y = x + bias broadcast over rows of len(bias) = cols.
func RecordBias(r *engine.Recorder, d *engine.Device, x, bias, y *engine.Buffer, n, cols int) error {
	p, err := d.Pipeline("bias", engine.Spec{"local_size_x": elementLocal(d, n)})
	if err != nil {
		return fmt.Errorf("layers: bias: %w", err)
	}
	return r.Dispatch(p, []*engine.Buffer{x, bias, y}, []uint32{u32(n), u32(cols)}, d.Grid(p, uint64(n)))
}

// RecordSoftmax records a row-wise softmax of a rows x cols matrix.
func RecordSoftmax(r *engine.Recorder, d *engine.Device, x, y *engine.Buffer, rows, cols int) error {
	return RecordSoftmaxAxis(r, d, Softmax{Outer: rows, N: cols, Inner: 1}, x, y)
}

// SoftmaxKernel chooses how shaders/softmax.comp maps rows to invocations.
type SoftmaxKernel int

// Softmax kernels.
const (
	// SoftmaxAuto picks SoftmaxSerial for rows of at most
	// SerialSoftmaxMax(device) elements, SoftmaxWorkgroup otherwise.
	SoftmaxAuto SoftmaxKernel = iota
	// SoftmaxWorkgroup: one workgroup per row, a shared-memory reduction.
	SoftmaxWorkgroup
	// SoftmaxSerial: one invocation per row, no barriers.
	SoftmaxSerial
)

// SerialSoftmaxMax is the longest row SoftmaxAuto gives one invocation on a
// device: 1024 on CPU drivers, 64 elsewhere. On CPU drivers a workgroup's
// barriers are expensive (coroutines per SIMD vector) and lanes are few, so
// one invocation per row wins far past 64 (BenchmarkSoftmax, two runs: 1 row
// of 1,000: 75-84 against 90-268 µs on lavapipe, 84-95 against 355-368 on
// SwiftShader; 256 rows of 1,000: 1.6 against 5.0 ms, 4.7 against 40 ms);
// one row of 2,000 is 1.06-1.25x slower serial on lavapipe. GPUs keep the
// shared-memory reduction from 65 up (not yet measured on a GPU).
func SerialSoftmaxMax(info engine.DeviceInfo) int {
	if info.Type == engine.TypeCPU {
		return 1024
	}
	return 64
}

// Softmax describes a softmax (or log-softmax) along one axis of a tensor
// read as [Outer, N, Inner]: the N elements at stride Inner form a row.
// A row-major matrix normalised along its last axis has Inner = 1.
type Softmax struct {
	Outer, N, Inner int
	Log             bool
	Kernel          SoftmaxKernel
}

// RecordSoftmaxAxis records s from x into y. An empty tensor records nothing.
func RecordSoftmaxAxis(r *engine.Recorder, d *engine.Device, s Softmax, x, y *engine.Buffer) error {
	if s.Outer < 0 || s.N < 0 || s.Inner < 0 {
		return fmt.Errorf("layers: softmax: negative size in %+v", s)
	}
	total := s.Outer * s.N * s.Inner
	if x.Len() < total || y.Len() < total {
		return fmt.Errorf("layers: softmax of %d elements: buffers hold %d and %d", total, x.Len(), y.Len())
	}
	if total == 0 {
		return nil
	}
	rows := s.Outer * s.Inner
	serial := s.Kernel == SoftmaxSerial || s.Kernel == SoftmaxAuto && s.N <= SerialSoftmaxMax(d.Info())
	// softmax.comp passes over a row up to 4 times; one invocation must
	// stay under lavapipe's loop limit (MaxInvocationLoops): a serial row
	// too long runs on a workgroup, and a row too long for that is refused.
	if serial && 4*s.N > MaxInvocationLoops {
		serial = false
	}
	if local := int(elementLocal(d, s.N)); !serial && 4*ceilDiv(s.N, local)+64 > MaxInvocationLoops {
		return fmt.Errorf("layers: softmax over rows of %d: %d loop iterations per invocation, more than one may run (%d; lavapipe stops loops after 65,535 iterations): %w",
			s.N, 4*ceilDiv(s.N, local)+64, MaxInvocationLoops, ErrUnsupported)
	}
	push := []uint32{u32(rows), u32(s.N), u32(s.Inner)}
	if serial {
		p, err := d.Pipeline("softmax", engine.Spec{"local_size_x": elementLocal(d, rows), "LOG": b2u(s.Log), "SERIAL": 1})
		if err != nil {
			return fmt.Errorf("layers: softmax: %w", err)
		}
		return r.Dispatch(p, []*engine.Buffer{x, y}, push, d.Grid(p, uint64(rows)))
	}
	// One workgroup per row: a power of two no wider than the row needs.
	local := elementLocal(d, s.N)
	p, err := d.Pipeline("softmax", engine.Spec{"local_size_x": local, "LOG": b2u(s.Log)})
	if err != nil {
		return fmt.Errorf("layers: softmax: %w", err)
	}
	maxX := int(d.Info().Limits.MaxComputeWorkGroupCount[0])
	gx, gy := rows, 1
	if rows > maxX {
		gy = (rows + maxX - 1) / maxX
		gx = (rows + gy - 1) / gy
	}
	return r.Dispatch(p, []*engine.Buffer{x, y}, push, [3]uint32{u32(gx), u32(gy), 1})
}
