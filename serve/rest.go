package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
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

// buffers are the byte buffers of request and response bodies, reused
// across requests (a body is read whole before it is decoded, and an
// answer is encoded whole before it is written).
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer is the largest buffer kept for reuse: a rare large body
// should not pin its memory.
const maxPooledBuffer = 1 << 20

func putBuffer(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledBuffer {
		*bp = b[:0]
		buffers.Put(bp)
	}
}

// Content-Type values of answers, shared by all of them (net/http only
// reads them; Header.Add would append to a copy: len == cap).
var (
	applicationJSON = []string{"application/json"}
	octetStream     = []string{"application/octet-stream"}
)

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
	bp := buffers.Get().(*[]byte)
	body, hdr, err := s.restInferBody(r, v, (*bp)[:0])
	s.record(v, name, "rest", start, err)
	if err != nil {
		putBuffer(bp, body)
		writeError(w, err)
		return
	}
	h := w.Header()
	if hdr >= 0 {
		h["Content-Type"] = octetStream
		h[headerLength] = []string{strconv.Itoa(hdr)}
	} else {
		h["Content-Type"] = applicationJSON
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	putBuffer(bp, body)
}

// restInferBody reads, decodes, runs and encodes one REST inference into
// buf (a reusable buffer, returned grown with the answer, also on errors).
// hdr is the JSON header's length when binary output follows it, else -1.
func (s *Server) restInferBody(r *http.Request, v *version, buf []byte) (body []byte, hdr int, err error) {
	limit := s.cfg.MaxRequestBytes
	if r.ContentLength > limit {
		return buf, -1, fmt.Errorf("%w: the body is %d bytes, over the limit of %d (--max-request-bytes)", ErrTooLarge, r.ContentLength, limit)
	}
	data, err := readBody(http.MaxBytesReader(nil, r.Body, limit), buf, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return data, -1, fmt.Errorf("%w: the body is over the limit of %d bytes (--max-request-bytes)", ErrTooLarge, limit)
		}
		return data, -1, fmt.Errorf("%w: reading the body: %w", ErrInvalid, err)
	}
	d, err := decodeREST(v, s.cfg.MaxTensorElements, data, r.Header.Get(headerLength))
	if err != nil {
		return data, -1, err
	}
	res, err := s.infer(r.Context(), v, d.inputs)
	if err != nil {
		return data, -1, err
	}
	// The request's bytes are decoded (nothing refers to them): reuse them.
	body, hdr = encodeREST(data[:0], v, d.id, res, d.sel, d.binOut)
	return body, hdr, nil
}

// readBody reads body to its end into buf, which it grows to the size the
// request declares (n; -1 when unknown) at once when that is small; a
// larger body grows it as it arrives, so that a claim costs nothing.
func readBody(body io.Reader, buf []byte, n int64) ([]byte, error) {
	if n >= 0 && n < maxPooledBuffer && int64(cap(buf)) < n+1 {
		buf = make([]byte, 0, n+1) // +1: the read that sees EOF needs room
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		k, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// restRequest is a decoded REST inference request.
type restRequest struct {
	id     string
	inputs *inputSet
	sel    []int  // outputs to answer, by index
	binOut []bool // per selected output: answered as binary data
}

// decodeREST decodes a REST infer body: JSON, or JSON of hdrLen bytes
// followed by binary tensor data. It reads the JSON in one pass (jsonIn);
// an input's data is decoded straight into its tensor when the input's
// name, shape and datatype come before its "data", as clients write them,
// and after the input's object otherwise.
func decodeREST(v *version, maxElems int, data []byte, hdrLen string) (*restRequest, error) {
	jsonPart, bin := data, []byte(nil)
	if hdrLen != "" {
		n, err := strconv.Atoi(hdrLen)
		if err != nil || n < 0 || n > len(data) {
			return nil, fmt.Errorf("%w: header %s is %q; it must be the length of the JSON part, 0..%d", ErrInvalid, headerLength, hdrLen, len(data))
		}
		jsonPart, bin = data[:n], data[n:]
	}
	r := &jsonIn{b: jsonPart}
	is := newInputSet(v, maxElems)
	d := &restRequest{inputs: is}
	var outNames []string
	var outBin []int8 // per output asked for: -1 not said, 0 false, 1 true
	binAll := false
	off := 0
	if err := r.open('{'); err != nil {
		return nil, err
	}
	for n := 0; ; {
		ok, err := r.more('}', &n)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		k, err := r.key()
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "id":
			if !r.null() {
				id, err := r.str()
				if err != nil {
					return nil, err
				}
				d.id = string(id)
			}
		case "parameters":
			err = r.members(func(k []byte) error {
				if string(k) != "binary_data_output" {
					return r.skip(2)
				}
				if r.null() {
					return nil
				}
				var err error
				binAll, err = r.boolean()
				return err
			})
		case "inputs":
			err = r.elements(func() error { return r.input(is, bin, &off) })
		case "outputs":
			err = r.elements(func() error {
				name, b, err := r.output()
				outNames, outBin = append(outNames, name), append(outBin, b)
				return err
			})
		default:
			err = r.skip(1)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if off != len(bin) {
		return nil, fmt.Errorf("%w: %d bytes of binary data follow the JSON header but the inputs' binary_data_size take %d", ErrInvalid, len(bin), off)
	}
	if err := is.complete(); err != nil {
		return nil, err
	}
	sel, err := v.selectOutputs(outNames)
	if err != nil {
		return nil, err
	}
	d.sel = sel
	for k := range sel {
		b := binAll
		if k < len(outBin) && outBin[k] >= 0 {
			b = outBin[k] == 1
		}
		d.binOut = append(d.binOut, b)
	}
	return d, nil
}

// members reads an object (or null), calling member with each name; member
// reads the value.
func (r *jsonIn) members(member func(k []byte) error) error {
	if r.null() {
		return nil
	}
	if err := r.open('{'); err != nil {
		return err
	}
	for n := 0; ; {
		ok, err := r.more('}', &n)
		if err != nil || !ok {
			return err
		}
		k, err := r.key()
		if err != nil {
			return err
		}
		if err := member(k); err != nil {
			return err
		}
	}
}

// elements reads an array (or null), calling elem to read each element.
func (r *jsonIn) elements(elem func() error) error {
	if r.null() {
		return nil
	}
	if err := r.open('['); err != nil {
		return err
	}
	for n := 0; ; {
		ok, err := r.more(']', &n)
		if err != nil || !ok {
			return err
		}
		if err := elem(); err != nil {
			return err
		}
	}
}

// input reads one object of "inputs", checks it against the model (is.add)
// and decodes its data: from "data", or with parameters.binary_data_size
// from bin at *off (advanced past it).
func (r *jsonIn) input(is *inputSet, bin []byte, off *int) error {
	var name, dt string
	var shape []int64
	var dst []float32
	var size int
	bds, hasBDS := int64(0), false
	var later []byte // "data" read before the name, shape or datatype
	added, hasData := false, false
	add := func() error {
		var err error
		dst, size, err = is.add(name, dt, shape)
		added = err == nil
		return err
	}
	err := r.members(func(k []byte) error {
		var err error
		switch string(k) {
		case "name":
			var s []byte
			if s, err = r.str(); err == nil {
				name = string(s)
			}
		case "datatype":
			var s []byte
			if s, err = r.str(); err == nil {
				dt = string(s)
			}
		case "shape":
			shape = shape[:0]
			err = r.elements(func() error {
				d, err := r.int64()
				shape = append(shape, d)
				return err
			})
		case "parameters":
			err = r.members(func(k []byte) error {
				if string(k) != "binary_data_size" {
					return r.skip(3)
				}
				if r.null() {
					return nil
				}
				var err error
				bds, err = r.int64()
				hasBDS = true
				return err
			})
		case "data":
			if hasData || added {
				return fmt.Errorf("%w: input %q has data twice", ErrInvalid, name)
			}
			hasData = true
			if name != "" && dt != "" && shape != nil && !hasBDS {
				if err := add(); err != nil {
					return err
				}
				return r.data(dst, name, dt)
			}
			start := r.i
			if err = r.skip(2); err == nil {
				later = r.b[start:r.i]
			}
		default:
			err = r.skip(2)
		}
		return err
	})
	if err != nil {
		return err
	}
	if hasData && hasBDS {
		return fmt.Errorf("%w: input %q has both data and parameters.binary_data_size; give one", ErrInvalid, name)
	}
	if !added {
		if err := add(); err != nil {
			return err
		}
	}
	switch {
	case hasBDS:
		want := int64(len(dst)) * int64(size)
		if bds != want {
			return fmt.Errorf("%w: input %q has binary_data_size %d; its shape and datatype give %d bytes", ErrInvalid, name, bds, want)
		}
		if want > int64(len(bin)-*off) {
			return fmt.Errorf("%w: input %q needs %d bytes of binary data but only %d follow the JSON header", ErrInvalid, name, want, len(bin)-*off)
		}
		decodeRaw(dst, bin[*off:*off+int(want)], dt)
		*off += int(want)
	case later != nil:
		return parseData(dst, later, name, dt)
	case !hasData:
		return fmt.Errorf("%w: input %q has neither data nor parameters.binary_data_size", ErrInvalid, name)
	}
	return nil
}

// parseData decodes the text of one "data" value into dst (jsonIn.data).
func parseData(dst []float32, raw []byte, name, dt string) error {
	r := &jsonIn{b: raw}
	if r.peek() == 0 {
		return fmt.Errorf("%w: input %q has no data", ErrInvalid, name)
	}
	if err := r.data(dst, name, dt); err != nil {
		return err
	}
	return r.end()
}

// output reads one object of "outputs": the name, and parameters.binary_data
// (-1 when not given).
func (r *jsonIn) output() (name string, bin int8, err error) {
	bin = -1
	err = r.members(func(k []byte) error {
		switch string(k) {
		case "name":
			s, err := r.str()
			name = string(s)
			return err
		case "parameters":
			return r.members(func(k []byte) error {
				if string(k) != "binary_data" {
					return r.skip(3)
				}
				if r.null() {
					return nil
				}
				b, err := r.boolean()
				bin = 0
				if b {
					bin = 1
				}
				return err
			})
		}
		return r.skip(2)
	})
	return name, bin, err
}

// encodeREST appends the response to dst; hdr is the JSON part's length
// when binary data follows, else -1.
func encodeREST(dst []byte, v *version, id string, res []vkinfer.Tensor, sel []int, binOut []bool) (_ []byte, hdr int) {
	b := append(dst, `{"model_name":`...)
	b = appendJSONString(b, v.model)
	b = append(b, `,"model_version":"`...)
	b = strconv.AppendInt(b, v.num, 10)
	b = append(b, '"')
	if id != "" {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, id)
	}
	b = append(b, `,"outputs":[`...)
	nbin := 0
	for k, i := range sel {
		o := res[i]
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, v.outputs[i].name)
		b = append(b, `,"datatype":"FP32","shape":[`...)
		for j, d := range o.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, ']')
		if binOut[k] {
			b = append(b, `,"parameters":{"binary_data_size":`...)
			b = strconv.AppendInt(b, 4*int64(len(o.Data)), 10)
			b = append(b, '}')
			nbin++
		} else {
			b = append(b, `,"data":`...)
			b = appendJSONFloats(b, o.Data)
		}
		b = append(b, '}')
	}
	b = append(b, "]}"...)
	if nbin == 0 {
		return b, -1
	}
	hdr = len(b) - len(dst)
	for k, i := range sel {
		if binOut[k] {
			b = encodeFP32(b, res[i].Data)
		}
	}
	return b, hdr
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
