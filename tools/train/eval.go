package main

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/image/draw"

	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// forward runs m on a batch of n inputs on the CPU with package ops (the
// same definitions the GPU layers follow, ops.Run) and returns the first
// output, [n, classes].
func forward(m *model.Model, x []float32, n int) ([]float32, error) {
	if len(m.Inputs) != 1 || len(m.Outputs) != 1 {
		return nil, fmt.Errorf("want one input and one output, model has %d and %d", len(m.Inputs), len(m.Outputs))
	}
	if n == 0 || len(x)%n != 0 {
		return nil, fmt.Errorf("%d input values for %d samples", len(x), n)
	}
	shape := append([]int{n}, m.Inputs[0].Shape[1:]...)
	if len(m.Inputs[0].Shape) < 2 {
		shape = []int{n, len(x) / n}
	}
	outs, err := ops.Run(m, ops.F32(shape, x))
	if err != nil {
		return nil, err
	}
	return outs[0].Float(), nil
}

// accuracy evaluates m on d, preparing each image with m.Input.FromImage
// exactly as an application would.
func accuracy(m *model.Model, d *dataset) (float64, error) {
	if m.Input == nil {
		return 0, fmt.Errorf("model %q has no input spec", m.Name)
	}
	const chunk = 500
	right := 0
	for lo := 0; lo < d.n; lo += chunk {
		hi := min(lo+chunk, d.n)
		x := make([]float32, 0, (hi-lo)*m.Input.Size())
		for k := lo; k < hi; k++ {
			v, err := m.Input.FromImage(d.image(k))
			if err != nil {
				return 0, err
			}
			x = append(x, v...)
		}
		p, err := forward(m, x, hi-lo)
		if err != nil {
			return 0, err
		}
		c := len(p) / (hi - lo)
		for k := lo; k < hi; k++ {
			if argmax(p[(k-lo)*c:(k-lo+1)*c]) == int(d.labels[k]) {
				right++
			}
		}
	}
	return float64(right) / float64(d.n), nil
}

func evalFile(dataDir, path string) error {
	m, err := model.ReadFile(path)
	if err != nil {
		return err
	}
	te, err := load(dataDir, "t10k")
	if err != nil {
		return err
	}
	acc, err := accuracy(m, te)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	fmt.Printf("%s: %q, %d parameters: accuracy %.2f%% on %d t10k images\n", path, m.Name, m.ParamCount(), 100*acc, te.n)
	return nil
}

// writeExamples writes the first t10k image of each class as a 28×28 gray
// PNG named prefix-LABEL-t10k-INDEX.png and, for the prefix "digit" (MNIST),
// one digit as a colour JPEG (light digit on dark blue, 56×56).
func writeExamples(dataDir, outDir, prefix string) error {
	if prefix == "" || strings.ContainsAny(prefix, `/\`) {
		return fmt.Errorf("--examples-prefix %q: want a file name prefix such as digit", prefix)
	}
	te, err := load(dataDir, "t10k")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	first := make(map[uint8]int)
	for k := 0; k < te.n && len(first) < 10; k++ {
		if _, ok := first[te.labels[k]]; !ok {
			first[te.labels[k]] = k
		}
	}
	for l := uint8(0); l < 10; l++ {
		k := first[l]
		p := filepath.Join(outDir, fmt.Sprintf("%s-%d-t10k-%04d.png", prefix, l, k))
		if err := writeImage(p, te.image(k), func(f *os.File, img image.Image) error { return png.Encode(f, img) }); err != nil {
			return err
		}
		fmt.Println("wrote", p)
	}
	if prefix != "digit" {
		return nil
	}
	k := first[3]
	big := image.NewGray(image.Rect(0, 0, 56, 56))
	draw.CatmullRom.Scale(big, big.Bounds(), te.image(k), te.image(k).Bounds(), draw.Src, nil)
	rgb := image.NewRGBA(big.Bounds())
	bg, fg := [3]float64{20, 30, 90}, [3]float64{255, 200, 40}
	for i, v := range big.Pix {
		t := float64(v) / 255
		c := func(j int) uint8 { return uint8(math.Round(bg[j] + t*(fg[j]-bg[j]))) }
		rgb.Set(i%56, i/56, color.RGBA{c(0), c(1), c(2), 255})
	}
	p := filepath.Join(outDir, fmt.Sprintf("digit-3-t10k-%04d-rgb.jpg", k))
	if err := writeImage(p, rgb, func(f *os.File, img image.Image) error { return jpeg.Encode(f, img, &jpeg.Options{Quality: 92}) }); err != nil {
		return err
	}
	fmt.Println("wrote", p)
	return nil
}

func writeImage(path string, img image.Image, enc func(*os.File, image.Image) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := enc(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
