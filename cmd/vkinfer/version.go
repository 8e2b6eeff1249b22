package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/vkinfer/vkinfer/model"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version and VCS revision recorded in the binary are shown.
var version = ""

var versionCmd = &command{
	name:    "version",
	summary: "print the version of vkinfer",
}

func init() { versionCmd.run = runVersion }

func runVersion(e *env, args []string) error {
	fs := newFlags(versionCmd)
	pos, err := parseFlags(e, versionCmd, fs, args)
	if err != nil {
		return err
	}
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
