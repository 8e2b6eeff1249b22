package layers

import (
	"fmt"
	"math"
	"runtime"
	"strconv"

	"github.com/vkinfer/vkinfer/engine"
)

// MaxChainLayers is the most Dense layers one DenseChain dispatch runs
// (shaders/dense_chain.glsl binds four weights and four biases).
const MaxChainLayers = 4

// MaxChainRows is the largest batch a DenseChain runs: each invocation keeps
// a vec4 accumulator per row in registers.
const MaxChainRows = 16

// DenseChain runs consecutive Dense layers, optionally followed by a
// Softmax or LogSoftmax of each row, as ONE dispatch of one workgroup that
// keeps the activations between layers in shared memory
// (shaders/dense_chain.glsl). It is the small-batch path: a batch-1 layer is
// far cheaper than a dispatch on CPU drivers (each one wakes the driver's
// worker threads) and than the launch gaps between dispatches on GPUs. It
// reads the layers' weights where they are, in the layout NewGemmWeights
// chose, so it costs no device memory beyond a pipeline.
//
// The caller decides which layers may be chained: each layer's output must
// be read only by the next one.
type DenseChain struct {
	d      *engine.Device
	dense  []*dense
	final  *softmax // or nil
	texel  bool     // dense_chain_texel.comp
	ls     int      // workgroup size
	layers int      // layers of ls the chain covers
	split  int      // head only: column groups per workgroup (SPLIT), 0 otherwise

	// head and tail are the split form (RecordSplit): the first layer
	// alone spread over workgroups, and the other layers as one chain; nil
	// when the chain has no split form.
	head, tail *DenseChain

	// Budget is the most multiply-adds per run (rows x the layers' weights)
	// for which Fits accepts an input: beyond it separate GEMM dispatches,
	// which spread each layer over the whole device, are faster.
	// NewDenseChain sets it for the device; 0 never uses the chain.
	Budget int
}

// NewDenseChain returns a chain for the longest prefix of ls that one
// dispatch can run (Dense layers, up to MaxChainLayers, whose widths
// follow on, then at most one Softmax or LogSoftmax), and how many layers it
// covers. It returns nil, 0 when fewer than two layers qualify: one layer
// is one dispatch either way.
func NewDenseChain(d *engine.Device, ls []Layer) (*DenseChain, int) {
	c := &DenseChain{d: d}
	for _, l := range ls {
		if dl, ok := l.(*dense); ok && len(c.dense) < MaxChainLayers && chainable(dl) &&
			(len(c.dense) == 0 || c.dense[len(c.dense)-1].out == dl.in) {
			c.dense = append(c.dense, dl)
			continue
		}
		if sm, ok := l.(*softmax); ok && len(c.dense) > 0 {
			c.final = sm
		}
		break
	}
	c.layers = len(c.dense)
	if c.final != nil {
		c.layers++
	}
	if len(c.dense) == 0 || c.layers < 2 {
		return nil, 0
	}
	info := d.Info()
	c.texel = chainTexel(info, c.dense)
	// The chain binds ten buffers; devices with few descriptors per stage
	// (the spec minimum is 4 storage buffers, common on phones) run the
	// layers as separate GEMMs instead.
	if d.KernelFits(c.kernel()) != nil {
		return nil, 0
	}
	c.ls = 256
	if info.Type == engine.TypeCPU && info.SubgroupSize > 0 {
		// One SIMD vector: a CPU driver runs a workgroup on one thread
		// anyway, and lavapipe compiles a workgroup wider than its vector
		// with barriers into coroutines: ~35 ms more JIT at first use and
		// no faster (BenchmarkDenseChain, BenchmarkLoad).
		c.ls = int(info.SubgroupSize)
	}
	c.Budget = chainBudget(info)
	c.ls = min(c.ls, int(info.Limits.MaxComputeWorkGroupInvocations), int(info.Limits.MaxComputeWorkGroupSize[0]))
	if len(c.dense) >= 2 && (info.Type != engine.TypeCPU || runtime.NumCPU() > 1) {
		// (One CPU: a CPU driver has one thread, the split form one
		// dispatch more and nothing to gain.)
		if t, n := NewDenseChain(d, ls[1:c.layers]); t != nil && n == c.layers-1 {
			g := ceilDiv(c.dense[0].out, 4)
			c.tail = t
			c.head = &DenseChain{d: d, dense: c.dense[:1], texel: c.texel, ls: c.ls, layers: 1,
				split: ceilDiv(g, min(g, splitWorkgroups(info))), Budget: math.MaxInt}
		}
	}
	return c, c.layers
}

// splitWorkgroups is how many workgroups the split form spreads the first
// layer over: on a CPU driver twice its threads (lavapipe runs one
// workgroup per thread and starts as many threads as the machine has CPUs;
// two per thread even out a thread that starts late), on a GPU one per
// column group (capped by the caller).
func splitWorkgroups(info engine.DeviceInfo) int {
	if info.Type == engine.TypeCPU {
		return 2 * runtime.NumCPU()
	}
	return math.MaxInt32
}

// chainable reports whether the chain kernel reads l's weight layout:
// K-major panels or K x N row-major (the transposed N x K layout of the
// storage kernel on unknown CPU drivers is not).
func chainable(l *dense) bool {
	b := l.w.b
	return b.layout == bPanels && b.ld == roundUp(l.in, 4) ||
		b.layout == bRowMajor && b.ld == l.out
}

// panel returns the columns per panel of l's weights (N for row-major).
func panel(l *dense) int {
	if l.w.b.layout == bPanels {
		return l.w.b.panel
	}
	return l.out
}

// chainTexel reports whether the chain reads its weights (and its input x)
// as texel buffers: on lavapipe, where they were packed for gemm_texel.comp
// (four columns of a row are one texel, and every weight fits one texel
// view).
func chainTexel(info engine.DeviceInfo, ds []*dense) bool {
	if info.DriverID != engine.DriverLavapipe {
		return false
	}
	for _, l := range ds {
		if panel(l)%4 != 0 || !texelFits(info, l.w.b.buf.Len()) {
			return false
		}
	}
	return true
}

// kernel is the chain's shader.
func (c *DenseChain) kernel() string {
	if c.texel {
		return "dense_chain_texel"
	}
	return "dense_chain"
}

// Layers is how many of the layers given to NewDenseChain the chain runs.
func (c *DenseChain) Layers() int { return c.layers }

// chainBudget is the most multiply-adds per run for which the chain kernel
// beats separate dispatches on a device (measured by BenchmarkDenseChain,
// figures in docs/PERFORMANCE.md). On lavapipe a 784-128-256-10 MLP runs
// ~24% faster as a chain at batch 1 (135k), ~15% at batch 3 (407k) and
// breaks even at batch 4 (540k); a 64-128-256-10 one is 8-39% faster at
// batch 12 (522k): one workgroup runs on one thread, and past that the GEMM
// kernels' use of every thread wins (two vCPUs here; more cores move the
// break-even down).
// SwiftShader runs the chain kernel several times slower than its own
// dispatch overhead saves: never. GPUs: a workgroup streams 1M
// multiply-adds in a few µs, about a dispatch gap (not measured on a GPU
// yet).
func chainBudget(info engine.DeviceInfo) int {
	switch {
	case info.DriverID == engine.DriverSwiftShader:
		return 0
	case info.Type == engine.TypeCPU:
		return 500_000
	}
	return 1 << 20
}

// chainPlan is the chain specialised for a batch of m rows.
type chainPlan struct {
	m      int
	spec   engine.Spec
	groups int // workgroups
}

func (c *DenseChain) plan(in Shape) (chainPlan, bool) {
	info := c.d.Info()
	k0 := c.dense[0].in
	if len(in) == 0 || in[len(in)-1] != k0 {
		return chainPlan{}, false
	}
	m := in.Elems() / k0
	if m < 1 || m > MaxChainRows {
		return chainPlan{}, false
	}
	macs := 0
	for _, l := range c.dense {
		macs += m * l.in * l.out
	}
	if macs > c.Budget || c.texel && !texelFits(info, m*k0) {
		// (The texel variant reads x as a texel buffer too.)
		return chainPlan{}, false
	}
	last := c.dense[len(c.dense)-1].out
	final := uint32(0)
	if c.final != nil {
		out := append(Shape{}, in...)
		out[len(out)-1] = last
		sm, err := c.final.split(out)
		if err != nil || sm.Inner != 1 || sm.N != last {
			return chainPlan{}, false // not a softmax of each row
		}
		final = 1
		if c.final.log {
			final = 2
		}
	}
	q := func(n int) int { return (n + 3) / 4 }
	act := m * q(k0)
	if c.texel && k0%4 == 0 {
		// Layer 0 reads x itself (X_DIRECT in the shader): the input is
		// not staged. (Counting it kept the 784-wide mnist MLP to 5 rows
		// in lavapipe's 32 KiB; now 15.)
		act = 1
	}
	red := 1
	spec := engine.Spec{
		"local_size_x": u32(c.ls), "M": u32(m), "L": u32(len(c.dense)), "K0": u32(k0),
		"FINAL": final,
	}
	var relu, bias uint32
	groups := 1
	loops := 0
	for i, l := range c.dense {
		g := q(l.out)
		if c.split > 0 {
			groups = ceilDiv(g, c.split)
			g = c.split
			spec["SPLIT"] = u32(c.split)
		}
		// Slices of k fill the workgroup; each keeps at least 4 vec4 steps.
		s := max(1, min(c.ls/g, q(l.in)/4))
		s = ceilDiv(q(l.in), ceilDiv(q(l.in), s)) // no empty slices
		// One invocation runs ceil(g·s/LS) slices of ceil(K/4 / s) vec4
		// steps (each with a loop over the M rows) for every layer; past
		// lavapipe's loop limit (MaxInvocationLoops) it would stop short,
		// so such a chain does not run (separate GEMMs do, splitting K).
		loops += ceilDiv(g*s, c.ls) * (ceilDiv(q(l.in), s) + 4) * (1 + m)
		if s > 1 {
			red = max(red, s*m*g)
		}
		if i > 0 {
			act = max(act, m*q(l.in))
		}
		tag := strconv.Itoa(i)
		spec["N"+tag] = u32(l.out)
		spec["P"+tag] = u32(panel(l))
		spec["S"+tag] = u32(s)
		if l.relu {
			relu |= 1 << i
		}
		if l.b != nil {
			bias |= 1 << i
		}
	}
	if final != 0 {
		act = max(act, m*q(last))
		loops += 4 * last // the softmax's passes over a row
	}
	if loops > MaxInvocationLoops {
		return chainPlan{}, false
	}
	spec["RELU"], spec["BIAS"] = relu, bias
	spec["ACT4"], spec["RED4"] = u32(act), u32(red)
	if shared := 16 * (2*act + red); shared > int(info.Limits.MaxComputeSharedMemorySize) {
		return chainPlan{}, false
	}
	return chainPlan{m: m, spec: spec, groups: groups}, true
}

// Fits reports whether the chain can and should run an input of shape in
// (the first layer's input): work within Budget, activations that fit
// shared memory and, with a final softmax, one along the last axis.
func (c *DenseChain) Fits(in Shape) bool {
	_, ok := c.plan(in)
	return ok
}

// Record records the chain on x (shape in) into y (the last layer's output,
// row-major): one dispatch.
func (c *DenseChain) Record(r *engine.Recorder, x *engine.Buffer, in Shape, y *engine.Buffer) error {
	p, ok := c.plan(in)
	if !ok {
		return fmt.Errorf("layers: dense chain cannot run input %v", in)
	}
	last := c.dense[len(c.dense)-1].out
	if x.Len() < in.Elems() || y.Len() < p.m*last {
		return fmt.Errorf("layers: dense chain: buffers of %d and %d floats for %d x %d in, %d x %d out",
			x.Len(), y.Len(), p.m, c.dense[0].in, p.m, last)
	}
	pipe, err := c.d.Pipeline(c.kernel(), p.spec)
	if err != nil {
		return fmt.Errorf("layers: dense chain: %w", err)
	}
	bufs := []*engine.Buffer{x, y, nil, nil, nil, nil, nil, nil, nil, nil}
	for i := 0; i < MaxChainLayers; i++ {
		l := c.dense[min(i, len(c.dense)-1)] // unused slots: any buffer
		bufs[2+i] = l.w.b.buf
		bufs[6+i] = l.w.b.buf
		if i < len(c.dense) && l.b != nil {
			bufs[6+i] = l.b
		}
	}
	return r.Dispatch(pipe, bufs, nil, [3]uint32{u32(p.groups), 1, 1})
}

// SplitFits reports whether the chain has a split form that can run an
// input of shape in (RecordSplit): the first layer (any amount of work)
// and the rest of the chain (within its Budget) each fitting the kernel.
// The split form takes larger inputs than Fits: its first layer uses the
// whole device.
func (c *DenseChain) SplitFits(in Shape) bool {
	if c.head == nil {
		return false
	}
	hp, ok := c.head.plan(in)
	return ok && c.tail.Fits(Shape{hp.m, c.dense[0].out})
}

// SplitScratch is the size in floats of the buffer RecordSplit needs for
// the first layer's output at input shape in.
func (c *DenseChain) SplitScratch(in Shape) int {
	return in.Elems() / c.dense[0].in * c.dense[0].out
}

// RecordSplit records the chain in its split form: the first layer as one
// dispatch of several workgroups, each computing a slice of its output
// columns (so a CPU driver runs it on all its threads), into h (at least
// SplitScratch floats, the caller's: it is allocated with the plan's other
// buffers), then the other layers and the softmax as one chain dispatch
// reading it. Two dispatches instead of one, for a first layer that is
// most of the work (a wide head: 3264 x 128 before 128 x 128 x 7). The
// planner measures it against Record and separate layers.
func (c *DenseChain) RecordSplit(r *engine.Recorder, x *engine.Buffer, in Shape, h, y *engine.Buffer) error {
	if !c.SplitFits(in) {
		return fmt.Errorf("layers: dense chain cannot run input %v split", in)
	}
	m := in.Elems() / c.dense[0].in
	if h.Len() < c.SplitScratch(in) {
		return fmt.Errorf("layers: dense chain: a scratch buffer of %d floats for %d", h.Len(), c.SplitScratch(in))
	}
	if err := c.head.Record(r, x, in, h); err != nil {
		return err
	}
	return c.tail.Record(r, h, Shape{m, c.dense[0].out}, y)
}
