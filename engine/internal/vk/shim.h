// shim.h: the small C layer vkinfer needs beside github.com/goki/vulkan.
//
// The binding wraps Vulkan 1.0 only. This shim adds, through function pointers
// obtained from vkGetInstanceProcAddr/vkGetDeviceProcAddr at run time:
//   - the loader: dlopen("libvulkan.so.1") and dlsym("vkGetInstanceProcAddr"),
//     so a machine without Vulkan gets an error instead of a link failure;
//   - vkGetPhysicalDeviceProperties2/Features2 with the pNext chains we read
//     (driver, subgroup, float16/int8, 16-bit storage), flattened into one struct;
//   - a VK_EXT_debug_utils messenger whose callback reaches Go;
//   - the per-inference hot path (submit, poll the fence, then block), done in
//     one cgo call instead of several binding calls that each convert structs.
#ifndef VKINFER_SHIM_H
#define VKINFER_SHIM_H

#include <stdint.h>
#include <vulkan/vulkan.h>

// vkinfer_load opens the Vulkan loader: path, or libvulkan.so.1 (then
// libvulkan.so) when path is NULL. Returns NULL on success or a static
// message naming what failed.
const char* vkinfer_load(const char* path);
// vkinfer_gipa returns the loader's vkGetInstanceProcAddr (after vkinfer_load).
void* vkinfer_gipa(void);
// vkinfer_instance_version returns the loader's instance version (1.0 when
// vkEnumerateInstanceVersion is absent).
uint32_t vkinfer_instance_version(void);

typedef struct {
	uint32_t api_version, driver_version, vendor_id, device_id, device_type;
	char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
	uint8_t pipeline_cache_uuid[VK_UUID_SIZE];
	uint8_t device_uuid[VK_UUID_SIZE];
	uint8_t driver_uuid[VK_UUID_SIZE];
	uint32_t driver_id;
	char driver_name[VK_MAX_DRIVER_NAME_SIZE];
	char driver_info[VK_MAX_DRIVER_INFO_SIZE];
	uint32_t subgroup_size, subgroup_stages, subgroup_ops;
	uint32_t shader_float16, shader_int8, storage_buffer_16bit, storage_buffer_8bit;
	uint32_t shader_float64, shader_int64, shader_int16;
	// limits
	uint32_t max_compute_shared_memory_size;
	uint32_t max_compute_work_group_count[3];
	uint32_t max_compute_work_group_invocations;
	uint32_t max_compute_work_group_size[3];
	uint32_t max_storage_buffer_range;
	uint32_t max_uniform_buffer_range;
	uint32_t max_texel_buffer_elements;
	uint32_t max_push_constants_size;
	uint32_t max_memory_allocation_count;
	uint32_t max_bound_descriptor_sets;
	uint32_t max_per_stage_descriptor_storage_buffers;
	uint64_t min_storage_buffer_offset_alignment;
	uint64_t min_texel_buffer_offset_alignment;
	uint64_t non_coherent_atom_size;
	uint64_t max_memory_allocation_size; // 0 when unknown (Vulkan 1.0 device)
	float timestamp_period;
	uint32_t timestamp_compute_and_graphics;
} vkinfer_device_info;

// vkinfer_query_device fills out for one physical device. instance_api is the
// API version the instance was created with.
void vkinfer_query_device(VkInstance instance, uint32_t instance_api, VkPhysicalDevice pd, vkinfer_device_info* out);

// vkinfer_create_messenger installs a debug-utils messenger that forwards
// warnings and errors to the Go function vkinferGoDebugMessage with user.
VkResult vkinfer_create_messenger(VkInstance instance, uintptr_t user, VkDebugUtilsMessengerEXT* out);
void vkinfer_destroy_messenger(VkInstance instance, VkDebugUtilsMessengerEXT m);

// vkinfer_queue holds the device functions of the submit path.
typedef struct {
	VkDevice device;
	VkQueue queue;
	PFN_vkQueueSubmit submit;
	PFN_vkGetFenceStatus fence_status;
	PFN_vkWaitForFences wait_fences;
	PFN_vkResetFences reset_fences;
} vkinfer_queue;

void vkinfer_queue_init(VkInstance instance, VkDevice device, VkQueue queue, vkinfer_queue* q);

// vkinfer_submit resets fence and submits one command buffer signalling it.
VkResult vkinfer_submit(const vkinfer_queue* q, VkCommandBuffer cmd, VkFence fence);
// vkinfer_wait polls the fence for up to spin_ns, then blocks for up to
// block_ns. Returns VK_SUCCESS, VK_TIMEOUT or an error.
VkResult vkinfer_wait(const vkinfer_queue* q, VkFence fence, uint64_t spin_ns, uint64_t block_ns);

#endif
