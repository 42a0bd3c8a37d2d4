package verifier

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// Regression tests: the shapes of published verifier exploits. Each must
// be rejected as unsafe; where the test can load programs into the kernel,
// the kernel must reject it too (so the program really is unsafe, not
// just something bpfvm dislikes).

var testMaps = []*Map{
	{Name: "array", Type: "array", KeySize: 4, ValueSize: 8, MaxEntries: 1, FD: 1},
	{Name: "hash", Type: "hash", KeySize: 8, ValueSize: 8, MaxEntries: 1, FD: 2},
	{Name: "ringbuf", Type: "ringbuf", MaxEntries: 4096, FD: 3},
	{Name: "progs", Type: "prog_array", KeySize: 4, ValueSize: 4, MaxEntries: 4, FD: 4},
}

var cveCases = []struct {
	name  string
	insns []isa.Instruction
	want  string // part of the reason
}{
	{
		// CVE-2017-16995: a 32-bit move of -1 zero-extends; the verifier
		// compared it with the sign-extended immediate and followed the
		// wrong branch, leaving the real path unchecked.
		name: "CVE-2017-16995",
		insns: prog(
			mov32(isa.R2, -1),
			jmpK(isa.OpJNE, isa.R2, -1, 2),
			mov64(isa.R0, 0),
			exit(),
			ldx(isa.SizeDW, isa.R0, isa.R2, 0),
			exit(),
		),
		want: "invalid mem access 'scalar'",
	},
	{
		// CVE-2020-8835: 32-bit bounds wrongly derived from the 64-bit
		// range [1, 2^32+1] made a value look constant after a jmp32.
		name: "CVE-2020-8835",
		insns: prog(
			lookupValue(1),
			ldx(isa.SizeDW, isa.R5, isa.R6, 0),
			jmpK(isa.OpJGE, isa.R5, 1, 1),
			exit(),
			lddw(isa.R8, 0x100000001),
			jmpX(isa.OpJLE, isa.R5, isa.R8, 1),
			exit(),
			jmp32K(isa.OpJNE, isa.R5, 5, 1),
			exit(),
			aluK(isa.ClassALU64, isa.OpAND, isa.R5, 2),
			aluK(isa.ClassALU64, isa.OpRSH, isa.R5, 1),
			aluK(isa.ClassALU64, isa.OpLSH, isa.R5, 12),
			add64r(isa.R6, isa.R5),
			ldx(isa.SizeB, isa.R0, isa.R6, 0),
			exit(),
		),
		want: "outside of the allowed memory range",
	},
	{
		// CVE-2021-3490: 32-bit AND/OR/XOR bounds were not updated when
		// both subregisters were known, producing impossible ranges.
		name: "CVE-2021-3490",
		insns: prog(
			lookupValue(1),
			ldx(isa.SizeDW, isa.R5, isa.R6, 0),
			lddw(isa.R7, 0x100000000),
			aluX(isa.ClassALU64, isa.OpAND, isa.R5, isa.R7), // r5 = 0 or 1<<32
			lddw(isa.R8, 0x100000002),
			aluX(isa.ClassALU64, isa.OpOR, isa.R5, isa.R8), // low 32 bits known 2
			aluX(isa.ClassALU, isa.OpAND, isa.R5, isa.R8),  // w5 = 2
			aluK(isa.ClassALU64, isa.OpMUL, isa.R5, 4096),
			add64r(isa.R6, isa.R5),
			ldx(isa.SizeB, isa.R0, isa.R6, 0),
			exit(),
		),
		want: "outside of the allowed memory range",
	},
	{
		// CVE-2021-31440: 64-bit bounds were copied into 32-bit bounds even
		// when the 64-bit range crossed a 32-bit boundary.
		name: "CVE-2021-31440",
		insns: prog(
			lookupValue(1),
			ldx(isa.SizeDW, isa.R5, isa.R6, 0),
			jmpK(isa.OpJSLE, isa.R5, 0, 1),
			ja(1),
			exit(),
			lddw(isa.R8, 0x100000000),
			jmpX(isa.OpJSLE, isa.R5, isa.R8, 1),
			exit(),
			jmp32K(isa.OpJSGT, isa.R5, 0, 1),
			exit(),
			aluK(isa.ClassALU, isa.OpMOV, isa.R5, 0), // keep the analysis honest about w5
			ldx(isa.SizeDW, isa.R5, isa.R6, 0),
			jmp32K(isa.OpJSLE, isa.R5, 0, 2),
			aluK(isa.ClassALU64, isa.OpLSH, isa.R5, 40),
			add64r(isa.R6, isa.R5),
			ldx(isa.SizeB, isa.R0, isa.R6, 0),
			exit(),
		),
		want: "",
	},
	{
		// CVE-2022-23222: arithmetic on a pointer that may still be NULL
		// (here a ring buffer reservation) let a NULL become a pointer.
		name: "CVE-2022-23222",
		insns: prog(
			ldMap(isa.R1, 3),
			mov64(isa.R2, 8),
			mov64(isa.R3, 0),
			call(131),
			add64(isa.R0, 8),
			jmpK(isa.OpJEQ, isa.R0, 0, 4),
			mov64r(isa.R1, isa.R0),
			mov64(isa.R2, 0),
			call(133),
			mov64(isa.R0, 0),
			exit(),
		),
		want: "ringbuf_mem_or_null prohibited",
	},
	{
		// CVE-2023-2163: precision was not propagated back through a
		// branch, so a state with a dangerous offset was pruned as
		// equivalent to a safe one.
		name: "CVE-2023-2163",
		insns: prog(
			lookupValue(1),
			ldx(isa.SizeDW, isa.R1, isa.R6, 0),
			mov64(isa.R2, 0),
			jmpK(isa.OpJEQ, isa.R1, 0, 1),
			mov64(isa.R2, 0x1000),
			ja(0),
			add64r(isa.R6, isa.R2),
			ldx(isa.SizeB, isa.R0, isa.R6, 0),
			exit(),
		),
		want: "outside of the allowed memory range",
	},
}

func TestCVEPoCsRejected(t *testing.T) {
	for _, tc := range cveCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.insns, Config{ProgType: "socket_filter", Maps: testMaps})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("accepted (err %v); the exploit shape must be rejected", err)
			}
			if e.Kind != KindUnsafe {
				t.Fatalf("rejected as %s, want unsafe: %s", e.Kind, e.Detail())
			}
			if !strings.Contains(e.Reason, tc.want) {
				t.Fatalf("reason %q lacks %q\n%s", e.Reason, tc.want, e.Detail())
			}
			t.Logf("%s", e.Detail())
			kernelMustReject(t, tc.insns, "socket_filter", testMaps)
		})
	}
}
