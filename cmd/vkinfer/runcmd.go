package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/internal/outfile"
	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newRunCmd) }

type runOptions struct {
	model             string
	inSpecs, outSpecs []string
	batch             int
	asJSON            bool
	dev               deviceFlags
}

func newRunCmd(e *env) *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run",
		Short: "run a model on tensors read from and written to .npy files",
		Long: `Reads each model input from a NumPy .npy file (float32 or float64, C
order), runs the model and writes each requested output as a float32 .npy
file. Give inputs as --input NAME=FILE, one per model input; a model with a
single input may take --input FILE. Likewise --output NAME=FILE for each
output to write, or --output FILE for a model with a single output; FILE '-'
is standard output. Without --output, run prints the outputs (at most
65536 values) as text, or as JSON with --json. 'vkinfer info MODEL' lists the
input and output names and shapes (-1 is any size, usually the batch; an
input of "any shape" takes the shape of its .npy).

Inputs whose first dimension is the batch run --batch rows at a time (the
device may split further: vkinfer.Model.Run), with a progress bar on a
terminal for long work.

  vkinfer run --model m.bin --input x=in.npy --output out.npy
  vkinfer run --model m.bin --input in.npy --json`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runRun(e, &o, args) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.StringArrayVar(&o.inSpecs, "input", nil, "an input as `NAME=FILE.npy` (or FILE.npy for a single-input model); repeat for each input")
	fs.StringArrayVar(&o.outSpecs, "output", nil, "an output to write as `NAME=FILE.npy` (or FILE.npy for a single-output model); repeat for each")
	fs.IntVar(&o.batch, "batch", 4096, "run at most `N` rows (the first dimension) at a time")
	fs.BoolVar(&o.asJSON, "json", false, "without --output: print the outputs as JSON instead of text")
	c.MarkFlagFilename("input", "npy")
	c.MarkFlagFilename("output", "npy")
	o.dev.register(fs)
	return c
}

func runRun(e *env, o *runOptions, pos []string) error {
	switch {
	case len(pos) > 0:
		return usagef("run takes no arguments, got %q; give tensors with --input", pos)
	case o.model == "":
		return usagef("--model is required")
	case len(o.inSpecs) == 0:
		return usagef("no --input given")
	case len(o.outSpecs) > 0 && o.asJSON:
		return usagef("--json prints the outputs; it does not go with --output")
	}
	if err := positive("batch", o.batch); err != nil {
		return err
	}
	m, err := readModel(o.model)
	if err != nil {
		return err
	}
	inFiles, err := bind(o.inSpecs, m.Inputs, "input", o.model)
	if err != nil {
		return err
	}
	var missing []string
	for _, v := range m.Inputs {
		if inFiles[v.Name] == "" && m.Default(v.Name) == nil {
			missing = append(missing, fmt.Sprintf("%q %s", v.Name, valueShape(v)))
		}
	}
	if len(missing) > 0 {
		return &cliError{msg: fmt.Sprintf("%s: no --input for model input %s; give each as --input NAME=FILE.npy", o.model, strings.Join(missing, ", "))}
	}
	outFiles, err := bind(o.outSpecs, m.Outputs, "output", o.model)
	if err != nil {
		return err
	}
	// Only the headers now (every file checked before anything runs); the
	// data is read a batch at a time (runBatches).
	inputs := make([]*npyFile, len(m.Inputs))
	defer func() {
		for _, f := range inputs {
			f.close()
		}
	}()
	for i, v := range m.Inputs {
		if inFiles[v.Name] == "" {
			continue // its default
		}
		if inputs[i], err = openNpy(inFiles[v.Name]); err != nil {
			return err
		}
	}

	toStdout := 0
	for _, f := range outFiles {
		if f == "-" {
			toStdout++
		}
	}
	if toStdout > 1 {
		return usagef("only one --output can be '-' (standard output)")
	}
	// Find out now, not after the run, whether the outputs can be written.
	for _, v := range m.Outputs {
		if path := outFiles[v.Name]; path != "" && path != "-" {
			if err := outfile.Check(path); err != nil {
				return fileError(path, err, "nothing was run")
			}
		}
	}

	s, err := load(e, o.dev, o.model, m)
	if err != nil {
		return err
	}
	defer s.Close()
	outs, err := runBatches(e, s, inputs, o.batch)
	if err != nil {
		if errors.Is(err, vkinfer.ErrShape) {
			var from []string
			for i, v := range m.Inputs {
				if inputs[i] != nil {
					from = append(from, fmt.Sprintf("%s from %s %s", v.Name, inFiles[v.Name], shapeString(inputs[i].r.Shape)))
				}
			}
			return &cliError{msg: fmt.Sprintf("%s: %s (%s)", o.model, trimPrefixes(err.Error(), "vkinfer: "), strings.Join(from, ", ")), err: err}
		}
		if errors.Is(err, context.Canceled) {
			return err
		}
		return fileError(o.model, err, "")
	}
	if len(outFiles) == 0 {
		return printOutputs(e.stdout, m.Outputs, outs, o.asJSON)
	}
	report := e.stdout
	if toStdout > 0 {
		report = e.stderr // standard output carries the .npy
	}
	for i, v := range m.Outputs {
		path := outFiles[v.Name]
		if path == "" {
			continue
		}
		if path == "-" {
			if err := npy.Write(e.stdout, outs[i].Shape, outs[i].Data); err != nil {
				return fmt.Errorf("write %s to standard output: %w", v.Name, err)
			}
		} else if err := writeNpy(path, outs[i]); err != nil {
			return err
		}
		fmt.Fprintf(report, "%s %s -> %s\n", v.Name, shapeString(outs[i].Shape), path)
	}
	return nil
}

// runBatches runs the inputs (nil: the input's default) on s. When every
// input's first dimension is the model's dynamic batch dimension (and the
// same), it reads them batch rows at a time from their files and runs each
// part, joining the outputs (only the outputs are ever whole in memory);
// otherwise it reads them whole and runs once. A terminal shows the
// progress.
func runBatches(e *env, s *session, inputs []*npyFile, batch int) ([]vkinfer.Tensor, error) {
	n := -1
	for i, f := range inputs {
		spec := s.model.Spec().Inputs[i]
		if f == nil || len(f.r.Shape) == 0 || spec.AnyShape || len(spec.Shape) == 0 || spec.Shape[0] >= 0 || (n >= 0 && f.r.Shape[0] != n) {
			n = -1
			break
		}
		n = f.r.Shape[0]
	}
	if n <= batch {
		return runWhole(e, s, inputs)
	}
	bar := newProgress(e, int64(n), "run", "rows")
	defer bar.stop()
	var outs []vkinfer.Tensor
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		part := make([]vkinfer.Tensor, len(inputs))
		for i, f := range inputs {
			data, err := f.r.ReadRows(hi - lo)
			if err != nil {
				return nil, fileError(f.path, err, "no output was written")
			}
			part[i] = vkinfer.Tensor{Shape: append([]int{hi - lo}, f.r.Shape[1:]...), Data: data}
		}
		res, err := s.model.Run(e.ctx, part...)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				bar.stop()
				fmt.Fprintf(e.stderr, "vkinfer: interrupted after %d of %d rows; no output was written\n", lo, n)
			}
			return nil, err
		}
		if outs == nil {
			outs = make([]vkinfer.Tensor, len(res))
			for i, r := range res {
				if len(r.Shape) == 0 || r.Shape[0] != hi-lo {
					return runWhole(e, s, inputs) // the outputs do not keep the batch axis: one run
				}
				outs[i] = vkinfer.Tensor{Shape: append([]int{n}, r.Shape[1:]...), Data: make([]float32, 0, len(r.Data)/(hi-lo)*n)}
			}
		}
		for i, r := range res {
			outs[i].Data = append(outs[i].Data, r.Data...)
		}
		s.ran(e.ctx)
		bar.add(hi - lo)
	}
	return outs, nil
}

// runWhole reads the inputs whole (from their start) and runs them once.
func runWhole(e *env, s *session, inputs []*npyFile) ([]vkinfer.Tensor, error) {
	ts := make([]vkinfer.Tensor, len(inputs))
	for i, f := range inputs {
		if f == nil {
			continue // a zero Tensor: the input's default
		}
		var err error
		if ts[i], err = f.readAll(); err != nil {
			return nil, err
		}
	}
	return s.model.Run(e.ctx, ts...)
}

// maxPrinted is the most output values run prints without --output.
const maxPrinted = 1 << 16

// printOutputs prints the outputs as text (the name and shape, then one
// line per row of the last dimension) or as JSON.
func printOutputs(w io.Writer, vals []model.ValueInfo, outs []vkinfer.Tensor, asJSON bool) error {
	for i, t := range outs {
		if len(t.Data) > maxPrinted {
			return usagef("output %q has %d values %s, too many to print (at most %d); write it with --output %s=FILE.npy",
				vals[i].Name, len(t.Data), shapeString(t.Shape), maxPrinted, vals[i].Name)
		}
	}
	if asJSON {
		type outputJSON struct {
			Name  string      `json:"name"`
			Shape []int       `json:"shape"`
			Data  []jsonFloat `json:"data"` // row-major; NaN and ±Inf are null
		}
		js := make([]outputJSON, len(outs))
		for i, t := range outs {
			js[i] = outputJSON{Name: vals[i].Name, Shape: t.Shape, Data: make([]jsonFloat, len(t.Data))}
			for k, v := range t.Data {
				js[i].Data[k] = jsonFloat(v)
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(js)
	}
	var b strings.Builder
	for i, t := range outs {
		fmt.Fprintf(&b, "%s %s\n", vals[i].Name, shapeString(t.Shape))
		cols := len(t.Data)
		if len(t.Shape) > 0 && t.Shape[len(t.Shape)-1] > 0 {
			cols = t.Shape[len(t.Shape)-1]
		}
		for lo := 0; lo < len(t.Data); lo += cols {
			b.WriteString(" ")
			for _, v := range t.Data[lo:min(lo+cols, len(t.Data))] {
				b.WriteString(" ")
				b.WriteString(strconv.FormatFloat(float64(v), 'g', 7, 32))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// bind matches NAME=FILE (or FILE alone when there is one value) specs to
// the model's values, by name.
func bind(specs []string, vals []model.ValueInfo, what, modelPath string) (map[string]string, error) {
	var names []string
	known := map[string]bool{}
	for _, v := range vals {
		names = append(names, fmt.Sprintf("%q %s", v.Name, valueShape(v)))
		known[v.Name] = true
	}
	list := strings.Join(names, ", ")
	files := map[string]string{}
	for _, spec := range specs {
		// NAME=FILE when the part before '=' could be a name (a path with
		// '=' in it can be given as ./a=b.npy).
		name, file := "", spec
		i := strings.IndexByte(spec, '=')
		switch {
		case i >= 0 && known[spec[:i]]:
			name, file = spec[:i], spec[i+1:]
		case i >= 0 && !strings.ContainsRune(spec[:i], os.PathSeparator):
			return nil, &cliError{msg: fmt.Sprintf("%s: --%s %s: the model has no %s %q; it has %s", modelPath, what, spec, what, spec[:i], list)}
		case len(vals) == 1:
			name = vals[0].Name
		default:
			return nil, usagef("--%s %s: the model has %d %ss (%s); name it as --%s NAME=%s", what, spec, len(vals), what, list, what, spec)
		}
		if file == "" {
			return nil, usagef("--%s %s: no file name after '='", what, spec)
		}
		if prev, dup := files[name]; dup {
			return nil, usagef("%s %q given twice (%s and %s)", what, name, prev, file)
		}
		files[name] = file
	}
	return files, nil
}

// npyFile is an input .npy file opened for reading in pieces.
type npyFile struct {
	path string
	f    *os.File
	r    *npy.Reader
}

// openNpy opens path and reads its header; the data's size is checked
// against the file's, so a truncated file fails here, before anything runs.
func openNpy(path string) (*npyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err, "")
	}
	nf := &npyFile{path: path, f: f}
	if err := nf.start(); err != nil {
		f.Close()
		return nil, err
	}
	return nf, nil
}

// start reads the header from the start of the file.
func (nf *npyFile) start() error {
	if _, err := nf.f.Seek(0, io.SeekStart); err != nil {
		return fileError(nf.path, err, "")
	}
	r, err := npy.NewReader(bufio.NewReaderSize(nf.f, 1<<16))
	if err != nil {
		return fileError(nf.path, err, "")
	}
	if st, err := nf.f.Stat(); err == nil && st.Mode().IsRegular() {
		if err := r.CheckSize(st.Size() - r.HeaderBytes()); err != nil {
			return fileError(nf.path, err, "")
		}
	}
	nf.r = r
	return nil
}

// readAll reads the whole array, from the start of the data.
func (nf *npyFile) readAll() (vkinfer.Tensor, error) {
	if err := nf.start(); err != nil {
		return vkinfer.Tensor{}, err
	}
	rows := 1
	if len(nf.r.Shape) > 0 {
		rows = nf.r.Shape[0]
	}
	data, err := nf.r.ReadRows(rows)
	if errors.Is(err, io.EOF) {
		data, err = []float32{}, nil // no elements
	}
	if err != nil {
		return vkinfer.Tensor{}, fileError(nf.path, err, "")
	}
	return vkinfer.Tensor{Shape: nf.r.Shape, Data: data}, nil
}

// close closes the file (nf may be nil).
func (nf *npyFile) close() {
	if nf != nil {
		nf.f.Close()
	}
}

// writeNpy writes t to path through a temporary file renamed into place
// (internal/outfile): a failed write leaves what was at path untouched.
func writeNpy(path string, t vkinfer.Tensor) error {
	if err := outfile.Write(path, func(w io.Writer) error { return npy.Write(w, t.Shape, t.Data) }); err != nil {
		return fileError(path, err, "")
	}
	return nil
}
