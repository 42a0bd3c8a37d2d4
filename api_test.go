package bpfvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm/internal/progtype"
)

func TestMapAPI(t *testing.T) {
	rt := NewRuntime(WithNumCPU(3))
	m, err := rt.NewMap(&ebpf.MapSpec{Name: "h", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	type val struct{ A, B uint32 }
	if err := m.Update(uint32(1), val{7, 9}, UpdateNoExist); err != nil {
		t.Fatal(err)
	}
	if err := m.Update(uint32(1), val{7, 9}, UpdateNoExist); !errors.Is(err, ErrKeyExist) || Errno(err) != 17 {
		t.Fatalf("second NOEXIST update: %v", err)
	}
	var v val
	if err := m.Lookup(uint32(1), &v); err != nil || v != (val{7, 9}) {
		t.Fatalf("lookup: %+v %v", v, err)
	}
	if err := m.Lookup(uint32(2), &v); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("lookup of absent key: %v", err)
	}
	if b, err := m.LookupBytes(uint32(2)); b != nil || err != nil {
		t.Fatalf("LookupBytes of absent key: %x %v", b, err)
	}
	// Wrong sizes are errors, not panics.
	if err := m.Update(uint16(1), uint64(0), 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("2-byte key: %v", err)
	}
	if err := m.Update(uint32(1), uint32(0), 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("4-byte value: %v", err)
	}
	if err := m.Lookup(uint32(1), v); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("lookup into a non-pointer: %v", err)
	}
	if err := m.Update(uint32(1), []int{1}, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("non-fixed-size value: %v", err)
	}
	for k := uint32(2); k <= 4; k++ {
		m.Put(k, uint64(k*100))
	}
	if err := m.Put(uint32(5), uint64(1)); !errors.Is(err, ErrMapFull) {
		t.Fatalf("update of a full map: %v", err)
	}
	seen := map[uint32]uint64{}
	var k uint32
	var n uint64
	it := m.Iterate()
	for it.Next(&k, &n) {
		seen[k] = n
	}
	if it.Err() != nil || len(seen) != 4 || seen[3] != 300 {
		t.Fatalf("iteration: %v %v", seen, it.Err())
	}
	if err := m.Delete(uint32(3)); err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(uint32(3)); !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("second delete: %v", err)
	}
	typed := NewTypedMap[uint32, uint64](m)
	if v, err := typed.Lookup(4); err != nil || v != 400 {
		t.Fatalf("typed lookup: %d %v", v, err)
	}
	all, err := typed.All()
	if err != nil || len(all) != 3 {
		t.Fatalf("typed All: %v %v", all, err)
	}
	keys, vals := make([]byte, 4*8), make([]byte, 8*8)
	cnt, _, err := m.BatchLookup(nil, keys, vals)
	if cnt != 3 || !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("batch lookup: %d %v", cnt, err)
	}

	pc, err := rt.NewMap(&ebpf.MapSpec{Name: "pc", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Put(uint32(1), []uint32{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	var per []uint32
	if err := pc.Lookup(uint32(1), &per); err != nil || len(per) != 3 || per[2] != 3 {
		t.Fatalf("per-CPU lookup: %v %v", per, err)
	}
	if err := pc.Put(uint32(1), []uint32{1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("per-CPU update with one value: %v", err)
	}
}

func TestRunOptions(t *testing.T) {
	_, coll := loadTestdata(t, "xdp_swap_mac.o")
	p := coll.Programs["xdp_swap_mac"]
	if p.Type() != progtype.XDP || p.SectionName() != "xdp" || p.Name() != "xdp_swap_mac" {
		t.Fatalf("program metadata: %v %q %q", p.Type(), p.SectionName(), p.Name())
	}
	opts := &RunOptions{Data: udpPkt, DataOut: make([]byte, 10)}
	if _, err := p.Run(opts); !errors.Is(err, io.ErrShortBuffer) {
		t.Fatalf("short DataOut: %v", err)
	}
	if _, err := p.Run(&RunOptions{Data: udpPkt[:10]}); !errors.Is(err, progtype.ErrInvalidInput) {
		t.Fatalf("packet shorter than Ethernet: %v", err)
	}
	ctx := make([]byte, 24)
	ctx[20] = 1 // egress_ifindex must be 0
	if _, err := p.Run(&RunOptions{Data: udpPkt, Context: ctx}); !errors.Is(err, progtype.ErrInvalidInput) {
		t.Fatalf("bad xdp_md: %v", err)
	}
	_, coll = loadTestdata(t, "redirect.o")
	opts = &RunOptions{Data: udpPkt}
	if ret, err := coll.Programs["xdp_redirect"].Run(opts); err != nil || ret != 4 || opts.Redirect == nil || opts.Redirect.Ifindex != 1 {
		t.Fatalf("redirect: %d %v %+v", ret, err, opts.Redirect)
	}
}

func TestGlobalDataFromGo(t *testing.T) {
	_, coll := loadTestdata(t, "global_data.o")
	p := coll.Programs["global_data"]
	for i := 0; i < 3; i++ {
		if _, err := p.Run(&RunOptions{Data: udpPkt}); err != nil {
			t.Fatal(err)
		}
	}
	bss := coll.Maps[".bss"]
	b, err := bss.LookupBytes(uint32(0))
	if err != nil {
		t.Fatal(err)
	}
	if calls := binary.LittleEndian.Uint64(b); calls != 3 {
		t.Errorf("calls = %d, want 3 (.bss %x)", calls, b)
	}
	if l := binary.LittleEndian.Uint32(b[8:]); l != uint32(len(udpPkt)) {
		t.Errorf("last_len = %d, want %d", l, len(udpPkt))
	}
}

// TestConcurrentRuns runs one program from many goroutines: the counters
// must add up (the program uses atomic adds). Run with -race.
func TestConcurrentRuns(t *testing.T) {
	_, coll := loadTestdata(t, "xdp_firewall.o")
	p := coll.Programs["xdp_firewall"]
	coll.Maps["blocklist"].Put([]byte{192, 168, 1, 1}, uint64(0))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if _, err := p.Run(&RunOptions{Data: tcpPkt}); err != nil {
					t.Error(err)
					return
				}
				coll.Maps["verdicts"].LookupBytes(uint32(1))
			}
		}()
	}
	wg.Wait()
	var drops uint64
	if err := coll.Maps["verdicts"].Lookup(uint32(1), &drops); err != nil || drops != 1600 {
		t.Fatalf("XDP_DROP count %d (%v), want 1600", drops, err)
	}
}

func TestLoadErrors(t *testing.T) {
	// bpfvm's own load checks, which guard unverified programs; the
	// verifier's rejections are tested in verify_test.go.
	rt := NewRuntime(WithoutVerifier())
	spec := func(typ ebpf.ProgramType, insns asm.Instructions) *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
			"p": {Name: "p", Type: typ, Instructions: insns, License: "GPL"},
		}, Maps: map[string]*ebpf.MapSpec{}}
	}
	_, err := rt.LoadCollection(spec(ebpf.XDP, asm.Instructions{asm.FnGetPrandomU32.Call(), asm.Mov.Imm(asm.R0, 0), asm.Return()}))
	if err != nil {
		t.Fatalf("valid program refused: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.XDP, asm.Instructions{asm.BuiltinFunc(9999).Call(), asm.Return()}))
	if !errors.Is(err, ErrLoad) || !bytes.Contains([]byte(err.Error()), []byte("9999")) {
		t.Fatalf("unknown helper: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.XDP, asm.Instructions{asm.LoadMem(asm.R0, asm.R1, 64, asm.Word), asm.Return()}))
	if !errors.Is(err, progtype.ErrContextAccess) {
		t.Fatalf("out-of-range context access: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.XDP, asm.Instructions{asm.LoadMem(asm.R0, asm.R1, 0, asm.Half), asm.Return()}))
	if !errors.Is(err, progtype.ErrContextAccess) {
		t.Fatalf("narrow read of xdp_md.data: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.XDP, asm.Instructions{asm.FnSkbLoadBytes.Call(), asm.Return()}))
	if !errors.Is(err, progtype.ErrHelperNotAllowed) || !strings.Contains(err.Error(), "program p") {
		t.Fatalf("skb helper from XDP: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.SchedCLS, asm.Instructions{asm.FnXdpAdjustHead.Call(), asm.Return()}))
	if !errors.Is(err, progtype.ErrHelperNotAllowed) {
		t.Fatalf("xdp helper from tc: %v", err)
	}
	_, err = rt.LoadCollection(spec(ebpf.Tracing, asm.Instructions{asm.LoadMapPtr(asm.R1, 0).WithReference("nope"), asm.Return()}))
	if !errors.Is(err, ErrLoad) {
		t.Fatalf("unknown map: %v", err)
	}
	if _, err := rt.LoadCollection(nil); !errors.Is(err, ErrLoad) {
		t.Fatalf("nil spec: %v", err)
	}
	if _, err := rt.LoadCollectionReader(bytes.NewReader([]byte("not an ELF file"))); !errors.Is(err, ErrLoad) {
		t.Fatalf("garbage object: %v", err)
	}
}

// TestCOREDefaultTargets: without kernel types, CO-RE relocations resolve
// against the object's own BTF, so a local type keeps its own layout.
func TestCOREDefaultTargets(t *testing.T) {
	_, coll := loadTestdata(t, "core.o")
	ret, err := coll.Programs["core"].Run(&RunOptions{Data: udpPkt})
	if err != nil {
		t.Fatal(err)
	}
	// Local layout: daddr at 0 (offset term 0), not_in_kernel exists
	// (+1000000), size 12; fields read at their local offsets: protocol
	// at byte 8 (the TTL, 64), ttl at byte 9 (the protocol, 17), saddr at
	// byte 4 (id and fragment fields, 0).
	want := uint32(64 + 17<<8 + 1000000 + 12)
	if ret != want {
		t.Fatalf("retval %d, want %d", ret, want)
	}
}

func TestHostHelper(t *testing.T) {
	var seen []byte
	// Host helpers have no prototype the verifier could check calls
	// against: such programs load WithoutVerifier.
	rt := NewRuntime(WithoutVerifier(), WithHelper(0x10001, func(mem Memory, r1, r2, _, _, _ uint64) (uint64, error) {
		b, err := mem.Bytes(r1, r2, false)
		if err != nil {
			return 0, err
		}
		seen = append([]byte(nil), b...)
		return uint64(len(b)) * 2, nil
	}))
	// r1 = the packet (xdp_md.data), r2 = 14: the helper reads the
	// Ethernet header and returns 28.
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.Mov.Imm(asm.R2, 14),
		asm.BuiltinFunc(0x10001).Call(),
		asm.Return(),
	}
	coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"p": {Name: "p", Type: ebpf.XDP, Instructions: insns, License: "GPL"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ret, err := coll.Programs["p"].Run(&RunOptions{Data: udpPkt})
	if err != nil || ret != 28 || !bytes.Equal(seen, udpPkt[:14]) {
		t.Fatalf("ret %d err %v seen %x", ret, err, seen)
	}
}

// TestPinnedMapsShared: maps pinned by name are shared by the collections
// of one runtime, like a bpffs namespace.
func TestPinnedMapsShared(t *testing.T) {
	rt := NewRuntime()
	mk := func() *ebpf.CollectionSpec {
		return &ebpf.CollectionSpec{Maps: map[string]*ebpf.MapSpec{
			"shared": {Name: "shared", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1, Pinning: ebpf.PinByName},
			"own":    {Name: "own", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1},
		}}
	}
	a, err := rt.LoadCollection(mk())
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.LoadCollection(mk())
	if err != nil {
		t.Fatal(err)
	}
	a.Maps["shared"].Put(uint32(0), uint32(5))
	a.Maps["own"].Put(uint32(0), uint32(5))
	var v uint32
	b.Maps["shared"].Lookup(uint32(0), &v)
	if v != 5 {
		t.Errorf("pinned map not shared: %d", v)
	}
	b.Maps["own"].Lookup(uint32(0), &v)
	if v != 0 {
		t.Errorf("unpinned map shared: %d", v)
	}
	a.Close()
	if err := b.Maps["shared"].Lookup(uint32(0), &v); err != nil || v != 5 {
		t.Errorf("pinned map after the first collection closed: %d %v", v, err)
	}
	if id, ok := rt.registry.MapID(b.Maps["shared"].m); !ok || id != b.Maps["shared"].ID() {
		t.Error("pinned map left the registry when a collection closed")
	}
	other := mk()
	other.Maps["shared"].ValueSize = 8
	if _, err := rt.LoadCollection(other); err == nil {
		t.Error("a pinned map with a different definition was accepted")
	}
}

// TestRunErrorNamesSourceLine: a run-time fault names the instruction and
// the C line it came from.
func TestRunErrorNamesSourceLine(t *testing.T) {
	_, coll := loadTestdata(t, "xdp_pass.o")
	p := coll.Programs["xdp_pass"]
	if len(p.lines) == 0 || !strings.Contains(p.lines[0], "xdp_pass.c:") {
		t.Fatalf("no line info: %q", p.lines)
	}
	// A 1-instruction budget stops the run at instruction 1 (the exit).
	rt := NewRuntime(WithInstructionBudget(1))
	c2, err := rt.LoadCollectionFile("testdata/xdp_pass.o")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c2.Programs["xdp_pass"].Run(&RunOptions{Data: udpPkt})
	if err == nil || !strings.Contains(err.Error(), "xdp_pass.c:") || !strings.Contains(err.Error(), "return XDP_PASS") {
		t.Fatalf("error %v does not name the source line", err)
	}
}

func TestBatchOps(t *testing.T) {
	m, err := NewRuntime().NewMap(&ebpf.MapSpec{Name: "b", Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	keys := []byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0}
	vals := []byte{10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40, 0, 0, 0}
	if n, err := m.BatchUpdate(keys, vals, UpdateAny); n != 3 || !errors.Is(err, ErrMapFull) {
		t.Fatalf("batch update into a 3-entry map: %d %v", n, err)
	}
	ko, vo := make([]byte, 16), make([]byte, 16)
	n, _, err := m.BatchLookup(nil, ko, vo)
	if n != 3 || !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("batch lookup: %d %v", n, err)
	}
	if n, err := m.BatchDelete(keys[:8]); n != 2 || err != nil {
		t.Fatalf("batch delete: %d %v", n, err)
	}
	if n, err := m.BatchDelete(keys[:4]); n != 0 || !errors.Is(err, ErrKeyNotExist) {
		t.Fatalf("batch delete of a deleted key: %d %v", n, err)
	}
	if _, err := m.BatchUpdate(keys[:3], vals, 0); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ragged batch: %v", err)
	}
}

// TestRunAllocatesNothing: steady-state runs allocate nothing, whether
// the program is trivial, calls map helpers (lookups, updates of existing
// keys) or a host helper.
func TestRunAllocatesNothing(t *testing.T) {
	// The verifier has no prototype for host helpers: load WithoutVerifier.
	rt := NewRuntime(WithNumCPU(2), WithoutVerifier(), WithHelper(0x10001, func(mem Memory, r1, r2, _, _, _ uint64) (uint64, error) {
		b, err := mem.Bytes(r1, r2, false)
		return uint64(len(b)), err
	}))
	host := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R2),
		asm.Mov.Imm(asm.R2, 14),
		asm.BuiltinFunc(0x10001).Call(),
		asm.Return(),
	}
	coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"host": {Name: "host", Type: ebpf.XDP, Instructions: host, License: "GPL"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	_, maps := loadTestdata(t, "bench_maps.o")
	for _, p := range []*Program{coll.Programs["host"], maps.Programs["bench_hash_update"], maps.Programs["bench_hash_lookup"], maps.Programs["bench_array_lookup"]} {
		opts := &RunOptions{Data: udpPkt}
		if _, err := p.Run(opts); err != nil { // first run: inserts, buffers
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := p.Run(opts); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per run", p.Name(), allocs)
		}
	}
}
