package benchprog

import (
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// The programs' results and instruction counts are checked by running them
// (internal/interp's TestBenchPrograms); here, that they are well formed.
func TestProgramsValid(t *testing.T) {
	names := map[string]bool{}
	for _, p := range All() {
		if names[p.Name] {
			t.Errorf("duplicate name %q", p.Name)
		}
		names[p.Name] = true
		if err := isa.Validate(p.Insns); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Executed == 0 || p.Want == 0 {
			t.Errorf("%s: Executed %d, Want %d: expected values missing", p.Name, p.Executed, p.Want)
		}
		for _, in := range p.Insns {
			if in.Opcode == isa.OpcodeCall && in.Src == isa.CallHelper && p.Helpers[in.Imm] == nil {
				t.Errorf("%s: calls helper %d, which it does not provide", p.Name, in.Imm)
			}
		}
	}
	if len(names) != 7 {
		t.Errorf("%d programs, want 7", len(names))
	}
}
