package verifier

import (
	"errors"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestSpinLock: lock and unlock of the same value's lock is accepted;
// leaking it, nesting it, calling a helper under it, unlocking another
// value's lock or touching it with loads/stores is rejected.
func TestSpinLock(t *testing.T) {
	lockMap := func() []*Map {
		return []*Map{{Name: "locked", Type: "hash", KeySize: 8, ValueSize: 16, MaxEntries: 4, FD: 3,
			HasSpinLock: true, SpinLockOffset: 4}}
	}
	lockR6 := prog(mov64r(isa.R1, isa.R6), add64(isa.R1, 4), call(93))
	unlockR6 := prog(mov64r(isa.R1, isa.R6), add64(isa.R1, 4), call(94))
	ret0 := prog(mov64(isa.R0, 0), exit())
	cases := []struct {
		name string
		p    []isa.Instruction
		want string // "" = accepted
	}{
		{"lock-unlock", prog(lookupValue(3), lockR6, st(isa.SizeW, isa.R6, 8, 1), unlockR6, ret0), ""},
		{"exit-locked", prog(lookupValue(3), lockR6, ret0), "bpf_spin_unlock is missing"},
		{"nested", prog(lookupValue(3), lockR6, lockR6, unlockR6, ret0), "not allowed while holding a lock"},
		{"helper-under-lock", prog(lookupValue(3), lockR6, call(5), unlockR6, ret0), "not allowed while holding a lock"},
		{"unlock-unlocked", prog(lookupValue(3), unlockR6, ret0), "without taking a lock"},
		{"wrong-offset", prog(lookupValue(3), mov64r(isa.R1, isa.R6), call(93), unlockR6, ret0), "doesn't point to 'struct bpf_spin_lock'"},
		{"store-to-lock", prog(lookupValue(3), st(isa.SizeW, isa.R6, 4, 0), ret0), "cannot be accessed directly"},
		{"load-over-lock", prog(lookupValue(3), ldx(isa.SizeDW, isa.R1, isa.R6, 0), ret0), "cannot be accessed directly"},
		{"other-value", prog(lookupValue(3), mov64r(isa.R7, isa.R6), lookupValue(3), // r6 is now a second lookup
			mov64r(isa.R1, isa.R7), add64(isa.R1, 4), call(93), unlockR6, ret0), "different lock"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.p, Config{ProgType: "socket_filter", Maps: lockMap()})
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) || ve.Kind != KindUnsafe || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an unsafe rejection containing %q", err, c.want)
			}
		})
	}
	// A map without a lock cannot be locked.
	m := lockMap()
	m[0].HasSpinLock = false
	if _, err := Verify(prog(lookupValue(3), lockR6, unlockR6, ret0), Config{ProgType: "socket_filter", Maps: m}); err == nil || !strings.Contains(err.Error(), "no valid bpf_spin_lock") {
		t.Fatalf("lock in a lock-less map: %v", err)
	}
}
