// Package serve is vkinfer's inference server: the KServe v2 / Open Inference
// Protocol over REST (with the binary tensor data extension) and gRPC, models
// from a Triton-layout model repository (DIR/<model>/config.pbtxt,
// DIR/<model>/<version>/model.onnx or model.bin), Triton's dynamic batcher
// semantics, and Prometheus metrics. See docs/SERVING.md.
//
// The package uses only vkinfer's public API: a Server is given an opened
// *vkinfer.Device and loads its models with Device.Load.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/serve/internal/tritonpb"
)

// Errors of requests, for errors.Is; each maps to an HTTP status and a gRPC
// code (docs/SERVING.md lists them).
var (
	// ErrInvalid: the request is malformed or does not fit the model (400,
	// INVALID_ARGUMENT).
	ErrInvalid = errors.New("serve: invalid request")
	// ErrNotFound: no such model or version (404, NOT_FOUND).
	ErrNotFound = errors.New("serve: not found")
	// ErrTooLarge: the request is over a size limit (413, INVALID_ARGUMENT).
	ErrTooLarge = errors.New("serve: request too large")
	// ErrQueueFull: the model's queue is full (429, RESOURCE_EXHAUSTED).
	ErrQueueFull = errors.New("serve: queue full")
	// ErrUnavailable: the model failed to load or the server is shutting
	// down (503, UNAVAILABLE).
	ErrUnavailable = errors.New("serve: unavailable")
	// ErrInternal: a bug or a device failure (500, INTERNAL).
	ErrInternal = errors.New("serve: internal error")
)

// Defaults of Config.
const (
	DefaultMaxRequestBytes   = 64 << 20
	DefaultMaxTensorElements = 1 << 24
	DefaultMaxQueueSize      = 1024
)

// Config configures a Server.
type Config struct {
	// Repository is the model repository directory (Triton's layout).
	Repository string
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// MaxRequestBytes bounds a REST body and a gRPC message (0 = 64 MiB).
	MaxRequestBytes int64
	// MaxTensorElements bounds the elements of one input tensor (0 = 2^24),
	// checked against the shape a request claims before anything is
	// allocated for it.
	MaxTensorElements int
	// MaxQueueSize bounds each model's queue where config.pbtxt leaves
	// dynamic_batching.default_queue_policy.max_queue_size at 0 (Triton's
	// "unbounded"); 0 = 1024.
	MaxQueueSize int
	// Version is the server version that metadata reports.
	Version string
	// Profiling serves Go's profiles (net/http/pprof) under /debug/pprof/
	// on the metrics listener, for finding where a server's time goes
	// (docs/SERVING.md "Where the time goes"). Off by default: a profile exposes
	// internals and costs CPU while it is taken.
	Profiling bool
}

// Server serves the models of one repository on one device. Its handlers
// (HTTPHandler, RegisterGRPC, MetricsHandler) are safe for concurrent use.
type Server struct {
	dev     *vkinfer.Device
	cfg     Config
	log     *slog.Logger
	models  map[string]*modelEntry
	names   []string // sorted
	ready   atomic.Bool
	metrics *metrics
	runCtx  context.Context
	stopRun context.CancelFunc
}

// New loads every model of cfg.Repository on dev. A model that fails to
// load is logged and reported by metadata and the repository index while
// the others serve; the server is then not ready. New fails only when the
// repository cannot be read.
func New(dev *vkinfer.Device, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxTensorElements <= 0 {
		cfg.MaxTensorElements = DefaultMaxTensorElements
	}
	if cfg.MaxQueueSize <= 0 {
		cfg.MaxQueueSize = DefaultMaxQueueSize
	}
	ents, err := os.ReadDir(cfg.Repository)
	if err != nil {
		return nil, fmt.Errorf("serve: model repository: %w", err)
	}
	s := &Server{dev: dev, cfg: cfg, log: cfg.Logger, models: map[string]*modelEntry{}}
	s.runCtx, s.stopRun = context.WithCancel(context.Background())
	s.metrics = newMetrics(dev)
	ok := true
	for _, e := range ents {
		if !e.IsDir() || e.Name()[0] == '.' {
			continue
		}
		m := s.loadModel(filepath.Join(cfg.Repository, e.Name()))
		if m.err != nil {
			ok = false
			s.log.Error("model failed to load", "model", m.name, "err", m.err)
		}
		for n := range m.versions {
			s.metrics.modelReady.WithLabelValues(m.name, strconv.FormatInt(n, 10)).Set(1)
		}
		s.models[m.name] = m
		s.names = append(s.names, m.name)
	}
	sort.Strings(s.names)
	if len(s.names) == 0 {
		s.log.Warn("the model repository has no model directories", "dir", cfg.Repository)
	}
	s.ready.Store(ok)
	return s, nil
}

// Ready reports whether every model that should load has loaded and the
// server is not shutting down.
func (s *Server) Ready() bool { return s.ready.Load() }

// startBatcher gives v its request queue, configured by cfg.
func (s *Server) startBatcher(v *version, cfg *tritonpb.ModelConfig) {
	db := cfg.GetDynamicBatching()
	maxQueue := int(db.GetDefaultQueuePolicy().GetMaxQueueSize())
	if maxQueue <= 0 {
		maxQueue = s.cfg.MaxQueueSize
	}
	var preferred []int
	for _, p := range db.GetPreferredBatchSize() {
		if p > 0 && int(p) <= v.maxBatch {
			preferred = append(preferred, int(p))
		}
	}
	verLabel := strconv.FormatInt(v.num, 10)
	hist := s.metrics.batchSize.WithLabelValues(v.model, verLabel)
	v.obs = versionMetrics{label: verLabel,
		queue:   s.metrics.queue.WithLabelValues(v.model, verLabel),
		compute: s.metrics.compute.WithLabelValues(v.model, verLabel),
		success: map[string]prometheus.Counter{}, latency: map[string]prometheus.Observer{}}
	for _, p := range []string{"rest", "grpc"} {
		v.obs.success[p] = s.metrics.requests.WithLabelValues(v.model, verLabel, p, "success")
		v.obs.latency[p] = s.metrics.latency.WithLabelValues(v.model, verLabel, p)
	}
	runs := make([]runFunc, len(v.instances))
	for i, m := range v.instances {
		count := s.metrics.instRuns.WithLabelValues(v.model, verLabel, strconv.Itoa(i))
		runs[i] = func(ctx context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			count.Inc()
			return m.Run(ctx, in...)
		}
	}
	v.b = newBatcher(&batcher{
		runs:      runs,
		batchable: v.maxBatch > 0,
		dynamic:   db != nil && v.maxBatch > 1,
		maxRows:   max(v.maxBatch, 1),
		delay:     queueDelay(db),
		preferred: preferred,
		maxQueue:  maxQueue,
		observe:   func(rows int) { hist.Observe(float64(rows)) },
		runCtx:    s.runCtx,
	})
}

// Shutdown stops the batchers once they have run what is queued and closes
// the models; ctx bounds the wait (runs still going when it ends are
// cancelled). Call it after the HTTP and gRPC servers have stopped taking
// requests. The device stays open: it is the caller's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	var all []*version
	for _, name := range s.names {
		for _, v := range s.models[name].versions {
			all = append(all, v)
			v.b.close()
		}
	}
	var err error
	for _, v := range all {
		select {
		case <-v.b.stopped:
		case <-ctx.Done():
			s.stopRun()
			<-v.b.stopped
			err = fmt.Errorf("serve: drain: %w", ctx.Err())
		}
	}
	s.stopRun()
	for _, v := range all {
		v.close()
	}
	return err
}

// beginDrain marks the server not ready (readiness probes fail at once)
// and makes the batchers run what they hold without waiting for more.
func (s *Server) beginDrain() {
	s.ready.Store(false)
	for _, name := range s.names {
		for _, v := range s.models[name].versions {
			v.b.flush()
		}
	}
}

// lookup finds a model version: version "" is the highest loaded one.
func (s *Server) lookup(name, ver string) (*version, error) {
	m, ok := s.models[name]
	if !ok {
		return nil, fmt.Errorf("%w: no model %q in the repository (models: %v)", ErrNotFound, name, s.names)
	}
	if ver == "" {
		if v, ok := m.versions[m.latest]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("%w: model %q failed to load: %v", ErrUnavailable, name, m.err)
	}
	n, err := strconv.ParseInt(ver, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: model version %q is not a number", ErrInvalid, ver)
	}
	v, ok := m.versions[n]
	if !ok {
		if m.err != nil {
			return nil, fmt.Errorf("%w: model %q version %d is not loaded (load errors: %v)", ErrNotFound, name, n, m.err)
		}
		return nil, fmt.Errorf("%w: model %q has no loaded version %d (loaded: %v)", ErrNotFound, name, n, m.loaded())
	}
	return v, nil
}

// loaded lists the loaded versions, highest first.
func (m *modelEntry) loaded() []int64 {
	var out []int64
	for n := range m.versions {
		out = append(out, n)
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// modelReady reports whether the model (version ver, or its latest) serves.
func (s *Server) modelReady(name, ver string) (bool, error) {
	if _, ok := s.models[name]; !ok {
		return false, fmt.Errorf("%w: no model %q in the repository", ErrNotFound, name)
	}
	_, err := s.lookup(name, ver)
	return err == nil, nil
}

// inputSet collects a request's decoded inputs in the model's order.
type inputSet struct {
	v    *version
	max  int
	ins  []vkinfer.Tensor
	rows int
}

func newInputSet(v *version, maxElems int) *inputSet {
	return &inputSet{v: v, max: maxElems, ins: make([]vkinfer.Tensor, len(v.inputs)), rows: -1}
}

// add checks one request input (name, datatype, shape) against the model
// and returns the slot to decode its values into: exactly as many
// elements as the shape gives. Nothing is allocated for a shape that the
// model cannot take or that is over the element limit.
func (is *inputSet) add(name, dt string, shape []int64) ([]float32, int, error) {
	v := is.v
	idx := slices.IndexFunc(v.inputs, func(t tensorSpec) bool { return t.name == name })
	if idx < 0 {
		return nil, 0, fmt.Errorf("%w: model %q has no input %q; its inputs are %v", ErrInvalid, v.model, name, specNames(v.inputs))
	}
	if is.ins[idx].Data != nil {
		return nil, 0, fmt.Errorf("%w: input %q is given twice", ErrInvalid, name)
	}
	size, err := checkDatatype(name, dt)
	if err != nil {
		return nil, 0, err
	}
	want := v.inputs[idx].shape(v.maxBatch)
	bad := func() error {
		return fmt.Errorf("%w: input %q has shape %v; model %q takes %v (-1: any size%s)", ErrInvalid, name, shape, v.model, want,
			map[bool]string{true: fmt.Sprintf("; the batch at most %d, the model's max_batch_size", v.maxBatch)}[v.maxBatch > 0])
	}
	if len(shape) != len(want) {
		return nil, 0, bad()
	}
	elems := 1
	for i, d := range shape {
		if d < 1 || (want[i] >= 0 && d != want[i]) {
			return nil, 0, bad()
		}
		if d > int64(is.max) || elems*int(d) > is.max {
			return nil, 0, fmt.Errorf("%w: input %q of shape %v has more than the %d elements a tensor may have", ErrTooLarge, name, shape, is.max)
		}
		elems *= int(d)
	}
	rows := 1
	if v.maxBatch > 0 {
		rows = int(shape[0])
		if rows > v.maxBatch {
			return nil, 0, bad()
		}
	}
	if is.rows >= 0 && rows != is.rows {
		return nil, 0, fmt.Errorf("%w: input %q has a batch of %d but another input has %d", ErrInvalid, name, rows, is.rows)
	}
	is.rows = rows
	ishape := make([]int, len(shape))
	for i, d := range shape {
		ishape[i] = int(d)
	}
	data := make([]float32, elems)
	is.ins[idx] = vkinfer.Tensor{Shape: ishape, Data: data}
	return data, size, nil
}

// complete checks that every input was given.
func (is *inputSet) complete() error {
	for i, t := range is.ins {
		if t.Data == nil {
			return fmt.Errorf("%w: input %q of model %q is missing", ErrInvalid, is.v.inputs[i].name, is.v.model)
		}
	}
	return nil
}

// selectOutputs resolves requested output names (none = all) to indices.
func (v *version) selectOutputs(names []string) ([]int, error) {
	if len(names) == 0 {
		out := make([]int, len(v.outputs))
		for i := range out {
			out[i] = i
		}
		return out, nil
	}
	var out []int
	for _, n := range names {
		i := slices.IndexFunc(v.outputs, func(t tensorSpec) bool { return t.name == n })
		if i < 0 {
			return nil, fmt.Errorf("%w: model %q has no output %q; its outputs are %v", ErrInvalid, v.model, n, specNames(v.outputs))
		}
		out = append(out, i)
	}
	return out, nil
}

// infer queues the request's inputs on the model's batcher and waits.
func (s *Server) infer(ctx context.Context, v *version, is *inputSet) ([]vkinfer.Tensor, error) {
	res := v.b.submit(&request{ctx: ctx, rows: max(is.rows, 1), inputs: is.ins})
	if res.err == nil || res.compute > 0 {
		v.obs.queue.Observe(res.queue.Seconds())
		v.obs.compute.Observe(res.compute.Seconds())
	}
	if res.err != nil {
		switch {
		case errors.Is(res.err, ErrQueueFull), errors.Is(res.err, ErrUnavailable),
			errors.Is(res.err, context.Canceled), errors.Is(res.err, context.DeadlineExceeded):
			return nil, res.err
		case errors.Is(res.err, vkinfer.ErrShape):
			return nil, fmt.Errorf("%w: %w", ErrInvalid, res.err)
		}
		return nil, fmt.Errorf("%w: model %q: %w", ErrInternal, v.model, res.err)
	}
	return res.outs, nil
}

// outcome is the metrics label of an error.
func outcome(err error) string {
	switch {
	case err == nil:
		return "success"
	case errors.Is(err, ErrQueueFull):
		return "queue_full"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrTooLarge):
		return "invalid"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	}
	return "error"
}

// record counts a finished inference request.
func (s *Server) record(v *version, name, protocol string, start time.Time, err error) {
	if v != nil && err == nil {
		v.obs.success[protocol].Inc()
		v.obs.latency[protocol].Observe(time.Since(start).Seconds())
		return
	}
	ver := ""
	if v != nil {
		name, ver = v.model, v.obs.label
	} else if _, ok := s.models[name]; !ok {
		name = "" // unknown names would make the label set unbounded
	}
	s.metrics.requests.WithLabelValues(name, ver, protocol, outcome(err)).Inc()
	s.metrics.latency.WithLabelValues(name, ver, protocol).Observe(time.Since(start).Seconds())
}
