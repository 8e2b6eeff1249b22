package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newBenchCmd) }

type benchOptions struct {
	model               string
	batch, runs, warmup int
	shapes              []string
	asJSON              bool
	profile             bool
	timeout             time.Duration
	dev                 deviceFlags
}

func newBenchCmd(e *env) *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "bench",
		Short: "measure a model's latency and throughput on a device",
		Long: `Loads the model, runs it --warmup times, then times --runs runs of
Model.Run on random inputs of batch size --batch (an input declared with
no shape, or with dynamic dimensions after the first, takes its whole
shape from --shape NAME=D1,D2,...). Each run is what an
application pays: input upload, the GPU work, output download. Prints the
latency percentiles, the throughput (images/s = batch / p50 latency), the
GFLOP/s (the multiply-adds of Conv, ConvTranspose, Gemm, MatMul and Dense
layers over the p50 latency), and the load time (reading the file to the first
result).

For scale it also times the same number of empty submissions (a recorded
program with no commands) in the same process: the floor any run pays for a
submit and a wait on this device and driver, and the ratio of the model's p50
latency to it.

With --profile it then records the model once more with a timestamp after
each step and prints a per-layer table: each step's nodes, op, kernels,
median time over --runs runs, share of the total and GFLOP/s (Conv,
ConvTranspose, Gemm, MatMul and Dense), then the same by op. The times come
from GPU timestamps where the device's queue has them; elsewhere each step
is submitted and timed on its own from the host (each then includes one
submit and wait: see the floor line).`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runBench(e, &o, args) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.IntVar(&o.batch, "batch", 1, "the batch size (the first, dynamic dimension of each input)")
	fs.StringArrayVar(&o.shapes, "shape", nil, "an input's whole shape as `NAME=D1,D2,...` (for inputs of any shape or with dynamic dimensions after the first; overrides --batch for that input); repeat for each")
	fs.IntVar(&o.runs, "runs", 100, "the number of timed runs")
	fs.IntVar(&o.warmup, "warmup", 10, "untimed runs before timing")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	fs.BoolVar(&o.profile, "profile", false, "also print per-layer times from GPU timestamps (host timing where the device has none)")
	fs.DurationVar(&o.timeout, "timeout", 0, "the longest one run's GPU work may take, e.g. 30m (0: the engine's default, 2m); raise it for large batches on slow drivers")
	o.dev.register(fs)
	return c
}

func runBench(e *env, o *benchOptions, pos []string) error {
	switch {
	case len(pos) > 0:
		return usagef("bench takes no arguments, got %q", pos)
	case o.model == "":
		return usagef("--model is required")
	case o.warmup < 0:
		return usagef("--warmup must not be negative, got %d", o.warmup)
	case o.timeout < 0:
		return usagef("--timeout must not be negative, got %v", o.timeout)
	}
	if err := positive("batch", o.batch); err != nil {
		return err
	}
	if err := positive("runs", o.runs); err != nil {
		return err
	}

	// Load time, file to first result: reading the file (before opening
	// the device, so a bad file fails fast), preparing the model on the
	// device and the first run. Making the random inputs is not counted.
	t := time.Now()
	spec, err := readModel(o.model)
	if err != nil {
		return err
	}
	read := time.Since(t)
	shapes, err := benchShapes(spec, o.batch, o.shapes)
	if err != nil {
		return err
	}
	inputs := randomInputs(shapes)
	if len(shapes) > 0 && len(shapes[0]) > 0 {
		o.batch = shapes[0][0] // the rows of a run: a fixed or --shape first dimension
	}
	t = time.Now()
	d, err := openDevice(e, o.dev, func(opts *vkinfer.Options) { opts.Timeout = o.timeout })
	if err != nil {
		return err
	}
	defer d.Close()
	res := &benchResult{Model: o.model, Device: d.Info().String(), Batch: o.batch, Runs: o.runs, Warmup: o.warmup}
	res.OpenMs = ms(time.Since(t))
	res.ReadMs = ms(read)
	res.Name, res.Parameters = spec.Name, spec.ParamCount()
	t = time.Now()
	m, err := d.LoadModel(spec)
	if err != nil {
		return fileError(o.model, err, "")
	}
	defer m.Close()
	res.PrepareMs = ms(time.Since(t))
	s := &session{model: m, path: o.model} // d and m are closed by the defers above
	t = time.Now()
	if _, err := s.run(e.ctx, inputs...); err != nil {
		return err
	}
	res.FirstRunMs = ms(time.Since(t))
	res.LoadMs = res.ReadMs + res.PrepareMs + res.FirstRunMs

	lat, err := timeRuns(o.warmup, o.runs, func() error {
		_, err := s.run(e.ctx, inputs...)
		return err
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && len(lat) > 0 {
			// Interrupted: the latency of the runs timed so far.
			l := percentiles(lat)
			fmt.Fprintf(e.stdout, "PARTIAL     interrupted after %d of %d timed runs (batch %d)\n", len(lat), o.runs, o.batch)
			fmt.Fprintf(e.stdout, "latency     p50 %s  p90 %s  p99 %s  min %s  (upload + run + download)\n",
				usString(l.P50), usString(l.P90), usString(l.P99), usString(l.Min))
		}
		return err
	}
	res.Latency = percentiles(lat)

	// The floor: an empty program, submitted and waited for the same way.
	empty, err := d.Engine().NewRecorder().Finish()
	if err != nil {
		return &cliError{msg: "record an empty program: " + trimPrefixes(err.Error(), "engine: "), err: err}
	}
	defer empty.Close()
	floor, err := timeRuns(o.warmup, o.runs, func() error { return empty.Run(e.ctx, nil, nil) })
	if err != nil {
		return err
	}
	res.Floor = percentiles(floor)
	res.FloorRatio = res.Latency.P50 / res.Floor.P50
	res.ImagesPerSec = float64(o.batch) / (res.Latency.P50 / 1e6)
	shapeList := make([][]int, len(inputs))
	for i, in := range inputs {
		shapeList[i] = in.Shape
	}
	if res.Flops, err = m.FLOPs(shapeList...); err != nil {
		return err
	}
	res.GFlops = float64(res.Flops) / (res.Latency.P50 / 1e6) / 1e9
	if o.profile {
		pr, err := m.Profile(e.ctx, o.runs, inputs...)
		if err != nil {
			return fileError(o.model, err, "")
		}
		res.Profile = profileResult(pr)
	}

	if o.asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.print(e.stdout)
	return nil
}

// maxBenchInputBytes bounds the random inputs bench makes in host memory
// (all inputs of one run together), so that a large --batch is refused with
// a message instead of the Go runtime dying out of memory.
const maxBenchInputBytes = 4 << 30

// benchShapes gives each model input its shape for the runs: the one given
// by a --shape NAME=D1,D2,... spec, else the declared shape with a dynamic
// first dimension set to batch. It refuses, before anything is allocated,
// a spec that names no input or does not fit the declared shape, an input
// it cannot shape (any shape, or a dynamic dimension after the first,
// without --shape), and inputs that together would take more than
// maxBenchInputBytes of float32 data (multiplied with overflow checks:
// the dimensions come from the model file and the command line).
func benchShapes(m *model.Model, batch int, specs []string) ([][]int, error) {
	given := map[string][]int{}
	for _, spec := range specs {
		name, dims, ok := strings.Cut(spec, "=")
		if !ok || name == "" || dims == "" {
			return nil, usagef("--shape %q: want NAME=D1,D2,... (for example --shape %s=1,3,224,224)", spec, firstInputName(m))
		}
		var shape []int
		for _, f := range strings.Split(dims, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || d <= 0 {
				return nil, usagef("--shape %q: dimension %q is not a positive integer", spec, f)
			}
			shape = append(shape, d)
		}
		if _, dup := given[name]; dup {
			return nil, usagef("--shape for %q given twice", name)
		}
		given[name] = shape
	}
	for name := range given { // a misspelt name first: it explains a missing shape below
		if !slices.ContainsFunc(m.Inputs, func(v model.ValueInfo) bool { return v.Name == name }) {
			return nil, usagef("--shape names %q, which is not an input of the model (inputs: %s)", name, inputNames(m))
		}
	}
	var total int64
	shapes := make([][]int, len(m.Inputs))
	for i, in := range m.Inputs {
		shape, ok := given[in.Name]
		switch {
		case ok && !in.Takes(shape):
			return nil, usagef("--shape %s=%s does not fit input %q, declared %s", in.Name, joinInts(shape), in.Name, in.ShapeString())
		case ok:
		case in.AnyShape:
			return nil, usagef("input %q is declared without a shape: give one with --shape %s=D1,D2,...", in.Name, in.Name)
		default:
			shape = append([]int(nil), in.Shape...)
			for j, d := range shape {
				switch {
				case j == 0 && d >= 0 && d != batch && batch != 1:
					return nil, usagef("input %q has a fixed first dimension %d (shape %s): --batch %d cannot change it; re-export the model with a dynamic batch axis",
						in.Name, d, in.ShapeString(), batch)
				case d >= 0:
				case j == 0:
					shape[j] = batch
				default:
					return nil, usagef("input %q has shape %s: --batch sets only the first dimension; give the whole shape with --shape %s=D1,D2,...",
						in.Name, in.ShapeString(), in.Name)
				}
			}
		}
		n := int64(4)
		for _, d := range shape {
			if d > 0 && n > maxBenchInputBytes/int64(d) {
				n = maxBenchInputBytes + 1
				break
			}
			n *= int64(d)
		}
		if total += n; total > maxBenchInputBytes {
			return nil, usagef("--batch %d needs more than %d GiB of input data in host memory for %s; choose a smaller --batch or --shape",
				batch, maxBenchInputBytes>>30, in.Name)
		}
		shapes[i] = shape
	}
	return shapes, nil
}

// randomInputs makes one tensor per shape, uniform in [0, 1).
func randomInputs(shapes [][]int) []vkinfer.Tensor {
	r := rand.New(rand.NewPCG(1, 2))
	ts := make([]vkinfer.Tensor, len(shapes))
	for i, shape := range shapes {
		data := make([]float32, elems(shape))
		for k := range data {
			data[k] = r.Float32()
		}
		ts[i] = vkinfer.Tensor{Shape: shape, Data: data}
	}
	return ts
}

func firstInputName(m *model.Model) string {
	if len(m.Inputs) == 0 {
		return "NAME"
	}
	return m.Inputs[0].Name
}

func inputNames(m *model.Model) string {
	names := make([]string, len(m.Inputs))
	for i, in := range m.Inputs {
		names[i] = in.Name
	}
	return strings.Join(names, ", ")
}

func joinInts(s []int) string {
	f := make([]string, len(s))
	for i, d := range s {
		f[i] = strconv.Itoa(d)
	}
	return strings.Join(f, ",")
}

// timeRuns calls f warmup times, then runs times, and returns the duration
// of each timed call; on an error, those of the calls timed before it.
func timeRuns(warmup, runs int, f func() error) ([]time.Duration, error) {
	for range warmup {
		if err := f(); err != nil {
			return nil, err
		}
	}
	ds := make([]time.Duration, runs)
	for i := range ds {
		t := time.Now()
		if err := f(); err != nil {
			return ds[:i], err
		}
		ds[i] = time.Since(t)
	}
	return ds, nil
}

// latency holds percentiles in microseconds.
type latency struct {
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Min  float64 `json:"min_us"`
	Max  float64 `json:"max_us"`
	Mean float64 `json:"mean_us"`
}

// percentiles computes nearest-rank percentiles of ds.
func percentiles(ds []time.Duration) latency {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) float64 {
		k := int(p*float64(len(s))+0.999999) - 1 // ceil(p·n) - 1
		return us(s[min(max(k, 0), len(s)-1)])
	}
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return latency{
		P50: at(0.50), P90: at(0.90), P99: at(0.99),
		Min: us(s[0]), Max: us(s[len(s)-1]), Mean: us(sum / time.Duration(len(s))),
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchResult is what bench measured; it is also the --json output.
type benchResult struct {
	Model        string        `json:"model"`
	Name         string        `json:"name"`
	Parameters   int64         `json:"parameters"`
	Device       string        `json:"device"`
	Batch        int           `json:"batch"`
	Runs         int           `json:"runs"`
	Warmup       int           `json:"warmup"`
	Latency      latency       `json:"latency"`
	ImagesPerSec float64       `json:"images_per_second"`
	Flops        int64         `json:"flops_per_run"`
	GFlops       float64       `json:"gflops"`
	OpenMs       float64       `json:"device_open_ms"`
	LoadMs       float64       `json:"load_ms"` // ReadMs + PrepareMs + FirstRunMs
	ReadMs       float64       `json:"read_ms"`
	PrepareMs    float64       `json:"prepare_ms"`
	FirstRunMs   float64       `json:"first_run_ms"`
	Floor        latency       `json:"empty_submit"`
	FloorRatio   float64       `json:"p50_over_empty_submit"`
	Profile      *benchProfile `json:"profile,omitempty"`
}

// usString formats microseconds for people.
func usString(v float64) string {
	switch {
	case v < 1000:
		return fmt.Sprintf("%.1f µs", v)
	case v < 1e6:
		return fmt.Sprintf("%.2f ms", v/1e3)
	}
	return fmt.Sprintf("%.3f s", v/1e6)
}

func (r *benchResult) print(w io.Writer) {
	l, f := r.Latency, r.Floor
	fmt.Fprintf(w, "model       %s (%q, %s parameters)\n", r.Model, r.Name, commas(r.Parameters))
	fmt.Fprintf(w, "device      %s\n", r.Device)
	fmt.Fprintf(w, "runs        %d timed after %d warm-up, batch %d\n", r.Runs, r.Warmup, r.Batch)
	fmt.Fprintf(w, "latency     p50 %s  p90 %s  p99 %s  min %s  (upload + run + download)\n",
		usString(l.P50), usString(l.P90), usString(l.P99), usString(l.Min))
	fmt.Fprintf(w, "throughput  %.0f images/s (batch / p50), %.2f GFLOP/s (Conv, Gemm, MatMul, Dense)\n", r.ImagesPerSec, r.GFlops)
	fmt.Fprintf(w, "load        %s from file to first result (read %s, prepare %s, first run %s); device open %s\n",
		usString(1e3*r.LoadMs), usString(1e3*r.ReadMs), usString(1e3*r.PrepareMs), usString(1e3*r.FirstRunMs), usString(1e3*r.OpenMs))
	fmt.Fprintf(w, "floor       empty submit p50 %s  p90 %s  min %s; model p50 = %.1f× the floor\n",
		usString(f.P50), usString(f.P90), usString(f.Min), r.FloorRatio)
	if r.Profile != nil {
		r.Profile.print(w)
	}
}

// elems is the product of shape's dimensions.
func elems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
