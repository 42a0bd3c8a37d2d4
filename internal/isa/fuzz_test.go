package isa

import "testing"

// FuzzDecodeValidate: arbitrary bytes never make Decode, Validate,
// CheckInitialized, String or FormatProgram panic, and a program Validate
// accepts has in-range jump targets.
func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x18, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x05, 0, 0xfe, 0xff, 0, 0, 0, 0})
	f.Add([]byte{0x18, 0x40, 0, 0, 0x10, 0, 0, 0})
	f.Add([]byte{0xdb, 0xa1, 0xf8, 0xff, 0xf1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, code []byte) {
		if len(code) > 1024 {
			// Large inputs add nothing but make minimisation crawl.
			return
		}
		insns, err := Decode(code)
		if err != nil {
			if len(code)%InstructionSize == 0 {
				t.Fatalf("Decode refused %d bytes: %v", len(code), err)
			}
			insns, _ = Decode(code[:len(code)/InstructionSize*InstructionSize])
		}
		_ = FormatProgram(insns)
		for _, i := range insns {
			_ = i.String()
		}
		_ = CheckInitialized(insns, 1<<R1|1<<R2|1<<R10)
		if err := Validate(insns); err != nil {
			return
		}
		for n := range insns {
			if n > 0 && insns[n-1].IsLDDW() {
				continue
			}
			if tgt, ok := Target(insns, n); ok && (tgt < 0 || tgt >= len(insns)) {
				t.Fatalf("Validate accepted a jump at %d to %d", n, tgt)
			}
		}
	})
}
