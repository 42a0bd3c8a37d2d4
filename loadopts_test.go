package bpfvm

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

func TestUnrecognisedSectionNeedsType(t *testing.T) {
	_, err := NewRuntime().LoadCollectionFile("testdata/legacy.o")
	if err == nil || !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), "WithProgramType") {
		t.Fatalf("load without a type: %v, want an error pointing at WithProgramType", err)
	}
	coll, err := NewRuntime(WithProgramType("custom_section", XDP)).LoadCollectionFile("testdata/legacy.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	p := coll.Programs["custom_section"]
	if p.Type() != XDP {
		t.Errorf("type %v, want XDP", p.Type())
	}
	for _, n := range []int{14, 15, 19} {
		if ret, err := p.Run(&RunOptions{Data: make([]byte, n)}); err != nil || ret != 2 {
			t.Fatalf("run: %d, %v, want XDP_PASS", ret, err)
		}
	}
	// The legacy map counted bytes per length mod 4: 14 and 15 bytes,
	// then 19 (also 3 mod 4).
	m := coll.Maps["legacy_counts"]
	if m.Type() != Array || m.KeySize() != 4 || m.ValueSize() != 8 || m.MaxEntries() != 4 {
		t.Fatalf("legacy map %v: key %d value %d max %d", m, m.KeySize(), m.ValueSize(), m.MaxEntries())
	}
	for k, want := range map[uint32]uint64{0: 0, 1: 0, 2: 14, 3: 15 + 19} {
		var got uint64
		if err := m.Lookup(k, &got); err != nil || got != want {
			t.Errorf("legacy_counts[%d] = %d, %v, want %d", k, got, err, want)
		}
	}
}

// Spec fields edited before load are what the maps get, as with
// cilium/ebpf; a PERF_EVENT_ARRAY without max_entries gets one per CPU.
func TestMaxEntriesBeforeLoad(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("testdata/xdp_firewall.o")
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps["blocklist"].MaxEntries = 2
	coll, err := NewRuntime().LoadCollection(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	m := coll.Maps["blocklist"]
	if m.MaxEntries() != 2 {
		t.Fatalf("max_entries %d, want 2", m.MaxEntries())
	}
	for i := uint32(0); i < 2; i++ {
		if err := m.Put(i, uint64(0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Put(uint32(9), uint64(0)); !errors.Is(err, ErrMapFull) {
		t.Errorf("third entry: %v, want ErrMapFull", err)
	}

	perfSpec, err := ebpf.LoadCollectionSpec("testdata/perf_output.o")
	if err != nil {
		t.Fatal(err)
	}
	rt := NewRuntime(WithNumCPU(3))
	pc, err := rt.LoadCollection(perfSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if got := pc.Maps["samples"].MaxEntries(); got != 3 {
		t.Errorf("PERF_EVENT_ARRAY max_entries %d, want the CPU count 3", got)
	}
}

// A pinned PERF_EVENT_ARRAY without max_entries is shared, not refused as
// a different definition (it got the CPU count when created).
func TestPinnedPerfArrayShared(t *testing.T) {
	rt := NewRuntime(WithNumCPU(2))
	spec := &ebpf.MapSpec{Name: "events", Type: ebpf.PerfEventArray, KeySize: 4, ValueSize: 4, Pinning: ebpf.PinByName}
	a, err := rt.NewMap(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.NewMap(spec)
	if err != nil {
		t.Fatalf("second pinned load: %v", err)
	}
	if a != b || a.MaxEntries() != 2 {
		t.Errorf("got %p and %p with %d entries, want one shared map with 2", a, b, a.MaxEntries())
	}
}

// Without the running kernel's BTF, CO-RE accesses to a local flavour of
// __sk_buff resolve against bpfvm's built-in uapi layout, not the
// flavour's own (which would read protocol at offset 0, where len is).
func TestCOREContextBuiltinBTF(t *testing.T) {
	coll, err := NewRuntime().LoadCollectionFile("testdata/core_ctx.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	pkt := make([]byte, 60)
	pkt[12], pkt[13] = 0x08, 0x00 // IPv4: skb->protocol is 0x0008 read as a u32
	ret, err := coll.Programs["core_ctx"].Run(&RunOptions{Data: pkt})
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(60 ^ 0x0008<<16); ret != want {
		t.Errorf("core_ctx = %#x, want %#x (len ^ protocol<<16; no not_in_kernel field)", ret, want)
	}
}
