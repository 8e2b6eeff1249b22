package engine

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// Memory types are ordered by preference, then by the room in their heap;
// types whose heap cannot hold the block go last.
func TestCandidateTypes(t *testing.T) {
	const (
		dl = vk.MemoryDeviceLocal
		hv = vk.MemoryHostVisible
		hc = vk.MemoryHostCoherent
		ca = vk.MemoryHostCached
	)
	// An APU: a 512 MiB device-local carve-out (heap 0) and system memory (heap 1).
	apu := []vk.MemoryType{{Flags: dl, HeapIndex: 0}, {Flags: hv | hc, HeapIndex: 1}, {Flags: dl | hv | hc, HeapIndex: 0}, {Flags: hv | hc | ca, HeapIndex: 1}}
	room := []uint64{512 << 20, 16 << 30}
	require.Equal(t, []uint32{2, 0, 1, 3}, candidateTypes(apu, room, Weights, false, 0xf, 64<<20))
	// The carve-out is full: system memory first.
	require.Equal(t, []uint32{1, 3, 2, 0}, candidateTypes(apu, []uint64{10 << 20, 16 << 30}, Weights, false, 0xf, 64<<20))
	require.Equal(t, []uint32{3, 1, 2}, candidateTypes(apu, room, Staging, false, 0xf, 1<<20))
	require.Equal(t, []uint32{0, 1}, candidateTypes(apu, room, Weights, false, 0x3, 1<<20), "typeBits filter")
	// A discrete GPU: VRAM, a small BAR window, host memory.
	dgpu := []vk.MemoryType{{Flags: hv | hc, HeapIndex: 1}, {Flags: dl, HeapIndex: 0}, {Flags: dl | hv | hc, HeapIndex: 2}}
	require.Equal(t, []uint32{1, 2, 0}, candidateTypes(dgpu, []uint64{8 << 30, 32 << 30, 256 << 20}, Activations, true, 0x7, 64<<20))
	// Two device-local types on heaps of different sizes: the larger first.
	two := []vk.MemoryType{{Flags: dl, HeapIndex: 0}, {Flags: dl, HeapIndex: 1}}
	require.Equal(t, []uint32{1, 0}, candidateTypes(two, []uint64{1 << 30, 4 << 30}, Weights, true, 0x3, 1<<20))
	require.Empty(t, candidateTypes(apu, room, Staging, false, 0x1, 1<<20), "no host-visible type allowed")
}

// Out of device memory in one type moves on to the next; another error
// does not.
func TestAllocationFallsBack(t *testing.T) {
	d := openInternal(t, Options{})
	m := d.mem
	m.mu.Lock()
	real := m.allocMem
	flags := m.types[0].Flags
	m.types = []vk.MemoryType{{Flags: flags, HeapIndex: 0}, {Flags: flags, HeapIndex: 1}}
	m.heaps = []vk.MemoryHeap{{Size: 8 << 30}, {Size: 1 << 30}} // type 0 first: the larger heap
	m.room = nil
	m.anyType = true
	var mu sync.Mutex
	var tried []uint32
	fail := int32(vk.ErrorOutOfDeviceMemory)
	m.allocMem = func(size uint64, ti uint32) (vk.Memory, error) {
		mu.Lock()
		tried = append(tried, ti)
		mu.Unlock()
		if ti == 0 {
			return vk.Memory{}, &vk.Error{Op: "vkAllocateMemory", Result: fail}
		}
		return real(size, 0) // the device's one real type
	}
	m.mu.Unlock()
	b, err := d.NewBuffer(Activations, 1024)
	require.NoError(t, err)
	require.Equal(t, []uint32{0, 1}, tried)
	require.EqualValues(t, 1, b.blk.typeIndex)
	require.NoError(t, b.Write(make([]float32, 256)))

	tried, fail = nil, vk.ErrorDeviceLost
	_, err = d.NewBuffer(Weights, 1024)
	require.ErrorIs(t, err, ErrDeviceLost)
	require.Equal(t, []uint32{0}, tried, "only out-of-memory moves on")

	// A heap without room for the block goes last.
	m.mu.Lock()
	m.room = func() []uint64 { return []uint64{1 << 10, 1 << 30} }
	m.mu.Unlock()
	tried, fail = nil, vk.ErrorOutOfDeviceMemory
	_, err = d.NewBuffers(Activations, []int64{1024}) // always a new block
	require.NoError(t, err)
	require.Equal(t, []uint32{1}, tried)
}

// Compact puts weights into chunks of at most maxMemoryAllocationSize and
// keeps every buffer's contents.
func TestCompactChunks(t *testing.T) {
	d := openInternal(t, Options{})
	var bufs []*Buffer
	var want [][]float32
	for i := 0; i < 5; i++ {
		data := make([]float32, 1000+i)
		for j := range data {
			data[j] = float32(i*10000 + j)
		}
		b, err := d.NewBuffer(Weights, int64(4*len(data)))
		require.NoError(t, err)
		require.NoError(t, b.Write(data))
		bufs, want = append(bufs, b), append(want, data)
	}
	m := d.mem
	m.mu.Lock()
	m.maxAlloc = bufs[3].asize + bufs[4].asize // two buffers per chunk at most
	m.mu.Unlock()
	require.NoError(t, d.Compact(Weights))
	m.mu.Lock()
	blocks := append([]*block(nil), m.blocks[Weights]...)
	m.mu.Unlock()
	require.Len(t, blocks, 3)
	var total uint64
	for _, b := range blocks {
		require.True(t, b.exact)
		require.LessOrEqual(t, b.size, m.maxAlloc)
		total += b.size
	}
	var need uint64
	for i, b := range bufs {
		need += b.asize
		got := make([]float32, len(want[i]))
		require.NoError(t, b.Read(got))
		require.Equal(t, want[i], got)
	}
	require.Equal(t, need, total)
}

// A staging buffer larger than a block gets a block of its own, freed
// with it; small ones share a block that stays.
func TestLargeBlocksFreed(t *testing.T) {
	d := openInternal(t, Options{BlockSize: 1 << 20})
	before := d.Stats()
	small, err := d.NewBuffer(Staging, 4096)
	require.NoError(t, err)
	big, err := d.NewBuffer(Staging, 3<<20)
	require.NoError(t, err)
	require.Equal(t, before.LiveAllocations+2, d.Stats().LiveAllocations)
	big.Close()
	require.Equal(t, before.LiveAllocations+1, d.Stats().LiveAllocations, "the large block is freed")
	require.Equal(t, int64(1<<20), d.Stats().Arena(Staging).Allocated-before.Arena(Staging).Allocated)
	small.Close()
	require.Equal(t, before.LiveAllocations+1, d.Stats().LiveAllocations, "the shared block stays for reuse")
}

// Writes to buffers the host cannot map are queued and go to the device in
// one submission before anything reads them.
func TestUploadsBatched(t *testing.T) {
	d := openInternal(t, Options{ForceStaging: true})
	var bufs []*Buffer
	for i := 0; i < 10; i++ {
		b, err := d.NewBuffer(Weights, 4*100)
		require.NoError(t, err)
		data := make([]float32, 100)
		for j := range data {
			data[j] = float32(i*100 + j)
		}
		require.NoError(t, b.Write(data))
		bufs = append(bufs, b)
	}
	// A buffer written and closed before the batch went: its copy is dropped.
	gone, err := d.NewBuffer(Weights, 4*100)
	require.NoError(t, err)
	require.NoError(t, gone.Write(make([]float32, 100)))
	gone.Close()
	require.Len(t, d.mem.pending, 10)
	submits := d.Stats().Submits
	got := make([]float32, 100)
	require.NoError(t, bufs[7].Read(got))
	require.Equal(t, float32(700), got[0])
	require.Equal(t, float32(799), got[99])
	require.Equal(t, submits+2, d.Stats().Submits, "one submit for ten uploads, one for the read")
	require.EqualValues(t, 1, d.stats.uploadBatches.Load())
	for i, b := range bufs {
		require.NoError(t, b.Read(got))
		require.Equal(t, float32(i*100+42), got[42])
	}
	// Two writes of one buffer: the first is submitted before the second
	// is queued, so the second wins.
	require.NoError(t, bufs[0].Write([]float32{1, 2, 3}))
	require.NoError(t, bufs[0].Write([]float32{4, 5}))
	require.NoError(t, bufs[0].Read(got[:3]))
	require.Equal(t, []float32{4, 5, 3}, got[:3])
}

// Flush and invalidate ranges cover whole atoms and end at the allocation.
func TestMappedRange(t *testing.T) {
	m := &memory{atom: 256}
	b := &block{allocSize: 1000}
	off, n := m.mappedRange(b, 300, 10)
	require.Equal(t, [2]uint64{256, 256}, [2]uint64{off, n})
	off, n = m.mappedRange(b, 900, 50)
	require.Equal(t, [2]uint64{768, 232}, [2]uint64{off, n})
	off, n = m.mappedRange(b, 0, 256)
	require.Equal(t, [2]uint64{0, 256}, [2]uint64{off, n})
}

// Under LimitsMin every host-visible type is treated as non-coherent: host
// writes are flushed and device writes invalidated, in whole atoms (the
// validation layer checks the ranges), and a program's commands end with a
// barrier to the host.
func TestNonCoherentMemory(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	d := openInternal(t, Options{Limits: LimitsMin, Validation: true, OnMessage: func(sev, msg string) {
		mu.Lock()
		msgs = append(msgs, sev+": "+msg)
		mu.Unlock()
	}})
	st, err := d.NewBuffer(Staging, 4*10)
	require.NoError(t, err)
	require.True(t, st.blk.nonCoherent)
	require.NoError(t, st.Write([]float32{1, 2, 3}))
	got := make([]float32, 3)
	require.NoError(t, st.Read(got))
	require.Equal(t, []float32{1, 2, 3}, got)

	x, err := d.NewBuffer(Activations, 4*70)
	require.NoError(t, err)
	y, err := d.NewBuffer(Activations, 4*70)
	require.NoError(t, err)
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	rec := d.NewRecorder()
	require.NoError(t, rec.Input(x))
	require.NoError(t, rec.Dispatch(p, []*Buffer{x, y}, []uint32{70}, d.Grid(p, 70)))
	require.NoError(t, rec.Output(y))
	prog, err := rec.Finish()
	require.NoError(t, err)
	defer prog.Close()
	require.True(t, prog.hostBarrier)
	in, out := make([]float32, 70), make([]float32, 70)
	for i := range in {
		in[i] = float32(i - 35)
	}
	require.NoError(t, prog.Run(context.Background(), []IO{{Buf: x, Data: in}}, []IO{{Buf: y, Data: out}}))
	for i := range in {
		require.Equal(t, max(in[i], 0), out[i])
	}
	require.GreaterOrEqual(t, d.stats.flushes.Load(), int64(2))
	require.GreaterOrEqual(t, d.stats.invalidates.Load(), int64(2))
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, msgs, "validation messages")
}

// A program without declared outputs still ends with a barrier to the host,
// so a mapped Buffer.Read after it sees the shader's writes.
func TestProgramHostBarrier(t *testing.T) {
	d := openInternal(t, Options{})
	x, err := d.NewBuffer(Activations, 4*16)
	require.NoError(t, err)
	y, err := d.NewBuffer(Activations, 4*16)
	require.NoError(t, err)
	in := make([]float32, 16)
	for i := range in {
		in[i] = float32(8 - i)
	}
	require.NoError(t, x.Write(in))
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	rec := d.NewRecorder()
	require.NoError(t, rec.Dispatch(p, []*Buffer{x, y}, []uint32{16}, d.Grid(p, 16)))
	prog, err := rec.Finish()
	require.NoError(t, err)
	defer prog.Close()
	require.True(t, prog.hostBarrier)
	require.NoError(t, prog.Run(context.Background(), nil, nil))
	got := make([]float32, 16)
	require.NoError(t, y.Read(got))
	for i := range in {
		require.Equal(t, max(in[i], 0), got[i])
	}
}
