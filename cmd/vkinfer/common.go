package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vkinfer/vkinfer"
	"github.com/vkinfer/vkinfer/model"
	"github.com/vkinfer/vkinfer/model/onnx"
)

// cliError is an error with a message made for the user that keeps the
// original error for errors.Is/As.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// trimPrefixes removes the leading package and path prefixes that the
// command line already states (`vkinfer: `, `model: `, `engine: `, the file
// name) from err's message.
func trimPrefixes(msg string, prefixes ...string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range prefixes {
			if p != "" && strings.HasPrefix(msg, p) {
				msg, changed = msg[len(p):], true
			}
		}
	}
	return msg
}

// fileError returns err as "path: what went wrong", without the prefixes
// the packages put before it, and with hint appended when not empty.
func fileError(path string, err error, hint string) error {
	var pe *fs.PathError
	var msg string
	if errors.As(err, &pe) && pe.Path == path {
		msg = pe.Err.Error()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			msg = "no such file"
		case errors.Is(err, fs.ErrPermission):
			msg = "permission denied: check the file's permissions"
		}
	} else {
		msg = trimPrefixes(err.Error(), "vkinfer: ", "outfile: ", "model: ", "onnx: ", "npy: ", "idx: ", "read "+path+": ", path+": ")
	}
	if hint != "" {
		msg += "; " + hint
	}
	return &cliError{msg: path + ": " + msg, err: err}
}

// readModel reads the model at path, an mlp.bin or an ONNX file (told apart
// by the mlp.bin magic; no GPU needed).
func readModel(path string) (*model.Model, error) {
	var m *model.Model
	var err error
	if isONNX(path) {
		m, err = onnx.ReadFile(path)
	} else {
		m, err = model.ReadFile(path)
	}
	if err != nil {
		return nil, fileError(path, err, modelHint(err))
	}
	return m, nil
}

// isONNX reports whether the file at path should be read as ONNX: it does
// not start with the mlp.bin magic, and its first bytes look like a
// ModelProto or its name ends in .onnx. Anything else is left to the mlp.bin
// reader and its errors.
func isONNX(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return false
	}
	head := make([]byte, len(model.Magic))
	n, _ := io.ReadFull(f, head)
	if string(head[:n]) == model.Magic {
		return false
	}
	return onnx.Sniff(head[:n]) || strings.EqualFold(filepath.Ext(path), ".onnx")
}

// modelHint tells the user what to do about a model file error.
func modelHint(err error) string {
	switch {
	case errors.Is(err, model.ErrNotModel), errors.Is(err, onnx.ErrFormat):
		return "vkinfer reads mlp.bin models (docs/FORMAT.md) and ONNX models (.onnx); give the path of one, e.g. examples/mnist/mlp.bin"
	case errors.Is(err, model.ErrTruncated):
		return "the file is incomplete: copy, download or export it again"
	case errors.Is(err, model.ErrChecksum):
		return "copy, download or export the file again"
	case errors.Is(err, model.ErrCorrupt), errors.Is(err, model.ErrInvalid), errors.Is(err, onnx.ErrMalformed):
		return "the file was not written correctly: export the model again"
	}
	return "" // ErrVersion says "upgrade vkinfer" itself; onnx.ErrUnsupported says what to do
}

// session is an opened device with a loaded model.
type session struct {
	dev   *vkinfer.Device
	model *vkinfer.Model
	path  string
	runs  int // successful runs so far
}

// afterRun, when set (by tests), is called after each successful run of a
// command's model with the command's context and the number of runs so
// far: tests interrupt a command part-way through with it.
var afterRun func(ctx context.Context, runs int)

// ran counts a successful run.
func (s *session) ran(ctx context.Context) {
	s.runs++
	if afterRun != nil {
		afterRun(ctx, s.runs)
	}
}

// Close closes the model, then the device.
func (s *session) Close() {
	if s.model != nil {
		s.model.Close()
	}
	if s.dev != nil {
		s.dev.Close()
	}
}

// openDevice opens the device the flags choose, with notices and validation
// messages going to e.stderr.
func openDevice(e *env, f deviceFlags, tune ...func(*vkinfer.Options)) (*vkinfer.Device, error) {
	opts := vkinfer.Options{
		Device:     f.device,
		Validation: f.validation,
		Logger:     slog.New(&cliHandler{w: e.stderr}),
		OnMessage: func(severity, message string) {
			fmt.Fprintf(e.stderr, "vkinfer: validation %s: %s\n", severity, message)
		},
	}
	for _, t := range tune {
		t(&opts) // a command's own settings (serve: SpinWait)
	}
	dev, err := vkinfer.Open(opts)
	if err != nil {
		return nil, &cliError{msg: trimPrefixes(err.Error(), "vkinfer: ", "engine: "), err: err}
	}
	return dev, nil
}

// load opens the device and loads the model m read from path onto it.
func load(e *env, f deviceFlags, path string, m *model.Model) (*session, error) {
	dev, err := openDevice(e, f)
	if err != nil {
		return nil, err
	}
	mm, err := dev.LoadModel(m)
	if err != nil {
		dev.Close()
		return nil, fileError(path, err, "")
	}
	return &session{dev: dev, model: mm, path: path}, nil
}

// run runs the session's model and names the file in errors.
func (s *session) run(ctx context.Context, inputs ...vkinfer.Tensor) ([]vkinfer.Tensor, error) {
	outs, err := s.model.Run(ctx, inputs...)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		return nil, fileError(s.path, err, "")
	}
	s.ran(ctx)
	return outs, nil
}

// cliHandler is a slog.Handler that prints notices as "vkinfer: message"
// lines, for a person to read.
type cliHandler struct {
	w     io.Writer
	attrs []slog.Attr
}

func (h *cliHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *cliHandler) Handle(_ context.Context, r slog.Record) error {
	msg := strings.TrimPrefix(r.Message, "vkinfer: ")
	if r.Level >= slog.LevelWarn {
		msg = "warning: " + msg
	}
	var b strings.Builder
	b.WriteString("vkinfer: ")
	b.WriteString(msg)
	add := func(a slog.Attr) bool {
		v := a.Value.String()
		if !strings.Contains(msg, v) { // the engine repeats the device name as an attribute
			fmt.Fprintf(&b, " %s=%s", a.Key, v)
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteString("\n")
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *cliHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &cliHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h *cliHandler) WithGroup(string) slog.Handler { return h }

// syncWriter serialises writes: validation messages arrive on driver
// threads while the command prints.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	if s, ok := w.(*syncWriter); ok {
		w = s.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// count writes n and the noun, plural unless n is 1: "1 argument", "2
// arguments".
func count(n int, noun string) string { return fmt.Sprintf("%d %s%s", n, noun, plural(n)) }
