package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer/internal/outfile"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

func init() { addCommand(newConvertCmd) }

type convertOptions struct {
	name, description, labels, image, color, mean, std string
	scale                                              float64
	invert, softmax                                    bool
}

func newConvertCmd(e *env) *cobra.Command {
	var o convertOptions
	c := &cobra.Command{
		Use:   "convert IN OUT",
		Short: "convert an ONNX model to mlp.bin (needs no GPU)",
		Long: `Reads the model IN (ONNX, e.g. exported with torch.onnx.export, or an
mlp.bin) and writes it as the mlp.bin file OUT (docs/FORMAT.md), the graph as
vkinfer runs it: Constant nodes and constant subgraphs folded into weights,
Gemm and MatMul+Add with constant weights turned into Dense layers, opset
differences normalised (docs/OPS.md).

An ONNX file says nothing about labels or images; give them with flags:
--labels names the classes of the first output (a text file, one label a
line), --image makes the model take images (vkinfer predict) and sets how an
image becomes its input. --softmax appends a Softmax to the first output, so
that a model exported without one (its output is raw scores, logits) reports
probabilities; an output whose name says logits ("logits", "out_logit") is
renamed with "probs" in its place (a note says so), the others keep their
name.

Ops no layer runs are kept: OUT is written, a warning on standard error
names them, and loading OUT on a device fails. Nothing runs on the device.`,
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []cobra.Completion{"onnx", "bin"}, cobra.ShellCompDirectiveFilterFileExt
			}
			return []cobra.Completion{"bin"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(c *cobra.Command, args []string) error { return runConvert(e, c, &o, args) },
	}
	fs := c.Flags()
	fs.StringVar(&o.name, "name", "", "the model's `name` (default: the ONNX graph's name, else the file's)")
	fs.StringVar(&o.description, "description", "", "the model's description `text` (default: the ONNX doc string)")
	fs.StringVar(&o.labels, "labels", "", "a text `file` of class labels for the first output, one a line")
	fs.StringVar(&o.image, "image", "", "make the model take images of `WxH` pixels (e.g. 28x28): sets the input spec")
	fs.StringVar(&o.color, "color", "gray", "with --image: the input's `channels`, gray or rgb")
	fs.Float64Var(&o.scale, "scale", 1.0/255, "with --image: the `factor` applied to 0..255 pixel values")
	fs.StringVar(&o.mean, "mean", "", "with --image: per-channel `values` subtracted after scaling, comma-separated")
	fs.StringVar(&o.std, "std", "", "with --image: per-channel `values` divided by after the mean, comma-separated")
	fs.BoolVar(&o.invert, "invert", false, "with --image: use 255-v, for dark digits on light paper")
	fs.BoolVar(&o.softmax, "softmax", false, "append a Softmax to the first output, making its scores probabilities")
	c.MarkFlagFilename("labels")
	c.RegisterFlagCompletionFunc("color", cobra.FixedCompletions([]cobra.Completion{"gray", "rgb"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func runConvert(e *env, c *cobra.Command, o *convertOptions, pos []string) error {
	if len(pos) != 2 {
		return usagef("convert takes an input and an output file, got %s", count(len(pos), "argument"))
	}
	in, out := pos[0], pos[1]
	set := c.Flags().Changed
	if o.image == "" {
		for _, f := range []string{"color", "scale", "mean", "std", "invert"} {
			if set(f) {
				return usagef("--%s needs --image", f)
			}
		}
	}
	var spec *model.InputSpec
	if o.image != "" {
		var err error
		if spec, err = inputSpec(o.image, o.color, o.scale, o.mean, o.std, o.invert); err != nil {
			return err
		}
	}

	if si, err := os.Stat(in); err == nil {
		if so, err := os.Stat(out); err == nil && os.SameFile(si, so) {
			return usagef("%s is the input of convert: writing it would destroy the model; give another output path", out)
		}
	}
	if err := outfile.Check(out); err != nil {
		return fileError(out, err, "nothing was converted")
	}
	// Reading and writing a large model takes seconds: show the step.
	bar := newProgress(e, 3, "read "+in, "steps")
	defer bar.stop()
	m, err := readModel(in)
	if err != nil {
		return err
	}
	bar.add(1)
	bar.describe("check")
	if o.name != "" {
		m.Name = o.name
	}
	if set("description") {
		m.Description = o.description
	}
	if spec != nil {
		m.Input = spec
	}
	if o.labels != "" {
		if m.Labels, err = readLabels(o.labels); err != nil {
			return err
		}
	}
	if o.softmax {
		before := m.Outputs[0].Name
		after, err := appendSoftmax(m)
		if err != nil {
			return &cliError{msg: fmt.Sprintf("%s: --softmax: %v", in, err)}
		}
		if after != before {
			fmt.Fprintf(e.stderr, "vkinfer: note: output %q is now named %q: it holds probabilities, the softmax of the logits (which keep the name %q inside the graph)\n", before, after, before)
		}
	}
	if err := ops.Validate(m); err != nil {
		return &cliError{msg: fmt.Sprintf("%s: %s", in, trimPrefixes(err.Error(), "model: ", "invalid model: ")), err: err}
	}
	bar.add(1)
	bar.describe("write " + out)
	if err := outfile.Write(out, m.Encode); err != nil {
		return fileError(out, err, "")
	}
	bar.stop()
	var ops []string
	seen := map[string]bool{}
	for _, n := range m.Nodes {
		if !seen[n.Op] {
			seen[n.Op] = true
			ops = append(ops, n.Op)
		}
	}
	fmt.Fprintf(e.stdout, "wrote %s: %q, %d nodes (%s), %s parameters\n",
		out, m.Name, len(m.Nodes), strings.Join(ops, ", "), commas(m.ParamCount()))
	if nodes := unsupported(m); len(nodes) > 0 {
		fmt.Fprintf(e.stderr, "vkinfer: warning: %s: %s\n", out, unsupportedSummary(m, nodes))
	}
	return nil
}

// inputSpec builds the input spec the --image flags describe.
func inputSpec(size, color string, scale float64, mean, std string, invert bool) (*model.InputSpec, error) {
	w, h, ok := strings.Cut(strings.ToLower(size), "x")
	wi, err1 := strconv.Atoi(w)
	hi, err2 := strconv.Atoi(h)
	if !ok || err1 != nil || err2 != nil || wi < 1 || hi < 1 || wi > model.MaxImageSide || hi > model.MaxImageSide {
		return nil, usagef("--image takes WIDTHxHEIGHT in pixels, 1 to %d each, e.g. 28x28; got %q", model.MaxImageSide, size)
	}
	s := &model.InputSpec{Width: wi, Height: hi, Layout: model.LayoutNCHW, Scale: float32(scale), Invert: invert}
	switch color {
	case "gray":
		s.Color = model.Gray
	case "rgb":
		s.Color = model.RGB
	default:
		return nil, usagef("--color takes gray or rgb, got %q", color)
	}
	var err error
	if s.Mean, err = floatList("mean", mean); err != nil {
		return nil, err
	}
	if s.Std, err = floatList("std", std); err != nil {
		return nil, err
	}
	if len(s.Mean) != len(s.Std) || (len(s.Mean) != 0 && len(s.Mean) != s.Color.Channels()) {
		return nil, usagef("--mean and --std take one value per channel (%d for %s), got %d and %d",
			s.Color.Channels(), color, len(s.Mean), len(s.Std))
	}
	return s, nil
}

func floatList(flag, s string) ([]float32, error) {
	if s == "" {
		return nil, nil
	}
	var v []float32
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil {
			return nil, usagef("--%s: %q is not a number", flag, f)
		}
		v = append(v, float32(x))
	}
	return v, nil
}

// maxLabels bounds a labels file.
const maxLabels = 1 << 20

// readLabels reads one label a line; blank lines at the end are ignored.
func readLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err, "--labels takes a text file with one label a line")
	}
	defer f.Close()
	var labels []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		l := strings.TrimRight(sc.Text(), "\r")
		if !utf8.ValidString(l) {
			return nil, &cliError{msg: fmt.Sprintf("%s: line %d is not UTF-8 text", path, len(labels)+1)}
		}
		if len(labels) == maxLabels {
			return nil, &cliError{msg: fmt.Sprintf("%s: more than %d labels", path, maxLabels)}
		}
		labels = append(labels, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fileError(path, err, "--labels takes a text file with one label a line")
	}
	for len(labels) > 0 && strings.TrimSpace(labels[len(labels)-1]) == "" {
		labels = labels[:len(labels)-1]
	}
	if len(labels) == 0 {
		return nil, &cliError{msg: fmt.Sprintf("%s: no labels (one a line)", path)}
	}
	return labels, nil
}
