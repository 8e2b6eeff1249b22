package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The planner must put a barrier exactly where data flows between commands:
// read-after-write, write-after-write and write-after-read, and nowhere else.
func TestPlanBarriers(t *testing.T) {
	blk, other := &block{}, &block{}
	x := rng{blk, 0, 256}
	y := rng{blk, 256, 256}
	z := rng{blk, 512, 256}
	yAlias := rng{other, 256, 256} // same offsets, other block: no overlap
	half := rng{blk, 384, 256}     // overlaps y's second half and z's first
	cases := []struct {
		name string
		ops  []op
		want []bool
	}{
		{"chain RAW", []op{{reads: []rng{x}, writes: []rng{y}}, {reads: []rng{y}, writes: []rng{z}}}, []bool{false, true}},
		{"independent", []op{{reads: []rng{x}, writes: []rng{y}}, {reads: []rng{x}, writes: []rng{z}}}, []bool{false, false}},
		{"WAW", []op{{writes: []rng{y}}, {writes: []rng{y}}}, []bool{false, true}},
		{"WAR", []op{{reads: []rng{y}, writes: []rng{z}}, {reads: []rng{x}, writes: []rng{y}}}, []bool{false, true}},
		{"other block", []op{{writes: []rng{y}}, {reads: []rng{yAlias}}}, []bool{false, false}},
		{"partial overlap", []op{{writes: []rng{y}}, {reads: []rng{half}}}, []bool{false, true}},
		{"barrier resets tracking", []op{
			{reads: []rng{x}, writes: []rng{y}},
			{reads: []rng{y}, writes: []rng{z}}, // barrier: y written
			{reads: []rng{y}, writes: []rng{x}}, // y was written before the barrier; x read before it too
		}, []bool{false, true, false}},
		{"MLP chain", []op{
			{kind: opCopy, reads: []rng{{other, 0, 16}}, writes: []rng{x}}, // upload
			{reads: []rng{x}, writes: []rng{y}},                            // dense
			{reads: []rng{y}, writes: []rng{z}},                            // relu
			{reads: []rng{z}, writes: []rng{x}},                            // dense reusing x
			{reads: []rng{x}, writes: []rng{y}},                            // softmax reusing y
		}, []bool{false, true, true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan(c.ops)
			var got []bool
			for _, o := range c.ops {
				got = append(got, o.barrier)
			}
			require.Equal(t, c.want, got)
		})
	}
}

func TestBlockAllocator(t *testing.T) {
	b := &block{size: 1024, free: []span{{0, 1024}}}
	a1, ok := b.alloc(100, 64)
	require.True(t, ok)
	require.Equal(t, uint64(0), a1)
	a2, ok := b.alloc(100, 64)
	require.True(t, ok)
	require.Equal(t, uint64(128), a2, "aligned after the first")
	a3, ok := b.alloc(256, 256)
	require.True(t, ok)
	require.Equal(t, uint64(256), a3)
	_, ok = b.alloc(1024, 64)
	require.False(t, ok, "no room")
	b.release(a2, 100)
	b.release(a1, 100)
	b.release(a3, 256)
	require.Equal(t, []span{{0, 1024}}, b.free, "everything coalesced back")
	require.Zero(t, b.used)
}

func TestChoose(t *testing.T) {
	infos := []DeviceInfo{
		{Index: 0, Name: "llvmpipe (LLVM 15)", Type: TypeCPU, family: 0},
		{Index: 1, Name: "Intel(R) UHD Graphics", Type: TypeIntegrated, family: 0},
		{Index: 2, Name: "NVIDIA GeForce RTX 4090", Type: TypeDiscrete, family: 0},
		{Index: 3, Name: "graphics-only thing", Type: TypeDiscrete, family: -1},
	}
	for _, c := range []struct {
		sel  string
		want int
		err  string
	}{
		{"", 2, ""},
		{"0", 0, ""},
		{"1", 1, ""},
		{"llvm", 0, ""},
		{"geforce", 2, ""},
		{"7", -1, "device 7 does not exist"},
		{"3", -1, "device 3 does not exist"},
		{"radeon", -1, `no device name contains "radeon"`},
	} {
		got, err := Choose(infos, c.sel)
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.sel)
			require.ErrorContains(t, err, "vkinfer devices", c.sel)
			continue
		}
		require.NoError(t, err, c.sel)
		require.Equal(t, c.want, got, c.sel)
	}
	_, err := Choose(infos[3:], "")
	require.ErrorIs(t, err, ErrNoVulkan)
	got, err := Choose(infos[:2], "")
	require.NoError(t, err)
	require.Equal(t, 1, got, "integrated beats CPU")
}
