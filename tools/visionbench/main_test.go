package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeBench writes a stand-in for `vkinfer bench --json` that reports a p50
// of P µs × batch, times S at batches over 1 (the model folder is named
// NAME-P or NAME-P-S), plus the number of earlier runs of the model, and a
// device name, and model folders with empty model.onnx files.
func fakeBench(t *testing.T, device string, models ...string) (bin, fixtures string) {
	t.Helper()
	dir := t.TempDir()
	bin = filepath.Join(dir, "vkinfer")
	script := `#!/bin/sh
model= batch=
while [ $# -gt 0 ]; do
	case "$1" in
	--model) model="$2"; shift ;;
	--batch) batch="$2"; shift ;;
	esac
	shift
done
case "$model" in *broken*) echo "vkinfer: broken model" >&2; exit 1 ;; esac
rest=$(basename "$(dirname "$model")"); rest=${rest#*-}
p=${rest%%-*} s=${rest#*-}
[ "$s" = "$rest" ] && s=1
[ "$batch" = 1 ] || p=$((p * s))
n=$(cat "$model.count" 2>/dev/null || echo 0); echo $((n + 1)) >"$model.count"
echo "{\"device\": \"` + device + `\", \"batch\": $batch, \"latency\": {\"p50_us\": $((p * batch + n)), \"min_us\": 1},
 \"flops_per_run\": $((1000 * batch)), \"gflops\": 1.5, \"load_ms\": 3}"
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	fixtures = filepath.Join(dir, "fixtures")
	for _, m := range models {
		if err := os.MkdirAll(filepath.Join(fixtures, m), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fixtures, m, "model.onnx"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return bin, fixtures
}

func TestMeasureBudgetCutsTheCostliestLargeBatches(t *testing.T) {
	bin, fix := fakeBench(t, "llvmpipe (LLVM 15.0.6, 256 bits)", "small-1000-3", "big-400000", "mid-40000", "broken-5")
	cfg, err := parseFlags([]string{"-vkinfer", bin, "-fixtures", fix, "-driver", "lavapipe=/x.json=llvmpipe",
		"-models", "big-400000,small-1000-3,mid-40000,broken-5,missing-7", "-batches", "1,16",
		"-plan", "lavapipe:16:1:0", "-budget", "lavapipe=2"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	rows := measure(context.Background(), cfg)
	if len(rows) != 10 {
		t.Fatalf("got %d rows, want 10", len(rows))
	}
	got := map[string]row{}
	for _, r := range rows {
		got[r.Model+"/"+strconv.Itoa(r.Batch)] = r
	}
	// Estimates at batch 16, 1 run + the first: small 0.032 s, then, as
	// small ran 3x slower per image than at batch 1, mid 1.28 × 3 = 3.84 s
	// and big 12.8 × 3 s: both over the 2 s budget.
	if r := got["small-1000-3/16"]; r.Cut != "" || r.Err != "" || r.P50us != 48001 { // 48 ms + its second run
		t.Errorf("small-1000-3/16: want measured at 48.001 ms, got %+v", r)
	}
	if r := got["mid-40000/16"]; !strings.HasPrefix(r.Cut, "cut: estimated 4 s (16 × batch-1 p50 × 2 runs × 3.00)") {
		t.Errorf("mid-40000/16: want cut by its scaled estimate, got %+v", r)
	}
	if r := got["big-400000/16"]; !strings.HasPrefix(r.Cut, "cut: estimated 38 s") {
		t.Errorf("big-400000/16: want cut by its estimate, got %+v", r)
	}
	if r := got["big-400000/1"]; r.P50us != 400000 || r.Runs != 5 || r.Warmup != 1 {
		t.Errorf("big-400000/1: want p50 400000 µs with the default 5 runs after 1 warm-up, got %+v", r)
	}
	if r := got["broken-5/1"]; !strings.Contains(r.Err, "broken model") {
		t.Errorf("broken-5/1: want the bench's error, got %+v", r)
	}
	if r := got["missing-7/1"]; !strings.Contains(r.Err, "no model") {
		t.Errorf("missing-7/1: want a missing-model error, got %+v", r)
	}
	// Batch 1 first, then 16, each in -models order.
	if rows[0].Model != "big-400000" || rows[0].Batch != 1 || rows[5].Model != "big-400000" || rows[5].Batch != 16 {
		t.Errorf("order: got %s/%d first and %s/%d sixth", rows[0].Model, rows[0].Batch, rows[5].Model, rows[5].Batch)
	}
	tab := table(rows)
	for _, want := range []string{"| small-1000-3 | lavapipe | 1 | 1.00 ms | 1.50 |", "| big-400000 | lavapipe | 16 | cut: estimated", "failed: vkinfer bench"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

func TestMeasureRefusesAnotherDevice(t *testing.T) {
	bin, fix := fakeBench(t, "llvmpipe (LLVM 15.0.6, 256 bits)", "m-10")
	cfg, err := parseFlags([]string{"-vkinfer", bin, "-fixtures", fix, "-driver", "swiftshader=/nope.json=swiftshader",
		"-models", "m-10", "-batches", "1"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	rows := measure(context.Background(), cfg)
	if len(rows) != 1 || !strings.Contains(rows[0].Err, `not a "swiftshader" device`) {
		t.Fatalf("want the device refused, got %+v", rows)
	}
}

func TestGoalOnlyOnLavapipeBatch1(t *testing.T) {
	rows := []row{
		{Model: "resnet18", Driver: "lavapipe", Batch: 1, P50us: 300e3, ORTP50us: 100e3, Ratio: 3, Goal: 4, Flops: 3.6e9, GFlops: 12},
		{Model: "squeezenet1_1", Driver: "lavapipe", Batch: 1, P50us: 70e3, ORTP50us: 7e3, Ratio: 10, Goal: 5, Flops: 7e8},
	}
	tab := table(rows)
	for _, want := range []string{"| 3.0 | ≤ 4.0 met |", "| 10.0 | ≤ 5.0 not met |", "| 300.0 ms | 12.0 | 100.0 ms | 36.0 |"} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
}

func TestParseFlagsRefusesBadInput(t *testing.T) {
	base := []string{"-vkinfer", "v", "-fixtures", "f", "-driver", "l=x"}
	for _, args := range [][]string{
		{"-fixtures", "f", "-driver", "l=x"},
		{"-vkinfer", "v", "-fixtures", "f"},
		append(append([]string{}, base...), "-plan", "l:1:0:0"),
		append(append([]string{}, base...), "-plan", "1:5:1"),
		append(append([]string{}, base...), "-ort", "1:5"),
		append(append([]string{}, base...), "-budget", "l=-3"),
		append(append([]string{}, base...), "-batches", "0"),
		append(append([]string{}, base...), "-driver", "nameonly"),
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) accepted it", args)
		}
	}
}

func TestRoundsGiveMedians(t *testing.T) {
	bin, fix := fakeBench(t, "llvmpipe", "a-1000", "b-50")
	ortjs := filepath.Join(t.TempDir(), "node")
	// A stand-in for node bench.js: ORT p50 10 µs at any batch.
	script := "#!/bin/sh\necho '{\"version\": \"1.30.0\", \"batch\": 1, \"p50_us\": 10}'\n"
	if err := os.WriteFile(ortjs, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, err := parseFlags([]string{"-vkinfer", bin, "-fixtures", fix, "-driver", "lavapipe=", "-node", ortjs, "-ortbench", "bench.js",
		"-models", "a-1000,b-50", "-batches", "1", "-plan", "lavapipe:1:4:0:3"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	rows := measure(context.Background(), cfg)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(rows), rows)
	}
	a := rows[0]
	// Three rounds: p50 1000, 1001, 1002 µs; ratios 100, 100.1, 100.2.
	if a.Model != "a-1000" || a.Rounds != 3 || a.P50us != 1001 || a.ORTP50us != 10 || a.Ratio != 100.1 || len(a.RoundRatios) != 3 {
		t.Errorf("a-1000: want the medians of three rounds, got %+v", a)
	}
	tab := table(rows)
	if want := "| 100.1 (100.0, 100.1, 100.2) | – | 3× 4+0 / 3× 10+2 |"; !strings.Contains(tab, want) {
		t.Errorf("table lacks %q:\n%s", want, tab)
	}
}

func TestUntilCutsEveryDriver(t *testing.T) {
	bin, fix := fakeBench(t, "llvmpipe", "a-10")
	cfg, err := parseFlags([]string{"-vkinfer", bin, "-fixtures", fix, "-driver", "x=", "-driver", "y=",
		"-models", "a-10", "-batches", "1", "-until", "2001-01-01T00:00:00Z"})
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	rows := measure(context.Background(), cfg)
	if len(rows) != 2 || !strings.HasPrefix(rows[0].Cut, "cut: the") || !strings.HasPrefix(rows[1].Cut, "cut: the") {
		t.Fatalf("want both drivers' rows cut by -until, got %+v", rows)
	}
	if _, err := parseFlags([]string{"-vkinfer", bin, "-fixtures", fix, "-driver", "x=", "-until", "03:59"}); err == nil {
		t.Error("-until 03:59 accepted; want RFC 3339")
	}
}
