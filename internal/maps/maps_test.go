package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"
)

func mustNew(t testing.TB, spec Spec) Map {
	t.Helper()
	if spec.SpinLockOffset == 0 {
		spec.SpinLockOffset = -1
	}
	m, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestErrnoValues(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Errno
	}{{nil, 0}, {ErrKeyNotExist, ENOENT}, {ErrKeyExist, EEXIST}, {ErrMapFull, E2BIG}, {ErrInvalid, EINVAL}, {errors.New("other"), EINVAL}} {
		if got := Errnum(c.err); got != c.want {
			t.Errorf("Errnum(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if r := Ret(ErrKeyNotExist); int64(r) != -2 {
		t.Errorf("Ret(ENOENT) = %#x, want -2", r)
	}
}

func TestHashProgramSide(t *testing.T) {
	m := mustNew(t, Spec{Name: "h", Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 2})
	if v := m.ProgLookup(u32(1), 0); v != nil {
		t.Fatal("lookup of absent key returned memory")
	}
	if err := m.ProgUpdate(u32(1), []byte{1, 2, 3, 4, 5, 6, 7, 8}, UpdateAny, 0); err != nil {
		t.Fatal(err)
	}
	v := m.ProgLookup(u32(1), 0)
	if !bytes.Equal(v, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("lookup = %x", v)
	}
	// Writes through the returned memory are the map's value.
	v[0] = 42
	out := make([]byte, 8)
	if err := m.Lookup(u32(1), out, 0); err != nil || out[0] != 42 {
		t.Fatalf("host lookup after program write: %x %v", out, err)
	}
	// Deleting keeps the old memory valid and unchanged for the holder.
	if err := m.ProgDelete(u32(1)); err != nil {
		t.Fatal(err)
	}
	if v[0] != 42 || len(v) != 8 {
		t.Fatal("deleted value memory changed")
	}
	if err := m.ProgDelete(u32(1)); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("second delete: %v", err)
	}
	// Full map: E2BIG for a new key, replacement still allowed.
	m.ProgUpdate(u32(1), make([]byte, 8), 0, 0)
	m.ProgUpdate(u32(2), make([]byte, 8), 0, 0)
	if err := m.ProgUpdate(u32(3), make([]byte, 8), 0, 0); !errors.Is(err, ErrMapFull) {
		t.Fatalf("update of full map: %v", err)
	}
	if err := m.ProgUpdate(u32(2), make([]byte, 8), UpdateExist, 0); err != nil {
		t.Fatalf("replace in full map: %v", err)
	}
	// Wrong sizes are errors, never panics.
	if err := m.Update(u32(1)[:2], make([]byte, 8), 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short key: %v", err)
	}
	if err := m.Lookup(u32(1), make([]byte, 3), 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short value: %v", err)
	}
}

func TestPerCPUProgramSide(t *testing.T) {
	for _, typ := range []Type{PerCPUHash, PerCPUArray, LRUPerCPUHash} {
		m := mustNew(t, Spec{Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 4, NumCPU: 3})
		if m.HostValueSize() != 24 {
			t.Fatalf("%s host value size %d, want 24", typ, m.HostValueSize())
		}
		if err := m.ProgUpdate(u32(1), u32(7), 0, 2); err != nil {
			t.Fatal(err)
		}
		host := make([]byte, 24)
		if err := m.Lookup(u32(1), host, 0); err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 24)
		binary.LittleEndian.PutUint32(want[16:], 7)
		if !bytes.Equal(host, want) {
			t.Errorf("%s after program update on CPU 2: %x, want %x", typ, host, want)
		}
		binary.LittleEndian.PutUint32(host[0:], 5)
		if err := m.Update(u32(1), host, 0); err != nil {
			t.Fatal(err)
		}
		if v := m.ProgLookup(u32(1), 0); binary.LittleEndian.Uint32(v) != 5 {
			t.Errorf("%s CPU 0 value %x, want 5", typ, v)
		}
		if v := m.ProgLookup(u32(1), 2); binary.LittleEndian.Uint32(v) != 7 {
			t.Errorf("%s CPU 2 value %x, want 7", typ, v)
		}
	}
}

func TestLRUKeepsReferenced(t *testing.T) {
	m := mustNew(t, Spec{Type: LRUHash, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	for i := uint32(0); i < 4; i++ {
		m.Update(u32(i), u32(i), 0)
	}
	m.ProgLookup(u32(0), 0) // referenced: survives the next eviction
	m.Update(u32(10), u32(10), 0)
	if m.ProgLookup(u32(0), 0) == nil {
		t.Error("referenced key 0 was evicted")
	}
	if m.ProgLookup(u32(1), 0) != nil {
		t.Error("least recently used key 1 survived")
	}
}

func TestArrayDirectValue(t *testing.T) {
	m := mustNew(t, Spec{Type: Array, KeySize: 4, ValueSize: 12, MaxEntries: 2})
	v := m.(DirectValue).Value(1)
	copy(v, "hello world!")
	out := make([]byte, 12)
	m.Lookup(u32(1), out, 0)
	if string(out) != "hello world!" {
		t.Fatalf("value %q", out)
	}
	if cap(v) != 12 {
		t.Errorf("value slice capacity %d lets a program reach the next element", cap(v))
	}
	if m.(DirectValue).Value(2) != nil || m.ProgLookup(u32(2), 0) != nil {
		t.Error("out-of-range element returned")
	}
}

func TestProgArrayAndMapInMap(t *testing.T) {
	reg := NewRegistry()
	pa := mustNew(t, Spec{Type: ProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 4, Registry: reg})
	prog := "the program"
	id := reg.AddProgram(prog)
	if err := pa.Update(u32(1), u32(id), 0); err != nil {
		t.Fatal(err)
	}
	if err := pa.Update(u32(1), u32(id+5), 0); !errors.Is(err, ErrBadFD) {
		t.Fatalf("unknown program id: %v", err)
	}
	if err := pa.Update(u32(4), u32(id), 0); !errors.Is(err, ErrMapFull) {
		t.Fatalf("index out of range: %v", err)
	}
	if p, ok := pa.(ProgramArray).ProgramAt(1); !ok || p != prog {
		t.Fatalf("ProgramAt(1) = %v %v", p, ok)
	}
	if _, ok := pa.(ProgramArray).ProgramAt(0); ok {
		t.Fatal("empty slot returned a program")
	}

	inner := Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1}
	for _, typ := range []Type{ArrayOfMaps, HashOfMaps} {
		mm := mustNew(t, Spec{Type: typ, KeySize: 4, ValueSize: 4, MaxEntries: 2, InnerMap: &inner, Registry: reg})
		a := mustNew(t, inner)
		aid := reg.AddMap(a)
		wrong := mustNew(t, Spec{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
		wid := reg.AddMap(wrong)
		if err := mm.Update(u32(0), u32(wid), 0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("%s: incompatible inner map accepted: %v", typ, err)
		}
		if err := mm.Update(u32(0), u32(aid), 0); err != nil {
			t.Fatal(err)
		}
		got, gid, ok := mm.(MapOfMaps).InnerMapAt(u32(0))
		if !ok || got != a || gid != aid {
			t.Fatalf("%s: InnerMapAt = %v %d %v", typ, got, gid, ok)
		}
		h := Handle(gid)
		if m, err := reg.MapByHandle(h); err != nil || m != a {
			t.Fatalf("MapByHandle: %v %v", m, err)
		}
		out := make([]byte, 4)
		if err := mm.Lookup(u32(0), out, 0); err != nil || binary.LittleEndian.Uint32(out) != aid {
			t.Fatalf("%s host lookup gives id %x %v, want %d", typ, out, err, aid)
		}
	}
	if _, err := reg.MapByHandle(0x1000); err == nil {
		t.Fatal("plain address accepted as a map handle")
	}
}

func TestQueueOverwrite(t *testing.T) {
	q := mustNew(t, Spec{Type: Queue, ValueSize: 1, MaxEntries: 2}).(PushPopper)
	q.Push([]byte{1}, 0)
	q.Push([]byte{2}, 0)
	if err := q.Push([]byte{3}, 0); !errors.Is(err, ErrMapFull) {
		t.Fatalf("push to full queue: %v", err)
	}
	if err := q.Push([]byte{3}, UpdateExist); err != nil {
		t.Fatal(err)
	}
	v := make([]byte, 1)
	for _, want := range []byte{2, 3} {
		if err := q.Pop(v); err != nil || v[0] != want {
			t.Fatalf("pop = %d %v, want %d", v[0], err, want)
		}
	}
	if err := q.Pop(v); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("pop of empty queue: %v", err)
	}
}

func TestRingBuffer(t *testing.T) {
	m := mustNew(t, Spec{Type: RingBuf, MaxEntries: 4096})
	rb := m.(RingBuffer)
	r, err := NewRingReader(m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := rb.Reserve(10, 0)
	b := rb.Reserve(3, 0)
	if a == nil || b == nil {
		t.Fatal("reserve failed")
	}
	copy(a, "0123456789")
	copy(b, "abc")
	if got := rb.Query(RBAvailData); got != 24+16 {
		t.Errorf("available data %d, want 40", got)
	}
	// b is submitted first but a, reserved first, holds it back.
	if err := rb.Commit(addrOf(b), false, 0); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.TryRead(); ok {
		t.Fatal("record read past an unsubmitted one")
	}
	if err := rb.Commit(addrOf(a), true, 0); err != nil {
		t.Fatal(err)
	}
	if d, ok := r.TryRead(); !ok || string(d) != "abc" {
		t.Fatalf("read %q %v, want abc (a was discarded)", d, ok)
	}
	if err := rb.Commit(addrOf(b), false, 0); err == nil {
		t.Fatal("double submit accepted")
	}
	// Capacity: a record fits while prod-cons stays below the size.
	n := 0
	for rb.Reserve(4088-8, 0) != nil {
		n++
	}
	if n != 1 {
		t.Fatalf("reserved %d records of 4080 bytes in a 4096-byte ring, want 1", n)
	}
	if rb.Output([]byte("x"), 0) == nil {
		t.Fatal("output into a full ring succeeded")
	}
	if Errnum(rb.Output([]byte("x"), 0)) != EAGAIN {
		t.Fatal("full ring output is not EAGAIN")
	}
	r.SetDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := r.Read(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read with deadline: %v", err)
	}
}

func TestRingBufferBlockingRead(t *testing.T) {
	m := mustNew(t, Spec{Type: RingBuf, MaxEntries: 8192})
	r, _ := NewRingReader(m)
	done := make(chan []byte)
	go func() {
		d, _ := r.Read()
		done <- d
	}()
	time.Sleep(5 * time.Millisecond)
	if err := m.(RingBuffer).Output([]byte("ping"), 0); err != nil {
		t.Fatal(err)
	}
	if d := <-done; string(d) != "ping" {
		t.Fatalf("read %q", d)
	}
	go func() { time.Sleep(5 * time.Millisecond); r.Close() }()
	if _, err := r.Read(); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestPerfEventArray(t *testing.T) {
	m := mustNew(t, Spec{Type: PerfEventArray, KeySize: 4, ValueSize: 4, NumCPU: 2})
	pe := m.(PerfEvents)
	if err := pe.Output(0, PerfCurrentCPU, []byte("x")); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("output without reader: %v", err)
	}
	r, err := NewPerfReader(m, 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := pe.Output(1, PerfCurrentCPU, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := pe.Output(1, 0, []byte("x")); Errnum(err) != EOPNOTSUPP {
		t.Fatalf("output to another CPU's event: %v", err)
	}
	if err := pe.Output(0, 2, []byte("x")); !errors.Is(err, ErrMapFull) {
		t.Fatalf("output beyond max_entries: %v", err)
	}
	// 8+4+5 -> 24 bytes used of 32: the next 16-byte sample is lost.
	if err := pe.Output(1, PerfCurrentCPU, []byte("y")); Errnum(err) != ENOSPC {
		t.Fatalf("output into a full buffer: %v", err)
	}
	rec, err := r.Read()
	if err != nil || rec.LostSamples != 1 || rec.CPU != 1 {
		t.Fatalf("first record %+v %v, want 1 lost on CPU 1", rec, err)
	}
	rec, _ = r.Read()
	if string(rec.RawSample) != "hello" || rec.CPU != 1 {
		t.Fatalf("second record %+v", rec)
	}
	r.Close()
	if err := pe.Output(1, PerfCurrentCPU, []byte("x")); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("output after close: %v", err)
	}
}

func TestUnsupportedTypes(t *testing.T) {
	if _, err := New(Spec{Type: SockMap, KeySize: 4, ValueSize: 4, MaxEntries: 1}); !errors.Is(err, ErrNotSupported) {
		t.Errorf("sockmap: %v", err)
	}
	if _, err := New(Spec{Type: 999, KeySize: 4, ValueSize: 4, MaxEntries: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("type 999: %v", err)
	}
}

// TestConcurrent exercises every map type from many goroutines; run with
// -race.
func TestConcurrent(t *testing.T) {
	reg := NewRegistry()
	inner := Spec{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 1, SpinLockOffset: -1}
	specs := []Spec{
		{Type: Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Type: LRUHash, KeySize: 4, ValueSize: 8, MaxEntries: 8},
		{Type: PerCPUHash, KeySize: 4, ValueSize: 8, MaxEntries: 16, NumCPU: 4},
		{Type: Array, KeySize: 4, ValueSize: 8, MaxEntries: 16},
		{Type: PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 16, NumCPU: 4},
		{Type: LPMTrie, KeySize: 8, ValueSize: 8, MaxEntries: 16, Flags: FlagNoPrealloc},
		{Type: HashOfMaps, KeySize: 4, ValueSize: 4, MaxEntries: 16, InnerMap: &inner, Registry: reg},
	}
	for _, s := range specs {
		m := mustNew(t, s)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				key := make([]byte, s.KeySize)
				val := make([]byte, m.HostValueSize())
				next := make([]byte, s.KeySize)
				for i := 0; i < 300; i++ {
					binary.LittleEndian.PutUint32(key, uint32(i%20))
					m.Update(key, val, 0)
					m.Lookup(key, val, 0)
					m.ProgLookup(key, g)
					m.NextKey(key, next)
					m.Delete(key)
				}
			}(g)
		}
		wg.Wait()
	}
	q := mustNew(t, Spec{Type: Queue, ValueSize: 8, MaxEntries: 16})
	rb := mustNew(t, Spec{Type: RingBuf, MaxEntries: 4096})
	rr, _ := NewRingReader(rb)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v := make([]byte, 8)
			for i := 0; i < 300; i++ {
				q.Update(nil, v, 2)
				q.LookupAndDelete(nil, v, 0)
				if r := rb.(RingBuffer).Reserve(16, 0); r != nil {
					rb.(RingBuffer).Commit(addrOf(r), i%2 == 0, 0)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 300; i++ {
				rr.TryRead()
			}
		}()
	}
	wg.Wait()
}

// FuzzMapOps drives maps with arbitrary operations: nothing may panic and
// the host must read back what it wrote.
func FuzzMapOps(f *testing.F) {
	f.Add(uint8(1), uint8(4), uint8(8), uint8(4), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(uint8(11), uint8(8), uint8(4), uint8(8), []byte{0x20, 0, 0, 0, 10, 0, 0, 1})
	f.Add(uint8(22), uint8(0), uint8(4), uint8(3), []byte{1, 1, 1, 2, 2})
	f.Fuzz(func(t *testing.T, typ, ks, vs, max uint8, ops []byte) {
		spec := Spec{Type: Type(typ % 40), KeySize: uint32(ks), ValueSize: uint32(vs), MaxEntries: uint32(max), Flags: FlagNoPrealloc, NumCPU: 2, SpinLockOffset: -1, Registry: NewRegistry()}
		if spec.Type != LPMTrie {
			spec.Flags = 0
		}
		m, err := New(spec)
		if err != nil {
			return
		}
		key := make([]byte, ks)
		val := make([]byte, m.HostValueSize())
		for i, op := range ops {
			if len(key) > 0 {
				key[i%len(key)] = op
			}
			if len(val) > 0 {
				val[i%len(val)] = op
			}
			switch op % 6 {
			case 0:
				if m.Update(key, val, uint64(op>>4)&3) == nil && spec.Type == Hash {
					got := make([]byte, len(val))
					if err := m.Lookup(key, got, 0); err != nil || !bytes.Equal(got, val) {
						t.Fatalf("read back %x %v, wrote %x", got, err, val)
					}
				}
			case 1:
				m.Lookup(key, val, 0)
			case 2:
				m.Delete(key)
			case 3:
				m.NextKey(key, make([]byte, ks))
			case 4:
				m.ProgLookup(key, int(op))
			case 5:
				m.ProgUpdate(key, make([]byte, vs), uint64(op>>4)&3, int(op))
			}
		}
	})
}
