#!/usr/bin/env bash
# load.sh: load figures of `vkinfer serve` on loopback, bounded in time:
# 64 concurrent clients sending batch-1 requests for examples/mnist, with
# dynamic batching on (model "mnist") and off (model "mnist_nobatch", the
# same file), over REST JSON and REST binary (hey, Debian's package) and
# gRPC raw (ghz, Go module github.com/bojand/ghz). Prints requests/s, p50
# and p99 per run, then the table of docs/SERVING.md (medians over the
# rounds) and the batch-size distribution from /metrics. Not a test:
# figures for docs/SERVING.md.
#
# usage: deploy/load.sh VKINFER [SECONDS] [shared|split] [ROUNDS]   (hey and
#   ghz on PATH; ghz: go install github.com/bojand/ghz/cmd/ghz@v0.93.0)
#   INSTANCES=N in the environment gives both models N instances
#   (config.pbtxt instance_group [ { count: N } ]; default 1).
#
# Each round runs, for each protocol, batching off then on, back to back, so
# that each on/off pair sees the same machine; `uptime` is printed before
# each round, the table gives the median of each column over the rounds and
# the median of the per-round ratios (with each round's in brackets).
# hey runs SECONDS (-z); ghz sends a fixed count (-n) of SECONDS times the
# requests/s hey's binary run of the same model reached just before (ghz -z
# cancels the calls in flight when its time ends and counts them as errors).
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
ROUNDS="${4:-3}"
INSTANCES="${INSTANCES:-1}"
[[ "$INSTANCES" =~ ^[1-9][0-9]*$ ]] || { echo "load.sh: INSTANCES must be a count >= 1, got $INSTANCES" >&2; exit 1; }
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
if ((INSTANCES > 1)); then
	for m in mnist mnist_nobatch; do
		echo "instance_group [ { count: $INSTANCES kind: KIND_AUTO } ]" >>"$WORK/repo/$m/config.pbtxt"
	done
fi

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
echo "$C clients, batch-1 requests, ${SECS}s per run, $ROUNDS round(s), $INSTANCES instance(s) per model, CPUs $MODE ($(nproc) CPUs${SRV:+; server: ${SRV[*]}, load generator: ${GEN[*]}})"
printf '%-5s %-14s %-12s %10s %10s %10s %8s %14s %14s\n' round model protocol 'req/s' 'p50 ms' 'p99 ms' errors 'server µs/req' 'loadgen µs/req'

# server_cpu: the server's CPU seconds so far (all its threads).
server_cpu() { curl -sf "http://$METRICS/metrics" | awk '/^process_cpu_seconds_total / {print $2}'; }

# gen CMD...: runs the load generator (bounded in time) with its output
# in $WORK/out and its CPU seconds (user + system) in $WORK/gencpu.
gen() {
	(
		timeout $((SECS * 4 + 60)) "${GEN[@]}" "$@" >"$WORK/out" 2>&1 || true
		times >"$WORK/times" # (not into a pipe: that runs it in another subshell, without these children)
		awk 'NR == 2 {t = 0; for (i = 1; i <= 2; i++) {split($i, a, /[ms]/); t += a[1] * 60 + a[2]}; print t}' "$WORK/times" >"$WORK/gencpu"
	)
}

# percpu REQS/S S0 S1 SECONDS: CPU microseconds per request of the run.
percpu() { awk -v r="$1" -v a="$2" -v b="$3" -v s="$4" 'BEGIN {printf "%.0f", (r > 0 && s > 0 ? (b - a) * 1e6 / (r * s) : 0)}'; }

# result ROUND MODEL PROTOCOL RPS P50 P99 ERRORS SECONDS C0 C1: prints a
# run's line and keeps it in $WORK/results.
result() {
	local srv gc
	srv="$(percpu "$4" "$9" "${10}" "$8")"
	gc="$(percpu "$4" 0 "$(cat "$WORK/gencpu")" "$8")"
	printf '%-5s %-14s %-12s %10.0f %10.2f %10.2f %8s %14s %14s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$srv" "$gc"
	echo "$1 $2 $3 $4 $5 $6 $7 $srv $gc" >>"$WORK/results"
}

declare -A BIN_RPS # by model: requests/s of its last REST binary run
hey_run() { # ROUND MODEL NAME ARGS...
	local round="$1" m="$2" name="$3"
	shift 3
	local c0 c1
	c0="$(server_cpu)"
	gen hey -z "${SECS}s" -c "$C" -m POST "$@" "http://$HTTP/v2/models/$m/infer"
	c1="$(server_cpu)"
	local rps p50 p99 bad
	rps="$(awk '/Requests\/sec:/ {print $2}' "$WORK/out")"
	p50="$(awk '/ 50% in/ {print $3*1000}' "$WORK/out")"
	p99="$(awk '/ 99% in/ {print $3*1000}' "$WORK/out")"
	bad="$(awk '/^  \[[0-9]+\]/ && $1 != "[200]" {n += $2} /^Error distribution/ {e=1} END {print n+0}' "$WORK/out")"
	[[ "$name" != rest-binary ]] || BIN_RPS[$m]="$rps"
	result "$round" "$m" "$name" "${rps:-0}" "${p50:-0}" "${p99:-0}" "$bad" "$SECS" "$c0" "$c1"
}

ghz_run() { # ROUND MODEL
	local round="$1" m="$2"
	sed "s/^{/{\"model_name\":\"$m\",/" "$WORK/req.grpc.json" >"$WORK/g.json"
	local n c0 c1 t0 t1
	n="$(awk -v r="${BIN_RPS[$m]:-0}" -v s="$SECS" 'BEGIN {n = int(r * s); print (n < 1000 ? 1000 : n)}')"
	c0="$(server_cpu)"
	t0="$(date +%s.%N)"
	gen ghz --insecure --call inference.GRPCInferenceService/ModelInfer -D "$WORK/g.json" \
		-c "$C" -n "$n" --connections 8 "$GRPC"
	t1="$(date +%s.%N)"
	c1="$(server_cpu)"
	local rps p50 p99 bad secs
	rps="$(awk '/Requests\/sec:/ {print $2}' "$WORK/out")"
	p50="$(awk '/ 50 % in/ {v=$4; u=$5} END {print (u ~ /^ms/ ? v : (u ~ /^µs/ || u ~ /^us/ ? v/1000 : v*1000))}' "$WORK/out")"
	p99="$(awk '/ 99 % in/ {v=$4; u=$5} END {print (u ~ /^ms/ ? v : (u ~ /^µs/ || u ~ /^us/ ? v/1000 : v*1000))}' "$WORK/out")"
	bad="$(awk '/^Status code distribution/ {s=1; next} s && /\[/ && $1 != "[OK]" {n += $2} END {print n+0}' "$WORK/out")"
	secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" # the server's CPU was read over this span
	result "$round" "$m" grpc-raw "${rps:-0}" "${p50:-0}" "${p99:-0}" "$bad" "$secs" "$c0" "$c1"
}

: >"$WORK/results"
for round in $(seq "$ROUNDS"); do
	echo "round $round: $(uptime | sed 's/.*load/load/')"
	for m in mnist_nobatch mnist; do
		hey_run "$round" "$m" rest-json -T application/json -D "$WORK/req.json"
	done
	for m in mnist_nobatch mnist; do
		hey_run "$round" "$m" rest-binary -T application/octet-stream -H "Inference-Header-Content-Length: ${#head}" -D "$WORK/req.bin"
	done
	for m in mnist_nobatch mnist; do
		ghz_run "$round" "$m"
	done
done
echo "after: $(uptime | sed 's/.*load/load/')"

echo
echo "medians over $ROUNDS round(s) (on/off: median of the rounds' ratios, each round's in brackets):"
echo
echo "| protocol | off req/s | on req/s | on/off | p50 / p99 ms off | p50 / p99 ms on | server µs/req off / on | load generator µs/req off / on |"
echo "|---|---|---|---|---|---|---|---|"
for proto in rest-json rest-binary grpc-raw; do
	awk -v p="$proto" '
	function med(a, n,    i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) {t = a[j]; a[j] = a[j-1]; a[j-1] = t}
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	function commas(x,    s) {
		x = sprintf("%.0f", x); s = ""
		while (length(x) > 3) {s = "," substr(x, length(x)-2) s; x = substr(x, 1, length(x)-3)}
		return x s
	}
	$3 == p {
		k = ($2 == "mnist") ? "on" : "off"
		n[k]++; rps[k, n[k]] = $4; p50[k, n[k]] = $5; p99[k, n[k]] = $6; srv[k, n[k]] = $8; gen[k, n[k]] = $9
		byround[k, $1] = $4; if ($1 > last) last = $1
	}
	END {
		nr = 0; list = ""
		for (x = 1; x <= last; x++) if (byround["off", x] > 0) {
			nr++; r[nr] = byround["on", x] / byround["off", x]
			list = list (nr > 1 ? ", " : "") sprintf("%.1f", r[nr])
		}
		for (kk = 1; kk <= 2; kk++) {
			k = kk == 1 ? "off" : "on"
			for (i = 1; i <= n[k]; i++) {a[i] = rps[k, i]}; R[k] = med(a, n[k])
			for (i = 1; i <= n[k]; i++) {a[i] = p50[k, i]}; P50[k] = med(a, n[k])
			for (i = 1; i <= n[k]; i++) {a[i] = p99[k, i]}; P99[k] = med(a, n[k])
			for (i = 1; i <= n[k]; i++) {a[i] = srv[k, i]}; S[k] = med(a, n[k])
			for (i = 1; i <= n[k]; i++) {a[i] = gen[k, i]}; G[k] = med(a, n[k])
		}
		name = p == "rest-json" ? "REST JSON" : p == "rest-binary" ? "REST binary" : "gRPC raw"
		printf "| %s | %s | %s | %.1fx (%s) | %.1f / %.1f | %.1f / %.1f | %.0f / %.0f | %.0f / %.0f |\n", name, commas(R["off"]), commas(R["on"]), med(r, nr), list, P50["off"], P99["off"], P50["on"], P99["on"], S["off"], S["on"], G["off"], G["on"]
	}' "$WORK/results"
done

echo
echo "batch sizes with batching on (vkinfer_batch_size of model mnist, all runs; rows per Model.Run, padding not counted):"
echo
curl -sf "http://$METRICS/metrics" | awk '
/^vkinfer_batch_size_bucket\{model="mnist",/ {match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5); c[le] = $2}
/^vkinfer_batch_size_sum\{model="mnist",/ {sum = $2}
/^vkinfer_batch_size_count\{model="mnist",/ {cnt = $2}
END {
	printf "| rows | 1 | 2 | 3-4 | 5-8 | 9-16 | 17-32 | 33-64 | runs | requests | rows per run |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
	printf "| runs | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.1f |\n", c["1"], c["2"] - c["1"], c["4"] - c["2"], c["8"] - c["4"], c["16"] - c["8"], c["32"] - c["16"], c["64"] - c["32"], cnt, sum, (cnt > 0 ? sum / cnt : 0)
}'
