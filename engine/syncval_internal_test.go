package engine

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
)

// Without barriers, a read-after-write chain is a data race on a GPU. CPU
// drivers run dispatches one after another, so the result cannot show it;
// the validation layer's synchronization checks can. This test records the
// chain with barriers suppressed and expects a message, proving both that
// the planner's barriers matter and that sync validation is on when
// VK_LAYER_ENABLES asks for it (build.sh test sets it).
func TestMissingBarrierIsCaught(t *testing.T) {
	if os.Getenv("VK_LAYER_ENABLES") == "" || os.Getenv("VKINFER_VALIDATION") == "0" {
		t.Skip("synchronization validation not enabled (VK_LAYER_ENABLES)")
	}
	var n atomic.Int64
	d := openInternal(t, Options{Validation: true, OnMessage: func(sev, msg string) { n.Add(1); t.Log(msg) }})
	p, err := d.Pipeline("relu", Spec{"local_size_x": 64})
	if err != nil {
		t.Fatal(err)
	}
	var bufs [3]*Buffer
	for i := range bufs {
		if bufs[i], err = d.NewBuffer(Activations, 4*256); err != nil {
			t.Fatal(err)
		}
	}
	for _, withBarriers := range []bool{true, false} {
		n.Store(0)
		rec := d.NewRecorder()
		_ = rec.Dispatch(p, []*Buffer{bufs[0], bufs[1]}, []uint32{256}, d.Grid(p, 256))
		_ = rec.Dispatch(p, []*Buffer{bufs[1], bufs[2]}, []uint32{256}, d.Grid(p, 256))
		prog, err := rec.finish(!withBarriers)
		if err != nil {
			t.Fatal(err)
		}
		if err := prog.Run(context.Background(), nil, nil); err != nil {
			t.Fatal(err)
		}
		prog.Close()
		if withBarriers && n.Load() != 0 {
			t.Fatalf("%d validation messages with barriers", n.Load())
		}
		if !withBarriers && n.Load() == 0 {
			t.Fatal("no validation message for a read-after-write without a barrier")
		}
	}
}
