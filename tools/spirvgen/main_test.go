package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	repoShaders = "../../shaders"
	repoSPIRV   = "../../spirv"
)

// TestCommittedOutputIsReproduced regenerates from the committed sources and
// modules and compares with the committed zz_generated.go.
func TestCommittedOutputIsReproduced(t *testing.T) {
	got, err := Generate(repoShaders, repoSPIRV)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(repoSPIRV, "zz_generated.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("spirv/zz_generated.go is not what tools/spirvgen produces from shaders/ and spirv/*.spv: run ./build.sh shaders")
	}
	if !bytes.HasPrefix(got, []byte(Header+"\n")) {
		t.Errorf("output does not start with %q", Header)
	}
	again, err := Generate(repoShaders, repoSPIRV)
	if err != nil || !bytes.Equal(got, again) {
		t.Error("output is not deterministic")
	}
}

// copyTree copies the regular files of src into a new directory.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, shaders, spv string)
		want   string
	}{
		{"source without module", func(t *testing.T, shaders, spv string) {
			if err := os.WriteFile(filepath.Join(shaders, "extra.comp"), []byte("#version 450\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "extra.comp has no compiled"},
		{"module without source", func(t *testing.T, shaders, spv string) {
			if err := os.Remove(filepath.Join(shaders, "relu.comp")); err != nil {
				t.Fatal(err)
			}
		}, "relu.spv has no source"},
		{"corrupt module", func(t *testing.T, shaders, spv string) {
			if err := os.WriteFile(filepath.Join(spv, "relu.spv"), []byte("not spir-v at all!!!"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a SPIR-V module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			shaders, spv := copyTree(t, repoShaders), copyTree(t, repoSPIRV)
			tt.mutate(t, shaders, spv)
			_, err := Generate(shaders, spv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestManifestCoversIncludes(t *testing.T) {
	shaders, spv := copyTree(t, repoShaders), copyTree(t, repoSPIRV)
	before, err := Generate(shaders, spv)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(shaders, "common.glsl")
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, append(b, "// edited\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	after, err := Generate(shaders, spv)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Fatal("editing an include did not change the generated manifest")
	}
}
