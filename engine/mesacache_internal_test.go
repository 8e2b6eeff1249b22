package engine

import (
	"path/filepath"
	"testing"
)

func TestMesaCacheDir(t *testing.T) {
	t.Setenv("MESA_SHADER_CACHE_DIR", "/x/mesa")
	if got := mesaCacheDir(); got != "/x/mesa/mesa_shader_cache" {
		t.Errorf("with MESA_SHADER_CACHE_DIR: %q", got)
	}
	t.Setenv("MESA_SHADER_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "/y")
	if got := mesaCacheDir(); got != "/y/mesa_shader_cache" {
		t.Errorf("with XDG_CACHE_HOME: %q", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/z")
	if got := mesaCacheDir(); got != "/home/z/.cache/mesa_shader_cache" {
		t.Errorf("with HOME: %q", got)
	}
}

// freeBytes looks at the nearest folder that exists.
func TestFreeBytes(t *testing.T) {
	dir := t.TempDir()
	a, ok := freeBytes(dir)
	if !ok {
		t.Fatal("no figure for an existing folder")
	}
	b, ok := freeBytes(filepath.Join(dir, "not", "yet", "made"))
	if !ok {
		t.Fatal("no figure for a folder to be made")
	}
	// The same file system: the figures differ only by what others wrote
	// meanwhile; both are positive on a machine that can run the tests.
	if a == 0 || b == 0 {
		t.Errorf("free bytes %d and %d", a, b)
	}
}
