package helpers

import (
	"encoding/binary"
	"testing"

	"github.com/bpfvm/bpfvm/internal/maps"
)

// TestArrayLookupAddresses: the lookup helper's direct indexing of plain
// arrays returns exactly the values ProgLookup returns (and nothing past
// the end), as the per-CPU path through ProgLookup does.
func TestArrayLookupAddresses(t *testing.T) {
	host := &Host{Registry: maps.NewRegistry(), NumCPU: 2}
	for _, typ := range []maps.Type{maps.Array, maps.PerCPUArray} {
		m, err := maps.New(maps.Spec{Type: typ, KeySize: 4, ValueSize: 12, MaxEntries: 5, NumCPU: 2, SpinLockOffset: -1})
		if err != nil {
			t.Fatal(err)
		}
		h := maps.Handle(host.Registry.AddMap(m))
		env := &memEnv{buf: make([]byte, 8)}
		for _, cpu := range []int{0, 1} {
			s := NewState(host, cpu)
			for i := uint32(0); i < 7; i++ {
				binary.LittleEndian.PutUint32(env.buf, i)
				got, err := s.mapLookupElem(env, h, env.addr(), 0, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				var want uint64
				if v := m.ProgLookup(env.buf[:4], cpu); v != nil {
					want = addrOf(v)
				}
				if got != want {
					t.Errorf("%s cpu %d key %d: address %#x, ProgLookup's %#x", typ, cpu, i, got, want)
				}
			}
			s.Reset()
		}
	}
}
