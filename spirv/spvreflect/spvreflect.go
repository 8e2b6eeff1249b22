// Package spvreflect reads the interface of a compute shader out of a SPIR-V
// binary: descriptor bindings, push-constant block size, specialization
// constants and the workgroup (local) size. It parses the binary itself and
// understands only what vkinfer's shaders use; anything else in the
// interface is an error rather than a silent guess.
//
// It is used by tools/spirvgen at generation time and by the spirv package's
// tests. Parse has no shared state and is safe for concurrent use.
package spvreflect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Magic is the first word of every SPIR-V module.
const Magic = 0x07230203

// Kind says what sort of descriptor a binding is.
type Kind int

// The descriptor kinds a compute shader's bindings may have.
const (
	StorageBuffer Kind = iota
	UniformBuffer
	UniformTexelBuffer
	StorageTexelBuffer
)

func (k Kind) String() string {
	switch k {
	case StorageBuffer:
		return "StorageBuffer"
	case UniformBuffer:
		return "UniformBuffer"
	case UniformTexelBuffer:
		return "UniformTexelBuffer"
	case StorageTexelBuffer:
		return "StorageTexelBuffer"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Binding is one descriptor a shader uses.
type Binding struct {
	Set, Binding uint32
	Kind         Kind
	// Name is the variable's name, or its block's type name when the
	// variable is unnamed.
	Name string
	// ReadOnly is set when the variable, or every member of its block, is
	// decorated NonWritable (GLSL readonly); uniform buffers and uniform
	// texel buffers are always read-only.
	ReadOnly bool
}

// SpecConstant is one 32-bit scalar specialization constant.
type SpecConstant struct {
	ID   uint32
	Name string // OpName, or local_size_x/y/z for unnamed workgroup-size constants
	// Type is "bool", "int", "uint" or "float".
	Type string
	// Default holds the default value's bits: 0 or 1 for bool.
	Default uint32
}

// Module is the reflected interface of a compute shader.
type Module struct {
	Version    uint32 // SPIR-V version word, e.g. 0x00010300 for 1.3
	Generator  uint32 // generator magic word (tool and its version)
	EntryPoint string
	// LocalSize is the workgroup size with every specialization constant at
	// its default.
	LocalSize [3]uint32
	// LocalSizeIDs holds the SpecId that sets each dimension, or -1.
	LocalSizeIDs     [3]int32
	Bindings         []Binding      // sorted by (Set, Binding)
	PushConstantSize uint32         // bytes; 0 when there is no push-constant block
	SpecConstants    []SpecConstant // sorted by ID
}

// Opcodes, decorations and enumerants used here (SPIR-V 1.6 unified spec).
const (
	opName                  = 5
	opMemberName            = 6
	opEntryPoint            = 15
	opExecutionMode         = 16
	opTypeBool              = 20
	opTypeInt               = 21
	opTypeFloat             = 22
	opTypeVector            = 23
	opTypeMatrix            = 24
	opTypeImage             = 25
	opTypeArray             = 28
	opTypeRuntimeArray      = 29
	opTypeStruct            = 30
	opTypePointer           = 32
	opConstantTrue          = 41
	opConstantFalse         = 42
	opConstant              = 43
	opConstantComposite     = 44
	opSpecConstantTrue      = 48
	opSpecConstantFalse     = 49
	opSpecConstant          = 50
	opSpecConstantComposite = 51
	opVariable              = 59
	opDecorate              = 71
	opMemberDecorate        = 72
	opExecutionModeID       = 331
	decSpecID               = 1
	decBlock                = 2
	decBufferBlock          = 3
	decArrayStride          = 6
	decMatrixStride         = 7
	decBuiltIn              = 11
	decNonWritable          = 24
	decBinding              = 33
	decDescriptorSet        = 34
	decOffset               = 35
	builtInWorkgroupSize    = 25
	scUniformConstant       = 0
	scUniform               = 2
	scPushConstant          = 9
	scStorageBuffer         = 12
	modelGLCompute          = 5
	modeLocalSize           = 17
	modeLocalSizeID         = 38
	dimBuffer               = 5
	headerWords             = 5
)

// ErrNotSPIRV is returned for input that is not a SPIR-V module.
var ErrNotSPIRV = errors.New("spvreflect: not a SPIR-V module")

type typeInfo struct {
	op      uint32
	width   uint32   // int/float bits
	signed  bool     // int
	elem    uint32   // vector/matrix/array/runtime array/pointer element type
	count   uint32   // vector components, matrix columns
	length  uint32   // array length constant id
	members []uint32 // struct members
	storage uint32   // pointer storage class
	dim     uint32   // image
	sampled uint32   // image: 1 sampled (uniform texel), 2 storage
}

type constInfo struct {
	op     uint32
	typ    uint32
	value  uint32   // first literal word, or 1/0 for bools
	parts  []uint32 // composites
	isSpec bool
}

type memberKey struct{ id, member uint32 }

type module struct {
	names       map[uint32]string
	decorations map[uint32]map[uint32][]uint32 // id -> decoration -> literals
	memberDecos map[memberKey]map[uint32][]uint32
	types       map[uint32]*typeInfo
	consts      map[uint32]*constInfo
	vars        []variable
	entries     []entry
	modes       []mode
}

type variable struct{ id, ptrType, storage uint32 }
type entry struct {
	model, fn uint32
	name      string
}
type mode struct {
	fn, mode uint32
	args     []uint32
	isID     bool
}

// Parse reflects a SPIR-V binary (either byte order) with exactly one
// GLCompute entry point.
func Parse(code []byte) (*Module, error) {
	if len(code) < 4*headerWords || len(code)%4 != 0 {
		return nil, fmt.Errorf("%w: %d bytes", ErrNotSPIRV, len(code))
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(code) {
	case Magic:
	case 0x03022307:
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%w: magic %#08x", ErrNotSPIRV, binary.LittleEndian.Uint32(code))
	}
	words := make([]uint32, len(code)/4)
	for i := range words {
		words[i] = order.Uint32(code[4*i:])
	}
	m := &module{
		names:       map[uint32]string{},
		decorations: map[uint32]map[uint32][]uint32{},
		memberDecos: map[memberKey]map[uint32][]uint32{},
		types:       map[uint32]*typeInfo{},
		consts:      map[uint32]*constInfo{},
	}
	for pos := headerWords; pos < len(words); {
		n := int(words[pos] >> 16)
		op := words[pos] & 0xffff
		if n == 0 || pos+n > len(words) {
			return nil, fmt.Errorf("spvreflect: malformed instruction (opcode %d, %d words) at word %d", op, n, pos)
		}
		ops := words[pos+1 : pos+n]
		pos += n
		if err := m.record(op, ops); err != nil {
			return nil, fmt.Errorf("spvreflect: opcode %d: %w", op, err)
		}
	}
	return m.build(words[1], words[2])
}

func need(ops []uint32, n int) error {
	if len(ops) < n {
		return fmt.Errorf("want at least %d operands, have %d", n, len(ops))
	}
	return nil
}

// str decodes a nul-terminated literal string and returns it with the
// number of words it used.
func str(ops []uint32) (string, int, error) {
	var b []byte
	for i, w := range ops {
		for s := 0; s < 32; s += 8 {
			c := byte(w >> s)
			if c == 0 {
				return string(b), i + 1, nil
			}
			b = append(b, c)
		}
	}
	return "", 0, errors.New("unterminated string literal")
}

func (m *module) record(op uint32, ops []uint32) error {
	switch op {
	case opName:
		if err := need(ops, 2); err != nil {
			return err
		}
		s, _, err := str(ops[1:])
		if err != nil {
			return err
		}
		m.names[ops[0]] = s
	case opEntryPoint:
		if err := need(ops, 3); err != nil {
			return err
		}
		s, _, err := str(ops[2:])
		if err != nil {
			return err
		}
		m.entries = append(m.entries, entry{model: ops[0], fn: ops[1], name: s})
	case opExecutionMode, opExecutionModeID:
		if err := need(ops, 2); err != nil {
			return err
		}
		m.modes = append(m.modes, mode{fn: ops[0], mode: ops[1], args: ops[2:], isID: op == opExecutionModeID})
	case opTypeBool:
		if err := need(ops, 1); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op}
	case opTypeInt:
		if err := need(ops, 3); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, width: ops[1], signed: ops[2] != 0}
	case opTypeFloat:
		if err := need(ops, 2); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, width: ops[1]}
	case opTypeVector, opTypeMatrix:
		if err := need(ops, 3); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, elem: ops[1], count: ops[2]}
	case opTypeImage:
		if err := need(ops, 8); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, elem: ops[1], dim: ops[2], sampled: ops[6]}
	case opTypeArray:
		if err := need(ops, 3); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, elem: ops[1], length: ops[2]}
	case opTypeRuntimeArray:
		if err := need(ops, 2); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, elem: ops[1]}
	case opTypeStruct:
		if err := need(ops, 1); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, members: append([]uint32(nil), ops[1:]...)}
	case opTypePointer:
		if err := need(ops, 3); err != nil {
			return err
		}
		m.types[ops[0]] = &typeInfo{op: op, storage: ops[1], elem: ops[2]}
	case opConstantTrue, opConstantFalse, opSpecConstantTrue, opSpecConstantFalse:
		if err := need(ops, 2); err != nil {
			return err
		}
		v := uint32(0)
		if op == opConstantTrue || op == opSpecConstantTrue {
			v = 1
		}
		m.consts[ops[1]] = &constInfo{op: op, typ: ops[0], value: v, isSpec: op >= opSpecConstantTrue}
	case opConstant, opSpecConstant:
		if err := need(ops, 3); err != nil {
			return err
		}
		// Only the low word of a wider literal is kept; specConstants
		// rejects non-32-bit types.
		m.consts[ops[1]] = &constInfo{op: op, typ: ops[0], value: ops[2], isSpec: op == opSpecConstant}
	case opConstantComposite, opSpecConstantComposite:
		if err := need(ops, 2); err != nil {
			return err
		}
		m.consts[ops[1]] = &constInfo{op: op, typ: ops[0], parts: append([]uint32(nil), ops[2:]...), isSpec: op == opSpecConstantComposite}
	case opVariable:
		if err := need(ops, 3); err != nil {
			return err
		}
		m.vars = append(m.vars, variable{ptrType: ops[0], id: ops[1], storage: ops[2]})
	case opDecorate:
		if err := need(ops, 2); err != nil {
			return err
		}
		d := m.decorations[ops[0]]
		if d == nil {
			d = map[uint32][]uint32{}
			m.decorations[ops[0]] = d
		}
		d[ops[1]] = append([]uint32(nil), ops[2:]...)
	case opMemberDecorate:
		if err := need(ops, 3); err != nil {
			return err
		}
		k := memberKey{ops[0], ops[1]}
		d := m.memberDecos[k]
		if d == nil {
			d = map[uint32][]uint32{}
			m.memberDecos[k] = d
		}
		d[ops[2]] = append([]uint32(nil), ops[3:]...)
	}
	return nil
}

func (m *module) decorated(id, dec uint32) ([]uint32, bool) {
	v, ok := m.decorations[id][dec]
	return v, ok
}

func (m *module) decoratedWord(id, dec uint32) (uint32, bool) {
	v, ok := m.decorations[id][dec]
	if !ok || len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

func (m *module) build(version, generator uint32) (*Module, error) {
	out := &Module{Version: version, Generator: generator, LocalSizeIDs: [3]int32{-1, -1, -1}}

	var compute []entry
	for _, e := range m.entries {
		if e.model == modelGLCompute {
			compute = append(compute, e)
		}
	}
	if len(compute) != 1 || len(m.entries) != 1 {
		return nil, fmt.Errorf("spvreflect: want exactly one GLCompute entry point, have %d entry points (%d compute)", len(m.entries), len(compute))
	}
	ep := compute[0]
	out.EntryPoint = ep.name

	if err := m.localSize(ep.fn, out); err != nil {
		return nil, err
	}
	if err := m.specConstants(out); err != nil {
		return nil, err
	}
	if err := m.interfaceVars(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (m *module) localSize(fn uint32, out *Module) error {
	found := false
	for _, md := range m.modes {
		if md.fn != fn {
			continue
		}
		switch {
		case md.mode == modeLocalSize && !md.isID:
			if len(md.args) != 3 {
				return fmt.Errorf("spvreflect: LocalSize has %d operands", len(md.args))
			}
			copy(out.LocalSize[:], md.args)
			found = true
		case md.mode == modeLocalSizeID && md.isID:
			if len(md.args) != 3 {
				return fmt.Errorf("spvreflect: LocalSizeId has %d operands", len(md.args))
			}
			if err := m.sizeFromIDs(md.args, out); err != nil {
				return err
			}
			found = true
		}
	}
	// A WorkgroupSize built-in overrides the execution mode (SPIR-V spec,
	// BuiltIn WorkgroupSize); glslang emits one for local_size_*_id.
	for id, c := range m.consts {
		if b, ok := m.decoratedWord(id, decBuiltIn); ok && b == builtInWorkgroupSize {
			if len(c.parts) != 3 || (c.op != opConstantComposite && c.op != opSpecConstantComposite) {
				return errors.New("spvreflect: WorkgroupSize built-in is not a 3-component constant composite")
			}
			if err := m.sizeFromIDs(c.parts, out); err != nil {
				return err
			}
			found = true
		}
	}
	if !found {
		return errors.New("spvreflect: no LocalSize, LocalSizeId or WorkgroupSize for the entry point")
	}
	return nil
}

func (m *module) sizeFromIDs(ids []uint32, out *Module) error {
	for i, id := range ids {
		c, ok := m.consts[id]
		if !ok || c.op == opConstantComposite || c.op == opSpecConstantComposite {
			return fmt.Errorf("spvreflect: workgroup size component %d (id %d) is not a scalar constant", i, id)
		}
		out.LocalSize[i] = c.value
		out.LocalSizeIDs[i] = -1
		if c.isSpec {
			sid, ok := m.decoratedWord(id, decSpecID)
			if !ok {
				return fmt.Errorf("spvreflect: workgroup size component %d is a spec constant without SpecId", i)
			}
			out.LocalSizeIDs[i] = int32(sid)
		}
	}
	return nil
}

func (m *module) specConstants(out *Module) error {
	sizeNames := map[uint32]string{}
	for i, id := range out.LocalSizeIDs {
		if id >= 0 {
			sizeNames[uint32(id)] = "local_size_" + string(rune('x'+i))
		}
	}
	seen := map[uint32]bool{}
	for id, c := range m.consts {
		if !c.isSpec || c.op == opSpecConstantComposite {
			continue
		}
		sid, ok := m.decoratedWord(id, decSpecID)
		if !ok {
			continue // an OpSpecConstantOp result or an undecorated spec constant
		}
		if seen[sid] {
			return fmt.Errorf("spvreflect: SpecId %d used twice", sid)
		}
		seen[sid] = true
		t := m.types[c.typ]
		if t == nil {
			return fmt.Errorf("spvreflect: spec constant %d has unknown type %d", sid, c.typ)
		}
		sc := SpecConstant{ID: sid, Name: m.names[id], Default: c.value}
		switch {
		case t.op == opTypeBool:
			sc.Type = "bool"
		case t.op == opTypeInt && t.width == 32 && t.signed:
			sc.Type = "int"
		case t.op == opTypeInt && t.width == 32:
			sc.Type = "uint"
		case t.op == opTypeFloat && t.width == 32:
			sc.Type = "float"
		default:
			return fmt.Errorf("spvreflect: spec constant %d (%q) is not a 32-bit scalar", sid, sc.Name)
		}
		if sc.Name == "" {
			sc.Name = sizeNames[sid]
		}
		out.SpecConstants = append(out.SpecConstants, sc)
	}
	sort.Slice(out.SpecConstants, func(i, j int) bool { return out.SpecConstants[i].ID < out.SpecConstants[j].ID })
	return nil
}

func (m *module) interfaceVars(out *Module) error {
	for _, v := range m.vars {
		ptr := m.types[v.ptrType]
		if ptr == nil || ptr.op != opTypePointer {
			return fmt.Errorf("spvreflect: variable %d has non-pointer type", v.id)
		}
		switch v.storage {
		case scPushConstant:
			if out.PushConstantSize != 0 {
				return errors.New("spvreflect: more than one push-constant block")
			}
			size, err := m.sizeOf(ptr.elem, 0, 0, false)
			if err != nil {
				return fmt.Errorf("spvreflect: push constants: %w", err)
			}
			out.PushConstantSize = size
		case scUniform, scStorageBuffer, scUniformConstant:
			b, err := m.binding(v, ptr.elem)
			if err != nil {
				return err
			}
			out.Bindings = append(out.Bindings, b)
		}
	}
	sort.Slice(out.Bindings, func(i, j int) bool {
		a, b := out.Bindings[i], out.Bindings[j]
		if a.Set != b.Set {
			return a.Set < b.Set
		}
		return a.Binding < b.Binding
	})
	for i := 1; i < len(out.Bindings); i++ {
		a, b := out.Bindings[i-1], out.Bindings[i]
		if a.Set == b.Set && a.Binding == b.Binding {
			return fmt.Errorf("spvreflect: set %d binding %d used by %q and %q", a.Set, a.Binding, a.Name, b.Name)
		}
	}
	return nil
}

func (m *module) binding(v variable, typeID uint32) (Binding, error) {
	name := m.names[v.id]
	if name == "" {
		name = m.names[typeID]
	}
	set, ok1 := m.decoratedWord(v.id, decDescriptorSet)
	bind, ok2 := m.decoratedWord(v.id, decBinding)
	if !ok1 || !ok2 {
		return Binding{}, fmt.Errorf("spvreflect: resource %q lacks DescriptorSet or Binding", name)
	}
	b := Binding{Set: set, Binding: bind, Name: name}
	_, varNonWritable := m.decorated(v.id, decNonWritable)
	t := m.types[typeID]
	if t == nil {
		return Binding{}, fmt.Errorf("spvreflect: resource %q has unknown type", name)
	}
	switch v.storage {
	case scStorageBuffer, scUniform:
		if t.op != opTypeStruct {
			return Binding{}, fmt.Errorf("spvreflect: buffer %q is not a struct", name)
		}
		_, block := m.decorated(typeID, decBlock)
		_, bufferBlock := m.decorated(typeID, decBufferBlock)
		switch {
		case v.storage == scStorageBuffer && block, v.storage == scUniform && bufferBlock:
			b.Kind = StorageBuffer
			b.ReadOnly = varNonWritable || m.allMembersNonWritable(typeID, len(t.members))
		case v.storage == scUniform && block:
			b.Kind = UniformBuffer
			b.ReadOnly = true
		default:
			return Binding{}, fmt.Errorf("spvreflect: buffer %q: struct lacks Block/BufferBlock", name)
		}
	case scUniformConstant:
		if t.op != opTypeImage || t.dim != dimBuffer {
			return Binding{}, fmt.Errorf("spvreflect: resource %q: only texel buffers are supported among UniformConstant resources", name)
		}
		switch t.sampled {
		case 1:
			b.Kind = UniformTexelBuffer
			b.ReadOnly = true
		case 2:
			b.Kind = StorageTexelBuffer
			b.ReadOnly = varNonWritable
		default:
			return Binding{}, fmt.Errorf("spvreflect: texel buffer %q: Sampled=%d is unknown at compile time", name, t.sampled)
		}
	}
	return b, nil
}

func (m *module) allMembersNonWritable(structID uint32, n int) bool {
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		if _, ok := m.memberDecos[memberKey{structID, uint32(i)}][decNonWritable]; !ok {
			return false
		}
	}
	return true
}

// sizeOf returns the byte size of an explicitly laid-out type. arrayStride
// and matrixStride come from the enclosing member's decorations where they
// apply (a matrix's MatrixStride is a member decoration).
func (m *module) sizeOf(id uint32, depth int, matrixStride uint32, haveMatrixStride bool) (uint32, error) {
	if depth > 16 {
		return 0, errors.New("types nested too deeply")
	}
	t := m.types[id]
	if t == nil {
		return 0, fmt.Errorf("unknown type %d", id)
	}
	switch t.op {
	case opTypeBool:
		return 0, errors.New("bool has no defined size in an explicit layout")
	case opTypeInt, opTypeFloat:
		return t.width / 8, nil
	case opTypeVector:
		es, err := m.sizeOf(t.elem, depth+1, 0, false)
		return es * t.count, err
	case opTypeMatrix:
		if !haveMatrixStride {
			return 0, errors.New("matrix without MatrixStride")
		}
		return matrixStride * t.count, nil
	case opTypeArray:
		stride, ok := m.decoratedWord(id, decArrayStride)
		if !ok {
			return 0, errors.New("array without ArrayStride")
		}
		c, ok := m.consts[t.length]
		if !ok || c.isSpec {
			return 0, errors.New("array length is not a literal constant")
		}
		return stride * c.value, nil
	case opTypeRuntimeArray:
		return 0, errors.New("runtime array has no static size")
	case opTypeStruct:
		var size uint32
		for i, mt := range t.members {
			d := m.memberDecos[memberKey{id, uint32(i)}]
			off, ok := d[decOffset]
			if !ok || len(off) == 0 {
				return 0, fmt.Errorf("struct %q member %d lacks Offset", m.names[id], i)
			}
			ms, hms := d[decMatrixStride]
			var mstride uint32
			if hms && len(ms) > 0 {
				mstride = ms[0]
			}
			s, err := m.sizeOf(mt, depth+1, mstride, hms)
			if err != nil {
				return 0, err
			}
			if end := off[0] + s; end > size {
				size = end
			}
		}
		return size, nil
	}
	return 0, fmt.Errorf("type opcode %d has no size here", t.op)
}
