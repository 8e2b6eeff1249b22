// Package vkinfer runs neural networks on any Vulkan GPU, or on the CPU
// through a Vulkan CPU driver (lavapipe, SwiftShader), from Go.
//
//	dev, err := vkinfer.Open(vkinfer.Options{})
//	defer dev.Close()
//	m, err := dev.Load("mlp.bin")
//	defer m.Close()
//	out, err := m.Run(ctx, vkinfer.Tensor{Shape: []int{1, 784}, Data: pixels})
//
// A Device owns one Vulkan device; a Model owns its weights (uploaded once)
// and, per batch size in use, a recorded command buffer with its activation
// buffers, which each run resubmits.
//
// Concurrency: Device and Model are safe for concurrent use by multiple
// goroutines. Runs of one Model at the same batch size are serialised (they
// share one recorded program); runs at different batch sizes overlap.
//
// Closing: Model.Close and Device.Close may be called at any time, from any
// goroutine, more than once. Model.Close refuses new runs of the model
// (ErrClosed), waits for its runs in flight and frees it. Device.Close does
// the same for every model still open on the device, then for the device's
// own calls in flight, and destroys the device; calls on the device or on
// its models fail with ErrClosed afterwards, and Stats reports no memory.
// No call in flight crashes or hangs because of a Close; each ends within
// engine.Options.Timeout (2 minutes by default) at worst.
//
// Cancellation: Model.Run fails with the context's error (wrapped; test
// with errors.Is) when ctx is already done, before anything is submitted,
// and returns within about 20 ms when ctx ends while it waits for the GPU.
//
// The package never decodes images by side effect: Classify takes decoded
// image.Image values; import the image formats you need (image/png, ...).
package vkinfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/layers"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx"
	"github.com/vkinfer/vkinfer/ops"
	"github.com/vkinfer/vkinfer/planner"
)

// Errors users can test for with errors.Is, besides those of package engine
// (engine.ErrNoVulkan, engine.ErrDeviceLost, engine.ErrOutOfDeviceMemory) and
// package model (model.ErrNotModel, model.ErrTruncated, model.ErrChecksum,
// model.ErrVersion, model.ErrCorrupt, model.ErrInvalid).
var (
	// ErrUnsupportedOp: the model uses an op (or an attribute of one) that
	// this build cannot run. The error lists every such node.
	ErrUnsupportedOp = layers.ErrUnsupported
	// ErrShape: an input does not have the shape the model takes.
	ErrShape = errors.New("wrong input shape")
	// ErrClosed: the Device or Model was used after Close.
	ErrClosed = engine.ErrClosed
)

// Options configure Open.
type Options struct {
	// Device picks a device by index or name substring ("" = $VKINFER_DEVICE
	// or the best one; see `vkinfer devices`).
	Device string
	// Validation enables the Khronos validation layer (for development).
	Validation bool
	// Logger receives notices; nil means slog.Default().
	Logger *slog.Logger
	// SpinWait is how long a run polls for completion before sleeping
	// (0 = engine default; negative = never poll).
	SpinWait time.Duration
	// OnMessage receives validation-layer and driver messages; nil logs them.
	OnMessage func(severity, message string)
	// Timeout bounds one submission to the GPU; past it a run fails with
	// engine.ErrTimeout (0 = the engine's default, 2 minutes).
	Timeout time.Duration
	// FixedPlans makes plan choices by fixed thresholds instead of
	// measuring the candidates on the device when a plan is made (for tests
	// that check a plan's structure; see Model.compile), and runs every
	// layer with several kernels (Conv) by the static rule instead of the
	// measured choice (as $VKINFER_MEASURE=0 does; see MeasureEnv).
	FixedPlans bool
	// PipelineCacheDir keeps compiled pipelines between runs ("" = the user
	// cache dir, "-" = off); see engine.Options. Measured plan choices are
	// kept beside them (see FixedPlans).
	PipelineCacheDir string
}

// Device is an opened GPU (or CPU Vulkan driver).
type Device struct {
	dev *engine.Device
	// choices are the plan choices measured on this device and driver.
	choices *planner.Choices
	fixed   bool
	logger  *slog.Logger
	// variantTrials counts the per-layer kernel choices measured (tests).
	variantTrials atomic.Int64

	mu     sync.Mutex
	models map[*Model]struct{} // open models, closed by Close
	closed bool
}

// isClosed reports whether Close was called.
func (d *Device) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// Open opens a Vulkan device.
func Open(opts Options) (*Device, error) {
	d, err := engine.Open(engine.Options{
		Device:     opts.Device,
		Validation: opts.Validation,
		Logger:     opts.Logger,
		SpinWait:   opts.SpinWait,
		OnMessage:  opts.OnMessage,
		Timeout:    opts.Timeout,

		PipelineCacheDir: opts.PipelineCacheDir,
	})
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Device{dev: d, models: map[*Model]struct{}{}, fixed: opts.FixedPlans, logger: logger,
		choices: planner.OpenChoices(choicesPath(opts.PipelineCacheDir, d.Info()))}, nil
}

// choicesPath is the file of measured plan choices beside the pipeline
// cache: named after the device and driver, like the cache; "" (memory
// only) when the cache is off.
func choicesPath(dir string, i engine.DeviceInfo) string {
	switch dir {
	case "-":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(base, "vkinfer", "pipelines")
	}
	return filepath.Join(dir, fmt.Sprintf("choices-%04x-%04x-%08x-%x.json", i.VendorID, i.DeviceID, i.DriverVersion, i.PipelineCacheUUID))
}

// Info describes the device.
func (d *Device) Info() engine.DeviceInfo { return d.dev.Info() }

// Stats returns the engine's accounting (memory per arena, submits, ...).
func (d *Device) Stats() engine.Stats { return d.dev.Stats() }

// Engine returns the underlying engine device, for advanced use.
func (d *Device) Engine() *engine.Device { return d.dev }

// Close closes the models still open on the device (each waits for its runs
// in flight), then releases the device. Later calls on the device or its
// models fail with ErrClosed. Safe to call more than once.
func (d *Device) Close() error {
	d.mu.Lock()
	d.closed = true
	models := make([]*Model, 0, len(d.models))
	for m := range d.models {
		models = append(models, m)
	}
	d.mu.Unlock()
	var errs []error
	for _, m := range models {
		errs = append(errs, m.Close())
	}
	errs = append(errs, d.dev.Close())
	return errors.Join(errs...)
}

// Load reads a model file, mlp.bin or ONNX (told apart by the mlp.bin
// magic, model.Magic), and prepares it on the device.
func (d *Device) Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	head := make([]byte, len(model.Magic))
	n, _ := io.ReadFull(f, head)
	st, serr := f.Stat()
	f.Close()
	var m *model.Model
	switch head = head[:n]; {
	case string(head) == model.Magic, serr != nil || !st.Mode().IsRegular():
		m, err = model.ReadFile(path)
	case onnx.Sniff(head):
		m, err = onnx.ReadFile(path)
		if errors.Is(err, onnx.ErrFormat) {
			err = neither(path, err)
		}
	default:
		err = neither(path, onnx.ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	return d.LoadModel(m)
}

// LoadReader reads a model, mlp.bin or ONNX, from r and prepares it on the
// device. An ONNX model is read whole into memory first.
func (d *Device) LoadReader(r io.Reader) (*Model, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(len(model.Magic))
	var m *model.Model
	var err error
	switch {
	case string(head) == model.Magic:
		m, err = model.Read(br)
	case onnx.Sniff(head):
		var data []byte
		if data, err = io.ReadAll(io.LimitReader(br, onnx.MaxFileSize+1)); err == nil {
			m, err = onnx.Decode(data)
		}
		if errors.Is(err, onnx.ErrFormat) {
			err = neither("the data", err)
		}
	default:
		err = neither("the data", onnx.ErrFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	return d.LoadModel(m)
}

// neither is the error for data in no model format this package reads; it
// wraps model.ErrNotModel and the ONNX importer's error (onnx.ErrFormat).
func neither(what string, err error) error {
	return fmt.Errorf("%s is neither an mlp.bin nor an ONNX model: %w; %w", what, model.ErrNotModel, err)
}

// Tensor is a dense float32 tensor, row-major.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Model is a model prepared on a device.
type Model struct {
	owner *Device
	dev   *engine.Device
	spec  *model.Model
	graph *planner.Graph
	// fingerprint names the graph in the device's plan choices.
	fingerprint string
	layers      []layers.Layer             // by node of graph; nil for host and view nodes
	chains      map[int]*layers.DenseChain // by first node: runs the chain kernel may take

	// batchLimit is the largest batch one run takes (0: none found yet);
	// Run splits larger batches (see Run).
	batchLimit atomic.Int64

	mu     sync.Mutex
	plans  map[string]*plan // by input shapes
	order  []string         // plan keys, least recently used first
	closed bool
	runs   sync.WaitGroup // runs holding a plan; Close waits for them
	rec    sync.Mutex     // serialises recording (layers are not safe for it concurrently)
}

// maxPlans bounds the recorded programs kept per model (one per batch size).
const maxPlans = 8

// LoadModel prepares m on the device: validates it, fuses what can be fused,
// compiles every node and uploads the weights. A model with unsupported ops
// fails here, naming every such node, before anything runs.
func (d *Device) LoadModel(m *model.Model) (*Model, error) {
	if d.isClosed() {
		return nil, fmt.Errorf("vkinfer: load %q: the Device was closed: %w", m.Name, ErrClosed)
	}
	if err := ops.Validate(m); err != nil {
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	if len(m.Inputs) == 0 || len(m.Outputs) == 0 {
		return nil, fmt.Errorf("vkinfer: model %q has no inputs or no outputs", m.Name)
	}
	g, err := planner.Prepare(m, planner.Passes)
	if err != nil {
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	var missing []string
	for i, n := range g.Nodes {
		if _, ok := layers.Lookup(n.Op); !ok && g.Kinds[i] == planner.Device {
			missing = append(missing, fmt.Sprintf("%s (%s)", n.Name, n.Op))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("vkinfer: model %q: %w op in %d node(s): %v; supported ops: %v",
			m.Name, ErrUnsupportedOp, len(missing), missing, layers.Ops())
	}
	mm := &Model{owner: d, dev: d.dev, spec: m, graph: g, fingerprint: planner.Fingerprint(m), layers: make([]layers.Layer, len(g.Nodes)), plans: map[string]*plan{}}
	build := &layers.Build{Dev: d.dev, Const: func(name string) *model.Tensor {
		if name == "" {
			return nil
		}
		return g.Model.Initializer(name) // with the planner's rewritten weights
	}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if g.Kinds[i] != planner.Device {
			continue
		}
		b, _ := layers.Lookup(n.Op)
		l, err := b(build, n)
		if err != nil {
			mm.Close()
			return nil, fmt.Errorf("vkinfer: node %s (%s): %w", n.Name, n.Op, err)
		}
		mm.layers[i] = l
	}
	mm.chains = map[int]*layers.DenseChain{}
	for first, run := range g.Runs {
		ls := make([]layers.Layer, len(run))
		for j, k := range run {
			ls[j] = mm.layers[k]
		}
		if c, _ := layers.NewDenseChain(d.dev, ls); c != nil {
			mm.chains[first] = c
		}
	}
	// The layers uploaded their weights one tensor at a time into shared
	// blocks; move them into one block of exactly their size.
	if err := d.dev.Compact(engine.Weights); err != nil {
		mm.Close()
		return nil, fmt.Errorf("vkinfer: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		mm.close()
		return nil, fmt.Errorf("vkinfer: load %q: %w", m.Name, ErrClosed)
	}
	d.models[mm] = struct{}{}
	return mm, nil
}

// Spec is the model as loaded (graph, labels, input spec, metadata).
func (m *Model) Spec() *model.Model { return m.spec }

// Close refuses new runs of the model (they fail with ErrClosed), waits for
// the runs in flight and frees the model's weights and recorded programs.
// Safe to call more than once and concurrently with Run. The error is
// always nil today; it is there so that Close reads like every other Close.
func (m *Model) Close() error {
	if m.owner != nil {
		m.owner.mu.Lock()
		delete(m.owner.models, m)
		m.owner.mu.Unlock()
	}
	m.close()
	return nil
}

func (m *Model) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	plans := m.plans
	m.plans, m.order = nil, nil
	m.mu.Unlock()
	// No run starts from here on (plan checks closed under m.mu); wait for
	// those that hold a plan.
	m.runs.Wait()
	for _, p := range plans {
		p.close()
	}
	for _, l := range m.layers {
		if l != nil {
			l.Close()
		}
	}
}

// plan is the model compiled for concrete input shapes: activation buffers
// assigned by liveness and one recorded program. A plan is shared by the
// runs at its shapes; refs (guarded by Model.mu) counts the runs that hold
// it, and an evicted plan is freed by the last of them.
type plan struct {
	ready   chan struct{} // closed once recorded (or failed: err)
	err     error
	prog    *engine.Program
	inputs  []*engine.Buffer
	outputs []*engine.Buffer
	outSh   []layers.Shape
	bufs    []*engine.Buffer
	planned *planner.Plan // what was recorded (shapes and steps, for profiles)
	refs    int
	evicted bool // no longer in Model.plans: freed when refs drops to 0
}

// close frees the plan; nothing may use it any more.
func (p *plan) close() {
	if p.prog != nil {
		p.prog.Close()
	}
	for _, b := range p.bufs {
		b.Close()
	}
}

// Run runs the model on inputs given in the order of Spec().Inputs and returns
// the outputs in the order of Spec().Outputs. A dynamic (-1) dimension of an
// input, usually the batch, may take any size, and an input that declares
// no shape (model.ValueInfo.AnyShape) takes any shape; each new shape
// makes and records a new plan on first use. Shapes the graph cannot
// compute with are ErrShape, found when that plan is made.
//
// Cancellation: a ctx already done fails Run with its error (wrapped)
// before anything is submitted; one that ends while Run waits for the GPU
// makes it return within about 20 ms (see engine.Program.Run). A split
// batch stops between parts.
//
// Batches of any size: when a batch needs a tensor larger than the device
// can bind (maxStorageBufferRange, engine.ErrTooLarge) or more memory than
// it has (engine.ErrOutOfDeviceMemory), Run splits it along the batch axis
// (the first dimension, when every input's first dimension is dynamic and
// of the same size) into runs that fit, halving the run size until one
// fits, and joins their outputs. The model remembers the size that fits, so
// later large batches are split at once. This assumes the samples of a batch
// are independent, as in any inference graph that keeps the batch axis; a
// model whose outputs do not keep it (output dimension 0 is not the batch),
// or one with an input of any shape (whose first dimension is not known to
// be a batch), is not split and returns the error.
//
// An input with a default value (Spec().Defaults: an ONNX initializer that
// is also a graph input) may be given as a zero Tensor, or left out at the
// end of the list, to run with its default.
func (m *Model) Run(ctx context.Context, inputs ...Tensor) ([]Tensor, error) {
	inputs = withDefaults(m.spec, inputs)
	shapes, err := m.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("vkinfer: run %s: %w", m.spec.Name, err)
	}
	n := m.batchSize(shapes)
	if n == 0 {
		return m.runWhole(ctx, inputs, shapes)
	}
	var res []Tensor
	for lo := 0; lo < n; {
		size := n - lo
		if lim := int(m.batchLimit.Load()); lim > 0 && size > lim {
			size = lim
		}
		ins, sh := inputs, shapes
		if size != n {
			ins, sh = sliceBatch(inputs, shapes, lo, size)
		}
		p, err := m.acquire(sh)
		if err != nil {
			if size > 1 && (errors.Is(err, engine.ErrTooLarge) || errors.Is(err, engine.ErrOutOfDeviceMemory)) {
				m.lowerBatchLimit(size / 2)
				continue
			}
			return nil, err
		}
		if size == n {
			return m.runPlan(ctx, p, ins, nil, 0, 0)
		}
		if res == nil {
			if res, err = m.batchOutputs(p, n, size); err != nil {
				m.release(p)
				return nil, err
			}
		}
		if _, err := m.runPlan(ctx, p, ins, res, lo, size); err != nil {
			return nil, err
		}
		lo += size
	}
	return res, nil
}

// runWhole runs inputs as one run.
func (m *Model) runWhole(ctx context.Context, inputs []Tensor, shapes []layers.Shape) ([]Tensor, error) {
	p, err := m.acquire(shapes)
	if err != nil {
		return nil, err
	}
	return m.runPlan(ctx, p, inputs, nil, 0, 0)
}

// runPlan runs p on inputs and releases it (see acquire). With res nil it
// returns new output tensors; otherwise it writes the outputs into rows
// [lo, lo+size) of res, whose first dimension is the whole batch.
func (m *Model) runPlan(ctx context.Context, p *plan, inputs []Tensor, res []Tensor, lo, size int) ([]Tensor, error) {
	defer m.release(p)
	ins := make([]engine.IO, len(inputs))
	for i, t := range inputs {
		ins[i] = engine.IO{Buf: p.inputs[i], Data: t.Data}
	}
	outs := make([]engine.IO, len(p.outputs))
	if res == nil {
		res = make([]Tensor, len(p.outputs))
		for i := range p.outputs {
			res[i] = Tensor{Shape: append([]int(nil), p.outSh[i]...), Data: make([]float32, p.outSh[i].Elems())}
			outs[i] = engine.IO{Buf: p.outputs[i], Data: res[i].Data}
		}
	} else {
		for i := range p.outputs {
			per := p.outSh[i].Elems() / size
			outs[i] = engine.IO{Buf: p.outputs[i], Data: res[i].Data[lo*per : (lo+size)*per]}
		}
	}
	if err := p.prog.Run(ctx, ins, outs); err != nil {
		return nil, fmt.Errorf("vkinfer: run %s: %w", m.spec.Name, err)
	}
	return res, nil
}

// batchSize returns the batch size of inputs Run may split: the first
// dimension when every input's is dynamic and they agree; 0 otherwise.
func (m *Model) batchSize(shapes []layers.Shape) int {
	n := 0
	for i, s := range shapes {
		if len(s) == 0 || len(m.spec.Inputs[i].Shape) == 0 || m.spec.Inputs[i].Shape[0] >= 0 || (i > 0 && s[0] != n) {
			return 0
		}
		n = s[0]
	}
	return n
}

// sliceBatch returns rows [lo, lo+size) of inputs (sharing their data) and
// their shapes.
func sliceBatch(inputs []Tensor, shapes []layers.Shape, lo, size int) ([]Tensor, []layers.Shape) {
	ins := make([]Tensor, len(inputs))
	sh := make([]layers.Shape, len(shapes))
	for i, t := range inputs {
		per := len(t.Data) / t.Shape[0]
		sh[i] = append(layers.Shape{size}, shapes[i][1:]...)
		ins[i] = Tensor{Shape: sh[i], Data: t.Data[lo*per : (lo+size)*per]}
	}
	return ins, sh
}

// batchOutputs allocates the outputs of a batch of n run in parts of size
// rows by plan p, or says why the outputs cannot be joined.
func (m *Model) batchOutputs(p *plan, n, size int) ([]Tensor, error) {
	res := make([]Tensor, len(p.outSh))
	for i, s := range p.outSh {
		if len(s) == 0 || s[0] != size {
			return nil, fmt.Errorf("vkinfer: %w: a batch of %d is too large for %s in one run, and output %q (shape %v for %d rows) does not keep the batch axis, so the batch cannot be split; run smaller batches",
				engine.ErrTooLarge, n, m.dev.Info().Name, m.spec.Outputs[i].Name, []int(s), size)
		}
		shape := append([]int{n}, s[1:]...)
		res[i] = Tensor{Shape: shape, Data: make([]float32, s.Elems()/size*n)}
	}
	return res, nil
}

// lowerBatchLimit makes n the largest run size Run tries from now on.
func (m *Model) lowerBatchLimit(n int) {
	for {
		old := m.batchLimit.Load()
		if old > 0 && old <= int64(n) || m.batchLimit.CompareAndSwap(old, int64(n)) {
			return
		}
	}
}

func (m *Model) checkInputs(inputs []Tensor) ([]layers.Shape, error) {
	want := m.spec.Inputs
	if len(inputs) != len(want) {
		return nil, fmt.Errorf("vkinfer: %w: model takes %d input(s) %v, got %d", ErrShape, len(want), names(want), len(inputs))
	}
	shapes := make([]layers.Shape, len(inputs))
	for i, t := range inputs {
		w := want[i].Shape
		ok := want[i].Takes(t.Shape)
		n := 1
		for _, d := range t.Shape {
			ok = ok && d > 0
			n *= d
		}
		if !ok {
			hint := ""
			if len(t.Shape) == len(w) && len(w) > 0 && w[0] >= 0 && t.Shape[0] != w[0] {
				hint = fmt.Sprintf("; the model's first (batch) dimension is fixed at %d: export it with a dynamic batch, e.g. torch.onnx.export(..., dynamic_axes={%q: {0: \"batch\"}})", w[0], want[i].Name)
			}
			if want[i].AnyShape {
				return nil, fmt.Errorf("vkinfer: %w: input %q takes any shape whose dimensions are all > 0, got %v", ErrShape, want[i].Name, t.Shape)
			}
			return nil, fmt.Errorf("vkinfer: %w: input %q takes shape %v (-1 = any size), got %v%s", ErrShape, want[i].Name, w, t.Shape, hint)
		}
		if n != len(t.Data) {
			return nil, fmt.Errorf("vkinfer: %w: input %q: shape %v needs %d values, but Data holds %d", ErrShape, want[i].Name, t.Shape, n, len(t.Data))
		}
		shapes[i] = append(layers.Shape(nil), t.Shape...)
	}
	return shapes, nil
}

func names(vs []model.ValueInfo) []string {
	var s []string
	for _, v := range vs {
		if v.AnyShape {
			s = append(s, v.Name+"(any shape)")
			continue
		}
		s = append(s, fmt.Sprintf("%s%v", v.Name, v.Shape))
	}
	return s
}

// acquire returns the plan for input shapes, recording it on first use,
// and holds it for the caller until release. Recording runs outside m.mu
// (one at a time, under m.rec), so runs of recorded plans go on meanwhile;
// runs wanting the same new shapes wait for the one recording. Past
// maxPlans, the least recently used plan leaves the cache and is freed by
// the last run holding it, never while a run uses it and never under m.mu.
func (m *Model) acquire(shapes []layers.Shape) (*plan, error) {
	key := shapesKey(shapes)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		if m.owner != nil && m.owner.isClosed() {
			return nil, fmt.Errorf("vkinfer: run %s: the Device was closed, which closes its models: %w", m.spec.Name, ErrClosed)
		}
		return nil, fmt.Errorf("vkinfer: run %s: the Model was closed: %w", m.spec.Name, ErrClosed)
	}
	p := m.plans[key]
	if p != nil {
		m.touch(key)
		p.refs++
		m.runs.Add(1)
		m.mu.Unlock()
		<-p.ready
		if p.err != nil {
			m.release(p)
			return nil, p.err
		}
		return p, nil
	}
	p = &plan{ready: make(chan struct{}), refs: 1}
	m.runs.Add(1)
	m.plans[key] = p
	m.order = append(m.order, key)
	var evict []*plan
	for len(m.order) > maxPlans {
		old := m.plans[m.order[0]]
		delete(m.plans, m.order[0])
		m.order = m.order[1:]
		old.evicted = true
		if old.refs == 0 {
			evict = append(evict, old)
		}
	}
	m.mu.Unlock()
	for _, old := range evict {
		old.close() // waits for the GPU if a cancelled run left work behind
	}

	m.rec.Lock()
	rec, err := m.compile(shapes)
	m.dropUnused()
	m.rec.Unlock()
	if err != nil {
		p.err = err
	} else {
		p.prog, p.inputs, p.outputs, p.outSh, p.bufs = rec.prog, rec.inputs, rec.outputs, rec.outSh, rec.bufs
	}
	close(p.ready)
	if err != nil {
		m.mu.Lock()
		if !p.evicted {
			// Drop the failed plan so that the next run tries again.
			delete(m.plans, key)
			m.forget(key)
			p.evicted = true
		}
		m.mu.Unlock()
		m.release(p)
		return nil, err
	}
	return p, nil
}

// release ends a run's hold on p (from acquire), freeing p if it has left
// the cache and this was the last hold.
func (m *Model) release(p *plan) {
	m.mu.Lock()
	p.refs--
	free := p.evicted && p.refs == 0 // Model.close frees the plans still cached
	m.mu.Unlock()
	if free {
		p.close()
	}
	m.runs.Done()
}

// shapesKey is the plan key of input shapes: their dimensions, shapes
// separated by ';' (built on every run, so without fmt).
func shapesKey(shapes []layers.Shape) string {
	b := make([]byte, 0, 32)
	for _, s := range shapes {
		for _, d := range s {
			b = strconv.AppendInt(b, int64(d), 10)
			b = append(b, ',')
		}
		b = append(b, ';')
	}
	return string(b)
}

func (m *Model) touch(key string) {
	for i, k := range m.order {
		if k == key {
			m.order = append(append(m.order[:i:i], m.order[i+1:]...), key)
			return
		}
	}
}

// forget removes key from the LRU order; the caller holds m.mu.
func (m *Model) forget(key string) {
	for i, k := range m.order {
		if k == key {
			m.order = append(m.order[:i:i], m.order[i+1:]...)
			return
		}
	}
}

// compile plans the graph for these input shapes (package planner: shapes,
// shape subgraphs evaluated on the host, views, fused runs the chain kernel
// takes at these shapes, buffer slots by liveness), allocates the slots in
// one block of exactly their size, writes the host values device steps read,
// and records the plan's program.
//
// Where the plan has a choice (a run of Dense layers as one chain dispatch,
// as the chain's split form -- its first layer spread over workgroups, then
// the rest as one dispatch -- or as one GEMM dispatch per layer), the first
// plan for these shapes records each candidate, times them on the device
// (15 runs each, in turn, the medians) and keeps the fastest; the choice is
// stored beside the pipeline cache (planner.Choices, keyed by device,
// driver, graph and shapes), so the next load plans at once.
// Options.FixedPlans skips the measurement (chains where they fit).
func (m *Model) compile(inShapes []layers.Shape) (*plan, error) {
	if mode, known := m.storedMode(inShapes); known {
		p, _, err := m.record(inShapes, mode, engine.ProfileOff)
		return p, err
	}
	// The candidates: the plan with chains (or with none, where no chain
	// fits: the per-layer plan), then each other mode whose plan differs.
	type candidate struct {
		mode planMode
		p    *plan
	}
	p, forms, err := m.record(inShapes, planChain, engine.ProfileOff)
	if err != nil {
		return nil, err
	}
	if !forms.can[planChain] && !forms.can[planSplit] {
		return p, nil // nothing to choose
	}
	first := planChain
	if !forms.used[planChain] {
		first = planLayers // the same plan
	}
	cands := []candidate{{first, p}}
	for _, mode := range []planMode{planSplit, planLayers} {
		if mode == first || mode == planSplit && !forms.can[planSplit] {
			continue
		}
		p, f, err := m.record(inShapes, mode, engine.ProfileOff)
		if err != nil {
			continue // the plans recorded stand
		}
		if mode == planSplit && !f.used[planSplit] {
			p.close()
			continue
		}
		cands = append(cands, candidate{mode, p})
	}
	if len(cands) == 1 {
		return cands[0].p, nil
	}
	progs := make([]*engine.Program, len(cands))
	for i, c := range cands {
		progs[i] = c.p.prog
		// Defined inputs: a plan's activations may be recycled memory,
		// whose bits CPU drivers compute on several times slower when
		// they are subnormal (x86 without flush-to-zero): on lavapipe
		// every candidate recorded after the first ran ~5x slower and
		// the first always won (docs/PERFORMANCE.md).
		for _, in := range c.p.inputs {
			if err := in.Write(make([]float32, in.Len())); err != nil {
				for _, c := range cands {
					c.p.close()
				}
				return nil, fmt.Errorf("vkinfer: timing plans: %w", err)
			}
		}
	}
	times := timePrograms(progs...)
	best := 0
	for i := range cands {
		if times[i] < times[best] {
			best = i
		}
	}
	attrs := []any{"model", m.spec.Name, "shapes", shapesKey(inShapes)}
	for i, c := range cands {
		attrs = append(attrs, c.mode.String(), times[i])
		if i != best {
			c.p.close()
		}
	}
	choice := cands[best].mode.String()
	if err := m.owner.choices.Put(m.choiceKey(inShapes), choice); err != nil {
		m.owner.logger.Debug("vkinfer: plan choices not saved", "err", err)
	}
	m.owner.logger.Debug("vkinfer: plan choice measured", append(attrs, "choice", choice)...)
	return cands[best].p, nil
}

// planMode says how a plan runs the candidate fused runs of Dense layers.
type planMode int

const (
	// planChain: one chain dispatch where DenseChain.Fits.
	planChain planMode = iota
	// planSplit: the chain's split form where DenseChain.SplitFits, else
	// one chain dispatch where DenseChain.Fits.
	planSplit
	// planLayers: one dispatch per layer.
	planLayers
)

func (p planMode) String() string { return [...]string{"chain", "split", "layers"}[p] }

// choiceKey names the plan choice for these input shapes in the device's
// planner.Choices. The suffix names the candidates and the timing: "zeroed"
// since candidates are timed on zeroed inputs, so choices stored by builds
// whose timing favoured the first candidate (see timePrograms) are measured
// again.
func (m *Model) choiceKey(inShapes []layers.Shape) string {
	return m.fingerprint + "|" + shapesKey(inShapes) + "|chain+split|zeroed"
}

// storedMode returns the plan mode chosen for these shapes: planChain with
// Options.FixedPlans, the stored measurement if there is one (known), else
// planChain and known false.
func (m *Model) storedMode(inShapes []layers.Shape) (mode planMode, known bool) {
	if m.owner == nil || m.owner.fixed {
		return planChain, true
	}
	choice, ok := m.owner.choices.Get(m.choiceKey(inShapes))
	if !ok {
		return planChain, false
	}
	for _, mode := range []planMode{planChain, planSplit, planLayers} {
		if mode.String() == choice {
			return mode, true
		}
	}
	return planChain, false // a value this build does not know: measure again
}

// timePrograms returns the median wall time of 15 runs of each program,
// run in turn after 2 untimed runs each, so that a busy machine slows them
// alike (no transfers: the caller writes the inputs once; their values
// change the work only where they are not normal floats -- subnormals cost
// CPU drivers several times more -- so it writes zeros).
func timePrograms(ps ...*engine.Program) []time.Duration {
	ts := make([][]time.Duration, len(ps))
	for i := 0; i < 17; i++ {
		for j, p := range ps {
			t0 := time.Now()
			d := time.Duration(math.MaxInt64)
			if p.Run(context.Background(), nil, nil) == nil {
				d = time.Since(t0)
			}
			if i >= 2 {
				ts[j] = append(ts[j], d)
			}
		}
	}
	med := make([]time.Duration, len(ps))
	for j := range ts {
		sort.Slice(ts[j], func(a, b int) bool { return ts[j][a] < ts[j][b] })
		med[j] = ts[j][len(ts[j])/2]
	}
	return med
}

// fusedForms says which fused forms of the runs of Dense layers a plan
// used, and which it could have used (can: a run at its start took the
// form at these shapes; only where mode is not planLayers), indexed by
// planChain and planSplit.
type fusedForms struct {
	used, can [planLayers]bool
}

// record plans the graph for inShapes, running the candidate fused runs of
// Dense layers as mode says, and records the plan (each plan step an engine
// step, timed when profile is not ProfileOff); fused says which fused forms
// it used and could have used.
func (m *Model) record(inShapes []layers.Shape, mode planMode, profile engine.ProfileMode) (_ *plan, fused fusedForms, err error) {
	d := m.dev
	shapes := make([][]int, len(inShapes))
	for i, s := range inShapes {
		shapes[i] = s
	}
	opts := planner.Options{Align: int(d.Alignment() / 4), PerImage: m.perImage}
	split := map[int]bool{} // runs recorded in their split form, by first node
	if mode != planLayers {
		opts.Chain = func(first int, in []int) int {
			c := m.chains[first]
			if c == nil {
				return 0
			}
			canSplit, canChain := c.SplitFits(in), c.Fits(in)
			fused.can[planSplit] = fused.can[planSplit] || canSplit
			fused.can[planChain] = fused.can[planChain] || canChain
			switch {
			case mode == planSplit && canSplit:
				split[first] = true
				fused.used[planSplit] = true
			case canChain:
				fused.used[planChain] = true
			default:
				return 0
			}
			return c.Layers()
		}
	}
	pl, err := planner.Make(m.graph, shapes, opts)
	if err != nil {
		for _, in := range m.spec.Inputs {
			if in.AnyShape && (errors.Is(err, model.ErrInvalid) || errors.Is(err, planner.ErrPlan)) {
				// The graph was valid at load; these shapes are what it
				// cannot take.
				return nil, fused, fmt.Errorf("vkinfer: %w: the graph cannot take inputs of shapes %v (input %q declares no shape, so this is known only now): %w",
					ErrShape, shapes, in.Name, err)
			}
		}
		return nil, fused, fmt.Errorf("vkinfer: %w", err)
	}
	// Values that are never alive together share memory (the planner's
	// arena); the recorder's barriers follow the shared ranges.
	sizes, offs := make([]int64, len(pl.SlotSize)), make([]int64, len(pl.SlotSize))
	for i, n := range pl.SlotSize {
		sizes[i], offs[i] = 4*int64(n), 4*int64(pl.SlotOffset[i])
	}
	// Split runs' scratch buffers go after the planner's arena (their own
	// memory: a scratch is written and read inside one step).
	total := 4 * int64(pl.ArenaSize)
	scratch := map[int]int{} // index in bufs, by the run's first node
	for _, st := range pl.Steps {
		if st.Count > 1 && split[st.Node] {
			align := d.Alignment()
			total = (total + align - 1) / align * align
			n := 4 * int64(max(1, m.chains[st.Node].SplitScratch(st.InShapes[0])))
			scratch[st.Node] = len(sizes)
			sizes, offs = append(sizes, n), append(offs, total)
			total = (total + n + align - 1) / align * align
		}
	}
	bufs, err := d.NewAliasedBuffers(engine.Activations, total, offs, sizes)
	if err != nil {
		return nil, fused, fmt.Errorf("vkinfer: activations: %w", err)
	}
	p := &plan{bufs: bufs}
	if profile != engine.ProfileOff {
		p.planned = pl
	}
	defer func() {
		if err != nil {
			for _, b := range p.bufs {
				b.Close()
			}
		}
	}()
	for _, u := range pl.Uploads {
		if err := bufs[u.Slot].Write(u.Data); err != nil {
			return nil, fused, fmt.Errorf("vkinfer: host value %q: %w", u.Name, err)
		}
	}
	buf := func(name string) *engine.Buffer { return bufs[pl.Slot[name]] }
	rec := d.NewRecorder()
	finished := false
	defer func() {
		if !finished {
			rec.Discard() // a node failed to record: free its temporaries
		}
	}()
	rec.Profile(profile)
	for _, s := range pl.Inputs {
		p.inputs = append(p.inputs, bufs[s])
		if err := rec.Input(bufs[s]); err != nil {
			return nil, fused, err
		}
	}
	for _, st := range pl.Steps {
		n := &m.graph.Nodes[st.Node]
		rec.Step(n.Name)
		inBufs := make([]*engine.Buffer, len(st.Ins))
		inShapes := make([]layers.Shape, len(st.Ins))
		for j, name := range st.Ins {
			inBufs[j], inShapes[j] = buf(name), st.InShapes[j]
		}
		outBufs := make([]*engine.Buffer, len(st.Outs))
		for j, name := range st.Outs {
			outBufs[j] = buf(name)
		}
		switch {
		case st.Copy:
			err = layers.RecordUnary(rec, d, layers.Unary{Op: ops.UnaryIdentity, N: layers.Shape(st.InShapes[0]).Elems()}, inBufs[0], outBufs[0])
		case st.Count > 1 && split[st.Node]:
			err = m.chains[st.Node].RecordSplit(rec, inBufs[0], inShapes[0], bufs[scratch[st.Node]], outBufs[0])
		case st.Count > 1:
			err = m.chains[st.Node].Record(rec, inBufs[0], inShapes[0], outBufs[0])
		default:
			outShapes := make([]layers.Shape, len(st.Outs))
			for j, name := range st.Outs {
				outShapes[j] = pl.Shapes[name]
			}
			if stride := pl.SlotStride[pl.Slot[st.Outs[0]]]; stride > 0 {
				err = m.recordPerImage(rec, st, inBufs, inShapes, outBufs[0], outShapes[0], stride, pl.Host)
				break
			}
			err = m.recordLayer(rec, st, inBufs, inShapes, outBufs, outShapes, pl.Host)
		}
		if err != nil {
			return nil, fused, fmt.Errorf("vkinfer: node %s (%s): %w", n.Name, n.Op, err)
		}
	}
	for i, o := range m.spec.Outputs {
		b := bufs[pl.Outputs[i]]
		p.outputs = append(p.outputs, b)
		p.outSh = append(p.outSh, pl.Shapes[o.Name])
		if err := rec.Output(b); err != nil {
			return nil, fused, err
		}
	}
	prog, err := rec.Finish()
	finished = true // Finish frees them itself when it fails
	if err != nil {
		return nil, fused, fmt.Errorf("vkinfer: record: %w", err)
	}
	p.prog = prog
	return p, fused, nil
}

// recordLayer records step st's node (one node, not a view copy) with its
// layer: through RecordHost where the layer reads host values, with the
// measured kernel choice where it has several.
func (m *Model) recordLayer(rec *engine.Recorder, st planner.Step, in []*engine.Buffer, inShapes []layers.Shape, out []*engine.Buffer, outShapes []layers.Shape, hostVals map[string]*ops.Tensor) error {
	l := m.layers[st.Node]
	if hl, ok := l.(layers.HostLayer); ok {
		host := make([]*ops.Tensor, len(st.Ins))
		for j, name := range st.Ins {
			host[j] = hostVals[name]
		}
		return hl.RecordHost(rec, in, inShapes, host, out)
	}
	if vl, ok := l.(layers.VariantLayer); ok {
		return vl.RecordVariant(rec, in, inShapes, out, m.chooseVariant(vl, m.graph.Nodes[st.Node].Name, inShapes, outShapes))
	}
	return l.Record(rec, in, inShapes, out)
}

// perImageOps are the ops whose output's image n is a function of their
// input's image n alone (with constant weights and parameters), which
// recordPerImage may therefore record image by image.
var perImageOps = map[string]bool{
	ops.OpConv: true, ops.OpMaxPool: true, ops.OpAveragePool: true, ops.OpGlobalAveragePool: true,
	ops.OpGlobalMaxPool: true, ops.OpBatchNormalization: true, ops.OpRelu: true, ops.OpLeakyRelu: true,
	ops.OpClip: true, ops.OpSigmoid: true, ops.OpTanh: true, ops.OpHardSigmoid: true, ops.OpHardSwish: true,
}

// perImage is planner.Options.PerImage: node i is one of perImageOps (the
// planner checks that the step has one runtime input, of shape in) and its
// layer, where it can tell (layers.ByImageLayer), records image by image at
// no extra cost for that input.
func (m *Model) perImage(i int, in []int) bool {
	if !perImageOps[m.graph.Nodes[i].Op] {
		return false
	}
	if bl, ok := m.layers[i].(layers.ByImageLayer); ok {
		return bl.ByImage(in)
	}
	return true
}

// recordPerImage records step st (planner.Options.PerImage) so that it
// writes its output into its place in a Concat's output at batch > 1, image
// n at element n*stride of out: by the layer itself where it can
// (layers.StridedLayer: Conv, with the batch's measured choice), else one
// image at a time, image n of its one input (a view of in[0]) to a view of
// out, each recorded as a batch of one.
func (m *Model) recordPerImage(rec *engine.Recorder, st planner.Step, in []*engine.Buffer, inShapes []layers.Shape, out *engine.Buffer, outShape layers.Shape, stride int, host map[string]*ops.Tensor) error {
	if len(in) != 1 || len(inShapes[0]) == 0 || len(outShape) == 0 || inShapes[0][0] != outShape[0] {
		return fmt.Errorf("vkinfer: %w: image-by-image step with inputs %v and output %v", planner.ErrPlan, inShapes, outShape)
	}
	if sl, ok := m.layers[st.Node].(layers.StridedLayer); ok {
		variant := ""
		if vl, ok := sl.(layers.VariantLayer); ok {
			variant = m.chooseVariant(vl, m.graph.Nodes[st.Node].Name, inShapes, []layers.Shape{outShape})
		}
		return sl.RecordStrided(rec, in, inShapes, out, stride, variant)
	}
	n := inShapes[0][0]
	inImg, outImg := int64(inShapes[0].Elems()/n), int64(outShape.Elems()/n)
	in1 := append(layers.Shape{1}, inShapes[0][1:]...)
	out1 := append(layers.Shape{1}, outShape[1:]...)
	for k := range int64(n) {
		x, err := rec.View(in[0], 4*k*inImg, 4*inImg)
		if err != nil {
			return err
		}
		y, err := rec.View(out, 4*k*int64(stride), 4*outImg)
		if err != nil {
			return err
		}
		if err := m.recordLayer(rec, st, []*engine.Buffer{x}, []layers.Shape{in1}, []*engine.Buffer{y}, []layers.Shape{out1}, host); err != nil {
			return err
		}
	}
	return nil
}

// Class is one label with its score.
type Class struct {
	Index int
	Label string
	Score float32
}

// TopK returns the k highest scores of one output row with their labels.
func (m *Model) TopK(row []float32, k int) []Class {
	cs := make([]Class, len(row))
	for i, v := range row {
		cs[i] = Class{Index: i, Score: v}
		if i < len(m.spec.Labels) {
			cs[i].Label = m.spec.Labels[i]
		} else {
			cs[i].Label = fmt.Sprint(i)
		}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].Score > cs[b].Score })
	if k > 0 && k < len(cs) {
		cs = cs[:k]
	}
	return cs
}

// Classify turns images into one batch by the model's input spec, runs it
// and returns the top k classes of each image.
func (m *Model) Classify(ctx context.Context, imgs []image.Image, k int) ([][]Class, error) {
	spec := m.spec.Input
	if spec == nil {
		return nil, fmt.Errorf("vkinfer: model %q has no image input spec; use Run with tensors", m.spec.Name)
	}
	if len(imgs) == 0 {
		return nil, nil
	}
	if len(m.spec.Inputs) != 1 {
		return nil, fmt.Errorf("vkinfer: Classify needs a model with one input, %q has %d", m.spec.Name, len(m.spec.Inputs))
	}
	per := spec.Size()
	shape := append([]int{len(imgs)}, m.spec.Inputs[0].Shape[1:]...)
	data := make([]float32, 0, len(imgs)*per)
	for i, img := range imgs {
		v, err := spec.FromImage(img)
		if err != nil {
			return nil, fmt.Errorf("vkinfer: image %d: %w", i, err)
		}
		data = append(data, v...)
	}
	outs, err := m.Run(ctx, Tensor{Shape: shape, Data: data})
	if err != nil {
		return nil, err
	}
	out := outs[0]
	cols := out.Shape[len(out.Shape)-1]
	res := make([][]Class, len(imgs))
	for i := range imgs {
		res[i] = m.TopK(out.Data[i*cols:(i+1)*cols], k)
	}
	return res, nil
}
