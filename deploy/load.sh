#!/usr/bin/env bash
# load.sh: load figures of `vkinfer serve` on loopback, bounded in time:
# 64 concurrent clients sending batch-1 requests for examples/mnist, with
# dynamic batching on (model "mnist") and off (model "mnist_nobatch", the
# same file), over REST JSON and REST binary (hey, Debian's package) and
# gRPC raw (ghz, Go module github.com/bojand/ghz). Prints requests/s, p50
# and p99 per run, and the batch-size histograms from /metrics. Not a test:
# figures for docs/SERVING.md.
#
# usage: deploy/load.sh VKINFER [SECONDS] [shared|split]   (hey and ghz on
#   PATH; ghz: go install github.com/bojand/ghz/cmd/ghz@v0.93.0)
#
# shared (the default): the server and the load generator run on all CPUs
# and compete for them. split: the server (and so lavapipe's threads) runs
# on the first half of the CPUs, the load generator on the others (taskset),
# so that neither takes the other's CPU; on a 2-CPU machine one CPU each.
# Besides requests/s and latencies, each run reports the CPU time the server
# and the load generator took per request (server: process_cpu_seconds_total
# from /metrics; load generator: its rusage), which shows who the CPUs went to.
set -euo pipefail
VKINFER="$1"
SECS="${2:-10}"
MODE="${3:-shared}"
C=64
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
for t in hey ghz curl; do command -v "$t" >/dev/null || { echo "load.sh: $t is not on PATH" >&2; exit 1; }; done
SRV=() GEN=()
case "$MODE" in
shared) ;;
split)
	command -v taskset >/dev/null || { echo "load.sh: split needs taskset (util-linux)" >&2; exit 1; }
	n="$(nproc)"
	((n >= 2)) || { echo "load.sh: split needs at least 2 CPUs, this machine has $n" >&2; exit 1; }
	h=$((n / 2))
	SRV=(taskset -c "0-$((h - 1))") GEN=(taskset -c "$h-$((n - 1))")
	;;
*) echo "load.sh: mode must be shared or split, got $MODE" >&2; exit 1 ;;
esac

for m in mnist mnist_nobatch; do
	mkdir -p "$WORK/repo/$m/1"
	cp "$ROOT/examples/mnist/mlp.bin" "$WORK/repo/$m/1/model.bin"
done
cat >"$WORK/repo/mnist/config.pbtxt" <<'EOF'
max_batch_size: 64
dynamic_batching { max_queue_delay_microseconds: 500 }
EOF
echo 'max_batch_size: 64' >"$WORK/repo/mnist_nobatch/config.pbtxt"

for _ in $(seq 196); do printf '\x00\x00\x00\x00\x00\x00\x80\x3e\x00\x00\x00\x3f\x00\x00\x80\x3f'; done >"$WORK/x.raw"
values="$(for _ in $(seq 196); do printf '0,0.25,0.5,1,'; done)"
printf '{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[%s]}]}' "${values%,}" >"$WORK/req.json"
head='{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}'
{
	printf '%s' "$head"
	cat "$WORK/x.raw"
} >"$WORK/req.bin"
printf '{"inputs":[{"name":"input","datatype":"FP32","shape":[1,784]}],"raw_input_contents":["%s"]}' "$(base64 -w0 <"$WORK/x.raw")" >"$WORK/req.grpc.json"

"${SRV[@]}" "$VKINFER" serve --model-repository "$WORK/repo" --http-address 127.0.0.1 --http-port 0 \
	--grpc-address 127.0.0.1 --grpc-port 0 --metrics-address 127.0.0.1 --metrics-port 0 2>"$WORK/serve.log" &
PID=$!
for _ in $(seq 600); do
	grep -q 'msg=serving' "$WORK/serve.log" && break
	sleep 0.1
done
line="$(grep 'msg=serving' "$WORK/serve.log")" || { cat "$WORK/serve.log" >&2; exit 1; }
HTTP="$(sed -E 's/.* http=([0-9.:]+).*/\1/' <<<"$line")"
GRPC="$(sed -E 's/.* grpc=([0-9.:]+).*/\1/' <<<"$line")"
METRICS="$(sed -E 's/.* metrics=([0-9.:]+).*/\1/' <<<"$line")"
echo "device: $(grep -m1 -io 'using [^(]*([^)]*)' "$WORK/serve.log" || echo '?')"
echo "$C clients, batch-1 requests, ${SECS}s per run, CPUs $MODE ($(nproc) CPUs${SRV:+; server: ${SRV[*]}, load generator: ${GEN[*]}}); $(uptime | sed 's/.*load/load/')"
printf '%-14s %-12s %10s %10s %10s %8s %14s %14s\n' model protocol 'req/s' 'p50 ms' 'p99 ms' errors 'server µs/req' 'loadgen µs/req'

# server_cpu: the server's CPU seconds so far (all its threads).
server_cpu() { curl -sf "http://$METRICS/metrics" | awk '/^process_cpu_seconds_total / {print $2}'; }

# gen CMD...: runs the load generator (bounded in time) with its output
# in $WORK/out and its CPU seconds (user + system) in $WORK/gencpu.
gen() {
	(
		timeout $((SECS + 60)) "${GEN[@]}" "$@" >"$WORK/out" 2>&1 || true
		times >"$WORK/times" # (not into a pipe: that runs it in another subshell, without these children)
		awk 'NR == 2 {t = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); t += a[1] * 60 + a[2]}; print t}' "$WORK/times" >"$WORK/gencpu"
	)
}

# percpu REQS/S S0 S1: CPU microseconds per request of the run.
percpu() { awk -v r="$1" -v a="$2" -v b="$3" -v s="$SECS" 'BEGIN {printf "%.0f", (r > 0 ? (b - a) * 1e6 / (r * s) : 0)}'; }

hey_run() { # MODEL NAME ARGS...
	local m="$1" name="$2"
	shift 2
	local c0 c1
	c0="$(server_cpu)"
	gen hey -z "${SECS}s" -c "$C" -m POST "$@" "http://$HTTP/v2/models/$m/infer"
	c1="$(server_cpu)"
	local rps p50 p99 bad
	rps="$(awk '/Requests\/sec:/ {print $2}' "$WORK/out")"
	p50="$(awk '/ 50% in/ {print $3*1000}' "$WORK/out")"
	p99="$(awk '/ 99% in/ {print $3*1000}' "$WORK/out")"
	bad="$(awk '/^  \[[0-9]+\]/ && $1 != "[200]" {n += $2} /^Error distribution/ {e=1} END {print n+0}' "$WORK/out")"
	printf '%-14s %-12s %10.0f %10.2f %10.2f %8s %14s %14s\n' "$m" "$name" "$rps" "$p50" "$p99" "$bad" \
		"$(percpu "$rps" "$c0" "$c1")" "$(percpu "$rps" 0 "$(cat "$WORK/gencpu")")"
}

ghz_run() { # MODEL
	local m="$1"
	sed "s/^{/{\"model_name\":\"$m\",/" "$WORK/req.grpc.json" >"$WORK/g.json"
	local c0 c1
	c0="$(server_cpu)"
	gen ghz --insecure --call inference.GRPCInferenceService/ModelInfer -D "$WORK/g.json" \
		-c "$C" -z "${SECS}s" --connections 8 "$GRPC"
	c1="$(server_cpu)"
	local rps p50 p99 bad
	rps="$(awk '/Requests\/sec:/ {print $2}' "$WORK/out")"
	p50="$(awk '/ 50 % in/ {v=$4; u=$5} END {print (u ~ /^ms/ ? v : (u ~ /^µs/ || u ~ /^us/ ? v/1000 : v*1000))}' "$WORK/out")"
	p99="$(awk '/ 99 % in/ {v=$4; u=$5} END {print (u ~ /^ms/ ? v : (u ~ /^µs/ || u ~ /^us/ ? v/1000 : v*1000))}' "$WORK/out")"
	bad="$(awk '/^Status code distribution/ {s=1; next} s && /\[/ && $1 != "[OK]" {n += $2} END {print n+0}' "$WORK/out")"
	printf '%-14s %-12s %10.0f %10.2f %10.2f %8s %14s %14s\n' "$m" "grpc-raw" "$rps" "$p50" "$p99" "$bad" \
		"$(percpu "$rps" "$c0" "$c1")" "$(percpu "$rps" 0 "$(cat "$WORK/gencpu")")"
}

for m in mnist_nobatch mnist; do
	hey_run "$m" rest-json -T application/json -D "$WORK/req.json"
	hey_run "$m" rest-binary -T application/octet-stream -H "Inference-Header-Content-Length: ${#head}" -D "$WORK/req.bin"
	ghz_run "$m"
done

echo
echo "batch sizes (rows per Model.Run), cumulative buckets from /metrics:"
curl -sf "http://$METRICS/metrics" | grep -E '^vkinfer_batch_size_(bucket|count|sum)'
