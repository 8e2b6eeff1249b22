package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
)

// elementLocal is the workgroup size of element-wise kernels, within limits.
func elementLocal(d *engine.Device) uint32 {
	l := uint32(256)
	if m := d.Info().Limits.MaxComputeWorkGroupInvocations; l > m {
		l = m
	}
	return l
}

// RecordReLU records y = relu(x) over n elements.
func RecordReLU(r *engine.Recorder, d *engine.Device, x, y *engine.Buffer, n int) error {
	p, err := d.Pipeline("relu", engine.Spec{"local_size_x": elementLocal(d)})
	if err != nil {
		return fmt.Errorf("layers: relu: %w", err)
	}
	return r.Dispatch(p, []*engine.Buffer{x, y}, []uint32{u32(n)}, d.Grid(p, uint64(n)))
}

// RecordBias records y = x + bias broadcast over rows of len(bias) = cols.
func RecordBias(r *engine.Recorder, d *engine.Device, x, bias, y *engine.Buffer, n, cols int) error {
	p, err := d.Pipeline("bias", engine.Spec{"local_size_x": elementLocal(d)})
	if err != nil {
		return fmt.Errorf("layers: bias: %w", err)
	}
	return r.Dispatch(p, []*engine.Buffer{x, bias, y}, []uint32{u32(n), u32(cols)}, d.Grid(p, uint64(n)))
}

// RecordSoftmax records a row-wise softmax of a rows x cols matrix.
func RecordSoftmax(r *engine.Recorder, d *engine.Device, x, y *engine.Buffer, rows, cols int) error {
	// One workgroup per row: a power of two no wider than the row needs.
	local := elementLocal(d)
	for local > 32 && int(local)/2 >= cols {
		local /= 2
	}
	p, err := d.Pipeline("softmax", engine.Spec{"local_size_x": local})
	if err != nil {
		return fmt.Errorf("layers: softmax: %w", err)
	}
	maxX := int(d.Info().Limits.MaxComputeWorkGroupCount[0])
	gx, gy := rows, 1
	if rows > maxX {
		gy = (rows + maxX - 1) / maxX
		gx = (rows + gy - 1) / gy
	}
	return r.Dispatch(p, []*engine.Buffer{x, y}, []uint32{u32(rows), u32(cols)}, [3]uint32{u32(gx), u32(gy), 1})
}
