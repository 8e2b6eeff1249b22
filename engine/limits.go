package engine

import (
	"fmt"
	"os"
	"strings"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
	"github.com/vkinfer/vkinfer/spirv"
)

// Limits are the device limits the engine reads; none are assumed. Every
// kernel and plan must fit them: with LimitsMin they are the Vulkan spec's
// required minimums, whatever the device offers.
type Limits struct {
	MaxComputeWorkGroupInvocations  uint32
	MaxComputeWorkGroupSize         [3]uint32
	MaxComputeWorkGroupCount        [3]uint32
	MaxComputeSharedMemorySize      uint32 // bytes of shared (workgroup) memory
	MaxStorageBufferRange           uint32 // bytes one storage-buffer descriptor may span
	MaxUniformBufferRange           uint32 // bytes one uniform-buffer descriptor may span
	MaxTexelBufferElements          uint32 // texels one texel-buffer view may span
	MaxPushConstantsSize            uint32 // bytes
	MaxMemoryAllocationCount        uint32
	MaxMemoryAllocationSize         uint64 // bytes; 0 when the device does not say (Vulkan 1.0)
	MinStorageBufferOffsetAlignment uint64
	MinTexelBufferOffsetAlignment   uint64
	NonCoherentAtomSize             uint64 // flush/invalidate granularity of non-coherent memory
	TimestampPeriodNs               float32

	// Descriptor counts (VkPhysicalDeviceLimits). Per spec, uniform texel
	// buffers count against the sampled-image limits and storage texel
	// buffers against the storage-image limits.
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
	MaxPerSetDescriptors                uint32 // VkPhysicalDeviceMaintenance3Properties; 0 when unknown
}

// LimitsMode says which limits a Device works within.
type LimitsMode string

// Limits modes.
const (
	// LimitsNative: the device's own limits.
	LimitsNative LimitsMode = "native"
	// LimitsMin: every limit clamped to the minimum (or, for alignments,
	// the maximum) the Vulkan specification requires of any device (see
	// SpecMinimumLimits), device-local memory treated as not host-visible,
	// as on a discrete GPU (uploads and downloads through staging), and
	// host-visible memory treated as not host-coherent (flushed and
	// invalidated in nonCoherentAtomSize units). For tests and CI on CPU
	// drivers: what passes this way fits every conformant device.
	LimitsMin LimitsMode = "min"
)

// limitsEnv names the environment variable that sets Options.Limits when it
// is empty: VKINFER_LIMITS=min.
const limitsEnv = "VKINFER_LIMITS"

// limitsMode resolves a mode (empty: $VKINFER_LIMITS, then native).
func limitsMode(m LimitsMode) (LimitsMode, error) {
	src := "Options.Limits"
	if m == "" {
		m, src = LimitsMode(strings.TrimSpace(os.Getenv(limitsEnv))), limitsEnv
	}
	switch strings.ToLower(string(m)) {
	case "", string(LimitsNative):
		return LimitsNative, nil
	case string(LimitsMin):
		return LimitsMin, nil
	}
	return "", fmt.Errorf("engine: %s=%q is not a limits mode: use %q (the device's own) or %q (the Vulkan spec's required minimums)",
		src, string(m), LimitsNative, LimitsMin)
}

// SpecMinimumLimits are the least every Vulkan 1.1+ device must offer: the
// Vulkan 1.3 specification, chapter "Limits", table "Required Limits"
// (maxMemoryAllocationSize from VkPhysicalDeviceMaintenance3Properties,
// maxPerSetDescriptors likewise). Alignments and nonCoherentAtomSize are
// "max" limits there: the largest value a device may require.
// TimestampPeriodNs is not a required limit and keeps the device's value.
var SpecMinimumLimits = Limits{
	MaxComputeWorkGroupInvocations:      128,
	MaxComputeWorkGroupSize:             [3]uint32{128, 128, 64},
	MaxComputeWorkGroupCount:            [3]uint32{65535, 65535, 65535},
	MaxComputeSharedMemorySize:          16384,
	MaxStorageBufferRange:               1 << 27,
	MaxUniformBufferRange:               16384,
	MaxTexelBufferElements:              65536,
	MaxPushConstantsSize:                128,
	MaxMemoryAllocationCount:            4096,
	MaxMemoryAllocationSize:             1 << 30,
	MinStorageBufferOffsetAlignment:     256,
	MinTexelBufferOffsetAlignment:       256,
	NonCoherentAtomSize:                 256,
	MaxBoundDescriptorSets:              4,
	MaxPerStageDescriptorStorageBuffers: 4,
	MaxPerStageDescriptorUniformBuffers: 12,
	MaxPerStageDescriptorSampledImages:  16,
	MaxPerStageDescriptorStorageImages:  4,
	MaxPerStageResources:                128,
	MaxDescriptorSetStorageBuffers:      24,
	MaxDescriptorSetUniformBuffers:      72,
	MaxDescriptorSetSampledImages:       96,
	MaxDescriptorSetStorageImages:       24,
	MaxPerSetDescriptors:                1024,
}

// ClampToSpecMinimum returns l with every limit lowered to SpecMinimumLimits
// (alignments raised to theirs): the limits of the least capable conformant
// device that is otherwise like this one. An unknown (0)
// maxMemoryAllocationSize or maxPerSetDescriptors becomes the minimum.
func (l Limits) ClampToSpecMinimum() Limits {
	m := SpecMinimumLimits
	lo := func(v *uint32, min uint32) {
		if *v > min {
			*v = min
		}
	}
	hi := func(v *uint64, max uint64) {
		if *v < max {
			*v = max
		}
	}
	lo(&l.MaxComputeWorkGroupInvocations, m.MaxComputeWorkGroupInvocations)
	for i := range l.MaxComputeWorkGroupSize {
		lo(&l.MaxComputeWorkGroupSize[i], m.MaxComputeWorkGroupSize[i])
		lo(&l.MaxComputeWorkGroupCount[i], m.MaxComputeWorkGroupCount[i])
	}
	lo(&l.MaxComputeSharedMemorySize, m.MaxComputeSharedMemorySize)
	lo(&l.MaxStorageBufferRange, m.MaxStorageBufferRange)
	lo(&l.MaxUniformBufferRange, m.MaxUniformBufferRange)
	lo(&l.MaxTexelBufferElements, m.MaxTexelBufferElements)
	lo(&l.MaxPushConstantsSize, m.MaxPushConstantsSize)
	lo(&l.MaxMemoryAllocationCount, m.MaxMemoryAllocationCount)
	if l.MaxMemoryAllocationSize == 0 || l.MaxMemoryAllocationSize > m.MaxMemoryAllocationSize {
		l.MaxMemoryAllocationSize = m.MaxMemoryAllocationSize
	}
	hi(&l.MinStorageBufferOffsetAlignment, m.MinStorageBufferOffsetAlignment)
	hi(&l.MinTexelBufferOffsetAlignment, m.MinTexelBufferOffsetAlignment)
	hi(&l.NonCoherentAtomSize, m.NonCoherentAtomSize)
	lo(&l.MaxBoundDescriptorSets, m.MaxBoundDescriptorSets)
	lo(&l.MaxPerStageDescriptorStorageBuffers, m.MaxPerStageDescriptorStorageBuffers)
	lo(&l.MaxPerStageDescriptorUniformBuffers, m.MaxPerStageDescriptorUniformBuffers)
	lo(&l.MaxPerStageDescriptorSampledImages, m.MaxPerStageDescriptorSampledImages)
	lo(&l.MaxPerStageDescriptorStorageImages, m.MaxPerStageDescriptorStorageImages)
	lo(&l.MaxPerStageResources, m.MaxPerStageResources)
	lo(&l.MaxDescriptorSetStorageBuffers, m.MaxDescriptorSetStorageBuffers)
	lo(&l.MaxDescriptorSetUniformBuffers, m.MaxDescriptorSetUniformBuffers)
	lo(&l.MaxDescriptorSetSampledImages, m.MaxDescriptorSetSampledImages)
	lo(&l.MaxDescriptorSetStorageImages, m.MaxDescriptorSetStorageImages)
	if l.MaxPerSetDescriptors == 0 || l.MaxPerSetDescriptors > m.MaxPerSetDescriptors {
		l.MaxPerSetDescriptors = m.MaxPerSetDescriptors
	}
	return l
}

// applyLimits makes info describe the device as the engine will use it
// under mode.
func (info *DeviceInfo) applyLimits(mode LimitsMode) {
	if mode != LimitsMin {
		return
	}
	info.Limits = info.Limits.ClampToSpecMinimum()
	info.EmulatedLimits = true
	info.UnifiedMemory = false
}

// descriptor-count limit checks ---------------------------------------------

// descriptorCounts are a kernel's bindings by the limit they count against.
type descriptorCounts struct {
	storage, uniform, sampled, storageImage int
}

func countDescriptors(sh *spirv.Shader) descriptorCounts {
	var c descriptorCounts
	for _, b := range sh.Bindings {
		switch descKind(b.Kind) {
		case vk.DescUniformBuffer:
			c.uniform++
		case vk.DescUniformTexelBuffer:
			c.sampled++
		case vk.DescStorageTexelBuffer:
			c.storageImage++
		default:
			c.storage++
		}
	}
	return c
}

// descriptorFit returns nil when a kernel with these bindings in one set
// fits l's descriptor-count limits, or an error naming the first limit it
// exceeds.
func (l Limits) descriptorFit(name, device string, c descriptorCounts) error {
	total := c.storage + c.uniform + c.sampled + c.storageImage
	checks := []struct {
		n     int
		limit uint32
		what  string
	}{
		{c.storage, l.MaxPerStageDescriptorStorageBuffers, "maxPerStageDescriptorStorageBuffers"},
		{c.storage, l.MaxDescriptorSetStorageBuffers, "maxDescriptorSetStorageBuffers"},
		{c.uniform, l.MaxPerStageDescriptorUniformBuffers, "maxPerStageDescriptorUniformBuffers"},
		{c.uniform, l.MaxDescriptorSetUniformBuffers, "maxDescriptorSetUniformBuffers"},
		{c.sampled, l.MaxPerStageDescriptorSampledImages, "maxPerStageDescriptorSampledImages (uniform texel buffers)"},
		{c.sampled, l.MaxDescriptorSetSampledImages, "maxDescriptorSetSampledImages (uniform texel buffers)"},
		{c.storageImage, l.MaxPerStageDescriptorStorageImages, "maxPerStageDescriptorStorageImages (storage texel buffers)"},
		{c.storageImage, l.MaxDescriptorSetStorageImages, "maxDescriptorSetStorageImages (storage texel buffers)"},
		{total, l.MaxPerStageResources, "maxPerStageResources"},
		{total, l.MaxPerSetDescriptors, "maxPerSetDescriptors"},
	}
	for _, ch := range checks {
		// A limit of 0 means the device did not report it (only
		// maxPerSetDescriptors on Vulkan 1.0 devices, which are not used).
		if ch.limit != 0 && ch.n > int(ch.limit) {
			return fmt.Errorf("%w: shader %s binds %d descriptors counted by %s; %s allows %d",
				ErrUnsupported, name, ch.n, ch.what, device, ch.limit)
		}
	}
	return nil
}

// KernelFits reports whether shader name can run on the device: its
// descriptors fit the descriptor-count limits and its push constants fit
// maxPushConstantsSize. A nil error means Pipeline will not refuse it for
// those reasons; otherwise the error (wrapping ErrUnsupported) names the
// limit, and the caller should choose another plan (e.g. separate GEMMs
// instead of the fused dense chain).
func (d *Device) KernelFits(name string) error {
	sh, err := spirv.Lookup(name)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return d.kernelFits(sh)
}

func (d *Device) kernelFits(sh *spirv.Shader) error {
	l := d.info.Limits
	for _, b := range sh.Bindings {
		if b.Set != 0 {
			return fmt.Errorf("engine: %w: shader %s uses descriptor set %d; only set 0 is supported", ErrUnsupported, sh.Name, b.Set)
		}
	}
	if sh.PushConstantSize > l.MaxPushConstantsSize {
		return fmt.Errorf("engine: %w: shader %s needs %d B of push constants; %s allows %d%s",
			ErrUnsupported, sh.Name, sh.PushConstantSize, d.info.Name, l.MaxPushConstantsSize, d.limitsNote())
	}
	if err := l.descriptorFit(sh.Name, d.info.Name, countDescriptors(sh)); err != nil {
		return fmt.Errorf("engine: %w%s", err, d.limitsNote())
	}
	return nil
}

// limitsNote is appended to limit errors when the limits are emulated.
func (d *Device) limitsNote() string {
	if d.info.EmulatedLimits {
		return " (limits clamped to the Vulkan spec minimums by " + limitsEnv + "=min or Options.Limits)"
	}
	return ""
}
