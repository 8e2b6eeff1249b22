package engine

import (
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// mesaCacheMinFree is the free space below which Mesa's shader cache is
// turned off: its index file alone is 1.3 MB.
const mesaCacheMinFree = 64 << 20

var mesaCacheOnce sync.Once

// guardMesaCache turns Mesa's on-disk shader cache off for this process
// when the file system holding it is (nearly) full, before any driver is
// loaded.
//
// Mesa (lavapipe and Mesa's GPU drivers) maps its cache index file into
// memory after growing it with ftruncate, which allocates no blocks; on a
// full file system the first write to the mapping raises SIGBUS and the
// process dies (reproduced with Mesa 22.3 on a full 512 KiB tmpfs:
// `vkinfer predict` exits with status 135). MESA_SHADER_CACHE_DISABLE=true
// avoids it, at the cost of compiling shaders again in each process. A user
// who set MESA_SHADER_CACHE_DISABLE either way is left alone.
func guardMesaCache(log *slog.Logger) {
	mesaCacheOnce.Do(func() {
		if _, set := os.LookupEnv("MESA_SHADER_CACHE_DISABLE"); set {
			return
		}
		dir := mesaCacheDir()
		if dir == "" {
			return
		}
		free, ok := freeBytes(dir)
		if !ok || free >= mesaCacheMinFree {
			return
		}
		// Go's os.Setenv also sets the C environment, which Mesa reads.
		if os.Setenv("MESA_SHADER_CACHE_DISABLE", "true") == nil {
			log.Warn("vkinfer: Mesa's shader cache is off for this process: its file system is nearly full (Mesa crashes with SIGBUS when the cache cannot grow); free some space or set MESA_SHADER_CACHE_DIR",
				"dir", dir, "free_bytes", free)
		}
	})
}

// mesaCacheDir is where Mesa keeps its shader cache, as Mesa works it out
// (MESA_SHADER_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache, each with
// mesa_shader_cache appended), or "" when there is no home.
func mesaCacheDir() string {
	base := os.Getenv("MESA_SHADER_CACHE_DIR")
	if base == "" {
		base = os.Getenv("XDG_CACHE_HOME")
	}
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "mesa_shader_cache")
}

// freeBytes returns the bytes an unprivileged process may still write on
// the file system of path, or of its nearest existing parent.
func freeBytes(path string) (uint64, bool) {
	for p := path; ; p = filepath.Dir(p) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err == nil {
			return st.Bavail * uint64(st.Bsize), true
		}
		if parent := filepath.Dir(p); parent == p {
			return 0, false
		}
	}
}
