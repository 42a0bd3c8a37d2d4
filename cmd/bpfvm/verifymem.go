package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/verifier"
)

// verifyMem verifies a raw program under the run contract of `bpfvm run`
// and `bpfvm conformance` (the verifier's "mem" type: r1 points to
// memSize bytes of readable, writable memory, r2 holds memSize) and
// returns the accesses it proved in bounds, one bit per instruction slot,
// for the JIT to run unchecked. A rejection is a *verifier.Error.
func verifyMem(insns []isa.Instruction, memSize int) ([]uint64, error) {
	if memSize > math.MaxUint32 {
		return nil, fmt.Errorf("verifier: %d bytes of memory is more than the verifier's 4 GiB", memSize)
	}
	res, err := verifier.Verify(insns, verifier.Config{ProgType: "mem", MemSize: uint32(memSize)})
	if err != nil {
		return nil, fmt.Errorf("verifier: %w", err)
	}
	bits := make([]uint64, (len(res.Facts)+63)/64)
	for i, f := range res.Facts {
		if f&verifier.FactMemSafe != 0 {
			bits[i/64] |= 1 << (i % 64)
		}
	}
	return bits, nil
}

// maxPathShown bounds the branch decisions a rejection prints: a loop
// the verifier unrolled can leave thousands.
const maxPathShown = 24

// rejectionDetail is a rejection's full diagnostic with the path cut to
// its last maxPathShown decisions.
func rejectionDetail(ve *verifier.Error) string {
	short := *ve
	if n := len(short.Path); n > maxPathShown {
		short.Path = short.Path[n-maxPathShown:]
	}
	d := strings.TrimRight(short.Detail(), "\n")
	if n := len(ve.Path); n > maxPathShown {
		d = strings.Replace(d, "\npath:", fmt.Sprintf("\npath (last %d of %d decisions):", maxPathShown, n), 1)
	}
	return d
}
