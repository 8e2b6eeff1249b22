package layers

import (
	"fmt"

	"github.com/vkinfer/vkinfer/engine"
)

// GemmConfig is a GEMM tile shape: a workgroup of LX x LY invocations, each
// computing a TM x TN block of C.
type GemmConfig struct {
	LX, LY, TM, TN int
}

func (c GemmConfig) String() string {
	return fmt.Sprintf("wg %dx%d, block %dx%d", c.LX, c.LY, c.TM, c.TN)
}

// ChooseGemm picks the tile shape for an m x n x k product on a device, from
// its type, driver and limits. CPU drivers want large register blocks and few
// invocations (their "lanes" are SIMD slots of one core); GPUs want many
// invocations with moderate blocks.
func ChooseGemm(info engine.DeviceInfo, m, n, k int) GemmConfig {
	var c GemmConfig
	switch {
	case info.DriverID == engine.DriverSwiftShader:
		c = GemmConfig{LX: 16, LY: 1, TM: 4, TN: 8}
	case info.Type == engine.TypeCPU:
		c = GemmConfig{LX: 8, LY: 4, TM: 4, TN: 8}
	default:
		c = GemmConfig{LX: 16, LY: 16, TM: 4, TN: 4}
	}
	// Small products: shrink blocks so invocations do not compute padding.
	for c.TM > 1 && c.TM*c.LY/2 >= m {
		if c.LY > 1 {
			c.LY /= 2
			c.LX *= 2
		} else {
			c.TM /= 2
		}
	}
	for c.TN > 1 && c.TN*c.LX/2 >= n && c.LX > 1 {
		c.LX /= 2
	}
	// Respect the device's workgroup limits.
	lim := info.Limits
	for c.LX*c.LY > int(lim.MaxComputeWorkGroupInvocations) || c.LX > int(lim.MaxComputeWorkGroupSize[0]) {
		c.LX = (c.LX + 1) / 2
	}
	for c.LX*c.LY > int(lim.MaxComputeWorkGroupInvocations) || c.LY > int(lim.MaxComputeWorkGroupSize[1]) {
		c.LY = (c.LY + 1) / 2
	}
	return c
}

// Gemm describes C = act(op(A) op(B) + bias) for RecordGemm.
type Gemm struct {
	M, N, K        int
	TransA, TransB bool
	Bias           *engine.Buffer // nil for none
	ReLU           bool
	Config         *GemmConfig // nil: ChooseGemm
}

// RecordGemm records g on a, b into c.
func RecordGemm(r *engine.Recorder, d *engine.Device, g Gemm, a, b, c *engine.Buffer) error {
	if g.M <= 0 || g.N <= 0 || g.K <= 0 {
		return fmt.Errorf("layers: gemm %dx%dx%d has an empty dimension", g.M, g.N, g.K)
	}
	need := func(buf *engine.Buffer, what string, elems int) error {
		if buf.Len() < elems {
			return fmt.Errorf("layers: gemm %s needs %d floats, buffer has %d", what, elems, buf.Len())
		}
		return nil
	}
	if err := need(a, "A", g.M*g.K); err != nil {
		return err
	}
	if err := need(b, "B", g.K*g.N); err != nil {
		return err
	}
	if err := need(c, "C", g.M*g.N); err != nil {
		return err
	}
	cfg := ChooseGemm(d.Info(), g.M, g.N, g.K)
	if g.Config != nil {
		cfg = *g.Config
	}
	bias := g.Bias
	if bias == nil {
		bias = b // bound but never read
	} else if err := need(bias, "bias", g.N); err != nil {
		return err
	}
	spec := engine.Spec{
		"local_size_x": u32(cfg.LX), "local_size_y": u32(cfg.LY),
		"TM": u32(cfg.TM), "TN": u32(cfg.TN),
		"TRANS_A": b2u(g.TransA), "TRANS_B": b2u(g.TransB),
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": b2u(g.ReLU),
	}
	p, err := d.Pipeline("gemm", spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	gx := (g.N + cfg.TN*cfg.LX - 1) / (cfg.TN * cfg.LX)
	gy := (g.M + cfg.TM*cfg.LY - 1) / (cfg.TM * cfg.LY)
	push := []uint32{u32(g.M), u32(g.N), u32(g.K), 0, 0, 0, 0}
	return r.Dispatch(p, []*engine.Buffer{a, b, bias, c}, push, [3]uint32{u32(gx), u32(gy), 1})
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
