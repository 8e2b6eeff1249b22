package engine

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// A generous device keeps nothing above the spec minimums; a meagre one
// keeps its own lower limits; alignments only grow.
func TestClampToSpecMinimum(t *testing.T) {
	big := Limits{
		MaxComputeWorkGroupInvocations: 1024, MaxComputeWorkGroupSize: [3]uint32{1024, 1024, 1024},
		MaxComputeWorkGroupCount: [3]uint32{1 << 31, 1 << 16, 1 << 16}, MaxComputeSharedMemorySize: 48 << 10,
		MaxStorageBufferRange: 1 << 31, MaxUniformBufferRange: 1 << 16, MaxTexelBufferElements: 1 << 27,
		MaxPushConstantsSize: 256, MaxMemoryAllocationCount: 1 << 20, MaxMemoryAllocationSize: 1 << 34,
		MinStorageBufferOffsetAlignment: 16, MinTexelBufferOffsetAlignment: 16, NonCoherentAtomSize: 64,
		MaxBoundDescriptorSets: 32, MaxPerStageDescriptorStorageBuffers: 1 << 20, MaxPerStageDescriptorUniformBuffers: 15,
		MaxPerStageDescriptorSampledImages: 1 << 20, MaxPerStageDescriptorStorageImages: 1 << 20, MaxPerStageResources: 1 << 20,
		MaxDescriptorSetStorageBuffers: 1 << 20, MaxDescriptorSetUniformBuffers: 90, MaxDescriptorSetSampledImages: 1 << 20,
		MaxDescriptorSetStorageImages: 1 << 20, MaxPerSetDescriptors: 1 << 20, TimestampPeriodNs: 1,
	}
	got := big.ClampToSpecMinimum()
	want := SpecMinimumLimits
	want.TimestampPeriodNs = 1
	require.Equal(t, want, got)

	small := SpecMinimumLimits
	small.MaxComputeWorkGroupInvocations = 64 // below the table: impossible, but kept
	small.MinStorageBufferOffsetAlignment = 1024
	small.MaxMemoryAllocationSize = 0 // Vulkan 1.0: unknown
	got = small.ClampToSpecMinimum()
	require.EqualValues(t, 64, got.MaxComputeWorkGroupInvocations)
	require.EqualValues(t, 1024, got.MinStorageBufferOffsetAlignment)
	require.EqualValues(t, 1<<30, got.MaxMemoryAllocationSize)
}

// Every descriptor-count limit is checked, each by its own count.
func TestDescriptorFit(t *testing.T) {
	l := SpecMinimumLimits
	require.NoError(t, l.descriptorFit("k", "dev", descriptorCounts{storage: 4, uniform: 12, sampled: 16, storageImage: 4}))
	for _, c := range []struct {
		counts descriptorCounts
		limit  string
	}{
		{descriptorCounts{storage: 5}, "maxPerStageDescriptorStorageBuffers"},
		{descriptorCounts{uniform: 13}, "maxPerStageDescriptorUniformBuffers"},
		{descriptorCounts{sampled: 17}, "maxPerStageDescriptorSampledImages"},
		{descriptorCounts{storageImage: 5}, "maxPerStageDescriptorStorageImages"},
	} {
		err := l.descriptorFit("k", "dev", c.counts)
		require.ErrorIs(t, err, ErrUnsupported)
		require.ErrorContains(t, err, c.limit)
	}
	l.MaxPerStageResources = 8
	require.ErrorContains(t, l.descriptorFit("k", "dev", descriptorCounts{storage: 4, sampled: 5}), "maxPerStageResources")
	l = SpecMinimumLimits
	l.MaxPerStageDescriptorStorageBuffers = 100
	l.MaxDescriptorSetStorageBuffers = 6
	require.ErrorContains(t, l.descriptorFit("k", "dev", descriptorCounts{storage: 7}), "maxDescriptorSetStorageBuffers")
}

func TestLimitsMode(t *testing.T) {
	t.Setenv(limitsEnv, "")
	m, err := limitsMode("")
	require.NoError(t, err)
	require.Equal(t, LimitsNative, m)
	t.Setenv(limitsEnv, "MIN")
	m, err = limitsMode("")
	require.NoError(t, err)
	require.Equal(t, LimitsMin, m)
	m, err = limitsMode(LimitsNative) // the option wins over the environment
	require.NoError(t, err)
	require.Equal(t, LimitsNative, m)
	t.Setenv(limitsEnv, "tiny")
	_, err = limitsMode("")
	require.ErrorContains(t, err, `VKINFER_LIMITS="tiny" is not a limits mode`)
	_, err = Open(Options{})
	require.ErrorContains(t, err, "VKINFER_LIMITS")
	_, err = ListDevices()
	require.ErrorContains(t, err, "VKINFER_LIMITS")
}

// Vulkan 1.0 devices (or a 1.0 loader) are skipped with the reason.
func TestUnsupportedAPI(t *testing.T) {
	v10, v11, v13 := vk.MakeVersion(1, 0, 68), vk.MakeVersion(1, 1, 0), vk.MakeVersion(1, 3, 0)
	require.Empty(t, unsupportedAPI(v11, v13))
	require.Empty(t, unsupportedAPI(v13, v11))
	require.Contains(t, unsupportedAPI(v10, v13), "supports only Vulkan 1.0.68")
	require.Contains(t, unsupportedAPI(v13, vk.MakeVersion(1, 0, 0)), "loader")

	old := DeviceInfo{Index: 0, Name: "Old GPU", Type: TypeDiscrete, family: 0, Unsupported: unsupportedAPI(v10, v13)}
	cpu := DeviceInfo{Index: 1, Name: "llvmpipe", Type: TypeCPU, family: 0}
	idx, err := Choose([]DeviceInfo{old, cpu}, "")
	require.NoError(t, err)
	require.Equal(t, 1, idx, "the 1.0 discrete GPU is skipped")
	_, err = Choose([]DeviceInfo{old, cpu}, "0")
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "Vulkan 1.0.68")
	_, err = Choose([]DeviceInfo{old, cpu}, "old")
	require.ErrorIs(t, err, ErrUnsupported)
	_, err = Choose([]DeviceInfo{old}, "")
	require.ErrorIs(t, err, ErrNoVulkan)
	require.ErrorContains(t, err, "Old GPU supports only Vulkan 1.0.68")
}

// The device extensions Open enables, from what the device offers.
func TestDeviceExtensions(t *testing.T) {
	require.Empty(t, deviceExtensions(DeviceInfo{api: vk.MakeVersion(1, 3, 0), exts: []string{"VK_KHR_foo"}}))
	require.Equal(t, []string{vk.PortabilitySubset},
		deviceExtensions(DeviceInfo{api: vk.MakeVersion(1, 3, 0), exts: []string{vk.PortabilitySubset}, SignedZeroInfNanPreserve: true}))
	require.Equal(t, []string{floatControlsExt},
		deviceExtensions(DeviceInfo{api: vk.MakeVersion(1, 1, 0), exts: []string{floatControlsExt}, SignedZeroInfNanPreserve: true}))
}

// The instance enables portability enumeration whenever the loader offers
// it (MoltenVK is listed only then).
func TestPortabilityEnumeration(t *testing.T) {
	inst, err := newInstance(&Options{}, nil)
	if errors.Is(err, ErrNoVulkan) {
		openInternal(t, Options{}) // skips, or fails under VKINFER_REQUIRE_DEVICE
	}
	require.NoError(t, err)
	defer inst.Destroy()
	all, err := vk.InstanceExtensions("")
	require.NoError(t, err)
	require.Equal(t, contains(all, vk.PortabilityEnumeration), contains(inst.Extensions, vk.PortabilityEnumeration))
}

// Under LimitsMin the engine works within the spec minimums: limits
// clamped, tensors staged, and a kernel with more storage buffers than
// maxPerStageDescriptorStorageBuffers refused before any layout is made.
func TestLimitsMinDevice(t *testing.T) {
	t.Setenv(limitsEnv, "")
	native := openInternal(t, Options{Limits: LimitsNative})
	d := openInternal(t, Options{Limits: LimitsMin})
	require.True(t, d.info.EmulatedLimits)
	require.False(t, native.info.EmulatedLimits)
	require.Equal(t, native.info.Limits.ClampToSpecMinimum(), d.info.Limits)
	require.False(t, d.info.UnifiedMemory)
	require.Contains(t, d.info.String(), "spec minimums")
	b, err := d.NewBuffer(Activations, 64)
	require.NoError(t, err)
	require.False(t, b.Mapped(), "device memory is not host-visible under LimitsMin")
	require.NoError(t, b.Write([]float32{1, 2, 3}))
	got := make([]float32, 3)
	require.NoError(t, b.Read(got))
	require.Equal(t, []float32{1, 2, 3}, got)

	require.NoError(t, d.KernelFits("relu"))
	require.NoError(t, native.KernelFits("dense_chain"))
	err = d.KernelFits("dense_chain")
	require.ErrorIs(t, err, ErrUnsupported)
	require.ErrorContains(t, err, "maxPerStageDescriptorStorageBuffers")
	require.ErrorContains(t, err, "VKINFER_LIMITS=min")
	kernels := len(d.pipes.kernels)
	_, err = d.Pipeline("dense_chain", nil)
	require.ErrorIs(t, err, ErrUnsupported)
	require.Len(t, d.pipes.kernels, kernels, "no module or layout made for a kernel that does not fit")
	_, err = d.Pipeline("relu", Spec{"local_size_x": 256})
	require.ErrorIs(t, err, ErrUnsupported, "256 invocations exceed the 128 of the spec minimum")

	t.Setenv(limitsEnv, "min")
	infos, err := ListDevices()
	require.NoError(t, err)
	for _, i := range infos {
		require.True(t, i.EmulatedLimits)
		require.LessOrEqual(t, i.Limits.MaxComputeWorkGroupInvocations, uint32(128))
	}
}
