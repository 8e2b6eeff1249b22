package layers

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"

	"github.com/vkinfer/vkinfer/engine"
	"github.com/vkinfer/vkinfer/ops"
)

// GemmKernel names a GEMM kernel family (one shader source each). Which one
// is fastest depends on the device class; ChooseGemmKernel picks from the
// device, RecordGemm falls back when the chosen one cannot run a product.
type GemmKernel int

// GEMM kernel families.
const (
	// GemmAuto lets ChooseGemmKernel decide (an explicit Gemm.Config alone
	// selects GemmStorage, whose tile it describes).
	GemmAuto GemmKernel = iota
	// GemmStorage is shaders/gemm.comp: storage buffers, an LX x LY workgroup
	// of TM x TN register blocks interleaved so neighbouring lanes touch
	// neighbouring columns. Any layout, any tile; the portable fallback and
	// the GPU kernel.
	GemmStorage
	// GemmTexel is shaders/gemm_texel.comp: A and B read as RGBA32F uniform
	// texel buffers, a TM x 8 block per invocation, no shared memory; the
	// lavapipe kernel. Row-major A is read in place at any K; B in prepared
	// panels (GemmWeights) or in place when aligned; other layouts are
	// packed by shaders/gemm_pack.comp into a temporary buffer first. Every
	// operand must fit one texel view (maxTexelBufferElements).
	GemmTexel
	// GemmSubgroup is shaders/gemm_subgroup.comp: storage buffers, an 8 x 16
	// tile (1 x 16 for M <= 2) per subgroup of 4 lanes, the rows of A loaded
	// once per subgroup and shared with subgroupBroadcast; the SwiftShader
	// kernel. Needs subgroups of 4 lanes with ballot operations. Reads every
	// layout in place; fastest with B in GemmWeights' 16-column panels.
	GemmSubgroup
	// GemmTiled is shaders/gemm_tiled.comp (and gemm_tiled_f16.comp for
	// fp16 weights): the GPU kernel. Block tiles staged in shared memory,
	// warp tiles sized from the subgroup size, register tiles per
	// invocation, vec4 loads where aligned, split-K for products with few
	// blocks; the tile is a GemmTile chosen by ChooseGemmTile. Reads every
	// layout and offset in place.
	GemmTiled
	// GemmShuffle is shaders/gemm_shuffle.comp: gemm_texel's sibling on
	// lavapipe (same prepared weights, same epilogue and NCHW store). A
	// subgroup computes an R x 8P block: each lane fetches its own rows of
	// A (a texel = 4 k of a row), the lanes fetch B's panels together and
	// hand each value round with subgroupShuffle, so every fetched float
	// feeds more FMAs. Needs subgroups of 4 or 8 lanes with shuffles and
	// operands that fit one texel view; A is read in place when row-major
	// with a row stride that is a multiple of 4, B when in 8-column panels,
	// other layouts are packed first. recordGemm runs it in place of
	// GemmTexel where useShuffle says it is faster (measured), or when
	// forced.
	GemmShuffle
	// GemmGEMV is shaders/gemm_gemv.comp (and gemm_gemv_f16.comp): skinny
	// products of at most gemvMaxRows rows (batch-1 and small-batch Dense
	// layers) on GPUs, one pass over B at memory speed. Larger M runs
	// GemmTiled.
	GemmGEMV
)

func (k GemmKernel) String() string {
	switch k {
	case GemmAuto:
		return "auto"
	case GemmStorage:
		return "storage"
	case GemmTexel:
		return "texel"
	case GemmSubgroup:
		return "subgroup"
	case GemmTiled:
		return "tiled"
	case GemmGEMV:
		return "gemv"
	case GemmShuffle:
		return "shuffle"
	}
	return fmt.Sprintf("GemmKernel(%d)", int(k))
}

// GemmConfig is a GEMM tile shape: a workgroup of LX x LY invocations, each
// computing a TM x TN block of C. GemmStorage takes any positive values;
// GemmTexel needs LY = 1, TN = 8 and TM in {1, 2, 4, 8}; GemmSubgroup needs
// LY = 1, LX a multiple of 4, TN = 4 and TM 8 or 1 (rows per subgroup tile).
type GemmConfig struct {
	LX, LY, TM, TN int
}

func (c GemmConfig) String() string {
	return fmt.Sprintf("wg %dx%d, block %dx%d", c.LX, c.LY, c.TM, c.TN)
}

// ChooseGemmKernel picks the kernel family for an m x n x k product on a
// device, from its driver, type and limits: GemmTexel on lavapipe,
// GemmSubgroup on SwiftShader (its texel buffers are capped at 65,536
// texels, too small for most tensors), GemmStorage on other CPU drivers,
// and on GPUs (discrete, integrated, virtual) GemmGEMV for products of at
// most gemvMaxRows rows and GemmTiled otherwise. $VKINFER_GEMM (see
// GemmKernelEnv) overrides the choice for tests. See docs/PERFORMANCE.md for
// the measurements behind it.
func ChooseGemmKernel(info engine.DeviceInfo, m, n, k int) GemmKernel {
	if forced, err := envKernel(); err == nil && forced != GemmAuto {
		if forced == GemmGEMV && m > gemvMaxRows {
			return GemmTiled
		}
		return forced
	}
	switch {
	case info.DriverID == engine.DriverLavapipe && texelCapable(info):
		return GemmTexel
	case info.DriverID == engine.DriverSwiftShader && subgroupCapable(info):
		return GemmSubgroup
	case info.Type == engine.TypeCPU:
		return GemmStorage
	case m <= gemvMaxRows:
		return GemmGEMV
	}
	return GemmTiled
}

// GemmKernelEnv names the environment variable that forces a GEMM kernel
// family on every device, for tests and measurements: auto (or empty),
// storage, texel, subgroup, tiled, gemv (gemv runs products of more than
// 8 rows with tiled) or shuffle (GemmShuffle wherever it can run, with
// GemmTexel's weights; texel then means GemmTexel alone). A forced kernel that cannot run a product falls back
// as an explicit Gemm.Kernel does. Weights are prepared for the forced
// kernel. An unknown value makes RecordGemm and NewGemmWeights fail.
const GemmKernelEnv = "VKINFER_GEMM"

// envKernel parses $VKINFER_GEMM.
func envKernel() (GemmKernel, error) {
	v := os.Getenv(GemmKernelEnv)
	if v == "" {
		return GemmAuto, nil
	}
	for _, k := range []GemmKernel{GemmAuto, GemmStorage, GemmTexel, GemmSubgroup, GemmTiled, GemmGEMV, GemmShuffle} {
		if strings.EqualFold(v, k.String()) {
			return k, nil
		}
	}
	return GemmAuto, fmt.Errorf("layers: %s=%q: want auto, storage, texel, subgroup, tiled, gemv or shuffle", GemmKernelEnv, v)
}

// texelCapable reports whether every tensor the device can hold fits in one
// texel view, so GemmTexel never has to fall back for size.
func texelCapable(info engine.DeviceInfo) bool {
	return uint64(info.Limits.MaxTexelBufferElements)*16 >= uint64(info.Limits.MaxStorageBufferRange)
}

// ChooseGemm picks the tile shape for an m x n x k product on a device, for
// the kernel ChooseGemmKernel picks.
func ChooseGemm(info engine.DeviceInfo, m, n, k int) GemmConfig {
	return chooseTile(info, ChooseGemmKernel(info, m, n, k), m, n, k)
}

// chooseTile picks the tile of kernel for an m x n x k product.
func chooseTile(info engine.DeviceInfo, kernel GemmKernel, m, n, k int) GemmConfig {
	var c GemmConfig
	switch kernel {
	case GemmTexel:
		// 8 x 8 blocks: 16 vec4 accumulators; larger blocks spill on
		// lavapipe. Fewer rows when M is small, so lanes do not compute
		// padding (a matrix-vector product wants TM = 1). One invocation
		// per block on a 1-D grid: only the last workgroup has idle lanes,
		// whatever M and N.
		c = GemmConfig{LX: 16, LY: 1, TM: 8, TN: 8}
		for c.TM > 1 && c.TM >= 2*m {
			c.TM /= 2
		}
		return fitWorkgroup(info, c)
	case GemmShuffle:
		// TM rows (SG * RH) by TN columns (8 * P) per subgroup:
		// shuffleTile.
		rh, p := shuffleTile(info, m, n, k)
		sg := int(info.SubgroupSize)
		return fitWorkgroup(info, GemmConfig{LX: 2 * max(sg, 1), LY: 1, TM: sg * rh, TN: 8 * p})
	case GemmSubgroup:
		// The subgroup tile is fixed in the shader (8 or 1 rows by 16
		// columns); TM reports which, TN the columns per lane.
		c = GemmConfig{LX: 16, LY: 1, TM: sgTileRows, TN: 4}
		if m <= sgRows1Max {
			c.TM = 1
		}
		return fitWorkgroup(info, c)
	}
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
	return fitWorkgroup(info, c)
}

// fitWorkgroup shrinks c's workgroup to the device's limits.
func fitWorkgroup(info engine.DeviceInfo, c GemmConfig) GemmConfig {
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
	// Config is the tile of the storage, texel and subgroup kernels; nil:
	// chosen for the kernel and shape.
	Config *GemmConfig
	// Tile is the tile of GemmTiled; nil: ChooseGemmTile. Setting it alone
	// selects GemmTiled.
	Tile *GemmTile
	// Kernel forces a kernel family; GemmAuto (zero) chooses from the
	// device (ChooseGemmKernel), or GemmStorage when Config is set. A
	// kernel that cannot run the product (a layout it cannot read, a tensor
	// past its limits) falls back to GemmStorage (GemmGEMV to GemmTiled).
	// Packed copies of operands a kernel needs are temporary buffers of the
	// recorded program (engine.Recorder.Temp).
	Kernel GemmKernel
	// OffA, OffB and OffC are element offsets of A, B and C in their
	// buffers (a matrix of a batch). GemmStorage, GemmTiled and GemmGEMV
	// take them (a nonzero offset selects GemmStorage in place of the CPU
	// drivers' kernels); RecordGemmWeights refuses offsets.
	OffA, OffB, OffC int
	// Act, Alpha and Beta: an activation (ops.Activation, with its
	// parameters) applied after the bias, in place of ReLU. Only GemmTexel
	// and GemmSubgroup take one; other kernels fail (see GemmTakesConv).
	Act         ops.Activation
	Alpha, Beta float32
	// OutHW > 0 stores C as NCHW images (a convolution as a GEMM: rows
	// are output pixels, columns channels): row r is pixel P = r + OutRow0
	// of images of OutHW pixels each, element (r, j) lands at
	// ((P / OutHW) * N + j) * OutHW + P % OutHW. C must hold every image
	// the rows reach. Only GemmTexel and GemmSubgroup take it.
	OutHW, OutRow0 int
	// LDA is the row stride of a row-major A (not TransA) in floats, >= K;
	// 0 means K. Only GemmTexel takes a larger one.
	LDA int
}

// convEpilogue reports whether g needs the epilogue only GemmTexel and
// GemmSubgroup have (an activation other than ReLU, or the NCHW store).
func (g Gemm) convEpilogue() bool {
	return g.OutHW > 0 || g.Act != ops.ActNone && g.Act != ops.ActReLU || g.lda() != g.K
}

// lda is A's row stride when A is row-major.
func (g Gemm) lda() int {
	if g.LDA > 0 && !g.TransA {
		return g.LDA
	}
	return g.K
}

// act is the activation code of g for the kernels' ACT (activation.glsl).
func (g Gemm) act() uint32 {
	if g.Act != ops.ActNone {
		return uint32(g.Act)
	}
	return b2u(g.ReLU)
}

// bLayout is how a B operand is stored.
type bLayout int

const (
	bRowMajor   bLayout = iota // K x N row-major (op(B) = B)
	bTransposed                // N x K row-major (op(B) = Bᵀ, a Dense weight)
	bPanels                    // panels of `panel` columns, K-major, K padded to 4, zeros
)

// operand B as RecordGemm sees it.
type operandB struct {
	buf    *engine.Buffer
	layout bLayout
	ld     int  // row stride in elements (bRowMajor: >= N; bTransposed: >= K; bPanels: K rounded up to 4)
	panel  int  // bPanels: columns per panel (8: gemm_texel, sgTileCols: gemm_subgroup)
	f16    bool // stored as IEEE binary16 (GemmTiled and GemmGEMV only)
}

// gpuOnly reports whether only the GPU kernels (GemmTiled, GemmGEMV) read b:
// fp16 (NewGemmWeightsF16).
func (b operandB) gpuOnly() bool { return b.f16 }

// GemmWeights is a constant B operand (a layer's weights) laid out once, at
// build time, for the device's GEMM kernel: K-major panels of 8 columns for
// the texel kernel (lavapipe) and of 16 for the subgroup kernel
// (SwiftShader), so each invocation streams through contiguous memory; K x N
// row-major for the GPU kernels and the storage kernel (neighbouring lanes
// read neighbouring columns, vec4 loads along n when N is a multiple of 4;
// the DenseChain kernel reads it too).
type GemmWeights struct {
	K, N int
	b    operandB
}

// NewGemmWeights uploads B, given as K x N row-major (or N x K when transB),
// in the layout the device's GEMM kernel reads fastest.
func NewGemmWeights(d *engine.Device, data []float32, k, n int, transB bool) (*GemmWeights, error) {
	return newGemmWeights(d, data, k, n, transB, false)
}

// newGemmWeights is NewGemmWeights; own puts the weights in a device block
// of their own (see ownWeights).
func newGemmWeights(d *engine.Device, data []float32, k, n int, transB, own bool) (*GemmWeights, error) {
	if k <= 0 || n <= 0 || len(data) != k*n {
		return nil, fmt.Errorf("layers: gemm weights %dx%d from %d floats", k, n, len(data))
	}
	info := d.Info()
	if _, err := envKernel(); err != nil {
		return nil, err
	}
	// Prepared for a product with many rows; small batches use the same
	// layout (every kernel that ChooseGemmKernel picks reads it).
	kernel := ChooseGemmKernel(info, 64, n, k)
	rs, ks := 1, n // element (k, j) of B is data[j*rs + k*ks]
	if transB {
		rs, ks = k, 1
	}
	op := operandB{layout: bRowMajor, ld: n}
	var host []float32
	switch {
	case gemmLoops(kernel, k) > MaxInvocationLoops:
		// Too deep for one invocation on lavapipe: recordGemm runs the
		// tiled kernel, which splits K, on the plain layout.
		if transB {
			host = transpose(data, n, k)
		} else {
			host = data
		}
	case (kernel == GemmTexel || kernel == GemmShuffle) && texelFits(info, packedBLen(k, n, 8)):
		op = operandB{layout: bPanels, ld: roundUp(k, 4), panel: 8}
		host = packPanels(data, n, k, rs, ks, 8)
	case kernel == GemmSubgroup:
		op = operandB{layout: bPanels, ld: roundUp(k, 4), panel: sgTileCols}
		host = packPanels(data, n, k, rs, ks, sgTileCols)
	case transB && kernel == GemmStorage && info.Type == engine.TypeCPU:
		op = operandB{layout: bTransposed, ld: k}
		host = data
	case transB:
		host = transpose(data, n, k)
	default:
		host = data
	}
	buf, err := uploadData(d, host, own)
	if err != nil {
		return nil, fmt.Errorf("layers: gemm weights: %w", err)
	}
	op.buf = buf
	return &GemmWeights{K: k, N: n, b: op}, nil
}

// Close frees the weights. Safe to call twice.
func (w *GemmWeights) Close() {
	if w == nil {
		return
	}
	w.b.buf.Close()
}

// packedBLen is the float count of B packed in panels of p columns.
func packedBLen(k, n, p int) int { return ceilDiv(n, p) * p * roundUp(k, 4) }

// packPanels lays out the R x K matrix X[r,k] = src[r*rs + k*ks] in panels
// of p rows, K-major, K padded to a multiple of 4, zero filled: element
// (r, k) lands at (r/p * K4 + k) * p + r%p. The host twin of gemm_pack.comp.
func packPanels(src []float32, rows, k, rs, ks, p int) []float32 {
	k4 := roundUp(k, 4)
	out := make([]float32, ceilDiv(rows, p)*p*k4)
	for r := 0; r < rows; r++ {
		base := (r/p*k4)*p + r%p
		for kk := 0; kk < k; kk++ {
			out[base+kk*p] = src[r*rs+kk*ks]
		}
	}
	return out
}

// transpose returns the cols x rows transpose of a rows x cols matrix.
func transpose(src []float32, rows, cols int) []float32 {
	out := make([]float32, len(src))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = src[r*cols+c]
		}
	}
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// texelFits reports whether a buffer of floats fits one RGBA32F texel view.
func texelFits(info engine.DeviceInfo, floats int) bool {
	return uint64(ceilDiv(floats, 4)) <= uint64(info.Limits.MaxTexelBufferElements)
}

// RecordGemm records g on a, b into c.
func RecordGemm(r *engine.Recorder, d *engine.Device, g Gemm, a, b, c *engine.Buffer) error {
	op := operandB{buf: b, layout: bRowMajor, ld: g.N}
	if g.TransB {
		op.layout, op.ld = bTransposed, g.K
	}
	if err := checkGemm(g, a, c); err != nil {
		return err
	}
	if b.Len() < g.OffB+g.K*g.N {
		return fmt.Errorf("layers: gemm B needs %d floats, buffer has %d", g.OffB+g.K*g.N, b.Len())
	}
	return recordGemm(r, d, g, a, op, c)
}

// RecordGemmWeights records g with B taken from prepared weights w (g.N and
// g.K must match w; g.TransB is ignored). The kernel is the one w was laid
// out for when w is packed (g.Kernel and g.Config apply only if they name
// it).
func RecordGemmWeights(r *engine.Recorder, d *engine.Device, g Gemm, a *engine.Buffer, w *GemmWeights, c *engine.Buffer) error {
	if g.N != w.N || g.K != w.K {
		return fmt.Errorf("layers: gemm %dx%dx%d with weights of %dx%d (K x N)", g.M, g.N, g.K, w.K, w.N)
	}
	if g.OffA != 0 || g.OffB != 0 || g.OffC != 0 {
		return fmt.Errorf("layers: gemm with prepared weights takes no offsets")
	}
	if err := checkGemm(g, a, c); err != nil {
		return err
	}
	return recordGemm(r, d, g, a, w.b, c)
}

func checkGemm(g Gemm, a, c *engine.Buffer) error {
	if g.M <= 0 || g.N <= 0 || g.K <= 0 {
		return fmt.Errorf("layers: gemm %dx%dx%d has an empty dimension", g.M, g.N, g.K)
	}
	if g.OffA < 0 || g.OffB < 0 || g.OffC < 0 {
		return fmt.Errorf("layers: gemm offsets %d, %d, %d: negative", g.OffA, g.OffB, g.OffC)
	}
	need := func(buf *engine.Buffer, what string, elems int) error {
		if buf.Len() < elems {
			return fmt.Errorf("layers: gemm %s needs %d floats, buffer has %d", what, elems, buf.Len())
		}
		return nil
	}
	if g.LDA != 0 && (g.LDA < g.K || g.TransA) {
		return fmt.Errorf("layers: gemm A row stride %d with K %d (transposed %v)", g.LDA, g.K, g.TransA)
	}
	if err := need(a, "A", g.OffA+(g.M-1)*g.lda()+g.K); err != nil {
		return err
	}
	cLen := g.OffC + g.M*g.N
	if g.OutHW > 0 {
		if g.OutRow0 < 0 || g.OffC != 0 {
			return fmt.Errorf("layers: gemm with an NCHW store: row offset %d, C offset %d", g.OutRow0, g.OffC)
		}
		cLen = ceilDiv(g.OutRow0+g.M, g.OutHW) * g.OutHW * g.N
	}
	if err := need(c, "C", cLen); err != nil {
		return err
	}
	if g.Bias != nil {
		return need(g.Bias, "bias", g.N)
	}
	return nil
}

// errCannot says a kernel cannot run a product; RecordGemm then falls back.
var errCannot = errors.New("kernel cannot run this product")

func recordGemm(r *engine.Recorder, d *engine.Device, g Gemm, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	if _, err := envKernel(); err != nil {
		return err
	}
	info := d.Info()
	kernel := g.Kernel
	if kernel == GemmAuto {
		switch {
		case g.Config != nil:
			kernel = GemmStorage
		case g.Tile != nil:
			kernel = GemmTiled
		default:
			kernel = ChooseGemmKernel(info, g.M, g.N, g.K)
		}
	}
	gpuKernel := kernel == GemmTiled || kernel == GemmGEMV
	offsets := g.OffA != 0 || g.OffB != 0 || g.OffC != 0
	switch {
	case b.layout == bPanels && b.panel == 8:
		if kernel != GemmShuffle {
			kernel = GemmTexel // weights packed for it; it reads any A
		}
	case b.layout == bPanels:
		kernel = GemmSubgroup // likewise
	case b.gpuOnly() && !gpuKernel && g.Tile == nil && g.M <= gemvMaxRows:
		kernel = GemmGEMV // weights prepared for the GPU kernels
	case b.gpuOnly() && !gpuKernel:
		kernel = GemmTiled
	case offsets && !gpuKernel:
		kernel = GemmStorage // the CPU drivers' kernels take no offsets
	}
	if kernel == GemmGEMV && g.M > gemvMaxRows {
		kernel = GemmTiled
	}
	if gemmLoops(kernel, g.K) > MaxInvocationLoops {
		// One invocation would loop over all of K past lavapipe's loop
		// limit: the tiled kernel splits K.
		if g.convEpilogue() || b.layout == bPanels || b.gpuOnly() {
			return fmt.Errorf("layers: gemm %dx%dx%d: the %v kernel would loop %d times per invocation (lavapipe stops loops after 65,535 iterations) and no kernel that splits K reads this operand: %w",
				g.M, g.N, g.K, kernel, gemmLoops(kernel, g.K), ErrUnsupported)
		}
		kernel = GemmTiled
	}
	if g.convEpilogue() && kernel != GemmTexel && kernel != GemmSubgroup && kernel != GemmShuffle {
		return fmt.Errorf("layers: gemm %dx%dx%d: the %v kernel has no NCHW store or activation %d", g.M, g.N, g.K, kernel, g.Act)
	}
	tile := func(k GemmKernel) GemmConfig {
		if g.Config != nil && (g.Kernel == k || g.Kernel == GemmAuto && k == GemmStorage) {
			return *g.Config
		}
		return chooseTile(info, k, g.M, g.N, g.K)
	}
	var err error
	defer func() {
		if err == nil {
			lastKernel.Store(int32(kernel))
		}
	}()
	switch kernel {
	case GemmTexel:
		if useShuffle(info, g, b) {
			if err = recordShuffle(r, d, g, tile(GemmShuffle), a, b, c); err == nil {
				kernel = GemmShuffle
				break
			} else if !errors.Is(err, errCannot) {
				return err
			}
		}
		err = recordTexel(r, d, g, tile(GemmTexel), a, b, c)
	case GemmShuffle:
		if err = recordShuffle(r, d, g, tile(GemmShuffle), a, b, c); errors.Is(err, errCannot) {
			kernel = GemmTexel
			err = recordTexel(r, d, g, tile(GemmTexel), a, b, c)
		}
	case GemmSubgroup:
		err = recordSubgroup(r, d, g, tile(GemmSubgroup), a, b, c)
	case GemmGEMV:
		err = recordGEMV(r, d, g, a, b, c)
		if errors.Is(err, errCannot) {
			kernel = GemmTiled
			err = recordTiled(r, d, g, a, b, c)
		}
	case GemmTiled:
		err = recordTiled(r, d, g, a, b, c)
	case GemmStorage:
		err = recordStorage(r, d, g, tile(GemmStorage), a, b, c)
		return err
	default:
		return fmt.Errorf("layers: gemm: unknown kernel %v", kernel)
	}
	if !errors.Is(err, errCannot) {
		return err
	}
	if g.convEpilogue() {
		return fmt.Errorf("layers: gemm %dx%dx%d: the %v kernel cannot run it and no other has the NCHW store or activation: %w", g.M, g.N, g.K, kernel, err)
	}
	if b.layout == bPanels || b.gpuOnly() {
		// Weights are packed only for a kernel that can run any product
		// with them on this device.
		return fmt.Errorf("layers: gemm %dx%dx%d: weights packed for the %v kernel: %w", g.M, g.N, g.K, kernel, err)
	}
	kernel = GemmStorage
	if gemmLoops(kernel, g.K) > MaxInvocationLoops {
		// Too deep for the storage kernel (lavapipe's loop limit).
		kernel = GemmTiled
		if err = recordTiled(r, d, g, a, b, c); errors.Is(err, errCannot) {
			return fmt.Errorf("layers: gemm %dx%dx%d: no kernel runs it within %d loop iterations per invocation (lavapipe stops loops after 65,535): %w",
				g.M, g.N, g.K, MaxInvocationLoops, ErrUnsupported)
		}
		return err
	}
	err = recordStorage(r, d, g, tile(GemmStorage), a, b, c)
	return err
}

// MaxInvocationLoops bounds the loop iterations one invocation of a kernel
// may run: lavapipe (Mesa 22's llvmpipe) silently leaves every loop of an
// invocation once it has run 65,535 iterations in all (gallivm's guard
// against endless loops), so a kernel that would loop more computes a short
// result without an error. Layers split such work across invocations, run
// another kernel, or refuse it (ErrUnsupported); docs/GPU.md, "lavapipe's
// loop limit", lists every kernel's bound.
const MaxInvocationLoops = 60000

// gemmLoops is the loop iterations one invocation of kernel runs for a
// product of depth k: the texel and subgroup kernels read 4 of K per
// iteration, the storage kernel one; the tiled kernel splits K itself
// (recordTiled) and the GEMV kernel spreads it over a workgroup's lanes.
func gemmLoops(kernel GemmKernel, k int) int {
	switch kernel {
	case GemmTexel, GemmSubgroup, GemmShuffle:
		return ceilDiv(k, 4) + 16
	case GemmStorage:
		return k + 16
	}
	return 0
}

// lastKernel is the kernel family the latest successful recordGemm
// recorded (tests read it through export_test.go to see that a forced
// kernel ran rather than a fallback).
var lastKernel atomic.Int32

func recordStorage(r *engine.Recorder, d *engine.Device, g Gemm, cfg GemmConfig, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	if b.layout == bRowMajor && b.ld != g.N || b.layout == bTransposed && b.ld != g.K {
		// Not produced: only panels are padded, and they never come here.
		return fmt.Errorf("layers: gemm: the storage kernel reads B with its natural row stride only")
	}
	if cfg.LX <= 0 || cfg.LY <= 0 || cfg.TM <= 0 || cfg.TN <= 0 {
		return fmt.Errorf("layers: gemm: bad tile %v", cfg)
	}
	bias := g.Bias
	if bias == nil {
		bias = b.buf // bound but never read
	}
	spec := engine.Spec{
		"local_size_x": u32(cfg.LX), "local_size_y": u32(cfg.LY),
		"TM": u32(cfg.TM), "TN": u32(cfg.TN),
		"TRANS_A": b2u(g.TransA), "TRANS_B": b2u(b.layout == bTransposed),
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": b2u(g.ReLU),
	}
	p, err := d.Pipeline("gemm", spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	gx := ceilDiv(g.N, cfg.TN*cfg.LX)
	gy := ceilDiv(g.M, cfg.TM*cfg.LY)
	push := []uint32{u32(g.M), u32(g.N), u32(g.K), u32(g.OffA), u32(g.OffB), 0, u32(g.OffC)}
	return r.Dispatch(p, []*engine.Buffer{a, b.buf, bias, c}, push, [3]uint32{u32(gx), u32(gy), 1})
}

// recordTexel records gemm_texel.comp, packing A first when the kernel
// cannot read it in place (A transposed with M or TM not a multiple of 4).
// It returns errCannot (nothing recorded) when it cannot run the product.
func recordTexel(r *engine.Recorder, d *engine.Device, g Gemm, cfg GemmConfig, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	info := d.Info()
	if cfg.TN != 8 || (cfg.TM != 1 && cfg.TM != 2 && cfg.TM != 4 && cfg.TM != 8) || cfg.LX <= 0 || cfg.LY != 1 {
		return fmt.Errorf("layers: gemm: tile %v does not suit the texel kernel (LY 1, TN 8, TM 1, 2, 4 or 8)", cfg)
	}
	M, N, K := g.M, g.N, g.K
	k4 := roundUp(K, 4)
	tm := cfg.TM
	fits := func(buf *engine.Buffer) bool { return texelFits(info, buf.Len()) }
	// B is read in place in every layout; a tensor past the texel limit
	// cannot be read at all (a packed copy would not fit either).
	bMode := map[bLayout]int{bPanels: 0, bTransposed: 1, bRowMajor: 2}[b.layout]
	if b.layout == bPanels && b.panel != 8 || !fits(b.buf) || g.Bias != nil && !fits(g.Bias) {
		return errCannot
	}

	// A: row-major in place (any K); transposed in place when its columns
	// (M) and the blocks are texel aligned; else a packed copy in a program temporary:
	// TM-row panels, or padded rows when TM < 4.
	aKC, lda := false, g.lda()
	var aS0, aS1 int
	pack, packRows := false, 4
	switch {
	case !g.TransA && fits(a):
		aKC = true
	case g.TransA && M%4 == 0 && tm%4 == 0 && fits(a):
		aS0, aS1 = tm/4, M/4
	case tm%4 == 0:
		pack, packRows = true, tm
		aS0, aS1 = k4*tm/4, tm/4
	default:
		pack = true
		aKC, lda = true, k4
	}
	packLen := ceilDiv(M, packRows) * packRows * k4
	if pack && !texelFits(info, packLen) {
		return errCannot
	}

	spec := engine.Spec{
		"local_size_x": u32(cfg.LX), "TM": u32(tm), "K": u32(K), "LDA": u32(lda),
		"A_KCONTIG": b2u(aKC), "B_MODE": u32(bMode), "LDB": u32(b.ld),
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": g.act(), "NCHW": b2u(g.OutHW > 0),
		"ROWS_FIRST": b2u(texelRowsFirst(g)),
	}
	p, err := d.Pipeline("gemm_texel", spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	aBuf := a
	if pack {
		if aBuf, err = r.Temp(int64(4 * packLen)); err != nil {
			return fmt.Errorf("layers: gemm: packed A: %w", err)
		}
		rs, ks := g.lda(), 1
		if g.TransA {
			rs, ks = 1, M
		}
		if err := recordPack(r, d, a, aBuf, M, K, rs, ks, aKC, packRows); err != nil {
			return err
		}
	}
	bias := g.Bias
	if bias == nil {
		bias = b.buf // bound but never read
	}
	blocks := ceilDiv(M, tm) * ceilDiv(N, 8)
	push := []uint32{u32(M), u32(N), u32(aS0), u32(aS1), u32(g.OutHW), u32(g.OutRow0), math.Float32bits(g.Alpha), math.Float32bits(g.Beta)}
	return r.Dispatch(p, []*engine.Buffer{aBuf, b.buf, bias, c}, push, d.Grid(p, uint64(blocks)))
}

// Subgroup feature bits (VkSubgroupFeatureFlagBits) gemm_shuffle.comp
// needs: basic and shuffle.
const shuffleOpsNeeded = 0x1 | 0x10

// shuffleCapable reports whether the device can run gemm_shuffle.comp:
// subgroups of 4 or 8 lanes with shuffles.
func shuffleCapable(info engine.DeviceInfo) bool {
	return info.SubgroupOps&shuffleOpsNeeded == shuffleOpsNeeded && (info.SubgroupSize == 4 || info.SubgroupSize == 8)
}

// shuffleMode overrides useShuffle for measurements and tests
// (export_test.go): 0 the measured rule, 1 never (gemm_texel alone), 2
// wherever gemm_shuffle can run without packing an operand.
var shuffleMode atomic.Int32

// useShuffle reports whether recordGemm runs gemm_shuffle in place of
// gemm_texel for g with B in b (never when g.Kernel or $VKINFER_GEMM names
// GemmTexel): on a device with 8-lane subgroups, with B
// in 8-column panels (prepared weights) and A row-major with its rows on
// texel boundaries (the patch matrix of a Conv, a Dense layer's input
// with K % 4 == 0) or transposed with M % 4 == 0 and a block of 32 rows
// (a 1x1 Conv's input planes), where neither needs packing, M >= 8 (fewer rows
// would leave lanes of every subgroup idle) and K > shuffleMinK.
func useShuffle(info engine.DeviceInfo, g Gemm, b operandB) bool {
	mode := shuffleMode.Load()
	if forced, _ := envKernel(); forced == GemmTexel || g.Kernel == GemmTexel {
		return false // gemm_texel asked for by name
	}
	if mode == 1 || !shuffleCapable(info) || info.SubgroupSize != 8 {
		return false
	}
	rh, _ := shuffleTile(info, g.M, g.N, g.K)
	inPlace := b.layout == bPanels && b.panel == 8 && shuffleAInPlace(g, rh)
	if mode == 2 {
		return inPlace
	}
	return inPlace && g.M >= 8 && g.K > shuffleMinK
}

// shuffleAInPlace reports whether gemm_shuffle reads A in place with rh
// rows per lane: row-major with rows on texel boundaries, or transposed
// (K x M) with M % 4 == 0 and whole quads of rows per lane.
func shuffleAInPlace(g Gemm, rh int) bool {
	if g.TransA {
		return g.M%4 == 0 && rh%4 == 0
	}
	return g.lda()%4 == 0
}

// shuffleMinK is the longest K left to gemm_texel: there the stores
// dominate and gemm_shuffle measured no faster (12544 x 96 x 16) or slower
// (squeezenet's conv1, K = 27: 8.0 against 7.3 ms of CPU).
const shuffleMinK = 32

// shuffleTile picks gemm_shuffle's block for an m x n x k product: rh rows
// per lane (R = rh * subgroup size rows per subgroup) and p panels of 8
// columns.
func shuffleTile(info engine.DeviceInfo, m, n, k int) (rh, p int) {
	if shuffleTileForced.rh != 0 {
		return shuffleTileForced.rh, shuffleTileForced.p
	}
	// 4 x 4 (32 rows x 32 columns on lavapipe, 128 accumulators per
	// lane: spilled, but each is updated 4 times per reload) measured
	// fastest at 1024^3 and the Conv shapes, 2 x 4 at 16 rows; fewer rows
	// when M is small, fewer panels while there would be fewer than 4
	// subgroups for lavapipe's threads (TestGemmTexelSpeed,
	// docs/PERFORMANCE.md).
	sg := max(int(info.SubgroupSize), 1)
	rh, p = 4, min(4, ceilDiv(n, 8))
	switch {
	case m <= sg:
		rh = 1
	case m <= 2*sg:
		rh = 2
	}
	for p > 1 && ceilDiv(m, sg*rh)*ceilDiv(n, 8*p) < 4 {
		p = ceilDiv(p, 2)
	}
	return rh, p
}

// shuffleTileForced overrides shuffleTile for measurements (export_test.go).
var shuffleTileForced struct{ rh, p int }

// shuffleKU is gemm_shuffle's steps of 4 k per loop iteration.
const shuffleKU = 2

// recordShuffle records gemm_shuffle.comp, packing A (into K-contiguous
// rows, a multiple of 4 floats long) or B (into 8-column panels) first when
// the kernel cannot read it in place (shuffleAInPlace: A row-major with
// rows on texel boundaries, or transposed with M % 4 == 0 and rows per
// lane a multiple of 4). cfg.TM is the rows per subgroup
// (subgroup size x rows per lane), cfg.TN the columns (8 x panels). It
// returns errCannot (nothing recorded) when it cannot run the product.
func recordShuffle(r *engine.Recorder, d *engine.Device, g Gemm, cfg GemmConfig, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	info := d.Info()
	sg := int(info.SubgroupSize)
	if !shuffleCapable(info) || b.layout == bPanels && b.panel != 8 {
		return errCannot
	}
	if cfg.LY != 1 || cfg.LX <= 0 || cfg.LX%sg != 0 || cfg.TM <= 0 || cfg.TM%sg != 0 || cfg.TN <= 0 || cfg.TN%8 != 0 {
		return fmt.Errorf("layers: gemm: tile %v does not suit the shuffle kernel (LY 1, LX a multiple of the subgroup size %d, TM a multiple of it, TN of 8)", cfg, sg)
	}
	M, N, K := g.M, g.N, g.K
	k4 := roundUp(K, 4)
	fits := func(floats int) bool { return texelFits(info, floats) }
	rh := cfg.TM / sg
	packA := !shuffleAInPlace(g, rh) || !fits(a.Len())
	packB := b.layout != bPanels || !fits(b.buf.Len())
	if packA && !fits(M*k4) || packB && !fits(packedBLen(K, N, 8)) || g.Bias != nil && !fits(g.Bias.Len()) {
		return errCannot
	}
	spec := engine.Spec{
		"local_size_x": u32(cfg.LX), "SG": u32(sg), "RH": u32(cfg.TM / sg), "P": u32(cfg.TN / 8),
		"K": u32(K), "LDA": u32(g.lda()), "KU": shuffleKU,
		"HAS_BIAS": b2u(g.Bias != nil), "ACT": g.act(), "NCHW": b2u(g.OutHW > 0), "A_T": b2u(g.TransA && !packA),
	}
	var err error
	aBuf, bBuf := a, b.buf
	if packA {
		spec["LDA"] = u32(k4)
		if aBuf, err = r.Temp(int64(4 * M * k4)); err != nil {
			return fmt.Errorf("layers: gemm: packed A: %w", err)
		}
		rs, ks := g.lda(), 1
		if g.TransA {
			rs, ks = 1, M
		}
		if err := recordPack(r, d, a, aBuf, M, K, rs, ks, true, 4); err != nil {
			return err
		}
	}
	if packB {
		if bBuf, err = r.Temp(int64(4 * packedBLen(K, N, 8))); err != nil {
			return fmt.Errorf("layers: gemm: packed B: %w", err)
		}
		rs, ks := 1, b.ld // X[n, k] = B(k, n): K x N row-major
		if b.layout == bTransposed {
			rs, ks = b.ld, 1
		}
		if err := recordPack(r, d, b.buf, bBuf, N, K, rs, ks, false, 8); err != nil {
			return err
		}
	}
	p, err := d.Pipeline("gemm_shuffle", spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	bias := g.Bias
	if bias == nil {
		bias = bBuf // bound but never read
	}
	subgroups := ceilDiv(M, cfg.TM) * ceilDiv(N, cfg.TN)
	push := []uint32{u32(M), u32(N), u32(M / 4), u32(g.OutHW), u32(g.OutRow0), math.Float32bits(g.Alpha), math.Float32bits(g.Beta)}
	return r.Dispatch(p, []*engine.Buffer{aBuf, bBuf, bias, c}, push, d.Grid(p, uint64(subgroups*sg)))
}

// texelOrder overrides gemm_texel's invocation order for measurements and
// tests (export_test.go): 0 the static rule (texelRowsFirst), 1 panels
// fastest, 2 row blocks fastest.
var texelOrder atomic.Int32

// texelRowsFirst reports whether gemm_texel walks row blocks fastest
// (ROWS_FIRST) for g (texelOrder forces either order): for an NCHW store
// with K <= texelRowsFirstMaxK. There the store is most of the work, and
// row blocks first makes neighbouring lanes store neighbouring runs of
// pixels of one channel where panels first has them 8 channels (8 planes)
// apart: mobilenet_v2's 1x1 16->96 at 112² took 5.7-8.2 ms of CPU per run
// against 7.7-9.4 ms (lavapipe, load 19). Walking row blocks first also
// reads each of B's panels from memory about once where panels first
// streams all of B once per row block, but at resnet18's layer4 (9.4 MB of
// B, 0.9 MB of A) and the other long-K shapes measured that made no
// difference beyond the noise, and panels first was as fast or faster
// (docs/PERFORMANCE.md, "gemm_texel at the models' shapes").
func texelRowsFirst(g Gemm) bool {
	switch texelOrder.Load() {
	case 1:
		return false
	case 2:
		return true
	}
	return g.OutHW > 0 && g.K <= texelRowsFirstMaxK
}

// texelRowsFirstMaxK is the longest K texelRowsFirst walks row blocks
// first for (measured: better at K = 16 and 24, no different at 64-960).
const texelRowsFirstMaxK = 32

// recordPack records gemm_pack.comp: the rows x k matrix X[r,k] =
// src[r*rs + k*ks] into dst, K-contiguous rows (kcontig) or p-row panels.
func recordPack(r *engine.Recorder, d *engine.Device, src, dst *engine.Buffer, rows, k, rs, ks int, kcontig bool, p int) error {
	pipe, err := d.Pipeline("gemm_pack", engine.Spec{"local_size_x": 64, "KCONTIG": b2u(kcontig), "P": u32(p)})
	if err != nil {
		return fmt.Errorf("layers: gemm pack: %w", err)
	}
	count := dst.Len() / 4
	push := []uint32{u32(rows), u32(k), u32(ceilDiv(k, 4)), u32(rs), u32(ks), u32(count)}
	return r.Dispatch(pipe, []*engine.Buffer{src, dst}, push, d.Grid(pipe, uint64(count)))
}

// Subgroup feature bits (VkSubgroupFeatureFlagBits) gemm_subgroup.comp needs:
// basic and ballot (subgroupBroadcast).
const subgroupOpsNeeded = 0x1 | 0x8

// subgroupCapable reports whether the device can run gemm_subgroup.comp,
// written for subgroups of 4 lanes.
func subgroupCapable(info engine.DeviceInfo) bool {
	return info.SubgroupOps&subgroupOpsNeeded == subgroupOpsNeeded && info.SubgroupSize == 4
}

// gemm_subgroup.comp's tile, fixed in the shader: 8 rows (or 1 with ROWS1)
// by 16 columns per subgroup of 4 lanes.
const (
	sgTileRows = 8
	sgTileCols = 16
	// sgRows1Max is the largest M run with one-row tiles: below it, the
	// 8-row tile would mostly compute padding.
	sgRows1Max = 2
)

// recordSubgroup records gemm_subgroup.comp. It returns errCannot (nothing
// recorded) when it cannot run the product.
func recordSubgroup(r *engine.Recorder, d *engine.Device, g Gemm, cfg GemmConfig, a *engine.Buffer, b operandB, c *engine.Buffer) error {
	info := d.Info()
	if !subgroupCapable(info) || b.layout == bPanels && b.panel != sgTileCols || g.lda() != g.K {
		return errCannot
	}
	rows := sgTileRows
	if g.M <= sgRows1Max {
		rows = 1
	}
	if cfg.TM != 8 && cfg.TM != 1 || cfg.TN != 4 || cfg.LY != 1 || cfg.LX <= 0 || cfg.LX%4 != 0 {
		return fmt.Errorf("layers: gemm: tile %v does not suit the subgroup kernel (LY 1, TM 8 or 1, TN 4, LX a multiple of 4)", cfg)
	}
	if g.Config != nil {
		rows = cfg.TM
	}
	bias := g.Bias
	if bias == nil {
		bias = b.buf // bound but never read
	}
	layoutB := map[bLayout]int{bRowMajor: 0, bTransposed: 1, bPanels: 2}[b.layout]
	spec := engine.Spec{
		"local_size_x": u32(cfg.LX), "ROWS1": b2u(rows == 1), "TRANS_A": b2u(g.TransA),
		"LAYOUT_B": u32(layoutB), "HAS_BIAS": b2u(g.Bias != nil), "NCHW": b2u(g.OutHW > 0),
	}
	p, err := d.Pipeline("gemm_subgroup", spec)
	if err != nil {
		return fmt.Errorf("layers: gemm: %w", err)
	}
	subgroups := ceilDiv(g.M, rows) * ceilDiv(g.N, sgTileCols)
	push := []uint32{u32(g.M), u32(g.N), u32(g.K), u32(b.ld), g.act(), u32(g.OutHW), u32(g.OutRow0), math.Float32bits(g.Alpha), math.Float32bits(g.Beta)}
	return r.Dispatch(p, []*engine.Buffer{a, b.buf, bias, c}, push, d.Grid(p, uint64(subgroups*4)))
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
