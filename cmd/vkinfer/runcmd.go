package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/model"
)

func init() { addCommand(newRunCmd) }

type runOptions struct {
	model             string
	inSpecs, outSpecs []string
	dev               deviceFlags
}

func newRunCmd(e *env) *cobra.Command {
	var o runOptions
	c := &cobra.Command{
		Use:   "run",
		Short: "run a model on tensors read from and written to .npy files",
		Long: `Reads each model input from a NumPy .npy file (float32 or float64, C
order), runs the model once and writes each requested output as a float32
.npy file. Give inputs as --input NAME=FILE, one per model input; a model
with a single input may take --input FILE. Likewise --output NAME=FILE for
each output to write, or --output FILE for a model with a single output.
'vkinfer info MODEL' lists the input and output names and shapes (N is any
size, usually the batch).

  vkinfer run --model m.bin --input x=in.npy --output out.npy`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runRun(e, &o, args) },
	}
	fs := c.Flags()
	modelFlag(c, &o.model)
	fs.StringArrayVar(&o.inSpecs, "input", nil, "an input as `NAME=FILE.npy` (or FILE.npy for a single-input model); repeat for each input")
	fs.StringArrayVar(&o.outSpecs, "output", nil, "an output to write as `NAME=FILE.npy` (or FILE.npy for a single-output model); repeat for each")
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
	case len(o.outSpecs) == 0:
		return usagef("no --output given")
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
		if inFiles[v.Name] == "" {
			missing = append(missing, fmt.Sprintf("%q %s", v.Name, shapeString(v.Shape)))
		}
	}
	if len(missing) > 0 {
		return &cliError{msg: fmt.Sprintf("%s: no --input for model input %s; give each as --input NAME=FILE.npy", o.model, strings.Join(missing, ", "))}
	}
	outFiles, err := bind(o.outSpecs, m.Outputs, "output", o.model)
	if err != nil {
		return err
	}
	inputs := make([]vkinfer.Tensor, len(m.Inputs))
	for i, v := range m.Inputs {
		if inputs[i], err = readNpy(inFiles[v.Name]); err != nil {
			return err
		}
	}

	s, err := load(e, o.dev, o.model, m)
	if err != nil {
		return err
	}
	defer s.Close()
	outs, err := s.model.Run(e.ctx, inputs...)
	if err != nil {
		if errors.Is(err, vkinfer.ErrShape) {
			var from []string
			for _, v := range m.Inputs {
				from = append(from, fmt.Sprintf("%s from %s %s", v.Name, inFiles[v.Name], shapeString(inputs[len(from)].Shape)))
			}
			return &cliError{msg: fmt.Sprintf("%s: %s (%s)", o.model, trimPrefixes(err.Error(), "vkinfer: "), strings.Join(from, ", ")), err: err}
		}
		return fileError(o.model, err, "")
	}
	for i, o := range m.Outputs {
		path := outFiles[o.Name]
		if path == "" {
			continue
		}
		if err := writeNpy(path, outs[i]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s %s -> %s\n", o.Name, shapeString(outs[i].Shape), path)
	}
	return nil
}

// bind matches NAME=FILE (or FILE alone when there is one value) specs to
// the model's values, by name.
func bind(specs []string, vals []model.ValueInfo, what, modelPath string) (map[string]string, error) {
	var names []string
	known := map[string]bool{}
	for _, v := range vals {
		names = append(names, fmt.Sprintf("%q %s", v.Name, shapeString(v.Shape)))
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

func readNpy(path string) (vkinfer.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return vkinfer.Tensor{}, fileError(path, err, "")
	}
	defer f.Close()
	shape, data, err := npy.Read(f)
	if err != nil {
		return vkinfer.Tensor{}, fileError(path, err, "")
	}
	return vkinfer.Tensor{Shape: shape, Data: data}, nil
}

// writeNpy writes t to path, removing the file again if writing fails.
func writeNpy(path string, t vkinfer.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return fileError(path, err, "")
	}
	err = npy.Write(f, t.Shape, t.Data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fileError(path, err, "")
	}
	return nil
}
