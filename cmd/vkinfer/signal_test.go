package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interruptAfter makes the next command send this process SIGINT after its
// model's nth successful run (as Ctrl-C would), once.
func interruptAfter(t *testing.T, n int) {
	t.Helper()
	afterRun = func(ctx context.Context, runs int) {
		if runs == n {
			require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
			// The signal is delivered asynchronously; wait for it to end
			// the command's context before the next run, so that the count
			// of finished work is exact.
			select {
			case <-ctx.Done():
			case <-time.After(time.Minute):
				t.Error("SIGINT did not end the command's context")
			}
		}
	}
	t.Cleanup(func() { afterRun = nil })
}

// Each long command stops at SIGINT, prints what it finished, marked as
// partial, and exits 130.
func TestInterruptedCommandsReportWhatTheyFinished(t *testing.T) {
	flags := gpu(t)
	images, labels := mnistData(t)

	t.Run("eval", func(t *testing.T) {
		// 1 warm-up run on zeros, then batches of 10: stop after 3 batches.
		interruptAfter(t, 4)
		code, stdout, stderr := cli(t, append([]string{"eval", "--model", mnistModel, "--images", images, "--labels", labels,
			"--batch", "10", "--limit", "5000", "--json"}, flags...)...)
		require.Equal(t, exitInterrupted, code, stderr)
		assert.Contains(t, stderr, "vkinfer: interrupted")
		var res evalResult
		require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
		assert.True(t, res.Partial)
		assert.Equal(t, 30, res.Count, "images evaluated before the interrupt")
		assert.Equal(t, 5000, res.Total)
		assert.Greater(t, res.Accuracy, 0.8)

		interruptAfter(t, 4)
		code, stdout, _ = cli(t, append([]string{"eval", "--model", mnistModel, "--images", images, "--labels", labels,
			"--batch", "10", "--limit", "5000"}, flags...)...)
		require.Equal(t, exitInterrupted, code)
		assert.Contains(t, stdout, "PARTIAL    interrupted after 30 of 5000 images")
		assert.Regexp(t, `accuracy +\d+\.\d\d% \(\d+ of 30\)`, stdout)
	})

	t.Run("predict", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(imagesDir, "*.png"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(files), 3)
		interruptAfter(t, 2)
		code, stdout, stderr := cli(t, append(append([]string{"predict", "--model", mnistModel, "--batch", "1"}, files...), flags...)...)
		require.Equal(t, exitInterrupted, code, stderr)
		assert.Contains(t, stderr, "interrupted after 2 of")
		assert.Contains(t, stdout, filepath.Base(files[1]))
		assert.NotContains(t, stdout, filepath.Base(files[2]))
	})

	t.Run("run", func(t *testing.T) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.npy")
		writeNpyFile(t, in, []int{50, 784}, make([]float32, 50*784))
		out := filepath.Join(dir, "out.npy")
		require.NoError(t, os.WriteFile(out, []byte("the user's file"), 0o644))
		interruptAfter(t, 2)
		code, _, stderr := cli(t, append([]string{"run", "--model", mnistModel, "--input", in, "--output", out, "--batch", "5"}, flags...)...)
		require.Equal(t, exitInterrupted, code, stderr)
		assert.Contains(t, stderr, "interrupted after 10 of 50 rows; no output was written")
		got, err := os.ReadFile(out)
		require.NoError(t, err)
		assert.Equal(t, "the user's file", string(got))
	})

	t.Run("bench", func(t *testing.T) {
		// The first run, then 2 warm-up runs, then 5 timed ones.
		interruptAfter(t, 8)
		code, stdout, stderr := cli(t, append([]string{"bench", "--model", mnistModel, "--warmup", "2", "--runs", "1000000"}, flags...)...)
		require.Equal(t, exitInterrupted, code, stderr)
		assert.Contains(t, stdout, "interrupted after 5 of 1000000 timed runs")
		assert.Contains(t, stdout, "latency     p50")
	})
}

// The built binary stops on SIGINT and on SIGTERM with exit status 130,
// whether the signal comes during loading or during the runs.
func TestSignalsEndTheBinary(t *testing.T) {
	flags := gpu(t)
	bin := filepath.Join(t.TempDir(), "vkinfer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = os.Environ()
	if hadCacheHome { // else go finds its build cache under $HOME again
		build.Env = append(build.Env, "XDG_CACHE_HOME="+userCacheHome)
	} else {
		build.Env = append(build.Env, "XDG_CACHE_HOME=")
	}
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, delay := range []time.Duration{300 * time.Millisecond, time.Second} {
			t.Run(sig.String()+"/after "+delay.String(), func(t *testing.T) {
				// A million runs: never done before the signal.
				cmd := exec.Command(bin, append([]string{"bench", "--model", mnistModel, "--runs", "1000000"}, flags...)...)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				require.NoError(t, cmd.Start())
				time.Sleep(delay) // not an assertion: the signal lands in loading or in the runs
				require.NoError(t, cmd.Process.Signal(sig))
				err := cmd.Wait()
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee), "bench ended with %v; stderr:\n%s", err, stderr.String())
				if ee.ExitCode() == -1 {
					// Killed by the signal itself: it came before the
					// handler was installed (the first instants of main).
					t.Logf("ended by %v before the handler was installed", ee.ProcessState)
					return
				}
				assert.Equal(t, exitInterrupted, ee.ExitCode(), "stderr:\n%s", stderr.String())
				assert.Contains(t, stderr.String(), "vkinfer: interrupted")
			})
		}
	}
}

// Output files: checked before the model runs, written through a temporary
// file, and what was at the path survives a failed write; a device given as
// the output is written in place, never removed.
func TestOutputFilesSurviveFailure(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	writeNpyFile(t, in, []int{2, 784}, make([]float32, 2*784))
	runCmd := func(out string) (int, string) {
		code, _, stderr := cli(t, append([]string{"run", "--model", mnistModel, "--input", in, "--output", out}, flags...)...)
		return code, stderr
	}

	// A folder that does not exist, or a directory as the file: refused
	// before running.
	code, stderr := runCmd(filepath.Join(dir, "missing", "out.npy"))
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "nothing was run")
	code, stderr = runCmd(dir)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "is a directory")

	// A device: written in place; /dev/full fails like a full disk and
	// stays a device.
	for _, dev := range []string{"/dev/null", "/dev/full"} {
		before, err := os.Stat(dev)
		if err != nil {
			continue
		}
		code, stderr = runCmd(dev)
		if dev == "/dev/full" {
			assert.Equal(t, exitError, code)
			assert.Contains(t, stderr, "no space left on device")
		} else {
			assert.Equal(t, exitOK, code, stderr)
		}
		after, err := os.Stat(dev)
		require.NoError(t, err, "%s was removed", dev)
		assert.True(t, os.SameFile(before, after), "%s was replaced", dev)
	}

	// convert to /dev/null leaves it a device too.
	if before, err := os.Stat("/dev/null"); err == nil {
		code, _, stderr := cli(t, "convert", mnistModel, "/dev/null")
		assert.Equal(t, exitOK, code, stderr)
		after, err := os.Stat("/dev/null")
		require.NoError(t, err)
		assert.True(t, os.SameFile(before, after))
	}
	// A failed convert (unreadable input) leaves the old output alone.
	out := filepath.Join(dir, "model.bin")
	require.NoError(t, os.WriteFile(out, []byte("keep me"), 0o644))
	code, _, _ = cli(t, "convert", filepath.Join(dir, "missing.onnx"), out)
	assert.Equal(t, exitError, code)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(got))
}
