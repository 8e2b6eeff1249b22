package main

import (
	"math"
	"math/rand/v2"
	"sync"
)

// mlp is a fully connected ReLU network with a softmax output. Weights are
// kept transposed, wt[l][i*out+o] is the weight from input i to output o,
// so that forward and backward passes walk memory contiguously and can skip
// zero inputs (most MNIST pixels and about half the ReLU outputs).
type mlp struct {
	sizes []int       // layer widths, input first
	wt    [][]float32 // per layer, [in][out]
	b     [][]float32 // per layer, [out]
}

func newMLP(sizes []int, rng *rand.Rand) *mlp {
	n := &mlp{sizes: sizes}
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		w := make([]float32, in*out)
		std := math.Sqrt(2 / float64(in)) // He init for ReLU layers
		for i := range w {
			w[i] = float32(rng.NormFloat64() * std)
		}
		n.wt = append(n.wt, w)
		n.b = append(n.b, make([]float32, out))
	}
	return n
}

func (n *mlp) layers() int { return len(n.sizes) - 1 }

// grads holds gradients shaped like an mlp's parameters plus the scratch
// activations one worker needs.
type grads struct {
	wt, b [][]float32
	act   [][]float32 // act[0] input, act[l+1] output of layer l (after ReLU)
	delta [][]float32 // gradient w.r.t. pre-activation of layer l
	loss  float64
	right int
}

func (n *mlp) newGrads() *grads {
	g := &grads{}
	g.act = append(g.act, nil)
	for l := 0; l < n.layers(); l++ {
		g.wt = append(g.wt, make([]float32, len(n.wt[l])))
		g.b = append(g.b, make([]float32, len(n.b[l])))
		g.act = append(g.act, make([]float32, n.sizes[l+1]))
		g.delta = append(g.delta, make([]float32, n.sizes[l+1]))
	}
	return g
}

func (g *grads) zero() {
	for l := range g.wt {
		clear(g.wt[l])
		clear(g.b[l])
	}
	g.loss, g.right = 0, 0
}

// forward computes the output probabilities of x into g.act; the last
// layer holds softmax probabilities.
func (n *mlp) forward(x []float32, g *grads) []float32 {
	g.act[0] = x
	L := n.layers()
	for l := 0; l < L; l++ {
		in, out := g.act[l], g.act[l+1]
		copy(out, n.b[l])
		w := n.wt[l]
		no := len(out)
		for i, v := range in {
			if v == 0 {
				continue
			}
			axpy(v, w[i*no:(i+1)*no], out)
		}
		if l < L-1 {
			for o, v := range out {
				if v < 0 {
					out[o] = 0
				}
			}
		}
	}
	softmax(g.act[L])
	return g.act[L]
}

func softmax(v []float32) {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	var s float64
	for i, x := range v {
		e := math.Exp(float64(x - m))
		v[i] = float32(e)
		s += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / s)
	}
}

// backward accumulates the cross-entropy gradient of one sample into g,
// after forward.
func (n *mlp) backward(label int, g *grads) {
	L := n.layers()
	p := g.act[L]
	d := g.delta[L-1]
	copy(d, p)
	d[label] -= 1
	g.loss -= math.Log(math.Max(float64(p[label]), 1e-12))
	if argmax(p) == label {
		g.right++
	}
	for l := L - 1; l >= 0; l-- {
		in, d := g.act[l], g.delta[l]
		no := len(d)
		w, gw := n.wt[l], g.wt[l]
		axpy(1, d, g.b[l])
		var prev []float32
		if l > 0 {
			prev = g.delta[l-1]
		}
		for i, v := range in {
			if v == 0 {
				if prev != nil {
					prev[i] = 0 // ReLU was inactive (or input zero)
				}
				continue
			}
			axpy(v, d, gw[i*no:(i+1)*no])
			if prev != nil {
				prev[i] = dot(w[i*no:(i+1)*no], d)
			}
		}
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	i := 0
	for ; i+4 <= len(x); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(x); i++ {
		y[i] += a * x[i]
	}
}

func dot(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// adam is the Adam optimiser state for an mlp.
type adam struct {
	mw, vw, mb, vb [][]float32
	t              int
}

func newAdam(n *mlp) *adam {
	a := &adam{}
	for l := range n.wt {
		a.mw = append(a.mw, make([]float32, len(n.wt[l])))
		a.vw = append(a.vw, make([]float32, len(n.wt[l])))
		a.mb = append(a.mb, make([]float32, len(n.b[l])))
		a.vb = append(a.vb, make([]float32, len(n.b[l])))
	}
	return a
}

// step applies gradient g (a sum over batch samples) scaled by 1/batch.
func (a *adam) step(n *mlp, g *grads, batch int, lr float64) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	a.t++
	c1 := 1 - math.Pow(b1, float64(a.t))
	c2 := 1 - math.Pow(b2, float64(a.t))
	alpha := float32(lr * math.Sqrt(c2) / c1)
	inv := float32(1 / float64(batch))
	upd := func(p, gr, m, v []float32) {
		for i := range p {
			x := gr[i] * inv
			m[i] = b1*m[i] + (1-b1)*x
			v[i] = b2*v[i] + (1-b2)*x*x
			p[i] -= alpha * m[i] / (float32(math.Sqrt(float64(v[i]))) + eps)
		}
	}
	for l := range n.wt {
		upd(n.wt[l], g.wt[l], a.mw[l], a.vw[l])
		upd(n.b[l], g.b[l], a.mb[l], a.vb[l])
	}
}

// shards is the fixed number of pieces a batch is cut into. Gradients are
// summed shard by shard in order, so results do not depend on GOMAXPROCS.
const shards = 4

// trainer runs batches over worker goroutines.
type trainer struct {
	net  *mlp
	opt  *adam
	g    []*grads // one per shard
	dim  int
	pool chan func()
	wg   sync.WaitGroup
}

func newTrainer(net *mlp, workers int) *trainer {
	t := &trainer{net: net, opt: newAdam(net), dim: net.sizes[0], pool: make(chan func())}
	for range shards {
		t.g = append(t.g, net.newGrads())
	}
	for range max(1, workers) {
		go func() {
			for f := range t.pool {
				f()
				t.wg.Done()
			}
		}()
	}
	return t
}

func (t *trainer) close() { close(t.pool) }

// run calls f(s) for s in [0, n) on the workers and waits.
func (t *trainer) run(n int, f func(s int)) {
	t.wg.Add(n)
	for s := range n {
		t.pool <- func() { f(s) }
	}
	t.wg.Wait()
}

// batch trains on the samples idx of x/y and returns summed loss and hits.
func (t *trainer) batch(x []float32, y []uint8, idx []int, lr float64) (float64, int) {
	t.run(shards, func(s int) {
		g := t.g[s]
		g.zero()
		lo, hi := s*len(idx)/shards, (s+1)*len(idx)/shards
		for _, k := range idx[lo:hi] {
			t.net.forward(x[k*t.dim:(k+1)*t.dim], g)
			t.net.backward(int(y[k]), g)
		}
	})
	sum := t.g[0]
	for _, g := range t.g[1:] {
		for l := range sum.wt {
			axpy(1, g.wt[l], sum.wt[l])
			axpy(1, g.b[l], sum.b[l])
		}
		sum.loss += g.loss
		sum.right += g.right
	}
	t.opt.step(t.net, sum, len(idx), lr)
	return sum.loss, sum.right
}

// evaluate returns the accuracy and mean loss of the net on x/y.
func (t *trainer) evaluate(x []float32, y []uint8) (acc, loss float64) {
	n := len(y)
	parts := 2 * shards
	losses := make([]float64, parts)
	rights := make([]int, parts)
	t.run(parts, func(s int) {
		g := t.net.newGrads()
		for k := s * n / parts; k < (s+1)*n/parts; k++ {
			p := t.net.forward(x[k*t.dim:(k+1)*t.dim], g)
			losses[s] -= math.Log(math.Max(float64(p[y[k]]), 1e-12))
			if argmax(p) == int(y[k]) {
				rights[s]++
			}
		}
	})
	r := 0
	for s := range parts {
		r += rights[s]
		loss += losses[s]
	}
	return float64(r) / float64(n), loss / float64(n)
}
