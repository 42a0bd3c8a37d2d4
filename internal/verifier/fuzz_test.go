package verifier

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bpfvm/bpfvm/internal/isa"
)

var fuzzProgTypes = []string{"socket_filter", "sched_cls", "xdp", "tracepoint", "raw_tp", "kprobe", "cgroup_skb", "syscall"}

// FuzzVerify feeds arbitrary bytecode to the verifier: it must never
// panic (a recovered panic shows up as an "internal verifier error"),
// never hang, and always end with a verdict.
func FuzzVerify(f *testing.F) {
	for _, tc := range cveCases {
		f.Add(byte(0), isa.Encode(tc.insns))
	}
	f.Add(byte(1), isa.Encode(prog(mov64(isa.R0, 0), exit())))
	f.Add(byte(2), isa.Encode(prog(
		ldx(isa.SizeW, isa.R2, isa.R1, 0), ldx(isa.SizeW, isa.R3, isa.R1, 4),
		mov64r(isa.R4, isa.R2), add64(isa.R4, 14), jmpX(isa.OpJGT, isa.R4, isa.R3, 1),
		ldx(isa.SizeB, isa.R0, isa.R2, 13), mov64(isa.R0, 0), exit())))
	f.Add(byte(0), isa.Encode(prog(mov64(isa.R1, 0), add64(isa.R1, 1), jmpK(isa.OpJLT, isa.R1, 1000, -2), mov64(isa.R0, 0), exit())))
	f.Add(byte(0), isa.Encode(prog(ja(-1))))
	// Callbacks: bpf_loop with a counter in the caller's stack, and
	// for_each_map_elem over the array reading key and value.
	ret0 := prog(mov64(isa.R0, 0), exit())
	f.Add(byte(0), isa.Encode(loopProg(prog(ldx(isa.SizeDW, isa.R0, isa.R10, -8), exit()),
		prog(ldx(isa.SizeDW, isa.R1, isa.R2, 0), add64(isa.R1, 1), stx(isa.SizeDW, isa.R2, isa.R1, 0), ret0))))
	f.Add(byte(0), isa.Encode(prog(ldMap(isa.R1, 1), ldFunc(isa.R2, 2, 9), mov64(isa.R3, 0), mov64(isa.R4, 0), call(164), ret0,
		ldx(isa.SizeDW, isa.R0, isa.R3, 0), ldx(isa.SizeW, isa.R0, isa.R2, 0), ret0)))
	f.Fuzz(func(t *testing.T, kind byte, code []byte) {
		code = code[:len(code)/8*8]
		insns, err := isa.Decode(code)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{ProgType: fuzzProgTypes[int(kind)%len(fuzzProgTypes)], Maps: testMaps, MaxProcessed: 100_000, Flags: uint32(kind>>4) & 3}
		start := time.Now()
		res, err := Verify(insns, cfg)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("verification took %v", d)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error is a %T, not *Error: %v", err, err)
			}
			if strings.Contains(e.Reason, "internal verifier error") {
				t.Fatalf("verifier bug: %s\nprogram: %x", e.Detail(), code)
			}
			return
		}
		if len(res.Facts) != len(insns) {
			t.Fatalf("facts for %d of %d instructions", len(res.Facts), len(insns))
		}
	})
}
