package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// errHelp is returned by parseFlags after printing a command's help: the
// command ends with status 0.
var errHelp = errors.New("help requested")

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

// newFlags returns the flag set of command c. Errors are reported by
// parseFlags, not printed by the flag package.
func newFlags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet("vkinfer "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args with fs, allowing flags before and after the
// positional arguments (`predict img.png --model m.bin`); everything after
// "--" is positional. It returns the positional arguments. On -h it prints
// the command's help to e.stdout and returns errHelp.
func parseFlags(e *env, c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				printHelp(e.stdout, c, fs)
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// The flag package stops at the first non-flag argument or after
		// "--" (which it consumes).
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printHelp prints c's synopsis, description and flags.
func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	synopsis := "vkinfer " + c.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		synopsis += " [flags]"
	}
	if c.args != "" {
		synopsis += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, strings.TrimSpace(c.summary))
	if d := strings.TrimSpace(c.details); d != "" {
		fmt.Fprintf(w, "\n%s\n", d)
	}
	if !hasFlags {
		return
	}
	fmt.Fprint(w, "\nFlags:\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		typ, text := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if typ != "" {
			name += " " + typ
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "[]" {
			text += fmt.Sprintf(" (default %s)", def)
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	})
	tw.Flush()
}

// deviceFlags are the flags of every command that opens a device.
type deviceFlags struct {
	device     string
	validation bool
}

func (d *deviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.device, "device", "", "the Vulkan `device`: an index or a name substring from 'vkinfer devices' (default $VKINFER_DEVICE, else the best device)")
	fs.BoolVar(&d.validation, "validation", false, "enable the Khronos validation layer and print its messages (for development; slow)")
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// positive checks that a count flag is at least 1.
func positive(name string, v int) error {
	if v < 1 {
		return usagef("--%s must be at least 1, got %d", name, v)
	}
	return nil
}
