package serve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/serve/internal/tritonpb"
)

// maxConfigBytes bounds config.pbtxt: a configuration is a few kB.
const maxConfigBytes = 1 << 20

// maxInstances bounds the instances of one model version (the counts of its
// instance_group summed): each is a copy of the model on the device, with
// its weights, programs and buffers, so a count is checked before anything
// is loaded for it.
const maxInstances = 64

// modelEntry is one directory of the repository: a model and its versions.
type modelEntry struct {
	name     string
	platform string
	err      error              // why the model (or one of its versions) failed to load
	versions map[int64]*version // loaded versions
	latest   int64              // highest loaded version
}

// version is one loaded version of a model, as served.
type version struct {
	model     string
	num       int64
	m         *vkinfer.Model   // instances[0]: the spec and metadata
	instances []*vkinfer.Model // config instance_group: each runs batches on its own
	maxBatch  int              // config max_batch_size: 0 = requests give the whole shape
	inputs    []tensorSpec
	outputs   []tensorSpec
	b         *batcher
	obs       versionMetrics
}

// versionMetrics are a version's metrics with their labels resolved once
// (a lookup by label values on every request costs more than the update).
type versionMetrics struct {
	label          string // the version number
	queue, compute prometheus.Observer
	success        map[string]prometheus.Counter  // by protocol
	latency        map[string]prometheus.Observer // by protocol
}

// tensorSpec is one input or output as the protocol sees it.
type tensorSpec struct {
	name string
	// dims is the configured shape without the batch dimension when
	// max_batch_size > 0 (a -1 only as a model's first dimension when
	// max_batch_size is 0).
	dims []int64
}

// shape is the shape metadata reports: -1 for the batch dimension.
func (t tensorSpec) shape(maxBatch int) []int64 {
	if maxBatch > 0 {
		return append([]int64{-1}, t.dims...)
	}
	return append([]int64(nil), t.dims...)
}

// readConfig reads DIR/config.pbtxt, or makes the configuration Triton's
// auto-complete would from the model when there is none.
func readConfig(dir string) (*tritonpb.ModelConfig, bool, error) {
	path := filepath.Join(dir, "config.pbtxt")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return &tritonpb.ModelConfig{}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if st.Size() > maxConfigBytes {
		return nil, false, fmt.Errorf("%s is %d bytes, more than the %d a configuration may have", path, st.Size(), maxConfigBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	cfg := &tritonpb.ModelConfig{}
	if err := prototext.Unmarshal(data, cfg); err != nil {
		return nil, false, fmt.Errorf("%s: %w (the file is Triton's ModelConfig in protobuf text format)", path, err)
	}
	return cfg, true, nil
}

// versionsToLoad lists the numeric version directories of dir the
// version policy selects (default: the latest one), highest first.
func versionsToLoad(dir string, policy *tritonpb.ModelVersionPolicy) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var all []int64
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		n, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || n < 0 {
			continue
		}
		all = append(all, n)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] > all[j] })
	if len(all) == 0 {
		return nil, fmt.Errorf("no version directory (DIR/<model>/<n>/) in %s", dir)
	}
	switch p := policy.GetPolicyChoice().(type) {
	case *tritonpb.ModelVersionPolicy_All_:
		return all, nil
	case *tritonpb.ModelVersionPolicy_Specific_:
		var out []int64
		for _, v := range p.Specific.GetVersions() {
			if !slices.Contains(all, v) {
				return nil, fmt.Errorf("version_policy names version %d, which %s does not have", v, dir)
			}
			out = append(out, v)
		}
		sort.Slice(out, func(i, j int) bool { return out[i] > out[j] })
		return out, nil
	case *tritonpb.ModelVersionPolicy_Latest_:
		n := int(p.Latest.GetNumVersions())
		if n < 1 {
			n = 1
		}
		return all[:min(n, len(all))], nil
	}
	return all[:1], nil
}

// unhonoured lists the fields set in cfg that the server does not act on.
func unhonoured(cfg *tritonpb.ModelConfig) []string {
	c := proto.Clone(cfg).(*tritonpb.ModelConfig)
	c.Name, c.MaxBatchSize, c.VersionPolicy, c.DefaultModelFilename = "", 0, nil, ""
	c.Platform, c.Backend = "", ""
	var out []string
	for _, g := range c.InstanceGroup {
		// count is honoured; name only names the group; kind is checked
		// against the device (instanceKindWarnings).
		g.Name, g.Count, g.Kind = "", 0, 0
		out = append(out, setFields(g.ProtoReflect(), "instance_group.")...)
	}
	c.InstanceGroup = nil
	for _, in := range c.Input {
		in.Name, in.DataType, in.Dims = "", 0, nil
		out = append(out, setFields(in.ProtoReflect(), "input.")...)
	}
	for _, o := range c.Output {
		o.Name, o.DataType, o.Dims = "", 0, nil
		out = append(out, setFields(o.ProtoReflect(), "output.")...)
	}
	c.Input, c.Output = nil, nil
	if db := c.GetDynamicBatching(); db != nil {
		// dynamic_batching itself is honoured (it turns the batcher on),
		// even when empty: report only the fields of it the server ignores.
		db.MaxQueueDelayMicroseconds, db.PreferredBatchSize = 0, nil
		if q := db.DefaultQueuePolicy; q != nil {
			q.MaxQueueSize = 0
			if proto.Size(q) == 0 {
				db.DefaultQueuePolicy = nil
			}
		}
		out = append(out, setFields(db.ProtoReflect(), "dynamic_batching.")...)
		c.SchedulingChoice = nil
	}
	out = append(out, setFields(c.ProtoReflect(), "")...)
	slices.Sort(out)
	return slices.Compact(out)
}

// instanceCount is the number of instances config instance_group asks for:
// the counts of its groups summed, a group's count 0 (unset) taken as 1 as
// Triton does, and 1 without instance_group. Every instance runs on the
// server's device.
func instanceCount(cfg *tritonpb.ModelConfig) (int, error) {
	if len(cfg.InstanceGroup) == 0 {
		return 1, nil
	}
	n := 0
	for i, g := range cfg.InstanceGroup {
		c := int(g.GetCount())
		if c < 0 {
			return 0, fmt.Errorf("config instance_group %d has count %d; it must be >= 1 (0 or unset means 1)", i, c)
		}
		n += max(c, 1)
		if n > maxInstances {
			return 0, fmt.Errorf("config instance_group asks for more than %d instances of the model, the most vkinfer loads (each is a copy of the model on the device)", maxInstances)
		}
	}
	return n, nil
}

// instanceKindWarnings says which instance_group kinds cannot be had: vkinfer
// serves on one Vulkan device, so KIND_GPU instances run on a CPU driver
// (lavapipe, SwiftShader) when that is the device, and KIND_CPU instances on
// a GPU when that is. KIND_AUTO and KIND_MODEL fit any device.
func instanceKindWarnings(cfg *tritonpb.ModelConfig, cpu bool) []string {
	var out []string
	for _, g := range cfg.InstanceGroup {
		k := g.GetKind()
		if k == tritonpb.ModelInstanceGroup_KIND_GPU && cpu || k == tritonpb.ModelInstanceGroup_KIND_CPU && !cpu {
			out = append(out, k.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setFields lists the paths of the non-default scalar fields of m (messages
// are descended into; lists and maps count as one field).
func setFields(m protoreflect.Message, prefix string) []string {
	var out []string
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			sub := setFields(v.Message(), path+".")
			if len(sub) == 0 {
				sub = []string{path}
			}
			out = append(out, sub...)
			return true
		}
		out = append(out, path)
		return true
	})
	return out
}

// loadModel loads the versions of one repository directory. Errors are
// recorded in the entry, which serves whatever versions did load.
func (s *Server) loadModel(dir string) *modelEntry {
	name := filepath.Base(dir)
	e := &modelEntry{name: name, versions: map[int64]*version{}}
	cfg, found, err := readConfig(dir)
	if err != nil {
		e.err = err
		return e
	}
	if cfg.Name != "" && cfg.Name != name {
		e.err = fmt.Errorf("%s/config.pbtxt names the model %q but its directory is %q; they must agree", dir, cfg.Name, name)
		return e
	}
	e.platform = cfg.Platform
	if e.platform == "" {
		e.platform = "vkinfer"
	}
	if found {
		for _, f := range unhonoured(cfg) {
			s.log.Warn("config.pbtxt field not honoured, ignored", "model", name, "field", f)
		}
		info := s.dev.Info()
		for _, k := range instanceKindWarnings(cfg, info.Type == engine.TypeCPU) {
			s.log.Warn("config.pbtxt instance_group kind not available: the instances run on the server's device", "model", name, "kind", k, "device", info.Name)
		}
	}
	nums, err := versionsToLoad(dir, cfg.VersionPolicy)
	if err != nil {
		e.err = err
		return e
	}
	var errs []error
	for _, n := range nums {
		v, err := s.loadVersion(dir, name, n, cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("version %d: %w", n, err))
			continue
		}
		e.versions[n] = v
		e.latest = max(e.latest, n)
	}
	e.err = errors.Join(errs...)
	return e
}

// modelFile finds the model file of a version directory.
func modelFile(vdir, configured string) (string, error) {
	names := []string{"model.onnx", "model.bin"}
	if configured != "" {
		names = []string{configured}
	}
	for _, n := range names {
		p := filepath.Join(vdir, n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no %s in %s", strings.Join(names, " or "), vdir)
}

func (s *Server) loadVersion(dir, name string, num int64, cfg *tritonpb.ModelConfig) (*version, error) {
	path, err := modelFile(filepath.Join(dir, strconv.FormatInt(num, 10)), cfg.DefaultModelFilename)
	if err != nil {
		return nil, err
	}
	count, err := instanceCount(cfg)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	m, err := s.dev.Load(path)
	if err != nil {
		return nil, err
	}
	v, err := newVersion(name, num, m, cfg)
	if err != nil {
		m.Close()
		return nil, err
	}
	// Every instance is loaded and warmed up before the server is ready;
	// the first measures the plan and kernel choices, the others find
	// them stored on the device.
	var warm string
	for i := 0; err == nil && i < count; i++ {
		if i > 0 {
			if m, err = s.dev.Load(path); err != nil {
				break
			}
			v.instances = append(v.instances, m)
		}
		var took string
		took, err = v.warmUp(m)
		if i == 0 {
			warm = took
		}
	}
	if err != nil {
		v.close()
		return nil, err
	}
	s.startBatcher(v, cfg)
	s.log.Info("model loaded", "model", name, "version", num, "file", path, "max_batch_size", v.maxBatch,
		"dynamic_batching", cfg.GetDynamicBatching() != nil, "instances", count,
		"load_seconds", fmt.Sprintf("%.3g", time.Since(start).Seconds()), "warm_up", warm)
	return v, nil
}

// close closes the version's instances.
func (v *version) close() {
	for _, m := range v.instances {
		m.Close()
	}
}

// newVersion checks the configuration against the model and returns the
// version as served. With no input/output in the configuration, the
// model's own are served.
func newVersion(name string, num int64, m *vkinfer.Model, cfg *tritonpb.ModelConfig) (*version, error) {
	v := &version{model: name, num: num, m: m, instances: []*vkinfer.Model{m}, maxBatch: int(cfg.MaxBatchSize)}
	if v.maxBatch < 0 {
		return nil, fmt.Errorf("config max_batch_size is %d; it must be >= 0", v.maxBatch)
	}
	check := func(kind string, model []namedShape, conf []confTensor) ([]tensorSpec, error) {
		var out []tensorSpec
		for _, mt := range model {
			i := slices.IndexFunc(conf, func(c confTensor) bool { return c.name == mt.name })
			given := i >= 0 && len(conf[i].dims) > 0
			// An output's unknown shape may also be a scalar's (mlp.bin
			// stores both as no dimensions): served as [] unless batched.
			if mt.unknown && (kind == "input" || v.maxBatch > 0 || given) {
				// No shape in the model (an input of any shape, an output
				// whose shape is known only when it runs): the
				// configuration's dims are what is served.
				if !given {
					return nil, fmt.Errorf("the model declares no shape for its %s %q; give its dims in config.pbtxt (%s { name: %q data_type: TYPE_FP32 dims: [ ... ] }, -1 for a dynamic dimension, without the batch dimension when max_batch_size > 0)",
						kind, mt.name, kind, mt.name)
				}
				out = append(out, tensorSpec{name: mt.name, dims: slices.Clone(conf[i].dims)})
				continue
			}
			shape := mt.shape
			if v.maxBatch > 0 {
				if len(shape) == 0 || shape[0] != -1 {
					return nil, fmt.Errorf("config max_batch_size %d needs the model's %s %q to have a dynamic first (batch) dimension, but its shape is %v; set max_batch_size: 0 or export the model with a dynamic batch",
						v.maxBatch, kind, mt.name, shape)
				}
				shape = shape[1:]
			}
			dims := make([]int64, len(shape))
			for i, d := range shape {
				dims[i] = int64(d)
			}
			out = append(out, tensorSpec{name: mt.name, dims: dims})
		}
		if len(conf) == 0 {
			return out, nil
		}
		if len(conf) != len(out) {
			return nil, fmt.Errorf("config lists %d %s(s) %v but the model has %d: %v", len(conf), kind, confNames(conf), len(out), specNames(out))
		}
		for _, c := range conf {
			i := slices.IndexFunc(out, func(t tensorSpec) bool { return t.name == c.name })
			if i < 0 {
				return nil, fmt.Errorf("config %s %q is not a %s of the model, which has %v", kind, c.name, kind, specNames(out))
			}
			if c.dt != tritonpb.DataType_TYPE_FP32 {
				return nil, fmt.Errorf("config %s %q has data_type %s; vkinfer models take and give TYPE_FP32", kind, c.name, c.dt)
			}
			if !slices.Equal(c.dims, out[i].dims) {
				return nil, fmt.Errorf("config %s %q has dims %v but the model's is %v (without the batch dimension when max_batch_size > 0)", kind, c.name, c.dims, out[i].dims)
			}
		}
		return out, nil
	}
	ins, outs := specIO(m)
	var err error
	if v.inputs, err = check("input", ins, inputsOf(cfg)); err != nil {
		return nil, err
	}
	if v.outputs, err = check("output", outs, outputsOf(cfg)); err != nil {
		return nil, err
	}
	return v, nil
}

type confTensor struct {
	name string
	dt   tritonpb.DataType
	dims []int64
}

func inputsOf(cfg *tritonpb.ModelConfig) []confTensor {
	var out []confTensor
	for _, in := range cfg.Input {
		out = append(out, confTensor{in.Name, in.DataType, in.Dims})
	}
	return out
}

func outputsOf(cfg *tritonpb.ModelConfig) []confTensor {
	var out []confTensor
	for _, o := range cfg.Output {
		out = append(out, confTensor{o.Name, o.DataType, o.Dims})
	}
	return out
}

func confNames(c []confTensor) []string {
	var s []string
	for _, t := range c {
		s = append(s, t.name)
	}
	return s
}

func specNames(c []tensorSpec) []string {
	var s []string
	for _, t := range c {
		s = append(s, t.name)
	}
	return s
}

// warmUp runs m, an instance of v, once with zeros at every batch size the
// batcher pads to (padSizes), so that no request pays for recording a
// program or measuring the plan and kernel choices of its batch size; a
// model without a batch dimension runs once if its shapes are static. It
// returns how long each run took ("1:1.2s 4:0.8s ...", batch size and
// seconds; the first instance's include measuring the plan and kernel
// choices when they are not stored yet).
func (v *version) warmUp(m *vkinfer.Model) (string, error) {
	var took []string
	var sizes []int
	if v.maxBatch > 0 {
		sizes = padSizes(v.maxBatch)
	} else {
		sizes = []int{0}
	}
	for _, rows := range sizes {
		ins := make([]vkinfer.Tensor, len(v.inputs))
		for i, t := range v.inputs {
			shape := t.shape(v.maxBatch)
			n := 1
			for k, d := range shape {
				if k == 0 && v.maxBatch > 0 {
					d = int64(rows)
				}
				if d < 1 {
					return strings.Join(took, " "), nil // a dynamic dimension: nothing to warm up
				}
				shape[k] = d
				n *= int(d)
			}
			ins[i] = vkinfer.Tensor{Shape: make([]int, len(shape)), Data: make([]float32, n)}
			for k, d := range shape {
				ins[i].Shape[k] = int(d)
			}
		}
		t0 := time.Now()
		if _, err := m.Run(context.Background(), ins...); err != nil {
			return "", fmt.Errorf("warm-up run of batch %d: %w", rows, err)
		}
		took = append(took, fmt.Sprintf("%d:%.3gs", rows, time.Since(t0).Seconds()))
	}
	return strings.Join(took, " "), nil
}

// namedShape is a model input or output: its name and shape; unknown when
// the model declares none (an input of any shape, an output whose shape is
// known only when it runs).
type namedShape struct {
	name    string
	shape   []int
	unknown bool
}

// specIO lists the model's inputs and outputs.
func specIO(m *vkinfer.Model) (ins, outs []namedShape) {
	spec := m.Spec()
	for _, v := range spec.Inputs {
		ins = append(ins, namedShape{v.Name, v.Shape, v.AnyShape})
	}
	for _, v := range spec.Outputs {
		outs = append(outs, namedShape{v.Name, v.Shape, v.Shape == nil})
	}
	return ins, outs
}

// queueDelay is the configured max_queue_delay_microseconds.
func queueDelay(db *tritonpb.ModelDynamicBatching) time.Duration {
	return time.Duration(db.GetMaxQueueDelayMicroseconds()) * time.Microsecond
}
