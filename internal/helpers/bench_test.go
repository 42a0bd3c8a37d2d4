package helpers

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/bpfvm/bpfvm/internal/maps"
)

// BenchmarkMapHelpers calls the map helpers directly (no engine): the
// cost of a helper's own work per call, the part of a program's map
// access that is not the engine's call into it. cpu-ns/op is the
// thread's CPU time, meaningful on a loaded machine.
func BenchmarkMapHelpers(b *testing.B) {
	host := &Host{Registry: maps.NewRegistry(), NumCPU: 2}
	mk := func(typ maps.Type) uint64 {
		m, err := maps.New(maps.Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 64, NumCPU: 2, SpinLockOffset: -1})
		if err != nil {
			b.Fatal(err)
		}
		for k := uint32(0); k < 16; k++ {
			var key [4]byte
			binary.LittleEndian.PutUint32(key[:], k)
			if err := m.Update(key[:], make([]byte, m.HostValueSize()), 0); err != nil {
				b.Fatal(err)
			}
		}
		return maps.Handle(host.Registry.AddMap(m))
	}
	hash, array := mk(maps.Hash), mk(maps.Array)
	env := &memEnv{buf: make([]byte, 64)}
	key, val := env.addr(), env.addr()+8
	s := NewState(host, 0)
	for _, c := range []struct {
		name string
		call func(i int) (uint64, error)
	}{
		{"hash_lookup_hit", func(i int) (uint64, error) {
			env.buf[0] = byte(i & 15)
			return s.mapLookupElem(env, hash, key, 0, 0, 0)
		}},
		{"hash_lookup_miss", func(i int) (uint64, error) {
			env.buf[0] = byte(i&15) + 32
			return s.mapLookupElem(env, hash, key, 0, 0, 0)
		}},
		{"hash_update", func(i int) (uint64, error) {
			env.buf[0] = byte(i & 15)
			return s.mapUpdateElem(env, hash, key, val, 0, 0)
		}},
		{"array_lookup", func(i int) (uint64, error) {
			env.buf[0] = byte(i & 15)
			return s.mapLookupElem(env, array, key, 0, 0, 0)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu0 := threadCPUTime()
			for i := 0; b.Loop(); i++ {
				if i&255 == 0 {
					s.Reset() // a run of 256 calls
				}
				if _, err := c.call(i); err != nil {
					b.Fatal(err)
				}
			}
			if cpu := threadCPUTime() - cpu0; cpu0 > 0 && cpu > 0 {
				b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
