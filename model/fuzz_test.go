package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode, both as they are and with
// their size field and checksums repaired (so mutations reach the metadata
// and tensor checks behind the CRC). Decode must never panic, must fail only
// with one of the package's sentinels, and whatever it accepts must encode
// and decode back to an equal model.
func FuzzDecode(f *testing.F) {
	valid := encode(f, sampleModel())
	f.Add(valid)
	f.Add(valid[:HeaderSize])
	f.Add(valid[:len(valid)/2])
	f.Add([]byte(Magic))
	f.Add([]byte{})
	small := &Model{
		Inputs:       []ValueInfo{{Name: "x", Shape: []int{-1, 2}}},
		Outputs:      []ValueInfo{{Name: "y", Shape: []int{-1, 1}}},
		Nodes:        []Node{{Op: "Dense", Inputs: []string{"x", "w"}, Outputs: []string{"y"}}},
		Initializers: []*Tensor{{Name: "w", Shape: []int{1, 2}, Data: []float32{1, 2}}},
	}
	f.Add(encode(f, small))
	meta, data := sampleMetaF(f)
	f.Add(assemble([]byte(`{"id":"00000000-0000-0000-0000-000000000000","tensors":[{"name":"t","dtype":"f32","shape":[1099511627776,1099511627776],"offset":0,"length":0}]}`), nil, nil))
	f.Add(assemble(meta, data, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		if len(b) >= HeaderSize+4 {
			c := bytes.Clone(b)
			binary.LittleEndian.PutUint64(c[16:], uint64(len(c)))
			fixChecksums(c)
			check(t, c)
		}
	})
}

// FuzzMetadata fuzzes the metadata JSON and the data section inside a
// correctly framed file, where FuzzDecode's mutations rarely get.
func FuzzMetadata(f *testing.F) {
	meta, data := sampleMetaF(f)
	f.Add(meta, data)
	f.Add([]byte(`{"id":"00000000-0000-0000-0000-000000000000","tensors":[{"name":"t","dtype":"f32","shape":[1099511627776,1099511627776],"offset":0,"length":0}]}`), []byte{})
	f.Add([]byte(`{"id":"00000000-0000-0000-0000-000000000000","inputs":[{"name":"x","shape":[-1,2]}],"outputs":[{"name":"y","shape":[-1,1]}],"nodes":[{"name":"","op":"Dense","inputs":["x","w"],"outputs":["y"],"attrs":{"activation":{"type":"string","string":"relu"}}}],"tensors":[{"name":"w","dtype":"f32","shape":[1,2],"offset":0,"length":8}]}`), []byte{0, 0, 128, 63, 0, 0, 0, 64})
	f.Fuzz(func(t *testing.T, meta, data []byte) {
		if len(meta) > 1<<16 || len(data) > 1<<16 {
			return
		}
		check(t, assemble(meta, data, nil))
	})
}

func sampleMetaF(f *testing.F) ([]byte, []byte) {
	b := encode(f, sampleModel())
	h := readHeader(b)
	return b[h.metaOff : h.metaOff+h.metaLen], b[h.dataOff : h.dataOff+h.dataLen]
}

func check(t *testing.T, b []byte) {
	m, err := decode(b)
	if err != nil {
		for _, s := range []error{ErrNotModel, ErrVersion, ErrTruncated, ErrChecksum, ErrCorrupt} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("error without a sentinel: %v", err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatalf("accepted model does not encode: %v", err)
	}
	m2, err := decode(buf.Bytes())
	if err != nil {
		t.Fatalf("re-encoded model does not decode: %v", err)
	}
	if !equalModels(m, m2) {
		t.Fatalf("round trip differs:\n%+v\n%+v", m, m2)
	}
}
