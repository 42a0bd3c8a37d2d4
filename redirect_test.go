package bpfvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestRedirectReceiver(t *testing.T) {
	coll, err := NewRuntime(gapOpts("redirect_map.o")...).LoadCollectionFile("testdata/redirect_map.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	devs, cpus := coll.Maps["devs"], coll.Maps["cpus"]
	if err := devs.Put(uint32(0), uint32(42)); err != nil {
		t.Fatal(err)
	}
	if err := cpus.Put(uint32(0), uint32(128)); err != nil {
		t.Fatal(err)
	}
	var got []RedirectedPacket
	for _, m := range []*Map{devs, cpus} {
		if err := m.SetRedirectReceiver(func(p RedirectedPacket) { got = append(got, p) }); err != nil {
			t.Fatal(err)
		}
	}
	prog := coll.Programs["redirect_map"]
	pkt := func(n int) []byte {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i)
		}
		return p
	}
	// len%5 == 0: devs[0] is present: XDP_REDIRECT, delivered.
	if ret, err := prog.Run(&RunOptions{Data: pkt(60)}); err != nil || ret != xdpRedirect {
		t.Fatalf("run: %d, %v", ret, err)
	}
	if len(got) != 1 || got[0].Map.ID() != devs.ID() || got[0].Key != 0 ||
		binary.LittleEndian.Uint32(got[0].Target) != 42 || !bytes.Equal(got[0].Data, pkt(60)) {
		t.Fatalf("received %+v", got)
	}
	// len%5 == 1: devs[3] is empty: XDP_DROP, nothing delivered.
	got = nil
	if ret, err := prog.Run(&RunOptions{Data: pkt(61)}); err != nil || ret != 1 {
		t.Fatalf("run: %d, %v", ret, err)
	}
	if len(got) != 0 {
		t.Fatalf("received %+v for a failed redirect", got)
	}
	// len%5 == 4: cpus[5] fails (XDP_DROP*10), cpus[0] redirects: the
	// verdict 14 is no redirect, so nothing is delivered.
	if ret, err := prog.Run(&RunOptions{Data: pkt(64)}); err != nil || ret != 14 {
		t.Fatalf("run: %d, %v", ret, err)
	}
	if len(got) != 0 {
		t.Fatalf("received %+v without a redirect verdict", got)
	}
	// After removal, nothing is delivered.
	if err := devs.SetRedirectReceiver(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := prog.Run(&RunOptions{Data: pkt(60)}); err != nil || len(got) != 0 {
		t.Fatalf("run: %v, received %+v after removal", err, got)
	}
	if err := coll.Maps["devhash"].SetRedirectReceiver(func(RedirectedPacket) {}); err != nil {
		t.Errorf("DEVMAP_HASH: %v", err)
	}
}

func TestRedirectReceiverBroadcast(t *testing.T) {
	coll, err := NewRuntime(gapOpts("redirect_bcast.o")...).LoadCollectionFile("testdata/redirect_bcast.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	ports := coll.Maps["ports"]
	for k, ifi := range map[uint32]uint32{0: 1, 2: 7, 3: 9} {
		if err := ports.Put(k, ifi); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint32]uint32{}
	if err := ports.SetRedirectReceiver(func(p RedirectedPacket) {
		got[p.Key] = binary.LittleEndian.Uint32(p.Target)
		if p.Flags&8 == 0 || len(p.Data) != 20 {
			t.Errorf("flags %#x, %d bytes", p.Flags, len(p.Data))
		}
	}); err != nil {
		t.Fatal(err)
	}
	prog := coll.Programs["redirect_bcast"]
	data := make([]byte, 20)
	if ret, err := prog.Run(&RunOptions{Data: data}); err != nil || ret != xdpRedirect {
		t.Fatalf("run: %d, %v", ret, err)
	}
	if len(got) != 3 || got[0] != 1 || got[2] != 7 || got[3] != 9 {
		t.Errorf("broadcast reached %v, want every target", got)
	}
	// An odd first byte adds BPF_F_EXCLUDE_INGRESS: not to ifindex 1.
	clear(got)
	data[0] = 1
	if _, err := prog.Run(&RunOptions{Data: data}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[2] != 7 || got[3] != 9 {
		t.Errorf("broadcast excluding ingress reached %v", got)
	}
}

func TestRedirectReceiverWrongMap(t *testing.T) {
	coll, err := NewRuntime().LoadCollectionFile("testdata/xdp_firewall.o")
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
	if err := coll.Maps["blocklist"].SetRedirectReceiver(func(RedirectedPacket) {}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a hash map took a receiver: %v", err)
	}
}
