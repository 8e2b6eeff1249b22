package serve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vkinfer/vkinfer/serve/internal/oippb"
)

// RegisterGRPC registers the protocol's inference.GRPCInferenceService on g.
// Give g grpc.MaxRecvMsgSize(GRPCMaxMessageBytes) so that its message limit
// is the server's.
func (s *Server) RegisterGRPC(g grpc.ServiceRegistrar) {
	oippb.RegisterGRPCInferenceServiceServer(g, &grpcService{s: s})
}

// GRPCMaxMessageBytes is the largest gRPC message the server takes
// (Config.MaxRequestBytes).
func (s *Server) GRPCMaxMessageBytes() int { return int(s.cfg.MaxRequestBytes) }

type grpcService struct {
	oippb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

// grpcError maps an error to its gRPC status.
func grpcError(err error) error {
	c := codes.Internal
	switch {
	case errors.Is(err, ErrNotFound):
		c = codes.NotFound
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrTooLarge):
		c = codes.InvalidArgument
	case errors.Is(err, ErrQueueFull):
		c = codes.ResourceExhausted
	case errors.Is(err, ErrUnavailable):
		c = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		c = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		c = codes.Canceled
	}
	return status.Error(c, err.Error())
}

func (g *grpcService) ServerLive(context.Context, *oippb.ServerLiveRequest) (*oippb.ServerLiveResponse, error) {
	return &oippb.ServerLiveResponse{Live: true}, nil
}

func (g *grpcService) ServerReady(context.Context, *oippb.ServerReadyRequest) (*oippb.ServerReadyResponse, error) {
	return &oippb.ServerReadyResponse{Ready: g.s.Ready()}, nil
}

func (g *grpcService) ModelReady(_ context.Context, r *oippb.ModelReadyRequest) (*oippb.ModelReadyResponse, error) {
	ok, err := g.s.modelReady(r.Name, r.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	return &oippb.ModelReadyResponse{Ready: ok}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *oippb.ServerMetadataRequest) (*oippb.ServerMetadataResponse, error) {
	md := g.s.serverMetadata()
	return &oippb.ServerMetadataResponse{Name: md.Name, Version: md.Version, Extensions: md.Extensions}, nil
}

func (g *grpcService) ModelMetadata(_ context.Context, r *oippb.ModelMetadataRequest) (*oippb.ModelMetadataResponse, error) {
	md, err := g.s.modelMetadata(r.Name, r.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	out := &oippb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		out.Inputs = append(out.Inputs, &oippb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		out.Outputs = append(out.Outputs, &oippb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return out, nil
}

func (g *grpcService) ModelInfer(ctx context.Context, r *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	start := time.Now()
	v, err := g.s.lookup(r.ModelName, r.ModelVersion)
	if err != nil {
		g.s.record(nil, r.ModelName, "grpc", start, err)
		return nil, grpcError(err)
	}
	resp, err := g.s.grpcInfer(ctx, v, r)
	g.s.record(v, r.ModelName, "grpc", start, err)
	if err != nil {
		return nil, grpcError(err)
	}
	return resp, nil
}

// grpcInfer decodes, runs and encodes one gRPC inference. Outputs are
// always answered as raw_output_contents (little-endian FP32).
func (s *Server) grpcInfer(ctx context.Context, v *version, r *oippb.ModelInferRequest) (*oippb.ModelInferResponse, error) {
	is, sel, err := decodeGRPC(v, s.cfg.MaxTensorElements, r)
	if err != nil {
		return nil, err
	}
	res, err := s.infer(ctx, v, is)
	if err != nil {
		return nil, err
	}
	resp := &oippb.ModelInferResponse{ModelName: v.model, ModelVersion: strconv.FormatInt(v.num, 10), Id: r.Id}
	for _, i := range sel {
		shape := make([]int64, len(res[i].Shape))
		for k, d := range res[i].Shape {
			shape[k] = int64(d)
		}
		resp.Outputs = append(resp.Outputs, &oippb.ModelInferResponse_InferOutputTensor{Name: v.outputs[i].name, Datatype: "FP32", Shape: shape})
		resp.RawOutputContents = append(resp.RawOutputContents, encodeFP32(make([]byte, 0, 4*len(res[i].Data)), res[i].Data))
	}
	return resp, nil
}

// decodeGRPC decodes the inputs of a gRPC request (raw_input_contents, or
// typed contents) and the outputs it asks for.
func decodeGRPC(v *version, maxElems int, r *oippb.ModelInferRequest) (*inputSet, []int, error) {
	if len(r.RawInputContents) > 0 && len(r.RawInputContents) != len(r.Inputs) {
		return nil, nil, fmt.Errorf("%w: %d raw_input_contents for %d inputs; give one per input, or none and use contents", ErrInvalid, len(r.RawInputContents), len(r.Inputs))
	}
	is := newInputSet(v, maxElems)
	for i, in := range r.Inputs {
		dst, size, err := is.add(in.Name, in.Datatype, in.Shape)
		if err != nil {
			return nil, nil, err
		}
		if len(r.RawInputContents) > 0 {
			raw := r.RawInputContents[i]
			if want := len(dst) * size; len(raw) != want {
				return nil, nil, fmt.Errorf("%w: input %q has %d bytes of raw_input_contents; its shape and datatype give %d", ErrInvalid, in.Name, len(raw), want)
			}
			decodeRaw(dst, raw, in.Datatype)
			continue
		}
		if err := fromContents(dst, in.Contents, in.Name, in.Datatype); err != nil {
			return nil, nil, err
		}
	}
	if err := is.complete(); err != nil {
		return nil, nil, err
	}
	var names []string
	for _, o := range r.Outputs {
		names = append(names, o.Name)
	}
	sel, err := v.selectOutputs(names)
	if err != nil {
		return nil, nil, err
	}
	return is, sel, nil
}

// fromContents converts the typed contents of a gRPC input into dst.
func fromContents(dst []float32, c *oippb.InferTensorContents, name, dt string) error {
	set := func(k int, conv func(i int) float32) error {
		if k != len(dst) {
			return fmt.Errorf("%w: input %q has %d values in its %s contents; its shape gives %d", ErrInvalid, name, k, dt, len(dst))
		}
		for i := range dst {
			dst[i] = conv(i)
		}
		return nil
	}
	var err error
	switch dt {
	case "BOOL":
		v := c.GetBoolContents()
		err = set(len(v), func(i int) float32 {
			if v[i] {
				return 1
			}
			return 0
		})
	case "INT8", "INT16", "INT32":
		v := c.GetIntContents()
		err = set(len(v), func(i int) float32 { return float32(v[i]) })
	case "INT64":
		v := c.GetInt64Contents()
		err = set(len(v), func(i int) float32 { return float32(v[i]) })
	case "UINT8", "UINT16", "UINT32":
		v := c.GetUintContents()
		err = set(len(v), func(i int) float32 { return float32(v[i]) })
	case "UINT64":
		v := c.GetUint64Contents()
		err = set(len(v), func(i int) float32 { return float32(v[i]) })
	case "FP32":
		v := c.GetFp32Contents()
		err = set(len(v), func(i int) float32 { return v[i] })
	case "FP64":
		v := c.GetFp64Contents()
		err = set(len(v), func(i int) float32 { return float32(v[i]) })
	default: // FP16, BF16
		err = fmt.Errorf("%w: input %q is %s: the protocol's typed contents have no field for it; send it as raw_input_contents (little-endian, 2 bytes a value)", ErrInvalid, name, dt)
	}
	return err
}
