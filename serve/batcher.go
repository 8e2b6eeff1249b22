package serve

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/vkinfer/vkinfer"
)

// request is one inference request waiting for, or in, a batch.
type request struct {
	ctx    context.Context
	rows   int              // batch rows (1 when the model has max_batch_size 0)
	inputs []vkinfer.Tensor // in the order of the model's inputs
	enq    time.Time
	done   chan result // buffered: the batcher never blocks on it
}

// result is what a request gets back: its own rows of every output.
type result struct {
	outs    []vkinfer.Tensor
	err     error
	queue   time.Duration // from enqueue to the start of its batch's run
	compute time.Duration // the batch's Model.Run
}

// runFunc runs one batch on one model instance (Model.Run).
type runFunc func(ctx context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error)

// batcher runs one model version's requests on its instances (config
// instance_group: each instance its own vkinfer.Model, with its own
// recorded programs and buffers), one Model.Run at a time per instance.
//
// With dynamic batching one worker goroutine per instance takes the next
// batch from the one shared queue whenever its instance is free, coalescing
// queued requests into one run of up to maxRows rows (waiting at most delay
// after the first for more): Triton's dynamic batcher, whose batches "are
// distributed to all model instances configured for the model". Without,
// each request runs in its caller's goroutine on a free instance, in
// arrival order: Triton's behaviour without dynamic_batching (each request
// its own execution on the next free instance), and vkinfer's too, which
// serialises runs of one model at one batch size (they share one recorded
// program).
type batcher struct {
	runs      []runFunc // one per instance
	batchable bool      // requests carry a batch dimension (max_batch_size > 0)
	dynamic   bool
	maxRows   int
	delay     time.Duration
	preferred []int // ascending
	maxQueue  int
	observe   func(rows int) // batch-size metric

	runCtx context.Context // cancelled when a drain runs out of time

	mu      sync.Mutex
	queue   []*request // dynamic: waiting for a worker
	rows    int        // dynamic: rows in queue
	waiting int        // not dynamic: requests waiting for their turn
	closed  bool
	hurry   bool           // draining: run what is queued without waiting out the delay
	wake    chan struct{}  // buffered 1: a worker has something new to look at
	free    chan int       // not dynamic: the instances not running, by index
	direct  sync.WaitGroup // not dynamic: requests in submit
	workers sync.WaitGroup // dynamic: the workers
	stopped chan struct{}  // closed when the workers have exited (not dynamic: closed and no request left)
}

// worker is one instance's goroutine of a dynamic batcher.
type worker struct {
	run   runFunc
	timer *time.Timer // max_queue_delay
	joint [][]float32 // a batch's inputs, reused by the next
}

func newBatcher(b *batcher) *batcher {
	b.wake = make(chan struct{}, 1)
	b.stopped = make(chan struct{})
	slices.Sort(b.preferred)
	if b.dynamic {
		for _, run := range b.runs {
			b.workers.Add(1)
			go b.loop(&worker{run: run})
		}
		go func() {
			b.workers.Wait()
			close(b.stopped)
		}()
	} else {
		b.free = make(chan int, len(b.runs))
		for i := range b.runs {
			b.free <- i
		}
	}
	return b
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// fullRows is the queued rows at which the worker stops waiting for more:
// the largest preferred batch size, else maxRows.
func (b *batcher) fullRows() int {
	if len(b.preferred) > 0 {
		return b.preferred[len(b.preferred)-1]
	}
	return b.maxRows
}

// admit counts a new request in, or says why it cannot be. Called with
// b.mu held.
func (b *batcher) admit() error {
	switch {
	case b.closed:
		return fmt.Errorf("%w: the server is shutting down", ErrUnavailable)
	case len(b.queue)+b.waiting >= b.maxQueue:
		return fmt.Errorf("%w: %d requests are queued for this model, the most it queues (max_queue_size); retry later", ErrQueueFull, b.maxQueue)
	}
	return nil
}

// submit queues r and waits for its result or for r.ctx to end; a request
// whose context ends while queued leaves the queue.
func (b *batcher) submit(r *request) result {
	r.enq = time.Now()
	if !b.dynamic {
		return b.runDirect(r)
	}
	r.done = make(chan result, 1)
	b.mu.Lock()
	if err := b.admit(); err != nil {
		b.mu.Unlock()
		return result{err: err}
	}
	// The worker needs waking only when it may be idle (the queue was
	// empty) or waiting out the delay for rows that have now arrived;
	// otherwise it finds the request when it next looks.
	wake := len(b.queue) == 0
	b.queue = append(b.queue, r)
	b.rows += r.rows
	wake = wake || b.rows >= b.fullRows()
	b.mu.Unlock()
	if wake {
		b.signal()
	}
	select {
	case res := <-r.done:
		return res
	case <-r.ctx.Done():
		b.mu.Lock()
		if i := slices.Index(b.queue, r); i >= 0 {
			b.queue = slices.Delete(b.queue, i, i+1)
			b.rows -= r.rows
		}
		b.mu.Unlock()
		return result{err: r.ctx.Err()}
	}
}

// runDirect runs r alone in the caller's goroutine on the next free
// instance, once the requests before it have started (a channel serves
// its waiting receivers in order).
func (b *batcher) runDirect(r *request) result {
	b.mu.Lock()
	if err := b.admit(); err != nil {
		b.mu.Unlock()
		return result{err: err}
	}
	b.waiting++
	b.direct.Add(1)
	b.mu.Unlock()
	defer b.direct.Done()
	var err error
	inst := -1
	select {
	case inst = <-b.free:
	case <-r.ctx.Done():
		err = r.ctx.Err()
	}
	b.mu.Lock()
	b.waiting--
	b.mu.Unlock()
	if err != nil {
		return result{err: err}
	}
	defer func() { b.free <- inst }()
	t0 := time.Now()
	var outs []vkinfer.Tensor
	if b.batchable {
		// Padded like a batch of the dynamic batcher, so that requests
		// of any batch size run the programs recorded at load.
		outs, _, err = b.runJoint(&worker{run: b.runs[inst]}, []*request{r})
		for i, o := range outs {
			if o.Shape[0] != r.rows {
				per := len(o.Data) / o.Shape[0]
				outs[i] = vkinfer.Tensor{Shape: append([]int{r.rows}, o.Shape[1:]...), Data: o.Data[: r.rows*per : r.rows*per]}
			}
		}
	} else {
		outs, err = b.runs[inst](b.runCtx, r.inputs)
	}
	if err == nil && b.observe != nil {
		b.observe(r.rows)
	}
	return result{outs: outs, err: err, queue: t0.Sub(r.enq), compute: time.Since(t0)}
}

// flush makes the batcher run what is queued at once from now on, without
// waiting out max_queue_delay (the start of a drain).
func (b *batcher) flush() {
	b.mu.Lock()
	b.hurry = true
	b.mu.Unlock()
	b.signal()
}

// close stops taking requests; those queued still run, then the worker
// exits and stopped is closed.
func (b *batcher) close() {
	b.mu.Lock()
	already := b.closed
	b.closed = true
	b.mu.Unlock()
	if b.dynamic {
		b.signal()
	} else if !already {
		go func() {
			b.direct.Wait()
			close(b.stopped)
		}()
	}
}

// loop is a worker: it runs batches on its instance until the batcher is
// closed and drained.
func (b *batcher) loop(w *worker) {
	defer b.workers.Done()
	for {
		batch := b.next(w)
		if batch == nil {
			return
		}
		b.runBatch(w, batch)
	}
}

// next waits for w's next batch; nil once closed and drained. With several
// workers, one that leaves requests queued, or exits, wakes another (the
// wake-up channel holds one signal, which one worker takes).
func (b *batcher) next(w *worker) []*request {
	for {
		b.mu.Lock()
		b.dropEnded()
		if len(b.queue) == 0 {
			closed := b.closed
			b.mu.Unlock()
			if closed {
				if len(b.runs) > 1 {
					b.signal()
				}
				return nil
			}
			<-b.wake
			continue
		}
		if b.delay > 0 && !b.closed && !b.hurry && b.rows < b.fullRows() {
			if wait := b.delay - time.Since(b.queue[0].enq); wait > 0 {
				b.mu.Unlock()
				if w.timer == nil {
					w.timer = time.NewTimer(wait)
				} else {
					w.timer.Reset(wait) // Go >= 1.23: no stale tick after Reset
				}
				select {
				case <-b.wake:
				case <-w.timer.C:
				}
				continue
			}
		}
		batch := b.take()
		more := len(b.queue) > 0
		b.mu.Unlock()
		if more && len(b.runs) > 1 {
			b.signal() // another instance may be free for the rest
		}
		return batch
	}
}

// dropEnded answers and removes queued requests whose context has ended.
// Called with b.mu held.
func (b *batcher) dropEnded() {
	b.queue = slices.DeleteFunc(b.queue, func(r *request) bool {
		if err := r.ctx.Err(); err != nil {
			r.done <- result{err: err}
			b.rows -= r.rows
			return true
		}
		return false
	})
}

// take removes the next batch from the queue: requests in order while they
// fit into maxRows, cut at the largest preferred batch size they reach, if
// any. Called with b.mu held.
func (b *batcher) take() []*request {
	n, rows, cut := 0, 0, 0
	for ; n < len(b.queue) && rows+b.queue[n].rows <= b.maxRows; n++ {
		rows += b.queue[n].rows
		if slices.Contains(b.preferred, rows) {
			cut = n + 1
		}
	}
	if cut > 0 {
		n = cut
	}
	n = max(n, 1)
	batch := slices.Clone(b.queue[:n])
	b.queue = slices.Delete(b.queue, 0, n)
	for _, r := range batch {
		b.rows -= r.rows
	}
	return batch
}

// padSizes are the batch sizes the batcher pads runs to, ascending: 1 (a
// lone batch-1 request runs exactly as Model.Run would run it), then
// maxRows times 1/16, 1/8, 1/4, 3/8, 1/2, 3/4 and 1 (rounded up; those under
// 2 left out), at most 8 sizes: vkinfer records one program per input shape
// and keeps 8 per model (Model.Run), so batches of every size from 1 to
// maxRows would record programs over and over, and more than 8 sizes would
// evict each other. Steps of 4/3 and 3/2 at the top, where most rows run
// under load, waste at most a third of a run on zero rows (doubling wasted
// up to half: a batch of 33 ran as 64).
func padSizes(maxRows int) []int {
	sizes := []int{1}
	for _, sixteenths := range []int{1, 2, 4, 6, 8, 12, 16} {
		n := (maxRows*sixteenths + 15) / 16
		if n >= 2 && n > sizes[len(sizes)-1] {
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// padTo is the batch size a run of rows rows is padded to: the smallest of
// padSizes(maxRows) that holds them.
func padTo(rows, maxRows int) int {
	for _, n := range padSizes(maxRows) {
		if n >= rows {
			return n
		}
	}
	return maxRows
}

// runBatch runs the requests as one Model.Run (rows padded with zeros to
// padTo) and gives each request its rows. If the joint run fails, each
// request is run alone, so that one request cannot fail the others.
func (b *batcher) runBatch(w *worker, batch []*request) {
	start := time.Now()
	outs, rows, err := b.runJoint(w, batch)
	compute := time.Since(start)
	if err != nil && len(batch) > 1 {
		// Alone, each request gets its own answer.
		for _, r := range batch {
			b.runBatch(w, []*request{r})
		}
		return
	}
	if b.observe != nil && err == nil {
		b.observe(rows)
	}
	if err != nil {
		for _, r := range batch {
			r.done <- result{err: err, queue: start.Sub(r.enq), compute: compute}
		}
		return
	}
	// Each request's output tensors and shapes are slices of two arrays
	// made once per batch (not two allocations per request).
	dims := 0
	for _, o := range outs {
		dims += len(o.Shape)
	}
	tensors := make([]vkinfer.Tensor, len(batch)*len(outs))
	shapes := make([]int, len(batch)*dims)
	row := 0
	for _, r := range batch {
		mine := tensors[:len(outs):len(outs)]
		tensors = tensors[len(outs):]
		for i, o := range outs {
			per := len(o.Data) / o.Shape[0]
			sh := shapes[:len(o.Shape):len(o.Shape)]
			shapes = shapes[len(o.Shape):]
			sh[0] = r.rows
			copy(sh[1:], o.Shape[1:])
			mine[i] = vkinfer.Tensor{Shape: sh, Data: o.Data[row*per : (row+r.rows)*per : (row+r.rows)*per]}
		}
		row += r.rows
		r.done <- result{outs: mine, queue: start.Sub(r.enq), compute: compute}
	}
}

// runJoint runs the batch's rows, padded, as one Model.Run; rows is the
// number of real rows.
func (b *batcher) runJoint(w *worker, batch []*request) (_ []vkinfer.Tensor, rows int, _ error) {
	for _, r := range batch {
		rows += r.rows
	}
	padded := padTo(rows, b.maxRows)
	ins := make([]vkinfer.Tensor, len(batch[0].inputs))
	for i := range ins {
		t := batch[0].inputs[i]
		per := len(t.Data) / t.Shape[0]
		if len(batch) == 1 && padded == rows {
			ins[i] = t
			continue
		}
		// The worker's own buffers: Model.Run has copied its inputs to the
		// device when it returns, so the next batch can reuse them.
		if len(w.joint) < len(ins) {
			w.joint = make([][]float32, len(ins))
		}
		buf := w.joint[i][:0]
		for _, r := range batch {
			buf = append(buf, r.inputs[i].Data...)
		}
		buf = slices.Grow(buf, padded*per-len(buf))[:padded*per]
		clear(buf[rows*per:]) // zeros after the real rows
		w.joint[i] = buf
		ins[i].Shape = append([]int{padded}, t.Shape[1:]...)
		ins[i].Data = buf
	}
	outs, err := w.run(b.runCtx, ins)
	if err != nil {
		return nil, rows, err
	}
	for _, o := range outs {
		if len(o.Shape) == 0 || o.Shape[0] != padded {
			return nil, rows, fmt.Errorf("%w: output of shape %v does not have the batch (%d rows) as its first dimension", ErrInternal, o.Shape, padded)
		}
	}
	return outs, rows, nil
}
