package engine

import "fmt"

// sharedBytes returns the bytes of shared (Workgroup storage class) memory
// a SPIR-V module declares when its specialization constants take the
// values spec (SpecId -> value; others keep their defaults), so the engine
// can hold a pipeline to maxComputeSharedMemorySize itself: the driver
// enforces only its own limit, not an emulated one (LimitsMin). Sizes are
// the natural ones (scalars by width, vectors and arrays packed, structs
// summed); drivers may pad, so this is a lower bound. ok is false when an
// array length is an expression the evaluator does not know: then nothing
// is checked.
func sharedBytes(words []uint32, spec map[uint32]uint32) (bytes uint64, ok bool, err error) {
	const (
		opTypeBool              = 20
		opTypeInt               = 21
		opTypeFloat             = 22
		opTypeVector            = 23
		opTypeMatrix            = 24
		opTypeArray             = 28
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
		opSpecConstantOp        = 52
		opVariable              = 59
		opDecorate              = 71
		decorationSpecID        = 1
		storageWorkgroup        = 4
	)
	if len(words) < 5 || words[0] != 0x07230203 {
		return 0, false, fmt.Errorf("engine: not a SPIR-V module")
	}
	specID := map[uint32]uint32{}  // result id -> SpecId
	val := map[uint32][]uint64{}   // constant id -> value (composites: components)
	size := map[uint32]uint64{}    // type id -> bytes
	pointee := map[uint32]uint32{} // Workgroup pointer type id -> pointee type
	unknown := map[uint32]bool{}   // constants the evaluator cannot compute
	var vars []uint32              // Workgroup variables' pointer types
	for i := 5; i < len(words); {
		n := int(words[i] >> 16)
		op := words[i] & 0xffff
		if n == 0 || i+n > len(words) {
			return 0, false, fmt.Errorf("engine: malformed SPIR-V instruction at word %d", i)
		}
		w := words[i : i+n]
		i += n
		switch op {
		case opDecorate:
			if n >= 4 && w[2] == decorationSpecID {
				specID[w[1]] = w[3]
			}
		case opTypeBool:
			size[w[1]] = 4
		case opTypeInt, opTypeFloat:
			size[w[1]] = uint64(w[2]) / 8
		case opTypeVector, opTypeMatrix:
			size[w[1]] = size[w[2]] * uint64(w[3])
		case opTypeArray:
			if v, found := val[w[3]]; found && len(v) == 1 && !unknown[w[3]] {
				size[w[1]] = size[w[2]] * v[0]
			} else {
				unknown[w[1]] = true
			}
		case opTypeStruct:
			var s uint64
			for _, m := range w[2:] {
				s += size[m]
				if unknown[m] {
					unknown[w[1]] = true
				}
			}
			size[w[1]] = s
		case opTypePointer:
			if w[2] == storageWorkgroup {
				pointee[w[1]] = w[3]
			}
		case opConstantTrue, opConstantFalse, opSpecConstantTrue, opSpecConstantFalse:
			v := b2u(op == opConstantTrue || op == opSpecConstantTrue)
			if id, has := specID[w[2]]; has && (op == opSpecConstantTrue || op == opSpecConstantFalse) {
				if s, set := spec[id]; set {
					v = b2u(s != 0)
				}
			}
			val[w[2]] = []uint64{v}
		case opConstant, opSpecConstant:
			v := uint64(w[3])
			if op == opSpecConstant {
				if id, has := specID[w[2]]; has {
					if s, set := spec[id]; set {
						v = uint64(s)
					}
				}
			}
			val[w[2]] = []uint64{v}
		case opConstantComposite, opSpecConstantComposite:
			var c []uint64
			for _, id := range w[3:] {
				v, found := val[id]
				if !found || len(v) != 1 || unknown[id] {
					unknown[w[2]] = true
					break
				}
				c = append(c, v[0])
			}
			val[w[2]] = c
		case opSpecConstantOp:
			v, good := evalSpecOp(w[3], w[4:], val, unknown)
			if !good {
				unknown[w[2]] = true
			}
			val[w[2]] = []uint64{v}
		case opVariable:
			if _, wg := pointee[w[1]]; wg && n >= 4 && w[3] == storageWorkgroup {
				vars = append(vars, w[1])
			}
		}
	}
	for _, pt := range vars {
		t := pointee[pt]
		if unknown[t] {
			return 0, false, nil
		}
		bytes += size[t]
	}
	return bytes, true, nil
}

// evalSpecOp evaluates one OpSpecConstantOp on 32-bit integers (and
// booleans as 0/1); good is false for an opcode it does not know or an
// operand it could not compute.
func evalSpecOp(opcode uint32, operands []uint32, val map[uint32][]uint64, unknown map[uint32]bool) (uint64, bool) {
	arg := func(i int) (uint64, bool) {
		if i >= len(operands) {
			return 0, false
		}
		v, found := val[operands[i]]
		if !found || len(v) != 1 || unknown[operands[i]] {
			return 0, false
		}
		return v[0], true
	}
	if opcode == 81 { // OpCompositeExtract: composite, literal index
		if len(operands) < 2 {
			return 0, false
		}
		c, found := val[operands[0]]
		if !found || unknown[operands[0]] || int(operands[1]) >= len(c) {
			return 0, false
		}
		return c[operands[1]], true
	}
	a, okA := arg(0)
	if !okA {
		return 0, false
	}
	if opcode == 169 { // OpSelect: cond, a, b
		x, okX := arg(1)
		y, okY := arg(2)
		if !okX || !okY {
			return 0, false
		}
		if a != 0 {
			return x, true
		}
		return y, true
	}
	if opcode == 168 { // OpLogicalNot
		return b2u(a == 0), true
	}
	b, okB := arg(1)
	if !okB {
		return 0, false
	}
	const mask = 0xffffffff
	a, b = a&mask, b&mask
	switch opcode {
	case 128: // OpIAdd
		return (a + b) & mask, true
	case 130: // OpISub
		return (a - b) & mask, true
	case 132: // OpIMul
		return (a * b) & mask, true
	case 134, 135: // OpUDiv, OpSDiv (shared sizes are non-negative)
		if b == 0 {
			return 0, false
		}
		return a / b, true
	case 137, 138, 139: // OpUMod, OpSRem, OpSMod
		if b == 0 {
			return 0, false
		}
		return a % b, true
	case 194, 195: // OpShiftRightLogical, OpShiftRightArithmetic
		return a >> (b & 31), true
	case 196: // OpShiftLeftLogical
		return (a << (b & 31)) & mask, true
	case 197: // OpBitwiseOr
		return a | b, true
	case 198: // OpBitwiseXor
		return a ^ b, true
	case 199: // OpBitwiseAnd
		return a & b, true
	case 170: // OpIEqual
		return b2u(a == b), true
	case 171: // OpINotEqual
		return b2u(a != b), true
	case 172, 173: // OpUGreaterThan, OpSGreaterThan
		return b2u(a > b), true
	case 174, 175: // OpUGreaterThanEqual, OpSGreaterThanEqual
		return b2u(a >= b), true
	case 176, 177: // OpULessThan, OpSLessThan
		return b2u(a < b), true
	case 178, 179: // OpULessThanEqual, OpSLessThanEqual
		return b2u(a <= b), true
	case 164, 166: // OpLogicalEqual, OpLogicalOr
		if opcode == 164 {
			return b2u((a != 0) == (b != 0)), true
		}
		return b2u(a != 0 || b != 0), true
	case 165, 167: // OpLogicalNotEqual, OpLogicalAnd
		if opcode == 165 {
			return b2u((a != 0) != (b != 0)), true
		}
		return b2u(a != 0 && b != 0), true
	}
	return 0, false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
