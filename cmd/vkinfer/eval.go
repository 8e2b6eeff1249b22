package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/idx"
	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newEvalCmd) }

type evalOptions struct {
	model, images, labels string
	batch, limit          int
	reference, asJSON     bool
	dev                   deviceFlags
}

func newEvalCmd(e *env) *cobra.Command {
	var o evalOptions
	c := &cobra.Command{
		Use:   "eval",
		Short: "measure a classifier's accuracy on an IDX (MNIST-style) data set",
		Long: `Runs the model over the images of an IDX data set (such as MNIST's
t10k-images-idx3-ubyte.gz with t10k-labels-idx1-ubyte.gz; gzipped or not) in
batches and prints the accuracy and the confusion matrix. Each image goes
through the model's input spec exactly as an image file given to 'predict'
would (resized when the model takes another size, e.g. 28×28 digits for an
8×8 model).

With --reference the model also runs on the CPU with vkinfer's pure-Go
reference ops, and eval reports how often the device and the reference agree
on the predicted class and the largest difference between their
probabilities.`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runEval(e, &o, args) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.StringVar(&o.images, "images", "", "the IDX image `file` (…-images-idx3-ubyte[.gz]); required")
	fs.StringVar(&o.labels, "labels", "", "the IDX label `file` (…-labels-idx1-ubyte[.gz]); required")
	fs.IntVar(&o.batch, "batch", 256, "images per device run")
	fs.IntVar(&o.limit, "limit", 0, "evaluate only the first `N` images (0: all)")
	fs.BoolVar(&o.reference, "reference", false, "also run the CPU reference and compare")
	fs.BoolVar(&o.asJSON, "json", false, "print JSON instead of text")
	o.dev.register(fs)
	return c
}

func runEval(e *env, o *evalOptions, pos []string) error {
	switch {
	case len(pos) > 0:
		return usagef("eval takes no arguments, got %q", pos)
	case o.model == "":
		return usagef("--model is required")
	case o.images == "" || o.labels == "":
		return usagef("--images and --labels are required")
	case o.limit < 0:
		return usagef("--limit must not be negative, got %d", o.limit)
	}
	if err := positive("batch", o.batch); err != nil {
		return err
	}

	m, err := readModel(o.model)
	if err != nil {
		return err
	}
	if m.Input == nil || len(m.Inputs) != 1 || len(m.Outputs) == 0 {
		return &cliError{msg: fmt.Sprintf("%s: model %q does not take images (it needs an input spec and one input); eval measures image classifiers", o.model, m.Name)}
	}
	inShape, err := perImageShape(m)
	if err != nil {
		return &cliError{msg: o.model + ": " + err.Error()}
	}
	if o.reference {
		if err := referenceSupports(m); err != nil {
			return &cliError{msg: fmt.Sprintf("%s: %v; run eval without --reference", o.model, err), err: err}
		}
	}
	// Only the headers now: the counts must match before any data is read,
	// and the images are read a batch at a time as they are evaluated.
	const imagesHint, labelsHint = "--images takes an IDX image file such as t10k-images-idx3-ubyte.gz",
		"--labels takes an IDX label file such as t10k-labels-idx1-ubyte.gz"
	images, err := idx.Open(o.images, 3)
	if err != nil {
		return fileError(o.images, err, imagesHint)
	}
	defer images.Close()
	labelFile, err := idx.Open(o.labels, 1)
	if err != nil {
		return fileError(o.labels, err, labelsHint)
	}
	defer labelFile.Close()
	n, rows, cols := images.Len(), images.Dims[1], images.Dims[2]
	if labelFile.Len() != n {
		return &cliError{msg: fmt.Sprintf("%s has %d images but %s has %d labels; give the matching pair of files", o.images, n, o.labels, labelFile.Len())}
	}
	if o.limit > 0 && o.limit < n {
		n = o.limit
	}
	if n == 0 {
		return &cliError{msg: o.images + ": no images"}
	}

	t0 := time.Now()
	s, err := load(e, o.dev, o.model, m)
	if err != nil {
		return err
	}
	defer s.Close()
	loadTime := time.Since(t0)
	// The first run at each batch size compiles pipelines and records a
	// program: do it here, on zeros, so the timed runs measure throughput.
	t0 = time.Now()
	sizes := []int{min(o.batch, n)}
	if r := n % o.batch; n > o.batch && r != 0 {
		sizes = append(sizes, r)
	}
	for _, b := range sizes {
		zero := vkinfer.Tensor{Shape: append([]int{b}, inShape...), Data: make([]float32, b*m.Input.Size())}
		if _, err := s.run(e.ctx, zero); err != nil {
			return err
		}
	}
	compileTime := time.Since(t0)

	res := &evalResult{
		Model: o.model, Name: m.Name, Images: o.images, Labels: o.labels,
		Device: s.dev.Info().String(), Count: n, Total: n, Batch: o.batch, Rows: rows, Cols: cols,
		LoadSeconds: loadTime.Seconds(), CompileSeconds: compileTime.Seconds(),
	}
	bar := newProgress(e, int64(n), "eval", "images")
	defer bar.stop()
	var classes int
	for lo := 0; lo < n; lo += o.batch {
		hi := min(lo+o.batch, n)
		pixels, err := images.Next(hi - lo)
		if err != nil {
			return fileError(o.images, err, imagesHint)
		}
		labels, err := labelFile.Next(hi - lo)
		if err != nil {
			return fileError(o.labels, err, labelsHint)
		}
		x := make([]float32, 0, (hi-lo)*m.Input.Size())
		for k := lo; k < hi; k++ {
			v, err := idxInput(m.Input, pixels, rows, cols, k-lo)
			if err != nil {
				return fmt.Errorf("%s: image %d: %w", o.images, k, err)
			}
			x = append(x, v...)
		}
		in := vkinfer.Tensor{Shape: append([]int{hi - lo}, inShape...), Data: x}
		t0 := time.Now()
		outs, err := s.run(e.ctx, in)
		if err != nil {
			if errors.Is(err, context.Canceled) && lo > 0 {
				// Interrupted: report the images evaluated so far.
				bar.stop()
				res.Partial, res.Count = true, lo
				res.finish(o.reference)
				if perr := res.output(e.stdout, o.asJSON); perr != nil {
					return perr
				}
			}
			return err
		}
		res.deviceTime += time.Since(t0)
		out := outs[0]
		if len(out.Shape) != 2 || out.Shape[0] != hi-lo {
			return &cliError{msg: fmt.Sprintf("%s: output %q has shape %v for a batch of %d; eval needs [batch, classes]", o.model, m.Outputs[0].Name, out.Shape, hi-lo)}
		}
		if classes == 0 {
			classes = out.Shape[1]
			res.init(m, classes)
		}
		var want []vkinfer.Tensor
		if o.reference {
			t0 := time.Now()
			want, err = referenceForward(m, []vkinfer.Tensor{in})
			if err != nil {
				return err
			}
			res.refTime += time.Since(t0)
		}
		for k := lo; k < hi; k++ {
			row := out.Data[(k-lo)*classes : (k-lo+1)*classes]
			label := int(labels[k-lo])
			if label >= classes {
				return &cliError{msg: fmt.Sprintf("%s: label %d of image %d is outside the model's %d classes; is this the data set the model was trained for?", o.labels, label, k, classes)}
			}
			pred := argmax(row)
			if pred < 0 {
				res.NaNRows++ // counted as wrong, in no column
			} else {
				res.Confusion[label][pred]++
			}
			if pred == label {
				res.Correct++
			}
			if o.reference {
				wrow := want[0].Data[(k-lo)*classes : (k-lo+1)*classes]
				if argmax(wrow) == pred {
					res.Reference.Agreed++
				}
				res.Reference.MaxAbsDiff = math.Max(res.Reference.MaxAbsDiff, maxAbsDiff(row, wrow))
			}
		}
		bar.add(hi - lo)
	}
	bar.stop()
	res.finish(o.reference)
	return res.output(e.stdout, o.asJSON)
}

// output prints the result as text or JSON.
func (r *evalResult) output(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.print(w)
	return nil
}

// perImageShape is the model input's shape without the batch dimension; it
// must hold exactly the values the input spec makes of one image.
func perImageShape(m *model.Model) ([]int, error) {
	s := m.Inputs[0].Shape
	if len(s) < 2 {
		return nil, fmt.Errorf("input %q has shape %s; an image model takes [batch, ...]", m.Inputs[0].Name, shapeString(s))
	}
	per := 1
	for _, d := range s[1:] {
		if d < 0 {
			return nil, fmt.Errorf("input %q has shape %s: only the batch dimension may be dynamic", m.Inputs[0].Name, shapeString(s))
		}
		per *= d
	}
	if per != m.Input.Size() {
		return nil, fmt.Errorf("input %q %s takes %d values per image, the input spec makes %d", m.Inputs[0].Name, shapeString(s), per, m.Input.Size())
	}
	return s[1:], nil
}

// idxImage returns image k of an IDX image set (n images of rows×cols
// bytes, one after another) as a gray image sharing the pixel bytes.
func idxImage(pixels []uint8, rows, cols, k int) *image.Gray {
	size := rows * cols
	return &image.Gray{Pix: pixels[k*size : (k+1)*size], Stride: cols, Rect: image.Rect(0, 0, cols, rows)}
}

// idxInput turns image k of an IDX image set into the model input through
// spec.FromImage: the same conversion (invert, resize, scale, mean/std) an
// image file gets in predict, so the device and reference paths and the
// trainer all see identical inputs.
func idxInput(spec *model.InputSpec, pixels []uint8, rows, cols, k int) ([]float32, error) {
	return spec.FromImage(idxImage(pixels, rows, cols, k))
}

// argmax returns the index of the largest value; NaN is never the largest.
// It returns -1 for a row of only NaN.
func argmax(row []float32) int {
	best := -1
	for i, v := range row {
		if v == v && (best < 0 || v > row[best]) {
			best = i
		}
	}
	return best
}

// maxAbsDiff returns max |a[i]-b[i]|; +Inf when only one of a pair is NaN.
func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		if math.IsNaN(x) || math.IsNaN(y) {
			if math.IsNaN(x) != math.IsNaN(y) {
				return math.Inf(1)
			}
			continue
		}
		d = math.Max(d, math.Abs(x-y))
	}
	return d
}

// evalResult is what eval measured; it is also the --json output.
type evalResult struct {
	Model     string   `json:"model"`
	Name      string   `json:"name"`
	Images    string   `json:"images"`
	Labels    string   `json:"labels"`
	Device    string   `json:"device"`
	Count     int      `json:"count"`
	Partial   bool     `json:"partial,omitempty"` // interrupted: Count images of Total
	Total     int      `json:"total"`
	Batch     int      `json:"batch"`
	Rows      int      `json:"rows"`
	Cols      int      `json:"cols"`
	Correct   int      `json:"correct"`
	Accuracy  float64  `json:"accuracy"`
	Classes   []string `json:"classes"`
	Confusion [][]int  `json:"confusion"`      // [true label][predicted]
	NaNRows   int      `json:"nan_outputs"`    // rows of only NaN: wrong, in no column
	Seconds   float64  `json:"device_seconds"` // the timed runs only
	// LoadSeconds is opening the device and loading the model;
	// CompileSeconds the first run at each batch size (pipeline compiles,
	// program recording), on zeros before the timed runs.
	LoadSeconds    float64       `json:"load_seconds"`
	CompileSeconds float64       `json:"compile_seconds"`
	Reference      *referenceRes `json:"reference,omitempty"`

	deviceTime, refTime time.Duration
}

type referenceRes struct {
	Agreed     int     `json:"agreed"`
	Agreement  float64 `json:"agreement"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
	Seconds    float64 `json:"seconds"`
}

func (r *evalResult) init(m *model.Model, classes int) {
	r.Classes = make([]string, classes)
	r.Confusion = make([][]int, classes)
	for i := range r.Confusion {
		r.Confusion[i] = make([]int, classes)
		r.Classes[i] = fmt.Sprint(i)
		if i < len(m.Labels) {
			r.Classes[i] = m.Labels[i]
		}
	}
	r.Reference = &referenceRes{}
}

func (r *evalResult) finish(reference bool) {
	r.Accuracy = float64(r.Correct) / float64(r.Count)
	r.Seconds = r.deviceTime.Seconds()
	if !reference {
		r.Reference = nil
		return
	}
	r.Reference.Agreement = float64(r.Reference.Agreed) / float64(r.Count)
	r.Reference.Seconds = r.refTime.Seconds()
}

func (r *evalResult) print(w io.Writer) {
	if r.Partial {
		fmt.Fprintf(w, "PARTIAL    interrupted after %d of %d images: the figures below are for those %d\n", r.Count, r.Total, r.Count)
	}
	fmt.Fprintf(w, "model      %s (%q)\n", r.Model, r.Name)
	fmt.Fprintf(w, "data       %d images of %d×%d from %s\n", r.Count, r.Cols, r.Rows, r.Images)
	fmt.Fprintf(w, "device     %s\n", r.Device)
	fmt.Fprintf(w, "accuracy   %.2f%% (%d of %d)\n", 100*r.Accuracy, r.Correct, r.Count)
	if r.NaNRows > 0 {
		fmt.Fprintf(w, "NaN        %d outputs were all NaN (counted as wrong)\n", r.NaNRows)
	}
	fmt.Fprintf(w, "time       %.3f s on the device in batches of %d, %.0f images/s (upload, run, download)\n",
		r.Seconds, r.Batch, float64(r.Count)/r.Seconds)
	fmt.Fprintf(w, "load       %.3f s to open the device and load the model, %.3f s to compile (first run of each batch size; not in the time above)\n",
		r.LoadSeconds, r.CompileSeconds)
	if ref := r.Reference; ref != nil {
		fmt.Fprintf(w, "reference  agreement %.2f%% (%d of %d predictions match the CPU reference), max |Δprobability| %.3g, %.2f s on the CPU\n",
			100*ref.Agreement, ref.Agreed, r.Count, ref.MaxAbsDiff, ref.Seconds)
	}
	fmt.Fprintf(w, "\nconfusion matrix (rows: true label, columns: predicted label)\n")
	width := 1
	for i, c := range r.Classes {
		width = max(width, utf8.RuneCountInString(c))
		for _, v := range r.Confusion[i] {
			width = max(width, len(fmt.Sprint(v)))
		}
	}
	labelW := width
	var b strings.Builder
	fmt.Fprintf(&b, "%*s", labelW, "")
	for _, c := range r.Classes {
		fmt.Fprintf(&b, " %*s", width, c)
	}
	b.WriteString("  recall\n")
	for i, c := range r.Classes {
		fmt.Fprintf(&b, "%*s", labelW, c)
		total := 0
		for _, v := range r.Confusion[i] {
			fmt.Fprintf(&b, " %*d", width, v)
			total += v
		}
		if total > 0 {
			fmt.Fprintf(&b, "  %6.2f%%\n", 100*float64(r.Confusion[i][i])/float64(total))
		} else {
			b.WriteString("       -\n")
		}
	}
	io.WriteString(w, b.String())
}
