package vk

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"unsafe"

	vulkan "github.com/goki/vulkan"
)

// Opaque handles. The zero value is VK_NULL_HANDLE.
type (
	Memory              struct{ h vulkan.DeviceMemory }
	Buffer              struct{ h vulkan.Buffer }
	BufferView          struct{ h vulkan.BufferView }
	ShaderModule        struct{ h vulkan.ShaderModule }
	DescriptorSetLayout struct{ h vulkan.DescriptorSetLayout }
	PipelineLayout      struct{ h vulkan.PipelineLayout }
	Pipeline            struct{ h vulkan.Pipeline }
	PipelineCache       struct{ h vulkan.PipelineCache }
	DescriptorPool      struct{ h vulkan.DescriptorPool }
	DescriptorSet       struct{ h vulkan.DescriptorSet }
	CommandPool         struct{ h vulkan.CommandPool }
	CommandBuffer       struct{ h vulkan.CommandBuffer }
	Fence               struct{ h vulkan.Fence }
	QueryPool           struct{ h vulkan.QueryPool }
)

// IsNull reports whether the handle is VK_NULL_HANDLE.
func (b Buffer) IsNull() bool { return b.h == nil }

// DescriptorKind is the descriptor type of a binding.
type DescriptorKind int

// Descriptor kinds the engine binds.
const (
	DescStorageBuffer DescriptorKind = iota
	DescUniformBuffer
	DescUniformTexelBuffer
	DescStorageTexelBuffer
)

func (k DescriptorKind) vk() vulkan.DescriptorType {
	switch k {
	case DescUniformBuffer:
		return vulkan.DescriptorTypeUniformBuffer
	case DescUniformTexelBuffer:
		return vulkan.DescriptorTypeUniformTexelBuffer
	case DescStorageTexelBuffer:
		return vulkan.DescriptorTypeStorageTexelBuffer
	}
	return vulkan.DescriptorTypeStorageBuffer
}

// Buffer usage flags.
const (
	UsageTransferSrc  = uint32(vulkan.BufferUsageTransferSrcBit)
	UsageTransferDst  = uint32(vulkan.BufferUsageTransferDstBit)
	UsageUniformTexel = uint32(vulkan.BufferUsageUniformTexelBufferBit)
	UsageStorageTexel = uint32(vulkan.BufferUsageStorageTexelBufferBit)
	UsageUniform      = uint32(vulkan.BufferUsageUniformBufferBit)
	UsageStorage      = uint32(vulkan.BufferUsageStorageBufferBit)
)

// Device is a VkDevice with one compute queue.
type Device struct {
	inst   *Instance
	h      vulkan.Device
	queue  vulkan.Queue
	Family uint32
	q      C.vkinfer_queue
}

// DeviceFeatures are the optional features CreateDevice enables; each must
// be supported (see PhysicalDeviceProps).
type DeviceFeatures struct {
	StorageBuffer16 bool // storageBuffer16BitAccess (Vulkan 1.1 core)
}

// CreateDevice creates a logical device with one queue of family, the
// given device extensions and features.
func CreateDevice(p PhysicalDevice, family uint32, exts []string, feats DeviceFeatures) (*Device, error) {
	qci := []vulkan.DeviceQueueCreateInfo{{
		SType:            vulkan.StructureTypeDeviceQueueCreateInfo,
		QueueFamilyIndex: family,
		QueueCount:       1,
		PQueuePriorities: []float32{1},
	}}
	ci := &vulkan.DeviceCreateInfo{
		SType:                   vulkan.StructureTypeDeviceCreateInfo,
		QueueCreateInfoCount:    1,
		PQueueCreateInfos:       qci,
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: cstrs(exts),
	}
	var s16 *vulkan.PhysicalDevice16BitStorageFeatures
	if feats.StorageBuffer16 {
		s16 = &vulkan.PhysicalDevice16BitStorageFeatures{
			SType:                    vulkan.StructureTypePhysicalDevice16bitStorageFeatures,
			StorageBuffer16BitAccess: vulkan.True,
		}
		s16.PassRef()
		ci.PNext = unsafe.Pointer(s16.Ref())
	}
	var h vulkan.Device // a fresh local: the binding panics writing into structs that hold Go pointers
	r := vulkan.CreateDevice(p.h, ci, nil, &h)
	ci.Free()
	if s16 != nil {
		s16.Free()
	}
	if err := check("vkCreateDevice", r); err != nil {
		return nil, err
	}
	var q vulkan.Queue
	vulkan.GetDeviceQueue(h, family, 0, &q)
	d := &Device{inst: p.inst, h: h, queue: q, Family: family}
	C.vkinfer_queue_init(p.inst.c(), C.VkDevice(unsafe.Pointer(h)), C.VkQueue(unsafe.Pointer(q)), &d.q)
	return d, nil
}

// Destroy destroys the device. All its objects must be destroyed first.
func (d *Device) Destroy() {
	if d.h != nil {
		vulkan.DestroyDevice(d.h, nil)
		d.h = nil
	}
}

// WaitIdle waits until the device is idle.
func (d *Device) WaitIdle() error { return check("vkDeviceWaitIdle", vulkan.DeviceWaitIdle(d.h)) }

// AllocateMemory allocates size bytes of memory type typeIndex.
func (d *Device) AllocateMemory(size uint64, typeIndex uint32) (Memory, error) {
	ai := &vulkan.MemoryAllocateInfo{
		SType:           vulkan.StructureTypeMemoryAllocateInfo,
		AllocationSize:  vulkan.DeviceSize(size),
		MemoryTypeIndex: typeIndex,
	}
	var m vulkan.DeviceMemory
	r := vulkan.AllocateMemory(d.h, ai, nil, &m)
	ai.Free()
	return Memory{m}, check("vkAllocateMemory", r)
}

// FreeMemory frees memory (a null handle is ignored).
func (d *Device) FreeMemory(m Memory) {
	if m.h != nil {
		vulkan.FreeMemory(d.h, m.h, nil)
	}
}

// MapMemory maps the whole of m and returns its host address.
func (d *Device) MapMemory(m Memory) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	r := vulkan.MapMemory(d.h, m.h, 0, vulkan.DeviceSize(vulkan.WholeSize), 0, &p)
	return p, check("vkMapMemory", r)
}

// UnmapMemory unmaps m.
func (d *Device) UnmapMemory(m Memory) { vulkan.UnmapMemory(d.h, m.h) }

// FlushMemory makes host writes to [off, off+size) of non-coherent memory visible.
func (d *Device) FlushMemory(m Memory, off, size uint64) error {
	r := C.vkinfer_map_range(&d.q, C.VkDeviceMemory(unsafe.Pointer(m.h)), C.uint64_t(off), C.uint64_t(size), 1)
	return check("vkFlushMappedMemoryRanges", vulkan.Result(r))
}

// InvalidateMemory makes device writes to [off, off+size) visible to the host.
func (d *Device) InvalidateMemory(m Memory, off, size uint64) error {
	r := C.vkinfer_map_range(&d.q, C.VkDeviceMemory(unsafe.Pointer(m.h)), C.uint64_t(off), C.uint64_t(size), 0)
	return check("vkInvalidateMappedMemoryRanges", vulkan.Result(r))
}

// MemoryRequirements is a buffer's VkMemoryRequirements.
type MemoryRequirements struct {
	Size, Alignment uint64
	TypeBits        uint32
}

// CreateBuffer creates an exclusive buffer and returns its memory requirements.
func (d *Device) CreateBuffer(size uint64, usage uint32) (Buffer, MemoryRequirements, error) {
	ci := &vulkan.BufferCreateInfo{
		SType:       vulkan.StructureTypeBufferCreateInfo,
		Size:        vulkan.DeviceSize(size),
		Usage:       vulkan.BufferUsageFlags(usage),
		SharingMode: vulkan.SharingModeExclusive,
	}
	var b vulkan.Buffer
	r := vulkan.CreateBuffer(d.h, ci, nil, &b)
	ci.Free()
	if err := check("vkCreateBuffer", r); err != nil {
		return Buffer{}, MemoryRequirements{}, err
	}
	var mr vulkan.MemoryRequirements
	vulkan.GetBufferMemoryRequirements(d.h, b, &mr)
	mr.Deref()
	return Buffer{b}, MemoryRequirements{Size: uint64(mr.Size), Alignment: uint64(mr.Alignment), TypeBits: mr.MemoryTypeBits}, nil
}

// BindBufferMemory binds b to m at offset.
func (d *Device) BindBufferMemory(b Buffer, m Memory, offset uint64) error {
	return check("vkBindBufferMemory", vulkan.BindBufferMemory(d.h, b.h, m.h, vulkan.DeviceSize(offset)))
}

// DestroyBuffer destroys b (a null handle is ignored).
func (d *Device) DestroyBuffer(b Buffer) {
	if b.h != nil {
		vulkan.DestroyBuffer(d.h, b.h, nil)
	}
}

// CreateBufferViewRGBA32F creates an RGBA32F texel view of [offset, offset+size) of b.
func (d *Device) CreateBufferViewRGBA32F(b Buffer, offset, size uint64) (BufferView, error) {
	ci := &vulkan.BufferViewCreateInfo{
		SType:  vulkan.StructureTypeBufferViewCreateInfo,
		Buffer: b.h,
		Format: vulkan.FormatR32g32b32a32Sfloat,
		Offset: vulkan.DeviceSize(offset),
		Range:  vulkan.DeviceSize(size),
	}
	var v vulkan.BufferView
	r := vulkan.CreateBufferView(d.h, ci, nil, &v)
	ci.Free()
	return BufferView{v}, check("vkCreateBufferView", r)
}

// DestroyBufferView destroys v (a null handle is ignored).
func (d *Device) DestroyBufferView(v BufferView) {
	if v.h != nil {
		vulkan.DestroyBufferView(d.h, v.h, nil)
	}
}

// CreateShaderModule creates a module from SPIR-V words.
func (d *Device) CreateShaderModule(words []uint32) (ShaderModule, error) {
	ci := &vulkan.ShaderModuleCreateInfo{
		SType:    vulkan.StructureTypeShaderModuleCreateInfo,
		CodeSize: uint64(len(words) * 4),
		PCode:    words,
	}
	var m vulkan.ShaderModule
	r := vulkan.CreateShaderModule(d.h, ci, nil, &m)
	ci.Free()
	return ShaderModule{m}, check("vkCreateShaderModule", r)
}

// DestroyShaderModule destroys m.
func (d *Device) DestroyShaderModule(m ShaderModule) {
	if m.h != nil {
		vulkan.DestroyShaderModule(d.h, m.h, nil)
	}
}

// LayoutBinding is one binding of a descriptor set layout.
type LayoutBinding struct {
	Binding uint32
	Kind    DescriptorKind
}

// CreateDescriptorSetLayout creates a compute-stage layout with the bindings.
func (d *Device) CreateDescriptorSetLayout(bindings []LayoutBinding) (DescriptorSetLayout, error) {
	bs := make([]vulkan.DescriptorSetLayoutBinding, len(bindings))
	for i, b := range bindings {
		bs[i] = vulkan.DescriptorSetLayoutBinding{
			Binding:         b.Binding,
			DescriptorType:  b.Kind.vk(),
			DescriptorCount: 1,
			StageFlags:      vulkan.ShaderStageFlags(vulkan.ShaderStageComputeBit),
		}
	}
	ci := &vulkan.DescriptorSetLayoutCreateInfo{
		SType:        vulkan.StructureTypeDescriptorSetLayoutCreateInfo,
		BindingCount: uint32(len(bs)),
		PBindings:    bs,
	}
	var l vulkan.DescriptorSetLayout
	r := vulkan.CreateDescriptorSetLayout(d.h, ci, nil, &l)
	ci.Free()
	return DescriptorSetLayout{l}, check("vkCreateDescriptorSetLayout", r)
}

// DestroyDescriptorSetLayout destroys l.
func (d *Device) DestroyDescriptorSetLayout(l DescriptorSetLayout) {
	if l.h != nil {
		vulkan.DestroyDescriptorSetLayout(d.h, l.h, nil)
	}
}

// CreatePipelineLayout creates a layout with one set and pushSize bytes of
// compute push constants (0 for none).
func (d *Device) CreatePipelineLayout(set DescriptorSetLayout, pushSize uint32) (PipelineLayout, error) {
	ci := &vulkan.PipelineLayoutCreateInfo{
		SType:          vulkan.StructureTypePipelineLayoutCreateInfo,
		SetLayoutCount: 1,
		PSetLayouts:    []vulkan.DescriptorSetLayout{set.h},
	}
	if pushSize > 0 {
		ci.PushConstantRangeCount = 1
		ci.PPushConstantRanges = []vulkan.PushConstantRange{{
			StageFlags: vulkan.ShaderStageFlags(vulkan.ShaderStageComputeBit),
			Size:       pushSize,
		}}
	}
	var l vulkan.PipelineLayout
	r := vulkan.CreatePipelineLayout(d.h, ci, nil, &l)
	ci.Free()
	return PipelineLayout{l}, check("vkCreatePipelineLayout", r)
}

// DestroyPipelineLayout destroys l.
func (d *Device) DestroyPipelineLayout(l PipelineLayout) {
	if l.h != nil {
		vulkan.DestroyPipelineLayout(d.h, l.h, nil)
	}
}

// CreatePipelineCache creates a pipeline cache seeded with data (may be nil).
func (d *Device) CreatePipelineCache(data []byte) (PipelineCache, error) {
	ci := &vulkan.PipelineCacheCreateInfo{SType: vulkan.StructureTypePipelineCacheCreateInfo}
	var cdata unsafe.Pointer
	if len(data) > 0 {
		cdata = C.CBytes(data)
		defer C.free(cdata)
		ci.InitialDataSize = uint64(len(data))
		ci.PInitialData = cdata
	}
	var c vulkan.PipelineCache
	r := vulkan.CreatePipelineCache(d.h, ci, nil, &c)
	ci.Free()
	return PipelineCache{c}, check("vkCreatePipelineCache", r)
}

// PipelineCacheData returns the cache's serialised contents.
func (d *Device) PipelineCacheData(c PipelineCache) ([]byte, error) {
	var n uint64
	if err := check("vkGetPipelineCacheData", vulkan.GetPipelineCacheData(d.h, c.h, &n, nil)); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	buf := C.malloc(C.size_t(n))
	defer C.free(buf)
	if err := check("vkGetPipelineCacheData", vulkan.GetPipelineCacheData(d.h, c.h, &n, buf)); err != nil {
		return nil, err
	}
	return C.GoBytes(buf, C.int(n)), nil
}

// DestroyPipelineCache destroys c.
func (d *Device) DestroyPipelineCache(c PipelineCache) {
	if c.h != nil {
		vulkan.DestroyPipelineCache(d.h, c.h, nil)
	}
}

// Specialization is one 32-bit specialization constant.
type Specialization struct {
	ID    uint32
	Value uint32
}

// CreateComputePipeline creates a compute pipeline running "main" of module.
// It goes through the shim: the binding frees the C copies of its arguments
// from a finalizer that may run while the driver still reads them.
func (d *Device) CreateComputePipeline(cache PipelineCache, module ShaderModule, layout PipelineLayout, spec []Specialization) (Pipeline, error) {
	ids := make([]uint32, len(spec)+1)
	values := make([]uint32, len(spec)+1)
	for i, s := range spec {
		ids[i], values[i] = s.ID, s.Value
	}
	var p C.VkPipeline
	r := C.vkinfer_create_compute_pipeline(&d.q, C.VkPipelineCache(unsafe.Pointer(cache.h)), C.VkShaderModule(unsafe.Pointer(module.h)),
		C.VkPipelineLayout(unsafe.Pointer(layout.h)), (*C.uint32_t)(&ids[0]), (*C.uint32_t)(&values[0]), C.uint32_t(len(spec)), &p)
	return Pipeline{vulkan.Pipeline(unsafe.Pointer(p))}, check("vkCreateComputePipelines", vulkan.Result(r))
}

// DestroyPipeline destroys p.
func (d *Device) DestroyPipeline(p Pipeline) {
	if p.h != nil {
		vulkan.DestroyPipeline(d.h, p.h, nil)
	}
}

// CreateDescriptorPool creates a pool for maxSets sets holding the given number
// of descriptors of each kind.
func (d *Device) CreateDescriptorPool(maxSets uint32, counts map[DescriptorKind]uint32) (DescriptorPool, error) {
	var sizes []vulkan.DescriptorPoolSize
	for _, k := range []DescriptorKind{DescStorageBuffer, DescUniformBuffer, DescUniformTexelBuffer, DescStorageTexelBuffer} {
		if n := counts[k]; n > 0 {
			sizes = append(sizes, vulkan.DescriptorPoolSize{Type: k.vk(), DescriptorCount: n})
		}
	}
	if len(sizes) == 0 {
		sizes = append(sizes, vulkan.DescriptorPoolSize{Type: vulkan.DescriptorTypeStorageBuffer, DescriptorCount: 1})
	}
	ci := &vulkan.DescriptorPoolCreateInfo{
		SType:         vulkan.StructureTypeDescriptorPoolCreateInfo,
		MaxSets:       maxSets,
		PoolSizeCount: uint32(len(sizes)),
		PPoolSizes:    sizes,
	}
	var p vulkan.DescriptorPool
	r := vulkan.CreateDescriptorPool(d.h, ci, nil, &p)
	ci.Free()
	return DescriptorPool{p}, check("vkCreateDescriptorPool", r)
}

// DestroyDescriptorPool destroys p and its sets.
func (d *Device) DestroyDescriptorPool(p DescriptorPool) {
	if p.h != nil {
		vulkan.DestroyDescriptorPool(d.h, p.h, nil)
	}
}

// AllocateDescriptorSet allocates one set of layout from pool.
func (d *Device) AllocateDescriptorSet(pool DescriptorPool, layout DescriptorSetLayout) (DescriptorSet, error) {
	ai := &vulkan.DescriptorSetAllocateInfo{
		SType:              vulkan.StructureTypeDescriptorSetAllocateInfo,
		DescriptorPool:     pool.h,
		DescriptorSetCount: 1,
		PSetLayouts:        []vulkan.DescriptorSetLayout{layout.h},
	}
	var s vulkan.DescriptorSet
	r := vulkan.AllocateDescriptorSets(d.h, ai, &s)
	ai.Free()
	return DescriptorSet{s}, check("vkAllocateDescriptorSets", r)
}

// DescriptorWrite is one binding's new contents: a buffer range, or a texel view.
type DescriptorWrite struct {
	Binding       uint32
	Kind          DescriptorKind
	Buffer        Buffer
	Offset, Range uint64
	View          BufferView
}

// UpdateDescriptorSet writes the bindings of set (through the shim, see
// CreateComputePipeline).
func (d *Device) UpdateDescriptorSet(set DescriptorSet, writes []DescriptorWrite) {
	n := len(writes)
	if n == 0 {
		return
	}
	bindings := make([]uint32, n)
	types := make([]uint32, n)
	bufs := make([]C.VkBuffer, n)
	offsets := make([]uint64, n)
	ranges := make([]uint64, n)
	views := make([]C.VkBufferView, n)
	for i, w := range writes {
		bindings[i], types[i] = w.Binding, uint32(w.Kind.vk())
		switch w.Kind {
		case DescUniformTexelBuffer, DescStorageTexelBuffer:
			views[i] = C.VkBufferView(unsafe.Pointer(w.View.h))
		default:
			bufs[i] = C.VkBuffer(unsafe.Pointer(w.Buffer.h))
			offsets[i], ranges[i] = w.Offset, w.Range
		}
	}
	C.vkinfer_update_descriptors(&d.q, C.VkDescriptorSet(unsafe.Pointer(set.h)), C.uint32_t(n), (*C.uint32_t)(&bindings[0]),
		(*C.uint32_t)(&types[0]), &bufs[0], (*C.uint64_t)(&offsets[0]), (*C.uint64_t)(&ranges[0]), &views[0])
}

// CreateCommandPool creates a pool for the device's queue family.
func (d *Device) CreateCommandPool() (CommandPool, error) {
	ci := &vulkan.CommandPoolCreateInfo{
		SType:            vulkan.StructureTypeCommandPoolCreateInfo,
		Flags:            vulkan.CommandPoolCreateFlags(vulkan.CommandPoolCreateResetCommandBufferBit),
		QueueFamilyIndex: d.Family,
	}
	var p vulkan.CommandPool
	r := vulkan.CreateCommandPool(d.h, ci, nil, &p)
	ci.Free()
	return CommandPool{p}, check("vkCreateCommandPool", r)
}

// DestroyCommandPool destroys p and its command buffers.
func (d *Device) DestroyCommandPool(p CommandPool) {
	if p.h != nil {
		vulkan.DestroyCommandPool(d.h, p.h, nil)
	}
}

// AllocateCommandBuffer allocates one primary command buffer from pool.
func (d *Device) AllocateCommandBuffer(pool CommandPool) (CommandBuffer, error) {
	ai := &vulkan.CommandBufferAllocateInfo{
		SType:              vulkan.StructureTypeCommandBufferAllocateInfo,
		CommandPool:        pool.h,
		Level:              vulkan.CommandBufferLevelPrimary,
		CommandBufferCount: 1,
	}
	cbs := make([]vulkan.CommandBuffer, 1)
	r := vulkan.AllocateCommandBuffers(d.h, ai, cbs)
	ai.Free()
	return CommandBuffer{cbs[0]}, check("vkAllocateCommandBuffers", r)
}

// Begin starts recording cb for many submissions.
func (cb CommandBuffer) Begin(oneTime bool) error {
	bi := &vulkan.CommandBufferBeginInfo{SType: vulkan.StructureTypeCommandBufferBeginInfo}
	if oneTime {
		bi.Flags = vulkan.CommandBufferUsageFlags(vulkan.CommandBufferUsageOneTimeSubmitBit)
	}
	r := vulkan.BeginCommandBuffer(cb.h, bi)
	bi.Free()
	return check("vkBeginCommandBuffer", r)
}

// End finishes recording.
func (cb CommandBuffer) End() error {
	return check("vkEndCommandBuffer", vulkan.EndCommandBuffer(cb.h))
}

// BindPipeline binds a compute pipeline.
func (cb CommandBuffer) BindPipeline(p Pipeline) {
	vulkan.CmdBindPipeline(cb.h, vulkan.PipelineBindPointCompute, p.h)
}

// BindDescriptorSet binds set 0 for compute.
func (cb CommandBuffer) BindDescriptorSet(layout PipelineLayout, set DescriptorSet) {
	vulkan.CmdBindDescriptorSets(cb.h, vulkan.PipelineBindPointCompute, layout.h, 0, 1, []vulkan.DescriptorSet{set.h}, 0, nil)
}

// PushConstants records push constants (words little-endian from offset 0).
func (cb CommandBuffer) PushConstants(layout PipelineLayout, words []uint32) {
	if len(words) == 0 {
		return
	}
	data := C.malloc(C.size_t(4 * len(words)))
	defer C.free(data)
	copy(unsafe.Slice((*uint32)(data), len(words)), words)
	vulkan.CmdPushConstants(cb.h, layout.h, vulkan.ShaderStageFlags(vulkan.ShaderStageComputeBit), 0, uint32(4*len(words)), data)
}

// Dispatch records a dispatch of x*y*z workgroups.
func (cb CommandBuffer) Dispatch(x, y, z uint32) { vulkan.CmdDispatch(cb.h, x, y, z) }

// Access masks for barriers.
const (
	AccessShaderRead    = uint32(vulkan.AccessShaderReadBit)
	AccessShaderWrite   = uint32(vulkan.AccessShaderWriteBit)
	AccessTransferRead  = uint32(vulkan.AccessTransferReadBit)
	AccessTransferWrite = uint32(vulkan.AccessTransferWriteBit)
	AccessHostRead      = uint32(vulkan.AccessHostReadBit)
	AccessHostWrite     = uint32(vulkan.AccessHostWriteBit)
	StageCompute        = uint32(vulkan.PipelineStageComputeShaderBit)
	StageTransfer       = uint32(vulkan.PipelineStageTransferBit)
	StageHost           = uint32(vulkan.PipelineStageHostBit)
	StageTop            = uint32(vulkan.PipelineStageTopOfPipeBit)
)

// MemoryBarrier records a global memory barrier on cb (through the shim:
// the binding's version converts its slice argument unsafely).
func (d *Device) MemoryBarrier(cb CommandBuffer, srcStage, dstStage, srcAccess, dstAccess uint32) {
	C.vkinfer_cmd_memory_barrier(&d.q, C.VkCommandBuffer(unsafe.Pointer(cb.h)), C.uint32_t(srcStage), C.uint32_t(dstStage),
		C.uint32_t(srcAccess), C.uint32_t(dstAccess))
}

// CopyBuffer records a copy of size bytes on cb (through the shim).
func (d *Device) CopyBuffer(cb CommandBuffer, src Buffer, srcOff uint64, dst Buffer, dstOff uint64, size uint64) {
	C.vkinfer_cmd_copy_buffer(&d.q, C.VkCommandBuffer(unsafe.Pointer(cb.h)), C.VkBuffer(unsafe.Pointer(src.h)), C.uint64_t(srcOff),
		C.VkBuffer(unsafe.Pointer(dst.h)), C.uint64_t(dstOff), C.uint64_t(size))
}

// ResetQueries records a reset of queries [first, first+n).
func (cb CommandBuffer) ResetQueries(p QueryPool, first, n uint32) {
	vulkan.CmdResetQueryPool(cb.h, p.h, first, n)
}

// WriteTimestamp records a timestamp after compute work into query q.
func (cb CommandBuffer) WriteTimestamp(p QueryPool, q uint32, afterCompute bool) {
	stage := vulkan.PipelineStageTopOfPipeBit
	if afterCompute {
		stage = vulkan.PipelineStageBottomOfPipeBit
	}
	vulkan.CmdWriteTimestamp(cb.h, stage, p.h, q)
}

// CreateTimestampPool creates a pool of n timestamp queries.
func (d *Device) CreateTimestampPool(n uint32) (QueryPool, error) {
	ci := &vulkan.QueryPoolCreateInfo{SType: vulkan.StructureTypeQueryPoolCreateInfo, QueryType: vulkan.QueryTypeTimestamp, QueryCount: n}
	var p vulkan.QueryPool
	r := vulkan.CreateQueryPool(d.h, ci, nil, &p)
	ci.Free()
	return QueryPool{p}, check("vkCreateQueryPool", r)
}

// DestroyQueryPool destroys p.
func (d *Device) DestroyQueryPool(p QueryPool) {
	if p.h != nil {
		vulkan.DestroyQueryPool(d.h, p.h, nil)
	}
}

// Timestamps reads n 64-bit timestamps (waiting for them).
func (d *Device) Timestamps(p QueryPool, n uint32) ([]uint64, error) {
	buf := C.malloc(C.size_t(8 * n))
	defer C.free(buf)
	r := vulkan.GetQueryPoolResults(d.h, p.h, 0, n, uint64(8*n), buf, 8, vulkan.QueryResultFlags(vulkan.QueryResult64Bit|vulkan.QueryResultWaitBit))
	if err := check("vkGetQueryPoolResults", r); err != nil {
		return nil, err
	}
	return append([]uint64(nil), unsafe.Slice((*uint64)(buf), n)...), nil
}

// CreateFence creates an unsignalled fence.
func (d *Device) CreateFence() (Fence, error) {
	ci := &vulkan.FenceCreateInfo{SType: vulkan.StructureTypeFenceCreateInfo}
	var f vulkan.Fence
	r := vulkan.CreateFence(d.h, ci, nil, &f)
	ci.Free()
	return Fence{f}, check("vkCreateFence", r)
}

// DestroyFence destroys f.
func (d *Device) DestroyFence(f Fence) {
	if f.h != nil {
		vulkan.DestroyFence(d.h, f.h, nil)
	}
}

// Submit resets fence and submits cb to the queue, signalling fence. The
// caller serialises access to the queue.
func (d *Device) Submit(cb CommandBuffer, fence Fence) error {
	r := C.vkinfer_submit(&d.q, C.VkCommandBuffer(unsafe.Pointer(cb.h)), C.VkFence(unsafe.Pointer(fence.h)))
	if r != C.VK_SUCCESS {
		return &Error{Op: "vkQueueSubmit", Result: int32(r)}
	}
	return nil
}

// Wait polls fence for spinNs nanoseconds, then blocks up to blockNs. It
// returns (true, nil) when signalled, (false, nil) on timeout.
func (d *Device) Wait(fence Fence, spinNs, blockNs uint64) (bool, error) {
	r := C.vkinfer_wait(&d.q, C.VkFence(unsafe.Pointer(fence.h)), C.uint64_t(spinNs), C.uint64_t(blockNs))
	switch r {
	case C.VK_SUCCESS:
		return true, nil
	case C.VK_TIMEOUT, C.VK_NOT_READY:
		return false, nil
	}
	return false, &Error{Op: "vkWaitForFences", Result: int32(r)}
}
