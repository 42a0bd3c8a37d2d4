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

// TestInlineConcurrent runs hash and array lookups from several
// goroutines while the host inserts and deletes other keys of the hash
// map, which share the chains the lookups walk: the inline paths walk the
// bucket chains without locks, as the helpers do (run it with -race for
// the interpreter's side), and return the values of keys 0-7 (hits) and
// decide keys 8-15 are absent. The keys the programs look up are never
// deleted: a deleted element's value slot is reused by a later insert,
// and a program's plain loads racing with that rewrite (or with a replace
// that writes a value in place) are the eBPF model's own (the kernel's
// preallocated maps reuse elements the same way).
func TestInlineConcurrent(t *testing.T) {
	for _, e := range []Engine{Interpreter, JIT} {
		_, coll := loadTestdata(t, "bench_maps.o", WithEngine(e))
		for k := uint32(0); k < 16; k++ {
			if err := coll.Maps["ba"].Update(k, uint64(k), UpdateAny); err != nil {
				t.Fatal(err)
			}
			if k < 8 {
				if err := coll.Maps["bh"].Update(k, uint64(k), UpdateAny); err != nil {
					t.Fatal(err)
				}
			}
		}
		done := make(chan struct{})
		errs := make(chan error, 4)
		for g := 0; g < 4; g++ {
			go func(g int) {
				prog := []string{"bench_hash_lookup", "bench_hash_lookup", "bench_array_lookup", "bench_hash_lookup"}[g]
				for i := 0; i < 300; i++ {
					if _, err := coll.Programs[prog].Run(&RunOptions{Data: udpPkt, CPU: uint32(g)}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}(g)
		}
		go func() {
			defer close(done)
			for i := 0; i < 2000; i++ {
				k := 16 + uint32(i*7)%48
				if coll.Maps["bh"].Delete(k) != nil {
					_ = coll.Maps["bh"].Update(k, uint64(i), UpdateNoExist)
				}
			}
		}()
		for g := 0; g < 4; g++ {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", e, err)
			}
		}
		<-done
	}
}
