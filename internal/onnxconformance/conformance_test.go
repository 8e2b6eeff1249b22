package onnxconformance

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx"
)

// Tolerance of the comparison with the expected outputs: |got - want| <=
// absTol + relTol·|want|. NaN must meet NaN, an infinity the same infinity.
const (
	absTol = 1e-4
	relTol = 1e-4
)

// dataDirs are where the ONNX backend node tests may be installed
// ($VKINFER_ONNX_TESTDATA first; Debian's libonnx-testdata puts them in the
// first of the fixed paths).
func dataDirs() []string {
	dirs := []string{}
	if d := os.Getenv("VKINFER_ONNX_TESTDATA"); d != "" {
		dirs = append(dirs, d)
	}
	return append(dirs, "/usr/share/libonnx-testdata/data/node", "/usr/local/share/libonnx-testdata/data/node")
}

// goal are the cases the importer and the GPU ops are meant to pass: for
// these, an unsupported op or shape is a failure, not a skip. (Cases with
// other element types than float32 are still skipped; "_expanded" cases
// are the same ops written with others.)
var goal = regexp.MustCompile(`^test_(Conv[12]d|MaxPool[12]d|AvgPool[12]d|BatchNorm[12]d|gemm|matmul|relu|softmax|logsoftmax|sigmoid|tanh|flatten|reshape|add|sub|mul|div|clip|leakyrelu|conv|maxpool|averagepool|globalaveragepool|globalmaxpool|batchnorm|concat|transpose|slice|squeeze|unsqueeze|split|constant_pad|edge_pad|reflect_pad|(Constant|Reflection|Replication|Zero)Pad2d|cast)(_|$)`)

// notGoal are cases of goal op families that may stay skipped: 3-D
// (volumetric) windows, MaxPool's Indices output, training-mode
// BatchNormalization.
// test_AvgPool1d* wait for Squeeze and Unsqueeze.
var notGoal = regexp.MustCompile(`_3d|_with_argmax|_training_mode|^test_AvgPool1d`)

// goalMath are the goal families of the reductions, PRelu, HardSigmoid,
// HardSwish and ConvTranspose (kept apart from goal so that families added
// side by side do not edit one line).
var goalMath = regexp.MustCompile(`^test_(reduce_(mean|sum|max|min|prod|l1|l2|sum_square|log_sum|log_sum_exp)|hardsigmoid|hardswish|prelu|PReLU|convtranspose|ConvTranspose)(_|$)`)

func isGoal(name string) bool {
	return (goal.MatchString(name) || goalMath.MatchString(name)) && !strings.HasSuffix(name, "_expanded") && !strings.HasPrefix(name, "test_matmulinteger") &&
		!notGoal.MatchString(name)
}

// skipError marks a case the importer or the device cannot run.
type skipError struct{ err error }

func (e skipError) Error() string { return e.err.Error() }

// TestONNXConformance runs every node test whose ops are all supported and
// compares the outputs with the expected ones.
func TestONNXConformance(t *testing.T) {
	root := ""
	for _, d := range dataDirs() {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			root = d
			break
		}
	}
	if root == "" {
		if gputest.Required() {
			t.Fatalf("no ONNX conformance data in %v: apt-get install libonnx-testdata (or set VKINFER_ONNX_TESTDATA)", dataDirs())
		}
		t.Skipf("no ONNX conformance data in %v: apt-get install libonnx-testdata", dataDirs())
	}
	gputest.Require(t)
	var mu sync.Mutex
	var msgs []string
	dev, err := vkinfer.Open(vkinfer.Options{Validation: gputest.Validation(), OnMessage: func(sev, msg string) {
		mu.Lock()
		msgs = append(msgs, sev+": "+msg)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("open device: %v", err)
	}
	defer dev.Close()
	t.Logf("device: %v", dev.Info())
	if want := os.Getenv("VKINFER_EXPECT_DEVICE"); want != "" && !strings.Contains(strings.ToLower(dev.Info().Name), strings.ToLower(want)) {
		t.Fatalf("VKINFER_EXPECT_DEVICE=%q but the test device is %s", want, dev.Info())
	}

	cases, err := filepath.Glob(filepath.Join(root, "*", "model.onnx"))
	if err != nil || len(cases) == 0 {
		t.Fatalf("no */model.onnx under %s", root)
	}
	// The PyTorch-converted cases (test_Conv2d, ...) beside the node tests.
	torch, _ := filepath.Glob(filepath.Join(filepath.Dir(root), "pytorch-converted", "*", "model.onnx"))
	cases = append(cases, torch...)
	sort.Strings(cases)
	var passed, failed, skipped int
	reasons := map[string]int{}
	for _, path := range cases {
		dir := filepath.Dir(path)
		name := filepath.Base(dir)
		skippedHere := false
		ok := t.Run(name, func(t *testing.T) {
			err := runCase(dev, dir)
			mu.Lock()
			for _, m := range msgs {
				t.Errorf("validation: %s", m)
			}
			msgs = nil
			mu.Unlock()
			var skip skipError
			if errors.As(err, &skip) {
				if isGoal(name) && !errors.Is(skip.err, errType) && !errors.Is(skip.err, errEmpty) {
					t.Fatalf("a goal case must not be skipped: %v", skip.err)
				}
				skippedHere = true
				reasons[reason(skip.err)]++
				t.Skip(skip.err)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
		switch {
		case !ok:
			failed++
		case skippedHere:
			skipped++
		default:
			passed++
		}
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return reasons[keys[i]] > reasons[keys[j]] })
	for _, k := range keys {
		t.Logf("skipped %4d: %s", reasons[k], k)
	}
	line := fmt.Sprintf("onnx conformance: %d passed, %d failed, %d skipped (unsupported op)", passed, failed, skipped)
	t.Log(line)
	fmt.Println(line)
}

// Skip reasons that do not count against the goal: element types other
// than float32, and empty tensors (Model.Run takes no 0 dimension).
var (
	errType  = errors.New("element type")
	errEmpty = errors.New("empty tensor: Model.Run takes no dimension of size 0")
)

// reason shortens a skip error to its kind, for the summary.
func reason(err error) string {
	msg := err.Error()
	switch {
	case errors.Is(err, errType):
		return "element type other than float32"
	case errors.Is(err, errEmpty):
		return errEmpty.Error()
	case errors.Is(err, vkinfer.ErrUnsupportedOp):
		// "... unsupported op in 2 node(s): [a (Conv) b (Relu)]; supported ops: ..."
		if i, j := strings.Index(msg, "node(s): ["), strings.Index(msg, "]; supported"); i >= 0 && j > i {
			ops := map[string]bool{}
			for _, m := range regexp.MustCompile(`\(([^()\s]+)\)`).FindAllStringSubmatch(msg[i+len("node(s): ["):j], -1) {
				ops[m[1]] = true
			}
			var list []string
			for op := range ops {
				list = append(list, op)
			}
			sort.Strings(list)
			return "no layer for " + strings.Join(list, ", ")
		}
		return "unsupported by a layer: " + msg
	}
	return "not imported: " + regexp.MustCompile(`"[^"]*"`).ReplaceAllString(msg, "…")
}

// runCase imports the case's model once per test data set, binding inputs
// that the importer needs as constants (integer inputs such as Reshape's
// shape, Clip's bounds given as inputs), loads it, runs it and compares.
func runCase(dev *vkinfer.Device, dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return fmt.Errorf("no test_data_set_* in %s", dir)
	}
	sort.Strings(sets)
	for _, set := range sets {
		ins, err := readTensors(set, "input_")
		if err != nil {
			return err
		}
		want, err := readTensors(set, "output_")
		if err != nil {
			return err
		}
		if err := runSet(dev, data, ins, want); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(set), err)
		}
	}
	return nil
}

// fits reports whether a tensor of shape got may feed an input declared
// with shape want (-1: any size).
func fits(got, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if want[i] >= 0 && want[i] != got[i] {
			return false
		}
	}
	return true
}

// readTensors reads prefix0.pb, prefix1.pb, ... of a data set. A file that
// is not a plain tensor (a sequence, an optional) makes the case skip.
func readTensors(set, prefix string) ([]*onnx.Tensor, error) {
	var out []*onnx.Tensor
	for i := 0; ; i++ {
		b, err := os.ReadFile(filepath.Join(set, fmt.Sprintf("%s%d.pb", prefix, i)))
		if errors.Is(err, os.ErrNotExist) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		t, err := onnx.DecodeTensor(b)
		if err != nil {
			return nil, skipError{fmt.Errorf("%s%d.pb: %w: %w", prefix, i, errType, err)}
		}
		out = append(out, t) // unnamed (PyTorch-converted cases): bound by position

	}
}

func runSet(dev *vkinfer.Device, data []byte, ins, want []*onnx.Tensor) error {
	for i, t := range ins {
		if t.Name != "" {
			continue
		}
		m, err := onnx.DecodeOptions(data, onnx.Options{})
		if errors.Is(err, onnx.ErrUnsupported) {
			return skipError{err}
		}
		if err != nil || len(m.Inputs) != len(ins) {
			return fmt.Errorf("input_%d.pb has no name, and the graph's inputs cannot be matched by position (%v)", i, err)
		}
		for j := range ins {
			ins[j].Name = m.Inputs[j].Name
		}
		break
	}
	byName := map[string]*onnx.Tensor{}
	bind := map[string]*onnx.Tensor{}
	for _, t := range ins {
		byName[t.Name] = t
		if t.DType != onnx.Float {
			bind[t.Name] = t
		}
	}
	var spec *model.Model
	for {
		m, err := onnx.DecodeOptions(data, onnx.Options{Constants: bind})
		var ce *onnx.ConstantError
		if errors.As(err, &ce) && byName[ce.Input] != nil && bind[ce.Input] == nil {
			bind[ce.Input] = byName[ce.Input]
			continue
		}
		if errors.Is(err, onnx.ErrUnsupported) {
			if strings.Contains(err.Error(), "element type") {
				err = fmt.Errorf("%w: %w", errType, err)
			}
			return skipError{err}
		}
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		spec = m
		break
	}
	for _, t := range want {
		if t.DType != onnx.Float {
			return skipError{fmt.Errorf("output %q: %w %s", t.Name, errType, t.DType)}
		}
	}
	if len(spec.Inputs) == 0 {
		// Every input had another element type than float32 (integers,
		// FLOAT16, DOUBLE; test_cast_*_to_FLOAT), so was bound as a
		// constant: Model.Run takes float32 only.
		return skipError{fmt.Errorf("%w of every input (bound as constants, nothing left to run)", errType)}
	}
	for _, in := range spec.Inputs {
		t := byName[in.Name]
		if t != nil && t.Len() == 0 {
			return skipError{fmt.Errorf("input %q of shape %v: %w", in.Name, t.Shape, errEmpty)}
		}
		if t != nil && !fits(t.Shape, in.Shape) {
			// ONNX 1.12's test_castlike_*_expanded feed "like" as [1]
			// where the graph declares [3, 4].
			return skipError{fmt.Errorf("input %q: the test data has shape %v, the graph declares %v", in.Name, t.Shape, in.Shape)}
		}
	}
	m, err := dev.LoadModel(spec)
	if errors.Is(err, vkinfer.ErrUnsupportedOp) {
		return skipError{err}
	}
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	defer m.Close()
	var feed []vkinfer.Tensor
	for _, in := range spec.Inputs {
		t := byName[in.Name]
		if t == nil {
			return fmt.Errorf("no test data for input %q", in.Name)
		}
		feed = append(feed, vkinfer.Tensor{Shape: t.Shape, Data: t.Float})
	}
	out, err := m.Run(context.Background(), feed...)
	if errors.Is(err, vkinfer.ErrUnsupportedOp) {
		return skipError{err}
	}
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if len(out) != len(want) {
		return fmt.Errorf("%d outputs, the test data has %d", len(out), len(want))
	}
	var errs []string
	for i, o := range spec.Outputs {
		w := want[i]
		for _, c := range want {
			if c.Name == o.Name {
				w = c
			}
		}
		if msg := compare(out[i], w); msg != "" {
			errs = append(errs, fmt.Sprintf("output %q: %s", o.Name, msg))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// compare returns "" when got matches want within the tolerance.
func compare(got vkinfer.Tensor, want *onnx.Tensor) string {
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
	}
	var bad []string
	n := 0
	for i, w := range want.Float {
		g := got.Data[i]
		gf, wf := float64(g), float64(w)
		var ok bool
		switch {
		case math.IsNaN(wf):
			ok = math.IsNaN(gf)
		case math.IsInf(wf, 0):
			ok = gf == wf
		default:
			ok = math.Abs(gf-wf) <= absTol+relTol*math.Abs(wf)
		}
		if !ok {
			n++
			if len(bad) < 5 {
				bad = append(bad, fmt.Sprintf("[%d] = %v, want %v", i, g, w))
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d values differ (tolerance %g + %g·|want|): %s", n, len(want.Float), absTol, relTol, strings.Join(bad, ", "))
}
