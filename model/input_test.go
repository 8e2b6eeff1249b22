package model

import (
	"image"
	"image/color"
	"math"
	"testing"
)

func near(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > tol {
			return false
		}
	}
	return true
}

func grayImage(w, h int, pix ...uint8) *image.Gray {
	return &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
}

func TestFromImage(t *testing.T) {
	rgb := image.NewRGBA(image.Rect(10, 20, 12, 21)) // 2×1, offset bounds
	rgb.Set(10, 20, color.RGBA{255, 0, 0, 255})
	rgb.Set(11, 20, color.RGBA{0, 128, 255, 255})
	cases := []struct {
		name string
		spec InputSpec
		img  image.Image
		want []float32
		tol  float64
	}{
		{"gray identity", InputSpec{Color: Gray, Width: 2, Height: 2, Layout: LayoutNCHW, Scale: 1},
			grayImage(2, 2, 0, 50, 100, 255), []float32{0, 50, 100, 255}, 0},
		{"gray scale", InputSpec{Color: Gray, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1.0 / 255},
			grayImage(2, 1, 0, 255), []float32{0, 1}, 1e-7},
		{"invert", InputSpec{Color: Gray, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1, Invert: true},
			grayImage(2, 1, 0, 200), []float32{255, 55}, 0},
		{"mean std", InputSpec{Color: Gray, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float32{0.5}, Std: []float32{0.5}},
			grayImage(2, 1, 0, 255), []float32{-1, 1}, 1e-6},
		{"rgb channel-major", InputSpec{Color: RGB, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1},
			rgb, []float32{255, 0, 0, 128, 0, 255}, 1e-4},
		{"rgb mean std", InputSpec{Color: RGB, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1.0 / 255, Mean: []float32{0, 0.5, 1}, Std: []float32{1, 0.5, 2}},
			rgb, []float32{1, 0, -1, 128.0/255/0.5 - 1, -0.5, 0}, 1e-5},
		{"rgb to gray luminance", InputSpec{Color: Gray, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1},
			rgb, []float32{0.299 * 255, 0.587*128 + 0.114*255}, 1e-3},
		{"gray to rgb", InputSpec{Color: RGB, Width: 1, Height: 1, Layout: LayoutNCHW, Scale: 1},
			grayImage(1, 1, 77), []float32{77, 77, 77}, 1e-4},
		{"area 4x4 to 2x2", InputSpec{Color: Gray, Width: 2, Height: 2, Layout: LayoutNCHW, Scale: 1},
			grayImage(4, 4,
				0, 4, 8, 8,
				4, 0, 8, 8,
				100, 100, 0, 0,
				100, 100, 0, 40),
			[]float32{2, 8, 100, 10}, 1e-5},
		{"area 3x1 to 2x1", InputSpec{Color: Gray, Width: 2, Height: 1, Layout: LayoutNCHW, Scale: 1},
			grayImage(3, 1, 30, 60, 90), []float32{(30*2 + 60) / 3.0, (60 + 90*2) / 3.0}, 1e-4},
		{"upscale constant", InputSpec{Color: Gray, Width: 5, Height: 3, Layout: LayoutNCHW, Scale: 1},
			grayImage(2, 2, 90, 90, 90, 90), []float32{90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90, 90}, 0.01},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.spec.FromImage(c.img)
			if err != nil {
				t.Fatal(err)
			}
			if !near(got, c.want, c.tol) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			if len(got) != c.spec.Size() {
				t.Errorf("len %d, Size %d", len(got), c.spec.Size())
			}
		})
	}
}

func TestFromImageUpscaleKeepsEdges(t *testing.T) {
	// A left-dark right-bright image stays so when enlarged.
	spec := InputSpec{Color: Gray, Width: 8, Height: 8, Layout: LayoutNCHW, Scale: 1}
	img := grayImage(2, 2, 0, 255, 0, 255)
	got, err := spec.FromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	for y := 0; y < 8; y++ {
		if got[y*8] > 30 || got[y*8+7] < 225 {
			t.Fatalf("row %d: %v", y, got[y*8:y*8+8])
		}
	}
}

func TestFromImageErrors(t *testing.T) {
	img := grayImage(1, 1, 0)
	for _, s := range []InputSpec{
		{Color: Gray, Width: 0, Height: 1, Layout: LayoutNCHW, Scale: 1},
		{Color: 7, Width: 1, Height: 1, Layout: LayoutNCHW, Scale: 1},
		{Color: Gray, Width: 1, Height: 1, Layout: "NHWC", Scale: 1},
		{Color: Gray, Width: 1, Height: 1, Layout: LayoutNCHW, Scale: 1, Mean: []float32{1}},
	} {
		if _, err := s.FromImage(img); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	s := InputSpec{Color: Gray, Width: 1, Height: 1, Layout: LayoutNCHW, Scale: 1}
	if _, err := s.FromImage(nil); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := s.FromImage(image.NewGray(image.Rect(0, 0, 0, 3))); err == nil {
		t.Error("empty image accepted")
	}
}

func TestAreaResizeKeepsMean(t *testing.T) {
	src := make([]float64, 28*28)
	var sum float64
	for i := range src {
		src[i] = float64((i * 37) % 256)
		sum += src[i]
	}
	out := AreaResize(src, 28, 28, 8, 8)
	var osum float64
	for _, v := range out {
		osum += v
	}
	if math.Abs(sum/784-osum/64) > 1e-9 {
		t.Errorf("mean %v became %v", sum/784, osum/64)
	}
}
