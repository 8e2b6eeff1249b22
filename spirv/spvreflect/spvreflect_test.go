package spvreflect

import (
	"encoding/binary"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// asm assembles a SPIR-V module by hand for tests.
type asm struct{ words []uint32 }

func (a *asm) op(code uint32, operands ...uint32) {
	a.words = append(a.words, uint32(len(operands)+1)<<16|code)
	a.words = append(a.words, operands...)
}

func lit(s string) []uint32 {
	b := append([]byte(s), 0)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	w := make([]uint32, len(b)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return w
}

func cat(parts ...any) []uint32 {
	var out []uint32
	for _, p := range parts {
		switch v := p.(type) {
		case uint32:
			out = append(out, v)
		case int:
			out = append(out, uint32(v))
		case []uint32:
			out = append(out, v...)
		default:
			panic("cat: bad part")
		}
	}
	return out
}

func (a *asm) bytes(order binary.ByteOrder) []byte {
	words := append([]uint32{Magic, 0x00010300, 0, 200, 0}, a.words...)
	b := make([]byte, 4*len(words))
	for i, w := range words {
		order.PutUint32(b[4*i:], w)
	}
	return b
}

// richModule exercises every resource kind, LocalSizeId and all spec
// constant types.
func richModule() *asm {
	a := &asm{}
	a.op(opEntryPoint, cat(modelGLCompute, 1, lit("main"))...)
	a.op(opExecutionModeID, 1, modeLocalSizeID, 10, 11, 12)
	a.op(opName, cat(30, lit("FLAG"))...)
	a.op(opName, cat(31, lit("SCALE"))...)
	a.op(opName, cat(42, lit("utex"))...)
	a.op(opName, cat(45, lit("stex"))...)
	a.op(opName, cat(50, lit("Params"))...)
	a.op(opName, cat(52, lit(""))...)
	a.op(opName, cat(56, lit("old"))...)
	a.op(opName, cat(59, lit("out"))...)
	a.op(opDecorate, 10, decSpecID, 3)
	a.op(opDecorate, 30, decSpecID, 5)
	a.op(opDecorate, 31, decSpecID, 7)
	a.op(opDecorate, 32, decSpecID, 6)
	a.op(opDecorate, 42, decDescriptorSet, 0)
	a.op(opDecorate, 42, decBinding, 2)
	a.op(opDecorate, 45, decDescriptorSet, 0)
	a.op(opDecorate, 45, decBinding, 3)
	a.op(opDecorate, 45, decNonWritable)
	a.op(opDecorate, 50, decBlock)
	a.op(opMemberDecorate, 50, 0, decOffset, 0)
	a.op(opDecorate, 52, decDescriptorSet, 1)
	a.op(opDecorate, 52, decBinding, 0)
	a.op(opDecorate, 53, decArrayStride, 4)
	a.op(opDecorate, 54, decBufferBlock)
	a.op(opMemberDecorate, 54, 0, decNonWritable)
	a.op(opMemberDecorate, 54, 0, decOffset, 0)
	a.op(opDecorate, 56, decDescriptorSet, 0)
	a.op(opDecorate, 56, decBinding, 0)
	a.op(opDecorate, 57, decBlock)
	a.op(opMemberDecorate, 57, 0, decOffset, 0)
	a.op(opDecorate, 59, decDescriptorSet, 0)
	a.op(opDecorate, 59, decBinding, 1)
	a.op(opDecorate, 60, decBlock)
	a.op(opMemberDecorate, 60, 0, decOffset, 0)
	a.op(opMemberDecorate, 60, 1, decOffset, 16)
	a.op(opMemberDecorate, 60, 2, decOffset, 32)
	a.op(opDecorate, 61, decArrayStride, 4)

	a.op(opTypeInt, 20, 32, 0)
	a.op(opTypeFloat, 21, 32)
	a.op(opTypeVector, 22, 21, 4)
	a.op(opTypeBool, 23)
	a.op(opTypeInt, 24, 32, 1)
	a.op(opSpecConstant, 20, 10, 16)
	a.op(opConstant, 20, 11, 2)
	a.op(opConstant, 20, 12, 1)
	a.op(opSpecConstantTrue, 23, 30)
	a.op(opSpecConstant, 21, 31, 0x3f800000)
	a.op(opSpecConstant, 24, 32, 0xfffffffe)
	// texel buffers
	a.op(opTypeImage, 40, 21, dimBuffer, 0, 0, 0, 1, 0)
	a.op(opTypePointer, 41, scUniformConstant, 40)
	a.op(opVariable, 41, 42, scUniformConstant)
	a.op(opTypeImage, 43, 21, dimBuffer, 0, 0, 0, 2, 1)
	a.op(opTypePointer, 44, scUniformConstant, 43)
	a.op(opVariable, 44, 45, scUniformConstant)
	// uniform buffer, unnamed variable
	a.op(opTypeStruct, 50, 22)
	a.op(opTypePointer, 51, scUniform, 50)
	a.op(opVariable, 51, 52, scUniform)
	// old-style storage buffer (Uniform + BufferBlock), read-only members
	a.op(opTypeRuntimeArray, 53, 21)
	a.op(opTypeStruct, 54, 53)
	a.op(opTypePointer, 55, scUniform, 54)
	a.op(opVariable, 55, 56, scUniform)
	// StorageBuffer storage class, writable
	a.op(opTypeStruct, 57, 53)
	a.op(opTypePointer, 58, scStorageBuffer, 57)
	a.op(opVariable, 58, 59, scStorageBuffer)
	// push constants { uint; vec4 at 16; float[3] at 32 } = 44 bytes
	a.op(opConstant, 20, 62, 3)
	a.op(opTypeArray, 61, 21, 62)
	a.op(opTypeStruct, 60, 20, 22, 61)
	a.op(opTypePointer, 63, scPushConstant, 60)
	a.op(opVariable, 63, 64, scPushConstant)
	return a
}

func TestParseRichModule(t *testing.T) {
	want := &Module{
		Version:      0x00010300,
		EntryPoint:   "main",
		LocalSize:    [3]uint32{16, 2, 1},
		LocalSizeIDs: [3]int32{3, -1, -1},
		Bindings: []Binding{
			{Set: 0, Binding: 0, Kind: StorageBuffer, Name: "old", ReadOnly: true},
			{Set: 0, Binding: 1, Kind: StorageBuffer, Name: "out"},
			{Set: 0, Binding: 2, Kind: UniformTexelBuffer, Name: "utex", ReadOnly: true},
			{Set: 0, Binding: 3, Kind: StorageTexelBuffer, Name: "stex", ReadOnly: true},
			{Set: 1, Binding: 0, Kind: UniformBuffer, Name: "Params", ReadOnly: true},
		},
		PushConstantSize: 44,
		SpecConstants: []SpecConstant{
			{ID: 3, Name: "local_size_x", Type: "uint", Default: 16},
			{ID: 5, Name: "FLAG", Type: "bool", Default: 1},
			{ID: 6, Name: "", Type: "int", Default: 0xfffffffe},
			{ID: 7, Name: "SCALE", Type: "float", Default: 0x3f800000},
		},
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		got, err := Parse(richModule().bytes(order))
		if err != nil {
			t.Fatalf("%v: %v", order, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v:\n got %+v\nwant %+v", order, got, want)
		}
	}
}

func TestWorkgroupSizeBuiltinOverridesLocalSize(t *testing.T) {
	a := &asm{}
	a.op(opEntryPoint, cat(modelGLCompute, 1, lit("main"))...)
	a.op(opExecutionMode, 1, modeLocalSize, 1, 1, 1)
	a.op(opDecorate, 10, decSpecID, 0)
	a.op(opDecorate, 13, decBuiltIn, builtInWorkgroupSize)
	a.op(opTypeInt, 20, 32, 0)
	a.op(opTypeVector, 21, 20, 3)
	a.op(opSpecConstant, 20, 10, 32)
	a.op(opConstant, 20, 11, 4)
	a.op(opConstant, 20, 12, 1)
	a.op(opSpecConstantComposite, 21, 13, 10, 11, 12)
	m, err := Parse(a.bytes(binary.LittleEndian))
	if err != nil {
		t.Fatal(err)
	}
	if m.LocalSize != [3]uint32{32, 4, 1} || m.LocalSizeIDs != [3]int32{0, -1, -1} {
		t.Errorf("LocalSize %v IDs %v", m.LocalSize, m.LocalSizeIDs)
	}
	if len(m.SpecConstants) != 1 || m.SpecConstants[0].Name != "local_size_x" {
		t.Errorf("SpecConstants %+v", m.SpecConstants)
	}
	if m.PushConstantSize != 0 || len(m.Bindings) != 0 {
		t.Errorf("unexpected interface %+v", m)
	}
}

func TestParseErrors(t *testing.T) {
	minimal := func(extra func(a *asm)) []byte {
		a := &asm{}
		a.op(opEntryPoint, cat(modelGLCompute, 1, lit("main"))...)
		a.op(opExecutionMode, 1, modeLocalSize, 1, 1, 1)
		if extra != nil {
			extra(a)
		}
		return a.bytes(binary.LittleEndian)
	}
	if _, err := Parse(minimal(nil)); err != nil {
		t.Fatalf("minimal module: %v", err)
	}
	tests := []struct {
		name string
		code []byte
		want string
	}{
		{"empty", nil, "not a SPIR-V module"},
		{"not words", make([]byte, 22), "not a SPIR-V module"},
		{"bad magic", make([]byte, 20), "magic"},
		{"truncated", minimal(nil)[:len(minimal(nil))-4], "malformed instruction"},
		{"zero word count", append(minimal(nil), 0, 0, 0, 0), "malformed instruction"},
		{"unterminated name", minimal(func(a *asm) { a.op(opName, 5, 0x41414141) }), "unterminated"},
		{"no entry point", (&asm{}).bytes(binary.LittleEndian), "exactly one GLCompute entry point"},
		{"two entry points", minimal(func(a *asm) { a.op(opEntryPoint, cat(modelGLCompute, 2, lit("other"))...) }), "exactly one"},
		{"no local size", func() []byte {
			a := &asm{}
			a.op(opEntryPoint, cat(modelGLCompute, 1, lit("main"))...)
			return a.bytes(binary.LittleEndian)
		}(), "no LocalSize"},
		{"64-bit spec constant", minimal(func(a *asm) {
			a.op(opDecorate, 10, decSpecID, 1)
			a.op(opTypeInt, 20, 64, 0)
			a.op(opSpecConstant, 20, 10, 1, 0)
		}), "not a 32-bit scalar"},
		{"missing binding", minimal(func(a *asm) {
			a.op(opDecorate, 30, decBlock)
			a.op(opTypeFloat, 20, 32)
			a.op(opTypeStruct, 30, 20)
			a.op(opTypePointer, 31, scStorageBuffer, 30)
			a.op(opVariable, 31, 32, scStorageBuffer)
		}), "lacks DescriptorSet or Binding"},
		{"duplicate binding", minimal(func(a *asm) {
			for _, v := range []uint32{32, 33} {
				a.op(opDecorate, v, decDescriptorSet, 0)
				a.op(opDecorate, v, decBinding, 4)
			}
			a.op(opDecorate, 30, decBlock)
			a.op(opTypeFloat, 20, 32)
			a.op(opTypeStruct, 30, 20)
			a.op(opTypePointer, 31, scStorageBuffer, 30)
			a.op(opVariable, 31, 32, scStorageBuffer)
			a.op(opVariable, 31, 33, scStorageBuffer)
		}), "binding 4 used by"},
		{"push constant member without offset", minimal(func(a *asm) {
			a.op(opTypeFloat, 20, 32)
			a.op(opTypeStruct, 30, 20)
			a.op(opTypePointer, 31, scPushConstant, 30)
			a.op(opVariable, 31, 32, scPushConstant)
		}), "lacks Offset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.code)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Parse(nil); !errors.Is(err, ErrNotSPIRV) {
		t.Errorf("Parse(nil) = %v, want ErrNotSPIRV", err)
	}
}

// TestParseCompiledGemm reads the committed module glslang produced.
func TestParseCompiledGemm(t *testing.T) {
	code, err := os.ReadFile("../gemm.spv")
	if err != nil {
		t.Skipf("no compiled gemm: %v", err)
	}
	m, err := Parse(code)
	if err != nil {
		t.Fatal(err)
	}
	if m.PushConstantSize != 28 || len(m.Bindings) != 4 || m.LocalSizeIDs != [3]int32{0, 1, -1} {
		t.Errorf("unexpected gemm interface: %+v", m)
	}
	if !m.Bindings[0].ReadOnly || m.Bindings[3].ReadOnly {
		t.Errorf("gemm read-only flags: %+v", m.Bindings)
	}
}

func TestKindString(t *testing.T) {
	if StorageTexelBuffer.String() != "StorageTexelBuffer" || Kind(7).String() != "Kind(7)" {
		t.Error("Kind.String")
	}
}
