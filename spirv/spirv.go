// Package spirv owns vkinfer's compiled compute shaders: the SPIR-V that
// ./build.sh shaders compiles from shaders/*.comp and commits here, embedded
// into the binary, together with reflection data read from each module
// (descriptor bindings, push-constant size, specialization constants, local
// size) and a manifest of the source hashes it was built from. Nothing is
// compiled at run time; `go build` needs only the committed files.
//
// zz_generated.go is written by tools/spirvgen; this file is hand-written.
//
// Concurrency: everything here is read-only global data built at package
// initialisation, safe for concurrent use. Shaders returned by Lookup are
// shared: callers must not modify them (Words returns a private copy).
package spirv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vkinfer/vkinfer/spirv/spvreflect"
)

// BindingKind is the descriptor type of a shader binding (the reflection
// parser's type: one definition for the generator and the runtime).
type BindingKind = spvreflect.Kind

// The descriptor types vkinfer's shaders use.
const (
	StorageBuffer      = spvreflect.StorageBuffer      // VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
	UniformBuffer      = spvreflect.UniformBuffer      // VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER
	UniformTexelBuffer = spvreflect.UniformTexelBuffer // VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
	StorageTexelBuffer = spvreflect.StorageTexelBuffer // VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER
)

// Binding is one descriptor a shader uses: set, binding, kind, the GLSL
// block's name and whether it is read-only (NonWritable, uniform buffers,
// uniform texel buffers).
type Binding = spvreflect.Binding

// SpecConstant is a specialization constant of a shader. Only 32-bit scalars
// occur (bool, int, uint, float); Default holds the default value's bits
// (0 or 1 for bool), which is also the VkSpecializationMapEntry encoding.
type SpecConstant struct {
	ID      uint32
	Name    string // the GLSL name; local_size_x/y/z for local_size_*_id constants
	Default uint32
}

// Shader is one compiled compute shader and its reflected interface.
type Shader struct {
	// Name is the source base name without .comp, e.g. "gemm".
	Name string
	// Code is the SPIR-V module, little-endian words. Read-only.
	Code []byte
	// LocalSize is the workgroup size with specialization constants at
	// their defaults.
	LocalSize [3]uint32
	// LocalSizeIDs holds, per dimension, the specialization constant ID
	// that sets it (GLSL local_size_x_id), or -1 when it is fixed.
	LocalSizeIDs [3]int32
	// Bindings are sorted by (Set, Binding).
	Bindings []Binding
	// PushConstantSize is the size in bytes of the push-constant block,
	// 0 when there is none.
	PushConstantSize uint32
	// SpecConstants are sorted by ID.
	SpecConstants []SpecConstant
	// SourceSHA256 is the hex sha256 of shaders/<Name>.comp as compiled.
	// Shared includes are not folded in; the package manifest (checked by
	// this package's tests and ./build.sh check) covers every source file.
	SourceSHA256 string
}

// ErrUnknownShader is returned (wrapped) by Lookup for a name with no shader.
var ErrUnknownShader = errors.New("spirv: unknown shader")

// Lookup returns the shader compiled from shaders/<name>.comp.
func Lookup(name string) (*Shader, error) {
	if s, ok := shaders[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownShader, name, strings.Join(Names(), ", "))
}

// Names returns the names of all shaders, sorted.
func Names() []string {
	names := make([]string, 0, len(shaders))
	for n := range shaders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Words returns a copy of Code as 32-bit words, suitably aligned for
// vkCreateShaderModule's pCode.
func (s *Shader) Words() []uint32 {
	w := make([]uint32, len(s.Code)/4)
	for i := range w {
		w[i] = binary.LittleEndian.Uint32(s.Code[4*i:])
	}
	return w
}

// manifestEntry records the hash of one file under shaders/ at generation
// time; Path is relative to shaders/.
type manifestEntry struct {
	Path   string
	SHA256 string
}

// mustReadSPIRV reads an embedded module. The generator only names files
// it embedded, so a failure is a build defect.
func mustReadSPIRV(name string) []byte {
	b, err := spvFiles.ReadFile(name)
	if err != nil {
		panic("spirv: embedded module missing: " + err.Error())
	}
	return b
}
