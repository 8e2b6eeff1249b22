package onnx

import (
	"math"
	"math/rand"
	"testing"

	"github.com/vkinfer/vkinfer/ops"
)

// The importer's FLOAT16/BFLOAT16 rounding (through the 16-bit encodings)
// and package ops's (the reference of Cast on the device, bit operations
// on float32) are written independently: they must agree on every value,
// random bit patterns and values across the exponent range alike.
func TestRoundMatchesOps(t *testing.T) {
	r := rand.New(rand.NewSource(53))
	for i := 0; i < 300000; i++ {
		v := math.Float32frombits(r.Uint32())
		if i%2 == 0 {
			v = float32(r.NormFloat64() * math.Pow(2, float64(r.Intn(70)-45)))
		}
		for _, c := range []struct {
			dt DataType
			fr ops.FloatRound
		}{{Float16, ops.RoundHalf}, {BFloat16, ops.RoundBFloat16}, {Double, ops.RoundNone}} {
			a, b := c.dt.round(v), c.fr.Apply(v)
			if math.Float32bits(a) != math.Float32bits(b) && !(math.IsNaN(float64(a)) && math.IsNaN(float64(b))) {
				t.Fatalf("%v(%v): importer %v, ops %v", c.dt, v, a, b)
			}
		}
	}
}
