package engine

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
	"github.com/vkinfer/vkinfer/spirv"
)

// Spec sets specialization constants by their GLSL names (as reflected in
// package spirv), e.g. {"TM": 4, "local_size_x": 64}. Booleans are 0 or 1.
type Spec map[string]uint32

// kernel is one shader module with its layouts, shared by all its pipelines.
type kernel struct {
	shader    *spirv.Shader
	words     []uint32 // the module as committed (for the shared-memory check)
	module    vk.ShaderModule
	setLayout vk.DescriptorSetLayout
	layout    vk.PipelineLayout
}

// Pipeline is a compute pipeline: a shader with its specialization constants
// fixed. Pipelines are cached by the Device and live until it closes.
//
// The driver compiles a pipeline in the background (Device.Pipeline returns
// at once), so the pipelines of a whole model compile in parallel while its
// commands are recorded; Recorder.Finish waits for the ones it uses.
type Pipeline struct {
	k     *kernel
	local [3]uint32
	key   string
	ready chan struct{} // closed once h or err is set
	h     vk.Pipeline
	err   error
}

// Wait blocks until the driver has compiled the pipeline and returns the
// error it reported, if any. Recorder.Finish calls it for every pipeline it
// records; call it to see a compilation error earlier.
func (p *Pipeline) Wait() error {
	<-p.ready
	return p.err
}

// LocalSize is the pipeline's workgroup size.
func (p *Pipeline) LocalSize() [3]uint32 { return p.local }

// Shader is the reflected shader the pipeline runs.
func (p *Pipeline) Shader() *spirv.Shader { return p.k.shader }

func (p *Pipeline) String() string { return p.key }

type pipelineCache struct {
	mu      sync.Mutex
	created int // pipelines created since open (0: nothing new to save)
	cache   vk.PipelineCache
	kernels map[string]*kernel
	pipes   map[string]*Pipeline
	// Background compilations: at most cap(slots) at once (one per CPU the
	// Go scheduler uses); quiesce (Close) waits for all of them.
	slots    chan struct{}
	compiles sync.WaitGroup
	closing  bool // set by quiesce: no new compilations
	// create is the driver call (replaced by tests to make it fail).
	create func(vk.PipelineCache, vk.ShaderModule, vk.PipelineLayout, []vk.Specialization) (vk.Pipeline, error)
}

func (c *pipelineCache) init(d *Device) error {
	pc, err := d.dev.CreatePipelineCache(d.loadPipeCache())
	if err != nil {
		// The driver refused the saved data: start empty.
		if pc, err = d.dev.CreatePipelineCache(nil); err != nil {
			return wrap(err, "create pipeline cache")
		}
	}
	c.cache = pc
	c.slots = make(chan struct{}, runtime.GOMAXPROCS(0))
	c.create = d.dev.CreateComputePipeline
	c.kernels = map[string]*kernel{}
	c.pipes = map[string]*Pipeline{}
	return nil
}

// quiesce refuses new pipelines from now on and waits for the compilations
// in flight: after it, nothing uses the cache or the device but destroy.
func (c *pipelineCache) quiesce() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.compiles.Wait()
}

func (c *pipelineCache) destroy(d *Device) {
	c.quiesce()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pipes { // failed pipelines have left the map
		d.dev.DestroyPipeline(p.h)
	}
	for _, k := range c.kernels {
		d.dev.DestroyPipelineLayout(k.layout)
		d.dev.DestroyDescriptorSetLayout(k.setLayout)
		d.dev.DestroyShaderModule(k.module)
	}
	d.dev.DestroyPipelineCache(c.cache)
	c.pipes, c.kernels = nil, nil
}

func descKind(k spirv.BindingKind) vk.DescriptorKind {
	switch k {
	case spirv.UniformBuffer:
		return vk.DescUniformBuffer
	case spirv.UniformTexelBuffer:
		return vk.DescUniformTexelBuffer
	case spirv.StorageTexelBuffer:
		return vk.DescStorageTexelBuffer
	}
	return vk.DescStorageBuffer
}

func (c *pipelineCache) kernel(d *Device, name string) (*kernel, error) {
	if k := c.kernels[name]; k != nil {
		return k, nil
	}
	sh, err := spirv.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	// Every descriptor-count and push-constant limit, before any layout is
	// created: past them creation is undefined behaviour, not an error.
	if err := d.kernelFits(sh); err != nil {
		return nil, err
	}
	words := sh.Words()
	k := &kernel{shader: sh, words: words}
	if d.info.SignedZeroInfNanPreserve {
		if words, err = declarePreserve(words); err != nil {
			return nil, fmt.Errorf("engine: shader %s: %w", name, err)
		}
	}
	if k.module, err = d.dev.CreateShaderModule(words); err != nil {
		return nil, wrap(err, "create shader module %s", name)
	}
	var lb []vk.LayoutBinding
	for _, b := range sh.Bindings {
		lb = append(lb, vk.LayoutBinding{Binding: b.Binding, Kind: descKind(b.Kind)})
	}
	if k.setLayout, err = d.dev.CreateDescriptorSetLayout(lb); err != nil {
		d.dev.DestroyShaderModule(k.module)
		return nil, wrap(err, "create descriptor set layout for %s", name)
	}
	if k.layout, err = d.dev.CreatePipelineLayout(k.setLayout, sh.PushConstantSize); err != nil {
		d.dev.DestroyDescriptorSetLayout(k.setLayout)
		d.dev.DestroyShaderModule(k.module)
		return nil, wrap(err, "create pipeline layout for %s", name)
	}
	c.kernels[name] = k
	return k, nil
}

// Pipeline returns the pipeline of shader name with the given constants,
// creating it on first use. Unknown constant names and workgroup sizes the
// device cannot run are errors. The driver compiles a new pipeline in the
// background: its errors (out of memory, a driver failure) come from
// Pipeline.Wait and from the Recorder.Finish that uses it, and a pipeline
// that failed is dropped from the cache, so the next request tries again.
func (d *Device) Pipeline(name string, spec Spec) (*Pipeline, error) {
	if err := d.enter(); err != nil {
		return nil, fmt.Errorf("engine: pipeline %s: %w", name, err)
	}
	defer d.leave()
	c := &d.pipes
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		// Close began after the check above.
		return nil, fmt.Errorf("engine: pipeline %s: %w", name, ErrClosed)
	}
	k, err := c.kernel(d, name)
	if err != nil {
		return nil, err
	}
	sh := k.shader
	values := map[uint32]uint32{}
	for _, sc := range sh.SpecConstants {
		values[sc.ID] = sc.Default
	}
	keys := make([]string, 0, len(spec))
	for n := range spec {
		keys = append(keys, n)
	}
	sort.Strings(keys)
	var key strings.Builder
	key.WriteString(name)
	for _, n := range keys {
		found := false
		for _, sc := range sh.SpecConstants {
			if sc.Name == n {
				values[sc.ID] = spec[n]
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("engine: shader %s has no specialization constant %q", name, n)
		}
		fmt.Fprintf(&key, " %s=%d", n, spec[n])
	}
	if p := c.pipes[key.String()]; p != nil {
		return p, nil
	}
	local := sh.LocalSize
	for i, id := range sh.LocalSizeIDs {
		if id >= 0 {
			local[i] = values[uint32(id)]
		}
	}
	lim := d.info.Limits
	inv := uint64(local[0]) * uint64(local[1]) * uint64(local[2])
	if inv == 0 || inv > uint64(lim.MaxComputeWorkGroupInvocations) || local[0] > lim.MaxComputeWorkGroupSize[0] ||
		local[1] > lim.MaxComputeWorkGroupSize[1] || local[2] > lim.MaxComputeWorkGroupSize[2] {
		return nil, fmt.Errorf("engine: %w: %s: workgroup %v exceeds %s's limits (%d invocations, size %v)%s",
			ErrUnsupported, key.String(), local, d.info.Name, lim.MaxComputeWorkGroupInvocations, lim.MaxComputeWorkGroupSize, d.limitsNote())
	}
	// Shared memory, with this pipeline's constants: the driver checks only
	// its own limit, not one clamped by LimitsMin.
	if shared, known, err := sharedBytes(k.words, values); err == nil && known && shared > uint64(lim.MaxComputeSharedMemorySize) {
		return nil, fmt.Errorf("engine: %w: %s: %d B of shared memory; %s allows %d%s",
			ErrUnsupported, key.String(), shared, d.info.Name, lim.MaxComputeSharedMemorySize, d.limitsNote())
	}
	ids := make([]uint32, 0, len(values))
	for id := range values {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	specs := make([]vk.Specialization, len(ids))
	for i, id := range ids {
		specs[i] = vk.Specialization{ID: id, Value: values[id]}
	}
	p := &Pipeline{k: k, local: local, key: key.String(), ready: make(chan struct{})}
	c.pipes[p.key] = p
	c.created++
	c.compiles.Add(1)
	go c.compile(d, p, specs)
	return p, nil
}

// compile creates p's driver pipeline, one of at most cap(c.slots) at once.
func (c *pipelineCache) compile(d *Device, p *Pipeline, specs []vk.Specialization) {
	defer c.compiles.Done()
	c.slots <- struct{}{}
	h, err := c.create(c.cache, p.k.module, p.k.layout, specs)
	<-c.slots
	if err != nil {
		p.err = wrap(err, "create pipeline %s", p.key)
		c.mu.Lock()
		if c.pipes[p.key] == p {
			delete(c.pipes, p.key)
		}
		c.mu.Unlock()
	} else {
		p.h = h
		d.stats.pipelines.Add(1)
	}
	close(p.ready)
}
