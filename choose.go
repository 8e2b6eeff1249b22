package vkinfer

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
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

// chooseVariant returns the kernel a layer with several (vl, node name, input
// shapes shapes, output shapes outShapes) runs in a plan: "" (the static
// rule) where fewer than two kernels can run these shapes or measuring is
// off; else the stored choice for the key (variantKey), else the fastest
// of the candidates timed now (timeVariants; the static rule's unless
// another is over 5 % faster), which is then stored.
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
	// The static rule's kernel (cands[0]) stays unless another is faster by
	// more than the timing's noise (5 %): two kernels within the noise of
	// each other would otherwise swap from one measurement to the next.
	best := 0
	for i := range cands {
		if times[i] < times[best] && times[i] < times[0]-times[0]/20 {
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
// compute on several times slower), and returns each one's best wall
// time (submit to fence, no transfers; on a busy machine noise only adds
// time, so the least of a few runs compares kernels best). One untimed run each first (it
// includes lavapipe's JIT), then up to 3 rounds in turn (a busy machine
// slows them alike): a candidate whose best time is over 1.5x the
// leader's best leaves (a direct kernel 3-11x behind the GEMM path costs
// one timed run, not three), and the rounds stop once one candidate is
// left or the timed runs took half a second (a large layer's run is long
// enough for one or two samples).
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
			rec.Discard() // frees the recorder's temporaries
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
	start := time.Now()
	for round := 0; round < 3; round++ {
		for i, p := range progs {
			if alive[i] {
				ts[i] = append(ts[i], run(p))
			}
		}
		lead := time.Duration(math.MaxInt64)
		for i := range ts {
			if alive[i] {
				lead = min(lead, slices.Min(ts[i]))
			}
		}
		left := 0
		for i := range ts {
			if alive[i] && slices.Min(ts[i]) > lead+lead/2 {
				alive[i] = false
			}
			if alive[i] {
				left++
			}
		}
		if left == 1 || time.Since(start) > 500*time.Millisecond {
			break
		}
	}
	best := make([]time.Duration, len(cands))
	for i := range ts {
		best[i] = slices.Min(ts[i]) // a dropped one's is over 1.5x the leader's
	}
	return best, nil
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
