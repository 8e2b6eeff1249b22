package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const cnnModel = "../../examples/mnist-cnn/model.onnx"

// bench --profile on the shipped LeNet-sized CNN: one row per recorded step
// with the graph's node names, the FLOPs of its documented architecture
// (examples/mnist-cnn/README.md), shares that add up, and the text table.
func TestBenchProfile(t *testing.T) {
	flags := gpu(t)
	stdout := gpuCLI(t, flags, "bench", "--model", cnnModel, "--runs", "3", "--warmup", "1", "--batch", "3", "--profile", "--json")
	var res benchResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	p := res.Profile
	require.NotNil(t, p, stdout)
	assert.Equal(t, 3, p.Runs)
	assert.Contains(t, []string{"device timestamps", "host timing"}, p.Timing)
	var ops []string
	var share, sum float64
	for _, l := range p.Layers {
		ops = append(ops, l.Op)
		assert.GreaterOrEqual(t, l.TimeUs, 0.0, l.Name)
		share += l.Share
		sum += l.TimeUs
		if l.Flops > 0 && l.TimeUs > 0 {
			assert.InDelta(t, float64(l.Flops)/l.TimeUs/1e3, l.GFlops, 1e-9*l.GFlops, l.Name)
		}
	}
	// Staging copies come first and last where the device needs them.
	body, lead := ops, 0
	for len(body) > 0 && body[0] == "(copy)" {
		body, lead = body[1:], lead+1
	}
	for len(body) > 0 && body[len(body)-1] == "(copy)" {
		body = body[:len(body)-1]
	}
	// Conv+Relu fused; the two Dense layers (Gemm) run as one chain or two steps.
	require.GreaterOrEqual(t, len(body), 5, "%v", ops)
	assert.Equal(t, []string{"Conv+Relu", "MaxPool", "Conv+Relu", "MaxPool"}, body[:4])
	for _, op := range body[4:] {
		assert.True(t, strings.HasPrefix(op, "Dense") || strings.HasPrefix(op, "Flatten"), "%v", ops)
	}
	conv1, conv2 := p.Layers[lead], p.Layers[lead+2]
	assert.Equal(t, []string{"/conv1/Conv+/Relu"}, conv1.Nodes)
	// Conv 1→8 5×5 pad 2 on 28×28: 8·28·28 outputs of 1·5·5 products; Conv
	// 8→16 5×5 on 14×14: 16·10·10 outputs of 8·5·5; Gemm 400→128, 128→10.
	const batch = 3
	assert.EqualValues(t, batch*2*8*28*28*25, conv1.Flops)
	assert.EqualValues(t, batch*2*16*10*10*8*25, conv2.Flops)
	assert.EqualValues(t, batch*2*(8*28*28*25+16*10*10*8*25+400*128+128*10), p.Flops)
	assert.Equal(t, p.Flops, res.Flops, "the headline GFLOP/s counts what the profile counts")
	assert.InDelta(t, 1.0, share, 1e-6)
	assert.InDelta(t, p.TotalUs, sum, 1e-3*p.TotalUs+1e-3)
	var byOp int
	for _, o := range p.ByOp {
		byOp += o.Count
	}
	assert.Equal(t, len(p.Layers), byOp)

	stdout = gpuCLI(t, flags, "bench", "--model", cnnModel, "--runs", "2", "--warmup", "0", "--profile")
	for _, w := range []string{"profile     ", "steps sum to", "GFLOP/s", "Conv+Relu", "/conv2/Conv+/Relu_1", "by op (slowest first)", "total"} {
		assert.Contains(t, stdout, w)
	}
	// Without --profile: no table.
	stdout = gpuCLI(t, flags, "bench", "--model", cnnModel, "--runs", "2", "--warmup", "0")
	assert.NotContains(t, stdout, "profile ")
}
