package layers

import (
	"fmt"
	"sync/atomic"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// The GPU side of the reductions (semantics in ops/def_reduce.go): every
// Reduce* op is shaders/reduce.comp with its ops.ReduceOp as the OP
// constant.

func init() {
	for _, name := range []string{ops.OpReduceSum, ops.OpReduceMean, ops.OpReduceMax, ops.OpReduceMin, ops.OpReduceProd,
		ops.OpReduceL1, ops.OpReduceL2, ops.OpReduceSumSquare, ops.OpReduceLogSum, ops.OpReduceLogSumExp} {
		Register(name, buildReduce)
	}
}

// MaxReduceGroups is how many groups of kept axes, and of reduced axes,
// reduce.comp indexes once the host has merged neighbouring axes of the
// same kind and dropped those of size 1 (so kept and reduced groups
// alternate: a tensor of rank <= 8 always fits).
const MaxReduceGroups = 4

// MaxReduceIterations bounds the loop iterations of one reduce.comp
// invocation: lavapipe (Mesa 22) silently leaves every loop of an
// invocation once it has run 65,535 iterations in all, so RecordReduce
// refuses what would need more (ErrUnsupported): a reduction of more than
// about 15 million elements per output, or a forced serial one of more than
// this many.
const MaxReduceIterations = 60000

// ReduceKernel chooses reduce.comp's form.
type ReduceKernel int

// The reduction kernels.
const (
	ReduceAuto      ReduceKernel = iota // serial up to SerialReduceMax elements per output, else the tree
	ReduceSerial                        // one invocation per output
	ReduceWorkgroup                     // one workgroup per output, shared-memory tree
)

// Reduce describes a reduction of a tensor of shape Shape over the axes
// marked in Axes (same length), for RecordReduce. The result is row-major
// over the kept axes (keepdims does not change the data).
type Reduce struct {
	Op     ops.ReduceOp
	Shape  Shape
	Axes   []bool
	Kernel ReduceKernel
}

// SerialReduceMax is the longest reduction (elements per output) that
// ReduceAuto runs one invocation per output. On CPU drivers the serial
// loop wins everywhere measured (BenchmarkReduce, ReduceMean over the last
// axis, lavapipe, load average ~5: 1280x49 0.38 against 8.8 ms, 64x3136 1.35
// against 11.3 ms, 256x4000 2.9 against 18.1 ms, 1x4000 even); it stops at
// 4,096 to bound the fp32 rounding of one long running sum (the tree sums
// ~n/256 per invocation). GPUs keep the shared-memory tree from 65 up, as
// for softmax (not measured on a GPU).
func SerialReduceMax(info engine.DeviceInfo) int {
	if info.Type == engine.TypeCPU {
		return 4096
	}
	return 64
}

// reducePlan is reduce.comp's view of one reduction.
type reducePlan struct {
	count, rsize int
	ks, kst      [MaxReduceGroups]int // kept groups, innermost first
	rs, rst      [MaxReduceGroups]int // reduced groups, innermost first
}

func planReduce(g Reduce) (reducePlan, error) {
	if len(g.Axes) != len(g.Shape) {
		return reducePlan{}, fmt.Errorf("layers: %v of shape %v: %d axes marked", g.Op, g.Shape, len(g.Axes))
	}
	p := reducePlan{count: 1, rsize: 1}
	for i := range p.ks {
		p.ks[i], p.rs[i] = 1, 1
	}
	nk, nr := 0, 0
	lastReduced := -1 // kind of the previous group: 0 kept, 1 reduced, -1 none
	stride := 1
	for i := len(g.Shape) - 1; i >= 0; i-- {
		d := g.Shape[i]
		if d < 0 {
			return p, fmt.Errorf("layers: %v of shape %v: negative dimension", g.Op, g.Shape)
		}
		if d == 1 {
			continue
		}
		kind := 0
		if g.Axes[i] {
			kind = 1
			p.rsize *= d
		} else {
			p.count *= d
		}
		switch {
		case kind == lastReduced && kind == 1:
			p.rs[nr-1] *= d
		case kind == lastReduced:
			p.ks[nk-1] *= d
		case kind == 1:
			if nr == MaxReduceGroups {
				return p, fmt.Errorf("layers: %v of shape %v over axes %v: more than %d groups of reduced axes: %w", g.Op, g.Shape, g.Axes, MaxReduceGroups, ErrUnsupported)
			}
			p.rs[nr], p.rst[nr] = d, stride
			nr++
		default:
			if nk == MaxReduceGroups {
				return p, fmt.Errorf("layers: %v of shape %v over axes %v: more than %d groups of kept axes: %w", g.Op, g.Shape, g.Axes, MaxReduceGroups, ErrUnsupported)
			}
			p.ks[nk], p.kst[nk] = d, stride
			nk++
		}
		lastReduced = kind
		stride *= d
	}
	return p, nil
}

// RecordReduce records g from x into y (y holds the kept axes' product of
// elements). An empty result records nothing; an empty reduction writes
// each op's value for no elements (see ops.Reduce).
func RecordReduce(r *engine.Recorder, d *engine.Device, g Reduce, x, y *engine.Buffer) error {
	if g.Op >= ops.NumReduceOps {
		return fmt.Errorf("layers: reduce: unknown op %d", uint32(g.Op))
	}
	p, err := planReduce(g)
	if err != nil {
		return err
	}
	if p.count == 0 {
		return nil
	}
	if x.Len() < g.Shape.Elems() || y.Len() < p.count {
		return fmt.Errorf("layers: %v of shape %v: buffers hold %d and %d elements", g.Op, g.Shape, x.Len(), y.Len())
	}
	push := []uint32{u32(p.count), u32(p.rsize)}
	for _, a := range [][MaxReduceGroups]int{p.ks, p.kst, p.rs, p.rst} {
		for _, v := range a {
			push = append(push, u32(v))
		}
	}
	serial := g.Kernel == ReduceSerial || g.Kernel == ReduceAuto && p.rsize <= SerialReduceMax(d.Info())
	local := elementLocal(d, p.rsize)
	per := p.rsize // loop iterations of one invocation
	if !serial {
		per = (p.rsize + int(local) - 1) / int(local)
	}
	if g.Op == ops.ReduceLogSumExp {
		per *= 2 // two passes: the maximum, then the sum
	}
	if per > MaxReduceIterations {
		return fmt.Errorf("layers: %v of shape %v: %d elements per output, more than one invocation may loop over (%d per invocation; lavapipe stops loops after 65,535 iterations): %w",
			g.Op, g.Shape, p.rsize, MaxReduceIterations, ErrUnsupported)
	}
	if serial {
		pipe, err := d.Pipeline("reduce", engine.Spec{"local_size_x": elementLocal(d, p.count), "OP": uint32(g.Op), "SERIAL": 1})
		if err != nil {
			return fmt.Errorf("layers: %v: %w", g.Op, err)
		}
		return r.Dispatch(pipe, []*engine.Buffer{x, y}, push, d.Grid(pipe, uint64(p.count)))
	}
	pipe, err := d.Pipeline("reduce", engine.Spec{"local_size_x": local, "OP": uint32(g.Op)})
	if err != nil {
		return fmt.Errorf("layers: %v: %w", g.Op, err)
	}
	maxX := int(d.Info().Limits.MaxComputeWorkGroupCount[0])
	gx, gy := p.count, 1
	if gx > maxX {
		gy = (p.count + maxX - 1) / maxX
		gx = (p.count + gy - 1) / gy
	}
	return r.Dispatch(pipe, []*engine.Buffer{x, y}, push, [3]uint32{u32(gx), u32(gy), 1})
}

// forceReduceKernel is the kernel reduction layers record with (tests
// set it to run both forms through the op's layer; ReduceAuto otherwise).
var forceReduceKernel atomic.Int32

// reduceLayer is one Reduce* node; its axes come from the attribute, a
// constant input, or an input a planner computes on the host (from shapes),
// resolved against the input's rank when recorded.
type reduceLayer struct {
	hostOp
	op ops.ReduceOp
}

func buildReduce(b *Build, mn *model.Node) (Layer, error) {
	h, err := newHostOp(b, mn)
	if err != nil {
		return nil, err
	}
	op, _ := ops.ReduceOpOf(mn.Op)
	return &reduceLayer{hostOp: h, op: op}, nil
}

func (l *reduceLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	return l.RecordHost(r, in, shapes, nil, out)
}

// RecordHost reads the axes from host[1] when they are computed on the host.
func (l *reduceLayer) RecordHost(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, host []*ops.Tensor, out []*engine.Buffer) error {
	vals, err := l.p.values(shapes, host)
	if err != nil {
		return err
	}
	var axes *ops.Tensor
	if len(vals) > 1 {
		axes = vals[1]
	}
	mask, err := ops.ReduceAxes(l.a, len(shapes[0]), axes)
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	g := Reduce{Op: l.op, Shape: shapes[0], Axes: mask, Kernel: ReduceKernel(forceReduceKernel.Load())}
	if err := RecordReduce(r, l.d, g, in[0], out[0]); err != nil {
		return fmt.Errorf("layers: %s %q: %w", l.a.Node.Op, l.a.Node.Name, err)
	}
	return nil
}

func (l *reduceLayer) Close() {}
