//go:build linux && amd64

package amd64_test

import (
	"sync"
	"testing"
)

// TestFilterReentrant: which programs FilterProgram.Reentrant admits, and
// that one FilterVM of such a program answers right from many goroutines
// at once (run with -race too: the code's frame is the caller's).
func TestFilterReentrant(t *testing.T) {
	for _, c := range []struct {
		src       string
		reentrant bool
	}{
		{"mov %r0, 2\nexit", true},
		{"mov %r0, 7\nlddw %r3, 0x100000000\nadd %r0, %r3\nrsh %r0, 1\nexit", true},
		{"mov %r0, 9\njeq %r0, 9, +1\nmov %r0, 1\nexit", true},
		{"mov %r0, %r1\nexit", true}, // r1 is the VM's, fixed
		{"stdw [%r10-8], 1\nmov %r0, 0\nexit", false},
		{"ldxdw %r0, [%r10-8]\nexit", false},
		{"mov %r0, %r10\nexit", false}, // the stack's address
		{"ldxb %r0, [%r1]\nexit", false},
		{"mov %r1, 16\nstw [%r1], 1\nmov %r0, 0\nexit", false},
		{"ldabsb 0\nexit", false},
	} {
		if got := loadFilter(t, c.src).Reentrant(); got != c.reentrant {
			t.Errorf("%q: Reentrant %v, want %v", c.src, got, c.reentrant)
		}
	}
	p := loadFilter(t, "mov %r0, 7\nlddw %r3, 0x100000000\nadd %r0, %r3\nrsh %r0, 1\nexit")
	vm := p.NewVM(nil)
	const want = (7 + 0x100000000) >> 1
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				if r0, status := vm.RunStatus(nil); r0 != want || status != 0 {
					errs <- "wrong result"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
