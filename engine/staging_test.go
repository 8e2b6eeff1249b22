package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// With ForceStaging the device memory is treated as not host-visible, as on a
// discrete GPU: uploads, programs' inputs and outputs go through staging
// buffers and copy commands. Results must be the same.
func TestStagingPath(t *testing.T) {
	for _, staging := range []bool{false, true} {
		d := gputest.Open(t, engine.Options{ForceStaging: staging})
		x, err := d.NewBuffer(engine.Activations, 4*1000)
		require.NoError(t, err)
		// Ask the engine which path it takes: ForceStaging (and
		// VKINFER_LIMITS=min) always stage; otherwise a device may still
		// keep tensors where the host cannot map them (discrete GPUs).
		staged := !x.Mapped()
		if staging {
			require.True(t, staged, "ForceStaging must not map tensors")
		}
		y, err := d.NewBuffer(engine.Activations, 4*1000)
		require.NoError(t, err)
		z, err := d.NewBuffer(engine.Activations, 4*1000)
		require.NoError(t, err)
		in := make([]float32, 1000)
		for i := range in {
			in[i] = float32(i%7) - 3
		}
		// Buffer.Write/Read round trip.
		require.NoError(t, x.Write(in))
		back := make([]float32, 1000)
		require.NoError(t, x.Read(back))
		require.Equal(t, in, back)
		// A program: relu(x) -> y -> relu(y) -> z, with x as input and z as output.
		p, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
		require.NoError(t, err)
		rec := d.NewRecorder()
		require.NoError(t, rec.Dispatch(p, []*engine.Buffer{x, y}, []uint32{1000}, d.Grid(p, 1000)))
		require.NoError(t, rec.Dispatch(p, []*engine.Buffer{y, z}, []uint32{1000}, d.Grid(p, 1000)))
		require.NoError(t, rec.Input(x)) // declared after use: the upload still comes first
		require.NoError(t, rec.Output(z))
		wantBarriers := 1
		if staged {
			wantBarriers = 3 // upload -> relu, relu -> relu, relu -> download
		}
		require.Equal(t, wantBarriers, rec.Barriers())
		prog, err := rec.Finish()
		require.NoError(t, err)
		for run := 0; run < 2; run++ {
			for i := range in {
				in[i] = float32((i+run)%5) - 2
			}
			out := make([]float32, 1000)
			require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: x, Data: in}}, []engine.IO{{Buf: z, Data: out}}))
			for i := range in {
				want := in[i]
				if want < 0 {
					want = 0
				}
				require.Equal(t, want, out[i], "staging=%v (staged %v) run %d [%d]", staging, staged, run, i)
			}
		}
		prog.Close()
		prog.Close()
		x.Close()
		x.Close()
		require.ErrorIs(t, prog.Run(context.Background(), nil, nil), engine.ErrClosed)
	}
}

func TestBufferErrors(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	_, err := d.NewBuffer(engine.Activations, 0)
	require.ErrorContains(t, err, "positive multiple of 4")
	_, err = d.NewBuffer(engine.Activations, 6)
	require.Error(t, err)
	huge := int64(d.Info().Limits.MaxStorageBufferRange) + 4
	_, err = d.NewBuffer(engine.Activations, huge)
	require.ErrorContains(t, err, "maxStorageBufferRange")
	b, err := d.NewBuffer(engine.Weights, 16)
	require.NoError(t, err)
	require.ErrorContains(t, b.Write(make([]float32, 5)), "do not fit")
	_, err = d.Pipeline("nope", nil)
	require.ErrorContains(t, err, "unknown shader")
	_, err = d.Pipeline("relu", engine.Spec{"bogus": 1})
	require.ErrorContains(t, err, `no specialization constant "bogus"`)
	_, err = d.Pipeline("relu", engine.Spec{"local_size_x": d.Info().Limits.MaxComputeWorkGroupInvocations + 1})
	require.ErrorContains(t, err, "exceeds")
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	rec := d.NewRecorder()
	require.ErrorContains(t, rec.Dispatch(p, []*engine.Buffer{b}, []uint32{4}, [3]uint32{1, 1, 1}), "takes 2 buffers")
	_, err = rec.Finish()
	require.Error(t, err, "a recorder that failed cannot finish")
}

// Two devices in one process, one after another and at once.
func TestTwoDevices(t *testing.T) {
	a := gputest.Open(t, engine.Options{})
	b := gputest.Open(t, engine.Options{})
	require.Equal(t, a.Info().Name, b.Info().Name)
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
}

// Temporary buffers belong to the program: closing it returns them.
func TestProgramTemps(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	before := d.Stats().Arena(engine.Activations).InUse
	rec := d.NewRecorder()
	tmp, err := rec.Temp(4 * 1024)
	require.NoError(t, err)
	out, err := d.NewBuffer(engine.Activations, 4*1024)
	require.NoError(t, err)
	defer out.Close()
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	require.NoError(t, rec.Dispatch(p, []*engine.Buffer{tmp, out}, []uint32{1024}, d.Grid(p, 1024)))
	prog, err := rec.Finish()
	require.NoError(t, err)
	require.NoError(t, prog.Run(context.Background(), nil, nil))
	require.Greater(t, d.Stats().Arena(engine.Activations).InUse, before+4*1024)
	prog.Close()
	require.Equal(t, before+out.Size(), d.Stats().Arena(engine.Activations).InUse)
}

// A View binds part of a buffer from an aligned offset; an unaligned or
// out-of-range one fails the recording.
func TestRecorderView(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	al := int(d.Alignment() / 4) // floats per alignment step
	n := 2*al + 7
	src, err := d.NewBuffer(engine.Activations, int64(4*n))
	require.NoError(t, err)
	defer src.Close()
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(i%11) - 5
	}
	require.NoError(t, src.Write(data))
	m := n - al
	out, err := d.NewBuffer(engine.Activations, int64(4*m))
	require.NoError(t, err)
	defer out.Close()
	rec := d.NewRecorder()
	v, err := rec.View(src, int64(4*al), int64(4*m))
	require.NoError(t, err)
	require.Equal(t, m, v.Len())
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	require.NoError(t, rec.Dispatch(p, []*engine.Buffer{v, out}, []uint32{uint32(m)}, d.Grid(p, uint64(m))))
	prog, err := rec.Finish()
	require.NoError(t, err)
	require.NoError(t, prog.Run(context.Background(), nil, nil))
	prog.Close()
	got := make([]float32, m)
	require.NoError(t, out.Read(got))
	for i, x := range data[al:] {
		require.Equal(t, max(x, 0), got[i], "element %d", i)
	}
	for _, bad := range [][2]int64{{4, 16}, {0, int64(4*n) + 4}, {int64(4 * al), int64(4 * n)}} {
		rec := d.NewRecorder()
		_, err := rec.View(src, bad[0], bad[1])
		require.Error(t, err, "view %v", bad)
		rec.Discard()
	}
}

// A recording abandoned part way (Discard instead of Finish) returns its
// temporaries and staging buffers.
func TestRecorderDiscard(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	before := d.Stats().Arena(engine.Activations).InUse
	rec := d.NewRecorder()
	tmp, err := rec.Temp(4 * 1024)
	require.NoError(t, err)
	in, err := d.NewBuffer(engine.Activations, 4*1024)
	require.NoError(t, err)
	defer in.Close()
	require.NoError(t, rec.Input(in))
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	require.NoError(t, rec.Dispatch(p, []*engine.Buffer{in, tmp}, []uint32{1024}, d.Grid(p, 1024)))
	require.Greater(t, d.Stats().Arena(engine.Activations).InUse, before+in.Size())
	rec.Discard()
	require.Equal(t, before+in.Size(), d.Stats().Arena(engine.Activations).InUse)
	rec.Discard() // twice: nothing more
	require.Equal(t, before+in.Size(), d.Stats().Arena(engine.Activations).InUse)
}

// NewBuffers takes one exact block, freed with its last buffer; Compact
// moves loose buffers into one exact block, keeping their contents, and
// leaves blocks that a live program binds where they are.
func TestExactBlocksAndCompact(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	before := d.Stats()
	group, err := d.NewBuffers(engine.Activations, []int64{4, 400, 4000})
	require.NoError(t, err)
	st := d.Stats()
	require.Equal(t, before.LiveAllocations+1, st.LiveAllocations)
	require.Less(t, st.Arena(engine.Activations).Allocated-before.Arena(engine.Activations).Allocated, int64(4*1024+4*256))
	for _, b := range group {
		b.Close()
	}
	require.Equal(t, before.LiveAllocations, d.Stats().LiveAllocations, "block freed with its last buffer")

	// Loose weights: two tensors in the shared 64 MiB block.
	w1, err := d.NewBuffer(engine.Weights, 4*100)
	require.NoError(t, err)
	w2, err := d.NewBuffer(engine.Weights, 4*300)
	require.NoError(t, err)
	data1, data2 := make([]float32, 100), make([]float32, 300)
	for i := range data1 {
		data1[i] = float32(i)
	}
	for i := range data2 {
		data2[i] = -float32(i)
	}
	require.NoError(t, w1.Write(data1))
	require.NoError(t, w2.Write(data2))
	require.Greater(t, d.Stats().Arena(engine.Weights).Allocated, int64(1<<20))
	require.NoError(t, d.Compact(engine.Weights))
	held := d.Stats().Arena(engine.Weights).Allocated
	require.Less(t, held, int64(4*400+2*256), "compacted to what the tensors need")
	got1, got2 := make([]float32, 100), make([]float32, 300)
	require.NoError(t, w1.Read(got1))
	require.NoError(t, w2.Read(got2))
	require.Equal(t, data1, got1)
	require.Equal(t, data2, got2)

	// A buffer bound by a live program pins its block.
	w3, err := d.NewBuffer(engine.Weights, 4*64)
	require.NoError(t, err)
	out, err := d.NewBuffer(engine.Activations, 4*64)
	require.NoError(t, err)
	p, err := d.Pipeline("relu", nil)
	require.NoError(t, err)
	rec := d.NewRecorder()
	require.NoError(t, rec.Dispatch(p, []*engine.Buffer{w3, out}, []uint32{64}, d.Grid(p, 64)))
	prog, err := rec.Finish()
	require.NoError(t, err)
	pinned := d.Stats().Arena(engine.Weights).Allocated
	require.NoError(t, d.Compact(engine.Weights))
	require.Equal(t, pinned, d.Stats().Arena(engine.Weights).Allocated, "pinned block must stay")
	require.NoError(t, prog.Run(context.Background(), nil, nil))
	prog.Close()
	require.NoError(t, d.Compact(engine.Weights))
	require.Less(t, d.Stats().Arena(engine.Weights).Allocated, pinned, "unpinned after the program closed")
}

// A buffer that is both a program's input and its output (a graph input
// passed through) shares one staging buffer: what the run writes comes
// back, on the staged path as on the mapped one.
func TestInputIsOutput(t *testing.T) {
	for _, staging := range []bool{false, true} {
		d := gputest.Open(t, engine.Options{ForceStaging: staging})
		x, err := d.NewBuffer(engine.Activations, 4*5)
		require.NoError(t, err)
		y, err := d.NewBuffer(engine.Activations, 4*5)
		require.NoError(t, err)
		p, err := d.Pipeline("relu", nil)
		require.NoError(t, err)
		rec := d.NewRecorder()
		require.NoError(t, rec.Input(x))
		require.NoError(t, rec.Dispatch(p, []*engine.Buffer{x, y}, []uint32{5}, d.Grid(p, 5)))
		require.NoError(t, rec.Output(x))
		require.NoError(t, rec.Output(y))
		prog, err := rec.Finish()
		require.NoError(t, err)
		in := []float32{1, -2, 3, -4, 5}
		gotX, gotY := make([]float32, 5), make([]float32, 5)
		require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: x, Data: in}}, []engine.IO{{Buf: x, Data: gotX}, {Buf: y, Data: gotY}}))
		require.Equal(t, in, gotX, "staging=%v", staging)
		require.Equal(t, []float32{1, 0, 3, 0, 5}, gotY, "staging=%v", staging)
		prog.Close()
	}
}
