#include "shim.h"

#include <dlfcn.h>
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
			return "cannot open the Vulkan loader named by VKINFER_VULKAN_LIBRARY";
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
	VkExtensionProperties props[512];
	if (n > 512) n = 512;
	if (f(pd, NULL, &n, props) < 0) {
		return 0;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (strcmp(props[i].extensionName, name) == 0) return 1;
	}
	return 0;
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

	VkPhysicalDeviceProperties2 p2 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
	VkPhysicalDeviceSubgroupProperties sub = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
	VkPhysicalDeviceDriverProperties drv = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
	VkPhysicalDeviceMaintenance3Properties m3 = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
	VkPhysicalDeviceIDProperties idp = {VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
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
			props2(pd, &p2);
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
	out->min_storage_buffer_offset_alignment = l->minStorageBufferOffsetAlignment;
	out->min_texel_buffer_offset_alignment = l->minTexelBufferOffsetAlignment;
	out->non_coherent_atom_size = l->nonCoherentAtomSize;
	out->timestamp_period = l->timestampPeriod;
	out->timestamp_compute_and_graphics = l->timestampComputeAndGraphics;
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
