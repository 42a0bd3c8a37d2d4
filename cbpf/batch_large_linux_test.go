//go:build linux && (amd64 || arm64)

package cbpf

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestMatchBatchTooLarge: a packet of 2 GiB or more fails in a batch
// exactly as Match fails on it (or matches as Match does, on the engines
// that take it), and the batch stops there naming it.
func TestMatchBatchTooLarge(t *testing.T) {
	prog := mustAssemble(t, "ldh [12]\nadd #1\nret a")
	// 2 GiB of address space, never touched beyond its first page (a
	// real mapping, so that even checkptr accepts the slice).
	huge, err := unix.Mmap(-1, 0, 1<<31, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Skipf("cannot map 2 GiB of address space: %v", err)
	}
	defer unix.Munmap(huge)
	buf := huge[:16:16]
	buf[13] = 9
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		m := f.NewMatcher()
		want, wantErr := m.Match(huge, nil)
		v := []uint32{0, 0, 0}
		err = m.MatchBatch([][]byte{buf, huge, buf}, nil, v)
		var be *BatchError
		switch {
		case wantErr == nil:
			if err != nil || v[0] != 10 || v[1] != want || v[2] != 10 {
				t.Errorf("%v: MatchBatch = %v, %v; Match(huge) = %d", e, err, v, want)
			}
		case !errors.As(err, &be) || be.Index != 1 || be.Err.Error() != wantErr.Error() || v[0] != 10 || v[2] != 0:
			t.Errorf("%v: MatchBatch = %v, %v; want packet 1 failing with %v", e, err, v, wantErr)
		}
		if wantErr == nil && e == EngineJIT {
			t.Errorf("jit: Match(2 GiB) = %d, no error", want)
		}
		m.Close()
		f.Close()
	}
}
