#!/usr/bin/env bash
# client-check.sh: `vkinfer serve` against independent clients, on loopback:
# curl for REST (JSON and binary tensor data) and grpcurl (server reflection)
# for gRPC. Every answer of examples/mnist for one input must be the same
# float32 bytes that `vkinfer run` computes for it. Run by `./build.sh
# serve-check` (CI), which builds vkinfer and installs grpcurl.
#
# usage: deploy/client-check.sh VKINFER GRPCURL
set -euo pipefail
VKINFER="$1"
GRPCURL="$2"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$(mktemp -d)"
PID=""
cleanup() {
	if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
	echo "client-check: FAIL: $*" >&2
	[[ -f "$WORK/serve.log" ]] && sed 's/^/  serve: /' "$WORK/serve.log" >&2
	exit 1
}
command -v curl >/dev/null || fail "curl is not installed (apt-get install curl)"

# The repository: examples/mnist with dynamic batching.
mkdir -p "$WORK/repo/mnist/1"
cp "$ROOT/examples/mnist/mlp.bin" "$WORK/repo/mnist/1/model.bin"
cat >"$WORK/repo/mnist/config.pbtxt" <<'EOF'
name: "mnist"
max_batch_size: 64
input [ { name: "input" data_type: TYPE_FP32 dims: [ 784 ] } ]
output [ { name: "probs" data_type: TYPE_FP32 dims: [ 10 ] } ]
dynamic_batching { max_queue_delay_microseconds: 500 }
EOF

# One input row, 784 float32 (0, 0.25, 0.5, 1 repeated), as raw bytes and as
# a NumPy file for `vkinfer run`.
for _ in $(seq 196); do printf '\x00\x00\x00\x00\x00\x00\x80\x3e\x00\x00\x00\x3f\x00\x00\x80\x3f'; done >"$WORK/x.raw"
dict="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 784), }"
pad=$((64 - (10 + ${#dict} + 1) % 64))
{
	printf '\x93NUMPY\x01\x00'
	printf "\\x$(printf %02x $(((${#dict} + pad + 1) % 256)))\\x$(printf %02x $(((${#dict} + pad + 1) / 256)))"
	printf '%s%*s\n' "$dict" "$pad" ''
	cat "$WORK/x.raw"
} >"$WORK/x.npy"
"$VKINFER" run --model "$ROOT/examples/mnist/mlp.bin" --input "$WORK/x.npy" --output "$WORK/want.npy" >/dev/null 2>"$WORK/run.log" ||
	{ cat "$WORK/run.log" >&2; fail "vkinfer run failed"; }
tail -c 40 "$WORK/want.npy" >"$WORK/want.raw"
[[ "$(wc -c <"$WORK/want.npy")" == 168 ]] || fail "vkinfer run wrote $(wc -c <"$WORK/want.npy") bytes, not a 128-byte header and 10 float32"
values="$(for _ in $(seq 196); do printf '0,0.25,0.5,1,'; done)"
values="${values%,}"

"$VKINFER" serve --model-repository "$WORK/repo" --http-address 127.0.0.1 --http-port 0 \
	--grpc-address 127.0.0.1 --grpc-port 0 --metrics-address 127.0.0.1 --metrics-port 0 \
	--exit-timeout-secs 20 2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 600); do
	grep -q 'msg=serving' "$WORK/serve.log" && break
	kill -0 "$PID" 2>/dev/null || fail "vkinfer serve exited"
	sleep 0.1
done
line="$(grep 'msg=serving' "$WORK/serve.log")" || fail "vkinfer serve did not start in 60 s"
HTTP="$(sed -E 's/.* http=([0-9.:]+).*/\1/' <<<"$line")"
GRPC="$(sed -E 's/.* grpc=([0-9.:]+).*/\1/' <<<"$line")"
METRICS="$(sed -E 's/.* metrics=([0-9.:]+).*/\1/' <<<"$line")"
echo "client-check: serving REST on $HTTP, gRPC on $GRPC, metrics on $METRICS"

# REST, with curl.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[[ "$(code "http://$HTTP/v2/health/live")" == 200 ]] || fail "GET /v2/health/live"
[[ "$(code "http://$HTTP/v2/health/ready")" == 200 ]] || fail "GET /v2/health/ready"
[[ "$(code "http://$HTTP/v2/models/mnist/ready")" == 200 ]] || fail "GET /v2/models/mnist/ready"
[[ "$(code "http://$HTTP/v2/models/nope/ready")" == 404 ]] || fail "GET /v2/models/nope/ready is not 404"
curl -sf "http://$HTTP/v2" | grep -q '"name":"vkinfer"' || fail "GET /v2"
curl -sf "http://$HTTP/v2/models/mnist/versions/1" |
	grep -q '"inputs":\[{"name":"input","datatype":"FP32","shape":\[-1,784\]}\]' || fail "GET /v2/models/mnist/versions/1"
json="$(curl -sf -H 'Content-Type: application/json' \
	-d '{"id":"c1","inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":['"$values"']}]}' \
	"http://$HTTP/v2/models/mnist/infer")" || fail "POST infer (JSON)"
grep -q '"id":"c1"' <<<"$json" || fail "infer (JSON) did not echo the id: $json"
grep -qE '"shape":\[1,10\],"data":\[[^]]+\]' <<<"$json" || fail "infer (JSON): $json"
err="$(curl -s -w ' %{http_code}' -d '{"inputs":[{"name":"input","shape":[100000000,784],"datatype":"FP32","data":[0]}]}' \
	"http://$HTTP/v2/models/mnist/infer")"
[[ "$err" == '{"error":'*' 413' ]] || fail "a 10^8-row claim was not refused with 413: $err"
head='{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}'
{
	printf '%s' "$head"
	cat "$WORK/x.raw"
} >"$WORK/body.bin"
curl -sf -D "$WORK/headers" -H 'Content-Type: application/octet-stream' -H "Inference-Header-Content-Length: ${#head}" \
	--data-binary @"$WORK/body.bin" "http://$HTTP/v2/models/mnist/infer" -o "$WORK/rest.out" || fail "POST infer (binary)"
grep -qi '^Inference-Header-Content-Length:' "$WORK/headers" || fail "infer (binary) has no Inference-Header-Content-Length"
n="$(sed -nE 's/^Inference-Header-Content-Length: *([0-9]+).*/\1/Ip' "$WORK/headers")"
[[ "$(wc -c <"$WORK/rest.out")" == $((n + 40)) ]] || fail "infer (binary): $(wc -c <"$WORK/rest.out") bytes, not the $n-byte header and 40 bytes of output"
tail -c 40 "$WORK/rest.out" >"$WORK/rest.raw"
cmp -s "$WORK/want.raw" "$WORK/rest.raw" || fail "REST binary output differs from vkinfer run's"

# gRPC, with grpcurl (server reflection).
g() { "$GRPCURL" -plaintext -max-time 60 "$@"; }
g "$GRPC" list | grep -q '^inference.GRPCInferenceService$' || fail "grpcurl list"
g "$GRPC" inference.GRPCInferenceService/ServerLive | grep -q '"live": true' || fail "ServerLive"
g "$GRPC" inference.GRPCInferenceService/ServerReady | grep -q '"ready": true' || fail "ServerReady"
g -d '{"name":"mnist"}' "$GRPC" inference.GRPCInferenceService/ModelReady | grep -q '"ready": true' || fail "ModelReady"
g "$GRPC" inference.GRPCInferenceService/ServerMetadata | grep -q '"name": "vkinfer"' || fail "ServerMetadata"
g -d '{"name":"mnist"}' "$GRPC" inference.GRPCInferenceService/ModelMetadata | grep -q '"platform": "vkinfer"' || fail "ModelMetadata"
g -d '{"model_name":"mnist","id":"g1","inputs":[{"name":"input","datatype":"FP32","shape":[1,784]}],"raw_input_contents":["'"$(base64 -w0 <"$WORK/x.raw")"'"]}' \
	"$GRPC" inference.GRPCInferenceService/ModelInfer >"$WORK/grpc.json" || fail "ModelInfer"
grep -q '"id": "g1"' "$WORK/grpc.json" || fail "ModelInfer did not echo the id"
sed -nE 's/^ *"([A-Za-z0-9+\/=]{40,})" *$/\1/p' "$WORK/grpc.json" | base64 -d >"$WORK/grpc.raw"
[[ "$(wc -c <"$WORK/grpc.raw")" == 40 ]] || fail "gRPC raw output is not 40 bytes: $(cat "$WORK/grpc.json")"
cmp -s "$WORK/want.raw" "$WORK/grpc.raw" || fail "gRPC raw output differs from vkinfer run's: $(cat "$WORK/grpc.json")"
if g -d '{"model_name":"nope"}' "$GRPC" inference.GRPCInferenceService/ModelInfer 2>"$WORK/err"; then
	fail "ModelInfer of an unknown model succeeded"
fi
grep -q 'NotFound' "$WORK/err" || fail "ModelInfer of an unknown model: $(cat "$WORK/err")"

# Metrics.
curl -sf "http://$METRICS/metrics" | grep -q '^vkinfer_requests_total{model="mnist",outcome="success",protocol="grpc",version="1"} 1$' ||
	fail "metrics do not count the gRPC request"

# SIGTERM drains and exits 0.
kill -TERM "$PID"
wait "$PID" || fail "vkinfer serve exited with $? after SIGTERM"
PID=""
grep -q 'msg=drained' "$WORK/serve.log" || fail "no 'drained' in the log"
echo "client-check: ok (curl REST JSON and binary, grpcurl gRPC: outputs equal vkinfer run's; SIGTERM drained)"
