package vk

/*
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"

	vulkan "github.com/goki/vulkan"
)

// Severity of a debug message.
type Severity int

// Debug message severities (VkDebugUtilsMessageSeverityFlagBitsEXT).
const (
	SeverityVerbose Severity = 0x1
	SeverityInfo    Severity = 0x10
	SeverityWarning Severity = 0x100
	SeverityError   Severity = 0x1000
)

func (s Severity) String() string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	case SeverityInfo:
		return "info"
	}
	return "verbose"
}

// MessageFunc receives debug-utils messages (validation errors and warnings).
// It may be called from any goroutine or driver thread.
type MessageFunc func(sev Severity, id, msg string)

//export vkinferGoDebugMessage
func vkinferGoDebugMessage(severity C.int, types C.int, id *C.char, msg *C.char, user C.uintptr_t) {
	h := cgo.Handle(user)
	if f, ok := h.Value().(MessageFunc); ok && f != nil {
		f(Severity(severity), C.GoString(id), C.GoString(msg))
	}
}

// Instance is a VkInstance with its optional debug messenger.
type Instance struct {
	h   vulkan.Instance
	API uint32 // the API version the instance was created with
	// Extensions are the instance extensions enabled.
	Extensions []string
	messenger  C.VkDebugUtilsMessengerEXT
	handle     cgo.Handle
}

// CreateInstance creates an instance requesting api (clamped by the caller to
// what the loader offers), with the given layers and extensions. If onMessage is
// non-nil and VK_EXT_debug_utils is among exts, a messenger forwards warnings
// and errors to it. With VK_KHR_portability_enumeration among exts the
// instance also enumerates portability (non-conformant) implementations
// such as MoltenVK.
func CreateInstance(app string, api uint32, layers, exts []string, onMessage MessageFunc) (*Instance, error) {
	appInfo := &vulkan.ApplicationInfo{
		SType:            vulkan.StructureTypeApplicationInfo,
		PApplicationName: cstr(app),
		PEngineName:      cstr("vkinfer"),
		ApiVersion:       api,
	}
	ci := &vulkan.InstanceCreateInfo{
		SType:                   vulkan.StructureTypeInstanceCreateInfo,
		PApplicationInfo:        appInfo,
		EnabledLayerCount:       uint32(len(layers)),
		PpEnabledLayerNames:     cstrs(layers),
		EnabledExtensionCount:   uint32(len(exts)),
		PpEnabledExtensionNames: cstrs(exts),
	}
	if contains(exts, PortabilityEnumeration) {
		ci.Flags = vulkan.InstanceCreateFlags(instanceCreateEnumeratePortability)
	}
	var h vulkan.Instance
	r := vulkan.CreateInstance(ci, nil, &h)
	ci.Free()
	appInfo.Free()
	if err := check("vkCreateInstance", r); err != nil {
		return nil, err
	}
	if err := vulkan.InitInstance(h); err != nil {
		vulkan.DestroyInstance(h, nil)
		return nil, &Error{Op: "vkInitInstance", Result: ErrorInitializationFail}
	}
	inst := &Instance{h: h, API: api, Extensions: append([]string(nil), exts...)}
	if onMessage != nil && contains(exts, "VK_EXT_debug_utils") {
		inst.handle = cgo.NewHandle(onMessage)
		var m C.VkDebugUtilsMessengerEXT
		if r := C.vkinfer_create_messenger(inst.c(), C.uintptr_t(inst.handle), &m); r != C.VK_SUCCESS {
			inst.handle.Delete()
			vulkan.DestroyInstance(h, nil)
			return nil, &Error{Op: "vkCreateDebugUtilsMessengerEXT", Result: int32(r)}
		}
		inst.messenger = m
	}
	return inst, nil
}

// Portability extensions: the loader hides portability implementations
// (MoltenVK) unless the instance enables VK_KHR_portability_enumeration with
// VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR, and a device that offers
// VK_KHR_portability_subset must have it enabled.
const (
	PortabilityEnumeration = "VK_KHR_portability_enumeration"
	PortabilitySubset      = "VK_KHR_portability_subset"

	instanceCreateEnumeratePortability = 0x00000001 // VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR
)

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (i *Instance) c() C.VkInstance { return C.VkInstance(unsafe.Pointer(i.h)) }

// Destroy destroys the messenger and the instance.
func (i *Instance) Destroy() {
	if i.h == nil {
		return
	}
	if i.messenger != nil {
		C.vkinfer_destroy_messenger(i.c(), i.messenger)
		i.messenger = nil
	}
	vulkan.DestroyInstance(i.h, nil)
	i.h = nil
	if i.handle != 0 {
		i.handle.Delete()
		i.handle = 0
	}
}

// PhysicalDevice is a VkPhysicalDevice of an instance.
type PhysicalDevice struct {
	inst *Instance
	h    vulkan.PhysicalDevice
}

// PhysicalDevices enumerates the instance's physical devices.
func (i *Instance) PhysicalDevices() ([]PhysicalDevice, error) {
	var n uint32
	if err := check("vkEnumeratePhysicalDevices", vulkan.EnumeratePhysicalDevices(i.h, &n, nil)); err != nil {
		return nil, err
	}
	hs := make([]vulkan.PhysicalDevice, n)
	if err := check("vkEnumeratePhysicalDevices", vulkan.EnumeratePhysicalDevices(i.h, &n, hs)); err != nil {
		return nil, err
	}
	out := make([]PhysicalDevice, 0, n)
	for _, h := range hs[:n] {
		out = append(out, PhysicalDevice{inst: i, h: h})
	}
	return out, nil
}

// DeviceProperties is what the engine reads of a physical device: core
// properties, limits and the Properties2/Features2 chains, flattened.
type DeviceProperties struct {
	APIVersion, DriverVersion, VendorID, DeviceID, DeviceType  uint32
	Name                                                       string
	PipelineCacheUUID, DeviceUUID, DriverUUID                  [16]byte
	DriverID                                                   uint32
	DriverName, DriverInfo                                     string
	SubgroupSize, SubgroupStages, SubgroupOps                  uint32
	ShaderFloat16, ShaderInt8, StorageBuffer16, StorageBuffer8 bool
	ShaderFloat64, ShaderInt64, ShaderInt16                    bool

	MaxComputeSharedMemorySize          uint32
	MaxComputeWorkGroupCount            [3]uint32
	MaxComputeWorkGroupInvocations      uint32
	MaxComputeWorkGroupSize             [3]uint32
	MaxStorageBufferRange               uint32
	MaxUniformBufferRange               uint32
	MaxTexelBufferElements              uint32
	MaxPushConstantsSize                uint32
	MaxMemoryAllocationCount            uint32
	MaxBoundDescriptorSets              uint32
	MaxPerStageDescriptorStorageBuffers uint32
	MaxPerStageDescriptorUniformBuffers uint32
	MaxPerStageDescriptorSampledImages  uint32
	MaxPerStageDescriptorStorageImages  uint32
	MaxPerStageResources                uint32
	MaxDescriptorSetStorageBuffers      uint32
	MaxDescriptorSetUniformBuffers      uint32
	MaxDescriptorSetSampledImages       uint32
	MaxDescriptorSetStorageImages       uint32
	MaxPerSetDescriptors                uint32 // 0 when the device does not say (Vulkan 1.0)
	// FloatControls: VkPhysicalDeviceFloatControlsProperties were read
	// (Vulkan 1.2 or VK_KHR_shader_float_controls).
	FloatControls                   bool
	SignedZeroInfNanPreserveFloat32 bool
	MinStorageBufferOffsetAlignment uint64
	MinTexelBufferOffsetAlignment   uint64
	NonCoherentAtomSize             uint64
	MaxMemoryAllocationSize         uint64
	TimestampPeriod                 float32
	TimestampComputeAndGraphics     bool
}

// Properties reads the device's properties through the shim.
func (p PhysicalDevice) Properties() DeviceProperties {
	var o C.vkinfer_device_info
	C.vkinfer_query_device(p.inst.c(), C.uint32_t(p.inst.API), C.VkPhysicalDevice(unsafe.Pointer(p.h)), &o)
	d := DeviceProperties{
		APIVersion:                          uint32(o.api_version),
		DriverVersion:                       uint32(o.driver_version),
		VendorID:                            uint32(o.vendor_id),
		DeviceID:                            uint32(o.device_id),
		DeviceType:                          uint32(o.device_type),
		Name:                                C.GoString(&o.name[0]),
		DriverID:                            uint32(o.driver_id),
		DriverName:                          C.GoString(&o.driver_name[0]),
		DriverInfo:                          C.GoString(&o.driver_info[0]),
		SubgroupSize:                        uint32(o.subgroup_size),
		SubgroupStages:                      uint32(o.subgroup_stages),
		SubgroupOps:                         uint32(o.subgroup_ops),
		ShaderFloat16:                       o.shader_float16 != 0,
		ShaderInt8:                          o.shader_int8 != 0,
		StorageBuffer16:                     o.storage_buffer_16bit != 0,
		StorageBuffer8:                      o.storage_buffer_8bit != 0,
		ShaderFloat64:                       o.shader_float64 != 0,
		ShaderInt64:                         o.shader_int64 != 0,
		ShaderInt16:                         o.shader_int16 != 0,
		MaxComputeSharedMemorySize:          uint32(o.max_compute_shared_memory_size),
		MaxComputeWorkGroupInvocations:      uint32(o.max_compute_work_group_invocations),
		MaxStorageBufferRange:               uint32(o.max_storage_buffer_range),
		MaxUniformBufferRange:               uint32(o.max_uniform_buffer_range),
		MaxTexelBufferElements:              uint32(o.max_texel_buffer_elements),
		MaxPushConstantsSize:                uint32(o.max_push_constants_size),
		MaxMemoryAllocationCount:            uint32(o.max_memory_allocation_count),
		MaxBoundDescriptorSets:              uint32(o.max_bound_descriptor_sets),
		MaxPerStageDescriptorStorageBuffers: uint32(o.max_per_stage_descriptor_storage_buffers),
		MaxPerStageDescriptorUniformBuffers: uint32(o.max_per_stage_descriptor_uniform_buffers),
		MaxPerStageDescriptorSampledImages:  uint32(o.max_per_stage_descriptor_sampled_images),
		MaxPerStageDescriptorStorageImages:  uint32(o.max_per_stage_descriptor_storage_images),
		MaxPerStageResources:                uint32(o.max_per_stage_resources),
		MaxDescriptorSetStorageBuffers:      uint32(o.max_descriptor_set_storage_buffers),
		MaxDescriptorSetUniformBuffers:      uint32(o.max_descriptor_set_uniform_buffers),
		MaxDescriptorSetSampledImages:       uint32(o.max_descriptor_set_sampled_images),
		MaxDescriptorSetStorageImages:       uint32(o.max_descriptor_set_storage_images),
		MaxPerSetDescriptors:                uint32(o.max_per_set_descriptors),
		FloatControls:                       o.float_controls != 0,
		SignedZeroInfNanPreserveFloat32:     o.signed_zero_inf_nan_preserve_float32 != 0,
		MinStorageBufferOffsetAlignment:     uint64(o.min_storage_buffer_offset_alignment),
		MinTexelBufferOffsetAlignment:       uint64(o.min_texel_buffer_offset_alignment),
		NonCoherentAtomSize:                 uint64(o.non_coherent_atom_size),
		MaxMemoryAllocationSize:             uint64(o.max_memory_allocation_size),
		TimestampPeriod:                     float32(o.timestamp_period),
		TimestampComputeAndGraphics:         o.timestamp_compute_and_graphics != 0,
	}
	for i := 0; i < 3; i++ {
		d.MaxComputeWorkGroupCount[i] = uint32(o.max_compute_work_group_count[i])
		d.MaxComputeWorkGroupSize[i] = uint32(o.max_compute_work_group_size[i])
	}
	for i := 0; i < 16; i++ {
		d.PipelineCacheUUID[i] = byte(o.pipeline_cache_uuid[i])
		d.DeviceUUID[i] = byte(o.device_uuid[i])
		d.DriverUUID[i] = byte(o.driver_uuid[i])
	}
	return d
}

// MemoryType is one VkMemoryType.
type MemoryType struct {
	Flags     uint32
	HeapIndex uint32
}

// MemoryHeap is one VkMemoryHeap.
type MemoryHeap struct {
	Size  uint64
	Flags uint32
}

// Memory property and heap flags.
const (
	MemoryDeviceLocal  = uint32(vulkan.MemoryPropertyDeviceLocalBit)
	MemoryHostVisible  = uint32(vulkan.MemoryPropertyHostVisibleBit)
	MemoryHostCoherent = uint32(vulkan.MemoryPropertyHostCoherentBit)
	MemoryHostCached   = uint32(vulkan.MemoryPropertyHostCachedBit)
	HeapDeviceLocal    = uint32(vulkan.MemoryHeapDeviceLocalBit)
)

// Memory returns the device's memory types and heaps.
func (p PhysicalDevice) Memory() ([]MemoryType, []MemoryHeap) {
	var mp vulkan.PhysicalDeviceMemoryProperties
	vulkan.GetPhysicalDeviceMemoryProperties(p.h, &mp)
	mp.Deref()
	types := make([]MemoryType, mp.MemoryTypeCount)
	for i := range types {
		t := mp.MemoryTypes[i]
		t.Deref()
		types[i] = MemoryType{Flags: uint32(t.PropertyFlags), HeapIndex: t.HeapIndex}
	}
	heaps := make([]MemoryHeap, mp.MemoryHeapCount)
	for i := range heaps {
		h := mp.MemoryHeaps[i]
		h.Deref()
		heaps[i] = MemoryHeap{Size: uint64(h.Size), Flags: uint32(h.Flags)}
	}
	return types, heaps
}

// HeapBudgets returns each heap's budget and current usage in bytes from
// VK_EXT_memory_budget; the caller checks that the device has the extension.
// It returns nil when the query is not available.
func (p PhysicalDevice) HeapBudgets() (budget, usage []uint64) {
	var b, u [16]C.uint64_t // VK_MAX_MEMORY_HEAPS
	n := C.vkinfer_heap_budgets(p.inst.c(), C.VkPhysicalDevice(unsafe.Pointer(p.h)), &b[0], &u[0], 16)
	if n == 0 {
		return nil, nil
	}
	budget, usage = make([]uint64, n), make([]uint64, n)
	for i := range budget {
		budget[i], usage[i] = uint64(b[i]), uint64(u[i])
	}
	return budget, usage
}

// QueueFamily is one VkQueueFamilyProperties.
type QueueFamily struct {
	Flags              uint32
	Count              uint32
	TimestampValidBits uint32
}

// Queue capability flags.
const (
	QueueCompute  = uint32(vulkan.QueueComputeBit)
	QueueGraphics = uint32(vulkan.QueueGraphicsBit)
	QueueTransfer = uint32(vulkan.QueueTransferBit)
)

// QueueFamilies lists the device's queue families.
func (p PhysicalDevice) QueueFamilies() []QueueFamily {
	var flags, counts, ts [64]C.uint32_t
	n := C.vkinfer_queue_families(p.inst.c(), C.VkPhysicalDevice(unsafe.Pointer(p.h)), &flags[0], &counts[0], &ts[0], 64)
	out := make([]QueueFamily, n)
	for i := range out {
		out[i] = QueueFamily{Flags: uint32(flags[i]), Count: uint32(counts[i]), TimestampValidBits: uint32(ts[i])}
	}
	return out
}

// Extensions lists the device extensions.
func (p PhysicalDevice) Extensions() ([]string, error) {
	buf := new([maxNames][256]C.char)
	var r C.VkResult
	n := C.vkinfer_device_extensions(p.inst.c(), C.VkPhysicalDevice(unsafe.Pointer(p.h)), &buf[0], maxNames, &r)
	if r < 0 {
		return nil, &Error{Op: "vkEnumerateDeviceExtensionProperties", Result: int32(r)}
	}
	return names(buf, n), nil
}
