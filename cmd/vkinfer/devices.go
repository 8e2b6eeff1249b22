package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer/engine"
)

func init() { addCommand(newDevicesCmd) }

type devicesOptions struct {
	asJSON bool
	device string
}

func newDevicesCmd(e *env) *cobra.Command {
	var o devicesOptions
	c := &cobra.Command{
		Use:   "devices",
		Short: "list the Vulkan devices and which one is used",
		Long: `Lists every Vulkan device the loader finds: index, name, type, driver,
Vulkan version, subgroup size, fp16/int8 support, memory heaps and the compute
limits vkinfer relies on. The device the other commands would use is marked
with '*' and the reason: the one --device names, else $VKINFER_DEVICE, else
the best one (discrete > integrated > virtual GPU > CPU driver; of the CPU
drivers, lavapipe before SwiftShader, which runs vkinfer several times
slower; else the first listed).

Without a Vulkan loader or driver, says what to install and exits with 1.`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runDevices(e, &o, args) },
	}
	c.Flags().BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	c.Flags().StringVar(&o.device, "device", "", "mark the `device` this index or name substring picks instead of the default choice")
	return c
}

func runDevices(e *env, o *devicesOptions, pos []string) error {
	if len(pos) > 0 {
		return usagef("devices takes no arguments, got %q", pos)
	}
	infos, err := engine.ListDevices()
	if err != nil {
		return &cliError{msg: trimPrefixes(err.Error(), "engine: "), err: err}
	}
	sel, how := o.device, "chosen by --device "+o.device
	if sel == "" {
		if sel = os.Getenv("VKINFER_DEVICE"); sel != "" {
			how = "chosen by VKINFER_DEVICE=" + sel
		} else {
			how = "chosen automatically"
		}
	}
	chosen, chooseErr := engine.Choose(infos, sel)
	if how == "chosen automatically" {
		if why := engine.ChoiceReason(infos, chosen); why != "" {
			how += ": " + why
		}
	}
	if o.asJSON {
		if err := printDevicesJSON(e.stdout, infos, chosen); err != nil {
			return err
		}
	} else {
		printDevices(e.stdout, infos, chosen, how)
	}
	if chooseErr != nil {
		return &cliError{msg: trimPrefixes(chooseErr.Error(), "engine: "), err: chooseErr}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// bytesString formats a byte count with a binary unit.
func bytesString(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printDevices(w io.Writer, infos []engine.DeviceInfo, chosen int, how string) {
	if len(infos) == 0 {
		fmt.Fprintln(w, "no Vulkan devices")
		return
	}
	for i, d := range infos {
		if i > 0 {
			fmt.Fprintln(w)
		}
		mark, note := " ", ""
		if d.Index == chosen {
			mark, note = "*", "  ("+how+")"
		}
		l := d.Limits
		fmt.Fprintf(w, "%s #%d %s%s\n", mark, d.Index, d.Name, note)
		row := func(k, format string, args ...any) { fmt.Fprintf(w, "    %-13s %s\n", k, fmt.Sprintf(format, args...)) }
		row("type", "%s", d.Type)
		row("driver", "%s (driver id %d, version %#x)", d.Driver(), d.DriverID, d.DriverVersion)
		row("vendor", "%#04x, device %#04x", d.VendorID, d.DeviceID)
		row("Vulkan", "%s", d.APIVersion)
		row("subgroup", "%d", d.SubgroupSize)
		row("features", "fp16 %s, int8 %s, 16-bit storage %s, fp64 %s, int64 %s, timestamps %s",
			yesNo(d.FP16), yesNo(d.Int8), yesNo(d.Storage16), yesNo(d.FP64), yesNo(d.Int64), yesNo(d.Timestamps))
		var heaps []string
		for j, h := range d.Heaps {
			kind := "host"
			if h.DeviceLocal {
				kind = "device-local"
			}
			heaps = append(heaps, fmt.Sprintf("#%d %s %s", j, bytesString(h.Size), kind))
		}
		unified := ""
		if d.UnifiedMemory {
			unified = "; unified (device memory the host can map)"
		}
		row("memory", "%s%s", strings.Join(heaps, ", "), unified)
		row("workgroup", "at most %d invocations, size %d×%d×%d, count %d×%d×%d",
			l.MaxComputeWorkGroupInvocations,
			l.MaxComputeWorkGroupSize[0], l.MaxComputeWorkGroupSize[1], l.MaxComputeWorkGroupSize[2],
			l.MaxComputeWorkGroupCount[0], l.MaxComputeWorkGroupCount[1], l.MaxComputeWorkGroupCount[2])
		maxAlloc := "not reported"
		if l.MaxMemoryAllocationSize > 0 {
			maxAlloc = bytesString(l.MaxMemoryAllocationSize)
		}
		row("limits", "shared memory %s, storage buffer range %s, push constants %d B, allocation %s (at most %d allocations)",
			bytesString(uint64(l.MaxComputeSharedMemorySize)), bytesString(uint64(l.MaxStorageBufferRange)),
			l.MaxPushConstantsSize, maxAlloc, l.MaxMemoryAllocationCount)
		row("alignment", "storage buffer offset %d B, non-coherent atom %d B", l.MinStorageBufferOffsetAlignment, l.NonCoherentAtomSize)
		row("descriptors", "per stage: %d storage buffers, %d uniform texel buffers, %d resources",
			l.MaxPerStageDescriptorStorageBuffers, l.MaxPerStageDescriptorSampledImages, l.MaxPerStageResources)
		if d.EmulatedLimits {
			row("emulated", "limits above are the Vulkan spec minimums (VKINFER_LIMITS=min), device memory treated as not host-visible")
		}
		if d.Unsupported != "" {
			row("unusable", "%s", d.Unsupported)
		}
	}
}

type deviceJSON struct {
	Index             int        `json:"index"`
	Chosen            bool       `json:"chosen"`
	Name              string     `json:"name"`
	Type              string     `json:"type"`
	VendorID          uint32     `json:"vendor_id"`
	DeviceID          uint32     `json:"device_id"`
	DriverID          uint32     `json:"driver_id"`
	Driver            string     `json:"driver"`
	DriverVersion     uint32     `json:"driver_version"`
	APIVersion        string     `json:"api_version"`
	SubgroupSize      uint32     `json:"subgroup_size"`
	FP16              bool       `json:"fp16"`
	Int8              bool       `json:"int8"`
	Storage16         bool       `json:"storage16"`
	FP64              bool       `json:"fp64"`
	Int64             bool       `json:"int64"`
	Timestamps        bool       `json:"timestamps"`
	UnifiedMemory     bool       `json:"unified_memory"`
	EmulatedLimits    bool       `json:"emulated_limits"`
	Unsupported       string     `json:"unsupported,omitempty"`
	Heaps             []heapJSON `json:"heaps"`
	Limits            limitsJSON `json:"limits"`
	PipelineCacheUUID string     `json:"pipeline_cache_uuid"`
	DriverUUID        string     `json:"driver_uuid"`
}

type limitsJSON struct {
	MaxComputeWorkGroupInvocations  uint32    `json:"max_compute_workgroup_invocations"`
	MaxComputeWorkGroupSize         [3]uint32 `json:"max_compute_workgroup_size"`
	MaxComputeWorkGroupCount        [3]uint32 `json:"max_compute_workgroup_count"`
	MaxComputeSharedMemorySize      uint32    `json:"max_compute_shared_memory_size"`
	MaxStorageBufferRange           uint32    `json:"max_storage_buffer_range"`
	MaxPushConstantsSize            uint32    `json:"max_push_constants_size"`
	MaxMemoryAllocationCount        uint32    `json:"max_memory_allocation_count"`
	MaxMemoryAllocationSize         uint64    `json:"max_memory_allocation_size"`
	MinStorageBufferOffsetAlignment uint64    `json:"min_storage_buffer_offset_alignment"`
	NonCoherentAtomSize             uint64    `json:"non_coherent_atom_size"`
	MaxPerStageStorageBuffers       uint32    `json:"max_per_stage_descriptor_storage_buffers"`
	MaxPerStageSampledImages        uint32    `json:"max_per_stage_descriptor_sampled_images"`
	MaxPerStageResources            uint32    `json:"max_per_stage_resources"`
	MaxTexelBufferElements          uint32    `json:"max_texel_buffer_elements"`
	TimestampPeriodNs               float32   `json:"timestamp_period_ns"`
}

type heapJSON struct {
	Size        uint64 `json:"size"`
	DeviceLocal bool   `json:"device_local"`
}

func printDevicesJSON(w io.Writer, infos []engine.DeviceInfo, chosen int) error {
	out := make([]deviceJSON, 0, len(infos))
	for _, d := range infos {
		j := deviceJSON{
			Index: d.Index, Chosen: d.Index == chosen, Name: d.Name, Type: d.Type.String(),
			VendorID: d.VendorID, DeviceID: d.DeviceID, DriverID: d.DriverID, Driver: d.Driver(),
			DriverVersion: d.DriverVersion, APIVersion: d.APIVersion, SubgroupSize: d.SubgroupSize,
			FP16: d.FP16, Int8: d.Int8, Storage16: d.Storage16, FP64: d.FP64, Int64: d.Int64,
			Timestamps: d.Timestamps, UnifiedMemory: d.UnifiedMemory, EmulatedLimits: d.EmulatedLimits, Unsupported: d.Unsupported,
			Heaps:             []heapJSON{},
			PipelineCacheUUID: hex.EncodeToString(d.PipelineCacheUUID[:]), DriverUUID: hex.EncodeToString(d.DriverUUID[:]),
		}
		l := d.Limits
		j.Limits = limitsJSON{
			MaxComputeWorkGroupInvocations: l.MaxComputeWorkGroupInvocations,
			MaxComputeWorkGroupSize:        l.MaxComputeWorkGroupSize, MaxComputeWorkGroupCount: l.MaxComputeWorkGroupCount,
			MaxComputeSharedMemorySize: l.MaxComputeSharedMemorySize, MaxStorageBufferRange: l.MaxStorageBufferRange,
			MaxPushConstantsSize: l.MaxPushConstantsSize, MaxMemoryAllocationCount: l.MaxMemoryAllocationCount,
			MaxMemoryAllocationSize: l.MaxMemoryAllocationSize, MinStorageBufferOffsetAlignment: l.MinStorageBufferOffsetAlignment,
			NonCoherentAtomSize: l.NonCoherentAtomSize, TimestampPeriodNs: l.TimestampPeriodNs,
			MaxPerStageStorageBuffers: l.MaxPerStageDescriptorStorageBuffers, MaxPerStageSampledImages: l.MaxPerStageDescriptorSampledImages,
			MaxPerStageResources: l.MaxPerStageResources, MaxTexelBufferElements: l.MaxTexelBufferElements,
		}
		for _, h := range d.Heaps {
			j.Heaps = append(j.Heaps, heapJSON{Size: h.Size, DeviceLocal: h.DeviceLocal})
		}
		out = append(out, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
