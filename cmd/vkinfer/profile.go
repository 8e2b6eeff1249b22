package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vkinfer/vkinfer"
)

// benchProfile is `bench --profile`'s per-layer table (also in --json).
type benchProfile struct {
	Timing  string         `json:"timing"` // "device timestamps" or "host timing"
	Runs    int            `json:"runs"`
	TotalUs float64        `json:"total_us"` // the sum of the layers' median times
	Flops   int64          `json:"flops"`    // of the steps with a count
	Layers  []profileLayer `json:"layers"`
	ByOp    []profileLayer `json:"by_op"` // one row per op, slowest first
}

// profileLayer is one row: a step, or (ByOp) all steps of one op.
type profileLayer struct {
	Name       string   `json:"name,omitempty"`
	Nodes      []string `json:"nodes,omitempty"`
	Op         string   `json:"op"`
	Kernels    []string `json:"kernels,omitempty"`
	Count      int      `json:"count,omitempty"` // ByOp: the steps
	Dispatches int      `json:"dispatches"`
	TimeUs     float64  `json:"time_us"`
	Share      float64  `json:"share"` // of TotalUs, 0..1
	Flops      int64    `json:"flops,omitempty"`
	GFlops     float64  `json:"gflops,omitempty"`
}

func profileResult(p *vkinfer.Profile) *benchProfile {
	r := &benchProfile{Timing: p.Mode.String(), Runs: p.Runs, TotalUs: us(p.Total)}
	share := func(t float64) float64 {
		if r.TotalUs <= 0 {
			return 0
		}
		return t / r.TotalUs
	}
	gflops := func(flops int64, t float64) float64 {
		if flops == 0 || t <= 0 {
			return 0
		}
		return float64(flops) / t / 1e3
	}
	byOp := map[string]*profileLayer{}
	for _, l := range p.Layers {
		t := us(l.Time)
		r.Layers = append(r.Layers, profileLayer{Name: l.Name, Nodes: l.Nodes, Op: l.Op, Kernels: l.Kernels,
			Dispatches: l.Dispatches, TimeUs: t, Share: share(t), Flops: l.FLOPs, GFlops: gflops(l.FLOPs, t)})
		r.Flops += l.FLOPs
		o := byOp[l.Op]
		if o == nil {
			o = &profileLayer{Op: l.Op}
			byOp[l.Op] = o
		}
		o.Count++
		o.Dispatches += l.Dispatches
		o.TimeUs += t
		o.Flops += l.FLOPs
	}
	for _, o := range byOp {
		o.Share, o.GFlops = share(o.TimeUs), gflops(o.Flops, o.TimeUs)
		r.ByOp = append(r.ByOp, *o)
	}
	sort.Slice(r.ByOp, func(i, j int) bool {
		a, b := r.ByOp[i], r.ByOp[j]
		return a.TimeUs > b.TimeUs || a.TimeUs == b.TimeUs && a.Op < b.Op
	})
	return r
}

func (r *benchProfile) print(w io.Writer) {
	fmt.Fprintf(w, "profile     %d steps, %s, medians of %d runs; steps sum to %s", len(r.Layers), r.Timing, r.Runs, usString(r.TotalUs))
	if r.Flops > 0 {
		fmt.Fprintf(w, ", %s in Conv/Gemm/MatMul/Dense (%.2f GFLOP/s over the steps' sum)", flopString(r.Flops), float64(r.Flops)/r.TotalUs/1e3)
	}
	fmt.Fprintln(w)
	gf := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v)
	}
	opW, kW := len("op"), len("kernel")
	for _, l := range r.Layers {
		opW, kW = max(opW, len(l.Op)), max(kW, len(kernels(l.Kernels)))
	}
	fmt.Fprintf(w, "%4s %10s %6s %8s  %-*s  %-*s  %s\n", "#", "time", "share", "GFLOP/s", opW, "op", kW, "kernel", "step")
	for i, l := range r.Layers {
		fmt.Fprintf(w, "%4d %10s %5.1f%% %8s  %-*s  %-*s  %s\n", i+1, usString(l.TimeUs), 100*l.Share, gf(l.GFlops), opW, l.Op, kW, kernels(l.Kernels), l.Name)
	}
	fmt.Fprintln(w, "by op (slowest first)")
	fmt.Fprintf(w, "%5s %10s %6s %8s  %s\n", "steps", "time", "share", "GFLOP/s", "op")
	for _, o := range r.ByOp {
		fmt.Fprintf(w, "%5d %10s %5.1f%% %8s  %s\n", o.Count, usString(o.TimeUs), 100*o.Share, gf(o.GFlops), o.Op)
	}
	fmt.Fprintf(w, "%5d %10s %5.1f%% %8s  %s\n", len(r.Layers), usString(r.TotalUs), 100.0, gf(float64(r.Flops)/r.TotalUs/1e3), "total")
}

func kernels(ks []string) string {
	if len(ks) == 0 {
		return "-"
	}
	return strings.Join(ks, ",")
}

// flopString formats a FLOP count for people.
func flopString(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GFLOP", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MFLOP", float64(n)/1e6)
	}
	return fmt.Sprintf("%d FLOP", n)
}
