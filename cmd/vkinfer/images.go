package main

import (
	"errors"
	"fmt"
	"image"
	"io"
	"os"

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

// decodeImage reads the image at path. Errors name the file.
func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err, "")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileError(path, err, "")
	}
	if st.IsDir() {
		return nil, &cliError{msg: path + ": is a directory, not an image"}
	}
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		return nil, notImage(path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, &cliError{msg: fmt.Sprintf("%s: the %s header says %dx%d pixels: the file is damaged", path, format, cfg.Width, cfg.Height)}
	}
	if cfg.Width > maxImageSide || cfg.Height > maxImageSide || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, &cliError{msg: fmt.Sprintf("%s: %dx%d pixels is too large (at most %d per side and %d megapixels); scale the image down first",
			path, cfg.Width, cfg.Height, maxImageSide, maxImagePixels/1_000_000)}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fileError(path, err, "")
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
	return []cobra.Completion{"png", "jpg", "jpeg", "gif", "bmp", "webp"}, cobra.ShellCompDirectiveFilterFileExt
}
