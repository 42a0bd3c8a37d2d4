package maps

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// checkIndex verifies the bucket index holds exactly the entries of the
// iteration list, each once and in its own bucket's chain.
func checkIndex(t *testing.T, m Map) {
	t.Helper()
	hm := m.(*hashMap)
	listed := map[*hashEntry]bool{}
	keys := map[string]bool{}
	for e := hm.head; e != nil; e = e.next {
		listed[e] = true
		if keys[e.key] {
			t.Fatalf("key %x listed twice", e.key)
		}
		keys[e.key] = true
	}
	seen := 0
	for b := range hm.buckets {
		for e := hm.buckets[b].Load(); e != nil; e = e.hnext.Load() {
			seen++
			if uint64(b) != e.hash&hm.mask {
				t.Fatalf("entry %x in bucket %d, hash says %d", e.key, b, e.hash&hm.mask)
			}
			if !listed[e] {
				t.Fatalf("entry %x in a chain but not in the iteration list", e.key)
			}
		}
	}
	if seen != len(listed) || seen != hm.count {
		t.Fatalf("%d entries in the chains, %d listed, count %d", seen, len(listed), hm.count)
	}
}

func TestHashBucketIndex(t *testing.T) {
	for _, typ := range []Type{Hash, LRUHash, PerCPUHash, LRUPerCPUHash} {
		t.Run(typ.String(), func(t *testing.T) {
			const maxEntries = 32
			m := mustNew(t, Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: maxEntries, NumCPU: 2})
			shrinkBuckets(m, 4)
			lru := typ == LRUHash || typ == LRUPerCPUHash
			model := map[uint32]uint64{} // CPU 0's value of each key
			rng := rand.New(rand.NewPCG(1, 2))
			val := make([]byte, m.HostValueSize())
			for i := 0; i < 5000; i++ {
				n := uint32(rng.IntN(48))
				k := u32(n)
				for c := 0; c+8 <= len(val); c += 8 {
					binary.LittleEndian.PutUint64(val[c:], uint64(i))
				}
				_, had := model[n]
				switch rng.IntN(4) {
				case 0, 1:
					flags := uint64(rng.IntN(3))
					err := m.Update(k, val, flags)
					want := !(flags == UpdateNoExist && had || flags == UpdateExist && !had || !had && !lru && len(model) >= maxEntries)
					if !lru && (err == nil) != want {
						t.Fatalf("op %d: update %d flags %d: %v", i, n, flags, err)
					}
					if err == nil {
						model[n] = uint64(i)
					}
				case 2:
					if err := m.Delete(k); !lru && (err == nil) != had {
						t.Fatalf("op %d: delete %d: %v", i, n, err)
					}
					delete(model, n)
				case 3:
					if err := m.ProgUpdate(k, val[:8], 0, 0); err == nil {
						model[n] = uint64(i)
					}
				}
				got := m.ProgLookup(k, 0)
				if lru {
					// Eviction is not modelled: the entry is there or not.
					if got != nil {
						model[n] = binary.LittleEndian.Uint64(got)
					} else {
						delete(model, n)
					}
					continue
				}
				want, ok := model[n]
				if (got != nil) != ok || ok && binary.LittleEndian.Uint64(got) != want {
					t.Fatalf("op %d: key %d: ProgLookup %x, want %v %d", i, n, got, ok, want)
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

// TestHashReplaceKeepsHeldValue: a value a program obtained stays intact
// (and 8-byte aligned) when the host or a program replaces the element,
// as the kernel's element replacement leaves the old element alone.
func TestHashReplaceKeepsHeldValue(t *testing.T) {
	m := mustNew(t, Spec{Type: Hash, KeySize: 4, ValueSize: 12, MaxEntries: 4})
	k := u32(3)
	first := []byte("first value.")
	if err := m.Update(k, first, UpdateAny); err != nil {
		t.Fatal(err)
	}
	held := m.ProgLookup(k, 0)
	if addrOf(held)%8 != 0 {
		t.Errorf("value at %#x is not 8-byte aligned", addrOf(held))
	}
	if err := m.ProgUpdate(k, []byte("second value"), UpdateExist, 0); err != nil {
		t.Fatal(err)
	}
	if string(held) != "first value." {
		t.Errorf("held value changed to %q", held)
	}
	if got := m.ProgLookup(k, 0); string(got) != "second value" {
		t.Errorf("lookup after replace: %q", got)
	}
	// The next replace recycles the displaced value (the kernel's extra
	// element): held memory stays valid and aligned, and values are right.
	if err := m.Update(k, []byte("third value."), UpdateAny); err != nil {
		t.Fatal(err)
	}
	got := m.ProgLookup(k, 0)
	if string(got) != "third value." || addrOf(got)%8 != 0 {
		t.Errorf("after a second replace: %q at %#x", got, addrOf(got))
	}
	if addrOf(got) != addrOf(held) {
		t.Errorf("the displaced value was not reused: %#x, held %#x", addrOf(got), addrOf(held))
	}
}

// TestHashKeyCompare checks that lookups and replaces find exactly their
// key for every key-size path of findHashed (word compares for 4 and 8
// bytes, the string compare otherwise), with all keys sharing two
// buckets and differing in only one byte, anywhere in the key.
func TestHashKeyCompare(t *testing.T) {
	for _, ks := range []uint32{4, 8, 5, 16} {
		t.Run(fmt.Sprint(ks), func(t *testing.T) {
			m := mustNew(t, Spec{Type: Hash, KeySize: ks, ValueSize: 8, MaxEntries: 256})
			shrinkBuckets(m, 2)
			keyOf := func(i int) []byte {
				k := make([]byte, ks)
				k[i%int(ks)] = byte(1 + i/int(ks)) // one byte set: distinct keys
				return k
			}
			n := 4 * int(ks)
			for round := range 3 {
				for i := range n {
					v := binary.LittleEndian.AppendUint64(nil, uint64(round*1000+i))
					if err := m.ProgUpdate(keyOf(i), v, UpdateAny, 0); err != nil {
						t.Fatalf("round %d: update key %x: %v", round, keyOf(i), err)
					}
				}
				for i := range n {
					got := m.ProgLookup(keyOf(i), 0)
					if got == nil || binary.LittleEndian.Uint64(got) != uint64(round*1000+i) {
						t.Fatalf("round %d: key %x: value %x, want %d", round, keyOf(i), got, round*1000+i)
					}
				}
			}
			// Forced hash collisions: a key looked up under another key's
			// hash must not match that key's entry (the compare itself).
			hm := m.(*hashMap)
			for i := range n {
				j := (i + 1) % n
				if e := hm.findHashed(keyOf(j), hm.hashOf(keyOf(i))); e != nil {
					t.Fatalf("key %x under the hash of %x found entry %x", keyOf(j), keyOf(i), e.key)
				}
			}
			if got := m.ProgLookup(make([]byte, ks), 0); got != nil {
				t.Fatalf("zero key (never stored) found: %x", got)
			}
			v := make([]byte, 8)
			if err := m.ProgUpdate(make([]byte, ks), v, UpdateExist, 0); !errors.Is(err, ErrKeyNotExist) {
				t.Fatalf("BPF_EXIST update of an absent key: %v, want ENOENT", err)
			}
			if err := m.ProgUpdate(keyOf(1), v, UpdateNoExist, 0); !errors.Is(err, ErrKeyExist) {
				t.Fatalf("BPF_NOEXIST update of a present key: %v, want EEXIST", err)
			}
			if err := m.ProgUpdate(keyOf(1), v, 4, 0); !errors.Is(err, ErrInvalid) {
				t.Fatalf("update with BPF_F_LOCK on a map without a lock: %v, want EINVAL", err)
			}
			if err := m.ProgUpdate(keyOf(1), v, 8, 0); !errors.Is(err, ErrInvalid) {
				t.Fatalf("update with unknown flags: %v, want EINVAL", err)
			}
			checkIndex(t, m)
		})
	}
}
