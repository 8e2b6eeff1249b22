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
	uint32_t max_per_stage_descriptor_uniform_buffers;
	uint32_t max_per_stage_descriptor_sampled_images; // also counts uniform texel buffers
	uint32_t max_per_stage_descriptor_storage_images; // also counts storage texel buffers
	uint32_t max_per_stage_resources;
	uint32_t max_descriptor_set_storage_buffers;
	uint32_t max_descriptor_set_uniform_buffers;
	uint32_t max_descriptor_set_sampled_images;
	uint32_t max_descriptor_set_storage_images;
	uint32_t max_per_set_descriptors; // 0 when unknown (Vulkan 1.0 device)
	// VkPhysicalDeviceFloatControlsProperties (Vulkan 1.2 or VK_KHR_shader_float_controls)
	uint32_t float_controls;                        // the properties were read
	uint32_t signed_zero_inf_nan_preserve_float32;
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

// vkinfer_heap_budgets fills budget[i] and usage[i] for each memory heap from
// VK_EXT_memory_budget (the caller checked that the device has it). Returns
// the heap count, or 0 when vkGetPhysicalDeviceMemoryProperties2 is missing.
uint32_t vkinfer_heap_budgets(VkInstance instance, VkPhysicalDevice pd, uint64_t* budget, uint64_t* usage, uint32_t max);

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
	PFN_vkCreateComputePipelines create_compute;
	PFN_vkUpdateDescriptorSets update_sets;
	PFN_vkCmdPipelineBarrier cmd_barrier;
	PFN_vkCmdCopyBuffer cmd_copy;
	PFN_vkFlushMappedMemoryRanges flush;
	PFN_vkInvalidateMappedMemoryRanges invalidate;
} vkinfer_queue;

void vkinfer_queue_init(VkInstance instance, VkDevice device, VkQueue queue, vkinfer_queue* q);

// vkinfer_submit resets fence and submits one command buffer signalling it.
VkResult vkinfer_submit(const vkinfer_queue* q, VkCommandBuffer cmd, VkFence fence);
// vkinfer_wait polls the fence for up to spin_ns, then blocks for up to
// block_ns. Returns VK_SUCCESS, VK_TIMEOUT or an error.
VkResult vkinfer_wait(const vkinfer_queue* q, VkFence fence, uint64_t spin_ns, uint64_t block_ns);

// vkinfer_create_compute_pipeline creates a pipeline running "main" of
// module with nspec 32-bit specialization constants (ids[i] = values[i]).
// Every struct lives on this C stack for the whole call (the binding frees
// its converted arguments from a finalizer that can run mid-call).
VkResult vkinfer_create_compute_pipeline(const vkinfer_queue* q, VkPipelineCache cache, VkShaderModule module,
	VkPipelineLayout layout, const uint32_t* ids, const uint32_t* values, uint32_t nspec, VkPipeline* out);

// vkinfer_update_descriptors writes n bindings of set: a buffer range, or a
// texel view when views[i] is not null.
void vkinfer_update_descriptors(const vkinfer_queue* q, VkDescriptorSet set, uint32_t n, const uint32_t* bindings,
	const uint32_t* types, const VkBuffer* bufs, const uint64_t* offsets, const uint64_t* ranges, const VkBufferView* views);

// The calls below replace binding calls that take slices of structs: the
// binding converts those into C memory that it frees from a finalizer which
// can run before or during the call (see device.go).

// vkinfer_cmd_memory_barrier records one global memory barrier.
void vkinfer_cmd_memory_barrier(const vkinfer_queue* q, VkCommandBuffer cb, uint32_t src_stage, uint32_t dst_stage,
	uint32_t src_access, uint32_t dst_access);
// vkinfer_cmd_copy_buffer records one buffer copy region.
void vkinfer_cmd_copy_buffer(const vkinfer_queue* q, VkCommandBuffer cb, VkBuffer src, uint64_t src_off, VkBuffer dst,
	uint64_t dst_off, uint64_t size);
// vkinfer_map_range flushes (flush != 0) or invalidates one mapped range.
VkResult vkinfer_map_range(const vkinfer_queue* q, VkDeviceMemory mem, uint64_t off, uint64_t size, int flush);

// Enumerations fill names[max][256] (or the arrays) and return the count.
uint32_t vkinfer_instance_layers(char (*names)[256], uint32_t max, VkResult* res);
uint32_t vkinfer_instance_extensions(const char* layer, char (*names)[256], uint32_t max, VkResult* res);
uint32_t vkinfer_device_extensions(VkInstance instance, VkPhysicalDevice pd, char (*names)[256], uint32_t max, VkResult* res);
uint32_t vkinfer_queue_families(VkInstance instance, VkPhysicalDevice pd, uint32_t* flags, uint32_t* counts,
	uint32_t* ts_bits, uint32_t max);

#endif
