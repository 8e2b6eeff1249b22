package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vkinfer/vkinfer"

	"github.com/vkinfer/vkinfer/serve"
)

func init() { addCommand(newServeCmd) }

type serveOptions struct {
	repo                                  string
	httpAddr, grpcAddr, metricsAddr       string
	httpPort, grpcPort, metricsPort       int
	allowMetrics, pprof                   bool
	maxRequestBytes                       int64
	maxTensorElements, maxQueueSize, exit int
	logFormat                             string
	spinWait                              time.Duration
	dev                                   deviceFlags
}

func newServeCmd(e *env) *cobra.Command {
	var o serveOptions
	c := &cobra.Command{
		Use:   "serve --model-repository DIR",
		Short: "serve a model repository over the KServe v2 / Open Inference Protocol (REST and gRPC)",
		Long: `Serves every model of a Triton-layout model repository
(DIR/<model>/config.pbtxt, DIR/<model>/<version>/model.onnx or model.bin)
over the KServe v2 / Open Inference Protocol: REST with JSON and binary
tensor data on --http-port, gRPC (inference.GRPCInferenceService) on
--grpc-port, Prometheus metrics at /metrics on --metrics-port. Flag names
and defaults follow Triton's. config.pbtxt's dynamic_batching coalesces
concurrent requests into one run.

Logs go to standard error (--log-format text or json). On SIGTERM or an
interrupt the server fails readiness, stops accepting, finishes what is in
flight and exits 0, or 1 if that took longer than --exit-timeout-secs.
See docs/SERVING.md.`,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(_ *cobra.Command, args []string) error { return runServe(e, &o, args) },
	}
	fs := c.Flags()
	fs.StringVar(&o.repo, "model-repository", "", "the model repository `directory` (Triton's layout); required")
	c.MarkFlagDirname("model-repository")
	fs.StringVar(&o.httpAddr, "http-address", "0.0.0.0", "the `address` REST listens on")
	fs.IntVar(&o.httpPort, "http-port", 8000, "the `port` REST listens on (0: any free port)")
	fs.StringVar(&o.grpcAddr, "grpc-address", "0.0.0.0", "the `address` gRPC listens on")
	fs.IntVar(&o.grpcPort, "grpc-port", 8001, "the `port` gRPC listens on (0: any free port)")
	fs.BoolVar(&o.allowMetrics, "allow-metrics", true, "serve Prometheus metrics at /metrics on --metrics-port")
	fs.StringVar(&o.metricsAddr, "metrics-address", "0.0.0.0", "the `address` the metrics listen on")
	fs.IntVar(&o.metricsPort, "metrics-port", 8002, "the `port` the metrics listen on (0: any free port)")
	fs.Int64Var(&o.maxRequestBytes, "max-request-bytes", serve.DefaultMaxRequestBytes, "the largest REST body or gRPC message, in `bytes`")
	fs.IntVar(&o.maxTensorElements, "max-tensor-elements", serve.DefaultMaxTensorElements, "the most `elements` one input tensor may have")
	fs.IntVar(&o.maxQueueSize, "max-queue-size", serve.DefaultMaxQueueSize, "the most `requests` queued per model where config.pbtxt sets no max_queue_size")
	fs.IntVar(&o.exit, "exit-timeout-secs", 30, "how long a shutdown may take to finish the requests in flight, in `seconds`")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's profiles (net/http/pprof) at /debug/pprof/ on --metrics-port")
	fs.DurationVar(&o.spinWait, "spin-wait", 0, "how long a run polls the device for completion before it sleeps (0: never poll; requests that poll take CPU from the others, and from a CPU driver's threads)")
	fs.StringVar(&o.logFormat, "log-format", "text", "the log `format`: text or json")
	o.dev.register(fs)
	return c
}

// serveGCPercent is the server's garbage collection target (GOGC) unless
// the environment sets one.
const serveGCPercent = 400

func runServe(e *env, o *serveOptions, pos []string) error {
	switch {
	case len(pos) > 0:
		return usagef("serve takes no arguments, got %q; give the repository with --model-repository", pos)
	case o.repo == "":
		return usagef("--model-repository is required")
	case o.exit < 1:
		return usagef("--exit-timeout-secs must be at least 1, got %d", o.exit)
	case o.logFormat != "text" && o.logFormat != "json":
		return usagef("--log-format must be text or json, got %q", o.logFormat)
	case o.spinWait < 0:
		return usagef("--spin-wait must be 0 or more, got %v", o.spinWait)
	case o.pprof && !o.allowMetrics:
		return usagef("--pprof serves on the metrics port; it needs --allow-metrics")
	}
	for name, p := range map[string]int{"http-port": o.httpPort, "grpc-port": o.grpcPort, "metrics-port": o.metricsPort} {
		if p < 0 || p > 65535 {
			return usagef("--%s must be 0..65535, got %d", name, p)
		}
	}
	var h slog.Handler = slog.NewTextHandler(e.stderr, nil)
	if o.logFormat == "json" {
		h = slog.NewJSONHandler(e.stderr, nil)
	}
	log := slog.New(h)

	// A repository that is not there is said before the device opens (which
	// takes a while, and on a CPU driver logs a notice first).
	if st, err := os.Stat(o.repo); err != nil {
		return fileError(o.repo, err, "--model-repository takes the model repository folder (one subfolder per model)")
	} else if !st.IsDir() {
		return &cliError{msg: fmt.Sprintf("%s: not a folder; --model-repository takes the model repository folder (one subfolder per model)", o.repo)}
	}

	if os.Getenv("GOGC") == "" {
		// Requests allocate a few kB each and keep nothing: collecting at 5x
		// the live heap instead of 2x cut the garbage collector from 7% to
		// 2% of the server's Go CPU time under the load test (GOGC=400
		// against the default 100, docs/SERVING.md), for a heap of a few MB
		// more. GOGC in the environment overrides it.
		debug.SetGCPercent(serveGCPercent)
	}
	dev, err := openDevice(e, o.dev, func(opts *vkinfer.Options) {
		opts.SpinWait = o.spinWait
		if o.spinWait <= 0 {
			opts.SpinWait = -1 // vkinfer: negative = never poll
		}
	})
	if err != nil {
		return err
	}
	defer dev.Close()
	s, err := serve.New(dev, serve.Config{
		Repository: o.repo, Logger: log, Version: versionString(),
		MaxRequestBytes: o.maxRequestBytes, MaxTensorElements: o.maxTensorElements, MaxQueueSize: o.maxQueueSize,
		Profiling: o.pprof,
	})
	if err != nil {
		return &cliError{msg: trimPrefixes(err.Error(), "serve: "), err: err}
	}
	var l serve.Listeners
	listen := func(what, addr string, port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w (choose another --%s-port or --%s-address)", what, err, what, what)
		}
		return ln, nil
	}
	if l.HTTP, err = listen("http", o.httpAddr, o.httpPort); err == nil {
		if l.GRPC, err = listen("grpc", o.grpcAddr, o.grpcPort); err == nil && o.allowMetrics {
			l.Metrics, err = listen("metrics", o.metricsAddr, o.metricsPort)
		}
	}
	if err != nil {
		for _, ln := range []net.Listener{l.HTTP, l.GRPC, l.Metrics} {
			if ln != nil {
				ln.Close()
			}
		}
		s.Shutdown(e.ctx)
		return err
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx, l, time.Duration(o.exit)*time.Second); err != nil {
		return &cliError{msg: trimPrefixes(err.Error(), "serve: "), err: err}
	}
	return nil
}
