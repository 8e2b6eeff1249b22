package main

import (
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressDelay is how long work runs before its progress bar appears:
// short work prints no bar at all.
var progressDelay = 500 * time.Millisecond

// progress is a progress bar on standard error for long work, drawn with
// github.com/schollz/progressbar (rate, count and time left, redrawn in
// place at most 10 times a second, erased when done). Only a terminal gets
// one: newProgress returns nil otherwise, and a nil *progress does nothing.
type progress struct {
	w     io.Writer
	total int64
	desc  string
	unit  string

	mu      sync.Mutex
	done    int64
	bar     *progressbar.ProgressBar
	timer   *time.Timer
	stopped bool
}

// newProgress starts the progress of total units (e.g. "images") of work
// described by desc; the bar appears once the work has run progressDelay.
func newProgress(e *env, total int64, desc, unit string) *progress {
	if !isTerminal(e.stderr) || total <= 0 {
		return nil
	}
	return startProgress(e.stderr, total, desc, unit)
}

func startProgress(w io.Writer, total int64, desc, unit string) *progress {
	p := &progress{w: w, total: total, desc: desc, unit: unit}
	p.timer = time.AfterFunc(progressDelay, p.show)
	return p
}

func (p *progress) show() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped || p.bar != nil {
		return
	}
	p.bar = progressbar.NewOptions64(p.total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(p.desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(p.unit),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)
	if p.done > 0 {
		p.bar.Set64(p.done)
	}
}

// add records n more units done.
func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(n)
	if p.bar != nil {
		p.bar.Add64(int64(n))
	}
}

// describe changes the description (the phase of the work).
func (p *progress) describe(desc string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.desc = desc
	if p.bar != nil {
		p.bar.Describe(desc)
	}
}

// stop erases the bar; later calls do nothing.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	if p.bar != nil {
		p.bar.Clear()
		p.bar.Exit()
	}
}
