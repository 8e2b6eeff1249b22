// Command visionbench prints issue 12's speed report as one markdown table:
// for each driver, model and batch size, `vkinfer bench --json` (validation
// off) and, right after it on the same file and batch, ONNX Runtime's CPU
// execution provider with one thread (tools/ortbench/bench.js --json), with
// the ratio of the two p50 latencies, the effective GFLOP/s (bench's count of
// Conv, ConvTranspose, Gemm, MatMul and Dense multiply-adds over its p50), the
// issue's goal where it sets one and the 1-minute load average before and
// after the row.
//
// Each driver has a time budget. Its batch-1 rows run first, model by model;
// then the larger batches, cheapest first by an estimate from the same
// model's batch-1 p50 (p50 × batch × (1 + warm-up + runs), times the worst
// ratio of measured to so estimated per-run time of the driver's larger
// batches so far): a row whose
// estimate does not fit in what is left of the budget is cut (listed with
// its estimate), and a running row is killed when the budget runs out.
//
// ./build.sh vision-bench runs it (see there for the defaults).
//
// Usage:
//
//	visionbench -vkinfer BIN -fixtures DIR [-ortbench bench.js] \
//	    -driver NAME=ICD[=DEVICE] ... [-models a,b] [-batches 1,16] \
//	    [-plan NAME:BATCH:RUNS:WARMUP,...] [-ort BATCH:RUNS:WARMUP,...] \
//	    [-budget NAME=SECONDS,...] [-json FILE]
//	visionbench -from FILE   # the table of an earlier -json FILE
//
// A driver's ICD may be empty (the Vulkan loader's default device); DEVICE,
// when given, must occur in the device name bench reports (case-insensitive),
// so a missing ICD cannot silently fall back to another driver. Without
// -ortbench the ORT columns stay empty. Progress goes to standard error, the
// table to standard output. Exit status 1 when a row failed (not when one was
// cut), 2 on bad flags.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// goals are issue 12's ratio goals (vkinfer p50 / ONNX Runtime 1-thread
// p50), set for lavapipe at batch 1 only.
var goals = map[string]float64{"resnet18": 4.0, "squeezenet1_1": 5.0, "mobilenet_v2": 6.0}

// goalDriver is the driver the goals are set for.
const goalDriver = "lavapipe"

// driver is one Vulkan driver to measure on.
type driver struct {
	Name   string // table label, e.g. lavapipe
	ICD    string // VK_ICD_FILENAMES; empty: the loader's default
	Device string // substring the bench's device name must contain; empty: any
}

// runs is how often one measurement runs: Rounds times (interleaved with
// the driver's other rows of the batch size), each Runs timed runs after
// Warmup untimed ones.
type runs struct{ Runs, Warmup, Rounds int }

// row is one line of the table: a model on a driver at a batch size.
type row struct {
	Model  string `json:"model"`
	Driver string `json:"driver"`
	Batch  int    `json:"batch"`
	Device string `json:"device,omitempty"`
	Runs   int    `json:"runs"`
	Warmup int    `json:"warmup"`
	Rounds int    `json:"rounds,omitempty"` // > 1: the figures are medians over rounds
	Round  int    `json:"-"`

	RoundP50us   []float64 `json:"round_vkinfer_p50_us,omitempty"`
	RoundORTP50s []float64 `json:"round_ort_p50_us,omitempty"`
	RoundRatios  []float64 `json:"round_ratios,omitempty"`

	P50us     float64 `json:"vkinfer_p50_us,omitempty"`
	MinUs     float64 `json:"vkinfer_min_us,omitempty"`
	Flops     int64   `json:"flops_per_run,omitempty"`
	GFlops    float64 `json:"gflops,omitempty"`
	LoadMs    float64 `json:"load_ms,omitempty"`
	ORTP50us  float64 `json:"ort_p50_us,omitempty"`
	ORTRuns   int     `json:"ort_runs,omitempty"`
	ORTWarmup int     `json:"ort_warmup,omitempty"`
	ORTVer    string  `json:"ort_version,omitempty"`
	Ratio     float64 `json:"ratio,omitempty"`
	Goal      float64 `json:"goal,omitempty"`

	LoadBefore float64 `json:"loadavg_before"`
	LoadAfter  float64 `json:"loadavg_after"`
	Seconds    float64 `json:"seconds"`
	Cut        string  `json:"cut,omitempty"`   // why the row was not run
	Err        string  `json:"error,omitempty"` // why it failed
	ORTErr     string  `json:"ort_error,omitempty"`
}

// benchJSON is the part of `vkinfer bench --json` read here.
type benchJSON struct {
	Device  string `json:"device"`
	Batch   int    `json:"batch"`
	Latency struct {
		P50 float64 `json:"p50_us"`
		Min float64 `json:"min_us"`
	} `json:"latency"`
	Flops  int64   `json:"flops_per_run"`
	GFlops float64 `json:"gflops"`
	LoadMs float64 `json:"load_ms"`
}

// ortJSON is the part of `bench.js --json` read here.
type ortJSON struct {
	Version string  `json:"version"`
	Batch   int     `json:"batch"`
	P50     float64 `json:"p50_us"`
}

type config struct {
	vkinfer, ortbench, node, fixtures string
	models                            []string
	batches                           []int
	drivers                           []driver
	plan                              map[string]runs // "driver:batch"
	ort                               map[int]runs
	budget                            map[string]time.Duration
	until                             time.Time // zero: none
	jsonOut, from                     string
	stderr                            io.Writer
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "visionbench:", err)
		os.Exit(2)
	}
	cfg.stderr = os.Stderr
	if cfg.from != "" {
		b, err := os.ReadFile(cfg.from)
		var rows []row
		if err == nil {
			err = json.Unmarshal(b, &rows)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "visionbench: -from:", err)
			os.Exit(1)
		}
		fmt.Print(table(rows))
		return
	}
	rows := measure(context.Background(), cfg)
	fmt.Print(table(rows))
	if cfg.jsonOut != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "visionbench:", err)
			os.Exit(1)
		}
	}
	for _, r := range rows {
		if r.Err != "" || r.ORTErr != "" {
			os.Exit(1)
		}
	}
}

type driverFlags []driver

func (d *driverFlags) String() string { return fmt.Sprint(*d) }
func (d *driverFlags) Set(s string) error {
	f := strings.SplitN(s, "=", 3)
	if len(f) < 2 || f[0] == "" {
		return fmt.Errorf("-driver %q: want NAME=ICD[=DEVICE] (ICD may be empty)", s)
	}
	v := driver{Name: f[0], ICD: f[1]}
	if len(f) == 3 {
		v.Device = f[2]
	}
	*d = append(*d, v)
	return nil
}

func parseFlags(args []string) (*config, error) {
	fs := flag.NewFlagSet("visionbench", flag.ContinueOnError)
	cfg := &config{}
	var drivers driverFlags
	var models, batches, plan, ort, budget, until string
	fs.StringVar(&cfg.vkinfer, "vkinfer", "", "the vkinfer binary")
	fs.StringVar(&cfg.ortbench, "ortbench", "", "tools/ortbench/bench.js (NODE_PATH must reach onnxruntime-node); empty: no ORT columns")
	fs.StringVar(&cfg.node, "node", "node", "the node binary")
	fs.StringVar(&cfg.fixtures, "fixtures", "", "the folder with MODEL/model.onnx")
	fs.Var(&drivers, "driver", "a driver as NAME=ICD[=DEVICE]; repeat for each, in order")
	fs.StringVar(&models, "models", "resnet18,mobilenet_v2,squeezenet1_1,shufflenet_v2_x0_5,efficientnet_b0,mnasnet0_5,googlenet", "comma-separated model folders")
	fs.StringVar(&batches, "batches", "1,16", "comma-separated batch sizes (1 first: the others' estimates use it)")
	fs.StringVar(&plan, "plan", "", "vkinfer runs as DRIVER:BATCH:RUNS:WARMUP[:ROUNDS],... (default 5 runs, 1 warm-up, 1 round; rounds interleave the models, the table gives medians)")
	fs.StringVar(&ort, "ort", "", "ORT runs as BATCH:RUNS:WARMUP,... (default 10 runs, 2 warm-up)")
	fs.StringVar(&budget, "budget", "", "per-driver time budgets as DRIVER=SECONDS,... (default none)")
	fs.StringVar(&cfg.jsonOut, "json", "", "also write the rows as JSON to this file")
	fs.StringVar(&until, "until", "", "a deadline for every driver as an RFC 3339 time (e.g. 2026-11-30T03:59:00Z): budgets end there at the latest")
	fs.StringVar(&cfg.from, "from", "", "only print the table of the rows in this earlier -json file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("no arguments expected, got %q", fs.Args())
	case cfg.from != "":
		return cfg, nil
	case cfg.vkinfer == "":
		return nil, errors.New("-vkinfer is required")
	case cfg.fixtures == "":
		return nil, errors.New("-fixtures is required")
	case len(drivers) == 0:
		return nil, errors.New("at least one -driver NAME=ICD is required")
	}
	cfg.drivers = drivers
	cfg.models = splitList(models)
	for _, b := range splitList(batches) {
		n, err := strconv.Atoi(b)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-batches: %q is not a positive integer", b)
		}
		cfg.batches = append(cfg.batches, n)
	}
	if len(cfg.models) == 0 || len(cfg.batches) == 0 {
		return nil, errors.New("-models and -batches must not be empty")
	}
	var err error
	if cfg.plan, err = parseRuns(plan, true); err != nil {
		return nil, fmt.Errorf("-plan: %w", err)
	}
	ortPlan, err := parseRuns(ort, false)
	if err != nil {
		return nil, fmt.Errorf("-ort: %w", err)
	}
	cfg.ort = map[int]runs{}
	for k, v := range ortPlan {
		b, _ := strconv.Atoi(k)
		cfg.ort[b] = v
	}
	if until != "" {
		t, err := time.Parse(time.RFC3339, until)
		if err != nil {
			return nil, fmt.Errorf("-until: %w", err)
		}
		cfg.until = t
	}
	cfg.budget = map[string]time.Duration{}
	for _, b := range splitList(budget) {
		name, sec, ok := strings.Cut(b, "=")
		s, err := strconv.ParseFloat(sec, 64)
		if !ok || err != nil || s <= 0 {
			return nil, fmt.Errorf("-budget: %q is not DRIVER=SECONDS", b)
		}
		cfg.budget[name] = time.Duration(s * float64(time.Second))
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// parseRuns reads DRIVER:BATCH:RUNS:WARMUP[:ROUNDS],... (withDriver) or
// BATCH:RUNS:WARMUP,... into a map keyed by "DRIVER:BATCH" or "BATCH".
func parseRuns(s string, withDriver bool) (map[string]runs, error) {
	want, first := 3, 0
	if withDriver {
		want, first = 4, 1
	}
	m := map[string]runs{}
	for _, item := range splitList(s) {
		f := strings.Split(item, ":")
		if len(f) != want && !(withDriver && len(f) == want+1) {
			return nil, fmt.Errorf("%q: want %d colon-separated fields", item, want)
		}
		n := []int{0, 0, 0, 1}
		for i, x := range f[first:] {
			v, err := strconv.Atoi(x)
			if err != nil || v < 0 || (i != 2 && v == 0) {
				return nil, fmt.Errorf("%q: %q is not a valid count", item, x)
			}
			n[i] = v
		}
		key := strconv.Itoa(n[0])
		if withDriver {
			key = f[0] + ":" + key
		}
		m[key] = runs{Runs: n[1], Warmup: n[2], Rounds: n[3]}
	}
	return m, nil
}

func (c *config) vkRuns(d string, batch int) runs {
	if r, ok := c.plan[d+":"+strconv.Itoa(batch)]; ok {
		return r
	}
	return runs{Runs: 5, Warmup: 1, Rounds: 1}
}

func (c *config) ortRuns(batch int) runs {
	if r, ok := c.ort[batch]; ok {
		return r
	}
	return runs{Runs: 10, Warmup: 2}
}

func (c *config) logf(format string, args ...any) {
	fmt.Fprintf(c.stderr, "visionbench %s: "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

// measure runs every driver in turn: batch 1 model by model, then the other
// batches cheapest first within the driver's budget.
func measure(ctx context.Context, c *config) []row {
	var rows []row
	for _, d := range c.drivers {
		start := time.Now()
		budget, bounded := c.budget[d.Name]
		deadline := start.Add(budget)
		if !c.until.IsZero() && (!bounded || c.until.Before(deadline)) {
			bounded, deadline = true, c.until
			budget = max(deadline.Sub(start), 0)
		}
		p50 := map[string]float64{} // model -> batch-1 p50, µs
		// scale is the largest ratio seen so far on this driver of a larger
		// batch's p50 to batch × the same model's batch-1 p50 (at least
		// 1): SwiftShader ran shufflenet_v2_x0_5 at batch 16 2.4x slower
		// per image than at batch 1.
		scale := 1.0
		var todo []row
		for _, b := range c.batches {
			r := c.vkRuns(d.Name, b)
			for k := range r.Rounds {
				for _, m := range c.models {
					todo = append(todo, row{Model: m, Driver: d.Name, Batch: b, Runs: r.Runs, Warmup: r.Warmup, Rounds: r.Rounds, Round: k + 1})
				}
			}
		}
		// estimate is a row's expected time in seconds, or -1 when unknown.
		estimate := func(r row) float64 {
			if r.Batch == 1 {
				return -1
			}
			v, ok := p50[r.Model]
			if !ok {
				return -1
			}
			return scale * v / 1e6 * float64(r.Batch) * float64(1+r.Warmup+r.Runs)
		}
		var done []row
		for len(todo) > 0 {
			// Batch-1 rows in order; then the cheapest estimate first.
			i := slices.IndexFunc(todo, func(r row) bool { return r.Batch == 1 })
			if i < 0 {
				i = 0
				for j := range todo {
					ej, ei := estimate(todo[j]), estimate(todo[i])
					if ej >= 0 && (ei < 0 || ej < ei) {
						i = j
					}
				}
			}
			r := todo[i]
			todo = slices.Delete(todo, i, i+1)
			left := time.Until(deadline)
			if bounded {
				if est := estimate(r); est >= 0 && est > left.Seconds() {
					r.Cut = fmt.Sprintf("cut: estimated %.0f s (%d × batch-1 p50 × %d runs × %.2f) > %.0f s left of %.0f s", est, r.Batch, 1+r.Warmup+r.Runs, scale, max(left.Seconds(), 0), budget.Seconds())
					c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.Cut)
					done = append(done, r)
					continue
				}
				if left <= 0 {
					r.Cut = fmt.Sprintf("cut: the %.0f s budget is spent", budget.Seconds())
					c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.Cut)
					done = append(done, r)
					continue
				}
			}
			rctx, cancel := ctx, context.CancelFunc(func() {})
			if bounded {
				rctx, cancel = context.WithDeadline(ctx, deadline)
			}
			c.runRow(rctx, d, &r)
			cancel()
			if r.Batch == 1 && r.P50us > 0 {
				p50[r.Model] = r.P50us
			} else if v, ok := p50[r.Model]; ok && r.P50us > 0 {
				scale = max(scale, r.P50us/(v*float64(r.Batch)))
			}
			done = append(done, r)
		}
		c.logf("%s: %.0f s", d.Name, time.Since(start).Seconds())
		done = mergeRounds(done)
		// The table lists a driver's rows by batch, then in -models order.
		slices.SortStableFunc(done, func(a, b row) int {
			if a.Batch != b.Batch {
				return a.Batch - b.Batch
			}
			return slices.Index(c.models, a.Model) - slices.Index(c.models, b.Model)
		})
		rows = append(rows, done...)
	}
	return rows
}

// mergeRounds makes one row of each model and batch measured in several
// rounds: the median vkinfer and ORT p50s and the median of the rounds'
// ratios (each round's pair measured back to back), the load's range, the
// time summed; the rounds' figures are kept for the JSON, and Rounds counts
// the rounds that ran. A row all of whose rounds failed or were cut stays as
// its first round.
func mergeRounds(rows []row) []row {
	var out []row
	at := map[string]int{}
	groups := map[string][]row{}
	for _, r := range rows {
		k := r.Model + "\x00" + strconv.Itoa(r.Batch)
		if _, ok := at[k]; !ok {
			at[k] = len(out)
			out = append(out, r)
		}
		groups[k] = append(groups[k], r)
	}
	for k, g := range groups {
		if len(g) < 2 {
			continue
		}
		var ok []row
		for _, r := range g {
			if r.Err == "" && r.Cut == "" {
				ok = append(ok, r)
			}
		}
		if len(ok) == 0 {
			continue
		}
		m := ok[0]
		m.Seconds, m.LoadBefore, m.LoadAfter = 0, g[0].LoadBefore, g[0].LoadAfter
		for _, r := range g {
			m.Seconds += r.Seconds
			m.LoadBefore = min(m.LoadBefore, r.LoadBefore, r.LoadAfter)
			m.LoadAfter = max(m.LoadAfter, r.LoadBefore, r.LoadAfter)
		}
		m.ORTErr = ""
		for _, r := range ok {
			m.RoundP50us = append(m.RoundP50us, r.P50us)
			if r.ORTP50us > 0 {
				m.RoundORTP50s = append(m.RoundORTP50s, r.ORTP50us)
				m.RoundRatios = append(m.RoundRatios, r.Ratio)
			} else if r.ORTErr != "" {
				m.ORTErr = r.ORTErr
			}
		}
		m.P50us = median(m.RoundP50us)
		m.MinUs = slices.MinFunc(ok, func(a, b row) int { return cmpFloat(a.MinUs, b.MinUs) }).MinUs
		m.GFlops = float64(m.Flops) / m.P50us / 1e3
		m.ORTP50us, m.Ratio = 0, 0
		if len(m.RoundRatios) > 0 {
			m.ORTP50us, m.Ratio, m.ORTErr = median(m.RoundORTP50s), median(m.RoundRatios), ""
		}
		m.Rounds = len(ok)
		out[at[k]] = m
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// median of v (the mean of the middle two for an even count).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// runRow measures r with vkinfer, then ONNX Runtime.
func (c *config) runRow(ctx context.Context, d driver, r *row) {
	t0 := time.Now()
	r.LoadBefore = loadavg()
	defer func() {
		r.LoadAfter = loadavg()
		r.Seconds = time.Since(t0).Seconds()
	}()
	file := c.fixtures + "/" + r.Model + "/model.onnx"
	if _, err := os.Stat(file); err != nil {
		r.Err = fmt.Sprintf("no model: %v (run ./build.sh fixtures)", err)
		c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.Err)
		return
	}
	c.logf("%s %s batch %d: vkinfer bench, %d runs after %d warm-up", d.Name, r.Model, r.Batch, r.Runs, r.Warmup)
	cmd := exec.CommandContext(ctx, c.vkinfer, "bench", "--json", "--model", file,
		"--batch", strconv.Itoa(r.Batch), "--runs", strconv.Itoa(r.Runs), "--warmup", strconv.Itoa(r.Warmup),
		"--timeout", "1h") // the budget bounds the row, not the engine's 2-minute default per run
	cmd.Env = append(os.Environ(), "VKINFER_VALIDATION=0")
	if d.ICD != "" {
		cmd.Env = append(cmd.Env, "VK_ICD_FILENAMES="+d.ICD, "VK_DRIVER_FILES="+d.ICD)
	}
	var b benchJSON
	if err := runJSON(cmd, &b); err != nil {
		r.Err = "vkinfer bench: " + err.Error()
		if ctx.Err() != nil {
			r.Err = fmt.Sprintf("killed after %.0f s: the driver's budget ran out", time.Since(t0).Seconds())
		}
		c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.Err)
		return
	}
	r.Device = b.Device
	if d.Device != "" && !strings.Contains(strings.ToLower(b.Device), strings.ToLower(d.Device)) {
		r.Err = fmt.Sprintf("ran on %q, not a %q device: is %s installed?", b.Device, d.Device, d.ICD)
		c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.Err)
		return
	}
	if b.Batch != r.Batch {
		r.Err = fmt.Sprintf("bench ran batch %d, not %d (a fixed batch axis?)", b.Batch, r.Batch)
		return
	}
	r.P50us, r.MinUs, r.Flops, r.GFlops, r.LoadMs = b.Latency.P50, b.Latency.Min, b.Flops, b.GFlops, b.LoadMs
	if d.Name == goalDriver && r.Batch == 1 {
		r.Goal = goals[r.Model]
	}
	c.logf("%s %s batch %d: vkinfer p50 %s, %.2f GFLOP/s", d.Name, r.Model, r.Batch, usString(r.P50us), r.GFlops)
	if c.ortbench == "" {
		return
	}
	o := c.ortRuns(r.Batch)
	r.ORTRuns, r.ORTWarmup = o.Runs, o.Warmup
	cmd = exec.CommandContext(ctx, c.node, c.ortbench, file, strconv.Itoa(o.Runs), strconv.Itoa(r.Batch),
		"--warmup", strconv.Itoa(o.Warmup), "--json")
	var oj ortJSON
	if err := runJSON(cmd, &oj); err != nil {
		r.ORTErr = "ortbench: " + err.Error()
		c.logf("%s %s batch %d: %s", d.Name, r.Model, r.Batch, r.ORTErr)
		return
	}
	r.ORTP50us, r.ORTVer = oj.P50, oj.Version
	r.Ratio = r.P50us / r.ORTP50us
	c.logf("%s %s batch %d: ORT p50 %s, ratio %.2f", d.Name, r.Model, r.Batch, usString(r.ORTP50us), r.Ratio)
}

// runJSON runs cmd and decodes its standard output into v; an error carries
// the last line of its standard error.
func runJSON(cmd *exec.Cmd, v any) error {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("reading its JSON output: %w", err)
	}
	return nil
}

// loadavg is the 1-minute load average, or -1 where /proc/loadavg is not.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// usString formats microseconds for the table.
func usString(v float64) string {
	switch {
	case v < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case v < 10e3:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case v < 1e6:
		return fmt.Sprintf("%.1f ms", v/1e3)
	case v < 10e6:
		return fmt.Sprintf("%.2f s", v/1e6)
	}
	return fmt.Sprintf("%.1f s", v/1e6)
}

// gflops formats a GFLOP/s figure with at least two significant digits
// (SwiftShader runs the CNNs at 0.03-0.1).
func gflops(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.3f", v)
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// table formats rows as markdown.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| model | driver | batch | vkinfer p50 | GFLOP/s | ORT p50 | ORT GFLOP/s | ratio | goal | runs (vk / ORT) | load |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		cells := []string{r.Model, r.Driver, strconv.Itoa(r.Batch), "–", "–", "–", "–", "–", "–", "–", "–"}
		switch {
		case r.Cut != "":
			cells[3] = r.Cut
		case r.Err != "":
			msg := r.Err // the file is the row's: drop the path
			if i := strings.LastIndex(msg, "model.onnx: "); i >= 0 {
				msg = msg[i+len("model.onnx: "):]
			}
			cells[3] = "failed: " + strings.ReplaceAll(msg, "|", "/")
		default:
			cells[3] = usString(r.P50us)
			cells[4] = gflops(r.GFlops)
			rounds := ""
			if r.Rounds > 1 {
				rounds = fmt.Sprintf("%d× ", r.Rounds)
			}
			cells[9] = fmt.Sprintf("%s%d+%d", rounds, r.Runs, r.Warmup)
			if r.ORTP50us > 0 {
				cells[5] = usString(r.ORTP50us)
				cells[6] = gflops(float64(r.Flops) / r.ORTP50us / 1e3)
				cells[7] = fmt.Sprintf("%.1f", r.Ratio)
				if len(r.RoundRatios) > 1 {
					rs := make([]string, len(r.RoundRatios))
					for i, v := range r.RoundRatios {
						rs[i] = fmt.Sprintf("%.1f", v)
					}
					cells[7] += " (" + strings.Join(rs, ", ") + ")"
				}
				cells[9] += fmt.Sprintf(" / %s%d+%d", rounds, r.ORTRuns, r.ORTWarmup)
			} else if r.ORTErr != "" {
				cells[5] = "failed: " + strings.ReplaceAll(r.ORTErr, "|", "/")
			}
			if r.Goal > 0 {
				cells[8] = fmt.Sprintf("≤ %.1f", r.Goal)
				if r.Ratio > 0 {
					if r.Ratio <= r.Goal {
						cells[8] += " met"
					} else {
						cells[8] += " not met"
					}
				}
			}
			cells[10] = fmt.Sprintf("%.1f–%.1f", r.LoadBefore, r.LoadAfter)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	return b.String()
}
