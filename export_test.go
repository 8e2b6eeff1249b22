package vkinfer

import (
	"strings"

	"github.com/vkinfer/vkinfer/layers"
)

// SetBatchLimit sets the largest batch one run of m takes, as Run does when
// a batch does not fit the device: a test hook to force splits.
func SetBatchLimit(m *Model, n int) { m.batchLimit.Store(int64(n)) }

// BatchLimit returns the largest batch one run of m takes (0: none found).
func BatchLimit(m *Model) int { return int(m.batchLimit.Load()) }

// VariantTrials returns how many per-layer kernel choices d has measured.
func VariantTrials(d *Device) int64 { return d.variantTrials.Load() }

// LayerVariants returns the kernels that can run node's layer of m for
// these input shapes and the layer's choice key (nil, "" for a layer with
// one kernel).
func LayerVariants(m *Model, node string, shapes ...[]int) ([]string, string) {
	for i, n := range m.graph.Nodes {
		vl, ok := m.layers[i].(layers.VariantLayer)
		if !ok || !strings.HasPrefix(n.Name+"+", node+"+") {
			continue
		}
		sh := make([]layers.Shape, len(shapes))
		for j, s := range shapes {
			sh[j] = s
		}
		return vl.Variants(sh), variantKey(vl, sh, vl.Variants(sh))
	}
	return nil, ""
}
