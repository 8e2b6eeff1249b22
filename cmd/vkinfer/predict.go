package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newPredictCmd) }

type predictOptions struct {
	model        string
	top          int
	batch        int
	asJSON       bool
	autoContrast bool
	dev          deviceFlags
}

func newPredictCmd(e *env) *cobra.Command {
	var o predictOptions
	c := &cobra.Command{
		Use:   "predict IMAGE...",
		Short: "classify images with a model",
		Long: `Decodes every IMAGE (PNG, JPEG, GIF, BMP or WebP; a folder stands for the
image files in it and its subfolders), turns each into the model's input with
the model's input spec (resize, gray or RGB, scaling) and runs them on the
device in batches of --batch. Prints the K most likely labels of each image
with their probabilities, or JSON with --json:

  [{"file": "a.png", "top": [{"label": "7", "index": 7, "probability": 0.99}]},
   {"file": "b.png", "error": "b.png: not an image: ..."}]

A model trained on MNIST-style images (white digit on a black background)
scores a photo or a digit on a coloured background lower: --autocontrast
stretches each image's levels to full black..white first.

The model's output is a probability only when the graph ends in a Softmax
(or Sigmoid); otherwise predict prints the raw scores as plain numbers,
called "score" in JSON ('vkinfer convert --softmax' adds a Softmax).

An image that cannot be read (not an image, damaged, too large, missing) is
named on standard error and skipped: the other images are classified and
printed, and the exit status is 1 at the end, so that one bad file in a
folder of thousands costs only itself while scripts still see the failure.
Every file's header is checked before the device is opened; when no image
can be read, nothing is run. On a terminal, long work shows a progress bar.`,
		ValidArgsFunction: imageFiles,
		RunE:              func(_ *cobra.Command, args []string) error { return runPredict(e, &o, args) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.IntVar(&o.top, "top", 3, "print the `K` most likely labels of each image")
	fs.IntVar(&o.batch, "batch", 256, "decode and run `N` images at a time")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	fs.BoolVar(&o.autoContrast, "autocontrast", false, "stretch each image's levels to full black..white first (photos, coloured or gray backgrounds)")
	o.dev.register(fs)
	return c
}

func runPredict(e *env, o *predictOptions, args []string) error {
	if o.model == "" {
		return usagef("--model is required")
	}
	if len(args) == 0 {
		return usagef("no images given")
	}
	if err := positive("top", o.top); err != nil {
		return err
	}
	if err := positive("batch", o.batch); err != nil {
		return err
	}
	files, err := expandImages(args)
	if err != nil {
		return err
	}

	m, err := readModel(o.model)
	if err != nil {
		return err
	}
	if m.Input == nil {
		return &cliError{msg: fmt.Sprintf("%s: model %q has no input spec, so it does not take images; give it one with 'vkinfer convert --image WxH [--color gray|rgb] [--labels FILE] %s OUT.bin' and predict with OUT.bin, or use 'vkinfer run' with .npy tensors", o.model, m.Name, o.model)}
	}
	// Check every file's header before touching the device: the broken
	// ones are named and skipped (runPredict's doc: why), and nothing runs
	// when none is left.
	total := len(files)
	var bad []error
	failed := map[string]error{} // for --json: each unreadable file's entry
	readable := files[:0:0]
	for _, f := range files {
		if err := checkImage(f); err != nil {
			bad = append(bad, err)
			failed[f] = err
			continue
		}
		readable = append(readable, f)
	}
	if len(readable) == 0 {
		return brokenImages(bad, total, "nothing was run")
	}
	for _, err := range bad {
		fmt.Fprintf(e.stderr, "vkinfer: %v\n", err)
	}

	s, err := load(e, o.dev, o.model, m)
	if err != nil {
		return err
	}
	defer s.Close()
	bar := newProgress(e, int64(len(readable)), "predict", "images")
	defer bar.stop()
	done := make([]string, 0, len(readable)) // the files of res
	res := make([][]vkinfer.Class, 0, len(readable))
	for lo := 0; lo < len(readable); lo += o.batch {
		hi := min(lo+o.batch, len(readable))
		imgs := make([]image.Image, 0, hi-lo)
		names := make([]string, 0, hi-lo)
		for _, f := range readable[lo:hi] {
			img, err := decodeImage(f) // damaged after a good header
			if err != nil {
				bad = append(bad, err)
				failed[f] = err
				bar.stop()
				fmt.Fprintf(e.stderr, "vkinfer: %v\n", err)
				continue
			}
			if o.autoContrast {
				img = autoContrast(img, m.Input.Color == model.Gray)
			}
			imgs, names = append(imgs, img), append(names, f)
		}
		r, err := s.model.Classify(e.ctx, imgs, o.top)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				// Interrupted: print the images classified so far.
				bar.stop()
				if len(res) > 0 {
					fmt.Fprintf(e.stderr, "vkinfer: interrupted after %d of %d images; their results follow\n", len(res), total)
					if perr := printPredictions(e, o, m, files, done, res, failed); perr != nil {
						return perr
					}
				}
				return err
			}
			return fileError(o.model, err, "")
		}
		res, done = append(res, r...), append(done, names...)
		s.ran(e.ctx)
		bar.add(hi - lo)
	}
	bar.stop()
	if err := printPredictions(e, o, m, files, done, res, failed); err != nil {
		return err
	}
	switch {
	case len(bad) > 0 && len(done) == 0:
		return &cliError{msg: fmt.Sprintf("%d of %d image%s could not be read (named above); nothing was classified", len(bad), total, plural(total))}
	case len(bad) > 0:
		return &cliError{msg: fmt.Sprintf("%d of %d image%s could not be read (named above); the other %d %s classified",
			len(bad), total, plural(total), len(done), map[bool]string{true: "was", false: "were"}[len(done) == 1])}
	}
	return nil
}

// printPredictions prints the classes of each file of done (res[i] are
// done[i]'s), as text or JSON; JSON also has an entry with the error for
// each file of failed, all in the order of files (the command line's).
func printPredictions(e *env, o *predictOptions, m *model.Model, files, done []string, res [][]vkinfer.Class, failed map[string]error) error {
	probs := m.IsProbability(m.Outputs[0].Name)
	if o.asJSON {
		return printPredictJSON(e.stdout, files, done, res, failed, probs)
	}
	files = done
	if !probs {
		fmt.Fprintf(e.stderr, "vkinfer: note: %s ends without a Softmax, so these are raw scores, not probabilities; 'vkinfer convert --softmax' adds one\n", o.model)
	}
	printPredict(e.stdout, files, res, probs)
	return nil
}

// brokenImages joins the errors of unreadable images, if any, with a last
// line counting them when there are several.
func brokenImages(errs []error, total int, consequence string) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(append(errs, fmt.Errorf("%d of %d images could not be read; %s", len(errs), total, consequence))...)
}

// jsonFloat is a float32 that is written to JSON as null when it is not
// finite (JSON has no NaN).
type jsonFloat float32

func (p jsonFloat) MarshalJSON() ([]byte, error) {
	f := float64(p)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 32), nil
}

// predictionJSON is one file's entry: its top classes, or why it could not
// be read.
type predictionJSON struct {
	File  string      `json:"file"`
	Top   []classJSON `json:"top,omitempty"`
	Error string      `json:"error,omitempty"`
}

// classJSON is one class of a prediction: Probability when the model's
// output is one, else Score.
type classJSON struct {
	Label       string     `json:"label"`
	Index       int        `json:"index"`
	Probability *jsonFloat `json:"probability,omitempty"`
	Score       *jsonFloat `json:"score,omitempty"`
}

func printPredictJSON(w io.Writer, files, done []string, res [][]vkinfer.Class, failed map[string]error, probs bool) error {
	got := make(map[string][]vkinfer.Class, len(done))
	for i, f := range done {
		got[f] = res[i]
	}
	out := []predictionJSON{}
	for _, f := range files {
		r, ok := got[f]
		if !ok {
			if err, bad := failed[f]; bad {
				out = append(out, predictionJSON{File: f, Error: err.Error()})
			}
			continue // not reached (interrupted)
		}
		p := predictionJSON{File: f, Top: []classJSON{}}
		for _, c := range r {
			v := jsonFloat(c.Score)
			cj := classJSON{Label: c.Label, Index: c.Index}
			if probs {
				cj.Probability = &v
			} else {
				cj.Score = &v
			}
			p.Top = append(p.Top, cj)
		}
		out = append(out, p)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printPredict prints each file name followed by its top classes, one per
// line: the label and the probability in percent, or the raw score.
func printPredict(w io.Writer, files []string, res [][]vkinfer.Class, probs bool) {
	width := 0
	for _, cs := range res {
		for _, c := range cs {
			width = max(width, utf8.RuneCountInString(c.Label))
		}
	}
	for i, f := range files {
		fmt.Fprintln(w, f)
		for _, c := range res[i] {
			pad := width - utf8.RuneCountInString(c.Label)
			if probs {
				fmt.Fprintf(w, "  %s%*s  %7.2f%%\n", c.Label, pad, "", 100*c.Score)
			} else {
				fmt.Fprintf(w, "  %s%*s  %10.4g\n", c.Label, pad, "", c.Score)
			}
		}
	}
}
