package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
	"github.com/vkinfer/vkinfer/spirv"
)

// rng is a byte range of a block, the unit of hazard tracking.
type rng struct {
	blk       *block
	off, size uint64
}

func (a rng) overlaps(b rng) bool {
	return a.blk == b.blk && a.off < b.off+b.size && b.off < a.off+a.size
}

func overlapsAny(as, bs []rng) bool {
	for _, a := range as {
		for _, b := range bs {
			if a.overlaps(b) {
				return true
			}
		}
	}
	return false
}

type opKind int

const (
	opDispatch opKind = iota
	opCopy
)

// op is one recorded command; reads and writes drive barrier placement.
type op struct {
	kind   opKind
	pipe   *Pipeline
	bufs   []*Buffer
	push   []uint32
	groups [3]uint32
	// copy
	src, dst *Buffer
	// hazards
	reads, writes []rng
	barrier       bool // a barrier precedes this op
	// step is the Recorder.Step the op belongs to (stepNone, stepUpload,
	// stepDownload, or an index into Recorder.steps).
	step int
}

func (b *Buffer) rng() rng { return rng{b.blk, b.off, b.asize} }

// Recorder collects dispatches and copies for one Program. It inserts the
// barriers the data flow needs. Not safe for concurrent use.
type Recorder struct {
	d       *Device
	ops     []op
	inputs  []*Buffer
	outputs []*Buffer
	staging map[*Buffer]*Buffer
	temps   []*Buffer
	err     error
	pool    []pooled    // temporaries, for reuse by later steps
	steps   []string    // names given to Step
	profile ProfileMode // see Profile
}

// NewRecorder starts a program.
func (d *Device) NewRecorder() *Recorder {
	return &Recorder{d: d, staging: map[*Buffer]*Buffer{}}
}

// cur is the step ops recorded now belong to.
func (r *Recorder) cur() int { return len(r.steps) - 1 } // stepNone (-1) before the first Step

func (r *Recorder) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return err
}

// Dispatch records pipe over groups workgroups with bufs bound to the
// shader's bindings in order and push as its push constants (32-bit words).
func (r *Recorder) Dispatch(pipe *Pipeline, bufs []*Buffer, push []uint32, groups [3]uint32) error {
	sh := pipe.k.shader
	if len(bufs) != len(sh.Bindings) {
		return r.fail(fmt.Errorf("engine: %s takes %d buffers, got %d", sh.Name, len(sh.Bindings), len(bufs)))
	}
	if uint32(4*len(push)) != sh.PushConstantSize {
		return r.fail(fmt.Errorf("engine: %s takes %d B of push constants, got %d", sh.Name, sh.PushConstantSize, 4*len(push)))
	}
	lim := r.d.info.Limits.MaxComputeWorkGroupCount
	for i, g := range groups {
		if g == 0 || g > lim[i] {
			return r.fail(fmt.Errorf("engine: %s: grid %v is empty or exceeds the device's %v", sh.Name, groups, lim))
		}
	}
	o := op{kind: opDispatch, pipe: pipe, bufs: append([]*Buffer(nil), bufs...), push: append([]uint32(nil), push...), groups: groups, step: r.cur()}
	for i, b := range bufs {
		if b == nil || b.closed || b.d != r.d {
			return r.fail(fmt.Errorf("engine: %s binding %d: buffer is nil, closed or from another device", sh.Name, i))
		}
		if sh.Bindings[i].Kind == spirv.UniformTexelBuffer || sh.Bindings[i].Kind == spirv.StorageTexelBuffer {
			if _, err := b.texelView(); err != nil {
				return r.fail(err)
			}
		}
		if sh.Bindings[i].ReadOnly {
			o.reads = append(o.reads, b.rng())
		} else {
			o.writes = append(o.writes, b.rng())
		}
	}
	r.ops = append(r.ops, o)
	return nil
}

// Temp returns a buffer of size bytes from the Activations arena that the
// Program owns: ops record intermediate results into it (packed operands,
// partial sums, patch matrices) and it is freed with the Program. A
// temporary is for the step that asked for it (see Step): a later step's
// Temp may return the same memory (the smallest earlier temporary that is
// large enough), so a program holds about its largest step's temporaries,
// not their sum; the recorder's barriers order the reuse.
func (r *Recorder) Temp(size int64) (*Buffer, error) {
	cur := r.cur()
	best := -1
	for i, t := range r.pool {
		if t.step < cur && int64(t.b.size) >= size && (best < 0 || t.b.size < r.pool[best].b.size) {
			best = i
		}
	}
	if best >= 0 && size > 0 && size%4 == 0 {
		t := &r.pool[best]
		t.step = cur
		if int64(t.b.size) == size {
			return t.b, nil
		}
		a := r.d.mem.aliasOf(t.b, uint64(size))
		r.temps = append(r.temps, a)
		return a, nil
	}
	// A block of its own, freed with it: the device holds what the
	// temporaries need, not a shared block's worth.
	bs, err := r.d.NewBuffers(Activations, []int64{size})
	if err != nil {
		return nil, r.fail(err)
	}
	b := bs[0]
	r.temps = append(r.temps, b)
	r.pool = append(r.pool, pooled{b, cur})
	return b, nil
}

// pooled is a temporary and the last step that took it.
type pooled struct {
	b    *Buffer
	step int
}

// Copy records a copy of src into dst (sizes must match).
func (r *Recorder) Copy(src, dst *Buffer) error {
	if src.size != dst.size {
		return r.fail(fmt.Errorf("engine: copy of %d B into %d B", src.size, dst.size))
	}
	r.ops = append(r.ops, op{kind: opCopy, src: src, dst: dst, reads: []rng{src.rng()}, writes: []rng{dst.rng()}, step: r.cur()})
	return nil
}

// Input declares that each run writes b from the host (Program.Run's inputs).
// When b is not host-visible the program copies from a staging buffer first.
func (r *Recorder) Input(b *Buffer) error {
	r.inputs = append(r.inputs, b)
	if b.Mapped() {
		return nil
	}
	st, err := r.stagingFor(b)
	if err != nil {
		return r.fail(err)
	}
	// The upload copy must come before every recorded use of b.
	r.ops = append([]op{{kind: opCopy, src: st, dst: b, reads: []rng{st.rng()}, writes: []rng{b.rng()}, step: stepUpload}}, r.ops...)
	return nil
}

// Output declares that each run reads b back to the host.
func (r *Recorder) Output(b *Buffer) error {
	r.outputs = append(r.outputs, b)
	if b.Mapped() {
		return nil
	}
	if _, err := r.stagingFor(b); err != nil {
		return r.fail(err)
	}
	return nil
}

// stagingFor returns b's staging buffer, made on first use: a buffer that is
// both an input and an output (a graph input passed through) uses one, so
// the run writes, uploads, downloads and reads the same host memory.
func (r *Recorder) stagingFor(b *Buffer) (*Buffer, error) {
	if st := r.staging[b]; st != nil {
		return st, nil
	}
	st, err := r.d.NewBuffer(Staging, int64(b.size))
	if err != nil {
		return nil, err
	}
	r.staging[b] = st
	return st, nil
}

// plan marks the ops that need a barrier before them: a read or write of
// memory written since the last barrier (RAW, WAW) or a write of memory read
// since then (WAR).
func plan(ops []op) {
	var written, read []rng
	for i := range ops {
		o := &ops[i]
		o.barrier = overlapsAny(o.reads, written) || overlapsAny(o.writes, written) || overlapsAny(o.writes, read)
		if o.barrier {
			written, read = written[:0], read[:0]
		}
		written = append(written, o.writes...)
		read = append(read, o.reads...)
	}
}

// Barriers reports how many barriers the recorded commands need (for tests
// and diagnostics).
func (r *Recorder) Barriers() int {
	ops := r.finalOps()
	plan(ops)
	n := 0
	for _, o := range ops {
		if o.barrier {
			n++
		}
	}
	return n
}

func (r *Recorder) finalOps() []op {
	ops := append([]op(nil), r.ops...)
	for _, b := range r.outputs {
		if st := r.staging[b]; st != nil {
			ops = append(ops, op{kind: opCopy, src: b, dst: st, reads: []rng{b.rng()}, writes: []rng{st.rng()}, step: stepDownload})
		}
	}
	return ops
}

// Program is a recorded command buffer: run it as often as needed; each run
// writes the inputs, submits once, waits and reads the outputs.
type Program struct {
	d         *Device
	mu        sync.Mutex
	pool      vk.CommandPool
	cb        vk.CommandBuffer
	cbs       []vk.CommandBuffer // submitted in order: cb, or one per step (ProfileHost)
	prof      *profiler          // nil unless recorded with Recorder.Profile
	dpool     vk.DescriptorPool
	fence     vk.Fence
	inputs    []*Buffer
	outputs   []*Buffer
	staging   map[*Buffer]*Buffer
	temps     []*Buffer
	bound     []*Buffer // every buffer the commands use, pinned in place
	pending   bool
	closed    bool
	barriers  int
	noBarrier bool
	// hostBarrier: the commands end with a barrier making their writes
	// available to the host.
	hostBarrier bool
}

// Finish records the command buffer. The Recorder must not be used after.
func (r *Recorder) Finish() (*Program, error) {
	return r.finish(false)
}

func (r *Recorder) finish(noBarriers bool) (*Program, error) {
	if r.err != nil {
		r.closeStaging()
		return nil, r.err
	}
	d := r.d
	if err := d.enter(); err != nil {
		r.closeStaging()
		return nil, fmt.Errorf("engine: record: %w", err)
	}
	defer d.leave()
	ops := r.finalOps()
	for _, o := range ops {
		if o.kind == opDispatch {
			if err := o.pipe.Wait(); err != nil {
				r.closeStaging()
				return nil, err
			}
		}
	}
	plan(ops)
	p := &Program{d: d, inputs: r.inputs, outputs: r.outputs, staging: r.staging, temps: r.temps, noBarrier: noBarriers}
	fail := func(err error) (*Program, error) {
		p.Close()
		return nil, err
	}
	var err error
	counts := map[vk.DescriptorKind]uint32{}
	sets := uint32(0)
	for _, o := range ops {
		if o.kind == opDispatch {
			sets++
			for _, b := range o.pipe.k.shader.Bindings {
				counts[descKind(b.Kind)]++
			}
		}
	}
	if sets > 0 {
		if p.dpool, err = d.dev.CreateDescriptorPool(sets, counts); err != nil {
			return fail(wrap(err, "create descriptor pool"))
		}
	}
	if p.pool, err = d.dev.CreateCommandPool(); err != nil {
		return fail(wrap(err, "create command pool"))
	}
	if p.cb, err = d.dev.AllocateCommandBuffer(p.pool); err != nil {
		return fail(wrap(err, "allocate command buffer"))
	}
	if p.fence, err = d.dev.CreateFence(); err != nil {
		return fail(wrap(err, "create fence"))
	}
	segs := segments(ops, r.steps)
	mode := r.profile
	if mode == ProfileAuto && !d.info.Timestamps {
		mode = ProfileHost
	}
	if mode != ProfileOff {
		p.prof = &profiler{mode: mode, segs: segs}
	}
	if mode == ProfileDevice || mode == ProfileAuto {
		p.prof.mode = ProfileDevice
		if p.prof.queries, err = d.dev.CreateTimestampPool(uint32(len(segs) + 1)); err != nil {
			return fail(wrap(err, "create timestamp query pool"))
		}
		p.prof.pool = true
	}
	const allStages = vk.StageCompute | vk.StageTransfer
	const writes = vk.AccessShaderWrite | vk.AccessTransferWrite
	const readsWrites = vk.AccessShaderRead | vk.AccessShaderWrite | vk.AccessTransferRead | vk.AccessTransferWrite
	// recordOps records ops[lo:hi] on cb; first: no barrier is needed
	// before the first of them for work in earlier submissions.
	recordOps := func(cb vk.CommandBuffer, lo, hi int, first bool) error {
		for i := lo; i < hi; i++ {
			o := ops[i]
			if (o.barrier || i == lo && !first) && !noBarriers {
				d.dev.MemoryBarrier(cb, allStages, allStages, writes, readsWrites)
				p.barriers++
			}
			switch o.kind {
			case opCopy:
				d.dev.CopyBuffer(cb, o.src.blk.buf, o.src.off, o.dst.blk.buf, o.dst.off, o.src.size)
			case opDispatch:
				k := o.pipe.k
				set, err := d.dev.AllocateDescriptorSet(p.dpool, k.setLayout)
				if err != nil {
					return wrap(err, "allocate descriptor set")
				}
				d.stats.descriptorSets.Add(1)
				ws := make([]vk.DescriptorWrite, len(o.bufs))
				for i, b := range o.bufs {
					bd := k.shader.Bindings[i]
					ws[i] = vk.DescriptorWrite{Binding: bd.Binding, Kind: descKind(bd.Kind), Buffer: b.blk.buf, Offset: b.off, Range: b.size, View: b.view}
				}
				d.dev.UpdateDescriptorSet(set, ws)
				cb.BindPipeline(o.pipe.h)
				cb.BindDescriptorSet(k.layout, set)
				cb.PushConstants(k.layout, o.push)
				cb.Dispatch(o.groups[0], o.groups[1], o.groups[2])
			}
		}
		return nil
	}
	// endHost makes the commands' writes available to the host: always,
	// not only with declared outputs (Buffer.Read of a mapped buffer after
	// a run reads device writes on the host).
	endHost := func(cb vk.CommandBuffer) {
		d.dev.MemoryBarrier(cb, allStages, vk.StageHost, writes, vk.AccessHostRead)
		p.hostBarrier = true
	}
	if p.prof != nil && p.prof.mode == ProfileHost {
		// One command buffer per step with commands, submitted and waited
		// for one after another; each starts with a barrier against the
		// step before.
		first := true
		for si := range segs {
			sg := &segs[si]
			if sg.lo == sg.hi {
				continue
			}
			cb, err := d.dev.AllocateCommandBuffer(p.pool)
			if err != nil {
				return fail(wrap(err, "allocate command buffer"))
			}
			if err := cb.Begin(false); err != nil {
				return fail(wrap(err, "begin command buffer"))
			}
			if err := recordOps(cb, sg.lo, sg.hi, first); err != nil {
				return fail(err)
			}
			first = false
			endHost(cb)
			if err := cb.End(); err != nil {
				return fail(wrap(err, "end command buffer"))
			}
			p.cbs = append(p.cbs, cb)
			p.prof.cbSeg = append(p.prof.cbSeg, si)
		}
	} else {
		cb := p.cb
		if err := cb.Begin(false); err != nil {
			return fail(wrap(err, "begin command buffer"))
		}
		if p.prof != nil {
			q := p.prof.queries
			cb.ResetQueries(q, 0, uint32(len(segs)+1))
			cb.WriteTimestamp(q, 0, false)
			for si, sg := range segs {
				if err := recordOps(cb, sg.lo, sg.hi, true); err != nil {
					return fail(err)
				}
				// Written when every command before it has completed.
				cb.WriteTimestamp(q, uint32(si+1), true)
			}
		} else if err := recordOps(cb, 0, len(ops), true); err != nil {
			return fail(err)
		}
		if len(ops) > 0 {
			endHost(cb)
		}
		if err := cb.End(); err != nil {
			return fail(wrap(err, "end command buffer"))
		}
		p.cbs = []vk.CommandBuffer{cb}
	}
	d.stats.recorded.Add(1)
	seen := map[*Buffer]bool{}
	for _, o := range ops {
		for _, b := range append([]*Buffer{o.src, o.dst}, o.bufs...) {
			if b != nil && !seen[b] {
				seen[b] = true
				p.bound = append(p.bound, b)
			}
		}
	}
	d.mem.mu.Lock()
	for _, b := range p.bound {
		b.bound++
	}
	d.mem.mu.Unlock()
	d.mu.Lock()
	d.progs[p] = struct{}{}
	d.mu.Unlock()
	return p, nil
}

// View returns a buffer for size bytes of b's memory from byte offset off
// (an operand that is part of another buffer, e.g. one image of a batch),
// owned by the program being recorded: it is freed with the Program (or by
// Discard) and never frees b's memory. off must be a multiple of
// Device.Alignment() (so that storage and texel bindings may start there)
// and off+size must lie within b; otherwise View fails and the Recorder
// with it.
func (r *Recorder) View(b *Buffer, off, size int64) (*Buffer, error) {
	m := r.d.mem
	if off < 0 || size <= 0 || size%4 != 0 || uint64(off)%m.align != 0 || uint64(off+size) > b.size {
		return nil, r.fail(fmt.Errorf("engine: view of %d bytes at offset %d of a %d-byte buffer: want a range within it starting on a multiple of %d", size, off, b.size, m.align))
	}
	m.mu.Lock()
	v := &Buffer{d: b.d, blk: b.blk, off: b.off + uint64(off), size: uint64(size), asize: min(m.aligned(uint64(size)), b.asize-uint64(off)), alias: true}
	b.blk.live[v] = struct{}{}
	m.mu.Unlock()
	r.temps = append(r.temps, v)
	return v, nil
}

// Discard frees what the Recorder holds (staging buffers and temporaries)
// when its commands will not be finished: a caller whose recording failed
// part way (a layer returned an error) calls it instead of Finish. Nothing
// has been submitted, so nothing waits. The Recorder must not be used after;
// Discard after Finish, or twice, does nothing.
func (r *Recorder) Discard() {
	r.closeStaging()
	r.staging, r.temps, r.pool = nil, nil, nil
}

func (r *Recorder) closeStaging() {
	for _, st := range r.staging {
		st.Close()
	}
	for _, b := range r.temps {
		b.Close()
	}
}

// Barriers is the number of pipeline barriers recorded.
func (p *Program) Barriers() int { return p.barriers }

// IO pairs a declared input or output buffer with host data.
type IO struct {
	Buf  *Buffer
	Data []float32
}

// Run writes inputs, submits the program, waits for it and reads outputs.
// Each Data may be shorter than its buffer (the rest keeps its old
// contents). Runs of one Program are serialised.
//
// A ctx already done fails the run before anything is submitted; a ctx that
// ends while Run waits (for an earlier run of the Program or for this one)
// makes it return within about 20 ms. Either way the error wraps ctx.Err()
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded); submitted
// work then completes in the background and the next run waits for it.
// Once Device.Close has started, Run fails with ErrClosed.
func (p *Program) Run(ctx context.Context, inputs, outputs []IO) error {
	d := p.d
	if err := d.enter(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	defer d.leave()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || d.closingNow() {
		return fmt.Errorf("engine: run: %w", ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	if err := p.await(ctx); err != nil {
		return err
	}
	for _, in := range inputs {
		hb, err := p.hostOf(in, p.inputs, "input")
		if err != nil {
			return err
		}
		copy(hb.host(), f32bytes(in.Data))
		if err := hb.flushHost(4 * uint64(len(in.Data))); err != nil {
			return err
		}
	}
	for _, out := range outputs {
		if _, err := p.hostOf(out, p.outputs, "output"); err != nil {
			return err
		}
	}
	// Weights written since the last submission reach the device first.
	if err := d.flushUploads(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("engine: run: %w", err)
	}
	for i, cb := range p.cbs {
		t0 := time.Now()
		d.queue.Lock()
		err := d.dev.Submit(cb, p.fence)
		d.queue.Unlock()
		if err != nil {
			return wrap(err, "submit")
		}
		d.stats.submits.Add(1)
		p.pending = true
		if err := p.await(ctx); err != nil {
			return err
		}
		if p.prof != nil && p.prof.mode == ProfileHost {
			p.prof.host(i, time.Since(t0))
		}
	}
	if p.prof != nil {
		if err := p.prof.finishRun(p); err != nil {
			return err
		}
	}
	for _, out := range outputs {
		hb, _ := p.hostOf(out, p.outputs, "output")
		if err := hb.invalidateHost(4 * uint64(len(out.Data))); err != nil {
			return err
		}
		copy(f32bytes(out.Data), hb.host())
	}
	return nil
}

// hostOf returns the mapped buffer through which io.Buf is written or read
// (its staging buffer, or itself).
func (p *Program) hostOf(io IO, declared []*Buffer, what string) (*Buffer, error) {
	for _, b := range declared {
		if b == io.Buf {
			if 4*uint64(len(io.Data)) > b.size {
				return nil, fmt.Errorf("engine: %s of %d floats does not fit its buffer of %d", what, len(io.Data), b.size/4)
			}
			if st := p.staging[b]; st != nil {
				return st, nil
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("engine: buffer was not declared as a program %s when recording", what)
}

// await waits for the pending submission, if any.
func (p *Program) await(ctx context.Context) error {
	if !p.pending {
		return nil
	}
	d := p.d
	deadline := time.Now().Add(d.timeout())
	spin := d.spin()
	for {
		slice := uint64(20 * time.Millisecond)
		done, err := d.dev.Wait(p.fence, spin, slice)
		if err != nil {
			return wrap(err, "wait for GPU")
		}
		if done {
			p.pending = false
			return nil
		}
		spin = 0
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine: wait for GPU: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("engine: %w: GPU work did not finish within %v on %s (raise vkinfer.Options.Timeout or engine.Options.Timeout for very large work)", ErrTimeout, d.timeout(), d.info.Name)
		}
	}
}

// Close frees the program's command buffer, descriptors, fence and staging
// buffers, waiting for a pending run first, without a deadline (a run that
// failed with ErrTimeout may still execute; only a lost device ends the
// wait early). Safe to call twice.
func (p *Program) Close() {
	d := p.d
	if d.enter() != nil {
		return // Device.Close destroys it
	}
	defer d.leave()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	d.mu.Lock()
	defer d.mu.Unlock()
	if p.pending {
		// No deadline here: a run that outlived Options.Timeout (it
		// returned ErrTimeout) may still be executing, and destroying its
		// fence or command buffer then crashes the driver. Only the device
		// itself giving up (an error: device lost) ends the wait early.
		for {
			done, err := d.dev.Wait(p.fence, 0, uint64(100*time.Millisecond))
			if done || err != nil {
				break
			}
		}
		p.pending = false
	}
	p.destroy()
}

// destroy frees the program's objects; the caller holds d.mu.
func (p *Program) destroy() {
	d := p.d
	delete(d.progs, p)
	d.mem.mu.Lock()
	for _, b := range p.bound {
		b.bound--
	}
	d.mem.mu.Unlock()
	d.dev.DestroyFence(p.fence)
	if p.prof != nil && p.prof.pool {
		d.dev.DestroyQueryPool(p.prof.queries)
	}
	d.dev.DestroyCommandPool(p.pool)
	d.dev.DestroyDescriptorPool(p.dpool)
	for _, st := range p.staging {
		st.Close()
	}
	for _, b := range p.temps {
		b.Close()
	}
}

// Grid returns a workgroup count covering items invocations along x with
// pipe's local size, folding into y when x would exceed the device limit.
// Shaders index as x + y * (numWorkGroups.x * localSize.x).
func (d *Device) Grid(pipe *Pipeline, items uint64) [3]uint32 {
	local := uint64(pipe.local[0])
	groups := (items + local - 1) / local
	if groups == 0 {
		groups = 1
	}
	maxX := uint64(d.info.Limits.MaxComputeWorkGroupCount[0])
	if groups <= maxX {
		return [3]uint32{uint32(groups), 1, 1}
	}
	y := (groups + maxX - 1) / maxX
	x := (groups + y - 1) / y
	return [3]uint32{uint32(x), uint32(y), 1}
}

// oneOff runs synchronous transfers through staging buffers. Every use
// holds memory.mu, then mu.
type oneOff struct {
	mu    sync.Mutex
	pool  vk.CommandPool
	cb    vk.CommandBuffer
	fence vk.Fence
	// late is set when a submission outlived Options.Timeout (submitWait
	// returned ErrTimeout): it may still be executing, so its command
	// buffer and fence are not reused, and what it reads or writes stays
	// allocated (the staging buffers in held; device memory freed
	// meanwhile waits in memory.graveyard) until settle sees its fence
	// signal. Freeing them earlier let the driver copy from freed memory
	// (a crash on lavapipe) and let a new staging buffer take the old
	// one's place while the late copy still read it.
	late bool
	held []*Buffer
}

// transferPoll is how long one wait for a transfer's fence lasts before
// the deadline is checked again (tests shorten it).
var transferPoll = 20 * time.Millisecond

func (o *oneOff) init(d *Device) error {
	var err error
	if o.pool, err = d.dev.CreateCommandPool(); err != nil {
		return wrap(err, "create command pool")
	}
	if o.cb, err = d.dev.AllocateCommandBuffer(o.pool); err != nil {
		return wrap(err, "allocate command buffer")
	}
	if o.fence, err = d.dev.CreateFence(); err != nil {
		return wrap(err, "create fence")
	}
	return nil
}

func (o *oneOff) destroy(d *Device) {
	d.dev.DestroyFence(o.fence)
	d.dev.DestroyCommandPool(o.pool)
}

// download copies the start of b (not host-visible) into data through a
// staging buffer and waits.
func (o *oneOff) download(b *Buffer, data []float32) error {
	d := b.d
	n := 4 * uint64(len(data))
	if n == 0 {
		return nil
	}
	st, err := d.NewBuffer(Staging, int64(n))
	if err != nil {
		return err
	}
	m := d.mem
	m.mu.Lock()
	defer m.mu.Unlock()
	o.mu.Lock()
	defer o.mu.Unlock()
	held := false // st went to o.held with a late submission
	defer func() {
		if !held {
			m.releaseLocked(st)
		}
	}()
	if err := o.settle(d); err != nil {
		return err
	}
	cb := o.cb
	if err := cb.Begin(true); err != nil {
		return wrap(err, "begin transfer")
	}
	// Earlier compute work or copies may still write b.
	d.dev.MemoryBarrier(cb, vk.StageCompute|vk.StageTransfer, vk.StageTransfer, vk.AccessShaderWrite|vk.AccessTransferWrite, vk.AccessTransferRead|vk.AccessTransferWrite)
	d.dev.CopyBuffer(cb, b.blk.buf, b.off, st.blk.buf, st.off, n)
	d.dev.MemoryBarrier(cb, vk.StageTransfer, vk.StageHost, vk.AccessTransferWrite, vk.AccessHostRead)
	if err := cb.End(); err != nil {
		return wrap(err, "end transfer")
	}
	if err := o.submitWait(d, st); err != nil {
		held = o.late
		return err
	}
	if err := st.invalidateHost(n); err != nil {
		return err
	}
	copy(f32bytes(data), st.host())
	return nil
}

// copies moves each of bufs to offs[i] in block dsts[i] on the device and
// waits; the caller holds memory.mu. After an ErrTimeout the caller may free
// dsts (memory.freeBlock keeps them until the copies end).
func (o *oneOff) copies(d *Device, bufs []*Buffer, dsts []*block, offs []uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.settle(d); err != nil {
		return err
	}
	cb := o.cb
	if err := cb.Begin(true); err != nil {
		return wrap(err, "begin copies")
	}
	d.dev.MemoryBarrier(cb, vk.StageCompute|vk.StageTransfer|vk.StageHost, vk.StageTransfer,
		vk.AccessShaderWrite|vk.AccessTransferWrite|vk.AccessHostWrite, vk.AccessTransferRead|vk.AccessTransferWrite)
	for i, b := range bufs {
		d.dev.CopyBuffer(cb, b.blk.buf, b.off, dsts[i].buf, offs[i], b.asize)
	}
	d.dev.MemoryBarrier(cb, vk.StageTransfer, vk.StageCompute|vk.StageTransfer|vk.StageHost,
		vk.AccessTransferWrite, vk.AccessShaderRead|vk.AccessShaderWrite|vk.AccessTransferRead|vk.AccessTransferWrite|vk.AccessHostRead)
	if err := cb.End(); err != nil {
		return wrap(err, "end copies")
	}
	return o.submitWait(d)
}

// submitWait submits the one-off command buffer and waits for it; the
// caller holds memory.mu and o.mu, and called settle before recording. When
// the wait outlives Options.Timeout it returns ErrTimeout and marks the
// submission late: the staging buffers it reads or writes (held) are then
// o's to release (settle), no longer the caller's.
func (o *oneOff) submitWait(d *Device, held ...*Buffer) error {
	d.queue.Lock()
	err := d.dev.Submit(o.cb, o.fence)
	d.queue.Unlock()
	if err != nil {
		return wrap(err, "submit transfer")
	}
	d.stats.submits.Add(1)
	if err := o.wait(d); err != nil {
		if errors.Is(err, ErrTimeout) {
			o.late = true
			o.held = append(o.held, held...)
		}
		return err
	}
	return nil
}

// wait waits for the one-off fence, at most Options.Timeout.
func (o *oneOff) wait(d *Device) error {
	deadline := time.Now().Add(d.timeout())
	for {
		done, err := d.dev.Wait(o.fence, d.spin(), uint64(transferPoll))
		if err != nil {
			return wrap(err, "wait for transfer")
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("engine: %w: transfer did not finish within %v (raise vkinfer.Options.Timeout or engine.Options.Timeout)", ErrTimeout, d.timeout())
		}
	}
}

// settle waits, at most Options.Timeout, for a late submission (one whose
// wait returned ErrTimeout) to end, then releases what it held; the caller
// holds memory.mu and o.mu, before it records into o.cb. It returns
// ErrTimeout while that submission still runs (the command buffer cannot
// be reused before), and the device's error if it was lost (nothing runs
// any more then: what was held is released).
func (o *oneOff) settle(d *Device) error {
	if !o.late {
		return nil
	}
	err := o.wait(d)
	if errors.Is(err, ErrTimeout) {
		return fmt.Errorf("engine: an earlier transfer is still running: %w", err)
	}
	o.late = false
	m := d.mem
	for _, st := range o.held {
		m.releaseLocked(st)
	}
	o.held = nil
	m.buryLocked()
	return err
}
