package layers

import (
	"fmt"
	"math"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// MaxStridedRank is the most dimensions RecordStrided takes once it has
// merged those that are contiguous in the source (shaders/strided.comp's
// push constants hold 6).
const MaxStridedRank = 6

// StridedMode says what a Strided gather reads where a source coordinate
// falls outside the source: shaders/strided.comp's MODE constant is its
// value.
type StridedMode uint32

// The modes of RecordStrided.
const (
	// StridedInside: every coordinate is inside (RecordStrided checks it).
	StridedInside StridedMode = iota
	// StridedConstant: outside reads Value (Pad "constant").
	StridedConstant
	// StridedEdge: outside reads the nearest edge element (Pad "edge").
	StridedEdge
	// StridedReflect: outside reads the mirror image without repeating the
	// edge, periodically (Pad "reflect", numpy's rule).
	StridedReflect
	// StridedWrap: outside reads the coordinate modulo the extent (Pad
	// "wrap").
	StridedWrap
)

// Strided describes the data-movement kernel (shaders/strided.comp): for
// each output element at coordinates c over Dims (row-major), the source
// coordinate along dimension k is j_k = Lo[k] + c_k, mapped by Mode when it
// falls outside [0, In[k]); the element read is x[Base + Σ j_k·Stride[k]]
// and it is written to y[OffY + i]. Strides are in elements and may be
// negative or 0. Transpose is Stride = the input's strides permuted; Slice
// is Lo = 0, Base = the first element, Stride = step · the input's stride;
// Pad is Lo = -pads_begin, In = the input's dimensions.
//
// Every slice has len(Dims) entries (In may be nil for StridedInside). Any
// rank is accepted as long as merging dimensions that are contiguous in
// the source (and never outside) leaves at most MaxStridedRank.
type Strided struct {
	Dims, In, Lo, Stride []int
	Base, OffY           int
	Mode                 StridedMode
	Value                float32
	// ValueAt, when not nil, holds StridedConstant's value in its element
	// 0 instead of Value (a value computed at run time).
	ValueAt *engine.Buffer
	// Round rounds every value read to a narrower float type (Cast).
	Round ops.FloatRound
}

// stridedDim is one dimension of a Strided after simplification.
type stridedDim struct{ n, in, lo, stride int }

// simplify folds dimensions that are never outside into Base, drops those
// of size 1 and merges neighbours that are contiguous in the source.
func (s Strided) simplify() (base int, dims []stridedDim, err error) {
	r := len(s.Dims)
	if len(s.Lo) != r || len(s.Stride) != r || (s.Mode != StridedInside && len(s.In) != r) {
		return 0, nil, fmt.Errorf("layers: strided: %d dims, %d lo, %d in, %d strides", r, len(s.Lo), len(s.In), len(s.Stride))
	}
	base = s.Base
	for k := 0; k < r; k++ {
		n, lo := s.Dims[k], s.Lo[k]
		if n < 0 {
			return 0, nil, fmt.Errorf("layers: strided: dimension %d is %d", k, n)
		}
		in := n
		if s.Mode != StridedInside {
			in = s.In[k]
		}
		if s.Mode == StridedInside || lo >= 0 && lo+n <= in {
			// Always inside: fold the start into the base.
			base += lo * s.Stride[k]
			if n == 1 {
				continue
			}
			d := stridedDim{n: n, in: n, stride: s.Stride[k]}
			if m := len(dims) - 1; m >= 0 && dims[m].lo == 0 && dims[m].in == dims[m].n && dims[m].stride == d.stride*n {
				dims[m].n *= n
				dims[m].in = dims[m].n
				dims[m].stride = d.stride
				continue
			}
			dims = append(dims, d)
			continue
		}
		if in <= 0 && s.Mode != StridedConstant {
			return 0, nil, fmt.Errorf("layers: strided: dimension %d of the source is empty, mode %d needs an element", k, s.Mode)
		}
		dims = append(dims, stridedDim{n: n, in: in, lo: lo, stride: s.Stride[k]})
	}
	if len(dims) > MaxStridedRank {
		return 0, nil, fmt.Errorf("layers: strided: %d dimensions after merging, the kernel takes %d: %w", len(dims), MaxStridedRank, ErrUnsupported)
	}
	return base, dims, nil
}

// RecordStrided records the gather s from x into y (one dispatch; none for
// an empty output). It fails, before recording, when an element read or
// written would fall outside x or y.
func RecordStrided(r *engine.Recorder, d *engine.Device, s Strided, x, y *engine.Buffer) error {
	base, dims, err := s.simplify()
	if err != nil {
		return err
	}
	count := 1
	for _, n := range s.Dims {
		count *= n
	}
	if count == 0 {
		return nil
	}
	// The range of source addresses: each term's extremes at its ends.
	lo, hi := base, base
	for _, dm := range dims {
		a, b := dm.lo, dm.lo+dm.n-1
		if a < 0 || b >= dm.in {
			a, b = 0, dm.in-1
			if s.Mode == StridedConstant {
				a, b = max(dm.lo, 0), min(dm.lo+dm.n-1, dm.in-1)
				if a > b { // never inside: nothing read along here
					a, b = 0, 0
				}
			}
		}
		lo += min(a*dm.stride, b*dm.stride)
		hi += max(a*dm.stride, b*dm.stride)
	}
	if lo < 0 || hi >= x.Len() || hi > math.MaxInt32 || s.OffY < 0 || s.OffY+count > y.Len() {
		return fmt.Errorf("layers: strided: reads x[%d..%d] of %d, writes y[%d..%d) of %d", lo, hi, x.Len(), s.OffY, s.OffY+count, y.Len())
	}
	if len(dims) == 0 {
		dims = []stridedDim{{n: 1, in: 1}}
	}
	v, valueInput := x, uint32(0)
	if s.ValueAt != nil && s.Mode == StridedConstant {
		v, valueInput = s.ValueAt, 1
	}
	kernel := "strided"
	if stridedTexel(d.Info(), hi) {
		kernel = "strided_texel"
	}
	// Runs of up to stridedRun elements per invocation along the last
	// dimension (the coordinates' divisions paid once per run): the size
	// that wastes fewest lanes on short rows.
	last := dims[len(dims)-1].n
	run, most := 1, 1
	if d.Info().Type == engine.TypeCPU {
		most = stridedRun // GPUs: one element per lane, stores coalesced
	}
	for k := most; k > 1; k /= 2 {
		if last >= k && (last%k == 0 || last/k >= 2) {
			run = k
			break
		}
	}
	runs := (last + run - 1) / run
	groups := count / last * runs
	p, err := d.Pipeline(kernel, engine.Spec{"local_size_x": elementLocal(d, groups), "RANK": u32(len(dims)), "MODE": uint32(s.Mode),
		"VALUE_INPUT": valueInput, "ROUND": uint32(s.Round), "RUN": u32(run)})
	if err != nil {
		return fmt.Errorf("layers: strided: %w", err)
	}
	push := make([]uint32, 5+4*MaxStridedRank)
	push[0], push[1], push[2], push[3] = u32(groups), uint32(int32(base)), u32(s.OffY), math.Float32bits(s.Value)
	push[4+4*MaxStridedRank] = u32(runs)
	for k, dm := range dims {
		push[4+k] = u32(dm.n)
		push[4+MaxStridedRank+k] = u32(dm.in)
		push[4+2*MaxStridedRank+k] = uint32(int32(dm.lo))
		push[4+3*MaxStridedRank+k] = uint32(int32(dm.stride))
	}
	return r.Dispatch(p, []*engine.Buffer{x, y, v}, push, d.Grid(p, uint64(groups)))
}

// stridedRun is the most output elements one invocation writes on CPU
// drivers (a power of 2), where the last dimension after merging takes
// them. On lavapipe (load average 18 on 2 cores, medians of 25, side by
// side) runs of 8 cut ShuffleNet's channel shuffle from 2.8 to 0.68 ms and
// a channel-half Slice from 0.80 to 0.24 ms; runs of 16 and 32 measured no
// better.
var stridedRun = 8

// stridedStorageOnly makes RecordStrided use the storage-buffer kernel
// everywhere (benchmarks compare the two).
var stridedStorageOnly = false

// stridedTexel reports whether RecordStrided reads x as a texel buffer
// (strided_texel.comp): on lavapipe, where a texel fetch is a vector load
// and a storage-buffer load whose address differs per lane a loop over the
// lanes, when every element up to hi lies in one texel view.
func stridedTexel(info engine.DeviceInfo, hi int) bool {
	return !stridedStorageOnly && info.DriverID == engine.DriverLavapipe && texelFits(info, hi+1)
}

// rowStrides returns the row-major element strides of shape.
func rowStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

func init() {
	Register(ops.OpTranspose, buildTranspose)
}

// transposeLayer is Transpose (semantics in ops/def_data.go): one strided gather
// whose strides are the input's, permuted. Dimensions that stay next to
// each other merge, so NCHW→NHWC is a rank-3 gather.
type transposeLayer struct {
	d *engine.Device
	a ops.Attrs
}

func buildTranspose(b *Build, mn *model.Node) (Layer, error) {
	n := node{mn, b}
	a, err := n.resolve()
	if err != nil {
		return nil, err
	}
	if err := n.runtimeData(); err != nil {
		return nil, err
	}
	return &transposeLayer{d: b.Dev, a: a}, nil
}

func (l *transposeLayer) Record(r *engine.Recorder, in []*engine.Buffer, shapes []Shape, out []*engine.Buffer) error {
	if err := checkRuntime(l.a.Node.Op, l.a.Node.Name, shapes, 1); err != nil {
		return err
	}
	perm, err := ops.TransposePerm(l.a, len(shapes[0]))
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	st := rowStrides(shapes[0])
	s := Strided{Dims: make([]int, len(perm)), Lo: make([]int, len(perm)), Stride: make([]int, len(perm))}
	for i, p := range perm {
		s.Dims[i], s.Stride[i] = shapes[0][p], st[p]
	}
	if err := RecordStrided(r, l.d, s, in[0], out[0]); err != nil {
		return fmt.Errorf("layers: Transpose %q: %w", l.a.Node.Name, err)
	}
	return nil
}

func (l *transposeLayer) Close() {}
