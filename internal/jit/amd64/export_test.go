//go:build linux && amd64

package amd64

import "github.com/bpfvm/bpfvm/internal/isa"

// Code returns the generated machine code of p, for tests.
func Code(p *Program) []byte { return p.comp.code }

// FilterCode returns the generated machine code of p, for tests.
func FilterCode(p *FilterProgram) []byte { return p.comp.code }

// ReadsUnwrittenStack exposes readsUnwrittenStack to tests.
var ReadsUnwrittenStack = readsUnwrittenStack

// SetBMI2 makes programs compiled from now on use the BMI2 shifts (if on
// and the CPU has them) or the legacy ones; restore undoes it. Tests that
// call it must not run in parallel with other compilations.
func SetBMI2(on bool) (restore func()) {
	old := useBMI2
	useBMI2 = on && old
	return func() { useBMI2 = old }
}

// HasBMI2 reports whether the compiler uses the BMI2 shifts.
func HasBMI2() bool { return useBMI2 }

// KnownPacketLen exposes knownPacketLen to tests.
var KnownPacketLen = knownPacketLen

// ZeroBelow exposes zeroBelow to tests.
var ZeroBelow = zeroBelow

// FusedLoads exposes findFusedLoads to tests (no constant blinding).
func FusedLoads(insns []isa.Instruction) []bool {
	c := &compiler{insns: insns, opts: &Options{}}
	return c.findFusedLoads()
}

// IndNonNegative exposes indNonNegative to tests.
var IndNonNegative = indNonNegative

// BatchCode returns the generated machine code of p's batch entry and the
// offset of its entry, for tests.
func BatchCode(p *FilterProgram) ([]byte, int) { return p.bcomp.code, p.bcomp.freshEntry }

// InlinesKtime reports whether p's code reads the clock itself for
// ktime_get_ns.
func InlinesKtime(p *Program) bool { return usesKtime(p.insns, &p.inline) }
