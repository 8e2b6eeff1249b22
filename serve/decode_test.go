package serve

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/serve/internal/oippb"
	"github.com/vkinfer/vkinfer/serve/internal/tritonpb"
)

// fakeVersion is a served model without a device: for the decoders.
func fakeVersion() *version {
	return &version{model: "m", num: 1, maxBatch: 4,
		inputs:  []tensorSpec{{name: "a", dims: []int64{3}}, {name: "b", dims: []int64{2, 2}}},
		outputs: []tensorSpec{{name: "y", dims: []int64{1}}, {name: "z", dims: []int64{5}}}}
}

func TestParseData(t *testing.T) {
	for _, c := range []struct {
		raw, dt string
		n       int
		want    []float32
		err     string
	}{
		{`[1, 2.5, -3e2]`, "FP32", 3, []float32{1, 2.5, -300}, ""},
		{`[[1],[2],[3]]`, "INT32", 3, []float32{1, 2, 3}, ""},
		{` [ [ [true , false] ] ] `, "BOOL", 2, []float32{1, 0}, ""},
		{`[1e39, -1e39]`, "FP32", 2, []float32{float32(math.Inf(1)), float32(math.Inf(-1))}, ""},
		{`[1, 2]`, "FP32", 3, nil, "data has 2 values, its shape gives 3"},
		{`[1, 2, 3, 4]`, "FP32", 3, nil, "more than the 3 values"},
		{`[1, "x", 3]`, "FP32", 3, nil, `data holds '"'`},
		{`[1, true, 3]`, "FP32", 3, nil, "true/false in data of datatype FP32"},
		{`[1, 2, 3`, "FP32", 3, nil, "want ',' or ']', found the end"},
		{`[1, 2]], 3`, "FP32", 2, nil, "']' after the end of the JSON value"},
		{`[1, 2, 1.2.3]`, "FP32", 3, nil, "want ',' or ']', found '.'"},
		{`[1,,2]`, "FP32", 2, nil, `data holds ','`},
		{`[1,2,]`, "FP32", 2, nil, `data holds ']'`},
		{`[+1]`, "FP32", 1, nil, `data holds '+'`},
		{`[.5]`, "FP32", 1, nil, `data holds '.'`},
		{`[01]`, "FP32", 1, nil, "want ',' or ']', found '1'"},
		{`[1.]`, "FP32", 1, nil, "want a digit after '.'"},
		{`[1e]`, "FP32", 1, nil, "want a digit in a number's exponent"},
		{`[1 2]`, "FP32", 2, nil, "want ',' or ']', found '2'"},
		{`[tru]`, "BOOL", 1, nil, "want a value"},
		{`[1, 0, 1]`, "BOOL", 3, nil, "number in data of datatype BOOL"},
		{`7`, "FP32", 1, []float32{7}, ""},
		{`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, "FP32", 1, nil, "nested deeper than 64"},
		// FP16 and BF16 values are rounded to those types, then widened.
		{`[0.1, 65504, 65519, 65520, 1e-8, -3e-8, 5.960464477539063e-08]`, "FP16", 7,
			[]float32{0.0999755859375, 65504, 65504, float32(math.Inf(1)), 0, -5.960464477539063e-08, 5.960464477539063e-08}, ""},
		{`[0.1, 1.00390625, 1.01171875, 3.4e38, -1e39]`, "BF16", 5,
			[]float32{0.10009765625, 1, 1.015625, float32(math.Inf(1)), float32(math.Inf(-1))}, ""},
		{``, "FP32", 3, nil, "has no data"},
	} {
		dst := make([]float32, c.n)
		err := parseData(dst, []byte(c.raw), "in", c.dt)
		if c.err != "" {
			require.ErrorIs(t, err, ErrInvalid, c.raw)
			require.ErrorContains(t, err, c.err, c.raw)
			continue
		}
		require.NoError(t, err, c.raw)
		require.Equal(t, c.want, dst, c.raw)
	}
}

func TestDecodeRaw(t *testing.T) {
	b := []byte{0xff, 0x01, 0x80, 0x7f}
	for dt, want := range map[string][]float32{
		"UINT8": {255, 1, 128, 127}, "INT8": {-1, 1, -128, 127}, "BOOL": {255, 1, 128, 127},
		"UINT16": {0x01ff, 0x7f80}, "INT16": {0x01ff, 0x7f80}, "INT32": {0x7f8001ff}, "UINT32": {0x7f8001ff},
	} {
		dst := make([]float32, len(want))
		decodeRaw(dst, b, dt)
		require.Equal(t, want, dst, dt)
	}
	dst := make([]float32, 1)
	decodeRaw(dst, []byte{0, 0, 0, 0, 0, 0, 0xf8, 0xbf}, "FP64")
	require.Equal(t, []float32{-1.5}, dst)
	decodeRaw(dst, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "INT64")
	require.Equal(t, []float32{-2}, dst)
}

func TestDecodeRESTShapesBeforeAllocation(t *testing.T) {
	v := fakeVersion()
	_, err := decodeREST(v, 1<<20, []byte(`{"inputs":[{"name":"a","shape":[100000000,3],"datatype":"FP32","data":[1]}]}`), "")
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = decodeREST(v, 1<<20, []byte(`{"inputs":[{"name":"a","shape":[9223372036854775807,3],"datatype":"FP32","data":[1]}]}`), "")
	require.ErrorIs(t, err, ErrTooLarge)
	_, err = decodeREST(v, 1<<20, []byte(`{"inputs":[{"name":"a","shape":[2,3],"datatype":"FP32","data":[1,2,3,4,5,6]},
		{"name":"b","shape":[3,2,2],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12]}]}`), "")
	require.ErrorContains(t, err, "has a batch of 3 but another input has 2")
	d, err := decodeREST(v, 1<<20, []byte(`{"id":"q","inputs":[{"name":"b","shape":[1,2,2],"datatype":"INT8","data":[[1,2],[3,4]]},
		{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7]}],"outputs":[{"name":"z","parameters":{"binary_data":true}}]}`), "")
	require.NoError(t, err)
	require.Equal(t, "q", d.id)
	require.Equal(t, []int{1}, d.sel)
	require.Equal(t, []bool{true}, d.binOut)
	require.Equal(t, []float32{5, 6, 7}, d.inputs.ins[0].Data)
	require.Equal(t, []float32{1, 2, 3, 4}, d.inputs.ins[1].Data)
}

// fuzzSeeds are REST bodies the fuzzers start from.
var fuzzSeeds = []string{
	`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[1,2,3]},{"name":"b","shape":[1,2,2],"datatype":"INT8","data":[[1,2],[3,4]]}]}`,
	`{"inputs":[{"name":"a","shape":[2,3],"datatype":"UINT8","parameters":{"binary_data_size":6}},{"name":"b","shape":[2,2,2],"datatype":"BOOL","data":[true,false,true,false,true,false,true,false]}],"outputs":[{"name":"y"}]}` + "\x01\x02\x03\x04\x05\x06",
	`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP64","parameters":{"binary_data_size":24}}]}`,
	`{"id":"\u00e9","inputs":[{"data":[[0.5,1e-3,-2]],"datatype":"FP16","shape":[1,3],"name":"a"},{"name":"b","shape":[1,2,2],"datatype":"BF16","parameters":{"binary_data_size":8}}],"parameters":{"binary_data_output":true}}` + "\x80\x3f\x00\x40\x80\xbf\x00\x00",
}

// FuzzDecodeREST: no body, JSON or binary, makes the REST decoder panic or
// hand the batcher inputs that do not match the model.
func FuzzDecodeREST(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), -1)
	}
	f.Add([]byte(fuzzSeeds[1]), len(fuzzSeeds[1])-6)
	f.Fuzz(func(t *testing.T, body []byte, hdr int) {
		v := fakeVersion()
		h := ""
		if hdr >= 0 {
			h = strconv.Itoa(hdr)
		}
		d, err := decodeREST(v, 1<<16, body, h)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no request kind: %v", err)
			}
			return
		}
		checkInputs(t, v, d.inputs)
	})
}

// FuzzDecodeGRPC: the same for gRPC messages (as decoded by protobuf).
func FuzzDecodeGRPC(f *testing.F) {
	seed, _ := proto.Marshal(&oippb.ModelInferRequest{ModelName: "m", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
		{Name: "a", Datatype: "FP32", Shape: []int64{1, 3}, Contents: &oippb.InferTensorContents{Fp32Contents: []float32{1, 2, 3}}},
		{Name: "b", Datatype: "INT32", Shape: []int64{1, 2, 2}, Contents: &oippb.InferTensorContents{IntContents: []int32{1, 2, 3, 4}}}}})
	f.Add(seed)
	seed, _ = proto.Marshal(&oippb.ModelInferRequest{ModelName: "m", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
		{Name: "a", Datatype: "UINT8", Shape: []int64{1, 3}}, {Name: "b", Datatype: "FP32", Shape: []int64{1, 2, 2}}},
		RawInputContents: [][]byte{{1, 2, 3}, make([]byte, 16)}})
	f.Add(seed)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := &oippb.ModelInferRequest{}
		if proto.Unmarshal(msg, r) != nil {
			return
		}
		v := fakeVersion()
		is, sel, err := decodeGRPC(v, 1<<16, r)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error of no request kind: %v", err)
			}
			return
		}
		checkInputs(t, v, is)
		for _, i := range sel {
			if i < 0 || i >= len(v.outputs) {
				t.Fatalf("output index %d", i)
			}
		}
	})
}

// checkInputs: every input there, of a shape the model takes, with as many
// values as the shape gives, all of one batch.
func checkInputs(t *testing.T, v *version, is *inputSet) {
	for i, in := range is.ins {
		n := 1
		for _, d := range in.Shape {
			n *= d
		}
		if len(in.Data) != n || len(in.Shape) != len(v.inputs[i].dims)+1 || in.Shape[0] != is.rows || is.rows < 1 || is.rows > v.maxBatch {
			t.Fatalf("input %d: shape %v with %d values, rows %d", i, in.Shape, len(in.Data), is.rows)
		}
		for k, d := range v.inputs[i].dims {
			if int64(in.Shape[k+1]) != d {
				t.Fatalf("input %d: shape %v", i, in.Shape)
			}
		}
	}
}

// TestBatcherIsolation: a request that fails its batch's run is retried
// alone, so its batch-mates still get their rows; each gets exactly its
// own rows back.
func TestBatcherIsolation(t *testing.T) {
	var mu sync.Mutex
	var runs []int
	b := newBatcher(&batcher{
		runs: []runFunc{func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			mu.Lock()
			runs = append(runs, in[0].Shape[0])
			mu.Unlock()
			out := make([]float32, len(in[0].Data))
			for i, x := range in[0].Data {
				if math.IsNaN(float64(x)) {
					return nil, errors.New("poisoned")
				}
				out[i] = 2 * x
			}
			return []vkinfer.Tensor{{Shape: in[0].Shape, Data: out}}, nil
		}},
		batchable: true, dynamic: true, maxRows: 6, delay: time.Minute, preferred: []int{6}, maxQueue: 10,
		runCtx: context.Background(),
	})
	rows := []int{1, 2, 1, 2}
	res := make([]result, len(rows))
	var wg sync.WaitGroup
	for i, n := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, n)
			for k := range x {
				x[k] = float32(10*i + k)
			}
			if i == 2 {
				x[0] = float32(math.NaN())
			}
			res[i] = b.submit(&request{ctx: context.Background(), rows: n, inputs: []vkinfer.Tensor{{Shape: []int{n}, Data: x}}})
		}()
	}
	wg.Wait()
	b.close()
	<-b.stopped
	require.Equal(t, []int{6, 1, 2, 1, 2}[:1], runs[:1]) // one joint run of all 6 rows first
	require.Len(t, runs, 5)                              // then each alone
	for i, n := range rows {
		if i == 2 {
			require.ErrorContains(t, res[i].err, "poisoned")
			continue
		}
		require.NoError(t, res[i].err)
		want := make([]float32, n)
		for k := range want {
			want[k] = 2 * float32(10*i+k)
		}
		require.Equal(t, want, res[i].outs[0].Data, "request %d", i)
		require.Equal(t, []int{n}, res[i].outs[0].Shape)
	}
}

// TestBatcherOutputs: with outputs of different ranks, each request of a
// joint run gets its own rows of each, with its own shapes (slices of
// per-batch arrays that appending to one cannot spill into the next).
func TestBatcherOutputs(t *testing.T) {
	b := newBatcher(&batcher{
		runs: []runFunc{func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			n := in[0].Shape[0]
			a := vkinfer.Tensor{Shape: []int{n, 3}, Data: make([]float32, 3*n)}
			c := vkinfer.Tensor{Shape: []int{n, 2, 2}, Data: make([]float32, 4*n)}
			for r := range n {
				for k := range 3 {
					a.Data[3*r+k] = in[0].Data[r] + float32(k)
				}
				for k := range 4 {
					c.Data[4*r+k] = -in[0].Data[r] - float32(k)
				}
			}
			return []vkinfer.Tensor{a, c}, nil
		}},
		batchable: true, dynamic: true, maxRows: 8, delay: time.Minute, preferred: []int{6}, maxQueue: 10,
		runCtx: context.Background(),
	})
	rows := []int{1, 3, 2}
	res := make([]result, len(rows))
	var wg sync.WaitGroup
	for i, n := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := make([]float32, n)
			for k := range x {
				x[k] = float32(100*i + 10*k)
			}
			res[i] = b.submit(&request{ctx: context.Background(), rows: n, inputs: []vkinfer.Tensor{{Shape: []int{n, 1}, Data: x}}})
		}()
	}
	wg.Wait()
	b.close()
	<-b.stopped
	for i, n := range rows {
		require.NoError(t, res[i].err)
		require.Len(t, res[i].outs, 2)
		a, c := res[i].outs[0], res[i].outs[1]
		require.Equal(t, []int{n, 3}, a.Shape, "request %d", i)
		require.Equal(t, []int{n, 2, 2}, c.Shape, "request %d", i)
		require.Len(t, a.Data, 3*n)
		require.Len(t, c.Data, 4*n)
		for r := range n {
			x := float32(100*i + 10*r)
			for k := range 3 {
				require.Equal(t, x+float32(k), a.Data[3*r+k], "request %d row %d", i, r)
			}
			for k := range 4 {
				require.Equal(t, -x-float32(k), c.Data[4*r+k], "request %d row %d", i, r)
			}
		}
		_ = append(a.Shape, 99) // must not write into another request's shape
		_ = append(a.Data, 99)
	}
	for i, n := range rows {
		require.Equal(t, []int{n, 3}, res[i].outs[0].Shape)
		require.Equal(t, []int{n, 2, 2}, res[i].outs[1].Shape)
	}
}

func TestConfig(t *testing.T) {
	cfg := &tritonpb.ModelConfig{}
	require.NoError(t, prototext.Unmarshal([]byte(`name: "m" max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] reshape { shape: [ 1 ] } } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 1 ] } ]
instance_group [ { name: "a" count: 2 kind: KIND_GPU gpus: [ 0 ] }, { count: 1 passive: true } ]
dynamic_batching { max_queue_delay_microseconds: 100 preferred_batch_size: [ 4 ] preserve_ordering: true
  default_queue_policy { max_queue_size: 3 timeout_action: DELAY } }`), cfg))
	require.Equal(t, []string{"dynamic_batching.default_queue_policy.timeout_action", "dynamic_batching.preserve_ordering",
		"input.reshape.shape", "instance_group.gpus", "instance_group.passive"}, unhonoured(cfg))
	require.Equal(t, []string{"KIND_GPU"}, instanceKindWarnings(cfg, true))
	require.Empty(t, instanceKindWarnings(cfg, false))
	// Only honoured fields: no warning, however dynamic_batching is written.
	for _, text := range []string{
		`max_batch_size: 64 dynamic_batching { max_queue_delay_microseconds: 500 }`,
		`max_batch_size: 64 dynamic_batching { }`,
		`max_batch_size: 64 dynamic_batching { default_queue_policy { max_queue_size: 9 } }`,
		`instance_group [ { name: "g" count: 3 kind: KIND_CPU }, { kind: KIND_AUTO } ]`,
	} {
		c := &tritonpb.ModelConfig{}
		require.NoError(t, prototext.Unmarshal([]byte(text), c))
		require.Empty(t, unhonoured(c), text)
	}

	// instance_group: the counts summed, 0 (unset) as 1, bounded.
	for text, want := range map[string]int{
		``: 1, `instance_group [ { } ]`: 1, `instance_group [ { count: 2 } ]`: 2,
		`instance_group [ { count: 2 kind: KIND_CPU }, { kind: KIND_GPU }, { count: 3 } ]`: 6,
		`instance_group [ { count: 64 } ]`:                                                 64,
	} {
		c := &tritonpb.ModelConfig{}
		require.NoError(t, prototext.Unmarshal([]byte(text), c))
		got, err := instanceCount(c)
		require.NoError(t, err, text)
		require.Equal(t, want, got, text)
	}
	for text, msg := range map[string]string{
		`instance_group [ { count: 1 }, { count: -1 } ]`: "instance_group 1 has count -1; it must be >= 1",
		`instance_group [ { count: 60 }, { count: 5 } ]`: "more than 64 instances",
		`instance_group [ { count: 2147483647 } ]`:       "more than 64 instances",
	} {
		c := &tritonpb.ModelConfig{}
		require.NoError(t, prototext.Unmarshal([]byte(text), c))
		_, err := instanceCount(c)
		require.ErrorContains(t, err, msg, text)
	}

	dir := t.TempDir()
	for _, d := range []string{"1", "3", "12", "x", ".git"} {
		require.NoError(t, os.Mkdir(filepath.Join(dir, d), 0o755))
	}
	pol := func(s string) *tritonpb.ModelVersionPolicy {
		p := &tritonpb.ModelVersionPolicy{}
		require.NoError(t, prototext.Unmarshal([]byte(s), p))
		return p
	}
	for s, want := range map[string][]int64{
		"": {12}, "latest { num_versions: 2 }": {12, 3}, "latest { num_versions: 9 }": {12, 3, 1},
		"all {}": {12, 3, 1}, "specific { versions: [ 1, 3 ] }": {3, 1},
	} {
		got, err := versionsToLoad(dir, pol(s))
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	_, err := versionsToLoad(dir, pol("specific { versions: [ 2 ] }"))
	require.ErrorContains(t, err, "names version 2")
	_, err = versionsToLoad(t.TempDir(), nil)
	require.ErrorContains(t, err, "no version directory")
}

func TestPadTo(t *testing.T) {
	for _, c := range [][3]int{{1, 64, 1}, {2, 64, 4}, {3, 64, 4}, {5, 64, 8}, {9, 64, 16}, {17, 64, 24}, {23, 64, 24},
		{25, 64, 32}, {33, 64, 48}, {49, 64, 64}, {64, 64, 64}, {1, 8, 1}, {2, 8, 2}, {3, 8, 3}, {5, 8, 6}, {7, 8, 8},
		{5, 6, 5}, {100, 1000, 125}, {1, 1000, 1}, {2, 1000, 63}, {999, 1000, 1000}, {1, 1, 1}, {2, 2, 2}} {
		require.Equal(t, c[2], padTo(c[0], c[1]), "padTo(%d, %d)", c[0], c[1])
	}
	require.Equal(t, []int{1, 4, 8, 16, 24, 32, 48, 64}, padSizes(64))
	for m := 1; m <= 2000; m++ {
		sizes := padSizes(m)
		// At most 8 sizes (the programs vkinfer keeps per model), ascending,
		// from 1 to max_batch_size.
		require.LessOrEqual(t, len(sizes), 8, "max_batch_size %d", m)
		require.True(t, slices.IsSorted(sizes) && sizes[0] == 1 && sizes[len(sizes)-1] == m, "max_batch_size %d: %v", m, sizes)
		for r := 1; r <= m; r++ {
			p := padTo(r, m)
			if p < r || !slices.Contains(sizes, p) || p > r && slices.Contains(sizes, r) {
				t.Fatalf("padTo(%d, %d) = %d, sizes %v", r, m, p, sizes)
			}
			// Above a quarter of max_batch_size, under a third of a run is
			// padding.
			if 4*r > m && 2*p >= 3*r {
				t.Fatalf("padTo(%d, %d) = %d", r, m, p)
			}
		}
	}
}

// TestBatcherDirect: without dynamic batching requests run alone in their
// callers' goroutines, one at a time in arrival order; max_queue_size
// counts those waiting; one cancelled while waiting leaves without running.
func TestBatcherDirect(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var ran []float32
	b := newBatcher(&batcher{
		runs: []runFunc{func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			<-gate
			mu.Lock()
			ran = append(ran, in[0].Data[0])
			mu.Unlock()
			return []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{2 * in[0].Data[0]}}}, nil
		}},
		batchable: true, maxRows: 8, maxQueue: 2, runCtx: context.Background(),
	})
	waiting := func(n int) {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			b.mu.Lock()
			w := b.waiting
			b.mu.Unlock()
			if w == n && len(b.free) == 0 { // and one is running
				return
			}
			require.True(t, time.Now().Before(deadline), "waiting %d, want %d", w, n)
		}
	}
	req := func(ctx context.Context, x float32) *request {
		return &request{ctx: ctx, rows: 1, inputs: []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{x}}}}
	}
	res := make([]result, 3)
	var wg sync.WaitGroup
	ctx1, cancel1 := context.WithCancel(context.Background())
	for i, ctx := range []context.Context{context.Background(), ctx1, context.Background()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = b.submit(req(ctx, float32(i+1)))
		}()
		waiting(min(i, 2)) // the first runs (blocked in run), the others wait
	}
	full := b.submit(req(context.Background(), 9))
	require.ErrorIs(t, full.err, ErrQueueFull)
	cancel1()
	waiting(1)
	close(gate)
	wg.Wait()
	require.Equal(t, []float32{1, 3}, ran)
	require.NoError(t, res[0].err)
	require.Equal(t, []float32{2}, res[0].outs[0].Data)
	require.ErrorIs(t, res[1].err, context.Canceled)
	require.NoError(t, res[2].err)
	require.Equal(t, []float32{6}, res[2].outs[0].Data)
	b.close()
	<-b.stopped
	require.ErrorIs(t, b.submit(req(context.Background(), 1)).err, ErrUnavailable)
}

// recv takes the next value of c, failing the test if none comes in 30 s
// (a hang, not a timing assertion).
func recv[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("nothing received in 30 s")
	}
	panic("unreachable")
}

// TestBatcherInstances: with dynamic batching and several instances, each
// instance's worker takes the next batch from the shared queue while the
// others run theirs; the batches run on different instances at the same
// time; each request gets its own rows; closing stops every worker.
func TestBatcherInstances(t *testing.T) {
	const n = 3
	started := make(chan int, 16)
	gate := make(chan struct{})
	runs := make([]runFunc, n)
	for i := range runs {
		runs[i] = func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			started <- i
			<-gate
			out := make([]float32, len(in[0].Data))
			for k, x := range in[0].Data {
				out[k] = 2 * x
			}
			return []vkinfer.Tensor{{Shape: in[0].Shape, Data: out}}, nil
		}
	}
	b := newBatcher(&batcher{runs: runs, batchable: true, dynamic: true, maxRows: 4, maxQueue: 10,
		runCtx: context.Background()})
	res := make([]result, n+1)
	var wg sync.WaitGroup
	submit := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = b.submit(&request{ctx: context.Background(), rows: 1,
				inputs: []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{float32(i + 1)}}}})
		}()
	}
	// Each request is submitted once the one before it is running (and
	// holding its instance): it must start on another instance.
	on := map[int]bool{}
	for i := 0; i < n; i++ {
		submit(i)
		on[recv(t, started)] = true
	}
	require.Len(t, on, n, "the %d batches ran on instances %v", n, on)
	// With every instance busy, the next request waits in the queue.
	submit(n)
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 1 })
	close(gate)
	wg.Wait()
	for i, r := range res {
		require.NoError(t, r.err)
		require.Equal(t, []float32{2 * float32(i+1)}, r.outs[0].Data, "request %d", i)
	}
	b.close()
	recv(t, b.stopped)
	require.ErrorIs(t, b.submit(&request{ctx: context.Background(), rows: 1,
		inputs: []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{1}}}}).err, ErrUnavailable)
}

// TestBatcherInstancesLeftover: a worker that takes a batch and leaves
// requests queued wakes another instance's idle worker for them, instead of
// leaving them until it is done: two full batches run at once on two
// instances although the four requests came with one wake-up.
func TestBatcherInstancesLeftover(t *testing.T) {
	started := make(chan int, 16)
	gate := make(chan struct{})
	runs := make([]runFunc, 2)
	for i := range runs {
		runs[i] = func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			started <- in[0].Shape[0]
			<-gate
			return []vkinfer.Tensor{{Shape: in[0].Shape, Data: slices.Clone(in[0].Data)}}, nil
		}
	}
	b := newBatcher(&batcher{runs: runs, batchable: true, dynamic: true, maxRows: 2, maxQueue: 10,
		runCtx: context.Background()})
	// Let both workers find the queue empty and wait for a wake-up (if one
	// has not yet, it finds the requests itself and the test passes
	// without testing the hand-over: it cannot fail wrongly).
	time.Sleep(20 * time.Millisecond)
	reqs := make([]*request, 4)
	b.mu.Lock()
	for i := range reqs {
		reqs[i] = &request{ctx: context.Background(), rows: 1, enq: time.Now(), done: make(chan result, 1),
			inputs: []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{float32(i)}}}}
		b.queue = append(b.queue, reqs[i])
		b.rows++
	}
	b.mu.Unlock()
	b.signal() // one wake-up for the four
	require.Equal(t, 2, recv(t, started))
	require.Equal(t, 2, recv(t, started))
	close(gate)
	for i, r := range reqs {
		res := recv(t, r.done)
		require.NoError(t, res.err)
		require.Equal(t, []float32{float32(i)}, res.outs[0].Data)
	}
	b.close()
	recv(t, b.stopped)
}

// TestBatcherDirectInstances: without dynamic batching, requests run
// alone on whichever instance is free, as many at once as there are
// instances; the others wait in arrival order.
func TestBatcherDirectInstances(t *testing.T) {
	started := make(chan int, 16)
	gate := make(chan struct{})
	runs := make([]runFunc, 2)
	for i := range runs {
		runs[i] = func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
			started <- i
			<-gate
			return []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{-in[0].Data[0]}}}, nil
		}
	}
	b := newBatcher(&batcher{runs: runs, batchable: true, maxRows: 8, maxQueue: 4, runCtx: context.Background()})
	res := make([]result, 3)
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = b.submit(&request{ctx: context.Background(), rows: 1,
				inputs: []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{float32(i + 1)}}}})
		}()
	}
	on := map[int]bool{recv(t, started): true, recv(t, started): true}
	require.Len(t, on, 2)
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.waiting == 1 && len(b.free) == 0 })
	close(gate)
	wg.Wait()
	for i, r := range res {
		require.NoError(t, r.err)
		require.Equal(t, []float32{-float32(i + 1)}, r.outs[0].Data)
	}
	b.close()
	recv(t, b.stopped)
}

// TestBatcherDirectPadded: without dynamic batching a request's rows are
// padded with zeros to padTo too (so that it runs a program recorded at
// load), and it gets only its own rows back.
func TestBatcherDirectPadded(t *testing.T) {
	var sizes []int
	b := newBatcher(&batcher{runs: []runFunc{func(_ context.Context, in []vkinfer.Tensor) ([]vkinfer.Tensor, error) {
		sizes = append(sizes, in[0].Shape[0])
		out := make([]float32, 2*len(in[0].Data))
		for k, x := range in[0].Data {
			out[2*k], out[2*k+1] = x, -x
		}
		return []vkinfer.Tensor{{Shape: []int{in[0].Shape[0], 2}, Data: out}}, nil
	}}, batchable: true, maxRows: 64, maxQueue: 4, runCtx: context.Background()})
	for _, rows := range []int{1, 5, 8, 33} {
		x := make([]float32, rows)
		for k := range x {
			x[k] = float32(k + 1)
		}
		r := b.submit(&request{ctx: context.Background(), rows: rows, inputs: []vkinfer.Tensor{{Shape: []int{rows, 1}, Data: x}}})
		require.NoError(t, r.err)
		require.Equal(t, []int{rows, 2}, r.outs[0].Shape)
		require.Len(t, r.outs[0].Data, 2*rows)
		for k := range x {
			require.Equal(t, []float32{x[k], -x[k]}, r.outs[0].Data[2*k:2*k+2])
		}
	}
	require.Equal(t, []int{1, 8, 8, 48}, sizes)
	b.close()
	recv(t, b.stopped)
}
