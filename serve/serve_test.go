package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/internal/gputest"
	"github.com/vkinfer/vkinfer/serve/internal/oippb"
)

const mnistBin = "../examples/mnist/mlp.bin"

func openDevice(t *testing.T) *vkinfer.Device {
	t.Helper()
	gputest.Require(t)
	// FixedPlans: the tests compare outputs bit for bit across batch sizes
	// (padded batches), so the plans must not depend on timing.
	dev, err := vkinfer.Open(vkinfer.Options{FixedPlans: true, Validation: gputest.Validation(), OnMessage: func(sev, msg string) {
		t.Errorf("validation: %s: %s", sev, msg)
	}})
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close() })
	return dev
}

// addModel writes DIR/name/config.pbtxt (unless config is "") and
// DIR/name/1/model.bin (a copy of the MNIST example).
func addModel(t *testing.T, dir, name, config string) {
	t.Helper()
	data, err := os.ReadFile(mnistBin)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, name, "1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name, "1", "model.bin"), data, 0o644))
	if config != "" {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "config.pbtxt"), []byte(config), 0o644))
	}
}

// running is a Server serving on loopback.
type running struct {
	s                  *Server
	http, grpc, metric string // base URL, address, metrics URL
	conn               oippb.GRPCInferenceServiceClient
	stop               func() error
}

func start(t *testing.T, dev *vkinfer.Device, repo string) *running {
	t.Helper()
	s, err := New(dev, Config{Repository: repo, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test"})
	require.NoError(t, err)
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		return l
	}
	l := Listeners{HTTP: listen(), GRPC: listen(), Metrics: listen()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l, 20*time.Second) }()
	cc, err := grpc.NewClient(l.GRPC.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	var once sync.Once
	var serr error
	stop := func() error {
		once.Do(func() {
			cancel()
			serr = <-done
			cc.Close()
		})
		return serr
	}
	t.Cleanup(func() { stop() })
	return &running{
		s: s, http: "http://" + l.HTTP.Addr().String(), grpc: l.GRPC.Addr().String(),
		metric: "http://" + l.Metrics.Addr().String() + "/metrics",
		conn:   oippb.NewGRPCInferenceServiceClient(cc), stop: stop,
	}
}

// digits returns n MNIST-like input rows (784 values in [0,1]).
func digits(n int) []float32 {
	out := make([]float32, n*784)
	for i := range out {
		out[i] = float32((i*7919)%256) / 255
	}
	return out
}

// reference runs the model file directly with Model.Run on the same input
// the server runs: rows padded with zeros to padTo(rows, maxBatch) when the
// model batches (maxBatch > 0); it returns the outputs of the real rows.
func reference(t *testing.T, dev *vkinfer.Device, x []float32, rows, maxBatch int) []float32 {
	t.Helper()
	m, err := dev.Load(mnistBin)
	require.NoError(t, err)
	defer m.Close()
	n := rows
	if maxBatch > 0 {
		n = padTo(rows, maxBatch)
	}
	in := make([]float32, n*784)
	copy(in, x)
	out, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{n, 784}, Data: in})
	require.NoError(t, err)
	return out[0].Data[:rows*10]
}

func do(t *testing.T, method, url, ctype string, body []byte, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// halfDigits returns two input rows of values k/256 (exact in FP16 and
// BF16, so the server must compute on exactly these float32 values) and
// the model's outputs for them.
func halfDigits(t *testing.T, dev *vkinfer.Device) ([]float32, []float32) {
	x := make([]float32, 2*784)
	for i := range x {
		x[i] = float32((i*7919)%256) / 256
	}
	return x, reference(t, dev, x, 2, 8)
}

// encode16 writes x, whose values are exact in FP16 and BF16 and in
// [0, 1), as little-endian FP16 or BF16 (bit layouts written out here,
// independently of the server's decoder).
func encode16(t *testing.T, dt string, x []float32) []byte {
	out := make([]byte, 0, 2*len(x))
	for _, v := range x {
		b := math.Float32bits(v)
		require.Zero(t, b&0xffff, "%v is not exact in BF16", v)
		h := uint16(b >> 16) // BF16: the top half of float32
		if dt == "FP16" && v != 0 {
			exp := int(b>>23&0xff) - 127 + 15 // rebias 127 -> 15; these are normal in FP16
			require.True(t, exp > 0 && exp < 31 && b&0x1fff == 0, "%v is not a normal FP16", v)
			h = uint16(b>>31)<<15 | uint16(exp)<<10 | uint16(b>>13&0x3ff)
		}
		out = binary.LittleEndian.AppendUint16(out, h)
	}
	return out
}

func jsonFloats(x []float32) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, v := range x {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
	}
	sb.WriteByte(']')
	return sb.String()
}

type inferResp struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name       string    `json:"name"`
		Datatype   string    `json:"datatype"`
		Shape      []int     `json:"shape"`
		Data       []float32 `json:"data"`
		Parameters struct {
			BinaryDataSize int `json:"binary_data_size"`
		} `json:"parameters"`
	} `json:"outputs"`
}

const batchedConfig = `name: "mnist"
max_batch_size: 8
input [ { name: "input" data_type: TYPE_FP32 dims: [ 784 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 100 }
instance_group [ { count: 2 kind: KIND_GPU } ]
`

func TestServeREST(t *testing.T) {
	dev := openDevice(t)
	repo := t.TempDir()
	addModel(t, repo, "mnist", batchedConfig)
	addModel(t, repo, "plain", "") // no config.pbtxt: the model's own shapes
	r := start(t, dev, repo)

	code, _, _ := do(t, "GET", r.http+"/v2/health/live", "", nil, nil)
	require.Equal(t, 200, code)
	code, _, _ = do(t, "GET", r.http+"/v2/health/ready", "", nil, nil)
	require.Equal(t, 200, code)
	code, _, body := do(t, "GET", r.http+"/v2", "", nil, nil)
	require.Equal(t, 200, code)
	require.JSONEq(t, `{"name":"vkinfer","version":"test","extensions":["binary_tensor_data","model_repository"]}`, string(body))
	for _, u := range []string{"/v2/models/mnist", "/v2/models/mnist/versions/1"} {
		code, _, body = do(t, "GET", r.http+u, "", nil, nil)
		require.Equal(t, 200, code, u)
		require.JSONEq(t, `{"name":"mnist","versions":["1"],"platform":"vkinfer",
			"inputs":[{"name":"input","datatype":"FP32","shape":[-1,784]}],
			"outputs":[{"name":"probs","datatype":"FP32","shape":[-1,10]}]}`, string(body), u)
	}
	code, _, body = do(t, "GET", r.http+"/v2/models/plain", "", nil, nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `"shape":[-1,784]`)
	for u, want := range map[string]int{
		"/v2/models/mnist/ready": 200, "/v2/models/mnist/versions/1/ready": 200,
		"/v2/models/mnist/versions/2/ready": 503, "/v2/models/nope/ready": 404,
		"/v2/models/nope": 404, "/v2/models/mnist/versions/2": 404, "/v2/models/mnist/versions/x": 400,
	} {
		code, _, _ = do(t, "GET", r.http+u, "", nil, nil)
		require.Equal(t, want, code, u)
	}
	code, _, body = do(t, "POST", r.http+"/v2/repository/index", "", nil, nil)
	require.Equal(t, 200, code)
	require.JSONEq(t, `[{"name":"mnist","version":"1","state":"READY"},{"name":"plain","version":"1","state":"READY"}]`, string(body))

	x := digits(3)
	want := reference(t, dev, x, 3, 8)      // mnist: max_batch_size 8
	wantPlain := reference(t, dev, x, 3, 0) // plain: no config, no batching

	t.Run("json flat", func(t *testing.T) {
		req := `{"id":"req-7","inputs":[{"name":"input","shape":[3,784],"datatype":"FP32","data":` + jsonFloats(x) + `}]}`
		code, hdr, body := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", []byte(req), nil)
		require.Equal(t, 200, code, string(body))
		require.Equal(t, "application/json", hdr.Get("Content-Type"))
		var resp inferResp
		require.NoError(t, json.Unmarshal(body, &resp))
		require.Equal(t, "mnist", resp.ModelName)
		require.Equal(t, "1", resp.ModelVersion)
		require.Equal(t, "req-7", resp.ID)
		require.Len(t, resp.Outputs, 1)
		require.Equal(t, "probs", resp.Outputs[0].Name)
		require.Equal(t, "FP32", resp.Outputs[0].Datatype)
		require.Equal(t, []int{3, 10}, resp.Outputs[0].Shape)
		require.Equal(t, want, resp.Outputs[0].Data)
	})
	t.Run("json nested, version path, plain model", func(t *testing.T) {
		var rows []string
		for i := 0; i < 3; i++ {
			rows = append(rows, jsonFloats(x[i*784:(i+1)*784]))
		}
		req := `{"inputs":[{"name":"input","shape":[3,784],"datatype":"FP32","data":[` + strings.Join(rows, ",") + `]}],
			"outputs":[{"name":"probs"}]}`
		for u, want := range map[string][]float32{"/v2/models/mnist/versions/1/infer": want, "/v2/models/plain/infer": wantPlain} {
			code, _, body := do(t, "POST", r.http+u, "application/json", []byte(req), nil)
			require.Equal(t, 200, code, string(body))
			var resp inferResp
			require.NoError(t, json.Unmarshal(body, &resp))
			require.Equal(t, want, resp.Outputs[0].Data, u)
		}
	})
	t.Run("integer and bool datatypes are converted", func(t *testing.T) {
		ints := make([]string, 784)
		xi := make([]float32, 784)
		for i := range ints {
			xi[i] = float32(i % 3)
			ints[i] = strconv.Itoa(i % 3)
		}
		wantI := reference(t, dev, xi, 1, 8)
		for _, dt := range []string{"UINT8", "INT32", "INT64", "FP64"} {
			req := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"` + dt + `","data":[` + strings.Join(ints, ",") + `]}]}`
			code, _, body := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", []byte(req), nil)
			require.Equal(t, 200, code, string(body))
			var resp inferResp
			require.NoError(t, json.Unmarshal(body, &resp))
			require.Equal(t, wantI, resp.Outputs[0].Data, dt)
		}
		bools := make([]string, 784)
		xb := make([]float32, 784)
		for i := range bools {
			bools[i] = strconv.FormatBool(i%2 == 0)
			if i%2 == 0 {
				xb[i] = 1
			}
		}
		req := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"BOOL","data":[` + strings.Join(bools, ",") + `]}]}`
		code, _, body := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", []byte(req), nil)
		require.Equal(t, 200, code, string(body))
		var resp inferResp
		require.NoError(t, json.Unmarshal(body, &resp))
		require.Equal(t, reference(t, dev, xb, 1, 8), resp.Outputs[0].Data)
	})
	t.Run("binary in and out", func(t *testing.T) {
		head := []byte(`{"inputs":[{"name":"input","shape":[3,784],"datatype":"FP32","parameters":{"binary_data_size":9408}}],
			"outputs":[{"name":"probs","parameters":{"binary_data":true}}]}`)
		body := append(append([]byte(nil), head...), encodeFP32(nil, x)...)
		code, hdr, out := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/octet-stream", body,
			map[string]string{headerLength: strconv.Itoa(len(head))})
		require.Equal(t, 200, code, string(out))
		n, err := strconv.Atoi(hdr.Get(headerLength))
		require.NoError(t, err)
		var resp inferResp
		require.NoError(t, json.Unmarshal(out[:n], &resp))
		require.Equal(t, 120, resp.Outputs[0].Parameters.BinaryDataSize)
		require.Nil(t, resp.Outputs[0].Data)
		require.Len(t, out[n:], 120)
		got := make([]float32, 30)
		for i := range got {
			got[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[n+4*i:]))
		}
		require.Equal(t, want, got)
	})
	t.Run("FP16 and BF16 are converted", func(t *testing.T) {
		xh, want := halfDigits(t, dev)
		for _, dt := range []string{"FP16", "BF16"} {
			req := `{"inputs":[{"name":"input","shape":[2,784],"datatype":"` + dt + `","data":` + jsonFloats(xh) + `}]}`
			code, _, body := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", []byte(req), nil)
			require.Equal(t, 200, code, string(body))
			var resp inferResp
			require.NoError(t, json.Unmarshal(body, &resp))
			require.Equal(t, want, resp.Outputs[0].Data, "JSON %s", dt)

			head := []byte(`{"inputs":[{"name":"input","shape":[2,784],"datatype":"` + dt + `","parameters":{"binary_data_size":3136}}],
				"parameters":{"binary_data_output":true}}`)
			body = append(append([]byte(nil), head...), encode16(t, dt, xh)...)
			code, hdr, out := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/octet-stream", body,
				map[string]string{headerLength: strconv.Itoa(len(head))})
			require.Equal(t, 200, code, string(out))
			n, err := strconv.Atoi(hdr.Get(headerLength))
			require.NoError(t, err)
			got := make([]float32, 20)
			for i := range got {
				got[i] = math.Float32frombits(binary.LittleEndian.Uint32(out[n+4*i:]))
			}
			require.Equal(t, want, got, "binary %s", dt)
		}
	})
	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			url, body string
			hdr       map[string]string
			code      int
			msg       string
		}{
			{"/v2/models/nope/infer", `{}`, nil, 404, `no model \"nope\"`},
			{"/v2/models/mnist/infer", `{"inputs":[`, nil, 400, "not an inference request in JSON"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[1,783],"datatype":"FP32","data":[1]}]}`, nil, 400, "takes [-1 784]"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[100000000,784],"datatype":"FP32","data":[1]}]}`, nil, 413, "more than the"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[9,784],"datatype":"FP32","data":[1]}]}`, nil, 400, "max_batch_size"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[1,2]}]}`, nil, 400, "data has 2 values, its shape gives 784"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[1,784],"datatype":"BYTES","data":["a"]}]}`, nil, 400, "input \\\"input\\\" has datatype BYTES (strings)"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"x","shape":[1,784],"datatype":"FP32","data":[1]}]}`, nil, 400, "has no input \\\"x\\\""},
			{"/v2/models/mnist/infer", `{"inputs":[]}`, nil, 400, "input \\\"input\\\" of model \\\"mnist\\\" is missing"},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","parameters":{"binary_data_size":3136}}]}`, map[string]string{headerLength: "10000"}, 400, headerLength},
			{"/v2/models/mnist/infer", `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":` + jsonFloats(x[:784]) + `}],"outputs":[{"name":"zz"}]}`, nil, 400, "no output \\\"zz\\\""},
		}
		for _, c := range cases {
			code, _, body := do(t, "POST", r.http+c.url, "application/json", []byte(c.body), c.hdr)
			require.Equal(t, c.code, code, "%s: %s", c.body, body)
			require.Contains(t, string(body), `{"error":"`)
			require.Contains(t, string(body), c.msg)
		}
		// A body over the limit is refused from its Content-Length.
		big := make([]byte, DefaultMaxRequestBytes+1)
		code, _, body := do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", big, nil)
		require.Equal(t, 413, code, string(body))
	})

	code, _, body = do(t, "GET", r.metric, "", nil, nil)
	require.Equal(t, 200, code)
	for _, m := range []string{
		`vkinfer_requests_total{model="mnist",outcome="success",protocol="rest",version="1"}`,
		`vkinfer_requests_total{model="",outcome="not_found",protocol="rest",version=""} 1`,
		`vkinfer_batch_size_bucket{model="mnist",version="1",le="4"}`,
		`vkinfer_queue_duration_seconds_count{model="mnist",version="1"}`,
		`vkinfer_compute_duration_seconds_count{model="mnist",version="1"}`,
		`vkinfer_request_duration_seconds_count{model="mnist",protocol="rest",version="1"}`,
		`vkinfer_model_ready{model="mnist",version="1"} 1`,
		`vkinfer_device_memory_bytes `,
	} {
		require.Contains(t, string(body), m)
	}
	require.NoError(t, r.stop())
}

func TestServeGRPC(t *testing.T) {
	dev := openDevice(t)
	repo := t.TempDir()
	addModel(t, repo, "mnist", batchedConfig)
	r := start(t, dev, repo)
	ctx := context.Background()
	c := r.conn

	live, err := c.ServerLive(ctx, &oippb.ServerLiveRequest{})
	require.NoError(t, err)
	require.True(t, live.Live)
	ready, err := c.ServerReady(ctx, &oippb.ServerReadyRequest{})
	require.NoError(t, err)
	require.True(t, ready.Ready)
	mr, err := c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "mnist", Version: "1"})
	require.NoError(t, err)
	require.True(t, mr.Ready)
	_, err = c.ModelReady(ctx, &oippb.ModelReadyRequest{Name: "nope"})
	require.Equal(t, codes.NotFound, status.Code(err))
	sm, err := c.ServerMetadata(ctx, &oippb.ServerMetadataRequest{})
	require.NoError(t, err)
	require.Equal(t, "vkinfer", sm.Name)
	require.Equal(t, []string{"binary_tensor_data", "model_repository"}, sm.Extensions)
	md, err := c.ModelMetadata(ctx, &oippb.ModelMetadataRequest{Name: "mnist"})
	require.NoError(t, err)
	require.Equal(t, []string{"1"}, md.Versions)
	require.Equal(t, "input", md.Inputs[0].Name)
	require.Equal(t, []int64{-1, 784}, md.Inputs[0].Shape)
	require.Equal(t, []int64{-1, 10}, md.Outputs[0].Shape)

	x := digits(2)
	want := reference(t, dev, x, 2, 8)
	decode := func(resp *oippb.ModelInferResponse) []float32 {
		require.Len(t, resp.RawOutputContents, 1)
		raw := resp.RawOutputContents[0]
		got := make([]float32, len(raw)/4)
		for i := range got {
			got[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return got
	}
	in := &oippb.ModelInferRequest_InferInputTensor{Name: "input", Datatype: "FP32", Shape: []int64{2, 784}}
	resp, err := c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "mnist", Id: "g1",
		Inputs: []*oippb.ModelInferRequest_InferInputTensor{in}, RawInputContents: [][]byte{encodeFP32(nil, x)}})
	require.NoError(t, err)
	require.Equal(t, "g1", resp.Id)
	require.Equal(t, "1", resp.ModelVersion)
	require.Equal(t, []int64{2, 10}, resp.Outputs[0].Shape)
	require.Equal(t, want, decode(resp))

	in.Contents = &oippb.InferTensorContents{Fp32Contents: x}
	resp, err = c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "mnist", ModelVersion: "1",
		Inputs:  []*oippb.ModelInferRequest_InferInputTensor{in},
		Outputs: []*oippb.ModelInferRequest_InferRequestedOutputTensor{{Name: "probs"}}})
	require.NoError(t, err)
	require.Equal(t, want, decode(resp))

	for _, c2 := range []struct {
		req  *oippb.ModelInferRequest
		code codes.Code
	}{
		{&oippb.ModelInferRequest{ModelName: "nope"}, codes.NotFound},
		{&oippb.ModelInferRequest{ModelName: "mnist"}, codes.InvalidArgument},
		{&oippb.ModelInferRequest{ModelName: "mnist", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
			{Name: "input", Datatype: "FP32", Shape: []int64{1, 784}}}, RawInputContents: [][]byte{{1, 2, 3}}}, codes.InvalidArgument},
		{&oippb.ModelInferRequest{ModelName: "mnist", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
			{Name: "input", Datatype: "FP32", Shape: []int64{1 << 40, 784}}}}, codes.InvalidArgument},
	} {
		_, err := c.ModelInfer(ctx, c2.req)
		require.Equal(t, c2.code, status.Code(err), "%v", err)
	}

	// FP16 and BF16 as raw_input_contents are converted; the typed contents
	// have no field for them, and BYTES is refused naming the input.
	xh, wantH := halfDigits(t, dev)
	for _, dt := range []string{"FP16", "BF16"} {
		in := &oippb.ModelInferRequest_InferInputTensor{Name: "input", Datatype: dt, Shape: []int64{2, 784}}
		resp, err := c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "mnist",
			Inputs: []*oippb.ModelInferRequest_InferInputTensor{in}, RawInputContents: [][]byte{encode16(t, dt, xh)}})
		require.NoError(t, err, dt)
		require.Equal(t, wantH, decode(resp), dt)
		in.Contents = &oippb.InferTensorContents{Fp32Contents: xh}
		_, err = c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "mnist", Inputs: []*oippb.ModelInferRequest_InferInputTensor{in}})
		require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
		require.ErrorContains(t, err, "send it as raw_input_contents")
	}
	_, err = c.ModelInfer(ctx, &oippb.ModelInferRequest{ModelName: "mnist", Inputs: []*oippb.ModelInferRequest_InferInputTensor{
		{Name: "input", Datatype: "BYTES", Shape: []int64{1, 784}}}, RawInputContents: [][]byte{make([]byte, 784)}})
	require.Equal(t, codes.InvalidArgument, status.Code(err), "%v", err)
	require.ErrorContains(t, err, `input "input" has datatype BYTES`)
	require.NoError(t, r.stop())
}

// TestServeBatching: 8 concurrent requests to a model that only runs full
// batches of 8 (preferred_batch_size 8, a long max_queue_delay) come back
// from one Model.Run, each with its own rows.
func TestServeBatching(t *testing.T) {
	dev := openDevice(t)
	repo := t.TempDir()
	addModel(t, repo, "mnist", `max_batch_size: 8
dynamic_batching { max_queue_delay_microseconds: 60000000 preferred_batch_size: [ 8 ] }`)
	addModel(t, repo, "small", `max_batch_size: 8
dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 1 } }`)
	r := start(t, dev, repo)

	x := digits(8)
	want := reference(t, dev, x, 8, 8)
	var wg sync.WaitGroup
	got := make([][]float32, 8)
	errs := make([]error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proto := i % 2
			if proto == 0 {
				req := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":` + jsonFloats(x[i*784:(i+1)*784]) + `}]}`
				resp, err := http.Post(r.http+"/v2/models/mnist/infer", "application/json", strings.NewReader(req))
				if err != nil {
					errs[i] = err
					return
				}
				defer resp.Body.Close()
				var ir inferResp
				if err := json.NewDecoder(resp.Body).Decode(&ir); err != nil || resp.StatusCode != 200 {
					errs[i] = fmt.Errorf("status %d: %v", resp.StatusCode, err)
					return
				}
				got[i] = ir.Outputs[0].Data
				return
			}
			resp, err := r.conn.ModelInfer(context.Background(), &oippb.ModelInferRequest{ModelName: "mnist",
				Inputs:           []*oippb.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 784}}},
				RawInputContents: [][]byte{encodeFP32(nil, x[i*784:(i+1)*784])}})
			if err != nil {
				errs[i] = err
				return
			}
			raw := resp.RawOutputContents[0]
			got[i] = make([]float32, 10)
			for k := range got[i] {
				got[i][k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		require.NoError(t, errs[i], "request %d", i)
		require.Equal(t, want[i*10:(i+1)*10], got[i], "request %d", i)
	}
	_, _, body := do(t, "GET", r.metric, "", nil, nil)
	require.Contains(t, string(body), `vkinfer_batch_size_bucket{model="mnist",version="1",le="4"} 0`)
	require.Contains(t, string(body), `vkinfer_batch_size_bucket{model="mnist",version="1",le="8"} 1`)

	// A full queue answers at once; a cancelled request leaves the queue.
	one := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":` + jsonFloats(x[:784]) + `}]}`
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", r.http+"/v2/models/small/infer", strings.NewReader(one))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			first <- -1
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	v, err := r.s.lookup("small", "")
	require.NoError(t, err)
	waitFor(t, func() bool { v.b.mu.Lock(); defer v.b.mu.Unlock(); return len(v.b.queue) == 1 })
	code, _, body := do(t, "POST", r.http+"/v2/models/small/infer", "application/json", []byte(one), nil)
	require.Equal(t, 429, code, string(body))
	_, err = r.conn.ModelInfer(context.Background(), &oippb.ModelInferRequest{ModelName: "small",
		Inputs:           []*oippb.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 784}}},
		RawInputContents: [][]byte{encodeFP32(nil, x[:784])}})
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	cancel()
	require.Equal(t, -1, <-first)
	waitFor(t, func() bool { v.b.mu.Lock(); defer v.b.mu.Unlock(); return len(v.b.queue) == 0 })

	// Draining runs what is queued (without waiting out the delay) and
	// answers it; readiness fails from the start of the drain.
	answered := make(chan int, 1)
	go func() {
		resp, err := http.Post(r.http+"/v2/models/small/infer", "application/json", strings.NewReader(one))
		if err != nil {
			answered <- -1
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	waitFor(t, func() bool { v.b.mu.Lock(); defer v.b.mu.Unlock(); return len(v.b.queue) == 1 })
	require.NoError(t, r.stop())
	require.Equal(t, 200, <-answered)
	require.False(t, r.s.Ready())
}

// waitFor polls cond (every millisecond, at most 30 s): for states another
// goroutine reaches, not a timing assertion.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 30 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestServeBrokenModel(t *testing.T) {
	dev := openDevice(t)
	repo := t.TempDir()
	addModel(t, repo, "mnist", batchedConfig)
	addModel(t, repo, "wrongdims", `max_batch_size: 4
input [ { name: "input" data_type: TYPE_FP32 dims: [ 28, 28 ] } ]`)
	addModel(t, repo, "wrongname", `name: "other"`)
	r := start(t, dev, repo)
	code, _, _ := do(t, "GET", r.http+"/v2/health/ready", "", nil, nil)
	require.Equal(t, 503, code)
	ready, err := r.conn.ServerReady(context.Background(), &oippb.ServerReadyRequest{})
	require.NoError(t, err)
	require.False(t, ready.Ready)
	code, _, body := do(t, "GET", r.http+"/v2/models/wrongdims", "", nil, nil)
	require.Equal(t, 503, code)
	require.Contains(t, string(body), `has dims [28 28] but the model's is [784]`)
	code, _, body = do(t, "POST", r.http+"/v2/repository/index", "", nil, nil)
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `{"name":"wrongname","state":"UNAVAILABLE","reason":`)
	// The others serve.
	code, _, _ = do(t, "GET", r.http+"/v2/models/mnist/ready", "", nil, nil)
	require.Equal(t, 200, code)
	req := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":` + jsonFloats(digits(1)) + `}]}`
	code, _, body = do(t, "POST", r.http+"/v2/models/mnist/infer", "application/json", []byte(req), nil)
	require.Equal(t, 200, code, string(body))
	code, _, body = do(t, "POST", r.http+"/v2/models/wrongdims/infer", "application/json", []byte(req), nil)
	require.Equal(t, 503, code, string(body))
	require.NoError(t, r.stop())
}

// TestServeAnyShapeModel: a model whose input is declared without a shape
// (testdata/onnxcases/any_shape_input) is served with the dims its
// config.pbtxt gives; without them it does not load, and the reason says
// what to write.
func TestServeAnyShapeModel(t *testing.T) {
	dev := openDevice(t)
	data, err := os.ReadFile("../testdata/onnxcases/any_shape_input/model.onnx")
	require.NoError(t, err)
	repo := t.TempDir()
	for name, config := range map[string]string{
		"anyconf":   `input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 12 ] } ]`,
		"anynoconf": "",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(repo, name, "1"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(repo, name, "1", "model.onnx"), data, 0o644))
		if config != "" {
			require.NoError(t, os.WriteFile(filepath.Join(repo, name, "config.pbtxt"), []byte(config), 0o644))
		}
	}
	r := start(t, dev, repo)
	code, _, body := do(t, "GET", r.http+"/v2/models/anynoconf", "", nil, nil)
	require.Equal(t, 503, code)
	require.Contains(t, string(body), `the model declares no shape for its input \"x\"; give its dims in config.pbtxt`)
	code, _, body = do(t, "GET", r.http+"/v2/models/anyconf", "", nil, nil)
	require.Equal(t, 200, code, string(body))
	require.Contains(t, string(body), `{"name":"x","datatype":"FP32","shape":[-1,12]}`)
	x := make([]float32, 2*12)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	req := `{"inputs":[{"name":"x","shape":[2,12],"datatype":"FP32","data":` + jsonFloats(x) + `}],"outputs":[{"name":"y"}]}`
	code, _, body = do(t, "POST", r.http+"/v2/models/anyconf/infer", "application/json", []byte(req), nil)
	require.Equal(t, 200, code, string(body))
	m, err := dev.Load("../testdata/onnxcases/any_shape_input/model.onnx")
	require.NoError(t, err)
	defer m.Close()
	want, err := m.Run(context.Background(), vkinfer.Tensor{Shape: []int{2, 12}, Data: x})
	require.NoError(t, err)
	var resp struct {
		Outputs []struct {
			Name  string
			Shape []int
			Data  []float32
		}
	}
	require.NoError(t, json.Unmarshal(body, &resp), string(body))
	require.Len(t, resp.Outputs, 1)
	require.Equal(t, []int{2, 5}, resp.Outputs[0].Shape)
	require.Equal(t, want[1].Data, resp.Outputs[0].Data)
	require.NoError(t, r.stop())
}

// TestServeInstances: config instance_group loads count instances of a
// model (the groups' counts summed), each warmed up at every batch size the
// batcher pads to before the server is ready; requests over REST and gRPC
// are spread over the instances (each runs batches: vkinfer_instance_runs_total)
// and get the model's outputs; and no request records a program, whatever
// its batch size, with dynamic batching or without.
func TestServeInstances(t *testing.T) {
	dev := openDevice(t)
	repo := t.TempDir()
	addModel(t, repo, "batched", "max_batch_size: 8\ndynamic_batching { }\ninstance_group [ { count: 2 kind: KIND_AUTO } ]")
	addModel(t, repo, "direct", "max_batch_size: 8\ninstance_group [ { count: 1 kind: KIND_CPU }, { count: 2 } ]")
	addModel(t, repo, "negative", "max_batch_size: 8\ninstance_group [ { count: -2 } ]")
	x := digits(8)
	want := make([][]float32, 9)
	for rows := 1; rows <= 8; rows++ {
		want[rows] = reference(t, dev, x, rows, 8)
	}
	r := start(t, dev, repo)
	code, _, body := do(t, "GET", r.http+"/v2/models/negative", "", nil, nil)
	require.Equal(t, 503, code)
	require.Contains(t, string(body), "instance_group 0 has count -2")
	counts := map[string]int{"batched": 2, "direct": 3}
	for name, n := range counts {
		v, err := r.s.lookup(name, "")
		require.NoError(t, err)
		require.Len(t, v.instances, n, name)
	}
	recorded := dev.Stats().Recorded

	runsRE := regexp.MustCompile(`(?m)^vkinfer_instance_runs_total\{instance="(\d+)",model="(\w+)",version="1"\} (\d+)$`)
	allRan := func() bool {
		_, _, body := do(t, "GET", r.metric, "", nil, nil)
		ran := map[string]int{}
		for _, m := range runsRE.FindAllStringSubmatch(string(body), -1) {
			if m[3] != "0" {
				ran[m[2]]++
			}
		}
		return ran["batched"] == counts["batched"] && ran["direct"] == counts["direct"]
	}
	// Waves of concurrent requests of 1 to 8 rows until every instance of
	// both models has run batches (several requests at once find an
	// instance busy and go to another).
	deadline := time.Now().Add(30 * time.Second)
	for !allRan() {
		require.True(t, time.Now().Before(deadline), "not every instance ran a batch in 30 s")
		const n = 32
		var wg sync.WaitGroup
		got := make([][]float32, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				model, rows := []string{"batched", "direct"}[i%2], 1+i/2%8
				if i/16 == 0 {
					req := `{"inputs":[{"name":"input","shape":[` + strconv.Itoa(rows) + `,784],"datatype":"FP32","data":` + jsonFloats(x[:rows*784]) + `}]}`
					resp, err := http.Post(r.http+"/v2/models/"+model+"/infer", "application/json", strings.NewReader(req))
					if err != nil {
						errs[i] = err
						return
					}
					defer resp.Body.Close()
					var ir inferResp
					if err := json.NewDecoder(resp.Body).Decode(&ir); err != nil || resp.StatusCode != 200 {
						errs[i] = fmt.Errorf("status %d: %v", resp.StatusCode, err)
						return
					}
					got[i] = ir.Outputs[0].Data
					return
				}
				resp, err := r.conn.ModelInfer(context.Background(), &oippb.ModelInferRequest{ModelName: model,
					Inputs:           []*oippb.ModelInferRequest_InferInputTensor{{Name: "input", Datatype: "FP32", Shape: []int64{int64(rows), 784}}},
					RawInputContents: [][]byte{encodeFP32(nil, x[:rows*784])}})
				if err != nil {
					errs[i] = err
					return
				}
				raw := resp.RawOutputContents[0]
				got[i] = make([]float32, len(raw)/4)
				for k := range got[i] {
					got[i][k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
				}
			}()
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i], "request %d", i)
			rows := 1 + i/2%8
			// Batch-mates change the padded batch size, and results can
			// differ in the last bits between batch sizes.
			require.InDeltaSlice(t, want[rows], got[i], 1e-5, "request %d (%d rows)", i, rows)
		}
	}
	require.Equal(t, recorded, dev.Stats().Recorded, "a request recorded a program: an instance was not warmed up at its batch size")
	require.NoError(t, r.stop())
}
