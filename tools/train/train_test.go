package main

import (
	"image"
	_ "image/jpeg"
	_ "image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

// mnist loads the t10k set or skips the test when the GoMNIST module is not
// in the module cache.
func mnist(t *testing.T) *dataset {
	t.Helper()
	dir, err := defaultDataDir()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	te, err := load(dir, "t10k")
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	return te
}

func TestGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	net := newMLP([]int{5, 4, 3}, rng)
	x := []float32{0.3, 0, 0.9, 0.1, 0.5}
	label := 2
	g := net.newGrads()
	net.forward(x, g)
	net.backward(label, g)
	loss := func() float64 {
		p := net.forward(x, net.newGrads())
		return -math.Log(float64(p[label]))
	}
	const h = 1e-2
	for l := range net.wt {
		for _, p := range []struct {
			param, grad []float32
		}{{net.wt[l], g.wt[l]}, {net.b[l], g.b[l]}} {
			for i := range p.param {
				old := p.param[i]
				p.param[i] = old + h
				up := loss()
				p.param[i] = old - h
				down := loss()
				p.param[i] = old
				num := (up - down) / (2 * h)
				if math.Abs(num-float64(p.grad[i])) > 2e-3 {
					t.Errorf("layer %d param %d: numeric %v, backprop %v", l, i, num, p.grad[i])
				}
			}
		}
	}
}

func TestExportMatchesNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	net := newMLP([]int{16, 7, 5, 10}, rng)
	m := export(net, options{size: 4, epochs: 1, batch: 1, lr: 1, seed: 1}, 0.5)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 3*16)
	for i := range x {
		x[i] = float32(rng.Float64())
	}
	got, err := forward(m, x, 3)
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < 3; r++ {
		want := net.forward(x[r*16:(r+1)*16], net.newGrads())
		for j := range want {
			if math.Abs(float64(got[r*10+j]-want[j])) > 1e-5 {
				t.Fatalf("row %d: exported model gives %v, net %v", r, got[r*10:r*10+10], want)
			}
		}
	}
}

// The 8×8 training inputs must be what FromImage makes of the 28×28 digit.
func TestDownscaleMatchesFromImage(t *testing.T) {
	te := mnist(t)
	te.n = 200
	x := te.inputs(8)
	spec := model.InputSpec{Color: model.Gray, Width: 8, Height: 8, Layout: model.LayoutNCHW, Scale: scale}
	for k := 0; k < te.n; k++ {
		v, err := spec.FromImage(te.image(k))
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			if math.Abs(float64(v[i]-x[k*64+i])) > 1e-6 {
				t.Fatalf("digit %d value %d: FromImage %v, training %v", k, i, v[i], x[k*64+i])
			}
		}
	}
}

var accRe = regexp.MustCompile(`test accuracy ([0-9.]+)%`)

// The committed models load and reach the accuracy their description
// states, with inputs prepared by InputSpec.FromImage.
func TestExampleModels(t *testing.T) {
	te := mnist(t)
	for _, c := range []struct {
		path string
		min  float64
	}{
		{"../../examples/mnist/mlp.bin", 0.978},
		{"../../examples/digits8x8/mlp.bin", 0.97},
	} {
		m, err := model.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		acc, err := accuracy(m, te)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.2f%%", c.path, 100*acc)
		if acc < c.min {
			t.Errorf("%s: accuracy %.4f below %.4f", c.path, acc, c.min)
		}
		sm := accRe.FindStringSubmatch(m.Description)
		if sm == nil {
			t.Fatalf("%s: description %q states no accuracy", c.path, m.Description)
		}
		stated, _ := strconv.ParseFloat(sm[1], 64)
		if math.Abs(stated-100*acc) > 0.006 {
			t.Errorf("%s: description says %.2f%%, measured %.2f%%", c.path, stated, 100*acc)
		}
	}
}

var nameRe = regexp.MustCompile(`^digit-(\d)-t10k-(\d{4})`)

// The sample images are classified correctly by the MNIST model.
func TestExampleImages(t *testing.T) {
	m, err := model.ReadFile("../../examples/mnist/mlp.bin")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("../../examples/images/digit-*")
	if len(files) < 9 {
		t.Fatalf("only %d sample images", len(files))
	}
	for _, f := range files {
		sm := nameRe.FindStringSubmatch(filepath.Base(f))
		if sm == nil {
			t.Errorf("%s: name does not say the digit", f)
			continue
		}
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := image.Decode(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		x, err := m.Input.FromImage(img)
		if err != nil {
			t.Fatal(err)
		}
		p, err := forward(m, x, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := strconv.Itoa(argmax(p)); got != sm[1] {
			t.Errorf("%s: predicted %s (p=%.3f)", f, got, p[argmax(p)])
		}
	}
}
