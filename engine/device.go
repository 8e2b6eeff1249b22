// Package engine is vkinfer's Vulkan runtime: it chooses a device on any Vulkan
// implementation, pools device memory, builds compute pipelines from the
// committed SPIR-V, records command buffers once and resubmits them.
//
// It knows nothing of models or files. The layers package builds on it.
//
// Concurrency: a Device is safe for concurrent use by multiple goroutines;
// buffers may be created and closed concurrently, pipelines are cached under a
// lock and compiled on background goroutines (one per CPU at most, so a
// model's pipelines compile in parallel while it is recorded), and
// submissions to the queue are serialised. A Program may be run from
// many goroutines: runs of one Program are serialised, runs of different
// Programs overlap on the GPU. A Recorder is for one goroutine.
package engine

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// DeviceType is the kind of a physical device.
type DeviceType uint32

// Device types, in Vulkan's numbering.
const (
	TypeOther DeviceType = iota
	TypeIntegrated
	TypeDiscrete
	TypeVirtual
	TypeCPU
)

func (t DeviceType) String() string {
	switch t {
	case TypeIntegrated:
		return "integrated GPU"
	case TypeDiscrete:
		return "discrete GPU"
	case TypeVirtual:
		return "virtual GPU"
	case TypeCPU:
		return "CPU"
	}
	return "other"
}

// rank orders device types for automatic choice: higher is preferred.
func (t DeviceType) rank() int {
	switch t {
	case TypeDiscrete:
		return 4
	case TypeIntegrated:
		return 3
	case TypeVirtual:
		return 2
	case TypeCPU:
		return 1
	}
	return 0
}

// Known VkDriverId values the engine tunes for.
const (
	DriverNVIDIA      = 4
	DriverAMDOpen     = 1
	DriverAMDProp     = 2
	DriverIntelMesa   = 6
	DriverLavapipe    = 13 // VK_DRIVER_ID_MESA_LLVMPIPE
	DriverSwiftShader = 10 // VK_DRIVER_ID_GOOGLE_SWIFTSHADER
	DriverMoltenVK    = 14
)

// Heap is one device memory heap.
type Heap struct {
	Size        uint64
	DeviceLocal bool
}

// DeviceInfo describes one physical device.
type DeviceInfo struct {
	Index         int // position in enumeration order; VKINFER_DEVICE=<index> picks it
	Name          string
	Type          DeviceType
	VendorID      uint32
	DeviceID      uint32
	DriverID      uint32 // VkDriverId, 0 when unknown
	DriverName    string
	DriverInfo    string
	DriverVersion uint32
	APIVersion    string
	SubgroupOps   uint32 // VkSubgroupFeatureFlags usable in compute shaders; 0 when none
	SubgroupSize  uint32
	FP16          bool // shaderFloat16
	Int8          bool // shaderInt8
	Storage16     bool // storageBuffer16BitAccess; enabled on the device when present
	FP64          bool
	Int64         bool
	Timestamps    bool // compute queue supports timestamps
	UnifiedMemory bool // device-local memory the host can map (integrated GPUs, CPU drivers); false under LimitsMin
	// SignedZeroInfNanPreserve: the device promises to keep the sign of
	// zero, infinities and NaNs through fp32 arithmetic for shaders that
	// declare the SignedZeroInfNanPreserve execution mode
	// (shaderSignedZeroInfNanPreserveFloat32), and the engine declares it in
	// every shader. When false, kernels may flush -0 to +0 and NaN/Inf
	// results are not guaranteed (fast-math drivers).
	SignedZeroInfNanPreserve bool
	Heaps                    []Heap
	// Limits are the limits the engine works within: the device's own, or
	// the spec minimums when EmulatedLimits.
	Limits Limits
	// EmulatedLimits: Limits are clamped to SpecMinimumLimits and
	// device-local memory is treated as not host-visible (LimitsMin).
	EmulatedLimits bool
	// Staging: tensors (Weights and Activations buffers) live in memory the
	// host cannot map, so uploads, downloads and Program inputs and outputs
	// go through staging buffers and copy commands (discrete GPUs,
	// Options.ForceStaging, LimitsMin). Known once the device is open.
	Staging bool
	// Unsupported says why vkinfer cannot use the device (e.g. Vulkan 1.0
	// only); empty when it can.
	Unsupported       string
	PipelineCacheUUID [16]byte
	DriverUUID        [16]byte

	pd     vk.PhysicalDevice
	family int // compute queue family, -1 when none
	tsBits uint32
	api    uint32   // the API version usable: min(device, instance)
	exts   []string // device extensions
}

// String is a one-line summary.
func (i DeviceInfo) String() string {
	s := fmt.Sprintf("#%d %s (%s, %s, Vulkan %s, subgroup %d)", i.Index, i.Name, i.Type, i.Driver(), i.APIVersion, i.SubgroupSize)
	if i.EmulatedLimits {
		s += " [limits: Vulkan spec minimums]"
	}
	return s
}

// Driver names the driver and its version string.
func (i DeviceInfo) Driver() string {
	if i.DriverInfo != "" {
		return i.DriverName + " " + i.DriverInfo
	}
	if i.DriverName != "" {
		return i.DriverName
	}
	return fmt.Sprintf("driver %#x", i.DriverVersion)
}

// Options configure Open. The zero value is usable.
type Options struct {
	// Device picks the device: an index into ListDevices or a case-insensitive
	// substring of its name. Empty means $VKINFER_DEVICE, or else the best
	// device (discrete > integrated > virtual > CPU; of the CPU drivers,
	// lavapipe before SwiftShader).
	Device string
	// Validation enables the Khronos validation layer; its messages go to
	// OnMessage (or the logger) and are counted in Stats.ValidationMessages.
	Validation bool
	// OnMessage receives validation and driver warnings/errors. It may be
	// called from any goroutine.
	OnMessage func(severity, message string)
	// Logger receives notices (e.g. that a CPU driver was chosen). Nil means
	// slog.Default().
	Logger *slog.Logger
	// SpinWait is how long a run polls its fence before blocking; short work
	// finishes sooner when polled. Zero means 200µs; negative disables polling.
	SpinWait time.Duration
	// Timeout bounds one submission; past it a run fails with ErrTimeout
	// instead of hanging. Zero means 2 minutes.
	Timeout time.Duration
	// ForceStaging treats device memory as not host-visible, so every upload
	// and download goes through staging buffers and copy commands as on a
	// discrete GPU. For tests of that path on integrated and CPU devices.
	ForceStaging bool
	// BlockSize is the size of each device memory block buffers are
	// suballocated from. Zero means 64 MiB (clamped by device limits).
	BlockSize int64
	// Limits chooses the limits the engine works within: LimitsNative (the
	// device's own) or LimitsMin (the Vulkan spec's required minimums, with
	// device memory treated as not host-visible, so CPU drivers exercise
	// what the least capable GPU allows). Empty means $VKINFER_LIMITS
	// ("min" or "native"), else native.
	Limits LimitsMode
	// PipelineCacheDir is where compiled pipelines are kept between runs,
	// one file per device and driver version (checksummed; a damaged or
	// stale file is ignored and replaced; anything but a regular file
	// there is left alone). Empty means $XDG_CACHE_HOME/vkinfer/pipelines
	// (os.UserCacheDir); "-" disables it. SwiftShader gets no file: its
	// cache data holds no compiled pipelines.
	PipelineCacheDir string
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// instance creates a Vulkan instance, with validation when asked.
func newInstance(opts *Options, onMsg vk.MessageFunc) (*vk.Instance, error) {
	if err := vk.Load(); err != nil {
		return nil, fmt.Errorf("engine: %w: %v; %s", ErrNoVulkan, err, noVulkanHelp())
	}
	guardMesaCache(opts.logger())
	api := vk.InstanceVersion()
	if max := vk.MakeVersion(1, 3, 0); api > max {
		api = max
	}
	var layers, exts []string
	if opts.Validation {
		have, err := vk.InstanceLayers()
		if err != nil {
			return nil, wrap(err, "list instance layers")
		}
		const layer = "VK_LAYER_KHRONOS_validation"
		if !contains(have, layer) {
			return nil, fmt.Errorf("engine: validation requested but %s is not installed (apt-get install vulkan-validationlayers)", layer)
		}
		layers = append(layers, layer)
		all, _ := vk.InstanceExtensions("")
		lext, _ := vk.InstanceExtensions(layer)
		if contains(all, "VK_EXT_debug_utils") || contains(lext, "VK_EXT_debug_utils") {
			exts = append(exts, "VK_EXT_debug_utils")
		}
	}
	var pinExts []string
	// Current loaders list portability implementations (MoltenVK on Apple
	// devices) only to instances that enable this and set its flag.
	if all, _ := vk.InstanceExtensions(""); contains(all, vk.PortabilityEnumeration) {
		exts = append(exts, vk.PortabilityEnumeration)
		pinExts = append(pinExts, vk.PortabilityEnumeration)
	}
	pinDrivers(api, pinExts)
	inst, err := vk.CreateInstance("vkinfer", api, layers, exts, onMsg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w: create instance: %v; %s", ErrNoVulkan, err, noVulkanHelp())
	}
	return inst, nil
}

// pinned is a Vulkan instance made once per process and never destroyed
// (nil if it could not be made).
//
// The Vulkan loader unloads a driver's shared library when the last
// instance is destroyed and loads it afresh for the next one. Drivers do not
// all survive that: SwiftShader keeps its JIT code in a memfd
// ("memfd:swiftshader_jit") held by a static of the library, which is
// forgotten, never closed, on unload, so every Open/Close cycle leaked one
// descriptor and the code pages behind it (about 1 MiB of RSS a cycle);
// lavapipe's LLVM leaks memory on each load too. With this instance alive
// the libraries stay loaded, their statics are reused, and a process that
// opens and closes devices for ever does not grow (see ./build.sh soak).
var (
	pinOnce sync.Once
	//lint:ignore U1000 only held: a live reference keeps the drivers loaded
	pinned *vk.Instance
)

func pinDrivers(api uint32, exts []string) {
	pinOnce.Do(func() {
		if os.Getenv("VKINFER_NO_DRIVER_PIN") == "1" {
			return // for measuring what the pin saves
		}
		pinned, _ = vk.CreateInstance("vkinfer (keeps drivers loaded)", api, nil, exts, nil)
	})
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// minAPI is the Vulkan version vkinfer needs: its SPIR-V is 1.3 (Vulkan 1.1).
var minAPI = vk.MakeVersion(1, 1, 0)

// unsupportedAPI says why a device of API version device, seen through an
// instance of version instance, cannot run vkinfer ("" when it can).
func unsupportedAPI(device, instance uint32) string {
	switch {
	case device < minAPI:
		return fmt.Sprintf("supports only Vulkan %s; vkinfer's shaders are SPIR-V 1.3 and need Vulkan 1.1 (update the driver)", vk.VersionString(device))
	case instance < minAPI:
		return fmt.Sprintf("is reached through a Vulkan loader that offers only Vulkan %s; vkinfer needs 1.1 (update the loader, libvulkan1)", vk.VersionString(instance))
	}
	return ""
}

func describe(idx int, pd vk.PhysicalDevice, instanceAPI uint32) DeviceInfo {
	p := pd.Properties()
	types, heaps := pd.Memory()
	info := DeviceInfo{
		Index: idx, Name: p.Name, Type: DeviceType(p.DeviceType),
		VendorID: p.VendorID, DeviceID: p.DeviceID, DriverID: p.DriverID,
		DriverName: p.DriverName, DriverInfo: p.DriverInfo, DriverVersion: p.DriverVersion,
		APIVersion:   vk.VersionString(p.APIVersion),
		SubgroupSize: p.SubgroupSize, FP16: p.ShaderFloat16, Int8: p.ShaderInt8, Storage16: p.StorageBuffer16,
		FP64: p.ShaderFloat64, Int64: p.ShaderInt64,
		PipelineCacheUUID: p.PipelineCacheUUID, DriverUUID: p.DriverUUID,
		Limits: Limits{
			MaxComputeWorkGroupInvocations:  p.MaxComputeWorkGroupInvocations,
			MaxComputeWorkGroupSize:         p.MaxComputeWorkGroupSize,
			MaxComputeWorkGroupCount:        p.MaxComputeWorkGroupCount,
			MaxComputeSharedMemorySize:      p.MaxComputeSharedMemorySize,
			MaxStorageBufferRange:           p.MaxStorageBufferRange,
			MaxTexelBufferElements:          p.MaxTexelBufferElements,
			MaxPushConstantsSize:            p.MaxPushConstantsSize,
			MaxMemoryAllocationCount:        p.MaxMemoryAllocationCount,
			MaxMemoryAllocationSize:         p.MaxMemoryAllocationSize,
			MinStorageBufferOffsetAlignment: p.MinStorageBufferOffsetAlignment,
			MinTexelBufferOffsetAlignment:   p.MinTexelBufferOffsetAlignment,
			NonCoherentAtomSize:             p.NonCoherentAtomSize,
			TimestampPeriodNs:               p.TimestampPeriod,
			MaxUniformBufferRange:           p.MaxUniformBufferRange,

			MaxBoundDescriptorSets:              p.MaxBoundDescriptorSets,
			MaxPerStageDescriptorStorageBuffers: p.MaxPerStageDescriptorStorageBuffers,
			MaxPerStageDescriptorUniformBuffers: p.MaxPerStageDescriptorUniformBuffers,
			MaxPerStageDescriptorSampledImages:  p.MaxPerStageDescriptorSampledImages,
			MaxPerStageDescriptorStorageImages:  p.MaxPerStageDescriptorStorageImages,
			MaxPerStageResources:                p.MaxPerStageResources,
			MaxDescriptorSetStorageBuffers:      p.MaxDescriptorSetStorageBuffers,
			MaxDescriptorSetUniformBuffers:      p.MaxDescriptorSetUniformBuffers,
			MaxDescriptorSetSampledImages:       p.MaxDescriptorSetSampledImages,
			MaxDescriptorSetStorageImages:       p.MaxDescriptorSetStorageImages,
			MaxPerSetDescriptors:                p.MaxPerSetDescriptors,
		},
		pd: pd, family: -1, api: min(p.APIVersion, instanceAPI),
	}
	info.exts, _ = pd.Extensions()
	// The execution mode is declared only where the device promises it
	// (and can accept the SPV_KHR_float_controls module: Vulkan 1.2, or the
	// extension, which Open enables).
	info.SignedZeroInfNanPreserve = p.FloatControls && p.SignedZeroInfNanPreserveFloat32 &&
		(info.api >= vk.MakeVersion(1, 2, 0) || contains(info.exts, floatControlsExt))
	info.Unsupported = unsupportedAPI(p.APIVersion, instanceAPI)
	for _, h := range heaps {
		info.Heaps = append(info.Heaps, Heap{Size: h.Size, DeviceLocal: h.Flags&vk.HeapDeviceLocal != 0})
	}
	for _, t := range types {
		if t.Flags&vk.MemoryDeviceLocal != 0 && t.Flags&vk.MemoryHostVisible != 0 {
			info.UnifiedMemory = true
		}
	}
	// Prefer a compute family without graphics (async compute on discrete
	// GPUs); any compute family will do.
	for i, f := range pd.QueueFamilies() {
		if f.Flags&vk.QueueCompute == 0 {
			continue
		}
		if info.family < 0 || f.Flags&vk.QueueGraphics == 0 && info.tsBits == 0 {
			info.family, info.tsBits = i, f.TimestampValidBits
		}
	}
	info.Timestamps = info.tsBits > 0 && p.TimestampPeriod > 0
	if p.SubgroupStages&0x20 != 0 { // VK_SHADER_STAGE_COMPUTE_BIT
		info.SubgroupOps = p.SubgroupOps
	}
	return info
}

// ListDevices enumerates every Vulkan device. It returns ErrNoVulkan when
// there is no loader or driver.
func ListDevices() ([]DeviceInfo, error) {
	mode, err := limitsMode("")
	if err != nil {
		return nil, err
	}
	inst, err := newInstance(&Options{}, nil)
	if err != nil {
		return nil, err
	}
	defer inst.Destroy()
	return enumerate(inst, mode)
}

// enumerate describes every device as the engine would use it under mode
// (ListDevices and `vkinfer devices` report emulated limits as such).
func enumerate(inst *vk.Instance, mode LimitsMode) ([]DeviceInfo, error) {
	pds, err := inst.PhysicalDevices()
	if err != nil {
		return nil, fmt.Errorf("engine: %w: enumerate devices: %v; %s", ErrNoVulkan, err, noVulkanHelp())
	}
	infos := make([]DeviceInfo, len(pds))
	for i, pd := range pds {
		infos[i] = describe(i, pd, inst.API)
		infos[i].applyLimits(mode)
	}
	return infos, nil
}

// Choose returns the index of the device that selector (an index or a name
// substring; empty for automatic) picks among infos.
func Choose(infos []DeviceInfo, selector string) (int, error) {
	var usable []DeviceInfo
	var skipped []string
	for _, d := range infos {
		switch {
		case d.Unsupported != "":
			skipped = append(skipped, fmt.Sprintf("#%d %s %s", d.Index, d.Name, d.Unsupported))
		case d.family < 0:
			skipped = append(skipped, fmt.Sprintf("#%d %s has no compute queue", d.Index, d.Name))
		default:
			usable = append(usable, d)
		}
	}
	if len(usable) == 0 {
		why := "no device with a compute queue"
		if len(skipped) > 0 {
			why = "no usable device: " + strings.Join(skipped, "; ")
		}
		return -1, fmt.Errorf("engine: %w: %s; %s", ErrNoVulkan, why, noVulkanHelp())
	}
	if selector = strings.TrimSpace(selector); selector != "" {
		if n, err := strconv.Atoi(selector); err == nil {
			for _, d := range usable {
				if d.Index == n {
					return n, nil
				}
			}
			for _, d := range infos {
				if d.Index == n && d.Unsupported != "" {
					return -1, fmt.Errorf("engine: %w: device %d (%s) %s", ErrUnsupported, n, d.Name, d.Unsupported)
				}
			}
			return -1, fmt.Errorf("engine: device %d does not exist (%s: %s); run `vkinfer devices` to list them", n, plural(len(infos), "device"), names(infos))
		}
		for _, d := range usable {
			if strings.Contains(strings.ToLower(d.Name), strings.ToLower(selector)) {
				return d.Index, nil
			}
		}
		for _, d := range infos {
			if d.Unsupported != "" && strings.Contains(strings.ToLower(d.Name), strings.ToLower(selector)) {
				return -1, fmt.Errorf("engine: %w: device %d (%s) %s", ErrUnsupported, d.Index, d.Name, d.Unsupported)
			}
		}
		return -1, fmt.Errorf("engine: no device name contains %q (devices: %s); run `vkinfer devices` to list them", selector, names(infos))
	}
	best := usable[0]
	for _, d := range usable[1:] {
		if better(d, best) {
			best = d
		}
	}
	return best.Index, nil
}

// better reports whether Choose prefers a to b: a better device type
// (discrete > integrated > virtual GPU > CPU), or the same type and a driver
// known to run vkinfer faster; otherwise the first enumerated wins.
func better(a, b DeviceInfo) bool {
	if a.Type.rank() != b.Type.rank() {
		return a.Type.rank() > b.Type.rank()
	}
	return a.driverRank() > b.driverRank()
}

// driverRank orders drivers of one device type by speed where it is known:
// of the CPU drivers, lavapipe runs vkinfer's MNIST MLP 5-6x faster at
// batch 1 and loads it 7-10x faster than SwiftShader: `vkinfer bench --model
// examples/mnist/mlp.bin --batch 1 --runs 200 --device llvmpipe` (then
// SwiftShader), twice each on a 2-core VM: p50 104-144 µs vs 673-757 µs,
// file to first result 148-165 ms vs 1.1-1.6 s.
func (i DeviceInfo) driverRank() int {
	if i.DriverID == DriverLavapipe {
		return 1
	}
	return 0
}

// ChoiceReason says why Choose, without a selector, picked the device
// infos[k] with Index chosen: for `vkinfer devices`.
func ChoiceReason(infos []DeviceInfo, chosen int) string {
	var c *DeviceInfo
	var others []DeviceInfo
	for i := range infos {
		d := &infos[i]
		switch {
		case d.Index == chosen:
			c = d
		case d.Unsupported == "" && d.family >= 0:
			others = append(others, *d)
		}
	}
	if c == nil {
		return ""
	}
	if len(others) == 0 {
		return "the only usable device"
	}
	sameType, slower := 0, 0
	for _, d := range others {
		if d.Type.rank() == c.Type.rank() {
			sameType++
			if c.driverRank() > d.driverRank() {
				slower++
			}
		}
	}
	switch {
	case sameType == 0:
		return fmt.Sprintf("the best device type here (%s; discrete > integrated > virtual GPU > CPU)", c.Type)
	case slower > 0 && c.DriverID == DriverLavapipe:
		return "of the CPU drivers, lavapipe runs vkinfer several times faster than SwiftShader"
	}
	return fmt.Sprintf("the first of %d devices of the best type here (%s)", sameType+1, c.Type)
}

// plural is "1 device", "2 devices".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func names(infos []DeviceInfo) string {
	var s []string
	for _, d := range infos {
		s = append(s, fmt.Sprintf("%d=%q", d.Index, d.Name))
	}
	return strings.Join(s, ", ")
}

// floatControlsExt declares the float-controls properties and the
// SignedZeroInfNanPreserve execution mode before Vulkan 1.2.
const floatControlsExt = "VK_KHR_shader_float_controls"

// deviceExtensions are the extensions Open enables on the device described
// by info: VK_KHR_portability_subset wherever offered (the spec requires it
// then), float controls on Vulkan 1.1 when shaders declare the
// preservation mode.
func deviceExtensions(info DeviceInfo) []string {
	var exts []string
	if contains(info.exts, vk.PortabilitySubset) {
		exts = append(exts, vk.PortabilitySubset)
	}
	if info.SignedZeroInfNanPreserve && info.api < vk.MakeVersion(1, 2, 0) {
		exts = append(exts, floatControlsExt)
	}
	return exts
}

// cpuNoticeGiven makes the "using a CPU driver" notice appear once per
// process, however many devices are opened.
var cpuNoticeGiven atomic.Bool

// Device is an opened Vulkan device with its queue, memory pools and pipeline
// cache. Close it when done.
type Device struct {
	info   DeviceInfo
	opts   Options
	log    *slog.Logger
	inst   *vk.Instance
	dev    *vk.Device
	mem    *memory
	pipes  pipelineCache
	queue  sync.Mutex // serialises vkQueueSubmit
	oneOff oneOff     // command pool + fence for synchronous transfers
	stats  counters
	closed atomic.Bool
	mu     sync.Mutex            // guards close and programs
	progs  map[*Program]struct{} // live programs, destroyed by Close

	// In-flight calls (enter/leave): Close waits for them to end before it
	// destroys anything, and refuses new ones from the moment it starts.
	useMu   sync.Mutex
	users   int
	closing bool
	idle    sync.Cond // signalled (with useMu) when users drops to 0
	once    sync.Once // Close's work runs once; later calls wait for it
}

// Open opens the device opts selects.
func Open(opts Options) (*Device, error) {
	mode, err := limitsMode(opts.Limits)
	if err != nil {
		return nil, err
	}
	if mode == LimitsMin {
		// The discrete-GPU path: tensors in memory the host cannot map.
		opts.ForceStaging = true
	}
	d := &Device{opts: opts, log: opts.logger(), progs: map[*Program]struct{}{}}
	d.idle.L = &d.useMu
	onMsg := vk.MessageFunc(func(sev vk.Severity, id, msg string) {
		d.stats.validation.Add(1)
		text := id + ": " + msg
		if opts.OnMessage != nil {
			opts.OnMessage(sev.String(), text)
		} else {
			d.log.Warn("vulkan "+sev.String(), "message", text)
		}
	})
	inst, err := newInstance(&d.opts, onMsg)
	if err != nil {
		return nil, err
	}
	infos, err := enumerate(inst, mode)
	if err != nil {
		inst.Destroy()
		return nil, err
	}
	sel := opts.Device
	if sel == "" {
		sel = os.Getenv("VKINFER_DEVICE")
	}
	idx, err := Choose(infos, sel)
	if err != nil {
		inst.Destroy()
		return nil, err
	}
	d.info = infos[idx]
	if d.info.Type == TypeCPU && sel == "" && !cpuNoticeGiven.Swap(true) {
		d.log.Info("vkinfer: no GPU found; using the CPU Vulkan driver "+d.info.Name+" (set VKINFER_DEVICE to choose another; `vkinfer devices` lists them)", "device", d.info.Name)
	}
	dev, err := vk.CreateDevice(d.info.pd, uint32(d.info.family), deviceExtensions(d.info), vk.DeviceFeatures{StorageBuffer16: d.info.Storage16})
	if err != nil {
		inst.Destroy()
		return nil, wrap(err, "create device on %s", d.info.Name)
	}
	d.inst, d.dev = inst, dev
	d.mem = newMemory(d)
	d.info.Staging = d.mem.staged()
	if err := d.oneOff.init(d); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.pipes.init(d); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Info describes the opened device.
func (d *Device) Info() DeviceInfo { return d.info }

// Close waits for the calls in flight on the device (runs, uploads,
// recordings; each ends within Options.Timeout), refuses new ones with
// ErrClosed from the moment it starts, then frees everything the device owns
// and destroys it. Runs queued behind another run of the same Program fail
// with ErrClosed rather than start. It is safe to call more than once and
// from several goroutines (later calls wait for the first). Buffers and
// Programs of the device fail with ErrClosed afterwards; closing them is a
// no-op. After Close, Stats reports no memory (allocations, arenas).
func (d *Device) Close() error {
	d.once.Do(d.close)
	return nil
}

func (d *Device) close() {
	d.useMu.Lock()
	d.closing = true
	for d.users > 0 {
		d.idle.Wait()
	}
	d.useMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed.Store(true)
	if d.dev != nil {
		d.pipes.quiesce() // no more compilations; theirs go into the saved cache
		_ = d.dev.WaitIdle()
		d.savePipeCache()
		for p := range d.progs {
			p.destroy()
		}
		d.pipes.destroy(d)
		d.oneOff.destroy(d)
		d.mem.destroy()
		d.dev.Destroy()
	}
	if d.inst != nil {
		d.inst.Destroy()
	}
}

// enter registers a call that uses the Vulkan device; it fails with
// ErrClosed once Close has started. Every enter is paired with a leave.
// Calls may nest (a call in flight may enter again).
func (d *Device) enter() error {
	d.useMu.Lock()
	defer d.useMu.Unlock()
	if d.closing {
		return ErrClosed
	}
	d.users++
	return nil
}

func (d *Device) leave() {
	d.useMu.Lock()
	d.users--
	if d.users == 0 && d.closing {
		d.idle.Broadcast()
	}
	d.useMu.Unlock()
}

// closingNow reports whether Close has started (calls in flight may still
// be finishing).
func (d *Device) closingNow() bool {
	d.useMu.Lock()
	defer d.useMu.Unlock()
	return d.closing
}

func (d *Device) spin() uint64 {
	switch {
	case d.opts.SpinWait < 0:
		return 0
	case d.opts.SpinWait == 0:
		return uint64(200 * time.Microsecond)
	}
	return uint64(d.opts.SpinWait)
}

func (d *Device) timeout() time.Duration {
	if d.opts.Timeout > 0 {
		return d.opts.Timeout
	}
	return 2 * time.Minute
}
