package engine

import (
	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// Uploads to buffers the host cannot map are batched: Buffer.Write copies
// the data into a staging buffer and queues the copy; the queue is
// submitted as ONE command buffer (one submit and wait for all of a
// model's weights) before anything else reaches the device: a Program run,
// a Read, a Compact, or when uploadBatch bytes are waiting.

// uploadBatch is how many staged bytes wait at most before they are
// submitted.
const uploadBatch = 64 << 20

// pendingUpload is a queued copy of st into dst.
type pendingUpload struct {
	st, dst *Buffer
}

// queueUpload stages data for b (not mapped) and queues its copy.
func (b *Buffer) queueUpload(data []float32) error {
	d := b.d
	n := 4 * uint64(len(data))
	if n == 0 {
		return nil
	}
	st, err := d.NewBuffer(Staging, int64(n))
	if err != nil {
		return err
	}
	copy(st.host(), f32bytes(data))
	if err := st.flushHost(n); err != nil {
		st.Close()
		return err
	}
	m := d.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range m.pending {
		if u.dst == b {
			// Two copies into one buffer in one batch would need a
			// barrier between them: submit the first.
			if err := m.flushUploadsLocked(); err != nil {
				m.releaseLocked(st)
				return err
			}
			break
		}
	}
	m.pending = append(m.pending, pendingUpload{st: st, dst: b})
	m.pendingBytes += n
	if m.pendingBytes >= uploadBatch {
		return m.flushUploadsLocked()
	}
	return nil
}

// flushUploads submits the queued uploads, if any, and waits for them.
func (d *Device) flushUploads() error {
	m := d.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.flushUploadsLocked()
}

// flushUploadsLocked is flushUploads with m.mu held (buffers cannot move or
// close meanwhile).
func (m *memory) flushUploadsLocked() error {
	if len(m.pending) == 0 {
		return nil
	}
	d := m.d
	pend := m.pending
	m.pending, m.pendingBytes = nil, 0
	held := false // the staging buffers went to the oneOff with a late submission
	defer func() {
		if held {
			return
		}
		for _, u := range pend {
			m.releaseLocked(u.st)
		}
	}()
	o := &d.oneOff
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.settle(d); err != nil {
		return err
	}
	cb := o.cb
	if err := cb.Begin(true); err != nil {
		return wrap(err, "begin uploads")
	}
	// Earlier work may still read or write the destinations (WAR, WAW).
	d.dev.MemoryBarrier(cb, vk.StageCompute|vk.StageTransfer, vk.StageTransfer,
		vk.AccessShaderWrite|vk.AccessTransferWrite, vk.AccessTransferRead|vk.AccessTransferWrite)
	for _, u := range pend {
		d.dev.CopyBuffer(cb, u.st.blk.buf, u.st.off, u.dst.blk.buf, u.dst.off, u.st.size)
	}
	// The uploads must be visible to the shaders and copies of later
	// submissions: a fence wait alone does not make device writes visible
	// to the device.
	d.dev.MemoryBarrier(cb, vk.StageTransfer, vk.StageCompute|vk.StageTransfer,
		vk.AccessTransferWrite, vk.AccessShaderRead|vk.AccessShaderWrite|vk.AccessTransferRead|vk.AccessTransferWrite)
	if err := cb.End(); err != nil {
		return wrap(err, "end uploads")
	}
	d.stats.uploadBatches.Add(1)
	sts := make([]*Buffer, len(pend))
	for i, u := range pend {
		sts[i] = u.st
	}
	err := o.submitWait(d, sts...)
	held = err != nil && o.late
	return err
}

// dropUploadsLocked forgets the queued uploads into b (being closed); the
// caller holds m.mu.
func (m *memory) dropUploadsLocked(b *Buffer) {
	kept := m.pending[:0]
	for _, u := range m.pending {
		if u.dst == b {
			m.pendingBytes -= u.st.size
			m.releaseLocked(u.st)
			continue
		}
		kept = append(kept, u)
	}
	for i := len(kept); i < len(m.pending); i++ {
		m.pending[i] = pendingUpload{}
	}
	m.pending = kept
}
