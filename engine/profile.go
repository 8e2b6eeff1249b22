package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/vkinfer/vkinfer/engine/internal/vk"
)

// ErrNoProfile: Program.Profile was called on a program recorded without
// Recorder.Profile, or before its first successful run.
var ErrNoProfile = errors.New("no profile")

// ProfileMode says whether and how a Program times its steps (see
// Recorder.Profile).
type ProfileMode int

// The profile modes.
const (
	// ProfileOff records no timing (the default): one command buffer, no
	// queries.
	ProfileOff ProfileMode = iota
	// ProfileAuto uses ProfileDevice where the device's compute queue has
	// timestamps (DeviceInfo.Timestamps), else ProfileHost.
	ProfileAuto
	// ProfileDevice writes a GPU timestamp (vkCmdWriteTimestamp, bottom of
	// pipe) before the first command and after each step's last, in the
	// one command buffer the program submits: a step's time is the
	// difference of its two timestamps (timestampValidBits honoured),
	// times timestampPeriod. Steps keep their order and their barriers,
	// so the figures add up to the GPU time of the whole program.
	ProfileDevice
	// ProfileHost records one command buffer per step with commands and
	// submits them one after another, timing each submission and wait on
	// the host: each figure includes one submit and fence wait (tens of
	// microseconds on CPU drivers; `vkinfer bench` reports that floor).
	// The fallback for devices without timestamps.
	ProfileHost
)

func (m ProfileMode) String() string {
	switch m {
	case ProfileOff:
		return "off"
	case ProfileAuto:
		return "auto"
	case ProfileDevice:
		return "device timestamps"
	case ProfileHost:
		return "host timing"
	}
	return fmt.Sprintf("ProfileMode(%d)", int(m))
}

// Step names the commands recorded from now until the next Step (e.g. one
// graph node): a profiled Program reports one StepTime for each Step, in
// order, including steps that recorded nothing. Naming steps costs nothing
// when the program is not profiled. Commands recorded before the first
// Step, the input uploads and the output downloads of staging buffers get
// steps of their own (named "(unnamed)", "(upload inputs)" and "(download
// outputs)") when they exist.
func (r *Recorder) Step(name string) {
	r.steps = append(r.steps, name)
}

// Profile makes Finish record a program that times its steps on every run
// (see ProfileMode; Program.Profile reads the times of the last run).
func (r *Recorder) Profile(mode ProfileMode) {
	r.profile = mode
}

// Steps of ops that precede or follow the named ones.
const (
	stepNone     = -1 // before the first Step
	stepUpload   = -2 // input staging copies
	stepDownload = -3 // output staging copies
)

// segment is the ops of one step: ops[lo:hi] in final order.
type segment struct {
	name               string
	step               int      // Recorder.Step index, or -1
	kernels            []string // shaders dispatched, first use order
	lo, hi             int
	dispatches, copies int
}

// segments splits ops (in final order: uploads, unnamed, the named steps
// in order, downloads) into one segment per step. Named steps appear even
// when empty; the others only when they have ops.
func segments(ops []op, names []string) []segment {
	count := map[int]int{}
	for _, o := range ops {
		count[o.step]++
	}
	var order []int
	for _, s := range []int{stepUpload, stepNone} {
		if count[s] > 0 {
			order = append(order, s)
		}
	}
	for i := range names {
		order = append(order, i)
	}
	if count[stepDownload] > 0 {
		order = append(order, stepDownload)
	}
	segs := make([]segment, len(order))
	i := 0
	for k, s := range order {
		sg := &segs[k]
		switch s {
		case stepUpload:
			sg.name = "(upload inputs)"
		case stepNone:
			sg.name = "(unnamed)"
		case stepDownload:
			sg.name = "(download outputs)"
		default:
			sg.name = names[s]
		}
		sg.lo, sg.step = i, max(s, -1)
		for i < len(ops) && ops[i].step == s {
			if ops[i].kind == opDispatch {
				sg.dispatches++
				if k := ops[i].pipe.k.shader.Name; !contains(sg.kernels, k) {
					sg.kernels = append(sg.kernels, k)
				}
			} else {
				sg.copies++
			}
			i++
		}
		sg.hi = i
	}
	return segs
}

// StepTime is the time one step of a profiled Program took in its last run.
type StepTime struct {
	Name string
	// Step is the index of the Recorder.Step call that named the step, -1
	// for the implicit steps (uploads, downloads, commands before the first
	// Step).
	Step int
	// Kernels are the shaders the step dispatched (spirv names), each once.
	Kernels []string
	// Dispatches and Copies are the commands the step recorded.
	Dispatches, Copies int
	// Start is when the step began, from the start of the run's first
	// step; Duration is how long it took (>= 0). With device timestamps
	// Start+Duration of a step is the next step's Start.
	Start, Duration time.Duration
}

// Profile is the per-step timing of one run of a Program.
type Profile struct {
	// Mode is ProfileDevice (GPU timestamps) or ProfileHost.
	Mode  ProfileMode
	Steps []StepTime
	// Total is the sum of the steps' durations.
	Total time.Duration
}

// profiler is a Program's timing state.
type profiler struct {
	mode    ProfileMode // ProfileDevice or ProfileHost
	segs    []segment
	queries vk.QueryPool
	pool    bool  // queries was created
	cbSeg   []int // ProfileHost: the segment of each command buffer
	cur     []time.Duration
	last    *Profile
}

// host records the wall time of command buffer i of a ProfileHost run.
func (pr *profiler) host(i int, d time.Duration) {
	if i == 0 {
		pr.cur = make([]time.Duration, len(pr.segs))
	}
	pr.cur[pr.cbSeg[i]] = d
}

// finishRun stores the profile of the run that just completed.
func (pr *profiler) finishRun(p *Program) error {
	durs := pr.cur
	if pr.mode == ProfileDevice {
		n := uint32(len(pr.segs) + 1)
		ts, err := p.d.dev.Timestamps(pr.queries, n)
		if err != nil {
			return wrap(err, "read timestamps")
		}
		durs = deviceDurations(ts, p.d.info.tsBits, p.d.info.Limits.TimestampPeriodNs)
	} else if durs == nil { // no command buffers: nothing ran
		durs = make([]time.Duration, len(pr.segs))
	}
	prof := &Profile{Mode: pr.mode, Steps: make([]StepTime, len(pr.segs))}
	for i, sg := range pr.segs {
		prof.Steps[i] = StepTime{Name: sg.name, Step: sg.step, Kernels: sg.kernels, Dispatches: sg.dispatches, Copies: sg.copies, Start: prof.Total, Duration: durs[i]}
		prof.Total += durs[i]
	}
	pr.last, pr.cur = prof, nil
	return nil
}

// deviceDurations turns n+1 timestamps into n step durations: differences
// modulo 2^bits (timestampValidBits), in units of periodNs nanoseconds. A
// difference that would be negative (a driver writing timestamps out of
// order) counts as 0.
func deviceDurations(ts []uint64, bits uint32, periodNs float32) []time.Duration {
	mask := ^uint64(0)
	if bits > 0 && bits < 64 {
		mask = 1<<bits - 1
	}
	out := make([]time.Duration, len(ts)-1)
	for i := range out {
		a, b := ts[i]&mask, ts[i+1]&mask
		var ticks uint64
		switch {
		case b >= a:
			ticks = b - a
		case bits > 0 && bits < 64 && a-b > mask/2:
			ticks = (b - a) & mask // wrapped around
		}
		out[i] = time.Duration(float64(ticks) * float64(periodNs))
	}
	return out
}

// Profile returns the step times of the program's last completed run. It
// fails with ErrNoProfile when the program was recorded without
// Recorder.Profile or has not completed a run.
func (p *Program) Profile() (Profile, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.prof == nil {
		return Profile{}, fmt.Errorf("engine: %w: the program was recorded without Recorder.Profile", ErrNoProfile)
	}
	if p.prof.last == nil {
		return Profile{}, fmt.Errorf("engine: %w: the program has not completed a run", ErrNoProfile)
	}
	pr := *p.prof.last
	pr.Steps = append([]StepTime(nil), pr.Steps...)
	return pr, nil
}
