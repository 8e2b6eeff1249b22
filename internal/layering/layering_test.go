// Package layering holds the test that keeps the package layering of
// docs/ARCHITECTURE.md ("Layering rules")
// honest: it walks `go list -deps` and fails when an import breaks a rule.
package layering

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const mod = "github.com/vkinfer/vkinfer"

// pkg is what `go list -json` says of one package.
type pkg struct {
	ImportPath string
	CgoFiles   []string
	Deps       []string
	Imports    []string
}

// list runs `go list -json -deps=false` on the module's packages with env.
func list(t *testing.T, env []string, patterns ...string) []pkg {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", append([]string{"list", "-json"}, patterns...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %v: %v\n%s", patterns, err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// ours returns the module packages among paths, without the module prefix
// ("" for the root package).
func ours(paths []string) []string {
	var out []string
	for _, p := range paths {
		if p == mod {
			out = append(out, "vkinfer")
		} else if rel, ok := strings.CutPrefix(p, mod+"/"); ok {
			out = append(out, rel)
		}
	}
	return out
}

func under(p, prefix string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }

// The rules: for each package (and those under it), the module packages it
// may depend on, directly or not.
var allowed = map[string][]string{
	"engine":     {"engine", "spirv"},                              // no graphs, no files
	"spirv":      {"spirv"},                                        // generated data
	"model":      {"model", "internal/idx", "internal/npy"},        // the graph; no ops, no device
	"model/onnx": {"model", "ops", "internal/idx", "internal/npy"}, // the importer folds constants with ops
	"ops":        {"model", "internal/idx", "internal/npy"},        // op semantics: the model only
	"planner":    {"ops", "model", "internal/idx", "internal/npy"}, // no layers, no device
	"layers":     {"engine", "spirv", "ops", "model", "internal/idx", "internal/npy"},
}

func TestLayering(t *testing.T) {
	for _, p := range list(t, []string{"CGO_ENABLED=1"}, "./...") { // the whole tree, engine included
		name := ours([]string{p.ImportPath})[0]
		prefix := "" // the longest rule that covers the package
		for r := range allowed {
			if under(name, r) && len(r) > len(prefix) {
				prefix = r
			}
		}
		if ok, has := allowed[prefix]; has {
			for _, dep := range ours(p.Deps) {
				fine := false
				for _, a := range ok {
					fine = fine || under(dep, a) || under(dep, prefix)
				}
				if !fine {
					t.Errorf("%s depends on %s: the layering allows only %v (see docs/ARCHITECTURE.md)", name, dep, ok)
				}
			}
		}
		if len(p.CgoFiles) > 0 && name != "engine/internal/vk" {
			t.Errorf("%s has cgo files %v: cgo belongs in engine/internal/vk only", name, p.CgoFiles)
		}
	}
}

// model, the op semantics and the planner build without cgo, so converters
// and the planner's tests build with CGO_ENABLED=0.
func TestPureGo(t *testing.T) {
	for _, p := range list(t, []string{"CGO_ENABLED=0"}, "./model/...", "./ops/...", "./planner/...") {
		for _, dep := range append([]string{p.ImportPath}, p.Deps...) {
			if dep == "runtime/cgo" || under(dep, mod+"/engine") {
				t.Errorf("%s depends on %s, which needs cgo or a device", p.ImportPath, dep)
			}
		}
	}
	root, _ := filepath.Abs("../..")
	cmd := exec.Command("go", "build", "./model/...", "./ops/...", "./planner/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}
}
