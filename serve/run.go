package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"
)

// grpcStreamWorkers is the number of goroutines gRPC keeps to run calls
// (grpc.NumStreamWorkers): without them every call starts a goroutine
// whose stack then grows (runtime.morestack and copystack took 9% of the
// server's Go CPU time under the load test's 64 clients); a call that finds
// all of them busy (waiting for their batch) gets its own goroutine, as
// before. 128: twice the load test's concurrency, ~2 MB of stacks.
const grpcStreamWorkers = 128

// Listeners are where Serve answers; Metrics may be nil (no metrics port).
type Listeners struct {
	HTTP, GRPC, Metrics net.Listener
}

// Serve answers REST on l.HTTP, gRPC on l.GRPC and /metrics on l.Metrics
// until ctx ends (SIGTERM, in the command), then drains: readiness fails
// at once, the listeners close, requests in flight and queued finish, and
// the models are closed. drain bounds all of that; what is still running
// then is cancelled and Serve returns an error wrapping
// context.DeadlineExceeded. It also returns when a listener fails. The
// gRPC server has server reflection on (for grpcurl).
func (s *Server) Serve(ctx context.Context, l Listeners, drain time.Duration) error {
	// Bounds for clients that send slowly or stay idle; a body is at most
	// MaxRequestBytes, so two minutes is ample on any link serving it.
	hs := &http.Server{Handler: s.HTTPHandler(), ReadHeaderTimeout: 30 * time.Second,
		ReadTimeout: 2 * time.Minute, IdleTimeout: 5 * time.Minute}
	gs := grpc.NewServer(grpc.MaxRecvMsgSize(s.GRPCMaxMessageBytes()), grpc.MaxSendMsgSize(1<<30),
		grpc.NumStreamWorkers(grpcStreamWorkers))
	s.RegisterGRPC(gs)
	reflection.Register(gs)
	var ms *http.Server
	if l.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.MetricsHandler())
		if s.cfg.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		ms = &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	}
	failed := make(chan error, 3)
	go func() { failed <- fmt.Errorf("serve: HTTP: %w", hs.Serve(l.HTTP)) }()
	go func() { failed <- fmt.Errorf("serve: gRPC: %w", gs.Serve(l.GRPC)) }()
	if ms != nil {
		go func() { failed <- fmt.Errorf("serve: metrics: %w", ms.Serve(l.Metrics)) }()
	}
	s.log.Info("serving", "http", l.HTTP.Addr().String(), "grpc", l.GRPC.Addr().String(),
		"metrics", addrOf(l.Metrics), "ready", s.Ready())

	var cause error
	select {
	case <-ctx.Done():
		s.log.Info("draining", "bound", drain)
	case cause = <-failed:
		s.log.Error("listener failed; shutting down", "err", cause)
	}
	s.beginDrain()
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	herr := hs.Shutdown(dctx)
	select {
	case <-stopped:
	case <-dctx.Done():
		gs.Stop()
	}
	if herr != nil {
		hs.Close()
	}
	serr := s.Shutdown(dctx)
	if ms != nil {
		mctx, mcancel := context.WithTimeout(context.Background(), time.Second)
		ms.Shutdown(mctx)
		mcancel()
	}
	if dctx.Err() != nil && serr == nil {
		serr = fmt.Errorf("serve: drain: %w", dctx.Err())
	}
	if cause != nil && !errors.Is(cause, http.ErrServerClosed) && !errors.Is(cause, grpc.ErrServerStopped) {
		return errors.Join(cause, serr)
	}
	if serr != nil {
		return serr
	}
	s.log.Info("drained")
	return nil
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}
