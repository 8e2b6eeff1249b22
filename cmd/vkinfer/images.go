package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	// Image formats predict reads. Only the command registers decoders; the
	// library never decodes images by side effect.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// Limits on the images predict decodes, checked from the header before
// anything is decoded so a crafted file cannot make it allocate gigabytes.
const (
	maxImageSide   = 16384
	maxImagePixels = 100_000_000
)

const formats = "PNG/JPEG/GIF/BMP/WebP"

// imageExts are the file name extensions of the formats predict reads.
var imageExts = []string{"png", "jpg", "jpeg", "gif", "bmp", "webp"}

// isImageName reports whether name has the extension of an image format
// predict reads.
func isImageName(name string) bool {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(name)), ".")
	return slices.Contains(imageExts, ext)
}

// expandImages returns the image files args name: a file as given, a
// directory as the image files (by extension) in it and its subdirectories,
// in lexical order. A directory without images is an error.
func expandImages(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil || !st.IsDir() {
			files = append(files, a) // checkImage names what is wrong
			continue
		}
		n := len(files)
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != a && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && isImageName(d.Name()) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fileError(a, err, "")
		}
		if len(files) == n {
			return nil, &cliError{msg: fmt.Sprintf("%s: no image files (%s) in the folder", a, strings.Join(imageExts, ", "))}
		}
	}
	return files, nil
}

// checkImage reads the header of the image at path and checks its size,
// without decoding the pixels. Errors name the file.
func checkImage(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fileError(path, err, "")
	}
	defer f.Close()
	_, err = checkHeader(path, f)
	return err
}

// checkHeader checks the header of the image file f (at path), leaving f
// positioned at its start.
func checkHeader(path string, f *os.File) (image.Config, error) {
	st, err := f.Stat()
	if err != nil {
		return image.Config{}, fileError(path, err, "")
	}
	if st.IsDir() {
		return image.Config{}, &cliError{msg: path + ": is a directory, not an image"}
	}
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return cfg, notImage(path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, &cliError{msg: fmt.Sprintf("%s: the %s header says %dx%d pixels: the file is damaged", path, format, cfg.Width, cfg.Height)}
	}
	if cfg.Width > maxImageSide || cfg.Height > maxImageSide || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return cfg, &cliError{msg: fmt.Sprintf("%s: %dx%d pixels is too large (at most %d per side and %d megapixels); scale the image down first",
			path, cfg.Width, cfg.Height, maxImageSide, maxImagePixels/1_000_000)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return cfg, fileError(path, err, "")
	}
	return cfg, nil
}

// decodeImage reads the image at path. Errors name the file.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err, "")
	}
	defer f.Close()
	if _, err := checkHeader(path, f); err != nil {
		return nil, err
	}
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, notImage(path, err)
	}
	return img, nil
}

func notImage(path string, err error) error {
	detail := err.Error()
	if errors.Is(err, image.ErrFormat) {
		detail = "unknown format"
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		detail = "the file ends too early"
	}
	return &cliError{msg: fmt.Sprintf("%s: not a %s image or damaged (%s)", path, formats, detail), err: err}
}

// imageFiles completes the image arguments of predict with image files.
func imageFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return imageExts, cobra.ShellCompDirectiveFilterFileExt
}

// autoContrast returns img with its levels stretched so that its darkest
// pixel becomes black and its lightest white, by the pixels' luma (BT.601,
// what a gray input spec uses). With gray set it returns the stretched luma
// as a gray image; otherwise it applies the same affine map to every
// channel, clipped to 0..255. An image of one level is returned as it is.
func autoContrast(img image.Image, gray bool) image.Image {
	b := img.Bounds()
	luma := func(x, y int) (l float64, r, g, bl uint32) {
		r, g, bl, _ = img.At(x, y).RGBA()
		return 0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl), r, g, bl
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			l, _, _, _ := luma(x, y)
			lo, hi = min(lo, l), max(hi, l)
		}
	}
	if hi-lo < 1 {
		return img
	}
	scale := 0xffff / (hi - lo)
	stretch := func(v float64) uint16 {
		return uint16(math.Round(min(max((v-lo)*scale, 0), 0xffff)))
	}
	if gray {
		out := image.NewGray16(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				l, _, _, _ := luma(x, y)
				out.SetGray16(x, y, color.Gray16{Y: stretch(l)})
			}
		}
		return out
	}
	out := image.NewRGBA64(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			_, r, g, bl := luma(x, y)
			out.SetRGBA64(x, y, color.RGBA64{stretch(float64(r)), stretch(float64(g)), stretch(float64(bl)), 0xffff})
		}
	}
	return out
}
