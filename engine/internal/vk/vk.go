// Package vk is vkinfer's only cgo: it opens the Vulkan loader at run time,
// wraps the handful of github.com/goki/vulkan calls the engine needs behind
// Go-shaped functions that return errors, and adds a small C shim (shim.c) for
// what the binding lacks: the loader itself, vkGetPhysicalDeviceProperties2 and
// Features2 chains, a debug-utils messenger, and the submit/poll/wait hot path.
//
// The binding's pitfalls are handled here and nowhere else: create-info structs
// are freed after use, output structs are dereferenced, strings passed to C are
// NUL-terminated, handles are written to fresh locals, SPIR-V is copied into an
// aligned []uint32.
//
// Concurrency: functions on distinct objects may be called concurrently; Vulkan's
// external-synchronisation rules (one thread at a time per queue, command pool,
// descriptor pool) are the caller's to keep. The engine package keeps them.
package vk

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	vulkan "github.com/goki/vulkan"
)

// ErrNoLoader is returned when libvulkan.so.1 cannot be opened.
var ErrNoLoader = errors.New("vulkan loader not found")

// Error is a failed Vulkan call.
type Error struct {
	Op     string
	Result int32
}

func (e *Error) Error() string {
	return fmt.Sprintf("vulkan: %s: %s", e.Op, ResultName(e.Result))
}

// Result codes the engine tests for.
const (
	Success                 = 0
	NotReady                = 1
	Timeout                 = 2
	ErrorOutOfHostMemory    = -1
	ErrorOutOfDeviceMemory  = -2
	ErrorInitializationFail = -3
	ErrorDeviceLost         = -4
	ErrorLayerNotPresent    = -6
	ErrorExtensionMissing   = -7
	ErrorIncompatibleDriver = -9
	ErrorTooManyObjects     = -10
)

// ResultName names a VkResult.
func ResultName(r int32) string {
	switch r {
	case Success:
		return "VK_SUCCESS"
	case NotReady:
		return "VK_NOT_READY"
	case Timeout:
		return "VK_TIMEOUT"
	case ErrorOutOfHostMemory:
		return "VK_ERROR_OUT_OF_HOST_MEMORY"
	case ErrorOutOfDeviceMemory:
		return "VK_ERROR_OUT_OF_DEVICE_MEMORY"
	case ErrorInitializationFail:
		return "VK_ERROR_INITIALIZATION_FAILED"
	case ErrorDeviceLost:
		return "VK_ERROR_DEVICE_LOST"
	case -5:
		return "VK_ERROR_MEMORY_MAP_FAILED"
	case ErrorLayerNotPresent:
		return "VK_ERROR_LAYER_NOT_PRESENT"
	case ErrorExtensionMissing:
		return "VK_ERROR_EXTENSION_NOT_PRESENT"
	case -8:
		return "VK_ERROR_FEATURE_NOT_PRESENT"
	case ErrorIncompatibleDriver:
		return "VK_ERROR_INCOMPATIBLE_DRIVER"
	case ErrorTooManyObjects:
		return "VK_ERROR_TOO_MANY_OBJECTS"
	case -11:
		return "VK_ERROR_FORMAT_NOT_SUPPORTED"
	case -12:
		return "VK_ERROR_FRAGMENTED_POOL"
	case -13:
		return "VK_ERROR_UNKNOWN"
	case -1000069000:
		return "VK_ERROR_OUT_OF_POOL_MEMORY"
	}
	return fmt.Sprintf("VkResult(%d)", r)
}

func check(op string, r vulkan.Result) error {
	if r == vulkan.Success {
		return nil
	}
	return &Error{Op: op, Result: int32(r)}
}

var (
	loadOnce sync.Once
	loadErr  error
)

// Load opens libvulkan.so.1 (or the file named by $VKINFER_VULKAN_LIBRARY)
// and initialises the binding's global function pointers. It is safe to call
// many times; the work is done once per process.
func Load() error {
	loadOnce.Do(func() {
		var path *C.char
		if p := os.Getenv("VKINFER_VULKAN_LIBRARY"); p != "" {
			path = C.CString(p)
			defer C.free(unsafe.Pointer(path))
		}
		if msg := C.vkinfer_load(path); msg != nil {
			loadErr = fmt.Errorf("%w: %s", ErrNoLoader, C.GoString(msg))
			return
		}
		vulkan.SetGetInstanceProcAddr(C.vkinfer_gipa())
		if err := vulkan.Init(); err != nil {
			loadErr = fmt.Errorf("vulkan: init binding: %v", err)
		}
	})
	return loadErr
}

// InstanceVersion is the highest instance API version the loader offers.
func InstanceVersion() uint32 { return uint32(C.vkinfer_instance_version()) }

// MakeVersion packs a Vulkan API version.
func MakeVersion(major, minor, patch uint32) uint32 { return major<<22 | minor<<12 | patch }

// VersionString formats a packed Vulkan API version.
func VersionString(v uint32) string {
	return fmt.Sprintf("%d.%d.%d", v>>22&0x7f, v>>12&0x3ff, v&0xfff)
}

func cstr(s string) string { return s + "\x00" }

func cstrs(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = cstr(s)
	}
	return out
}

// names converts a filled char[n][256] array to strings.
func names(buf *[maxNames][256]C.char, n C.uint32_t) []string {
	out := make([]string, 0, n)
	for i := 0; i < int(n); i++ {
		out = append(out, C.GoString(&buf[i][0]))
	}
	return out
}

const maxNames = 512

// InstanceLayers lists the instance layers the loader can enable.
func InstanceLayers() ([]string, error) {
	buf := new([maxNames][256]C.char)
	var r C.VkResult
	n := C.vkinfer_instance_layers(&buf[0], maxNames, &r)
	if r < 0 {
		return nil, &Error{Op: "vkEnumerateInstanceLayerProperties", Result: int32(r)}
	}
	return names(buf, n), nil
}

// InstanceExtensions lists the instance extensions of the loader and of layer
// (empty for none).
func InstanceExtensions(layer string) ([]string, error) {
	var pl *C.char
	if layer != "" {
		pl = C.CString(layer)
		defer C.free(unsafe.Pointer(pl))
	}
	buf := new([maxNames][256]C.char)
	var r C.VkResult
	n := C.vkinfer_instance_extensions(pl, &buf[0], maxNames, &r)
	if r < 0 {
		return nil, &Error{Op: "vkEnumerateInstanceExtensionProperties", Result: int32(r)}
	}
	return names(buf, n), nil
}
