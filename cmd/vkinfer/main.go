// Command vkinfer runs neural networks on any Vulkan GPU (or on the CPU
// through a Vulkan CPU driver) from the command line:
//
//	vkinfer predict --model examples/mnist/mlp.bin examples/images/*.png
//	vkinfer devices
//	vkinfer info examples/mnist/mlp.bin
//	vkinfer convert --labels labels.txt --image 28x28 model.onnx model.bin
//	vkinfer run --model m.bin --input x=in.npy --output out.npy
//	vkinfer eval --model m.bin --images t10k-images-idx3-ubyte.gz --labels t10k-labels-idx1-ubyte.gz
//	vkinfer bench --model m.bin --batch 64
//
// Run `vkinfer help` for every command and `vkinfer CMD -h` for its flags.
//
// The command is thin: it parses flags, decodes images and prints; the work
// is done by the vkinfer, model and engine packages. Exit status: 0 on
// success, 1 on an error, 2 on a usage error, 3 on an internal error (a bug:
// please report it).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitInternal = 3
)

// env is what a command runs with: its output streams and a context that
// ends on an interrupt.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	args    string // the synopsis after the flags, e.g. "IMAGE..."
	summary string // one line for `vkinfer help`
	details string // paragraphs for `vkinfer CMD -h`
	run     func(e *env, args []string) error
}

// commands are the subcommands, in the order `vkinfer help` lists them.
var commands []*command

func init() {
	commands = []*command{
		predictCmd, devicesCmd, infoCmd, convertCmd, runCmd, evalCmd, benchCmd, versionCmd, helpCmd,
	}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the whole program: it runs the command named by args[0] with the
// rest of args and returns the exit status. It never panics: a panic (a bug) becomes an "internal error"
// message and exit status 3.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "vkinfer: internal error, please report it at https://github.com/vkinfer/vkinfer/issues with the command you ran: %v\n", r)
			if os.Getenv("VKINFER_TRACEBACK") != "" {
				stderr.Write(debug.Stack())
			} else {
				fmt.Fprintln(stderr, "vkinfer: (set VKINFER_TRACEBACK=1 to include the stack trace in the report)")
			}
			code = exitInternal
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	stderr = &syncWriter{w: stderr}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}

	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch {
	case isHelpFlag(name):
		usage(stdout)
		return exitOK
	case name == "-version" || name == "--version":
		name = "version"
	}
	c := lookup(name)
	if c == nil {
		fmt.Fprintf(stderr, "vkinfer: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return report(stderr, c.name, c.run(e, args[1:]))
}

// report prints err, if any, and returns the exit status it calls for.
func report(stderr io.Writer, cmd string, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vkinfer %s: %s\nRun 'vkinfer %s -h' for usage.\n", cmd, ue.msg, cmd)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "vkinfer: interrupted")
		return exitError
	}
	// errors.Join puts one error per line; prefix each.
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(stderr, "vkinfer: %s\n", line)
	}
	return exitError
}

// usage prints the list of commands.
func usage(w io.Writer) {
	fmt.Fprint(w, `vkinfer runs neural networks on any Vulkan GPU, or on the CPU through a
Vulkan CPU driver (lavapipe, SwiftShader).

Usage:
  vkinfer COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'vkinfer COMMAND -h' for the flags of a command. Flags may come before or
after the arguments.

Environment:
  VKINFER_DEVICE     the device to use (index or name substring), as --device
  VK_ICD_FILENAMES   the Vulkan driver manifest(s) to load (a Vulkan loader setting)
  VKINFER_TRACEBACK  set to print the stack trace with an internal error

Exit status: 0 success, 1 error, 2 usage error, 3 internal error (please report).
`)
}

var helpCmd = &command{
	name:    "help",
	args:    "[COMMAND]",
	summary: "show help for vkinfer or a command",
	run: func(e *env, args []string) error {
		switch len(args) {
		case 0:
			usage(e.stdout)
			return nil
		case 1:
			if isHelpFlag(args[0]) {
				usage(e.stdout)
				return nil
			}
			c := lookup(args[0])
			if c == nil {
				return usagef("unknown command %q; run 'vkinfer help' for the list", args[0])
			}
			return c.run(e, []string{"-h"})
		}
		return usagef("help takes at most one command name, got %d arguments", len(args))
	},
}
