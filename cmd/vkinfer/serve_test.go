package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeUsageErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--model-repository is required"},
		{[]string{"serve", "--model-repository", "x", "extra"}, "serve takes no arguments"},
		{[]string{"serve", "--model-repository", "x", "--http-port", "70000"}, "--http-port must be 0..65535"},
		{[]string{"serve", "--model-repository", "x", "--log-format", "xml"}, "--log-format must be text or json"},
		{[]string{"serve", "--model-repository", "x", "--exit-timeout-secs", "0"}, "--exit-timeout-secs must be at least 1"},
		{[]string{"serve", "--model-repository", "x", "--spin-wait", "-1ms"}, "--spin-wait must be 0 or more"},
		{[]string{"serve", "--model-repository", "x", "--pprof", "--allow-metrics=false"}, "--pprof serves on the metrics port"},
	} {
		code, stdout, stderr := cli(t, tt.args...)
		assert.Equal(t, exitUsage, code, tt.args)
		assert.Contains(t, stderr, tt.want)
		assert.Empty(t, stdout)
	}
}

// A repository that is missing or not a folder is named before the device
// opens (no Vulkan needed to get this error).
func TestServeRepositoryChecked(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1")
	missing := filepath.Join(t.TempDir(), "models")
	code, stdout, stderr := cli(t, "serve", "--model-repository", missing)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "vkinfer: "+missing+": no such file; --model-repository takes the model repository folder")
	assert.NotContains(t, stderr, "Vulkan")
	file := filepath.Join(t.TempDir(), "m.bin")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o644))
	code, _, stderr = cli(t, "serve", "--model-repository", file)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "vkinfer: "+file+": not a folder")
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeSIGTERM: the command serves on loopback, answers, and on SIGTERM
// drains and exits 0.
func TestServeSIGTERM(t *testing.T) {
	flags := gpu(t)
	repo := t.TempDir()
	data, err := os.ReadFile(mnistModel)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "mnist", "1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, "mnist", "1", "model.bin"), data, 0o644))
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"serve", "--model-repository", repo, "--http-address", "127.0.0.1", "--http-port", "0",
			"--grpc-address", "127.0.0.1", "--grpc-port", "0", "--metrics-address", "127.0.0.1", "--metrics-port", "0"}, flags...)
		done <- run(args, io.Discard, &stderr)
	}()
	addr := regexp.MustCompile(`msg=serving http=(127\.0\.0\.1:\d+)`)
	var m []string
	deadline := time.Now().Add(60 * time.Second)
	for m = addr.FindStringSubmatch(stderr.String()); m == nil; m = addr.FindStringSubmatch(stderr.String()) {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		require.False(t, time.Now().After(deadline), "serve did not start in 60 s: %s", stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + m[1] + "/v2/health/ready")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	require.Equal(t, exitOK, <-done, stderr.String())
	assert.Contains(t, stderr.String(), "msg=drained")
	assert.NotContains(t, stderr.String(), "vkinfer: validation ")
}

func TestServeBadRepository(t *testing.T) {
	flags := gpu(t)
	code, _, stderr := cli(t, append([]string{"serve", "--model-repository", filepath.Join(t.TempDir(), "none")}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.True(t, strings.Contains(stderr, "model repository") && strings.Contains(stderr, "no such file"), stderr)
}
