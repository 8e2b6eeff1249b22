#!/usr/bin/env bash
# build.sh: vkinfer's build entry point. Run `./build.sh help`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v go >/dev/null 2>&1 || PATH="$PATH:/usr/local/go/bin"
cd "$ROOT"

# Vulkan 1.1 (SPIR-V 1.3) so shaders may use subgroup operations.
TARGET_ENV=vulkan1.1
SHADER_DIR=shaders
SPIRV_DIR=spirv
GENERATED=zz_generated.go

# WORK is the scratch directory of this run, removed on exit.
WORK=""
cleanup() {
	if [[ -n "$WORK" ]]; then
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

die() {
	echo "build.sh: $*" >&2
	exit 1
}

need_shader_tools() {
	local missing=()
	command -v glslangValidator >/dev/null 2>&1 || missing+=(glslangValidator)
	command -v spirv-val >/dev/null 2>&1 || missing+=(spirv-val)
	if ((${#missing[@]})); then
		die "missing ${missing[*]}: install with 'apt-get install glslang-tools spirv-tools'"
	fi
}

# compile_all OUTDIR: compile and validate every shaders/*.comp into
# OUTDIR/NAME.spv, then write OUTDIR/zz_generated.go with tools/spirvgen.
# No debug info (-g is not passed) and relative source paths, so the output
# depends only on the sources and the glslang version.
compile_all() {
	local out="$1" src name log
	local srcs=("$SHADER_DIR"/*.comp)
	[[ -e "${srcs[0]}" ]] || die "no $SHADER_DIR/*.comp to compile"
	log="$out/.log"
	for src in "${srcs[@]}"; do
		name="$(basename "$src" .comp)"
		if ! glslangValidator -V --target-env "$TARGET_ENV" -o "$out/$name.spv" "$src" >"$log" 2>&1; then
			cat "$log" >&2
			die "glslangValidator failed on $src"
		fi
		if ! spirv-val --target-env "$TARGET_ENV" "$out/$name.spv" >"$log" 2>&1; then
			cat "$log" >&2
			die "spirv-val rejected the module compiled from $src"
		fi
	done
	rm -f "$log"
	go run ./tools/spirvgen -shaders "$SHADER_DIR" -spv "$out" -out "$out/$GENERATED" ||
		die "tools/spirvgen failed"
}

cmd_shaders() {
	need_shader_tools
	local tmp f base changed=0
	WORK="$(mktemp -d)"
	tmp="$WORK"
	compile_all "$tmp"
	# Only now, with everything compiled and reflected, touch spirv/.
	for f in "$SPIRV_DIR"/*.spv; do
		[[ -e "$f" ]] || continue
		base="$(basename "$f")"
		if [[ ! -e "$tmp/$base" ]]; then
			rm -f "$f"
			echo "removed $f"
			changed=1
		fi
	done
	for f in "$tmp"/*.spv "$tmp/$GENERATED"; do
		base="$(basename "$f")"
		if ! cmp -s "$f" "$SPIRV_DIR/$base"; then
			cp "$f" "$SPIRV_DIR/$base"
			echo "wrote $SPIRV_DIR/$base"
			changed=1
		fi
	done
	((changed)) || echo "$SPIRV_DIR/ is up to date"
}

cmd_check() {
	need_shader_tools
	local tmp f base bad=0
	WORK="$(mktemp -d)"
	tmp="$WORK"
	compile_all "$tmp"
	for f in "$tmp"/*.spv "$tmp/$GENERATED"; do
		base="$(basename "$f")"
		if [[ ! -e "$SPIRV_DIR/$base" ]]; then
			echo "missing: $SPIRV_DIR/$base" >&2
			bad=1
		elif ! cmp -s "$f" "$SPIRV_DIR/$base"; then
			echo "stale:   $SPIRV_DIR/$base differs from what the sources produce" >&2
			bad=1
		fi
	done
	for f in "$SPIRV_DIR"/*.spv; do
		[[ -e "$f" ]] || continue
		base="$(basename "$f")"
		if [[ ! -e "$tmp/$base" ]]; then
			echo "extra:   $f has no source $SHADER_DIR/${base%.spv}.comp" >&2
			bad=1
		fi
	done
	if ((bad)); then
		echo "build.sh: $SPIRV_DIR/ is out of date: run ./build.sh shaders" >&2
		echo "  (byte-for-byte output needs the same glslang; here: $(glslangValidator --version 2>/dev/null | head -n1))" >&2
		exit 1
	fi
	echo "$SPIRV_DIR/ matches $SHADER_DIR/"
}

# ---------------------------------------------------------------------------
# cmd_deps: install what building, running and testing need, from Debian's
# packages (idempotent; uses sudo when not root). Go itself is expected at
# /usr/local/go or on PATH.
cmd_deps() {
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	local pkgs=(gcc libc6-dev libvulkan1 libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers
		vulkan-tools glslang-tools spirv-tools brotli ca-certificates libonnx-testdata curl dataset-fashion-mnist)
	local missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	command -v npm >/dev/null 2>&1 || missing+=(npm)
	if ((${#missing[@]})); then
		echo "installing: ${missing[*]}"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]] ||
		die "Go 1.26 is not installed: see https://go.dev/doc/install"
}

# Drivers the test suite runs on. LAVAPIPE_ICD comes with Debian's
# mesa-vulkan-drivers; SwiftShader is unpacked from an npm package (see
# cmd_swiftshader) into $VKINFER_CACHE.
LAVAPIPE_ICD=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
VKINFER_CACHE="${VKINFER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vkinfer}"
SWIFTSHADER_DIR="$VKINFER_CACHE/swiftshader"
SWIFTSHADER_ICD="$SWIFTSHADER_DIR/vk_swiftshader_icd.json"
# @sparticuz/chromium ships a SwiftShader build (libvk_swiftshader.so + ICD
# json) inside bin/swiftshader.tar.br; nothing of the package is executed.
SWIFTSHADER_NPM="@sparticuz/chromium@153.0.0"

# cmd_torch: install Debian's PyTorch stack, which only the fixture
# generators in tools/torch need (not building, running or testing
# vkinfer): python3-torch 1.13, python3-torchvision 0.14, python3-onnx,
# python3-numpy. About 155 MB to download, 660 MB installed; 2m45s here
# (apt-get install on this machine, lists already updated).
TORCH_PKGS=(python3-torch python3-torchvision python3-onnx python3-numpy)
# PYTHON is Debian's interpreter, which sees the python3-* packages (a
# python3 earlier on PATH, e.g. pyenv's, does not).
PYTHON=/usr/bin/python3

cmd_torch() {
	local sudo=""
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	local missing=()
	for p in "${TORCH_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "installing: ${missing[*]}"
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	"$PYTHON" -c 'import torch, torchvision, onnx, numpy' || die "$PYTHON cannot import torch, torchvision, onnx and numpy"
}

# FIXTURES is where `fixtures` writes the torchvision models and torch's
# outputs (tools/torch/vision.py); the tests read VKINFER_FIXTURES.
FIXTURES="${VKINFER_FIXTURES:-$VKINFER_CACHE/fixtures}"

# cmd_fixtures [MODELS]: export the torchvision architectures (comma-separated
# MODELS, default all seven) with torch's outputs into $FIXTURES/vision.
# A model already there from the same tools/torch/vision.py is kept.
cmd_fixtures() {
	cmd_torch
	local models="${1:-resnet18,mobilenet_v2,squeezenet1_1,shufflenet_v2_x0_5,efficientnet_b0,mnasnet0_5,googlenet}"
	local stamp m todo=()
	stamp="$(sha256sum tools/torch/vision.py | cut -c1-16)"
	IFS=, read -r -a list <<<"$models"
	for m in "${list[@]}"; do
		[[ "$(cat "$FIXTURES/vision/$m/.stamp" 2>/dev/null)" == "$stamp" ]] || todo+=("$m")
	done
	if ((${#todo[@]})); then
		local IFS=,
		"$PYTHON" tools/torch/vision.py --out "$FIXTURES/vision" --models "${todo[*]}" || die "tools/torch/vision.py failed"
		for m in "${todo[@]}"; do
			echo "$stamp" >"$FIXTURES/vision/$m/.stamp"
		done
	fi
	echo "fixtures: $FIXTURES/vision ($models)"
}

# VISION_SWIFTSHADER: the torchvision models vision-test also runs on
# SwiftShader (a regular expression over the names; empty: none). All seven
# by default: SwiftShader took 248 s for them where lavapipe took 139 s.
VISION_SWIFTSHADER="${VISION_SWIFTSHADER-resnet18|mobilenet_v2|squeezenet1_1|shufflenet_v2_x0_5|efficientnet_b0|mnasnet0_5|googlenet}"

# cmd_vision_test: the torchvision architectures against PyTorch
# (TestTorchVision, tolerance 1e-4 + 1e-3·|torch|) and resnet18's device
# memory (TestVisionDeviceMemory): the fixtures are exported first if they
# are missing or stale (`fixtures`: python3-torch, about a minute of CPU),
# then all seven run on lavapipe and $VISION_SWIFTSHADER on SwiftShader,
# validation on, fixtures required. Measured on the shared 2-core machine at
# load average 12-16: export 385 s wall (54 s CPU; a quiet machine needs
# about a minute), TestTorchVision 139 s on lavapipe, 248 s on SwiftShader.
cmd_vision_test() {
	cmd_fixtures
	cmd_swiftshader >/dev/null
	echo "=== TestTorchVision, TestVisionDeviceMemory on lavapipe (all seven)"
	VKINFER_FIXTURES="$FIXTURES" VKINFER_REQUIRE_FIXTURES=1 \
		VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" VKINFER_REQUIRE_DEVICE=1 VKINFER_EXPECT_DEVICE=llvmpipe \
		VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
		go test -count=1 -timeout 40m -v -run 'TestTorchVision|TestVisionDeviceMemory' ./internal/onnxconformance |
		grep -E '^(=== RUN|\s*--- |ok|FAIL|PASS)|vision_test.go' || die "TestTorchVision failed on lavapipe"
	if [[ -n "$VISION_SWIFTSHADER" ]]; then
		echo "=== TestTorchVision on swiftshader ($VISION_SWIFTSHADER)"
		VKINFER_FIXTURES="$FIXTURES" VKINFER_REQUIRE_FIXTURES=1 \
			VK_ICD_FILENAMES="$SWIFTSHADER_ICD" VK_DRIVER_FILES="$SWIFTSHADER_ICD" VKINFER_REQUIRE_DEVICE=1 VKINFER_EXPECT_DEVICE=swiftshader \
			VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
			go test -count=1 -timeout 40m -v -run "TestTorchVision/($VISION_SWIFTSHADER)\$|TestVisionDeviceMemory" ./internal/onnxconformance |
			grep -E '^(=== RUN|\s*--- |ok|FAIL|PASS)|vision_test.go' || die "TestTorchVision failed on swiftshader"
	fi
}

# cmd_swiftshader: make sure SwiftShader's ICD is unpacked in the cache.
cmd_swiftshader() {
	if [[ -f "$SWIFTSHADER_ICD" && -f "$SWIFTSHADER_DIR/libvk_swiftshader.so" ]]; then
		echo "SwiftShader: $SWIFTSHADER_ICD"
		return
	fi
	command -v npm >/dev/null 2>&1 || die "SwiftShader needs npm to fetch $SWIFTSHADER_NPM (apt-get install npm)"
	command -v brotli >/dev/null 2>&1 || die "SwiftShader needs brotli (apt-get install brotli)"
	WORK="$(mktemp -d)"
	(cd "$WORK" && npm pack --silent "$SWIFTSHADER_NPM" >/dev/null) || die "npm pack $SWIFTSHADER_NPM failed"
	tar -xzf "$WORK"/*.tgz -C "$WORK" package/bin/swiftshader.tar.br ||
		die "$SWIFTSHADER_NPM has no bin/swiftshader.tar.br"
	brotli -d -f "$WORK/package/bin/swiftshader.tar.br" -o "$WORK/swiftshader.tar"
	mkdir -p "$SWIFTSHADER_DIR"
	tar -xf "$WORK/swiftshader.tar" -C "$SWIFTSHADER_DIR"
	[[ -f "$SWIFTSHADER_ICD" ]] || die "no vk_swiftshader_icd.json in $SWIFTSHADER_NPM"
	echo "SwiftShader: $SWIFTSHADER_ICD"
}

# with_progress LABEL COMMAND...: runs a `go test ./...` COMMAND, passing its
# output through, and every 30 s prints how long it has run and how many of
# the module's packages it has finished, so that minutes of compiling and
# testing are not silent. Returns COMMAND's status.
with_progress() {
	local label="$1" log total hb rc=0
	shift
	log="$(mktemp)"
	total="$(go list ./... 2>/dev/null | wc -l)"
	(
		start=$SECONDS
		while sleep 30; do
			done_pkgs="$(grep -cE '^(ok|FAIL|\?) ' "$log" || true)"
			printf '... %s: %dm%02ds, %d of %d packages done\n' "$label" $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)) "$done_pkgs" "$total"
		done
	) &
	hb=$!
	"$@" 2>&1 | tee "$log" || rc=$?
	kill "$hb" 2>/dev/null || true
	wait "$hb" 2>/dev/null || true
	rm -f "$log"
	return "$rc"
}

# TALLY is tools/testtally, built by cmd_test: it prints `go test -json` as
# plain go test would and records or compares the tests that passed.
TALLY=""

# tallied_test [go test args]: go test -json ./... through TALLY, which
# writes the passed tests to $TALLY_OUT and, with $TALLY_COMPARE, fails
# unless every test listed there passed too. A package may take 30 minutes
# (go test's default is 10): on a 2-core machine that other work shares,
# ./layers alone took 9 minutes on lavapipe and passed 10 on SwiftShader.
tallied_test() {
	local args=()
	if [[ -n "${TALLY_OUT:-}" ]]; then
		args+=(-out "$TALLY_OUT")
	fi
	if [[ -n "${TALLY_COMPARE:-}" ]]; then
		args+=(-compare "$TALLY_COMPARE")
	fi
	go test -json -count=1 -timeout 30m "$@" ./... | "$TALLY" "${args[@]}"
}

# run_suite NAME ICD DEVICE-SUBSTRING [go test args]: the whole suite on one
# driver, the validation layer (with synchronization checks) on, a missing or
# different device a failure.
run_suite() {
	local name="$1" icd="$2" expect="$3"
	shift 3
	[[ -f "$icd" ]] || die "$name: no ICD file $icd"
	echo "=== go test on $name ($icd)"
	VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd" \
		VKINFER_REQUIRE_DEVICE=1 VKINFER_EXPECT_DEVICE="$expect" \
		VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
		with_progress "$name" tallied_test "$@"
	# The ONNX backend tests ran above; show their tally.
	VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd" VKINFER_REQUIRE_DEVICE=1 VKINFER_EXPECT_DEVICE="$expect" \
		go test -count=1 -v -run 'TestONNXConformance$' ./internal/onnxconformance | grep -E '^\s*onnx conformance:' || true
}

# cmd_test [go test args]: the suite once on lavapipe and once on SwiftShader,
# once more on lavapipe with VKINFER_LIMITS=min (every limit clamped to the
# Vulkan spec's required minimum and device memory not host-visible, as on
# the least capable GPU: kernels must choose variants that fit, GEMMs run the
# GPU kernels, VKINFER_GEMM=gemv, and every test that passed on lavapipe must
# pass again, none skipped), the GEMM and Dense tests once more on SwiftShader
# with the GPU GEMM kernels, then the concurrency tests of the root package
# under the race detector.
cmd_test() {
	cmd_swiftshader >/dev/null
	[[ -n "$WORK" ]] || WORK="$(mktemp -d)"
	TALLY="$WORK/testtally"
	go build -o "$TALLY" ./tools/testtally || die "cannot build tools/testtally"
	VKINFER_LIMITS=native TALLY_OUT="$WORK/lavapipe.passed" run_suite lavapipe "$LAVAPIPE_ICD" llvmpipe "$@"
	VKINFER_LIMITS=native run_suite swiftshader "$SWIFTSHADER_ICD" swiftshader "$@"
	VKINFER_LIMITS=min VKINFER_GEMM=gemv TALLY_COMPARE="$WORK/lavapipe.passed" \
		run_suite "lavapipe with VKINFER_LIMITS=min and the GPU GEMM kernels" "$LAVAPIPE_ICD" llvmpipe "$@"
	echo "=== GEMM and Dense tests with the GPU GEMM kernels on swiftshader (VKINFER_GEMM=gemv)"
	VKINFER_LIMITS=native VKINFER_GEMM=gemv VK_ICD_FILENAMES="$SWIFTSHADER_ICD" VK_DRIVER_FILES="$SWIFTSHADER_ICD" \
		VKINFER_REQUIRE_DEVICE=1 VKINFER_EXPECT_DEVICE=swiftshader \
		VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT \
		go test -count=1 -run 'TestGemmDifferential|TestGemmWeights$|TestDenseLayer|TestMatMulDifferential|TestGemmONNXDifferential|TestGemmOffsets' "$@" ./layers
	echo "=== go test -race (lavapipe)"
	VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" VKINFER_REQUIRE_DEVICE=1 \
		go test -count=1 -race -run 'Concurrent' .
	echo "=== go test -race ./serve (lavapipe)"
	VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" VKINFER_REQUIRE_DEVICE=1 \
		go test -count=1 -race ./serve
}

# cmd_soak: Open/Load/Run/Close cycles on each driver (tools/soak), printing
# the growth of file descriptors, RSS and the pipeline cache file per 1,000
# cycles. Not part of `test`: it takes minutes. SOAK_CYCLES_LAVAPIPE and
# SOAK_CYCLES_SWIFTSHADER set the cycles measured (SwiftShader compiles each
# device's pipelines anew, about 1.5 s a cycle). VKINFER_NO_DRIVER_PIN=1
# shows the figures without the engine's driver pin (engine.pinDrivers).
cmd_soak() {
	cmd_swiftshader >/dev/null
	local bin
	WORK="$(mktemp -d)"
	bin="$WORK/soak"
	go build -o "$bin" ./tools/soak
	echo "=== soak on lavapipe"
	VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" \
		"$bin" -cycles "${SOAK_CYCLES_LAVAPIPE:-500}" -warmup 20 "$@"
	echo "=== soak on swiftshader"
	VK_ICD_FILENAMES="$SWIFTSHADER_ICD" VK_DRIVER_FILES="$SWIFTSHADER_ICD" \
		"$bin" -cycles "${SOAK_CYCLES_SWIFTSHADER:-100}" -warmup 10 "$@"
}

# ---------------------------------------------------------------------------
# cmd_onnx: regenerate model/onnx/internal/pb/onnx.pb.go from Debian's
# onnx.proto (libonnx-dev) with protoc and protoc-gen-go at the version of the
# google.golang.org/protobuf runtime in go.mod. The proto is not edited: its Go
# package is given with protoc's M flag.
ONNX_PROTO_DIR=/usr/include/onnx
ONNX_PROTO=onnx.proto
ONNX_PB_DIR=model/onnx/internal/pb
ONNX_PB_PKG=github.com/vkinfer/vkinfer/model/onnx/internal/pb

cmd_onnx() {
	local ver gen
	[[ -f "$ONNX_PROTO_DIR/$ONNX_PROTO" ]] ||
		die "no $ONNX_PROTO_DIR/$ONNX_PROTO: install with 'apt-get install libonnx-dev'"
	command -v protoc >/dev/null 2>&1 || die "missing protoc: install with 'apt-get install protobuf-compiler'"
	ver="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)" || die "google.golang.org/protobuf is not in go.mod"
	gen="$(go env GOPATH)/bin/protoc-gen-go"
	if [[ ! -x "$gen" ]] || [[ "$("$gen" --version 2>/dev/null)" != "protoc-gen-go $ver" ]]; then
		echo "installing protoc-gen-go $ver"
		GOBIN="$(go env GOPATH)/bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$ver" ||
			die "go install protoc-gen-go@$ver failed"
	fi
	mkdir -p "$ONNX_PB_DIR"
	protoc -I"$ONNX_PROTO_DIR" --plugin=protoc-gen-go="$gen" \
		--go_out="$ONNX_PB_DIR" --go_opt=paths=source_relative \
		--go_opt="M$ONNX_PROTO=$ONNX_PB_PKG;pb" "$ONNX_PROTO" || die "protoc failed on $ONNX_PROTO_DIR/$ONNX_PROTO"
	gofmt -w "$ONNX_PB_DIR/${ONNX_PROTO%.proto}.pb.go"
	echo "wrote $ONNX_PB_DIR/${ONNX_PROTO%.proto}.pb.go from $ONNX_PROTO_DIR/$ONNX_PROTO ($(protoc --version))"
}

# ---------------------------------------------------------------------------
# cmd_serveproto: regenerate the Go types of package serve from the two
# committed protos: the Open Inference Protocol's gRPC service
# (serve/internal/oippb/open_inference_grpc.proto, Apache-2.0, from
# github.com/kserve/open-inference-protocol) and Triton's model configuration
# (serve/internal/tritonpb/model_config.proto, BSD-3, from
# github.com/triton-inference-server/common). protoc-gen-go is pinned to the
# protobuf runtime in go.mod, protoc-gen-go-grpc to PROTOC_GEN_GO_GRPC.
PROTOC_GEN_GO_GRPC=v1.6.2
SERVE_PB=github.com/vkinfer/vkinfer/serve/internal

# pinned_plugin NAME MODULE VERSION: echo the path of protoc plugin NAME at
# VERSION, installing it into GOPATH/bin when missing or of another version.
pinned_plugin() {
	local name="$1" mod="$2" ver="$3" gen
	gen="$(go env GOPATH)/bin/$name"
	if [[ ! -x "$gen" ]] || [[ "$("$gen" --version 2>/dev/null)" != *"${ver#v}" ]]; then
		echo "installing $name $ver" >&2
		GOBIN="$(go env GOPATH)/bin" go install "$mod@$ver" >&2 || die "go install $mod@$ver failed"
	fi
	echo "$gen"
}

cmd_serveproto() {
	local ver gen grpcgen
	command -v protoc >/dev/null 2>&1 || die "missing protoc: install with 'apt-get install protobuf-compiler'"
	ver="$(go list -m -f '{{.Version}}' google.golang.org/protobuf)" || die "google.golang.org/protobuf is not in go.mod"
	gen="$(pinned_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$ver")"
	grpcgen="$(pinned_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC")"
	(cd serve/internal/oippb && protoc -I. --plugin=protoc-gen-go="$gen" --plugin=protoc-gen-go-grpc="$grpcgen" \
		--go_out=. --go_opt=paths=source_relative \
		--go_opt="Mopen_inference_grpc.proto=$SERVE_PB/oippb;oippb" \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		--go-grpc_opt="Mopen_inference_grpc.proto=$SERVE_PB/oippb;oippb" \
		open_inference_grpc.proto) || die "protoc failed on open_inference_grpc.proto"
	(cd serve/internal/tritonpb && protoc -I. --plugin=protoc-gen-go="$gen" \
		--go_out=. --go_opt=paths=source_relative \
		--go_opt="Mmodel_config.proto=$SERVE_PB/tritonpb;tritonpb" \
		model_config.proto) || die "protoc failed on model_config.proto"
	gofmt -w serve/internal/oippb/*.go serve/internal/tritonpb/*.go
	echo "wrote serve/internal/oippb and serve/internal/tritonpb ($(protoc --version))"
}

# cmd_serve_check: `vkinfer serve` against independent clients on loopback
# (deploy/client-check.sh: curl for REST, grpcurl for gRPC), on lavapipe.
GRPCURL_VERSION=v1.9.4

cmd_serve_check() {
	local grpcurl bin
	command -v curl >/dev/null 2>&1 || die "serve-check needs curl (apt-get install curl)"
	grpcurl="$(go env GOPATH)/bin/grpcurl"
	if [[ ! -x "$grpcurl" ]] || ! go version -m "$grpcurl" | grep -q "mod[[:space:]]*github.com/fullstorydev/grpcurl[[:space:]]*$GRPCURL_VERSION"; then
		echo "installing grpcurl $GRPCURL_VERSION"
		GOBIN="$(go env GOPATH)/bin" go install "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION" ||
			die "go install grpcurl@$GRPCURL_VERSION failed"
	fi
	WORK="$(mktemp -d)"
	bin="$WORK/vkinfer"
	go build -o "$bin" ./cmd/vkinfer || die "go build ./cmd/vkinfer failed"
	VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" deploy/client-check.sh "$bin" "$grpcurl"
}

# cmd_deploy_check: validate deploy/'s Kubernetes and KServe manifests
# offline (deploy/validate: JSON schema, strict like kubeconform -strict)
# against Kubernetes' OpenAPI v3 documents from the Go module
# k8s.io/kubernetes@K8S_SCHEMA_VERSION and KServe's CRDs; every file of
# deploy/validate/testdata (one mistake each) must be refused.
K8S_SCHEMA_VERSION=v1.34.0

cmd_deploy_check() {
	local dir f bin
	dir="$(go mod download -json "k8s.io/kubernetes@$K8S_SCHEMA_VERSION" | sed -nE 's/^\t"Dir": "(.*)",?$/\1/p')"
	[[ -d "$dir/api/openapi-spec/v3" ]] || die "go mod download k8s.io/kubernetes@$K8S_SCHEMA_VERSION gave no api/openapi-spec/v3"
	WORK="$(mktemp -d)"
	bin="$WORK/validate"
	(cd deploy/validate && go build -o "$bin" .) || die "building deploy/validate failed"
	"$bin" -k8s "$dir/api/openapi-spec/v3" deploy/kserve/*.yaml deploy/kubernetes/*.yaml || die "deploy/ manifests do not validate"
	for f in deploy/validate/testdata/*.yaml; do
		if "$bin" -k8s "$dir/api/openapi-spec/v3" "$f" >/dev/null 2>&1; then
			die "deploy/validate accepted $f, which has a mistake"
		fi
	done
	echo "deploy/ manifests valid (Kubernetes $K8S_SCHEMA_VERSION schemas, KServe CRDs); the $(ls deploy/validate/testdata/*.yaml | wc -l) broken ones refused"
}

# cmd_serve_load [SECONDS] [shared|split] [ROUNDS]: the load figures of
# docs/SERVING.md (deploy/load.sh: ROUNDS rounds, on and off side by side,
# and the table of medians; split: server and load generator on separate
# CPUs) on lavapipe: installs hey (Debian) and ghz (Go module,
# pinned) when missing. Not in CI: figures, not a test.
GHZ_VERSION=v0.93.0

cmd_serve_load() {
	local sudo="" ghz bin
	[[ "$(id -u)" == 0 ]] || sudo="sudo"
	if ! command -v hey >/dev/null 2>&1; then
		$sudo apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends hey >/dev/null
	fi
	ghz="$(go env GOPATH)/bin/ghz"
	if [[ ! -x "$ghz" ]] || ! go version -m "$ghz" | grep -q "mod[[:space:]]*github.com/bojand/ghz[[:space:]]*$GHZ_VERSION"; then
		echo "installing ghz $GHZ_VERSION"
		GOBIN="$(go env GOPATH)/bin" go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION" || die "go install ghz@$GHZ_VERSION failed"
	fi
	WORK="$(mktemp -d)"
	bin="$WORK/vkinfer"
	go build -o "$bin" ./cmd/vkinfer || die "go build ./cmd/vkinfer failed"
	PATH="$(go env GOPATH)/bin:$PATH" VK_ICD_FILENAMES="$LAVAPIPE_ICD" VK_DRIVER_FILES="$LAVAPIPE_ICD" \
		deploy/load.sh "$bin" "${1:-10}" "${2:-shared}" "${3:-3}"
}

cmd_help() {
	cat <<'USAGE'
usage: ./build.sh COMMAND [ARGS]

commands:
  shaders        compile shaders/*.comp (glslangValidator, Vulkan 1.1), validate
                 them (spirv-val), write spirv/NAME.spv and regenerate
                 spirv/zz_generated.go (tools/spirvgen: embedding, reflection,
                 source manifest)
  check          verify that the committed spirv/ is byte-for-byte what the
                 sources produce (no stale, missing or extra files)
  test [ARGS]    run the whole suite on lavapipe, then on SwiftShader (fetched
                 by `swiftshader` if missing), then on lavapipe again with
                 VKINFER_LIMITS=min (the Vulkan spec's minimum limits, tensors
                 staged as on a discrete GPU), each with VKINFER_REQUIRE_DEVICE=1
                 and the validation layer incl. synchronization checks; then the
                 concurrency tests under -race. ARGS go to go test.
  deps           install the Debian packages (Vulkan loader and headers, lavapipe,
                 validation layers, glslang, spirv-tools, vulkan-tools, npm,
                 the ONNX conformance test data libonnx-testdata)
  onnx           regenerate model/onnx/internal/pb/onnx.pb.go from
                 /usr/include/onnx/onnx.proto (protoc + protoc-gen-go at the
                 protobuf version in go.mod, then gofmt)
  serveproto     regenerate serve/internal/oippb (the Open Inference Protocol's
                 gRPC service) and serve/internal/tritonpb (Triton's
                 model_config.proto) with protoc, protoc-gen-go (at the
                 protobuf version in go.mod) and protoc-gen-go-grpc (pinned)
  soak [ARGS]    Open/Load/Run/Close cycles on lavapipe, then SwiftShader
                 (tools/soak): growth of fds, RSS and the pipeline cache file
                 per 1,000 cycles; not in `test` (minutes). ARGS go to soak
                 (-model FILE, ...); SOAK_CYCLES_LAVAPIPE/SWIFTSHADER set counts
  serve-load [S] [shared|split] [R]
                 load figures of `vkinfer serve` on lavapipe, S seconds per run
                 (default 10), R rounds of on and off side by side (default 3),
                 then docs/SERVING.md's table (medians); split puts the server
                 and the load generator on separate CPUs
                 (deploy/load.sh; installs hey from Debian, ghz from the Go
                 module proxy)
  deploy-check   validate deploy/'s Kubernetes and KServe manifests offline
                 (deploy/validate; schemas from the Go module k8s.io/kubernetes
                 and KServe's CRDs)
  serve-check    run `vkinfer serve` on lavapipe against curl (REST) and grpcurl
                 (gRPC, installed at a pinned version): deploy/client-check.sh
  torch          install Debian's python3-torch, -torchvision, -onnx, -numpy
                 (only tools/torch needs them)
  fixtures [M]   export the torchvision models M (comma-separated; default
                 all seven) with torch's outputs to ~/.cache/vkinfer/fixtures
                 (or $VKINFER_FIXTURES); TestTorchVision compares them with
                 vkinfer when VKINFER_FIXTURES names that folder
  vision-test    export the torchvision fixtures if missing or stale, then
                 TestTorchVision (all seven against torch) and resnet18's
                 device memory on lavapipe and SwiftShader (VISION_SWIFTSHADER:
                 the models run there, a regexp; empty: none)
                 (CI runs it: .ci/run)
  swiftshader    unpack SwiftShader's Vulkan ICD from the npm package
                 @sparticuz/chromium into ~/.cache/vkinfer/swiftshader
  lint           gofmt -l (must list nothing) and staticcheck ./... (installed
                 at a pinned version through the Go module proxy)
  ort            install npm onnxruntime-node (pinned, --ignore-scripts) into
                 ~/.cache/vkinfer/ort for the peer benchmarks
  ortbench MODEL [RUNS] [BATCH] [--warmup N] [--json]
                 ONNX Runtime CPU p50 of MODEL at batch BATCH (default 1: the
                 dynamic first dimension), one intra-op thread
  vision-bench [lavapipe|swiftshader|all] [MODELS...]
                 issue 12's speed table (not a test, not in CI): the seven
                 torchvision exports (or MODELS) at batch 1 and 16, vkinfer
                 bench (p50, GFLOP/s) beside ONNX Runtime 1-thread on the same
                 file, ratio, goal, load average; per-driver time budgets
                 (VISION_BENCH_BUDGET; VISION_BENCH_PLAN, _ORT, _BATCHES set
                 the runs); exports the fixtures and installs ORT if missing
  gpu            on a machine with a Vulkan GPU: the whole suite with the
                 device required, then the GEMM/MLP/CNN benchmarks, and one
                 summary (device, driver, tests, GFLOP/s, latencies); GPU_ICD
                 picks a driver (lavapipe's ICD tests the target without a GPU)
  help           show this text

shaders and check need: apt-get install glslang-tools spirv-tools
onnx needs: apt-get install libonnx-dev protobuf-compiler
serveproto needs: apt-get install protobuf-compiler
USAGE
}

# STATICCHECK_VERSION is the staticcheck `lint` installs through the Go
# module proxy into $VKINFER_CACHE/bin (pinned: a new release may report
# new things).
STATICCHECK_VERSION=v0.8.2

# cmd_lint: gofmt -l (any file listed fails) and staticcheck ./....
cmd_lint() {
	local bad sc="$VKINFER_CACHE/bin/staticcheck"
	bad="$(gofmt -l . | grep -v '^spirv/' || true)"
	if [[ -n "$bad" ]]; then
		echo "gofmt -l lists files that are not gofmt-formatted (run gofmt -w):" >&2
		echo "$bad" >&2
		exit 1
	fi
	echo "gofmt: clean"
	if [[ ! -x "$sc" ]] || ! "$sc" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
		mkdir -p "$VKINFER_CACHE/bin"
		GOBIN="$VKINFER_CACHE/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" ||
			die "go install staticcheck@$STATICCHECK_VERSION failed"
	fi
	"$sc" ./...
	echo "staticcheck $STATICCHECK_VERSION: clean"
}

# ORT_VERSION is the ONNX Runtime (npm onnxruntime-node, CPU binaries in the
# package) the peer benchmarks compare with; `ort` installs it into
# $VKINFER_CACHE/ort, outside the repository.
ORT_VERSION=1.30.0
ORT_DIR="$VKINFER_CACHE/ort"

# cmd_ort: install onnxruntime-node (--ignore-scripts: no download at
# install time; the CPU binaries ship in the package) for tools/ortbench.
cmd_ort() {
	if [[ -f "$ORT_DIR/node_modules/onnxruntime-node/package.json" ]] &&
		grep -q "\"version\": \"$ORT_VERSION\"" "$ORT_DIR/node_modules/onnxruntime-node/package.json"; then
		echo "onnxruntime-node $ORT_VERSION: $ORT_DIR"
		return
	fi
	command -v npm >/dev/null 2>&1 || die "ort needs npm (apt-get install npm)"
	mkdir -p "$ORT_DIR"
	(cd "$ORT_DIR" && npm install --silent --no-save --ignore-scripts --no-audit --no-fund \
		--prefix "$ORT_DIR" "onnxruntime-node@$ORT_VERSION" >/dev/null) ||
		die "npm install onnxruntime-node@$ORT_VERSION failed"
	echo "onnxruntime-node $ORT_VERSION: $ORT_DIR"
}

# cmd_ortbench MODEL [RUNS] [BATCH] [--warmup N] [--json]: ONNX Runtime's
# CPU p50 of MODEL with one intra-op thread (tools/ortbench/bench.js), the
# peer figure vkinfer's ratios are taken against; BATCH (default 1) is the
# dynamic first dimension of the inputs.
cmd_ortbench() {
	(($# >= 1)) || die "usage: ./build.sh ortbench MODEL.onnx [RUNS] [BATCH] [--warmup N] [--json]"
	cmd_ort >/dev/null
	command -v node >/dev/null 2>&1 || die "ortbench needs node (apt-get install nodejs)"
	NODE_PATH="$ORT_DIR/node_modules" node "$ROOT/tools/ortbench/bench.js" "$@"
}

# VISION_BENCH_* are vision-bench's defaults (environment overrides):
# vkinfer's runs per driver and batch as DRIVER:BATCH:RUNS:WARMUP[:ROUNDS]
# (bench always makes one untimed first run before the warm-up; rounds
# interleave the models, each round's vkinfer and ORT back to back, and the
# table gives the medians: three at batch 1 on lavapipe, where the goals
# are), ONNX Runtime's as BATCH:RUNS:WARMUP (once per vkinfer round), and
# each driver's time budget in seconds (batch-1 rows
# run first; a larger batch whose estimate from its batch-1 p50 does not fit
# what is left is cut, cheapest first; a running row is killed at the end).
# SwiftShader runs these CNNs ~50-100x slower than lavapipe (squeezenet1_1
# batch 1 ~4.4 s), hence one timed run there. VISION_BENCH_UNTIL (an RFC
# 3339 time) ends every budget there at the latest.
VISION_BENCH_PLAN="${VISION_BENCH_PLAN:-lavapipe:1:10:2:3,lavapipe:16:3:0,swiftshader:1:1:0,swiftshader:16:1:0,gpu:1:20:3,gpu:16:10:2}"
VISION_BENCH_ORT="${VISION_BENCH_ORT:-1:30:5,16:5:1}"
VISION_BENCH_BUDGET="${VISION_BENCH_BUDGET:-lavapipe=1200,swiftshader=900,gpu=300}"
VISION_BENCH_BATCHES="${VISION_BENCH_BATCHES:-1,16}"
VISION_MODELS="resnet18,mobilenet_v2,squeezenet1_1,shufflenet_v2_x0_5,efficientnet_b0,mnasnet0_5,googlenet"

# vision_bench_run OUTDIR MODELS DRIVER-FLAGS...: build vkinfer and
# tools/visionbench into OUTDIR and print issue 12's table for MODELS
# (comma-separated) on the given -driver flags, with ONNX Runtime beside
# each row when it installs (`ort`; VISION_BENCH_ORT_OFF=1 skips it). The
# rows also go to OUTDIR/vision-bench.json, or $VISION_BENCH_JSON.
vision_bench_run() {
	local out="$1" models="$2"
	shift 2
	local ortflags=()
	go build -o "$out/vkinfer" ./cmd/vkinfer || die "go build ./cmd/vkinfer failed"
	go build -o "$out/visionbench" ./tools/visionbench || die "go build ./tools/visionbench failed"
	if [[ -z "${VISION_BENCH_ORT_OFF:-}" ]] && command -v node >/dev/null 2>&1 && cmd_ort >/dev/null 2>&1; then
		ortflags=(-ortbench "$ROOT/tools/ortbench/bench.js" -ort "$VISION_BENCH_ORT")
	else
		echo "(no ONNX Runtime columns: node or onnxruntime-node missing, or VISION_BENCH_ORT_OFF set)"
	fi
	echo "vkinfer $(git describe --always --dirty 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uptime | sed 's/.*load/load/')"
	NODE_PATH="$ORT_DIR/node_modules" "$out/visionbench" -vkinfer "$out/vkinfer" -fixtures "$FIXTURES/vision" \
		-models "$models" -batches "$VISION_BENCH_BATCHES" -plan "$VISION_BENCH_PLAN" -budget "$VISION_BENCH_BUDGET" \
		-json "${VISION_BENCH_JSON:-$out/vision-bench.json}" ${VISION_BENCH_UNTIL:+-until "$VISION_BENCH_UNTIL"} "${ortflags[@]}" "$@"
}

# cmd_vision_bench [lavapipe|swiftshader|all] [MODELS...]: issue 12's speed
# report, one markdown table: each model (default all seven torchvision
# exports of `fixtures`, made first if missing) at batch 1 and 16
# (VISION_BENCH_BATCHES) with `vkinfer bench --json` (validation off) and
# ONNX Runtime 1.30 CPU, one thread, on the same file right after it, on
# lavapipe, then SwiftShader (default all), within VISION_BENCH_BUDGET.
# A benchmark, not a test: not in .ci/run.
cmd_vision_bench() {
	local which="${1:-all}" models
	(($#)) && shift
	models="$VISION_MODELS"
	if (($#)); then
		models="$(
			IFS=,
			echo "$*"
		)"
	fi
	local drivers=()
	case "$which" in
	lavapipe) drivers=(-driver "lavapipe=$LAVAPIPE_ICD=llvmpipe") ;;
	swiftshader) drivers=(-driver "swiftshader=$SWIFTSHADER_ICD=swiftshader") ;;
	all) drivers=(-driver "lavapipe=$LAVAPIPE_ICD=llvmpipe" -driver "swiftshader=$SWIFTSHADER_ICD=swiftshader") ;;
	*) die "usage: ./build.sh vision-bench [lavapipe|swiftshader|all] [MODELS...]" ;;
	esac
	[[ "$which" == lavapipe ]] || cmd_swiftshader >/dev/null
	cmd_fixtures "$models" >/dev/null
	WORK="$(mktemp -d)"
	vision_bench_run "$WORK" "$models" "${drivers[@]}"
}

# cmd_gpu: the one prepared check for a machine with a Vulkan GPU: the
# whole suite with the device required (VKINFER_EXPECT_DEVICE, when set,
# names it), then the GEMM, MLP and (where they exist) CNN benchmarks, and
# one summary. GPU_ICD overrides the driver (e.g. lavapipe's ICD file, to
# test this target without a GPU); GPU_BENCHTIME the benchmark time;
# GPU_PKGS and GPU_TESTTIMEOUT the packages tested (./...) and go test's
# timeout (6m); GPU_CNN_BUDGET and GPU_CNN_OFF the CNN table (below).
cmd_gpu() {
	local log sum icd="${GPU_ICD:-}" bt="${GPU_BENCHTIME:-2s}" start=$SECONDS
	WORK="$(mktemp -d)"
	log="$WORK/gpu.log"
	sum="$WORK/summary"
	local envs=(VKINFER_REQUIRE_DEVICE=1)
	if [[ -n "$icd" ]]; then
		envs+=(VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd")
	fi
	echo "=== devices"
	env "${envs[@]}" go run ./cmd/vkinfer devices 2>&1 | tee "$WORK/devices" || die "no Vulkan device"
	echo "=== go test ./... (device required, validation on)"
	local rc=0
	# shellcheck disable=SC2086 # GPU_PKGS is a list of patterns
	env "${envs[@]}" go test -count=1 -timeout "${GPU_TESTTIMEOUT:-6m}" ${GPU_PKGS:-./...} 2>&1 | tee "$log" || rc=$?
	local passed failed
	passed="$(grep -cE '^ok ' "$log" || true)"
	failed="$(grep -cE '^(FAIL|--- FAIL)' "$log" || true)"
	echo "=== benchmarks (VKINFER_VALIDATION=0, -benchtime $bt)"
	env "${envs[@]}" VKINFER_VALIDATION=0 VKINFER_BENCH_LARGE=1 go test -run '^$' \
		-bench 'BenchmarkGemm$/^(1024x1024x1024|4096x4096x4096|1x4096x784)/(auto|gpu-f16)$' -benchtime "$bt" -timeout 3m ./layers \
		2>&1 | tee "$WORK/bench" || true
	env "${envs[@]}" VKINFER_VALIDATION=0 go test -run '^$' -bench 'BenchmarkMLP|BenchmarkCNN' \
		-benchtime "$bt" -timeout 3m . 2>&1 | tee -a "$WORK/bench" || true
	# The CNN figures of issue 12 (tools/visionbench, as `vision-bench`):
	# resnet18, mobilenet_v2 and squeezenet1_1 at batch 1 and 16 within
	# GPU_CNN_BUDGET seconds (default 300; larger batches cut first), beside
	# ONNX Runtime 1-thread CPU where node and onnxruntime-node install. The
	# exports come from $VKINFER_FIXTURES/vision (copy them there on a
	# machine without python3-torch), else `fixtures` when torch imports;
	# GPU_CNN_OFF=1 skips them.
	local cnn=resnet18,mobilenet_v2,squeezenet1_1 m have=1
	: >"$WORK/cnn"
	for m in ${cnn//,/ }; do
		[[ -f "$FIXTURES/vision/$m/model.onnx" ]] || have=0
	done
	if [[ -n "${GPU_CNN_OFF:-}" ]]; then
		echo "(CNN figures skipped: GPU_CNN_OFF is set)" | tee "$WORK/cnn"
	elif ((!have)) && ! "$PYTHON" -c 'import torch, torchvision, onnx' >/dev/null 2>&1; then
		echo "(CNN figures skipped: no $FIXTURES/vision/{${cnn}}/model.onnx and no python3-torch to export them: run ./build.sh fixtures, or copy them there and set VKINFER_FIXTURES)" | tee "$WORK/cnn"
	else
		((have)) || (cmd_fixtures "$cnn") || true
		echo "=== CNN benchmarks ($cnn, batch 1 and 16, VKINFER_VALIDATION=0, budget ${GPU_CNN_BUDGET:-300} s)"
		VISION_BENCH_BUDGET="gpu=${GPU_CNN_BUDGET:-300}" vision_bench_run "$WORK" "$cnn" \
			-driver "gpu=$icd=${VKINFER_EXPECT_DEVICE:-}" | tee "$WORK/cnn" || true
	fi
	{
		echo "vkinfer ./build.sh gpu summary ($((SECONDS - start)) s)"
		grep -E '^\* #|^ +(driver|Vulkan) ' "$WORK/devices" | head -3
		echo "tests: $passed packages ok, $failed failures (exit $rc)"
		grep -E '^Benchmark(Gemm|MLP|CNN)' "$WORK/bench" | grep -E '1024|4096|MLP|CNN' |
			awk '{ line = $1; for (i = 2; i <= NF; i++) if ($i ~ /GFLOP\/s|µs\/run|p50-µs|p99-µs|images\/s/) line = line " " $(i-1) " " $i; print "  " line }'
		if [[ -s "$WORK/cnn" ]]; then
			echo "CNNs (vkinfer bench --json beside ONNX Runtime CPU 1 thread):"
			cat "$WORK/cnn"
		fi
	} >"$sum"
	echo "=== summary"
	cat "$sum"
	((rc == 0)) || exit "$rc"
}

main() {
	local cmd="${1:-help}"
	(($#)) && shift
	case "$cmd" in
	shaders) cmd_shaders "$@" ;;
	check) cmd_check "$@" ;;
	test) cmd_test "$@" ;;
	deps) cmd_deps "$@" ;;
	onnx) cmd_onnx "$@" ;;
	serveproto) cmd_serveproto "$@" ;;
	soak) cmd_soak "$@" ;;
	serve-check) cmd_serve_check "$@" ;;
	deploy-check) cmd_deploy_check "$@" ;;
	serve-load) cmd_serve_load "$@" ;;
	swiftshader) cmd_swiftshader "$@" ;;
	torch) cmd_torch "$@" ;;
	fixtures) cmd_fixtures "$@" ;;
	vision-test) cmd_vision_test "$@" ;;
	lint) cmd_lint "$@" ;;
	ort) cmd_ort "$@" ;;
	ortbench) cmd_ortbench "$@" ;;
	vision-bench) cmd_vision_bench "$@" ;;
	gpu) cmd_gpu "$@" ;;
	help | -h | --help) cmd_help ;;
	*)
		cmd_help >&2
		die "unknown command '$cmd'"
		;;
	esac
}

main "$@"
