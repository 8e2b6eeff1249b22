package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/vkinfer/vkinfer/model"
)

// Choices remembers plan choices measured on a device (which candidate was
// fastest for a plan), in a small JSON file kept beside the pipeline cache,
// so a second load of the same model on the same device and driver does not
// measure again. The file's name carries the device and driver; each key
// names the graph (Fingerprint), the input shapes and the choice.
//
// Safe for concurrent use. A file that cannot be read or written only costs
// measurements: errors are ignored (Save reports them for logging).
type Choices struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

// maxChoicesFile bounds the file read back (a corrupt or foreign file is
// ignored, not trusted).
const maxChoicesFile = 1 << 20

// OpenChoices reads the choices at path ("" keeps them in memory only).
func OpenChoices(path string) *Choices {
	c := &Choices{path: path, m: map[string]string{}}
	if path == "" {
		return c
	}
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxChoicesFile+1))
	if err != nil || len(data) > maxChoicesFile {
		return c
	}
	var m map[string]string
	if json.Unmarshal(data, &m) == nil {
		c.m = m
	}
	return c
}

// Get returns the choice stored under key.
func (c *Choices) Get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

// Put stores a choice and writes the file (through a temporary file renamed
// over it, so a reader never sees half a file).
func (c *Choices) Put(key, value string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = value
	if c.path == "" {
		return nil
	}
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for len(keys) > 4096 { // bounded: drop the first keys
		delete(c.m, keys[0])
		keys = keys[1:]
	}
	data, err := json.MarshalIndent(c.m, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o755); err != nil {
		return fmt.Errorf("planner: choices: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".choices-*")
	if err != nil {
		return fmt.Errorf("planner: choices: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("planner: choices: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("planner: choices: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("planner: choices: %w", err)
	}
	return nil
}

// Fingerprint names a graph for Choices: a hash of its nodes (ops, names,
// attributes), inputs, outputs and the shapes of its initializers (not their
// values: a retrained model of the same shape plans the same).
func Fingerprint(m *model.Model) string {
	h := sha256.New()
	for _, v := range m.Inputs {
		if v.AnyShape {
			fmt.Fprintf(h, "in %s any\n", v.Name)
			continue
		}
		fmt.Fprintf(h, "in %s %v\n", v.Name, v.Shape)
	}
	for _, v := range m.Outputs {
		fmt.Fprintf(h, "out %s %v\n", v.Name, v.Shape)
	}
	for _, t := range m.Initializers {
		fmt.Fprintf(h, "init %s %v\n", t.Name, t.Shape)
	}
	for _, n := range m.Nodes {
		keys := make([]string, 0, len(n.Attrs))
		for k := range n.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(h, "node %s %s %q %q", n.Name, n.Op, n.Inputs, n.Outputs)
		for _, k := range keys {
			fmt.Fprintf(h, " %s=%+v", k, n.Attrs[k])
		}
		fmt.Fprintln(h)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
