package engine

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"unsafe"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// Arena says what a buffer holds; each arena suballocates from its own
// blocks, so long-lived weights and reusable activations do not fragment each
// other.
type Arena int

// Arenas.
const (
	// Weights: uploaded once at load, read by every run.
	Weights Arena = iota
	// Activations: intermediate and I/O tensors, reused by liveness.
	Activations
	// Staging: host-visible buffers for transfers when device memory is not
	// host-visible.
	Staging
	numArenas
)

func (a Arena) String() string {
	switch a {
	case Weights:
		return "weights"
	case Activations:
		return "activations"
	case Staging:
		return "staging"
	}
	return fmt.Sprintf("arena(%d)", int(a))
}

const defaultBlockSize = 64 << 20

// block is one VkDeviceMemory with one VkBuffer spanning it; Buffers are
// ranges of it.
type block struct {
	arena  Arena
	mem    vk.Memory
	buf    vk.Buffer
	size   uint64
	mapped unsafe.Pointer // nil when not host-visible (or ForceStaging)
	free   []span         // sorted by offset, coalesced
	used   uint64
	views  map[*Buffer]vk.BufferView // texel views of live buffers
	live   map[*Buffer]struct{}      // buffers carved from the block
	exact  bool                      // sized for one group of buffers (or one large buffer): freed when they all are
	// aliased: an exact block whose buffers may overlap (NewAliasedBuffers):
	// its whole size counts as in use until it is freed.
	aliased bool
	// nonCoherent: host writes must be flushed and device writes
	// invalidated (the memory type is not HOST_COHERENT, or LimitsMin).
	nonCoherent bool
	allocSize   uint64 // bytes of the VkDeviceMemory (>= size)
	typeIndex   uint32
}

type span struct{ off, size uint64 }

// alloc takes size bytes aligned to align by first fit.
func (b *block) alloc(size, align uint64) (uint64, bool) {
	for i, s := range b.free {
		off := (s.off + align - 1) / align * align
		if off+size > s.off+s.size {
			continue
		}
		// Split s into [s.off, off) and [off+size, end).
		end := s.off + s.size
		var repl []span
		if off > s.off {
			repl = append(repl, span{s.off, off - s.off})
		}
		if off+size < end {
			repl = append(repl, span{off + size, end - off - size})
		}
		b.free = append(b.free[:i], append(repl, b.free[i+1:]...)...)
		b.used += size
		return off, true
	}
	return 0, false
}

// release returns [off, off+size) and coalesces neighbours.
func (b *block) release(off, size uint64) {
	b.used -= size
	i := sort.Search(len(b.free), func(i int) bool { return b.free[i].off > off })
	b.free = append(b.free, span{})
	copy(b.free[i+1:], b.free[i:])
	b.free[i] = span{off, size}
	// merge with next, then previous
	if i+1 < len(b.free) && b.free[i].off+b.free[i].size == b.free[i+1].off {
		b.free[i].size += b.free[i+1].size
		b.free = append(b.free[:i+1], b.free[i+2:]...)
	}
	if i > 0 && b.free[i-1].off+b.free[i-1].size == b.free[i].off {
		b.free[i-1].size += b.free[i].size
		b.free = append(b.free[:i], b.free[i+1:]...)
	}
}

// memory is the device's set of pools, one per arena.
type memory struct {
	d        *Device
	mu       sync.Mutex
	blocks   [numArenas][]*block
	types    []vk.MemoryType
	heaps    []vk.MemoryHeap
	budget   bool   // VK_EXT_memory_budget: heap room from the driver's budget
	align    uint64 // suballocation alignment
	atom     uint64 // nonCoherentAtomSize
	blockSz  uint64
	maxAlloc uint64
	usage    uint32
	// allNonCoherent treats every host-visible type as non-coherent
	// (LimitsMin), so the flush and invalidate paths run on CPU drivers.
	allNonCoherent bool
	// allocMem is vkAllocateMemory (tests replace it to inject failures).
	allocMem func(size uint64, typeIndex uint32) (vk.Memory, error)
	// room overrides the heap room (tests); nil asks the device.
	room func() []uint64
	// anyType lets every memory type hold any buffer (tests that fake the
	// types).
	anyType bool
	// Uploads queued by Buffer.Write (upload.go).
	pending      []pendingUpload
	pendingBytes uint64
	// graveyard holds blocks freed while a one-off transfer was late
	// (oneOff.late): freed for real when it ends (buryLocked).
	graveyard []*block
}

func newMemory(d *Device) *memory {
	types, heaps := d.info.pd.Memory()
	l := d.info.Limits
	align := uint64(16)
	for _, a := range []uint64{l.MinStorageBufferOffsetAlignment, l.MinTexelBufferOffsetAlignment, l.NonCoherentAtomSize} {
		if a > align {
			align = a
		}
	}
	m := &memory{d: d, types: types, heaps: heaps, align: align, blockSz: defaultBlockSize, maxAlloc: l.MaxMemoryAllocationSize,
		budget: contains(d.info.exts, memoryBudgetExt), atom: max(1, l.NonCoherentAtomSize), allNonCoherent: d.info.EmulatedLimits}
	m.allocMem = d.dev.AllocateMemory
	if d.opts.BlockSize > 0 {
		m.blockSz = uint64(d.opts.BlockSize)
	}
	if m.maxAlloc == 0 {
		m.maxAlloc = 1 << 30 // Vulkan 1.0 devices do not say; 1 GiB is safe everywhere
	}
	if m.blockSz > m.maxAlloc {
		m.blockSz = m.maxAlloc
	}
	m.usage = vk.UsageStorage | vk.UsageTransferSrc | vk.UsageTransferDst | vk.UsageUniformTexel
	return m
}

// memoryBudgetExt reports each heap's budget and usage.
const memoryBudgetExt = "VK_EXT_memory_budget"

// typePreferences lists (required, forbidden) memory property flags for
// arena, best first.
func typePreferences(arena Arena, discrete bool) [][2]uint32 {
	switch {
	case arena == Staging:
		return [][2]uint32{
			{vk.MemoryHostVisible | vk.MemoryHostCoherent | vk.MemoryHostCached, 0},
			{vk.MemoryHostVisible | vk.MemoryHostCoherent, 0},
			{vk.MemoryHostVisible, 0},
		}
	case discrete:
		// Small BAR windows are precious on discrete GPUs; put tensors in
		// plain VRAM and go through staging.
		return [][2]uint32{{vk.MemoryDeviceLocal, vk.MemoryHostVisible}, {vk.MemoryDeviceLocal, 0}, {0, 0}}
	}
	return [][2]uint32{
		{vk.MemoryDeviceLocal | vk.MemoryHostVisible | vk.MemoryHostCoherent, 0},
		{vk.MemoryDeviceLocal, 0},
		{vk.MemoryHostVisible | vk.MemoryHostCoherent, 0},
		{0, 0},
	}
}

// candidateTypes orders the memory types typeBits allows for arena: by
// preference class, and within a class by the room left in the type's heap
// (largest first), so an APU's small device-local carve-out is not chosen
// over a large heap of the same kind. Types whose heap has less than size
// bytes of room go last, in the same order: the budget is an estimate.
func candidateTypes(types []vk.MemoryType, room []uint64, arena Arena, discrete bool, typeBits uint32, size uint64) []uint32 {
	var fit, short []uint32
	seen := map[uint32]bool{}
	for _, w := range typePreferences(arena, discrete) {
		var class []uint32
		for i, t := range types {
			if typeBits&(1<<i) != 0 && t.Flags&w[0] == w[0] && t.Flags&w[1] == 0 && !seen[uint32(i)] {
				seen[uint32(i)] = true
				class = append(class, uint32(i))
			}
		}
		roomOf := func(ti uint32) uint64 {
			if h := int(types[ti].HeapIndex); h < len(room) {
				return room[h]
			}
			return 0
		}
		sort.SliceStable(class, func(a, b int) bool { return roomOf(class[a]) > roomOf(class[b]) })
		for _, ti := range class {
			if roomOf(ti) >= size {
				fit = append(fit, ti)
			} else {
				short = append(short, ti)
			}
		}
	}
	return append(fit, short...)
}

// heapRoom is the room left in each heap: budget minus usage with
// VK_EXT_memory_budget, else the heap's size.
func (m *memory) heapRoom() []uint64 {
	if m.room != nil {
		return m.room()
	}
	room := make([]uint64, len(m.heaps))
	for i, h := range m.heaps {
		room[i] = h.Size
	}
	if m.budget {
		budget, usage := m.d.info.pd.HeapBudgets()
		for i := range room {
			if i < len(budget) && budget[i] > 0 {
				room[i] = 0
				if budget[i] > usage[i] {
					room[i] = budget[i] - usage[i]
				}
			}
		}
	}
	return room
}

func (m *memory) candidates(arena Arena, typeBits uint32, size uint64) []uint32 {
	return candidateTypes(m.types, m.heapRoom(), arena, m.d.info.Type == TypeDiscrete, typeBits, size)
}

// staged reports whether tensor blocks will not be mapped: ForceStaging, or
// the memory type first chosen for them (probed with a small buffer) is
// not host-visible.
func (m *memory) staged() bool {
	if m.d.opts.ForceStaging {
		return true
	}
	buf, req, err := m.d.dev.CreateBuffer(m.align, m.usage)
	if err != nil {
		return true
	}
	defer m.d.dev.DestroyBuffer(buf)
	c := m.candidates(Weights, req.TypeBits, req.Size)
	return len(c) == 0 || m.types[c[0]].Flags&vk.MemoryHostVisible == 0
}

func isOutOfMemory(err error) bool {
	var ve *vk.Error
	return errors.As(err, &ve) && (ve.Result == vk.ErrorOutOfDeviceMemory || ve.Result == vk.ErrorOutOfHostMemory)
}

// newBlock allocates a block of at least size bytes for arena, trying the
// candidate memory types in order: out of memory in one (a full heap) moves
// on to the next.
func (m *memory) newBlock(arena Arena, size uint64) (*block, error) {
	dev := m.d.dev
	buf, req, err := dev.CreateBuffer(size, m.usage)
	if err != nil {
		return nil, wrap(err, "create %d B %s buffer", size, arena)
	}
	bits := req.TypeBits
	if m.anyType {
		bits = ^uint32(0)
	}
	cands := m.candidates(arena, bits, req.Size)
	if len(cands) == 0 {
		dev.DestroyBuffer(buf)
		return nil, fmt.Errorf("engine: no memory type for %s buffers (allowed types %#x)", arena, req.TypeBits)
	}
	var mem vk.Memory
	ti := cands[0]
	for _, ti = range cands {
		mem, err = m.allocMem(req.Size, ti)
		m.d.stats.allocCalls.Add(1)
		if err == nil || !isOutOfMemory(err) {
			break
		}
	}
	if err != nil {
		dev.DestroyBuffer(buf)
		return nil, wrap(err, "allocate %d B of device memory for %s (tried %d memory types)", req.Size, arena, len(cands))
	}
	if err := dev.BindBufferMemory(buf, mem, 0); err != nil {
		dev.DestroyBuffer(buf)
		dev.FreeMemory(mem)
		return nil, wrap(err, "bind %s memory", arena)
	}
	flags := m.types[ti].Flags
	b := &block{arena: arena, mem: mem, buf: buf, size: size, free: []span{{0, size}}, views: map[*Buffer]vk.BufferView{}, live: map[*Buffer]struct{}{},
		allocSize: req.Size, typeIndex: ti, nonCoherent: m.allNonCoherent || flags&vk.MemoryHostCoherent == 0}
	if flags&vk.MemoryHostVisible != 0 && (arena == Staging || !m.d.opts.ForceStaging) {
		p, err := dev.MapMemory(mem)
		if err != nil {
			dev.DestroyBuffer(buf)
			dev.FreeMemory(mem)
			return nil, wrap(err, "map %s memory", arena)
		}
		b.mapped = p
	}
	m.d.stats.liveAllocs.Add(1)
	m.d.stats.bytesAllocated[arena].Add(int64(size))
	return b, nil
}

// mappedRange returns the range of b's memory to flush or invalidate for
// bytes [off, off+n): widened to nonCoherentAtomSize, or up to the end of
// the allocation (what vkFlushMappedMemoryRanges requires).
func (m *memory) mappedRange(b *block, off, n uint64) (uint64, uint64) {
	start := off / m.atom * m.atom
	end := (off + n + m.atom - 1) / m.atom * m.atom
	if end > b.allocSize {
		end = b.allocSize
	}
	return start, end - start
}

// flushHost makes host writes to the first n bytes of b visible to the
// device when its memory is not host-coherent.
func (b *Buffer) flushHost(n uint64) error {
	if !b.blk.nonCoherent || b.blk.mapped == nil || n == 0 {
		return nil
	}
	off, size := b.d.mem.mappedRange(b.blk, b.off, n)
	b.d.stats.flushes.Add(1)
	return wrap(b.d.dev.FlushMemory(b.blk.mem, off, size), "flush mapped memory")
}

// invalidateHost makes device writes to the first n bytes of b visible to
// the host when its memory is not host-coherent.
func (b *Buffer) invalidateHost(n uint64) error {
	if !b.blk.nonCoherent || b.blk.mapped == nil || n == 0 {
		return nil
	}
	off, size := b.d.mem.mappedRange(b.blk, b.off, n)
	b.d.stats.invalidates.Add(1)
	return wrap(b.d.dev.InvalidateMemory(b.blk.mem, off, size), "invalidate mapped memory")
}

// Buffer is a range of device memory holding a tensor. Close returns it to
// its arena.
type Buffer struct {
	d      *Device
	blk    *block
	off    uint64
	size   uint64 // bytes requested
	asize  uint64 // bytes reserved (aligned)
	view   vk.BufferView
	closed bool
	bound  int // live Programs that bind this buffer (guarded by memory.mu)
	// alias: the buffer shares the memory of another (Recorder.Temp
	// reusing a temporary of an earlier step); closing it frees nothing
	// but its view.
	alias bool
}

// aliasOf returns a buffer of size bytes (<= b's) at the start of b's
// memory, for a program that uses the two at different times.
func (m *memory) aliasOf(b *Buffer, size uint64) *Buffer {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := &Buffer{d: b.d, blk: b.blk, off: b.off, size: size, asize: min(m.aligned(size), b.asize), alias: true}
	b.blk.live[a] = struct{}{}
	return a
}

// NewBuffer allocates size bytes (a multiple of 4, >0) from arena.
func (d *Device) NewBuffer(arena Arena, size int64) (*Buffer, error) {
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("engine: new buffer: %w", err)
	}
	defer d.leave()
	if size <= 0 || size%4 != 0 {
		return nil, fmt.Errorf("engine: buffer size %d B is not a positive multiple of 4", size)
	}
	if arena < 0 || arena >= numArenas {
		return nil, fmt.Errorf("engine: unknown arena %d", arena)
	}
	if arena != Staging && uint64(size) > uint64(d.info.Limits.MaxStorageBufferRange) {
		return nil, fmt.Errorf("engine: a %d B tensor exceeds %s's maxStorageBufferRange of %d B; split the tensor or use a device with larger limits: %w",
			size, d.info.Name, d.info.Limits.MaxStorageBufferRange, ErrTooLarge)
	}
	return d.mem.allocate(arena, uint64(size))
}

func (m *memory) allocate(arena Arena, size uint64) (*Buffer, error) {
	asize := (size + m.align - 1) / m.align * m.align
	if asize > m.maxAlloc {
		return nil, fmt.Errorf("engine: a %d B buffer exceeds the device's maxMemoryAllocationSize of %d B: %w", size, m.maxAlloc, ErrOutOfDeviceMemory)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.blocks[arena] {
		if b.exact {
			continue
		}
		if off, ok := b.alloc(asize, m.align); ok {
			return m.carve(b, off, size, asize), nil
		}
	}
	bs, own := m.blockSz, false
	if asize > bs {
		// A tensor larger than a block gets a block of its own, freed with
		// it (a large staging buffer must not stay held).
		bs, own = asize, true
	}
	b, err := m.newBlock(arena, bs)
	if err != nil {
		return nil, err
	}
	b.exact = own
	m.blocks[arena] = append(m.blocks[arena], b)
	off, _ := b.alloc(asize, m.align)
	return m.carve(b, off, size, asize), nil
}

// carve makes the Buffer for [off, off+asize) of b; the caller holds m.mu
// and has taken the range from b's free list.
func (m *memory) carve(b *block, off, size, asize uint64) *Buffer {
	m.d.stats.bytesInUse[b.arena].Add(int64(asize))
	buf := &Buffer{d: m.d, blk: b, off: off, size: size, asize: asize}
	b.live[buf] = struct{}{}
	return buf
}

func (m *memory) aligned(size uint64) uint64 { return (size + m.align - 1) / m.align * m.align }

// NewBuffers allocates buffers of the given sizes (positive multiples of 4)
// together in one block of exactly their aligned total, which is freed when
// the last of them is closed. Use it for a set of tensors that live and die
// together (a recorded program's activations), so the device memory held is
// what they need and no more.
func (d *Device) NewBuffers(arena Arena, sizes []int64) ([]*Buffer, error) {
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("engine: new buffers: %w", err)
	}
	defer d.leave()
	if arena < 0 || arena >= numArenas {
		return nil, fmt.Errorf("engine: unknown arena %d", arena)
	}
	m := d.mem
	var total uint64
	for _, size := range sizes {
		if size <= 0 || size%4 != 0 {
			return nil, fmt.Errorf("engine: buffer size %d B is not a positive multiple of 4", size)
		}
		if arena != Staging && uint64(size) > uint64(d.info.Limits.MaxStorageBufferRange) {
			return nil, fmt.Errorf("engine: a %d B tensor exceeds %s's maxStorageBufferRange of %d B; split the tensor or use a device with larger limits: %w",
				size, d.info.Name, d.info.Limits.MaxStorageBufferRange, ErrTooLarge)
		}
		total += m.aligned(uint64(size))
	}
	if total == 0 {
		return nil, nil
	}
	if total > m.maxAlloc {
		return nil, fmt.Errorf("engine: %d buffers of %d B in all exceed the device's maxMemoryAllocationSize of %d B: %w", len(sizes), total, m.maxAlloc, ErrOutOfDeviceMemory)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.newBlock(arena, total)
	if err != nil {
		return nil, err
	}
	b.exact = true
	m.blocks[arena] = append(m.blocks[arena], b)
	out := make([]*Buffer, len(sizes))
	for i, size := range sizes {
		asize := m.aligned(uint64(size))
		off, _ := b.alloc(asize, m.align)
		out[i] = m.carve(b, off, uint64(size), asize)
	}
	return out, nil
}

// Alignment is the byte alignment of every buffer's offset in device
// memory (the largest of the device's storage and texel buffer offset
// alignments, nonCoherentAtomSize and 16): offsets given to
// NewAliasedBuffers must be multiples of it.
func (d *Device) Alignment() int64 { return int64(d.mem.align) }

// NewAliasedBuffers allocates one block of exactly total bytes and returns
// a buffer of sizes[i] bytes at byte offset offs[i] of it for each i. Unlike
// NewBuffers the buffers may overlap: a caller that knows when each is in
// use (the planner, from its values' lifetimes) packs those never in use
// together into the same memory. Programs recorded over them stay correct
// without more care: the recorder's barriers follow the memory ranges
// commands touch, so a write into memory that an earlier command read
// waits for it. Each offset must be a multiple of Alignment, each size a
// positive multiple of 4, and offs[i] + sizes[i] rounded up to Alignment at
// most total. The block is freed with the last of its buffers; Stats counts
// its whole size as in use until then.
func (d *Device) NewAliasedBuffers(arena Arena, total int64, offs, sizes []int64) ([]*Buffer, error) {
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("engine: new aliased buffers: %w", err)
	}
	defer d.leave()
	if arena < 0 || arena >= numArenas {
		return nil, fmt.Errorf("engine: unknown arena %d", arena)
	}
	m := d.mem
	if len(offs) != len(sizes) {
		return nil, fmt.Errorf("engine: %d offsets for %d buffers", len(offs), len(sizes))
	}
	if total <= 0 || len(sizes) == 0 {
		return nil, nil
	}
	for i, size := range sizes {
		off := offs[i]
		switch {
		case size <= 0 || size%4 != 0:
			return nil, fmt.Errorf("engine: buffer size %d B is not a positive multiple of 4", size)
		case off < 0 || uint64(off)%m.align != 0:
			return nil, fmt.Errorf("engine: buffer offset %d B is not a multiple of the device's alignment %d B", off, m.align)
		case m.aligned(uint64(off)+uint64(size)) > m.aligned(uint64(total)):
			return nil, fmt.Errorf("engine: buffer [%d, %d) B does not fit the %d B block", off, off+size, total)
		case arena != Staging && uint64(size) > uint64(d.info.Limits.MaxStorageBufferRange):
			return nil, fmt.Errorf("engine: a %d B tensor exceeds %s's maxStorageBufferRange of %d B; split the tensor or use a device with larger limits: %w",
				size, d.info.Name, d.info.Limits.MaxStorageBufferRange, ErrTooLarge)
		}
	}
	if uint64(total) > m.maxAlloc {
		return nil, fmt.Errorf("engine: %d aliased buffers of %d B in all exceed the device's maxMemoryAllocationSize of %d B: %w", len(sizes), total, m.maxAlloc, ErrOutOfDeviceMemory)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := m.newBlock(arena, m.aligned(uint64(total)))
	if err != nil {
		return nil, err
	}
	b.exact, b.aliased = true, true
	b.free, b.used = nil, b.size
	m.blocks[arena] = append(m.blocks[arena], b)
	d.stats.bytesInUse[arena].Add(int64(b.size))
	out := make([]*Buffer, len(sizes))
	for i, size := range sizes {
		buf := &Buffer{d: d, blk: b, off: uint64(offs[i]), size: uint64(size), asize: m.aligned(uint64(size))}
		b.live[buf] = struct{}{}
		out[i] = buf
	}
	return out, nil
}

// freeBlock destroys an empty block; the caller holds m.mu.
func (m *memory) freeBlock(b *block) {
	for i, x := range m.blocks[b.arena] {
		if x == b {
			m.blocks[b.arena] = append(m.blocks[b.arena][:i], m.blocks[b.arena][i+1:]...)
			break
		}
	}
	if m.d.oneOff.late {
		// A one-off transfer that timed out may still read or write it.
		m.graveyard = append(m.graveyard, b)
		return
	}
	m.destroyBlock(b)
}

// buryLocked frees the blocks freeBlock kept while a late transfer ran;
// the caller holds m.mu and knows that transfer has ended.
func (m *memory) buryLocked() {
	for _, b := range m.graveyard {
		m.destroyBlock(b)
	}
	m.graveyard = nil
}

// destroyBlock frees b's Vulkan objects; the caller holds m.mu.
func (m *memory) destroyBlock(b *block) {
	if b.mapped != nil {
		m.d.dev.UnmapMemory(b.mem)
	}
	m.d.dev.DestroyBuffer(b.buf)
	m.d.dev.FreeMemory(b.mem)
	m.d.stats.liveAllocs.Add(-1)
	m.d.stats.bytesAllocated[b.arena].Add(-int64(b.size))
}

func (m *memory) destroy() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buryLocked() // the device is idle: a late transfer has ended
	for a := range m.blocks {
		for _, b := range m.blocks[a] {
			for _, v := range b.views {
				m.d.dev.DestroyBufferView(v)
			}
			if b.mapped != nil {
				m.d.dev.UnmapMemory(b.mem)
			}
			m.d.dev.DestroyBuffer(b.buf)
			m.d.dev.FreeMemory(b.mem)
			m.d.stats.liveAllocs.Add(-1)
			m.d.stats.bytesAllocated[a].Add(-int64(b.size))
		}
		m.blocks[a] = nil
		m.d.stats.bytesInUse[a].Store(0)
	}
}

// Size is the buffer's size in bytes.
func (b *Buffer) Size() int64 { return int64(b.size) }

// Len is the buffer's size in float32 elements.
func (b *Buffer) Len() int { return int(b.size / 4) }

// Arena is the arena the buffer came from.
func (b *Buffer) Arena() Arena { return b.blk.arena }

// OffsetIn reports whether b is a range of o's memory (NewAliasedBuffers:
// a Concat input the planner placed inside the Concat's output), and if so
// b's byte offset from o's start.
func (b *Buffer) OffsetIn(o *Buffer) (int64, bool) {
	if b == nil || o == nil || b.blk != o.blk || b.off < o.off || b.off+b.size > o.off+o.size {
		return 0, false
	}
	return int64(b.off - o.off), true
}

// Mapped reports whether the host can access the buffer directly (no staging).
func (b *Buffer) Mapped() bool { return b.blk.mapped != nil }

// Close returns the buffer to its arena. Safe to call twice. The buffer must
// not be in use by a recorded Program that will still run.
func (b *Buffer) Close() {
	if b == nil || b.closed {
		return
	}
	b.closed = true
	if b.d.enter() != nil {
		return // Device.Close frees it
	}
	defer b.d.leave()
	m := b.d.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.pending) > 0 {
		m.dropUploadsLocked(b)
	}
	m.releaseLocked(b)
}

// releaseLocked returns b's range to its block (freeing an exact block with
// its last buffer); the caller holds m.mu.
func (m *memory) releaseLocked(b *Buffer) {
	b.closed = true
	if b.view != (vk.BufferView{}) {
		b.d.dev.DestroyBufferView(b.view)
		delete(b.blk.views, b)
	}
	delete(b.blk.live, b)
	if b.alias {
		if b.blk.exact && len(b.blk.live) == 0 {
			m.freeBlock(b.blk)
		}
		return
	}
	if b.blk.aliased {
		if len(b.blk.live) == 0 {
			b.d.stats.bytesInUse[b.blk.arena].Add(-int64(b.blk.size))
			m.freeBlock(b.blk)
		}
		return
	}
	b.blk.release(b.off, b.asize)
	b.d.stats.bytesInUse[b.blk.arena].Add(-int64(b.asize))
	if b.blk.exact && len(b.blk.live) == 0 {
		m.freeBlock(b.blk)
	}
}

// host returns the buffer's bytes in mapped memory (nil if unmapped).
func (b *Buffer) host() []byte {
	if b.blk.mapped == nil {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Add(b.blk.mapped, b.off)), b.size)
}

func f32bytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// Write copies data to the start of the buffer. When the buffer is not
// host-visible the data goes into a staging buffer and the copy is queued:
// the queued uploads go to the device in one submission before any later
// run, read or compaction sees the buffer (so loading a model's weights is
// one submit, not one per tensor).
func (b *Buffer) Write(data []float32) error {
	if err := b.d.enter(); err != nil {
		return fmt.Errorf("engine: write: %w", err)
	}
	defer b.d.leave()
	if err := b.usable(len(data)); err != nil {
		return fmt.Errorf("engine: write: %w", err)
	}
	if h := b.host(); h != nil {
		copy(h, f32bytes(data))
		return b.flushHost(4 * uint64(len(data)))
	}
	return b.queueUpload(data)
}

// Read copies the start of the buffer into dst and returns once done.
func (b *Buffer) Read(dst []float32) error {
	if err := b.d.enter(); err != nil {
		return fmt.Errorf("engine: read: %w", err)
	}
	defer b.d.leave()
	if err := b.usable(len(dst)); err != nil {
		return fmt.Errorf("engine: read: %w", err)
	}
	if h := b.host(); h != nil {
		// Every submission ends with a barrier that makes its writes
		// available to the host (Program.finish, oneOff), and the fence
		// was waited for: what is left is non-coherent memory.
		if err := b.invalidateHost(4 * uint64(len(dst))); err != nil {
			return err
		}
		copy(f32bytes(dst), h)
		return nil
	}
	if err := b.d.flushUploads(); err != nil {
		return err
	}
	return b.d.oneOff.download(b, dst)
}

func (b *Buffer) usable(n int) error {
	if b.closed || b.d.closed.Load() {
		return ErrClosed
	}
	if uint64(n)*4 > b.size {
		return fmt.Errorf("%d floats do not fit a buffer of %d", n, b.size/4)
	}
	return nil
}

// texelView returns (creating once) an RGBA32F texel view of the buffer.
func (b *Buffer) texelView() (vk.BufferView, error) {
	if b.view != (vk.BufferView{}) {
		return b.view, nil
	}
	if err := b.d.enter(); err != nil {
		return vk.BufferView{}, fmt.Errorf("engine: texel view: %w", err)
	}
	defer b.d.leave()
	n := b.asize / 16
	if max := uint64(b.d.info.Limits.MaxTexelBufferElements); n > max {
		n = max
	}
	v, err := b.d.dev.CreateBufferViewRGBA32F(b.blk.buf, b.off, n*16)
	if err != nil {
		return vk.BufferView{}, wrap(err, "create texel view")
	}
	b.view = v
	b.d.mem.mu.Lock()
	b.blk.views[b] = v
	b.d.mem.mu.Unlock()
	return v, nil
}

// Compact moves every buffer of arena that sits in a shared block into
// blocks of exactly their aligned total (one, or chunks of at most
// maxMemoryAllocationSize) and frees the shared blocks, so the
// device memory the arena holds is what its buffers need. Buffers keep their
// identity and contents (copied on the device).
//
// Programs bind buffers by their place in memory, so a block holding a
// buffer that a live Program binds stays where it is (the root package
// compacts a model's weights after uploading them, before recording).
func (d *Device) Compact(arena Arena) error {
	if err := d.enter(); err != nil {
		return fmt.Errorf("engine: compact: %w", err)
	}
	defer d.leave()
	m := d.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.flushUploadsLocked(); err != nil { // queued uploads land before buffers move
		return err
	}
	var old []*block
	var bufs []*Buffer
	var total uint64
	for _, b := range m.blocks[arena] {
		if b.exact || b.pinned() {
			continue
		}
		old = append(old, b)
		start := len(bufs)
		for buf := range b.live {
			bufs = append(bufs, buf)
			total += buf.asize
		}
		part := bufs[start:]
		sort.Slice(part, func(i, j int) bool { return part[i].off < part[j].off })
	}
	if len(old) == 0 {
		return nil
	}
	if total == 0 {
		for _, b := range old {
			m.freeBlock(b)
		}
		return nil
	}
	// Chunks of at most maxMemoryAllocationSize (2 GiB on some drivers),
	// each exactly its buffers' total.
	var chunks []*block
	dsts := make([]*block, len(bufs))
	offs := make([]uint64, len(bufs))
	fail := func(err error) error {
		for _, nb := range chunks {
			m.freeBlock(nb)
		}
		return err
	}
	for i := 0; i < len(bufs); {
		var size uint64
		j := i
		for ; j < len(bufs) && size+bufs[j].asize <= m.maxAlloc; j++ {
			size += bufs[j].asize
		}
		nb, err := m.newBlock(arena, size)
		if err != nil {
			return fail(err)
		}
		nb.exact = true
		chunks = append(chunks, nb)
		for ; i < j; i++ {
			dsts[i] = nb
			offs[i], _ = nb.alloc(bufs[i].asize, m.align)
		}
	}
	if err := d.oneOff.copies(d, bufs, dsts, offs); err != nil {
		return fail(err)
	}
	m.blocks[arena] = append(m.blocks[arena], chunks...)
	for i, buf := range bufs {
		delete(buf.blk.live, buf)
		buf.blk, buf.off = dsts[i], offs[i]
		dsts[i].live[buf] = struct{}{}
	}
	for _, b := range old {
		m.freeBlock(b)
	}
	return nil
}

// pinned reports whether a live Program binds a buffer of b (or a texel view
// of one exists); the caller holds memory.mu.
func (b *block) pinned() bool {
	if len(b.views) > 0 {
		return true
	}
	for buf := range b.live {
		if buf.bound > 0 {
			return true
		}
	}
	return false
}
