package bpfvm

import "testing"

// TestInlineYieldsToHostHelpers: a host helper replacing map_lookup_elem
// (WithHelper) runs for every call, on both engines: the inline map
// operations stand for the runtime's own helper only.
func TestInlineYieldsToHostHelpers(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		calls := 0
		lookup := WithHelper(1, func(Memory, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
			calls++
			return 0, nil
		})
		_, coll := loadTestdata(t, "bench_maps.o", WithEngine(e), WithoutVerifier(), lookup)
		for _, prog := range []string{"bench_array_lookup", "bench_hash_lookup"} {
			calls = 0
			ret, err := coll.Programs[prog].Run(&RunOptions{Data: udpPkt, Repeat: 2})
			if err != nil {
				t.Fatalf("%s %s: %v", e, prog, err)
			}
			if calls != 32 || ret != 2 {
				t.Errorf("%s %s: the host helper ran %d times (want 32), the program returned %d (want 2, XDP_PASS)", e, prog, calls, ret)
			}
		}
	}
}
