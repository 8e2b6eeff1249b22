package serve

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vkinfer/vkinfer"
)

// TestFastFloat32: the fast path agrees with strconv.ParseFloat(s, 32) bit
// for bit on every number it takes, and declines the others.
func TestFastFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		want, err := strconv.ParseFloat(s, 32)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			t.Fatalf("%s: %v", s, err)
		}
		got, ok := fastFloat32([]byte(s))
		if ok && math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("%s: fast path gives %v, strconv %v", s, got, float32(want))
		}
		if got := parseNumber([]byte(s), "FP32"); math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("%s: parseNumber gives %v, strconv %v", s, got, float32(want))
		}
	}
	for _, s := range []string{"0", "-0", "1", "0.25", "0.5", "1e10", "1e-10", "8388607", "8388608", "16777217",
		"0.1", "0.3", "3.4028235e38", "1e39", "-1e39", "1e-46", "123456.7", "0.00000001", "1E+2", "2e-0", "9999999e10",
		"0.1294117647", "0.00392156862745098", "1.00000005960464477539062"} {
		check(s)
	}
	for range 200000 {
		var s string
		m := rng.Uint64N(1 << uint(rng.IntN(30)))
		switch rng.IntN(4) {
		case 0:
			s = strconv.FormatUint(m, 10)
		case 1:
			s = strconv.FormatUint(m, 10) + "e" + strconv.Itoa(rng.IntN(25)-12)
		case 2:
			d := strconv.FormatUint(m, 10)
			k := rng.IntN(len(d) + 1)
			s = "0." + d
			if k > 0 && k < len(d) {
				s = d[:k] + "." + d[k:]
			}
		default:
			s = strconv.FormatFloat(float64(rng.Float32()*float32(math.Pow(10, float64(rng.IntN(9)-4)))), 'g', -1, 32)
		}
		if rng.IntN(2) == 0 {
			s = "-" + s
		}
		check(s)
	}
}

// TestRound16: FP16 and BF16 rounding against the bit patterns widened by
// decodeRaw, over every 16-bit pattern: each value rounds to itself, and a
// point just beside the midpoint of two neighbours rounds to the nearer.
func TestRound16(t *testing.T) {
	for _, dt := range []string{"FP16", "BF16"} {
		round := roundFP16
		if dt == "BF16" {
			round = roundBF16
		}
		widen := func(h uint16) float32 {
			dst := make([]float32, 1)
			decodeRaw(dst, binary.LittleEndian.AppendUint16(nil, h), dt)
			return dst[0]
		}
		for h := 0; h < 0x8000; h++ {
			v := widen(uint16(h))
			if math.IsNaN(float64(v)) {
				continue
			}
			require.Equal(t, v, round(float64(v)), "%s %#04x", dt, h)
			require.Equal(t, -v, round(-float64(v)), "%s -%#04x", dt, h)
			next := widen(uint16(h + 1))
			if math.IsNaN(float64(next)) || math.IsInf(float64(next), 0) || math.IsInf(float64(v), 0) {
				continue
			}
			mid := (float64(v) + float64(next)) / 2
			require.Equal(t, v, round(math.Nextafter(mid, 0)), "%s below the midpoint after %#04x", dt, h)
			require.Equal(t, next, round(math.Nextafter(mid, math.Inf(1))), "%s above the midpoint after %#04x", dt, h)
			if h&1 == 0 {
				require.Equal(t, v, round(mid), "%s tie after %#04x goes to even", dt, h)
			} else {
				require.Equal(t, next, round(mid), "%s tie after %#04x goes to even", dt, h)
			}
		}
		require.True(t, math.IsNaN(float64(round(math.NaN()))))
	}
	// Known values: FP16 1 = 0x3c00, smallest subnormal 0x0001, largest 0x7bff,
	// infinity 0x7c00, a NaN keeps its payload; BF16 1 = 0x3f80.
	dst := make([]float32, 5)
	decodeRaw(dst, []byte{0x00, 0x3c, 0x01, 0x00, 0xff, 0x7b, 0x00, 0xfc, 0x01, 0x7e}, "FP16")
	require.Equal(t, []float32{1, 0x1p-24, 65504, float32(math.Inf(-1))}, dst[:4])
	require.True(t, math.IsNaN(float64(dst[4])))
	decodeRaw(dst[:2], []byte{0x80, 0x3f, 0x80, 0xff}, "BF16")
	require.Equal(t, []float32{1, float32(math.Inf(-1))}, dst[:2])
}

func TestDecodeRESTJSON(t *testing.T) {
	v := fakeVersion()
	bIn := `{"name":"b","shape":[1,2,2],"datatype":"FP32","data":[1,2,3,4]}`
	for _, c := range []struct{ body, want string }{
		// members in any order; the data before the shape is read after it
		{`{"inputs":[{"data":[[5,6,7]],"datatype":"INT8","shape":[1,3],"name":"a"},` + bIn + `]}`, ""},
		// escapes in names, unknown members of every kind skipped, nulls
		{` { "id" : "a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00" , "x":{"y":[1,{"z":null}],"w":"\u0041"}, "parameters":null,
			"inputs" : [ {"name":"\u0061","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":null,"q":[true]},"data":[5,6,7],"extra":false}, ` + bIn + ` ],
			"outputs": null } `, ""},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7]},` + bIn + `]} x`, "'x' after the end of the JSON value"},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7]},` + bIn + `],}`, `want a string, found '}'`},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7],"data":[5,6,7]},` + bIn + `]}`, "has data twice"},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7],"parameters":{"binary_data_size":12}},` + bIn + `]}`, "both data and parameters.binary_data_size"},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP32"},` + bIn + `]}`, "neither data nor"},
		{`{"inputs":[{"name":"a","shape":[1,3.0],"datatype":"FP32","data":[5,6,7]}]}`, "want an integer of 64 bits, found 3.0"},
		{`{"inputs":[{"name":"a","shape":[1,99999999999999999999],"datatype":"FP32","data":[5,6,7]}]}`, "want an integer of 64 bits"},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"BYTES","data":["x","y","z"]}]}`, `input "a" has datatype BYTES (strings)`},
		{`{"inputs":[{"name":"a","shape":[1,3],"datatype":"FP8","data":[1,2,3]}]}`, `input "a" has datatype "FP8"`},
		{`{"id":5}`, "want a string, found '5'"},
		{`{"id":"x` + "\x01" + `"}`, "control character"},
		{`{"id":"\x"}`, `bad escape '\x'`},
		{`{"id":"\u12"}`, `bad \u escape`},
		{`{"id":"abc`, "unterminated string"},
		{`{"parameters":{"binary_data_output":1}}`, "want true or false"},
		{`[]`, "want an object, found '['"},
		{``, "want an object, found the end of the JSON"},
		{`{"inputs":{}}`, "want an array, found '{'"},
		{`{"a" 1}`, "want ':' after a member name"},
		{`{"a":1 "b":2}`, `want ',' or '}', found '"'`},
		{`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`, "nested deeper than 64"},
	} {
		d, err := decodeREST(v, 1<<16, []byte(c.body), "")
		if c.want != "" {
			require.ErrorIs(t, err, ErrInvalid, c.body)
			require.ErrorContains(t, err, c.want, c.body)
			continue
		}
		require.NoError(t, err, c.body)
		require.Equal(t, []float32{5, 6, 7}, d.inputs.ins[0].Data, c.body)
		require.Equal(t, []float32{1, 2, 3, 4}, d.inputs.ins[1].Data, c.body)
		require.Equal(t, []int{0, 1}, d.sel)
	}
	d, err := decodeREST(v, 1<<16, []byte(`{"id":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00\ud800x","inputs":[{"name":"a","shape":[1,3],"datatype":"FP32","data":[5,6,7]},`+bIn+`]}`), "")
	require.NoError(t, err)
	require.Equal(t, "a\"\\/\b\f\n\r\t\u00e9\U0001F600\uFFFDx", d.id)
}

// TestEncodeREST: the answer is JSON that encoding/json reads back, with
// names and ids escaped, and binary outputs after it.
func TestEncodeREST(t *testing.T) {
	v := fakeVersion()
	v.model = "m\"<é>\x01"
	res := []vkinfer.Tensor{{Shape: []int{1, 1}, Data: []float32{0.5}}, {Shape: []int{1, 5}, Data: []float32{1, -2, 3.25, 1e-7, 6}}}
	id := "id \"\\\n\t\x7f é \xff"
	body, hdr := encodeREST([]byte("junk"), v, id, res, []int{1, 0}, []bool{false, true})
	require.Equal(t, "junk", string(body[:4]))
	body = body[4:]
	require.Equal(t, len(body)-4, hdr)
	var got struct {
		ModelName    string `json:"model_name"`
		ModelVersion string `json:"model_version"`
		ID           string `json:"id"`
		Outputs      []struct {
			Name       string
			Datatype   string
			Shape      []int
			Data       []float32
			Parameters map[string]int
		}
	}
	require.NoError(t, json.Unmarshal(body[:hdr], &got))
	require.Equal(t, v.model, got.ModelName)
	require.Equal(t, "1", got.ModelVersion)
	require.Equal(t, "id \"\\\n\t\x7f é \uFFFD", got.ID)
	require.Len(t, got.Outputs, 2)
	require.Equal(t, "z", got.Outputs[0].Name)
	require.Equal(t, "FP32", got.Outputs[0].Datatype)
	require.Equal(t, []int{1, 5}, got.Outputs[0].Shape)
	require.Equal(t, res[1].Data, got.Outputs[0].Data)
	require.Equal(t, "y", got.Outputs[1].Name)
	require.Equal(t, map[string]int{"binary_data_size": 4}, got.Outputs[1].Parameters)
	require.Equal(t, encodeFP32(nil, []float32{0.5}), body[hdr:])

	body, hdr = encodeREST(nil, v, "", res, []int{0}, []bool{false})
	require.Equal(t, -1, hdr)
	require.JSONEq(t, `{"model_name":"m\"\u003cé\u003e\u0001","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[1,1],"data":[0.5]}]}`, string(body))
}

// BenchmarkDecodeREST: the decoder on the load test's JSON body (784
// values) and its binary body.
func BenchmarkDecodeREST(b *testing.B) {
	v := &version{model: "mnist", num: 1, maxBatch: 64, inputs: []tensorSpec{{name: "input", dims: []int64{784}}},
		outputs: []tensorSpec{{name: "probs", dims: []int64{10}}}}
	vals := []byte{}
	for i := range 784 {
		if i > 0 {
			vals = append(vals, ',')
		}
		vals = append(vals, []string{"0", "0.25", "0.5", "1"}[i%4]...)
	}
	body := []byte(`{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","data":[` + string(vals) + `]}]}`)
	b.Run("json", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := decodeREST(v, 1<<20, body, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	head := `{"inputs":[{"name":"input","shape":[1,784],"datatype":"FP32","parameters":{"binary_data_size":3136}}],"parameters":{"binary_data_output":true}}`
	bin := append([]byte(head), make([]byte, 3136)...)
	hl := strconv.Itoa(len(head))
	b.Run("binary", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeREST(v, 1<<20, bin, hl); err != nil {
				b.Fatal(err)
			}
		}
	})
}
