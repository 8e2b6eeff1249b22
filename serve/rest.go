package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/vkinfer/vkinfer"
)

// headerLength is the binary tensor data extension's header: the length of
// the JSON part of a body that binary tensor data follows.
const headerLength = "Inference-Header-Content-Length"

// HTTPHandler serves the protocol's REST API (KServe v2):
//
//	GET  /v2/health/live, /v2/health/ready, /v2
//	GET  /v2/models/{m}[/versions/{v}], /v2/models/{m}[/versions/{v}]/ready
//	POST /v2/models/{m}[/versions/{v}]/infer  (JSON, or JSON + binary data)
//	POST /v2/repository/index
//
// Errors are JSON objects {"error": "..."} with a 4xx or 5xx status.
func (s *Server) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		if s.Ready() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.serverMetadata())
	})
	meta := func(w http.ResponseWriter, r *http.Request) {
		md, err := s.modelMetadata(r.PathValue("m"), r.PathValue("v"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, md)
	}
	mux.HandleFunc("GET /v2/models/{m}", meta)
	mux.HandleFunc("GET /v2/models/{m}/versions/{v}", meta)
	ready := func(w http.ResponseWriter, r *http.Request) {
		ok, err := s.modelReady(r.PathValue("m"), r.PathValue("v"))
		switch {
		case err != nil:
			writeError(w, err)
		case ok:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	mux.HandleFunc("GET /v2/models/{m}/ready", ready)
	mux.HandleFunc("GET /v2/models/{m}/versions/{v}/ready", ready)
	mux.HandleFunc("POST /v2/models/{m}/infer", s.restInfer)
	mux.HandleFunc("POST /v2/models/{m}/versions/{v}/infer", s.restInfer)
	mux.HandleFunc("POST /v2/repository/index", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.index())
	})
	return mux
}

// serverMetadataJSON is GET /v2's answer.
type serverMetadataJSON struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func (s *Server) serverMetadata() serverMetadataJSON {
	return serverMetadataJSON{Name: "vkinfer", Version: s.cfg.Version, Extensions: []string{"binary_tensor_data", "model_repository"}}
}

type tensorMetadataJSON struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

type modelMetadataJSON struct {
	Name     string               `json:"name"`
	Versions []string             `json:"versions"`
	Platform string               `json:"platform"`
	Inputs   []tensorMetadataJSON `json:"inputs"`
	Outputs  []tensorMetadataJSON `json:"outputs"`
}

func (s *Server) modelMetadata(name, ver string) (*modelMetadataJSON, error) {
	v, err := s.lookup(name, ver)
	if err != nil {
		return nil, err
	}
	m := s.models[name]
	md := &modelMetadataJSON{Name: name, Platform: m.platform}
	for _, n := range m.loaded() {
		md.Versions = append(md.Versions, strconv.FormatInt(n, 10))
	}
	for _, t := range v.inputs {
		md.Inputs = append(md.Inputs, tensorMetadataJSON{t.name, "FP32", t.shape(v.maxBatch)})
	}
	for _, t := range v.outputs {
		md.Outputs = append(md.Outputs, tensorMetadataJSON{t.name, "FP32", t.shape(v.maxBatch)})
	}
	return md, nil
}

// indexEntry is one row of the repository index (Triton's model repository
// extension): every model directory, loaded or not, with the reason.
type indexEntry struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
}

func (s *Server) index() []indexEntry {
	var out []indexEntry
	for _, name := range s.names {
		m := s.models[name]
		for _, n := range m.loaded() {
			out = append(out, indexEntry{Name: name, Version: strconv.FormatInt(n, 10), State: "READY"})
		}
		if m.err != nil {
			out = append(out, indexEntry{Name: name, State: "UNAVAILABLE", Reason: m.err.Error()})
		}
	}
	return out
}

// inferRequestJSON is the JSON (part of the) body of an infer request.
type inferRequestJSON struct {
	ID         string `json:"id"`
	Parameters struct {
		BinaryDataOutput bool `json:"binary_data_output"`
	} `json:"parameters"`
	Inputs []struct {
		Name       string  `json:"name"`
		Shape      []int64 `json:"shape"`
		Datatype   string  `json:"datatype"`
		Parameters struct {
			BinaryDataSize *int64 `json:"binary_data_size"`
		} `json:"parameters"`
		Data json.RawMessage `json:"data"`
	} `json:"inputs"`
	Outputs []struct {
		Name       string `json:"name"`
		Parameters struct {
			BinaryData *bool `json:"binary_data"`
		} `json:"parameters"`
	} `json:"outputs"`
}

type outputJSON struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int           `json:"shape"`
	Parameters *outParamsJSON  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type outParamsJSON struct {
	BinaryDataSize int `json:"binary_data_size"`
}

type inferResponseJSON struct {
	ModelName    string       `json:"model_name"`
	ModelVersion string       `json:"model_version"`
	ID           string       `json:"id,omitempty"`
	Outputs      []outputJSON `json:"outputs"`
}

// restInfer serves POST .../infer.
func (s *Server) restInfer(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("m")
	v, err := s.lookup(name, r.PathValue("v"))
	if err != nil {
		s.record(nil, name, "rest", start, err)
		writeError(w, err)
		return
	}
	status, body, hdr, err := s.restInferBody(r, v)
	s.record(v, name, "rest", start, err)
	if err != nil {
		writeError(w, err)
		return
	}
	if hdr >= 0 {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(headerLength, strconv.Itoa(hdr))
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// restInferBody decodes, runs and encodes one REST inference. hdr is the
// JSON header's length when binary output follows it, else -1.
func (s *Server) restInferBody(r *http.Request, v *version) (status int, body []byte, hdr int, err error) {
	limit := s.cfg.MaxRequestBytes
	if r.ContentLength > limit {
		return 0, nil, -1, fmt.Errorf("%w: the body is %d bytes, over the limit of %d (--max-request-bytes)", ErrTooLarge, r.ContentLength, limit)
	}
	data, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return 0, nil, -1, fmt.Errorf("%w: the body is over the limit of %d bytes (--max-request-bytes)", ErrTooLarge, limit)
		}
		return 0, nil, -1, fmt.Errorf("%w: reading the body: %w", ErrInvalid, err)
	}
	d, err := decodeREST(v, s.cfg.MaxTensorElements, data, r.Header.Get(headerLength))
	if err != nil {
		return 0, nil, -1, err
	}
	res, err := s.infer(r.Context(), v, d.inputs)
	if err != nil {
		return 0, nil, -1, err
	}
	body, hdr = encodeREST(v, d.id, res, d.sel, d.binOut)
	return http.StatusOK, body, hdr, nil
}

// restRequest is a decoded REST inference request.
type restRequest struct {
	id     string
	inputs *inputSet
	sel    []int  // outputs to answer, by index
	binOut []bool // per selected output: answered as binary data
}

// decodeREST decodes a REST infer body: JSON, or JSON of hdrLen bytes
// followed by binary tensor data.
func decodeREST(v *version, maxElems int, data []byte, hdrLen string) (*restRequest, error) {
	jsonPart, bin := data, []byte(nil)
	if hdrLen != "" {
		n, err := strconv.Atoi(hdrLen)
		if err != nil || n < 0 || n > len(data) {
			return nil, fmt.Errorf("%w: header %s is %q; it must be the length of the JSON part, 0..%d", ErrInvalid, headerLength, hdrLen, len(data))
		}
		jsonPart, bin = data[:n], data[n:]
	}
	req := &inferRequestJSON{}
	if err := json.Unmarshal(jsonPart, req); err != nil {
		return nil, fmt.Errorf("%w: the body is not an inference request in JSON: %w", ErrInvalid, err)
	}
	is := newInputSet(v, maxElems)
	off := 0
	for _, in := range req.Inputs {
		dst, size, err := is.add(in.Name, in.Datatype, in.Shape)
		if err != nil {
			return nil, err
		}
		if bds := in.Parameters.BinaryDataSize; bds != nil {
			want := int64(len(dst)) * int64(size)
			if *bds != want {
				return nil, fmt.Errorf("%w: input %q has binary_data_size %d; its shape and datatype give %d bytes", ErrInvalid, in.Name, *bds, want)
			}
			if want > int64(len(bin)-off) {
				return nil, fmt.Errorf("%w: input %q needs %d bytes of binary data but only %d follow the JSON header", ErrInvalid, in.Name, want, len(bin)-off)
			}
			decodeRaw(dst, bin[off:off+int(want)], in.Datatype)
			off += int(want)
			continue
		}
		if len(in.Data) == 0 {
			return nil, fmt.Errorf("%w: input %q has neither data nor parameters.binary_data_size", ErrInvalid, in.Name)
		}
		if err := parseData(dst, in.Data, in.Name, in.Datatype); err != nil {
			return nil, err
		}
	}
	if off != len(bin) {
		return nil, fmt.Errorf("%w: %d bytes of binary data follow the JSON header but the inputs' binary_data_size take %d", ErrInvalid, len(bin), off)
	}
	if err := is.complete(); err != nil {
		return nil, err
	}
	var names []string
	binary := map[string]bool{}
	for _, o := range req.Outputs {
		names = append(names, o.Name)
		if o.Parameters.BinaryData != nil {
			binary[o.Name] = *o.Parameters.BinaryData
		}
	}
	sel, err := v.selectOutputs(names)
	if err != nil {
		return nil, err
	}
	d := &restRequest{id: req.ID, inputs: is, sel: sel}
	for _, i := range sel {
		b, ok := binary[v.outputs[i].name]
		if !ok {
			b = req.Parameters.BinaryDataOutput
		}
		d.binOut = append(d.binOut, b)
	}
	return d, nil
}

// encodeREST writes the response body; hdr is the JSON part's length when
// binary data follows, else -1.
func encodeREST(v *version, id string, res []vkinfer.Tensor, sel []int, binOut []bool) ([]byte, int) {
	resp := inferResponseJSON{ModelName: v.model, ModelVersion: strconv.FormatInt(v.num, 10), ID: id}
	var bin []byte
	for k, i := range sel {
		o := res[i]
		oj := outputJSON{Name: v.outputs[i].name, Datatype: "FP32", Shape: o.Shape}
		if binOut[k] {
			oj.Parameters = &outParamsJSON{BinaryDataSize: 4 * len(o.Data)}
			bin = encodeFP32(bin, o.Data)
		} else {
			oj.Data = appendJSONFloats(make([]byte, 0, 12*len(o.Data)+2), o.Data)
		}
		resp.Outputs = append(resp.Outputs, oj)
	}
	body, err := json.Marshal(resp)
	if err != nil { // cannot happen: every member is plain data
		panic(err)
	}
	if bin == nil {
		return body, -1
	}
	return append(body, bin...), len(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"serve: encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// httpStatus maps an error to its HTTP status.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrQueueFull):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return 499 // client closed the request (nginx's convention); nobody reads it
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, httpStatus(err), map[string]string{"error": err.Error()})
}
