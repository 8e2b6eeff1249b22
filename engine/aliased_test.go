package engine_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

// Buffers that share memory (NewAliasedBuffers) stay correct in a program:
// x -> A -> C -> B with B over A's memory (A is dead once C is written) and
// C over x's; the recorder's barriers follow the shared ranges.
func TestAliasedBuffers(t *testing.T) {
	for _, staging := range []bool{false, true} {
		d := gputest.Open(t, engine.Options{ForceStaging: staging})
		const n = 777
		al := d.Alignment()
		require.Zero(t, al%4)
		size := int64(4 * n)
		slot := (size + al - 1) / al * al
		st := d.Stats().Arena(engine.Activations)
		// x at 0, A at slot, C at 0 (over x), B at slot (over A).
		bufs, err := d.NewAliasedBuffers(engine.Activations, 2*slot, []int64{0, slot, 0, slot}, []int64{size, size, size, size})
		require.NoError(t, err)
		after := d.Stats().Arena(engine.Activations)
		require.Equal(t, 2*slot, after.InUse-st.InUse, "the block counts once")
		require.GreaterOrEqual(t, after.Allocated-st.Allocated, 2*slot)
		x, a, c, b := bufs[0], bufs[1], bufs[2], bufs[3]
		relu, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
		require.NoError(t, err)
		rec := d.NewRecorder()
		require.NoError(t, rec.Input(x))
		require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{x, a}, []uint32{n}, d.Grid(relu, n)))
		require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{a, c}, []uint32{n}, d.Grid(relu, n)))
		require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{c, b}, []uint32{n}, d.Grid(relu, n)))
		require.NoError(t, rec.Output(b))
		prog, err := rec.Finish()
		require.NoError(t, err)
		in := make([]float32, n)
		for i := range in {
			in[i] = float32(i%11 - 5)
		}
		out := make([]float32, n)
		require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: x, Data: in}}, []engine.IO{{Buf: b, Data: out}}))
		for i := range in {
			require.Equal(t, max(in[i], 0), out[i], "element %d", i)
		}
		prog.Close()
		for _, b := range bufs {
			b.Close()
		}
		end := d.Stats().Arena(engine.Activations)
		require.Equal(t, st.InUse, end.InUse)
		require.Equal(t, st.Allocated, end.Allocated, "the block is freed with its last buffer")

		_, err = d.NewAliasedBuffers(engine.Activations, 2*slot, []int64{al / 2}, []int64{4})
		if al > 4 {
			require.ErrorContains(t, err, "alignment")
		}
		_, err = d.NewAliasedBuffers(engine.Activations, slot, []int64{slot}, []int64{size})
		require.ErrorContains(t, err, "does not fit")
		_, err = d.NewAliasedBuffers(engine.Activations, slot, []int64{0}, []int64{6})
		require.ErrorContains(t, err, "multiple of 4")
	}
}

// Temporaries of different steps share memory (Recorder.Temp reuses an
// earlier step's), temporaries of one step never do, and the results stay
// right: x -> T1 -> y1 in step a; y1 -> T2 -> y2 and y1 -> T3 -> y3 in
// step b, T2 over T1's memory.
func TestTempReuse(t *testing.T) {
	d := gputest.Open(t, engine.Options{})
	const n = 301
	relu, err := d.Pipeline("relu", engine.Spec{"local_size_x": 64})
	require.NoError(t, err)
	bufs := make([]*engine.Buffer, 4)
	for i := range bufs {
		bufs[i], err = d.NewBuffer(engine.Activations, 4*n)
		require.NoError(t, err)
		defer bufs[i].Close()
	}
	x, y1, y2, y3 := bufs[0], bufs[1], bufs[2], bufs[3]
	before := d.Stats().Arena(engine.Activations).InUse
	rec := d.NewRecorder()
	require.NoError(t, rec.Input(x))
	rec.Step("a")
	t1, err := rec.Temp(4 * (n + 50))
	require.NoError(t, err)
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{x, t1}, []uint32{n}, d.Grid(relu, n)))
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{t1, y1}, []uint32{n}, d.Grid(relu, n)))
	grown := d.Stats().Arena(engine.Activations).InUse
	rec.Step("b")
	t2, err := rec.Temp(4 * n) // reuses t1's memory
	require.NoError(t, err)
	t3, err := rec.Temp(4 * n) // t2 is taken in this step: new memory
	require.NoError(t, err)
	require.Equal(t, int64(4*n), t2.Size())
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{y1, t2}, []uint32{n}, d.Grid(relu, n)))
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{t2, y2}, []uint32{n}, d.Grid(relu, n)))
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{y2, t3}, []uint32{n}, d.Grid(relu, n)))
	require.NoError(t, rec.Dispatch(relu, []*engine.Buffer{t3, y3}, []uint32{n}, d.Grid(relu, n)))
	after := d.Stats().Arena(engine.Activations).InUse
	al := d.Alignment()
	require.Equal(t, (4*n+al-1)/al*al, after-grown, "t2 took no memory, t3 its own")
	require.Equal(t, (4*(n+50)+al-1)/al*al, grown-before)
	require.NoError(t, rec.Output(y3))
	prog, err := rec.Finish()
	require.NoError(t, err)
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i%9 - 4)
	}
	out := make([]float32, n)
	require.NoError(t, prog.Run(context.Background(), []engine.IO{{Buf: x, Data: in}}, []engine.IO{{Buf: y3, Data: out}}))
	for i := range in {
		require.Equal(t, max(in[i], 0), out[i], "element %d", i)
	}
	prog.Close()
	require.Equal(t, before, d.Stats().Arena(engine.Activations).InUse, "temporaries freed with the program")
}
