package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer/model"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version and VCS revision recorded in the binary are shown.
var version = ""

func init() { addCommand(newVersionCmd) }

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:               "version",
		Short:             "print the version of vkinfer",
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runVersion(e, args) },
	}
}

func runVersion(e *env, pos []string) error {
	if len(pos) > 0 {
		return usagef("version takes no arguments, got %q", pos)
	}
	fmt.Fprintf(e.stdout, "vkinfer %s (%s, %s/%s; reads mlp.bin format version %d)\n",
		versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH, model.Version)
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	v := "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v = bi.Main.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" && (v == "(devel)" || v == "") {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		v += " " + rev + modified
	}
	return v
}
