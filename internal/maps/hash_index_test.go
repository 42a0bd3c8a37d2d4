package maps

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// shrinkBuckets gives m a table of n buckets (n a power of two, the
// map empty) so chains get long and every chain operation is exercised.
func shrinkBuckets(m Map, n int) {
	hm := m.(*hashMap)
	hm.buckets = make([]atomic.Pointer[hashEntry], n)
	hm.mask = uint64(n - 1)
}

// checkIndex verifies the lock-free bucket index holds exactly the
// entries of the Go map, each in its own bucket's chain.
func checkIndex(t *testing.T, m Map) {
	t.Helper()
	hm := m.(*hashMap)
	seen := 0
	for b := range hm.buckets {
		for e := hm.buckets[b].Load(); e != nil; e = e.hnext.Load() {
			seen++
			if uint64(b) != e.hash&hm.mask {
				t.Fatalf("entry %x in bucket %d, hash says %d", e.key, b, e.hash&hm.mask)
			}
			if hm.entries[e.key] != e {
				t.Fatalf("entry %x in a chain but not (or another) in the map", e.key)
			}
		}
	}
	if seen != len(hm.entries) {
		t.Fatalf("%d entries in the chains, %d in the map", seen, len(hm.entries))
	}
}

func TestHashBucketIndex(t *testing.T) {
	for _, typ := range []Type{Hash, LRUHash, PerCPUHash, LRUPerCPUHash} {
		t.Run(typ.String(), func(t *testing.T) {
			m := mustNew(t, Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 32, NumCPU: 2})
			shrinkBuckets(m, 4)
			rng := rand.New(rand.NewPCG(1, 2))
			val := make([]byte, m.HostValueSize())
			for i := 0; i < 5000; i++ {
				k := u32(uint32(rng.IntN(48)))
				binary.LittleEndian.PutUint64(val, uint64(i))
				switch rng.IntN(4) {
				case 0, 1:
					m.Update(k, val, uint64(rng.IntN(3)))
				case 2:
					m.Delete(k)
				case 3:
					m.ProgUpdate(k, val[:8], 0, rng.IntN(2))
				}
				// ProgLookup (the index) and Lookup (the map) agree.
				got := m.ProgLookup(k, 0)
				err := m.Lookup(k, make([]byte, m.HostValueSize()), 0)
				if (got != nil) != (err == nil) {
					t.Fatalf("op %d: ProgLookup %x, Lookup %v", i, got, err)
				}
				if i%97 == 0 {
					checkIndex(t, m)
				}
			}
			checkIndex(t, m)
		})
	}
}

// TestHashLockFreeReaders runs program lookups without locks against
// writers replacing and deleting entries (meaningful under -race): a
// reader finds a key that is never deleted and reads a whole value.
func TestHashLockFreeReaders(t *testing.T) {
	m := mustNew(t, Spec{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 64})
	shrinkBuckets(m, 2)
	stable := u32(1000)
	if err := m.Update(stable, make([]byte, 8), 0); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			val := make([]byte, 8)
			for i := 0; i < 3000; i++ {
				k := u32(uint32(rng.IntN(40)))
				if rng.IntN(2) == 0 {
					m.Update(k, val, 0)
				} else {
					m.Delete(k)
				}
				m.Update(stable, val, UpdateExist)
			}
		}(g)
	}
	var readers sync.WaitGroup
	for g := 0; g < 2; g++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for !stop.Load() {
				if v := m.ProgLookup(stable, 0); len(v) != 8 {
					t.Errorf("stable key: value %x", v)
					return
				}
				m.ProgLookup(u32(7), 0)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	readers.Wait()
	checkIndex(t, m)
}
