package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrNoVulkan: no Vulkan loader, no driver, or no device that can compute.
	ErrNoVulkan = errors.New("no usable Vulkan device")
	// ErrDeviceLost: the device was lost (driver crash, GPU reset, hang); the
	// Device must be closed and opened again.
	ErrDeviceLost = errors.New("Vulkan device lost") //lint:ignore ST1005 Vulkan is a name
	// ErrOutOfDeviceMemory: the device (or host) memory is exhausted.
	ErrOutOfDeviceMemory = errors.New("out of device memory")
	// ErrTimeout: the GPU did not finish a submission within Options.Timeout.
	ErrTimeout = errors.New("GPU work timed out")
	// ErrTooLarge: a tensor is larger than the device can bind in one
	// buffer (maxStorageBufferRange). vkinfer.Model.Run splits a batch
	// along its batch axis when it meets this error.
	ErrTooLarge = errors.New("tensor too large for the device")
	// ErrClosed: the Device, Buffer or Program was used after Close.
	ErrClosed = errors.New("use after Close")
	// ErrUnsupported: a kernel or buffer does not fit the device's limits
	// (descriptor counts, push constants, workgroup size); choose another
	// plan.
	ErrUnsupported = errors.New("not supported by the device")
)

// installHelp tells a user what to install.
const installHelp = "install a Vulkan loader and driver: on Debian/Ubuntu `apt-get install libvulkan1 mesa-vulkan-drivers` " +
	"(lavapipe runs on any CPU), or your GPU vendor's driver; check with `vulkaninfo --summary`"

// noVulkanHelp tells a user what to do when no device is found: check the
// loader's driver variables when they are set (a wrong path there hides
// every driver), else install a loader and driver.
func noVulkanHelp() string {
	var notes []string
	for _, v := range []string{"VK_ICD_FILENAMES", "VK_DRIVER_FILES"} {
		val := os.Getenv(v)
		if val == "" {
			continue
		}
		var missing []string
		for _, p := range filepath.SplitList(val) {
			if _, err := os.Stat(p); p != "" && err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) > 0 {
			notes = append(notes, fmt.Sprintf("%s=%s names driver manifest(s) that do not exist (%s): fix or unset %s", v, val, strings.Join(missing, ", "), v))
		} else {
			notes = append(notes, fmt.Sprintf("%s=%s limits the loader to the driver(s) it names: check them or unset %s", v, val, v))
		}
	}
	if len(notes) > 0 {
		return strings.Join(notes, "; ") + "; otherwise " + installHelp
	}
	return installHelp
}

// vkErr wraps a failed Vulkan call with the operation and a sentinel where one fits.
type vkErr struct {
	op  string
	err error
}

func (e *vkErr) Error() string { return "engine: " + e.op + ": " + e.err.Error() }

func (e *vkErr) Unwrap() []error {
	var ve *vk.Error
	if errors.As(e.err, &ve) {
		switch ve.Result {
		case vk.ErrorOutOfDeviceMemory, vk.ErrorOutOfHostMemory, vk.ErrorTooManyObjects:
			return []error{e.err, ErrOutOfDeviceMemory}
		case vk.ErrorDeviceLost:
			return []error{e.err, ErrDeviceLost}
		case vk.ErrorIncompatibleDriver, vk.ErrorInitializationFail:
			return []error{e.err, ErrNoVulkan}
		}
	}
	return []error{e.err}
}

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &vkErr{op: fmt.Sprintf(format, args...), err: err}
}
