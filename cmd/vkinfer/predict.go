package main

import (
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
)

func init() { addCommand(newPredictCmd) }

type predictOptions struct {
	model  string
	top    int
	asJSON bool
	dev    deviceFlags
}

func newPredictCmd(e *env) *cobra.Command {
	var o predictOptions
	c := &cobra.Command{
		Use:   "predict IMAGE...",
		Short: "classify images with a model",
		Long: `Decodes every IMAGE (PNG, JPEG, GIF, BMP or WebP), turns each into the
model's input with the model's input spec (resize, gray or RGB, scaling) and
runs all of them on the device as one batch. Prints the K most likely labels
of each image with their probabilities, or JSON with --json:

  [{"file": "a.png", "top": [{"label": "7", "index": 7, "probability": 0.99}]}]

If any image cannot be read, nothing is run: every broken file is named and
the exit status is 1.`,
		ValidArgsFunction: imageFiles,
		RunE:              func(_ *cobra.Command, files []string) error { return runPredict(e, &o, files) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.IntVar(&o.top, "top", 3, "print the `K` most likely labels of each image")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	o.dev.register(fs)
	return c
}

func runPredict(e *env, o *predictOptions, files []string) error {
	if o.model == "" {
		return usagef("--model is required")
	}
	if len(files) == 0 {
		return usagef("no images given")
	}
	if err := positive("top", o.top); err != nil {
		return err
	}

	m, err := readModel(o.model)
	if err != nil {
		return err
	}
	if m.Input == nil {
		return &cliError{msg: fmt.Sprintf("%s: model %q has no input spec, so it does not take images; use 'vkinfer run' with .npy tensors", o.model, m.Name)}
	}
	// Decode everything before touching the device; report every broken
	// file, and run nothing if there is one.
	imgs := make([]image.Image, len(files))
	var errs []error
	for i, f := range files {
		if imgs[i], err = decodeImage(f); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		if len(errs) > 1 {
			errs = append(errs, fmt.Errorf("%d of %d images could not be read; nothing was run", len(errs), len(files)))
		}
		return errors.Join(errs...)
	}

	s, err := load(e, o.dev, o.model, m)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.model.Classify(e.ctx, imgs, o.top)
	if err != nil {
		return fileError(o.model, err, "")
	}
	if o.asJSON {
		return printPredictJSON(e.stdout, files, res)
	}
	printPredict(e.stdout, files, res)
	return nil
}

// probability is a float32 that is written to JSON as null when it is not
// finite (JSON has no NaN).
type probability float32

func (p probability) MarshalJSON() ([]byte, error) {
	f := float64(p)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 32), nil
}

type predictionJSON struct {
	File string      `json:"file"`
	Top  []classJSON `json:"top"`
}

type classJSON struct {
	Label       string      `json:"label"`
	Index       int         `json:"index"`
	Probability probability `json:"probability"`
}

func printPredictJSON(w io.Writer, files []string, res [][]vkinfer.Class) error {
	out := make([]predictionJSON, len(files))
	for i, f := range files {
		out[i] = predictionJSON{File: f, Top: []classJSON{}}
		for _, c := range res[i] {
			out[i].Top = append(out[i].Top, classJSON{Label: c.Label, Index: c.Index, Probability: probability(c.Score)})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printPredict prints each file name followed by its top classes, one per
// line: label and probability in percent.
func printPredict(w io.Writer, files []string, res [][]vkinfer.Class) {
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
			fmt.Fprintf(w, "  %s%*s  %7.2f%%\n", c.Label, pad, "", 100*c.Score)
		}
	}
}
