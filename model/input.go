package model

import (
	"errors"
	"fmt"
	"image"

	"golang.org/x/image/draw"
)

// ColorMode says how many channels the model input has and how an image's
// colours map onto them.
type ColorMode int

// The colour modes.
const (
	// Gray is one channel: the luminance 0.299R + 0.587G + 0.114B.
	Gray ColorMode = iota + 1
	// RGB is three channels in the order R, G, B.
	RGB
)

// String returns "gray" or "rgb", the names used in the file format.
func (c ColorMode) String() string {
	switch c {
	case Gray:
		return "gray"
	case RGB:
		return "rgb"
	}
	return fmt.Sprintf("ColorMode(%d)", int(c))
}

// Channels returns 1 for Gray, 3 for RGB and 0 for an invalid mode.
func (c ColorMode) Channels() int {
	switch c {
	case Gray:
		return 1
	case RGB:
		return 3
	}
	return 0
}

func parseColor(s string) (ColorMode, error) {
	switch s {
	case "gray":
		return Gray, nil
	case "rgb":
		return RGB, nil
	}
	return 0, fmt.Errorf("unknown color %q (want \"gray\" or \"rgb\")", s)
}

// LayoutNCHW is channel-major: all of channel 0 row by row, then channel 1...
// A model whose input is 2-D ([N, C*H*W]) takes the same values flattened.
const LayoutNCHW = "NCHW"

// MaxImageSide caps InputSpec.Width and Height.
const MaxImageSide = 16384

// InputSpec says how to turn an image into the model input.
//
// FromImage resizes the image to Width×Height (stretching, no crop), takes
// each pixel's channel values v in 0..255, and computes
//
//	v = 255 - v           if Invert
//	v = v * Scale
//	v = (v - Mean[c]) / Std[c]   if Mean and Std are given
//
// writing the result in Layout order.
type InputSpec struct {
	// Color is Gray or RGB.
	Color ColorMode
	// Width and Height are the size the image is resized to.
	Width, Height int
	// Layout is LayoutNCHW, the only layout of format version 1.
	Layout string
	// Scale multiplies the 0..255 pixel value (e.g. 1/255).
	Scale float32
	// Mean and Std are per channel, applied after scaling; both empty or
	// both of length Color.Channels().
	Mean, Std []float32
	// Invert replaces v by 255-v before scaling, so a dark digit on light
	// paper looks like an MNIST digit (light on dark).
	Invert bool
}

// Size returns the number of values FromImage produces: C*H*W.
func (s *InputSpec) Size() int { return s.Color.Channels() * s.Width * s.Height }

func (s *InputSpec) check() error {
	if s.Color.Channels() == 0 {
		return fmt.Errorf("invalid color mode %d", int(s.Color))
	}
	if s.Width < 1 || s.Height < 1 || s.Width > MaxImageSide || s.Height > MaxImageSide {
		return fmt.Errorf("size %dx%d is outside 1..%d", s.Width, s.Height, MaxImageSide)
	}
	if s.Layout != LayoutNCHW {
		return fmt.Errorf("layout %q, want %q", s.Layout, LayoutNCHW)
	}
	if !finite(s.Scale) {
		return fmt.Errorf("scale %v is not finite", s.Scale)
	}
	if len(s.Mean) != len(s.Std) {
		return fmt.Errorf("%d mean values but %d std values", len(s.Mean), len(s.Std))
	}
	if c := s.Color.Channels(); len(s.Mean) != 0 && len(s.Mean) != c {
		return fmt.Errorf("%d mean/std values for %d channels", len(s.Mean), c)
	}
	for i := range s.Mean {
		if !finite(s.Mean[i]) || !finite(s.Std[i]) || s.Std[i] == 0 {
			return fmt.Errorf("channel %d: mean %v std %v (need finite, std non-zero)", i, s.Mean[i], s.Std[i])
		}
	}
	return nil
}

// FromImage converts img into the model input: Color.Channels()*Height*Width
// values in channel-major (NCHW) order.
//
// Resizing: when the image is at least as large as the target in both
// directions it is reduced by exact area averaging (each output pixel is the
// coverage-weighted mean of the source pixels under it, the way MNIST-style
// training data is usually downscaled); otherwise it is resampled with
// Catmull-Rom (golang.org/x/image/draw) at 16 bits per channel. Alpha is
// ignored beyond what premultiplication does: a transparent pixel reads as
// black.
func (s *InputSpec) FromImage(img image.Image) ([]float32, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("model: input spec: %w", err)
	}
	if img == nil {
		return nil, errors.New("model: FromImage: nil image")
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= 0 || sh <= 0 {
		return nil, fmt.Errorf("model: FromImage: empty image %v", b)
	}
	w, h := s.Width, s.Height
	var planes [][]float64
	switch {
	case sw == w && sh == h:
		planes = s.planes(img)
	case w <= sw && h <= sh:
		planes = s.planes(img)
		for c := range planes {
			planes[c] = AreaResize(planes[c], sw, sh, w, h)
		}
	default:
		dst := image.NewRGBA64(image.Rect(0, 0, w, h))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		planes = s.planes(dst)
	}
	out := make([]float32, 0, s.Size())
	for c, p := range planes {
		for _, v := range p {
			if s.Invert {
				v = 255 - v
			}
			f := float32(v) * s.Scale
			if len(s.Mean) > 0 {
				f = (f - s.Mean[c]) / s.Std[c]
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// planes returns the image's channels as 0..255 values, row-major.
func (s *InputSpec) planes(img image.Image) [][]float64 {
	b := img.Bounds()
	n := b.Dx() * b.Dy()
	ch := s.Color.Channels()
	planes := make([][]float64, ch)
	for c := range planes {
		planes[c] = make([]float64, n)
	}
	gray, isGray := img.(*image.Gray)
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if isGray {
				v := float64(gray.GrayAt(x, y).Y)
				for c := range planes {
					planes[c][i] = v
				}
				i++
				continue
			}
			r16, g16, b16, _ := img.At(x, y).RGBA()
			r, g, bl := float64(r16)/257, float64(g16)/257, float64(b16)/257
			if ch == 1 {
				planes[0][i] = 0.299*r + 0.587*g + 0.114*bl
			} else {
				planes[0][i], planes[1][i], planes[2][i] = r, g, bl
			}
			i++
		}
	}
	return planes
}

// AreaResize reduces a sw×sh row-major plane to w×h (w <= sw, h <= sh) by
// exact area averaging: each output pixel is the mean of the source area it
// covers, partially covered source pixels weighted by their coverage. It
// panics if the sizes are not positive or the target is larger.
func AreaResize(src []float64, sw, sh, w, h int) []float64 {
	if w <= 0 || h <= 0 || w > sw || h > sh || len(src) != sw*sh {
		panic(fmt.Sprintf("model: AreaResize %dx%d (len %d) to %dx%d", sw, sh, len(src), w, h))
	}
	tmp := make([]float64, w*sh) // horizontal pass
	for y := 0; y < sh; y++ {
		areaLine(src[y*sw:(y+1)*sw], 1, tmp[y*w:], 1, sw, w)
	}
	out := make([]float64, w*h) // vertical pass
	for x := 0; x < w; x++ {
		areaLine(tmp[x:], w, out[x:], w, sh, h)
	}
	return out
}

// areaLine reduces n source samples (stride ss) to m (stride ds). Output i
// covers [i*n, (i+1)*n) and source j covers [j*m, (j+1)*m) in units of
// 1/(n*m) of the line, so the weights are exact integers over n.
func areaLine(src []float64, ss int, dst []float64, ds int, n, m int) {
	for i := 0; i < m; i++ {
		lo, hi := i*n, (i+1)*n
		var sum float64
		for j := lo / m; j < n && j*m < hi; j++ {
			a, b := max(lo, j*m), min(hi, (j+1)*m)
			if b > a {
				sum += src[j*ss] * float64(b-a)
			}
		}
		dst[i*ds] = sum / float64(n)
	}
}
