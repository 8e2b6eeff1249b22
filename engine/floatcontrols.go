package engine

import (
	"encoding/binary"
	"fmt"
)

// SPIR-V numbers used to declare SignedZeroInfNanPreserve (SPIR-V
// specification, sections 3.6 "Execution Mode" and 3.31 "Capability";
// SPV_KHR_float_controls).
const (
	spvOpExtension              = 10
	spvOpCapability             = 17
	spvOpEntryPoint             = 15
	spvExecModeSignedZeroInfNaN = 4461
	spvCapSignedZeroInfNaN      = 4466
	spvFloatControlsExt         = "SPV_KHR_float_controls"
)

// declarePreserve returns a copy of the SPIR-V module words with the
// SignedZeroInfNanPreserve execution mode for 32-bit floats declared on
// every entry point (with its capability and SPV_KHR_float_controls), so the
// driver may not drop the sign of zero, infinities or NaNs (fast-math
// compilers do, e.g. no-signed-zeros on AMD). The shaders are compiled
// without it because a device that lacks shaderSignedZeroInfNanPreserveFloat32
// must not be given the mode; the engine adds it where the device has it.
// A module that already declares the capability is returned unchanged.
func declarePreserve(words []uint32) ([]uint32, error) {
	const header = 5
	if len(words) < header || words[0] != 0x07230203 {
		return nil, fmt.Errorf("engine: not a SPIR-V module")
	}
	lastCap, lastEntry := -1, -1
	var entries []uint32
	for i := header; i < len(words); {
		n := int(words[i] >> 16)
		op := words[i] & 0xffff
		if n == 0 || i+n > len(words) {
			return nil, fmt.Errorf("engine: malformed SPIR-V instruction at word %d", i)
		}
		switch op {
		case spvOpCapability:
			if n >= 2 && words[i+1] == spvCapSignedZeroInfNaN {
				return words, nil
			}
			lastCap = i + n
		case spvOpEntryPoint:
			if n >= 3 {
				entries = append(entries, words[i+2])
			}
			lastEntry = i + n
		}
		i += n
	}
	if lastCap < 0 || lastEntry < 0 {
		return nil, fmt.Errorf("engine: SPIR-V module without capabilities or entry points")
	}
	// The extension name, NUL-terminated and padded to whole words.
	name := make([]byte, (len(spvFloatControlsExt)+4)/4*4)
	copy(name, spvFloatControlsExt)
	ext := []uint32{uint32(1+len(name)/4)<<16 | spvOpExtension}
	for i := 0; i < len(name); i += 4 {
		ext = append(ext, binary.LittleEndian.Uint32(name[i:]))
	}
	out := make([]uint32, 0, len(words)+2+len(ext)+4*len(entries))
	out = append(out, words[:lastCap]...)
	out = append(out, 2<<16|spvOpCapability, spvCapSignedZeroInfNaN)
	// Extensions follow the capabilities.
	out = append(out, ext...)
	out = append(out, words[lastCap:lastEntry]...)
	// Execution modes follow the entry points.
	for _, id := range entries {
		out = append(out, 4<<16|16 /* OpExecutionMode */, id, spvExecModeSignedZeroInfNaN, 32)
	}
	out = append(out, words[lastEntry:]...)
	return out, nil
}
