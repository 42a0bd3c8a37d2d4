package maps

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// kernelMap creates the same map in the running kernel, or skips the test
// when bpf() is unavailable.
func kernelMap(t *testing.T, spec Spec) *ebpf.Map {
	t.Helper()
	km, err := ebpf.NewMap(&ebpf.MapSpec{
		Type:       ebpf.MapType(spec.Type),
		KeySize:    spec.KeySize,
		ValueSize:  spec.ValueSize,
		MaxEntries: spec.MaxEntries,
		Flags:      spec.Flags,
	})
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("kernel oracle unavailable (bpf() needs root on Linux): %v", err)
		}
		t.Fatalf("kernel refused map %+v: %v", spec, err)
	}
	t.Cleanup(func() { km.Close() })
	return km
}

// kernelAvailable skips the test when no map can be created in the kernel.
func kernelAvailable(t *testing.T) {
	kernelMap(t, Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
}

// kmap adapts a kernel map to bpfvm's host byte layout: per-CPU values as
// one padded value per CPU, a nil key as "no key".
type kmap struct {
	m    *ebpf.Map
	ncpu int // 0: not per-CPU
	vs   int
}

func wrapKernel(m *ebpf.Map, spec Spec) *kmap {
	k := &kmap{m: m, vs: int(spec.ValueSize)}
	switch spec.Type {
	case PerCPUHash, PerCPUArray, LRUPerCPUHash:
		k.ncpu = spec.NumCPU
	}
	return k
}

func anyKey(k []byte) any {
	if k == nil {
		return nil
	}
	return k
}

func (k *kmap) split(v []byte) any {
	if k.ncpu == 0 {
		return v
	}
	out := make([][]byte, k.ncpu)
	stride := roundUp8(uint32(k.vs))
	for c := range out {
		out[c] = v[c*stride : c*stride+k.vs]
	}
	return out
}

func (k *kmap) out(v []byte) (any, func()) {
	if k.ncpu == 0 {
		return v, func() {}
	}
	parts := make([][]byte, k.ncpu)
	for c := range parts {
		parts[c] = make([]byte, k.vs)
	}
	stride := roundUp8(uint32(k.vs))
	return parts, func() {
		for c := range parts {
			copy(v[c*stride:], parts[c])
		}
	}
}

func (k *kmap) Update(key, v []byte, f uint64) error {
	return k.m.Update(anyKey(key), k.split(v), ebpf.MapUpdateFlags(f))
}
func (k *kmap) Lookup(key, v []byte) error {
	o, done := k.out(v)
	err := k.m.Lookup(anyKey(key), o)
	done()
	return err
}
func (k *kmap) LookupAndDelete(key, v []byte) error {
	o, done := k.out(v)
	err := k.m.LookupAndDelete(anyKey(key), o)
	done()
	return err
}
func (k *kmap) Delete(key []byte) error        { return k.m.Delete(anyKey(key)) }
func (k *kmap) NextKey(key, next []byte) error { return k.m.NextKey(anyKey(key), next) }

// kerrno extracts the errno of a cilium/ebpf error.
func kerrno(err error) Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return Errno(e)
	}
	return -1
}

func possibleCPUs(t *testing.T) int {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		t.Skipf("cannot count possible CPUs: %v", err)
	}
	return n
}

// diffOps runs the same random operations on a bpfvm map and a kernel map,
// comparing every errno and every value read.
func diffOps(t *testing.T, spec Spec, keys int, ops int, seed int64) {
	spec.NumCPU = possibleCPUs(t)
	spec.SpinLockOffset = -1
	km := wrapKernel(kernelMap(t, spec), spec)
	vm := mustNew(t, spec)
	rng := rand.New(rand.NewSource(seed))
	hvs := vm.HostValueSize()
	key := func() []byte {
		k := make([]byte, spec.KeySize)
		binary.LittleEndian.PutUint32(k, uint32(rng.Intn(keys)))
		return k
	}
	flagsChoice := []uint64{UpdateAny, UpdateNoExist, UpdateExist, UpdateAny, UpdateNoExist, UpdateExist, 3, UpdateLock, 8}
	for i := 0; i < ops; i++ {
		k := key()
		switch op := rng.Intn(5); op {
		case 0, 1:
			v := make([]byte, hvs)
			rng.Read(v)
			f := flagsChoice[rng.Intn(len(flagsChoice))]
			ke := kerrno(km.Update(k, v, f))
			ve := Errnum(vm.Update(k, v, f))
			if ke != ve {
				t.Fatalf("op %d: update key %x flags %d: kernel errno %d, bpfvm %d", i, k, f, ke, ve)
			}
		case 2:
			ke := kerrno(km.Delete(k))
			ve := Errnum(vm.Delete(k))
			if ke != ve {
				t.Fatalf("op %d: delete key %x: kernel errno %d, bpfvm %d", i, k, ke, ve)
			}
		case 3:
			kv, vv := make([]byte, hvs), make([]byte, hvs)
			ke := kerrno(km.Lookup(k, kv))
			ve := Errnum(vm.Lookup(k, vv, 0))
			if ke != ve || !bytes.Equal(kv, vv) {
				t.Fatalf("op %d: lookup key %x: kernel errno %d value %x, bpfvm %d value %x", i, k, ke, kv, ve, vv)
			}
		case 4:
			kv, vv := make([]byte, hvs), make([]byte, hvs)
			ke := kerrno(km.LookupAndDelete(k, kv))
			ve := Errnum(vm.LookupAndDelete(k, vv, 0))
			if ke != ve || (ke == 0 && !bytes.Equal(kv, vv)) {
				t.Fatalf("op %d: lookup-and-delete key %x: kernel errno %d value %x, bpfvm %d value %x", i, k, ke, kv, ve, vv)
			}
		}
	}
	compareContents(t, km, vm)
}

// contents reads a map by iteration: key -> value.
func contents(t *testing.T, next func(k, n []byte) error, lookup func(k, v []byte) error, ks, vs int) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var k []byte
	for n := 0; ; n++ {
		nk := make([]byte, ks)
		if err := next(k, nk); err != nil {
			if Errnum(err) == ENOENT || kerrno(err) == ENOENT {
				break
			}
			t.Fatalf("next key: %v", err)
		}
		if _, dup := out[string(nk)]; dup {
			t.Fatalf("iteration visited key %x twice", nk)
		}
		v := make([]byte, vs)
		if err := lookup(nk, v); err != nil {
			t.Fatalf("lookup during iteration: %v", err)
		}
		out[string(nk)] = v
		k = nk
		if n > 1<<16 {
			t.Fatal("iteration does not end")
		}
	}
	return out
}

func compareContents(t *testing.T, km *kmap, vm Map) {
	t.Helper()
	s := vm.Spec()
	hvs := vm.HostValueSize()
	kc := contents(t, km.NextKey, km.Lookup, int(s.KeySize), hvs)
	vc := contents(t, vm.NextKey, func(k, v []byte) error { return vm.Lookup(k, v, 0) }, int(s.KeySize), hvs)
	if len(kc) != len(vc) {
		t.Fatalf("kernel map has %d entries, bpfvm %d", len(kc), len(vc))
	}
	for k, v := range kc {
		if !bytes.Equal(vc[k], v) {
			t.Fatalf("key %x: kernel %x, bpfvm %x", k, v, vc[k])
		}
	}
}

func TestKernelDiffHash(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		diffOps(t, Spec{Type: Hash, KeySize: 4, ValueSize: 12, MaxEntries: 8}, 14, 3000, seed)
		diffOps(t, Spec{Type: Hash, KeySize: 4, ValueSize: 3, MaxEntries: 5, Flags: FlagNoPrealloc}, 9, 2000, seed)
	}
}

func TestKernelDiffPerCPUHash(t *testing.T) {
	diffOps(t, Spec{Type: PerCPUHash, KeySize: 4, ValueSize: 12, MaxEntries: 6}, 10, 2000, 7)
}

func TestKernelDiffArray(t *testing.T) {
	diffOps(t, Spec{Type: Array, KeySize: 4, ValueSize: 5, MaxEntries: 6}, 9, 2000, 3)
	diffOps(t, Spec{Type: PerCPUArray, KeySize: 4, ValueSize: 12, MaxEntries: 6}, 9, 2000, 4)
}

func TestKernelDiffQueueStack(t *testing.T) {
	for _, typ := range []Type{Queue, Stack} {
		spec := Spec{Type: typ, ValueSize: 6, MaxEntries: 5, SpinLockOffset: -1}
		km := wrapKernel(kernelMap(t, spec), spec)
		vm := mustNew(t, spec)
		rng := rand.New(rand.NewSource(int64(typ)))
		for i := 0; i < 3000; i++ {
			switch rng.Intn(3) {
			case 0:
				v := make([]byte, 6)
				rng.Read(v)
				f := []uint64{0, 0, 1, 2, 2, 3}[rng.Intn(6)]
				ke, ve := kerrno(km.Update(nil, v, f)), Errnum(vm.Update(nil, v, f))
				if ke != ve {
					t.Fatalf("%s op %d: push flags %d: kernel errno %d, bpfvm %d", typ, i, f, ke, ve)
				}
			case 1:
				kv, vv := make([]byte, 6), make([]byte, 6)
				ke, ve := kerrno(km.LookupAndDelete(nil, kv)), Errnum(vm.LookupAndDelete(nil, vv, 0))
				if ke != ve || !bytes.Equal(kv, vv) {
					t.Fatalf("%s op %d: pop: kernel %d %x, bpfvm %d %x", typ, i, ke, kv, ve, vv)
				}
			case 2:
				kv, vv := make([]byte, 6), make([]byte, 6)
				ke, ve := kerrno(km.Lookup(nil, kv)), Errnum(vm.Lookup(nil, vv, 0))
				if ke != ve || !bytes.Equal(kv, vv) {
					t.Fatalf("%s op %d: peek: kernel %d %x, bpfvm %d %x", typ, i, ke, kv, ve, vv)
				}
			}
		}
		if ke, ve := kerrno(km.Delete(nil)), Errnum(vm.Delete(nil)); ke != ve {
			t.Errorf("%s delete: kernel errno %d, bpfvm %d", typ, ke, ve)
		}
	}
}

func lpmKey(plen uint32, ip uint32) []byte {
	k := u32(plen)
	return binary.BigEndian.AppendUint32(k, ip)
}

func TestKernelDiffLPMTrie(t *testing.T) {
	spec := Spec{Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 24, Flags: FlagNoPrealloc, SpinLockOffset: -1}
	km := wrapKernel(kernelMap(t, spec), spec)
	vm := mustNew(t, spec)
	rng := rand.New(rand.NewSource(11))
	// Prefixes drawn from a few clustered addresses so they nest and share
	// branches.
	bases := []uint32{0x0a000000, 0x0a010000, 0x0a0100ff, 0xc0a80000, 0xc0a80101, 0x80000000, 0}
	randKey := func() []byte {
		plen := uint32(rng.Intn(34)) // 33: beyond max, EINVAL on update
		ip := bases[rng.Intn(len(bases))] ^ uint32(rng.Intn(4))<<uint(rng.Intn(32))
		return lpmKey(plen, ip)
	}
	for i := 0; i < 4000; i++ {
		k := randKey()
		switch rng.Intn(4) {
		case 0, 1:
			v := u32(rng.Uint32())
			f := uint64(rng.Intn(4))
			ke, ve := kerrno(km.Update(k, v, f)), Errnum(vm.Update(k, v, f))
			if ke != ve {
				t.Fatalf("op %d: update %x flags %d: kernel errno %d, bpfvm %d", i, k, f, ke, ve)
			}
		case 2:
			ke, ve := kerrno(km.Delete(k)), Errnum(vm.Delete(k))
			if ke != ve {
				t.Fatalf("op %d: delete %x: kernel errno %d, bpfvm %d", i, k, ke, ve)
			}
		case 3:
			kv, vv := make([]byte, 4), make([]byte, 4)
			ke, ve := kerrno(km.Lookup(k, kv)), Errnum(vm.Lookup(k, vv, 0))
			if ke != ve || !bytes.Equal(kv, vv) {
				t.Fatalf("op %d: lookup %x: kernel %d %x, bpfvm %d %x", i, k, ke, kv, ve, vv)
			}
		}
		if i%97 == 0 {
			compareOrder(t, km, vm, 8)
		}
	}
	compareOrder(t, km, vm, 8)
}

// compareOrder checks that NextKey walks both maps in the same order,
// starting from nil and from absent keys.
func compareOrder(t *testing.T, km *kmap, vm Map, ks int) {
	t.Helper()
	var kk, vk []byte
	for n := 0; ; n++ {
		kn, vn := make([]byte, ks), make([]byte, ks)
		ke, ve := kerrno(km.NextKey(kk, kn)), Errnum(vm.NextKey(vk, vn))
		if ke != ve || (ke == 0 && !bytes.Equal(kn, vn)) {
			t.Fatalf("iteration step %d after %x: kernel %d %x, bpfvm %d %x", n, kk, ke, kn, ve, vn)
		}
		if ke != 0 {
			return
		}
		kk, vk = kn, vn
	}
}

func TestKernelNextKeyEdges(t *testing.T) {
	kernelAvailable(t)
	spec := Spec{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 3, SpinLockOffset: -1}
	km, vm := wrapKernel(kernelMap(t, spec), spec), mustNew(t, spec)
	for _, k := range [][]byte{nil, u32(0), u32(1), u32(2), u32(3), u32(1000)} {
		kn, vn := make([]byte, 4), make([]byte, 4)
		ke, ve := kerrno(km.NextKey(k, kn)), Errnum(vm.NextKey(k, vn))
		if ke != ve || !bytes.Equal(kn, vn) {
			t.Errorf("array next after %x: kernel %d %x, bpfvm %d %x", k, ke, kn, ve, vn)
		}
	}
	hs := Spec{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 3, SpinLockOffset: -1}
	kh, vh := wrapKernel(kernelMap(t, hs), hs), mustNew(t, hs)
	kn, vn := make([]byte, 4), make([]byte, 4)
	if ke, ve := kerrno(kh.NextKey(nil, kn)), Errnum(vh.NextKey(nil, vn)); ke != ve {
		t.Errorf("empty hash first key: kernel %d, bpfvm %d", ke, ve)
	}
	for _, m := range []func(k, v []byte) error{
		func(k, v []byte) error { return kh.Update(k, v, 0) },
		func(k, v []byte) error { return vh.Update(k, v, 0) },
	} {
		if err := m(u32(7), u32(1)); err != nil {
			t.Fatal(err)
		}
	}
	// An absent key restarts the iteration at the first key.
	ke, ve := kerrno(kh.NextKey(u32(99), kn)), Errnum(vh.NextKey(u32(99), vn))
	if ke != ve || !bytes.Equal(kn, vn) {
		t.Errorf("hash next after absent key: kernel %d %x, bpfvm %d %x", ke, kn, ve, vn)
	}
}

func TestKernelLRUEviction(t *testing.T) {
	for _, typ := range []Type{LRUHash, LRUPerCPUHash} {
		spec := Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 64, NumCPU: possibleCPUs(t), SpinLockOffset: -1}
		km, vm := wrapKernel(kernelMap(t, spec), spec), mustNew(t, spec)
		v := make([]byte, vm.HostValueSize())
		for i := uint32(0); i < 1000; i++ {
			binary.LittleEndian.PutUint64(v, uint64(i))
			if err := km.Update(u32(i), v, 0); err != nil {
				t.Fatalf("kernel update %d: %v", i, err)
			}
			if err := vm.Update(u32(i), v, 0); err != nil {
				t.Fatalf("bpfvm update %d: %v", i, err)
			}
			// In both, an LRU map never refuses an insert, never holds
			// more than max_entries and keeps the newest element.
			for name, lookup := range map[string]func(k, v []byte) error{
				"kernel": func(k, v []byte) error { return km.Lookup(k, v) },
				"bpfvm":  func(k, v []byte) error { return vm.Lookup(k, v, 0) },
			} {
				got := make([]byte, len(v))
				if err := lookup(u32(i), got); err != nil || !bytes.Equal(got, v) {
					t.Fatalf("%s %s: newest key %d missing after insert: %v", typ, name, i, err)
				}
			}
		}
		count := func(next func(k, n []byte) error) int {
			n := 0
			var k []byte
			for {
				nk := make([]byte, 4)
				if next(k, nk) != nil {
					return n
				}
				k = nk
				n++
			}
		}
		kc := count(km.NextKey)
		vc := count(vm.NextKey)
		if kc > 64 || vc > 64 || vc == 0 {
			t.Errorf("%s: kernel holds %d, bpfvm %d entries (max 64)", typ, kc, vc)
		}
		// Explicit deletes and BPF_NOEXIST/BPF_EXIST behave as in a hash.
		for _, f := range []uint64{UpdateNoExist, UpdateExist} {
			ke, ve := kerrno(km.Update(u32(999), v, f)), Errnum(vm.Update(u32(999), v, f))
			if ke != ve {
				t.Errorf("%s update existing key flags %d: kernel %d, bpfvm %d", typ, f, ke, ve)
			}
		}
	}
}

// TestKernelCreateChecks compares which map specs the kernel accepts.
func TestKernelCreateChecks(t *testing.T) {
	kernelAvailable(t)
	specs := []Spec{
		{Type: Hash, KeySize: 0, ValueSize: 4, MaxEntries: 1},
		{Type: Hash, KeySize: 4, ValueSize: 0, MaxEntries: 1},
		{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 0},
		{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagMmapable},
		{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagRdonlyProg | FlagWronlyProg},
		{Type: Hash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagRdonlyProg},
		{Type: Array, KeySize: 8, ValueSize: 4, MaxEntries: 1},
		{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc},
		{Type: Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagMmapable},
		{Type: PerCPUArray, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagMmapable},
		{Type: LRUHash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc},
		{Type: LRUHash, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoCommonLRU},
		{Type: Queue, KeySize: 4, ValueSize: 4, MaxEntries: 1},
		{Type: Queue, KeySize: 0, ValueSize: 4, MaxEntries: 0},
		{Type: Stack, KeySize: 0, ValueSize: 4, MaxEntries: 2},
		{Type: RingBuf, MaxEntries: 4096},
		{Type: RingBuf, MaxEntries: 4096 * 3},
		{Type: RingBuf, MaxEntries: 2048},
		{Type: RingBuf, KeySize: 4, MaxEntries: 4096},
		{Type: LPMTrie, KeySize: 8, ValueSize: 4, MaxEntries: 1},
		{Type: LPMTrie, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc},
		{Type: LPMTrie, KeySize: 261, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc},
		{Type: LPMTrie, KeySize: 260, ValueSize: 4, MaxEntries: 1, Flags: FlagNoPrealloc},
		{Type: ProgArray, KeySize: 4, ValueSize: 8, MaxEntries: 1},
		{Type: StackTrace, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Type: StackTrace, KeySize: 4, ValueSize: 12, MaxEntries: 4},
		{Type: StackTrace, KeySize: 8, ValueSize: 8, MaxEntries: 4},
		{Type: DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		{Type: DevMap, KeySize: 4, ValueSize: 2, MaxEntries: 4},
		{Type: DevMapHash, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Type: CPUMap, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		{Type: CgroupArray, KeySize: 4, ValueSize: 4, MaxEntries: 4},
		{Type: CgroupArray, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Type: ProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 1, Flags: FlagRdonlyProg},
	}
	for _, s := range specs {
		t.Run(fmt.Sprintf("%s/k%d/v%d/n%d/f%#x", s.Type, s.KeySize, s.ValueSize, s.MaxEntries, s.Flags), func(t *testing.T) {
			km, kerr := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.MapType(s.Type), KeySize: s.KeySize, ValueSize: s.ValueSize, MaxEntries: s.MaxEntries, Flags: s.Flags})
			if km != nil {
				km.Close()
			}
			s.SpinLockOffset = -1
			s.Registry = NewRegistry()
			_, verr := New(s)
			if (kerr == nil) != (verr == nil) {
				t.Errorf("kernel: %v; bpfvm: %v", kerr, verr)
			}
		})
	}
}

// TestKernelDevMap compares DEVMAP and CPUMAP host operations (targets
// the kernel has: the loopback device, ifindex 1; CPU 0).
func TestKernelDevMap(t *testing.T) {
	for _, spec := range []Spec{
		{Type: DevMap, KeySize: 4, ValueSize: 4, MaxEntries: 4, SpinLockOffset: -1},
		{Type: CPUMap, KeySize: 4, ValueSize: 4, MaxEntries: 1, SpinLockOffset: -1},
	} {
		km, vm := wrapKernel(kernelMap(t, spec), spec), mustNew(t, spec)
		val := u32(1)
		if spec.Type == CPUMap {
			val = u32(64)
		}
		for i, op := range []struct {
			key   uint32
			value []byte
			flags uint64
		}{{0, val, 0}, {0, val, 1}, {1, val, 2}, {9, val, 0}, {0, u32(0), 0}, {0, val, 4}} {
			ke, ve := kerrno(km.Update(u32(op.key), op.value, op.flags)), Errnum(vm.Update(u32(op.key), op.value, op.flags))
			if ke != ve {
				t.Errorf("%s op %d: update %d=%x flags %d: kernel %d, bpfvm %d", spec.Type, i, op.key, op.value, op.flags, ke, ve)
			}
			kv, vv := make([]byte, 4), make([]byte, 4)
			ke, ve = kerrno(km.Lookup(u32(0), kv)), Errnum(vm.Lookup(u32(0), vv, 0))
			if ke != ve || !bytes.Equal(kv, vv) {
				t.Errorf("%s op %d: lookup 0: kernel %d %x, bpfvm %d %x", spec.Type, i, ke, kv, ve, vv)
			}
		}
		for _, k := range []uint32{0, 1, 9} {
			if ke, ve := kerrno(km.Delete(u32(k))), Errnum(vm.Delete(u32(k))); ke != ve {
				t.Errorf("%s delete %d: kernel %d, bpfvm %d", spec.Type, k, ke, ve)
			}
		}
	}
}
