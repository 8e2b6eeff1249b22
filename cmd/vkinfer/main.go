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
//	source <(vkinfer completion bash)
//
// Run `vkinfer help` for every command and `vkinfer CMD -h` for its flags.
//
// The command is thin: it parses flags, decodes images and prints; the work
// is done by the vkinfer, model and engine packages. Exit status: 0 on
// success, 1 on an error, 2 on a usage error, 3 on an internal error (a bug:
// please report it), 130 when interrupted (SIGINT or SIGTERM: a long command
// stops within about a second and prints what it finished; a second signal
// ends the process at once).
//
// Subcommands are github.com/spf13/cobra commands. Each lives in its own
// file, which registers a constructor in an init function:
//
//	func init() { addCommand(newFooCmd) }
//
//	func newFooCmd(e *env) *cobra.Command {
//		var opts fooOptions
//		c := &cobra.Command{Use: "foo FILE", Short: "...", Long: "...",
//			RunE: func(c *cobra.Command, args []string) error { return runFoo(e, &opts, args) }}
//		c.Flags().StringVar(&opts.model, "model", "", "the model `file`")
//		return c
//	}
//
// so adding a command touches no other file. A command returns usagef(...)
// for a mistake in the command line (exit 2) and any other error for a
// failure (exit 1); it writes to e.stdout and e.stderr and stops when e.ctx
// ends.
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
	"syscall"

	"github.com/spf13/cobra"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitInternal = 3
	// exitInterrupted is the shell's status for a command ended by SIGINT
	// (128+2), used for SIGTERM too.
	exitInterrupted = 130
)

// env is what a command runs with: its output streams and a context that
// ends on an interrupt.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
}

// commandFuncs make the subcommands; each command's file adds its own with
// addCommand from an init function.
var commandFuncs []func(e *env) *cobra.Command

// addCommand registers the constructor of a subcommand. `vkinfer help`
// lists the commands in alphabetical order.
func addCommand(f func(e *env) *cobra.Command) { commandFuncs = append(commandFuncs, f) }

// newRoot builds the command tree for one run of the program: flag values
// live in the commands, so every run gets fresh ones.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:           "vkinfer",
		Short:         "run neural networks on any Vulkan GPU",
		SilenceErrors: true, // report prints them
		SilenceUsage:  true,
	}
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.SetHelpFunc(func(c *cobra.Command, _ []string) {
		if c == root {
			usage(c.OutOrStdout(), root)
			return
		}
		printHelp(c.OutOrStdout(), c)
	})
	for _, f := range commandFuncs {
		root.AddCommand(f(e))
	}
	root.SetHelpCommand(newHelpCmd(e, root))
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SuggestionsMinimumDistance = 2
	if c := lookup(root, "completion"); c != nil {
		// cobra's completion command, worded like the others; without a
		// shell it is a usage error rather than help.
		c.Use = "completion SHELL"
		c.Short = "print the shell completion script for bash, zsh, fish or powershell"
		c.Long = `Prints a script that completes vkinfer's commands, flags and file
arguments in the given shell. For the current bash session:

  source <(vkinfer completion bash)

'vkinfer completion SHELL -h' says how to load it in every new session.`
		c.RunE = func(*cobra.Command, []string) error {
			return usagef("completion needs the shell: bash, zsh, fish or powershell")
		}
		for _, s := range c.Commands() {
			s.Short = "print the completion script for " + s.Name()
		}
	}
	return root
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, the next one gets the default action
		// (the process ends) in case a command does not stop.
		<-ctx.Done()
		stop()
	}()
	stderr = &syncWriter{w: stderr}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	root := newRoot(e)

	if len(args) == 0 {
		usage(stderr, root)
		return exitUsage
	}
	args = append([]string(nil), args...)
	switch name := args[0]; {
	case isHelpFlag(name):
		usage(stdout, root)
		return exitOK
	case name == "-version" || name == "--version":
		args[0] = "version"
	case name == cobra.ShellCompRequestCmd || name == cobra.ShellCompNoDescRequestCmd:
		// The shell completion scripts call these hidden commands.
	default:
		if sub := lookup(root, name); sub == nil {
			fmt.Fprintf(stderr, "vkinfer: unknown command %q\n", name)
			if s := root.SuggestionsFor(name); len(s) > 0 {
				fmt.Fprintf(stderr, "Did you mean %s?\n", strings.Join(s, " or "))
			}
			fmt.Fprintln(stderr)
			usage(stderr, root)
			return exitUsage
		}
		if c, _, err := root.Find(args); err == nil {
			args = goFlags(c, args)
		}
	}

	ran := false
	root.PersistentPreRun = func(*cobra.Command, []string) { ran = true }
	root.SetArgs(args)
	c, err := root.ExecuteContextC(ctx)
	if err != nil && !ran {
		// cobra checks arguments before running a command: a usage error.
		var ue *usageError
		if !errors.As(err, &ue) {
			err = &usageError{msg: err.Error()}
		}
	}
	return report(stderr, strings.TrimPrefix(c.CommandPath(), root.Name()+" "), err)
}

// lookup returns the subcommand of root called name, or nil.
func lookup(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// report prints err, if any, and returns the exit status it calls for.
func report(stderr io.Writer, cmd string, err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "vkinfer %s: %s\nRun 'vkinfer %s -h' for usage.\n", cmd, ue.msg, cmd)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "vkinfer: interrupted")
		return exitInterrupted
	}
	// errors.Join puts one error per line; prefix each.
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(stderr, "vkinfer: %s\n", line)
	}
	return exitError
}

// usage prints the list of commands.
func usage(w io.Writer, root *cobra.Command) {
	fmt.Fprint(w, `vkinfer runs neural networks on any Vulkan GPU, or on the CPU through a
Vulkan CPU driver (lavapipe, SwiftShader).

Usage:
  vkinfer COMMAND [flags] [arguments]

Commands:
`)
	for _, c := range root.Commands() {
		if c.IsAvailableCommand() || c == helpCommand(root) {
			fmt.Fprintf(w, "  %-11s %s\n", c.Name(), c.Short)
		}
	}
	fmt.Fprint(w, `
Run 'vkinfer COMMAND -h' for the flags of a command. Flags may come before or
after the arguments.

Environment:
  VKINFER_DEVICE          the device to use (index or name substring), as --device
  VKINFER_VALIDATION      1: enable the Khronos validation layer, as --validation
  VKINFER_VULKAN_LIBRARY  the Vulkan loader library to open (default libvulkan.so.1)
  VKINFER_LIMITS          min: use the Vulkan spec's minimum limits (for testing)
  VKINFER_GEMM            force a GEMM kernel family: storage, texel, subgroup,
                          tiled or gemv (the GPU kernels); default auto (for testing)
  VKINFER_TRACEBACK       set to print the stack trace with an internal error
  VK_ICD_FILENAMES, VK_DRIVER_FILES
                          the Vulkan driver manifest(s) to load (Vulkan loader
                          settings); unset, the loader finds the installed drivers
  XDG_CACHE_HOME          compiled pipelines are kept in $XDG_CACHE_HOME/vkinfer/pipelines
                          (default ~/.cache/vkinfer/pipelines); delete it to clear them

Exit status: 0 success, 1 error, 2 usage error, 3 internal error (please report),
130 interrupted (SIGINT or SIGTERM; what was finished is printed).
`)
}

// helpCommand returns root's help command.
func helpCommand(root *cobra.Command) *cobra.Command {
	return lookup(root, "help")
}

func newHelpCmd(e *env, root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "show help for vkinfer or a command",
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, c := range root.Commands() {
				if c.IsAvailableCommand() {
					names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(_ *cobra.Command, args []string) error {
			switch len(args) {
			case 0:
				usage(e.stdout, root)
				return nil
			case 1:
				if isHelpFlag(args[0]) {
					usage(e.stdout, root)
					return nil
				}
				c := lookup(root, args[0])
				if c == nil {
					return usagef("unknown command %q; run 'vkinfer help' for the list", args[0])
				}
				printHelp(e.stdout, c)
				return nil
			}
			return usagef("help takes at most one command name, got %s", count(len(args), "argument"))
		},
	}
}
