#include "shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cgo_export.h"

static PFN_vkGetInstanceProcAddr gipa = NULL;

const char* vkinfer_load(const char* path) {
	if (gipa != NULL) {
		return NULL;
	}
	void* lib = NULL;
	if (path != NULL) {
		lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (lib == NULL) {
			// Called once per process (sync.Once in Load): a static buffer
			// keeps dlerror's text, which names the file and the reason.
			static char msg[1024];
			const char* why = dlerror();
			snprintf(msg, sizeof msg, "cannot open the Vulkan loader named by VKINFER_VULKAN_LIBRARY: %s",
			         why != NULL ? why : path);
			return msg;
		}
	} else {
		lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
		if (lib == NULL) {
			lib = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
		}
	}
	if (lib == NULL) {
		return "cannot open the Vulkan loader libvulkan.so.1";
	}
	gipa = (PFN_vkGetInstanceProcAddr)dlsym(lib, "vkGetInstanceProcAddr");
	if (gipa == NULL) {
		return "libvulkan.so.1 has no vkGetInstanceProcAddr";
	}
	return NULL;
}

void* vkinfer_gipa(void) { return (void*)gipa; }

uint32_t vkinfer_instance_version(void) {
	PFN_vkEnumerateInstanceVersion f =
		(PFN_vkEnumerateInstanceVersion)gipa(NULL, "vkEnumerateInstanceVersion");
	uint32_t v = VK_API_VERSION_1_0;
	if (f != NULL && f(&v) != VK_SUCCESS) {
		v = VK_API_VERSION_1_0;
	}
	return v;
}

static int has_extension(VkInstance instance, VkPhysicalDevice pd, const char* name) {
	PFN_vkEnumerateDeviceExtensionProperties f =
		(PFN_vkEnumerateDeviceExtensionProperties)gipa(instance, "vkEnumerateDeviceExtensionProperties");
	uint32_t n = 0;
	if (f == NULL || f(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) {
		return 0;
	}
	// On the heap: hundreds of properties are ~130 KB, more than some
	// platforms' thread stacks.
	VkExtensionProperties* props = malloc(n * sizeof(*props));
	if (props == NULL) {
		return 0;
	}
	int found = 0;
	if (f(pd, NULL, &n, props) >= 0) {
		for (uint32_t i = 0; i < n && !found; i++) {
			found = strcmp(props[i].extensionName, name) == 0;
		}
	}
	free(props);
	return found;
}

void vkinfer_query_device(VkInstance instance, uint32_t instance_api, VkPhysicalDevice pd, vkinfer_device_info* out) {
	memset(out, 0, sizeof(*out));
	PFN_vkGetPhysicalDeviceProperties props1 =
		(PFN_vkGetPhysicalDeviceProperties)gipa(instance, "vkGetPhysicalDeviceProperties");
	PFN_vkGetPhysicalDeviceFeatures feats1 =
		(PFN_vkGetPhysicalDeviceFeatures)gipa(instance, "vkGetPhysicalDeviceFeatures");
	VkPhysicalDeviceProperties p;
	props1(pd, &p);
	VkPhysicalDeviceFeatures f;
	feats1(pd, &f);

	uint32_t api = p.apiVersion < instance_api ? p.apiVersion : instance_api;
	int v11 = api >= VK_API_VERSION_1_1;
	int v12 = api >= VK_API_VERSION_1_2;
	int driver_ext = v12 || has_extension(instance, pd, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
	int f16_ext = v12 || has_extension(instance, pd, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
	int fc_ext = v12 || has_extension(instance, pd, VK_KHR_SHADER_FLOAT_CONTROLS_EXTENSION_NAME);

	VkPhysicalDeviceProperties2 p2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
	VkPhysicalDeviceSubgroupProperties sub = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
	VkPhysicalDeviceDriverProperties drv = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
	VkPhysicalDeviceMaintenance3Properties m3 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
	VkPhysicalDeviceIDProperties idp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
	VkPhysicalDeviceFloatControlsProperties fc = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FLOAT_CONTROLS_PROPERTIES};
	VkPhysicalDeviceFeatures2 f2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
	VkPhysicalDeviceShaderFloat16Int8Features f16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
	VkPhysicalDevice16BitStorageFeatures s16 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
	VkPhysicalDevice8BitStorageFeatures s8 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};

	if (v11) {
		PFN_vkGetPhysicalDeviceProperties2 props2 =
			(PFN_vkGetPhysicalDeviceProperties2)gipa(instance, "vkGetPhysicalDeviceProperties2");
		PFN_vkGetPhysicalDeviceFeatures2 feats2 =
			(PFN_vkGetPhysicalDeviceFeatures2)gipa(instance, "vkGetPhysicalDeviceFeatures2");
		if (props2 != NULL) {
			void** tail = &p2.pNext;
			*tail = &sub; tail = &sub.pNext;
			*tail = &m3; tail = &m3.pNext;
			*tail = &idp; tail = &idp.pNext;
			if (driver_ext) { *tail = &drv; tail = &drv.pNext; }
			if (fc_ext) { *tail = &fc; tail = &fc.pNext; }
			props2(pd, &p2);
			out->max_per_set_descriptors = m3.maxPerSetDescriptors;
			if (fc_ext) {
				out->float_controls = 1;
				out->signed_zero_inf_nan_preserve_float32 = fc.shaderSignedZeroInfNanPreserveFloat32;
			}
			out->subgroup_size = sub.subgroupSize;
			out->subgroup_stages = sub.supportedStages;
			out->subgroup_ops = sub.supportedOperations;
			out->max_memory_allocation_size = m3.maxMemoryAllocationSize;
			memcpy(out->device_uuid, idp.deviceUUID, VK_UUID_SIZE);
			memcpy(out->driver_uuid, idp.driverUUID, VK_UUID_SIZE);
			if (driver_ext) {
				out->driver_id = drv.driverID;
				memcpy(out->driver_name, drv.driverName, VK_MAX_DRIVER_NAME_SIZE);
				memcpy(out->driver_info, drv.driverInfo, VK_MAX_DRIVER_INFO_SIZE);
				out->driver_name[VK_MAX_DRIVER_NAME_SIZE - 1] = 0;
				out->driver_info[VK_MAX_DRIVER_INFO_SIZE - 1] = 0;
			}
		}
		if (feats2 != NULL) {
			void** tail = &f2.pNext;
			*tail = &s16; tail = &s16.pNext;
			if (v12 || has_extension(instance, pd, VK_KHR_8BIT_STORAGE_EXTENSION_NAME)) { *tail = &s8; tail = &s8.pNext; }
			if (f16_ext) { *tail = &f16; tail = &f16.pNext; }
			feats2(pd, &f2);
			out->shader_float16 = f16.shaderFloat16;
			out->shader_int8 = f16.shaderInt8;
			out->storage_buffer_16bit = s16.storageBuffer16BitAccess;
			out->storage_buffer_8bit = s8.storageBuffer8BitAccess;
		}
	}

	out->api_version = p.apiVersion;
	out->driver_version = p.driverVersion;
	out->vendor_id = p.vendorID;
	out->device_id = p.deviceID;
	out->device_type = p.deviceType;
	memcpy(out->name, p.deviceName, VK_MAX_PHYSICAL_DEVICE_NAME_SIZE);
	out->name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE - 1] = 0;
	memcpy(out->pipeline_cache_uuid, p.pipelineCacheUUID, VK_UUID_SIZE);
	out->shader_float64 = f.shaderFloat64;
	out->shader_int64 = f.shaderInt64;
	out->shader_int16 = f.shaderInt16;

	VkPhysicalDeviceLimits* l = &p.limits;
	out->max_compute_shared_memory_size = l->maxComputeSharedMemorySize;
	for (int i = 0; i < 3; i++) {
		out->max_compute_work_group_count[i] = l->maxComputeWorkGroupCount[i];
		out->max_compute_work_group_size[i] = l->maxComputeWorkGroupSize[i];
	}
	out->max_compute_work_group_invocations = l->maxComputeWorkGroupInvocations;
	out->max_storage_buffer_range = l->maxStorageBufferRange;
	out->max_uniform_buffer_range = l->maxUniformBufferRange;
	out->max_texel_buffer_elements = l->maxTexelBufferElements;
	out->max_push_constants_size = l->maxPushConstantsSize;
	out->max_memory_allocation_count = l->maxMemoryAllocationCount;
	out->max_bound_descriptor_sets = l->maxBoundDescriptorSets;
	out->max_per_stage_descriptor_storage_buffers = l->maxPerStageDescriptorStorageBuffers;
	out->max_per_stage_descriptor_uniform_buffers = l->maxPerStageDescriptorUniformBuffers;
	out->max_per_stage_descriptor_sampled_images = l->maxPerStageDescriptorSampledImages;
	out->max_per_stage_descriptor_storage_images = l->maxPerStageDescriptorStorageImages;
	out->max_per_stage_resources = l->maxPerStageResources;
	out->max_descriptor_set_storage_buffers = l->maxDescriptorSetStorageBuffers;
	out->max_descriptor_set_uniform_buffers = l->maxDescriptorSetUniformBuffers;
	out->max_descriptor_set_sampled_images = l->maxDescriptorSetSampledImages;
	out->max_descriptor_set_storage_images = l->maxDescriptorSetStorageImages;
	out->min_storage_buffer_offset_alignment = l->minStorageBufferOffsetAlignment;
	out->min_texel_buffer_offset_alignment = l->minTexelBufferOffsetAlignment;
	out->non_coherent_atom_size = l->nonCoherentAtomSize;
	out->timestamp_period = l->timestampPeriod;
	out->timestamp_compute_and_graphics = l->timestampComputeAndGraphics;
}

uint32_t vkinfer_heap_budgets(VkInstance instance, VkPhysicalDevice pd, uint64_t* budget, uint64_t* usage, uint32_t max) {
	PFN_vkGetPhysicalDeviceMemoryProperties2 f =
		(PFN_vkGetPhysicalDeviceMemoryProperties2)gipa(instance, "vkGetPhysicalDeviceMemoryProperties2");
	if (f == NULL) {
		return 0;
	}
	VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
	VkPhysicalDeviceMemoryProperties2 mp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
	mp.pNext = &b;
	f(pd, &mp);
	uint32_t n = mp.memoryProperties.memoryHeapCount;
	if (n > max) n = max;
	for (uint32_t i = 0; i < n; i++) {
		budget[i] = b.heapBudget[i];
		usage[i] = b.heapUsage[i];
	}
	return n;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(
	VkDebugUtilsMessageSeverityFlagBitsEXT severity,
	VkDebugUtilsMessageTypeFlagsEXT types,
	const VkDebugUtilsMessengerCallbackDataEXT* data,
	void* user) {
	const char* id = data->pMessageIdName ? data->pMessageIdName : "";
	const char* msg = data->pMessage ? data->pMessage : "";
	vkinferGoDebugMessage((int)severity, (int)types, (char*)id, (char*)msg, (uintptr_t)user);
	return VK_FALSE;
}

VkResult vkinfer_create_messenger(VkInstance instance, uintptr_t user, VkDebugUtilsMessengerEXT* out) {
	PFN_vkCreateDebugUtilsMessengerEXT f =
		(PFN_vkCreateDebugUtilsMessengerEXT)gipa(instance, "vkCreateDebugUtilsMessengerEXT");
	if (f == NULL) {
		return VK_ERROR_EXTENSION_NOT_PRESENT;
	}
	VkDebugUtilsMessengerCreateInfoEXT ci = {VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
	ci.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
	ci.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
		VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
	ci.pfnUserCallback = debug_callback;
	ci.pUserData = (void*)user;
	return f(instance, &ci, NULL, out);
}

void vkinfer_destroy_messenger(VkInstance instance, VkDebugUtilsMessengerEXT m) {
	PFN_vkDestroyDebugUtilsMessengerEXT f =
		(PFN_vkDestroyDebugUtilsMessengerEXT)gipa(instance, "vkDestroyDebugUtilsMessengerEXT");
	if (f != NULL && m != VK_NULL_HANDLE) {
		f(instance, m, NULL);
	}
}

void vkinfer_queue_init(VkInstance instance, VkDevice device, VkQueue queue, vkinfer_queue* q) {
	PFN_vkGetDeviceProcAddr gdpa = (PFN_vkGetDeviceProcAddr)gipa(instance, "vkGetDeviceProcAddr");
	q->device = device;
	q->queue = queue;
	q->submit = (PFN_vkQueueSubmit)gdpa(device, "vkQueueSubmit");
	q->fence_status = (PFN_vkGetFenceStatus)gdpa(device, "vkGetFenceStatus");
	q->wait_fences = (PFN_vkWaitForFences)gdpa(device, "vkWaitForFences");
	q->reset_fences = (PFN_vkResetFences)gdpa(device, "vkResetFences");
	q->create_compute = (PFN_vkCreateComputePipelines)gdpa(device, "vkCreateComputePipelines");
	q->update_sets = (PFN_vkUpdateDescriptorSets)gdpa(device, "vkUpdateDescriptorSets");
	q->cmd_barrier = (PFN_vkCmdPipelineBarrier)gdpa(device, "vkCmdPipelineBarrier");
	q->cmd_copy = (PFN_vkCmdCopyBuffer)gdpa(device, "vkCmdCopyBuffer");
	q->flush = (PFN_vkFlushMappedMemoryRanges)gdpa(device, "vkFlushMappedMemoryRanges");
	q->invalidate = (PFN_vkInvalidateMappedMemoryRanges)gdpa(device, "vkInvalidateMappedMemoryRanges");
}

void vkinfer_cmd_memory_barrier(const vkinfer_queue* q, VkCommandBuffer cb, uint32_t src_stage, uint32_t dst_stage,
	uint32_t src_access, uint32_t dst_access) {
	VkMemoryBarrier mb = {VK_STRUCTURE_TYPE_MEMORY_BARRIER};
	mb.srcAccessMask = src_access;
	mb.dstAccessMask = dst_access;
	q->cmd_barrier(cb, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

void vkinfer_cmd_copy_buffer(const vkinfer_queue* q, VkCommandBuffer cb, VkBuffer src, uint64_t src_off, VkBuffer dst,
	uint64_t dst_off, uint64_t size) {
	VkBufferCopy region = {src_off, dst_off, size};
	q->cmd_copy(cb, src, dst, 1, &region);
}

VkResult vkinfer_map_range(const vkinfer_queue* q, VkDeviceMemory mem, uint64_t off, uint64_t size, int flush) {
	VkMappedMemoryRange r = {VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
	r.memory = mem;
	r.offset = off;
	r.size = size;
	return flush ? q->flush(q->device, 1, &r) : q->invalidate(q->device, 1, &r);
}

uint32_t vkinfer_instance_layers(char (*names)[256], uint32_t max, VkResult* res) {
	PFN_vkEnumerateInstanceLayerProperties f =
		(PFN_vkEnumerateInstanceLayerProperties)gipa(NULL, "vkEnumerateInstanceLayerProperties");
	uint32_t n = max;
	VkLayerProperties* props = malloc((size_t)n * sizeof(*props));
	if (props == NULL) {
		*res = VK_ERROR_OUT_OF_HOST_MEMORY;
		return 0;
	}
	*res = f(&n, props);
	if (*res < 0) n = 0;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(names[i], props[i].layerName, 256);
		names[i][255] = 0;
	}
	free(props);
	return n;
}

// copy_names copies the names of n extension properties into names.
static uint32_t copy_names(const VkExtensionProperties* props, uint32_t n, char (*names)[256]) {
	for (uint32_t i = 0; i < n; i++) {
		memcpy(names[i], props[i].extensionName, 256);
		names[i][255] = 0;
	}
	return n;
}

uint32_t vkinfer_instance_extensions(const char* layer, char (*names)[256], uint32_t max, VkResult* res) {
	PFN_vkEnumerateInstanceExtensionProperties f =
		(PFN_vkEnumerateInstanceExtensionProperties)gipa(NULL, "vkEnumerateInstanceExtensionProperties");
	uint32_t n = max;
	VkExtensionProperties* props = malloc((size_t)n * sizeof(*props));
	if (props == NULL) {
		*res = VK_ERROR_OUT_OF_HOST_MEMORY;
		return 0;
	}
	*res = f(layer, &n, props);
	n = *res < 0 ? 0 : copy_names(props, n, names);
	free(props);
	return n;
}

uint32_t vkinfer_device_extensions(VkInstance instance, VkPhysicalDevice pd, char (*names)[256], uint32_t max, VkResult* res) {
	PFN_vkEnumerateDeviceExtensionProperties f =
		(PFN_vkEnumerateDeviceExtensionProperties)gipa(instance, "vkEnumerateDeviceExtensionProperties");
	uint32_t n = max;
	VkExtensionProperties* props = malloc((size_t)n * sizeof(*props));
	if (props == NULL) {
		*res = VK_ERROR_OUT_OF_HOST_MEMORY;
		return 0;
	}
	*res = f(pd, NULL, &n, props);
	n = *res < 0 ? 0 : copy_names(props, n, names);
	free(props);
	return n;
}

uint32_t vkinfer_queue_families(VkInstance instance, VkPhysicalDevice pd, uint32_t* flags, uint32_t* counts,
	uint32_t* ts_bits, uint32_t max) {
	PFN_vkGetPhysicalDeviceQueueFamilyProperties f =
		(PFN_vkGetPhysicalDeviceQueueFamilyProperties)gipa(instance, "vkGetPhysicalDeviceQueueFamilyProperties");
	VkQueueFamilyProperties props[64];
	uint32_t n = max < 64 ? max : 64;
	f(pd, &n, props);
	for (uint32_t i = 0; i < n; i++) {
		flags[i] = props[i].queueFlags;
		counts[i] = props[i].queueCount;
		ts_bits[i] = props[i].timestampValidBits;
	}
	return n;
}

VkResult vkinfer_create_compute_pipeline(const vkinfer_queue* q, VkPipelineCache cache, VkShaderModule module,
	VkPipelineLayout layout, const uint32_t* ids, const uint32_t* values, uint32_t nspec, VkPipeline* out) {
	VkSpecializationMapEntry entries[64];
	if (nspec > 64) {
		return VK_ERROR_INITIALIZATION_FAILED;
	}
	for (uint32_t i = 0; i < nspec; i++) {
		entries[i].constantID = ids[i];
		entries[i].offset = 4 * i;
		entries[i].size = 4;
	}
	VkSpecializationInfo spec = {nspec, entries, 4 * (size_t)nspec, values};
	VkComputePipelineCreateInfo ci = {VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
	ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
	ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
	ci.stage.module = module;
	ci.stage.pName = "main";
	ci.stage.pSpecializationInfo = nspec > 0 ? &spec : NULL;
	ci.layout = layout;
	return q->create_compute(q->device, cache, 1, &ci, NULL, out);
}

void vkinfer_update_descriptors(const vkinfer_queue* q, VkDescriptorSet set, uint32_t n, const uint32_t* bindings,
	const uint32_t* types, const VkBuffer* bufs, const uint64_t* offsets, const uint64_t* ranges, const VkBufferView* views) {
	VkWriteDescriptorSet ws[32];
	VkDescriptorBufferInfo infos[32];
	if (n > 32) {
		n = 32;
	}
	for (uint32_t i = 0; i < n; i++) {
		VkWriteDescriptorSet w = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
		w.dstSet = set;
		w.dstBinding = bindings[i];
		w.descriptorCount = 1;
		w.descriptorType = (VkDescriptorType)types[i];
		if (views[i] != VK_NULL_HANDLE) {
			w.pTexelBufferView = &views[i];
		} else {
			infos[i].buffer = bufs[i];
			infos[i].offset = offsets[i];
			infos[i].range = ranges[i];
			w.pBufferInfo = &infos[i];
		}
		ws[i] = w;
	}
	q->update_sets(q->device, n, ws, 0, NULL);
}

VkResult vkinfer_submit(const vkinfer_queue* q, VkCommandBuffer cmd, VkFence fence) {
	VkResult r = q->reset_fences(q->device, 1, &fence);
	if (r != VK_SUCCESS) {
		return r;
	}
	VkSubmitInfo si = {VK_STRUCTURE_TYPE_SUBMIT_INFO};
	si.commandBufferCount = 1;
	si.pCommandBuffers = &cmd;
	return q->submit(q->queue, 1, &si, fence);
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

VkResult vkinfer_wait(const vkinfer_queue* q, VkFence fence, uint64_t spin_ns, uint64_t block_ns) {
	if (spin_ns > 0) {
		uint64_t end = now_ns() + spin_ns;
		do {
			VkResult r = q->fence_status(q->device, fence);
			if (r != VK_NOT_READY) {
				return r;
			}
		} while (now_ns() < end);
	}
	return q->wait_fences(q->device, 1, &fence, VK_TRUE, block_ns);
}
