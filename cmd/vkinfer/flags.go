package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func isHelpFlag(s string) bool {
	switch s {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

// goFlags rewrites, in the arguments of command c, the single-dash long
// flags that Go's flag package accepts (-model m.bin, -top=2, -help) into
// the double-dash form pflag parses, so command lines written for earlier
// versions of vkinfer keep working. Nothing after "--" is touched.
func goFlags(c *cobra.Command, args []string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == "--" {
			break
		}
		if isHelpFlag(a) {
			out[i] = "--help"
			continue
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 && c.Flags().Lookup(name) != nil {
				out[i] = "-" + a
			}
		}
	}
	return out
}

// flagError turns pflag's parse errors into usage errors worded as before
// the move to cobra (Go's flag package).
func flagError(_ *cobra.Command, err error) error {
	var (
		notExist *pflag.NotExistError
		noValue  *pflag.ValueRequiredError
		invalid  *pflag.InvalidValueError
	)
	switch {
	case errors.As(err, &notExist):
		if notExist.GetSpecifiedShortnames() != "" {
			return usagef("flag provided but not defined: -%s", notExist.GetSpecifiedName())
		}
		return usagef("flag provided but not defined: --%s", notExist.GetSpecifiedName())
	case errors.As(err, &noValue):
		return usagef("flag needs an argument: --%s", noValue.GetFlag().Name)
	case errors.As(err, &invalid):
		f := invalid.GetFlag()
		want := map[string]string{"int": "an integer", "float64": "a number", "bool": "true or false"}[f.Value.Type()]
		if want == "" {
			return usagef("invalid value %q for --%s: %v", invalid.GetValue(), f.Name, errors.Unwrap(invalid))
		}
		return usagef("invalid value %q for --%s: want %s", invalid.GetValue(), f.Name, want)
	}
	return &usageError{msg: err.Error()}
}

// printHelp prints c's synopsis, description, subcommands and flags.
func printHelp(w io.Writer, c *cobra.Command) {
	var flags []*pflag.Flag
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && f.Name != "help" {
			flags = append(flags, f)
		}
	})
	synopsis := c.CommandPath()
	if len(flags) > 0 {
		synopsis += " [flags]"
	}
	synopsis += strings.TrimPrefix(c.Use, c.Name())
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(c.Short))
	if d := strings.TrimSpace(c.Long); d != "" && d != strings.TrimSpace(c.Short) {
		fmt.Fprintf(w, "\n%s\n", d)
	}
	if c.HasAvailableSubCommands() {
		fmt.Fprint(w, "\nCommands:\n")
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-11s %s\n", s.Name(), s.Short)
			}
		}
	}
	if len(flags) == 0 {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range flags {
		typ, text := pflag.UnquoteUsage(f)
		name := "--" + f.Name
		if typ != "" {
			name += " " + typ
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "[]" {
			text += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	}
	tw.Flush()
}

// deviceFlags are the flags of every command that opens a device.
type deviceFlags struct {
	device     string
	validation bool
}

func (d *deviceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.device, "device", "", "the Vulkan `device`: an index or a name substring from 'vkinfer devices' (default $VKINFER_DEVICE, else the best device)")
	fs.BoolVar(&d.validation, "validation", os.Getenv("VKINFER_VALIDATION") == "1", "enable the Khronos validation layer and print its messages (for development; slow; default $VKINFER_VALIDATION=1)")
}

// modelFlag registers the --model flag, completed with model files.
func modelFlag(c *cobra.Command, p *string) {
	c.Flags().StringVar(p, "model", "", "the model `file` (mlp.bin or .onnx); required")
	c.MarkFlagFilename("model", "bin", "onnx")
}

// positive checks that a count flag is at least 1.
func positive(name string, v int) error {
	if v < 1 {
		return usagef("--%s must be at least 1, got %d", name, v)
	}
	return nil
}

// modelFiles completes the first argument with model files.
func modelFiles(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"bin", "onnx"}, cobra.ShellCompDirectiveFilterFileExt
}
