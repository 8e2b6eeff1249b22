package vkinfer

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/layers"
)

// MeasureEnv names the environment variable that turns the measured
// per-layer kernel choice off: VKINFER_MEASURE=0 (or off, static) runs
// every layer with several kernels (layers.VariantLayer: Conv) by the static
// rule, as Options.FixedPlans does for a program; for deterministic runs and
// measurements of the rule itself. Unset or 1: measured.
const MeasureEnv = "VKINFER_MEASURE"

// measureOff reports whether per-layer kernel choices use the static rule.
func (m *Model) measureOff() bool {
	if m.owner == nil || m.owner.fixed {
		return true
	}
	switch strings.ToLower(os.Getenv(MeasureEnv)) {
	case "0", "off", "static", "false", "no":
		return true
	}
	return false
}

// variantKey names a layer's kernel choice in the device's planner.Choices
// (the file already names the device and driver): the layer's op, shapes
// and attributes that change the work (layers.VariantLayer.VariantKey), the
// candidates, and "zeroed" (timed on zeroed inputs, like the plan choices).
func variantKey(vl layers.VariantLayer, shapes []layers.Shape, cands []string) string {
	return "kernel|" + vl.VariantKey(shapes) + "|" + strings.Join(cands, "+") + "|zeroed"
}

// chooseVariant returns the kernel a layer with several (vl, node n, input
// shapes shapes, output shapes outShapes) runs in a plan: "" (the static
// rule) where fewer than two kernels can run these shapes or measuring is
// off; else the stored choice for the key (variantKey), else the fastest
// of the candidates timed now (timeVariants), which is then stored.
// A measurement that fails leaves the static rule (logged).
func (m *Model) chooseVariant(vl layers.VariantLayer, name string, shapes, outShapes []layers.Shape) string {
	cands := vl.Variants(shapes)
	if len(cands) < 2 || m.measureOff() {
		return ""
	}
	key := variantKey(vl, shapes, cands)
	if v, ok := m.owner.choices.Get(key); ok {
		for _, c := range cands {
			if c == v {
				return v
			}
		}
	}
	times, err := m.timeVariants(vl, cands, shapes, outShapes)
	if err != nil {
		m.owner.logger.Debug("vkinfer: kernel choice not measured", "node", name, "err", err)
		return ""
	}
	best := 0
	for i := range cands {
		if times[i] < times[best] {
			best = i
		}
	}
	m.owner.variantTrials.Add(1)
	attrs := []any{"node", name, "key", key}
	for i, c := range cands {
		attrs = append(attrs, c, times[i])
	}
	m.owner.logger.Debug("vkinfer: kernel choice measured", append(attrs, "choice", cands[best])...)
	if err := m.owner.choices.Put(key, cands[best]); err != nil {
		m.owner.logger.Debug("vkinfer: plan choices not saved", "err", err)
	}
	return cands[best]
}

// timeVariants records each candidate kernel of one layer alone into a
// program of its own, on buffers of the layer's input and output shapes
// (inputs zeroed: recycled memory may hold subnormals, which CPU drivers
// compute on several times slower), and returns each one's median wall
// time (submit to fence, no transfers). One untimed run each first (it
// includes lavapipe's JIT), then rounds in turn (a busy machine slows them
// alike); a candidate whose best time is over twice the leader's median
// after two rounds is dropped (a direct kernel 3-11x behind the GEMM path
// costs one more run, not seven), and rounds stop after 7 or once every
// remaining candidate has 3 and the timing took over a second.
func (m *Model) timeVariants(vl layers.VariantLayer, cands []string, shapes, outShapes []layers.Shape) ([]time.Duration, error) {
	d := m.dev
	sizes := make([]int64, 0, len(shapes)+len(outShapes))
	for _, s := range append(append([]layers.Shape(nil), shapes...), outShapes...) {
		sizes = append(sizes, 4*int64(max(s.Elems(), 1)))
	}
	bufs, err := d.NewBuffers(engine.Activations, sizes)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, b := range bufs {
			b.Close()
		}
	}()
	ins, outs := bufs[:len(shapes)], bufs[len(shapes):]
	for _, b := range ins {
		if err := b.Write(make([]float32, b.Len())); err != nil {
			return nil, err
		}
	}
	progs := make([]*engine.Program, len(cands))
	defer func() {
		for _, p := range progs {
			if p != nil {
				p.Close()
			}
		}
	}()
	for i, c := range cands {
		rec := d.NewRecorder()
		if err := vl.TrialVariant(rec, ins, shapes, outs, c); err != nil {
			rec.Finish() //nolint:errcheck // releases the recorder; the error is the trial's
			return nil, fmt.Errorf("kernel %s: %w", c, err)
		}
		p, err := rec.Finish()
		if err != nil {
			return nil, fmt.Errorf("kernel %s: %w", c, err)
		}
		progs[i] = p
	}
	run := func(p *engine.Program) time.Duration {
		t0 := time.Now()
		if p.Run(context.Background(), nil, nil) != nil {
			return time.Duration(math.MaxInt64)
		}
		return time.Since(t0)
	}
	for _, p := range progs {
		run(p) // untimed: the first dispatch compiles on lavapipe
	}
	ts := make([][]time.Duration, len(cands))
	alive := make([]bool, len(cands))
	for i := range alive {
		alive[i] = true
	}
	median := func(s []time.Duration) time.Duration {
		c := append([]time.Duration(nil), s...)
		sort.Slice(c, func(a, b int) bool { return c[a] < c[b] })
		return c[len(c)/2]
	}
	start := time.Now()
	for round := 0; round < 7; round++ {
		for i, p := range progs {
			if alive[i] {
				ts[i] = append(ts[i], run(p))
			}
		}
		if round < 1 {
			continue
		}
		lead := time.Duration(math.MaxInt64)
		for i := range ts {
			if alive[i] {
				lead = min(lead, median(ts[i]))
			}
		}
		left := 0
		for i := range ts {
			if alive[i] && slices.Min(ts[i]) > 2*lead {
				alive[i] = false
			}
			if alive[i] {
				left++
			}
		}
		if left == 1 || round >= 2 && time.Since(start) > time.Second {
			break
		}
	}
	med := make([]time.Duration, len(cands))
	for i := range ts {
		med[i] = median(ts[i]) // a dropped one's is over twice the leader's
	}
	return med, nil
}

// dropUnused lets each layer with several kernels free the weights of those
// no recorded program uses (layers.VariantLayer.DropUnused): called after a
// plan is made, when the timing programs and the plans not chosen are
// closed. Holding the memory Allocated figures count needs the weights in
// blocks of their own (see docs/PERFORMANCE.md "Measured Conv kernels").
func (m *Model) dropUnused() {
	for _, l := range m.layers {
		if vl, ok := l.(layers.VariantLayer); ok {
			vl.DropUnused()
		}
	}
}
