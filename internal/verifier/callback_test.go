package verifier

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// ldFunc loads the address of the function at slot target into dst, as
// the lddw at slot at (BPF_PSEUDO_FUNC).
func ldFunc(dst uint8, at, target int) []isa.Instruction {
	return []isa.Instruction{{Opcode: isa.OpcodeLDDW, Dst: dst, Src: isa.PseudoFunc, Imm: int32(target - at - 1)}, {}}
}

// loopProg: counter = 0 at fp-8; bpf_loop(10, cb, &counter, 0); then
// tail (starting at slot 8); then the callback body cb (r2 = &counter).
func loopProg(tail, cb []isa.Instruction) []isa.Instruction { return loopProgN(10, tail, cb) }

func loopProgN(n int32, tail, cb []isa.Instruction) []isa.Instruction {
	cbAt := 8 + len(tail)
	return prog(
		st(isa.SizeDW, isa.R10, -8, 0),
		mov64(isa.R1, n),
		ldFunc(isa.R2, 2, cbAt),
		mov64r(isa.R3, isa.R10), add64(isa.R3, -8),
		mov64(isa.R4, 0),
		call(181),
		tail,
		cb,
	)
}

func TestCallbacks(t *testing.T) {
	ret0 := prog(mov64(isa.R0, 0), exit())
	incr := prog(ldx(isa.SizeDW, isa.R1, isa.R2, 0), add64(isa.R1, 1), stx(isa.SizeDW, isa.R2, isa.R1, 0), ret0)
	// The caller indexes a 8-byte stack buffer at fp-16 with the counter.
	useCounter := prog(ldx(isa.SizeDW, isa.R1, isa.R10, -8), mov64r(isa.R2, isa.R10), add64(isa.R2, -16),
		add64r(isa.R2, isa.R1), st(isa.SizeB, isa.R2, 0, 0), ret0)
	returnCounter := prog(ldx(isa.SizeDW, isa.R0, isa.R10, -8), exit())
	arrMap := []*Map{{Name: "arr", Type: "array", KeySize: 4, ValueSize: 8, MaxEntries: 4, FD: 3}}
	forEach := func(cb []isa.Instruction) []isa.Instruction {
		return prog(ldMap(isa.R1, 3), ldFunc(isa.R2, 2, 9), mov64(isa.R3, 0), mov64(isa.R4, 0), call(164), ret0, cb)
	}
	cases := []struct {
		name string
		p    []isa.Instruction
		maps []*Map
		want string // "" = accepted; else alternatives separated by |
	}{
		{"loop-counter", loopProg(returnCounter, incr), nil, ""},
		{"loop-noop", loopProg(ret0, ret0), nil, ""},
		// The callback may change the counter: the caller cannot assume 0.
		{"loop-counter-as-offset", loopProg(useCounter, prog(st(isa.SizeDW, isa.R2, 0, 100), ret0)), nil, "invalid write to stack"},
		// bpf_loop runs its callback at most nr_loops times: 10 increments
		// keep the offset inside the buffer, 100 do not.
		{"loop-counter-incr-as-offset", loopProg(useCounter, incr), nil, ""},
		{"loop100-counter-incr-as-offset", loopProgN(100, useCounter, incr), nil, "invalid write to stack|unbounded min value"},
		// Many iterations: the counter is widened, and the analysis ends.
		{"loop1000-counter", loopProgN(1000, returnCounter, incr), nil, ""},
		{"loop1000-counter-as-offset", loopProgN(1000, useCounter, incr), nil, "unbounded min value"},
		// Without a callback that writes, the counter stays 0.
		{"loop-counter-untouched", loopProg(useCounter, ret0), nil, ""},
		{"loop-ctx-overflow", loopProg(ret0, prog(st(isa.SizeDW, isa.R2, 8, 1), ret0)), nil, "stack"},
		{"loop-return-2", loopProg(ret0, prog(mov64(isa.R0, 2), exit())), nil, "At callback return"},
		{"loop-return-index", loopProg(ret0, prog(mov64r(isa.R0, isa.R1), exit())), nil, "At callback return"},
		{"loop-bad-ctx", prog(mov64(isa.R1, 10), ldFunc(isa.R2, 1, 8), mov64(isa.R3, 5), mov64(isa.R4, 0), call(181), ret0, ret0), nil, "expected=fp"},
		{"foreach-read-value", forEach(prog(ldx(isa.SizeDW, isa.R0, isa.R3, 0), ldx(isa.SizeW, isa.R0, isa.R2, 0), ret0)), arrMap, ""},
		{"foreach-value-overflow", forEach(prog(ldx(isa.SizeDW, isa.R0, isa.R3, 8), ret0)), arrMap, "the map value has 8 bytes"},
		{"foreach-key-overflow", forEach(prog(ldx(isa.SizeDW, isa.R0, isa.R2, 0), ret0)), arrMap, "key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := Verify(c.p, Config{ProgType: "socket_filter", Maps: c.maps})
			// The running kernel is the oracle where bpf() works.
			if kAccept, klog, kerr := kernelVerdict(c.p, "socket_filter", c.maps); kerr == nil {
				if kAccept != (c.want == "") {
					t.Errorf("the kernel disagrees with the expected verdict (accept=%v): %s", kAccept, lastLogLine(klog))
				}
			} else {
				t.Logf("kernel oracle: %v", kerr)
			}
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				t.Logf("processed %d", res.Stats.Processed)
				return
			}
			var ve *Error
			matched := false
			for _, w := range strings.Split(c.want, "|") {
				matched = matched || (err != nil && strings.Contains(err.Error(), w))
			}
			if !errors.As(err, &ve) || ve.Kind != KindUnsafe || !matched {
				t.Fatalf("got %v, want an unsafe rejection containing %q", err, c.want)
			}
		})
	}
	// A map type for_each_map_elem cannot walk.
	rb := []*Map{{Name: "rb", Type: "ringbuf", MaxEntries: 4096, FD: 3}}
	if _, err := Verify(forEach(ret0), Config{ProgType: "socket_filter", Maps: rb}); err == nil {
		t.Fatal("for_each_map_elem over a ring buffer accepted")
	}
}
