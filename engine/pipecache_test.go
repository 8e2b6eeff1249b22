package engine_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
)

func cacheFile(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	require.NoError(t, err)
	if len(files) == 0 {
		return ""
	}
	require.Len(t, files, 1)
	return files[0]
}

// skipSwiftShader skips a test of the cache file on SwiftShader, which has
// none (engine.Device.pipeCachePath), after checking that none is written.
func skipSwiftShader(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	d := gputest.Open(t, engine.Options{PipelineCacheDir: dir})
	if d.Info().DriverID != engine.DriverSwiftShader {
		require.NoError(t, d.Close())
		return
	}
	_, err := d.Pipeline("relu", engine.Spec{"local_size_x": 32})
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.Empty(t, cacheFile(t, dir), "a pipeline cache file was written for SwiftShader")
	t.Skip("SwiftShader: vkinfer keeps no pipeline cache file (its data holds no pipelines)")
}

// The pipeline cache survives a restart, and a damaged, truncated or foreign
// file is ignored and replaced, never handed to the driver.
func TestPipelineCacheOnDisk(t *testing.T) {
	skipSwiftShader(t)
	dir := t.TempDir()
	use := func() {
		d := gputest.Open(t, engine.Options{PipelineCacheDir: dir})
		for _, n := range []uint32{32, 64} {
			_, err := d.Pipeline("relu", engine.Spec{"local_size_x": n})
			require.NoError(t, err)
		}
		require.NoError(t, d.Close())
	}
	use()
	path := cacheFile(t, dir)
	require.NotEmpty(t, path, "no cache file written")
	good, err := os.ReadFile(path)
	require.NoError(t, err)

	damage := map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte(nil), good...); b[len(b)-1] ^= 0xff; return b }(),
		"truncated":    good[:len(good)/2],
		"header only":  good[:10],
		"empty":        {},
		"garbage":      []byte("this is not a pipeline cache at all, just text that happens to be long enough"),
	}
	for name, data := range damage {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, data, 0o644))
			use()
			again, err := os.ReadFile(path)
			require.NoError(t, err, "cache file not rewritten")
			require.NotEqual(t, data, again)
			require.Equal(t, string(good[:8]), string(again[:8]))
		})
	}

	// The default place is under the user cache dir; "-" disables the cache.
	home := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", home)
	d := gputest.Open(t, engine.Options{PipelineCacheDir: "-"})
	_, err = d.Pipeline("relu", nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.Empty(t, cacheFile(t, filepath.Join(home, "vkinfer", "pipelines")), "disabled cache written")
	d = gputest.Open(t, engine.Options{})
	_, err = d.Pipeline("relu", nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.NotEmpty(t, cacheFile(t, filepath.Join(home, "vkinfer", "pipelines")), "default cache not written")
}

// Whatever sits at the cache path, opening a device neither blocks (a FIFO),
// nor reads without bound (a symbolic link to /dev/zero, a huge sparse
// file), nor replaces or removes what is not a regular file.
func TestPipelineCacheHostilePath(t *testing.T) {
	skipSwiftShader(t)
	dir := t.TempDir()
	use := func() {
		d := gputest.Open(t, engine.Options{PipelineCacheDir: dir})
		_, err := d.Pipeline("relu", engine.Spec{"local_size_x": 32})
		require.NoError(t, err)
		require.NoError(t, d.Close())
	}
	use()
	path := cacheFile(t, dir)
	require.NotEmpty(t, path)
	require.NoError(t, os.Remove(path))

	cases := []struct {
		name string
		make func() error
		kind os.FileMode // what must still be there afterwards
	}{
		{"fifo", func() error { return syscall.Mkfifo(path, 0o644) }, os.ModeNamedPipe},
		{"symlink to /dev/zero", func() error { return os.Symlink("/dev/zero", path) }, os.ModeSymlink},
		{"directory", func() error { return os.Mkdir(path, 0o755) }, os.ModeDir},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, c.make())
			defer os.RemoveAll(path)
			use()
			st, err := os.Lstat(path)
			require.NoError(t, err, "the %s was removed", c.name)
			require.Equal(t, c.kind, st.Mode().Type(), "the %s was replaced", c.name)
		})
	}

	t.Run("oversized", func(t *testing.T) {
		f, err := os.Create(path)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(1<<30)) // sparse: claims 1 GiB
		require.NoError(t, f.Close())
		use()
		st, err := os.Stat(path)
		require.NoError(t, err)
		require.Less(t, st.Size(), int64(1<<20), "an oversized cache file is replaced by a valid one")
	})
}
