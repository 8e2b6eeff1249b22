package onnx

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/vkinfer/vkinfer/model"
)

// TestAbsentMiddleInputKeepsPositions: an optional input left out ("")
// before a present one keeps its place, so the later inputs are not
// shifted onto the wrong parameter (Resize's roi is the usual example:
// Resize(X, "", scales)); trailing absent inputs are dropped. The node
// survives validation and an mlp.bin round trip unchanged.
func TestAbsentMiddleInputKeepsPositions(t *testing.T) {
	b := newBuilder(13).input("x", 1, 1, 2, 2).output("y", 1, 1, 4, 4).
		init(floatTensor("scales", []int64{4}, []float32{1, 1, 2, 2})).
		node("Resize", []string{"x", "", "scales", ""}, []string{"y"}).named("resize")
	m, err := Decode(b.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range m.Nodes {
		if n.Op == "Resize" {
			got = n.Inputs
		}
	}
	if want := []string{"x", "", "scales"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Resize inputs = %q, want %q", got, want)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := model.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Nodes[0].Inputs, got) {
		t.Fatalf("after mlp.bin round trip: inputs %q, want %q", back.Nodes[0].Inputs, got)
	}
}
