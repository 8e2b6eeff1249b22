package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer/internal/npy"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/ops"
)

// withOp writes the shipped MNIST model with its first Relu's op replaced
// by op and returns the file's path.
func withOp(t *testing.T, op string) string {
	t.Helper()
	m, err := model.ReadFile(mnistModel)
	require.NoError(t, err)
	for i := range m.Nodes {
		if m.Nodes[i].Op == ops.OpRelu {
			m.Nodes[i].Op = op
			break
		}
	}
	path := filepath.Join(t.TempDir(), "odd.bin")
	require.NoError(t, m.WriteFile(path))
	return path
}

// info marks a node no layer runs and ends with a line naming it; convert
// writes the file but warns.
func TestUnsupportedOpsReported(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1") // no Vulkan needed
	odd := withOp(t, "NonMaxSuppression")
	code, stdout, stderr := cli(t, "info", odd)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `(?m)^! relu1 +NonMaxSuppression +fc1 -> relu1 +<- unsupported op$`, stdout)
	assert.Regexp(t, `(?m)^  fc1 +Dense`, stdout)
	assert.Contains(t, stdout, "\nunsupported: 1 of 6 nodes use an op no layer of vkinfer runs: relu1 (NonMaxSuppression); loading the model on a device fails (docs/OPS.md")

	code, stdout, stderr = cli(t, "info", "--json", odd)
	require.Equal(t, exitOK, code, stderr)
	var info modelInfoJSON
	require.NoError(t, json.Unmarshal([]byte(stdout), &info))
	assert.Equal(t, []string{"relu1 (NonMaxSuppression)"}, info.Unsupported)
	assert.True(t, info.Nodes[0].Supported)
	assert.False(t, info.Nodes[1].Supported)

	code, stdout, stderr = cli(t, "info", mnistModel)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "\nsupported: every node runs")
	assert.NotContains(t, stdout, "\n!")
	// Shape arithmetic runs on the host when a plan is made: not marked.
	code, stdout, stderr = cli(t, "info", filepath.Join("..", "..", "testdata", "onnxcases", "any_shape_input", "model.onnx"))
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "\nsupported: every node runs")
	assert.Regexp(t, `(?m)^  shape +Shape +r -> s`, stdout)
	assert.Regexp(t, `(?m)^inputs +x any shape$`, stdout)
	assert.Regexp(t, `(?m)^outputs +r unknown \(scores, not probabilities\), y \[-1 5\] \(probabilities\)$`, stdout)

	out := filepath.Join(t.TempDir(), "out.bin")
	code, stdout, stderr = cli(t, "convert", odd, out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "wrote "+out)
	assert.Contains(t, stderr, "vkinfer: warning: "+out+": 1 of 6 nodes use an op no layer of vkinfer runs: relu1 (NonMaxSuppression)")
	_, err := os.Stat(out)
	require.NoError(t, err)

	code, _, stderr = cli(t, "convert", mnistModel, out)
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stderr, "warning")
}

// convert --softmax turns a model whose output is logits into one whose
// output is probabilities, under the same output name.
func TestConvertSoftmax(t *testing.T) {
	t.Setenv("VKINFER_VULKAN_LIBRARY", "/nonexistent/libvulkan.so.1")
	dir := t.TempDir()
	out := filepath.Join(dir, "probs.bin")
	code, stdout, stderr := cli(t, "convert", "--softmax", onnxModel, out)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stdout, "4 nodes (Dense, Relu, Softmax)")
	m, err := model.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "preds", m.Outputs[0].Name)
	assert.True(t, m.IsProbability("preds"))
	last := m.Nodes[len(m.Nodes)-1]
	assert.Equal(t, []string{"preds_logits"}, last.Inputs)
	assert.Equal(t, "preds_logits", m.Nodes[len(m.Nodes)-2].Outputs[0])

	plain, err := readModel(onnxModel)
	require.NoError(t, err)
	assert.False(t, plain.IsProbability("preds"))

	code, stdout, _ = cli(t, "info", out)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "preds [-1 2] (probabilities)")

	// An output named logits becomes "probs"; the logits keep their name.
	named, err := readModel(onnxModel)
	require.NoError(t, err)
	for i := range named.Nodes {
		for j, o := range named.Nodes[i].Outputs {
			if o == "preds" {
				named.Nodes[i].Outputs[j] = "logits"
			}
		}
	}
	named.Outputs[0].Name = "logits"
	var buf bytes.Buffer
	require.NoError(t, named.Encode(&buf))
	logitsBin, probsBin := filepath.Join(dir, "logits.bin"), filepath.Join(dir, "named.bin")
	require.NoError(t, os.WriteFile(logitsBin, buf.Bytes(), 0o644))
	code, _, stderr = cli(t, "convert", "--softmax", logitsBin, probsBin)
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, stderr, `output "logits" is now named "probs"`)
	m, err = model.ReadFile(probsBin)
	require.NoError(t, err)
	assert.Equal(t, "probs", m.Outputs[0].Name)
	assert.True(t, m.IsProbability("probs"))
	assert.Equal(t, []string{"logits"}, m.Nodes[len(m.Nodes)-1].Inputs)
	code, stdout, _ = cli(t, "info", probsBin)
	require.Equal(t, exitOK, code)
	assert.Contains(t, stdout, "probs [-1 2] (probabilities)")
	assert.NotContains(t, stdout, "logits [")

	// Twice is a mistake.
	code, _, stderr = cli(t, "convert", "--softmax", out, filepath.Join(dir, "twice.bin"))
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, `output "preds" already ends in a Softmax`)
	_, err = os.Stat(filepath.Join(dir, "twice.bin"))
	assert.True(t, os.IsNotExist(err))
}

// writePNG writes a w×h gray PNG with the given pixel values.
func writePNG(t *testing.T, path string, w, h int, pix ...uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, pix)
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
}

// A model without a final Softmax prints scores, not percentages, and its
// JSON says "score"; with --softmax it says "probability".
func TestPredictScores(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	logits, probs := filepath.Join(dir, "logits.bin"), filepath.Join(dir, "probs.bin")
	for _, args := range [][]string{{onnxModel, logits}, {"--softmax", onnxModel, probs}} {
		code, _, stderr := cli(t, append([]string{"convert", "--image", "3x1", "--scale", "1"}, args...)...)
		require.Equal(t, exitOK, code, stderr)
	}
	img := filepath.Join(dir, "x.png")
	writePNG(t, img, 3, 1, 200, 30, 90)

	code, stdout, stderr := cli(t, append([]string{"predict", "--model", logits, img}, flags...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, stdout, "%")
	assert.Regexp(t, `(?m)^  [01] +-?\d`, stdout)
	assert.Contains(t, stderr, "raw scores, not probabilities")

	stdout = gpuCLI(t, flags, "predict", "--json", "--model", logits, img)
	assert.Contains(t, stdout, `"score"`)
	assert.NotContains(t, stdout, `"probability"`)

	code, stdout, stderr = cli(t, append([]string{"predict", "--model", probs, img}, flags...)...)
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `(?m)^  [01] +\d+\.\d\d%$`, stdout)
	assert.NotContains(t, stderr, "raw scores")
	stdout = gpuCLI(t, flags, "predict", "--json", "--model", probs, img)
	assert.Contains(t, stdout, `"probability"`)
	assert.NotContains(t, stdout, `"score"`)
}

// predict DIR classifies the images in the folder (and its subfolders),
// in batches of --batch with the same results as one batch.
func TestPredictDirectory(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	pngs, err := filepath.Glob(filepath.Join(imagesDir, "*.png"))
	require.NoError(t, err)
	sub := filepath.Join(dir, "more")
	require.NoError(t, os.Mkdir(sub, 0o755))
	var want []string
	for i, p := range pngs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		to := filepath.Join(dir, filepath.Base(p))
		if i%2 == 1 {
			to = filepath.Join(sub, filepath.Base(p))
		}
		require.NoError(t, os.WriteFile(to, b, 0o644))
		want = append(want, to)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".hidden.png"), []byte("skipped"), 0o644))

	var results [2][]predictionJSON
	for i, batch := range []string{"256", "3"} {
		stdout := gpuCLI(t, flags, "predict", "--json", "--batch", batch, "--model", mnistModel, dir+"/")
		require.NoError(t, json.Unmarshal([]byte(stdout), &results[i]), stdout)
	}
	require.Len(t, results[0], len(want))
	var got []string
	for i, r := range results[0] {
		got = append(got, r.File)
		assert.Equal(t, digitOf(r.File), r.Top[0].Label, r.File)
		assert.Equal(t, r.File, results[1][i].File)
		assert.Equal(t, r.Top[0].Index, results[1][i].Top[0].Index)
		assert.InDelta(t, float64(*r.Top[0].Probability), float64(*results[1][i].Top[0].Probability), 1e-5)
	}
	assert.ElementsMatch(t, want, got)

	empty := t.TempDir()
	code, _, stderr := cli(t, "predict", "--model", mnistModel, empty)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, empty+": no image files (png, jpg, jpeg, gif, bmp, webp) in the folder")
}

// The progress bar appears only after progressDelay, counts, and is erased.
func TestProgress(t *testing.T) {
	var nilBar *progress // what a pipe gets: every call is a no-op
	nilBar.add(1)
	nilBar.describe("x")
	nilBar.stop()

	var b syncBuffer
	p := startProgress(&b, 10, "predict", "images")
	p.stop()
	time.Sleep(2 * progressDelay) // the timer was stopped: no bar
	assert.Empty(t, b.String())

	p = startProgress(&b, 10, "predict", "images")
	p.show() // as the timer does after progressDelay
	p.add(4)
	p.describe("predict more")
	p.add(6)
	p.stop()
	p.stop()
	out := b.String()
	assert.Contains(t, out, "predict more")
	assert.Contains(t, out, "10/10")
	assert.True(t, strings.HasSuffix(out, "\r"), "the bar is erased: %q", out)
}

// syncBuffer is a bytes.Buffer safe for the progress bar's timer.
type syncBuffer struct {
	w syncWriter
	b bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return s.b.String()
}

// run writes an output to standard output with --output -, prints small
// outputs as text or JSON without --output, and gives the same results in
// runs of --batch rows as in one run.
func TestRunOutputs(t *testing.T) {
	flags := gpu(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.npy")
	x := randomData(3, 5*784)
	for i := range x {
		x[i] = (x[i] + 1) / 2
	}
	writeNpyFile(t, in, []int{5, 784}, x)
	out := filepath.Join(dir, "out.npy")
	gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in, "--output", out)
	_, want := readNpyFile(t, out)

	// .npy on standard output; the report goes to standard error.
	code, stdout, stderr := cli(t, append([]string{"run", "--model", mnistModel, "--input", in, "--output", "-"}, flags...)...)
	require.Equal(t, exitOK, code, stderr)
	shape, got, err := npy.Read(strings.NewReader(stdout))
	require.NoError(t, err)
	assert.Equal(t, []int{5, 10}, shape)
	assert.Equal(t, want, got)
	assert.Contains(t, stderr, "probs [5 10] -> -")
	_, err = os.Stat("-")
	assert.True(t, os.IsNotExist(err), "no file named -")

	// Text: the name and shape, then a row per line.
	stdout = gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in)
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	require.Len(t, lines, 1+5)
	assert.Equal(t, "probs [5 10]", lines[0])
	row := strings.Fields(lines[1])
	require.Len(t, row, 10)
	v, err := strconv.ParseFloat(row[3], 32)
	require.NoError(t, err)
	assert.InDelta(t, want[3], v, 1e-6)

	// JSON.
	stdout = gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in, "--json")
	var js []struct {
		Name  string    `json:"name"`
		Shape []int     `json:"shape"`
		Data  []float32 `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &js), stdout)
	require.Len(t, js, 1)
	assert.Equal(t, "probs", js[0].Name)
	assert.Equal(t, []int{5, 10}, js[0].Shape)
	assert.Equal(t, want, js[0].Data)

	// Runs of 2 rows (2, 2, 1) give what one run gives.
	gpuCLI(t, flags, "run", "--model", mnistModel, "--input", in, "--output", out, "--batch", "2")
	_, got = readNpyFile(t, out)
	require.Len(t, got, len(want))
	for i := range want {
		assert.InDelta(t, want[i], got[i], 1e-6, "value %d", i)
	}

	// Too much to print.
	big := filepath.Join(dir, "big.npy")
	writeNpyFile(t, big, []int{maxPrinted/10 + 1, 784}, make([]float32, (maxPrinted/10+1)*784))
	code, stdout, stderr = cli(t, append([]string{"run", "--model", mnistModel, "--input", big}, flags...)...)
	assert.Equal(t, exitUsage, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "too many to print")
	assert.Contains(t, stderr, "--output probs=FILE.npy")
}

// eval reports loading and compiling apart from the timed runs.
func TestEvalLoadTimeApart(t *testing.T) {
	flags := gpu(t)
	images, labels := mnistData(t)
	stdout := gpuCLI(t, flags, "eval", "--model", mnistModel, "--images", images, "--labels", labels, "--limit", "300", "--batch", "128", "--json")
	var res evalResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	assert.Greater(t, res.LoadSeconds, 0.0)
	assert.Greater(t, res.CompileSeconds, 0.0)
	assert.Greater(t, res.Seconds, 0.0)
	stdout = gpuCLI(t, flags, "eval", "--model", mnistModel, "--images", images, "--labels", labels, "--limit", "300")
	assert.Regexp(t, `(?m)^load +\d+\.\d+ s to open the device and load the model, \d+\.\d+ s to compile`, stdout)
}

// autoContrast maps the darkest luma to black and the lightest to white.
func TestAutoContrast(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 1))
	img.Set(0, 0, color.RGBA{20, 30, 90, 255})   // luma ~36
	img.Set(1, 0, color.RGBA{255, 200, 40, 255}) // luma ~198
	img.Set(2, 0, color.RGBA{137, 115, 65, 255}) // in between
	out := autoContrast(img, true)
	luma := func(x int) float64 {
		return float64(color.GrayModel.Convert(out.At(x, 0)).(color.Gray).Y)
	}
	assert.InDelta(t, 0, luma(0), 1)
	assert.InDelta(t, 255, luma(1), 1)
	assert.Greater(t, luma(2), 50.0)
	assert.Less(t, luma(2), 200.0)
	flat := image.NewGray(image.Rect(0, 0, 2, 2))
	assert.Same(t, image.Image(flat), autoContrast(flat, true))
	rgb := autoContrast(img, false) // the same map on each channel, clipped
	r, g, b, _ := rgb.At(1, 0).RGBA()
	assert.Equal(t, uint32(0xffff), r)
	assert.Equal(t, uint32(0xffff), g)
	assert.Less(t, b, uint32(0x1000))
}

// The coloured example digit (orange on dark blue: luma ~201 on ~34) scores
// lower than its PNG because of its levels, not its JPEG compression or the
// gray conversion; --autocontrast brings it back.
func TestPredictAutoContrast(t *testing.T) {
	flags := gpu(t)
	jpg := filepath.Join(imagesDir, "digit-3-t10k-0018-rgb.jpg")
	score := func(args ...string) float64 {
		stdout := gpuCLI(t, flags, append([]string{"predict", "--json", "--top", "1", "--model", mnistModel, jpg}, args...)...)
		var res []predictionJSON
		require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
		require.Equal(t, "3", res[0].Top[0].Label)
		return float64(*res[0].Top[0].Probability)
	}
	plain, stretched := score(), score("--autocontrast")
	assert.Greater(t, stretched, 0.95)
	assert.Greater(t, stretched, plain)
}

// The help lists every environment variable vkinfer reads.
func TestHelpEnvironment(t *testing.T) {
	code, stdout, _ := cli(t, "help")
	require.Equal(t, exitOK, code)
	for _, v := range []string{"VKINFER_DEVICE", "VKINFER_VALIDATION", "VKINFER_VULKAN_LIBRARY", "VKINFER_LIMITS", "VKINFER_GEMM",
		"VKINFER_TRACEBACK", "VK_ICD_FILENAMES", "VK_DRIVER_FILES", "XDG_CACHE_HOME", "~/.cache/vkinfer/pipelines"} {
		assert.Contains(t, stdout, v)
	}
	t.Setenv("VKINFER_VALIDATION", "1")
	c := newPredictCmd(&env{})
	v, err := c.Flags().GetBool("validation")
	require.NoError(t, err)
	assert.True(t, v, "VKINFER_VALIDATION=1 turns --validation on")
}
