package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestTestRunJSONMatchesKernel(t *testing.T) {
	dir := t.TempDir()
	pkt := make([]byte, 60)
	for i := range pkt {
		pkt[i] = byte(i)
	}
	pkt[12], pkt[13] = 0x08, 0x00
	data := filepath.Join(dir, "pkt")
	if err := os.WriteFile(data, pkt, 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join("..", "..", "testdata", "xdp_swap_mac.o")
	var stdout, stderr bytes.Buffer
	if st := dispatch([]string{"test-run", "--prog", "xdp_swap_mac", "--data", data, "--json", obj}, &stdout, &stderr); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	var got struct {
		Retval     uint32 `json:"retval"`
		DataOut    string `json:"data_out"`
		CtxOut     string `json:"ctx_out"`
		DurationNs *int64 `json:"duration_ns"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	want := append(append(append([]byte(nil), pkt[6:12]...), pkt[0:6]...), pkt[12:]...)
	if got.Retval != 3 || got.DataOut != hex.EncodeToString(want) || got.DurationNs == nil {
		t.Fatalf("got %+v, want retval 3 and data_out %x", got, want)
	}

	spec, err := ebpf.LoadCollectionSpec(obj)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("kernel oracle unavailable (bpf() needs root on Linux): %v", err)
		}
		t.Fatal(err)
	}
	defer coll.Close()
	opts := &ebpf.RunOptions{Data: pkt, DataOut: make([]byte, 4096)}
	ret, err := coll.Programs["xdp_swap_mac"].Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	if ret != got.Retval || hex.EncodeToString(opts.DataOut) != got.DataOut {
		t.Errorf("kernel: retval %d data_out %x; bpfvm %+v", ret, opts.DataOut, got)
	}
}

func TestTestRunErrors(t *testing.T) {
	obj := filepath.Join("..", "..", "testdata", "xdp_pass.o")
	for _, c := range []struct {
		args   []string
		status int
		msg    string
	}{
		{[]string{"test-run", obj}, 2, "need --prog"},
		{[]string{"test-run", "--prog", "nope", obj}, 1, "no program \"nope\""},
		{[]string{"test-run", "--prog", "xdp_pass", "missing.o"}, 1, "missing.o"},
		{[]string{"test-run", "--prog", "xdp_pass", obj}, 1, "Ethernet"}, // no packet
		{[]string{"test-run", "-h"}, 0, ""},
	} {
		var stdout, stderr bytes.Buffer
		st := dispatch(c.args, &stdout, &stderr)
		if st != c.status || !strings.Contains(stderr.String(), c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, st, stderr.String(), c.status, c.msg)
		}
	}
}

func TestProgList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if st := dispatch([]string{"prog", "list", filepath.Join("..", "..", "testdata", "tail_call.o")}, &stdout, &stderr); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"tail_entry", "tc_second", "XDP", "jumps", "ProgramArray", "trail"} {
		if !strings.Contains(out, want) {
			t.Errorf("prog list output lacks %q:\n%s", want, out)
		}
	}
	if st := dispatch([]string{"prog", "show"}, &stdout, &stderr); st != 2 {
		t.Errorf("prog show: exit %d, want 2", st)
	}
}

func TestTestRunPcap(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	udp := make([]byte, 60)
	udp[12], udp[13], udp[14], udp[23] = 0x08, 0x00, 0x45, 17
	tcp := append([]byte(nil), udp...)
	tcp[23] = 6
	for _, p := range [][]byte{udp, tcp, tcp, make([]byte, 10)} {
		w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(p), Length: len(p)}, p)
	}
	f.Close()
	out := filepath.Join(dir, "out.pcap")
	var stdout, stderr bytes.Buffer
	obj := filepath.Join("..", "..", "testdata", "socket_filter.o")
	if st := dispatch([]string{"test-run", "--prog", "socket_filter", "--pcap", in, "-w", out, obj}, &stdout, &stderr); st != 0 {
		t.Fatalf("exit %d: %s", st, stderr.String())
	}
	for _, want := range []string{"4 packets", "accept             3", "error              1"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "1 packets failed") {
		t.Errorf("stderr: %s", stderr.String())
	}
	g, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r, err := pcapgo.NewReader(g)
	if err != nil {
		t.Fatal(err)
	}
	var lens []int
	for {
		d, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		lens = append(lens, len(d))
	}
	// UDP kept whole (the socket filter returns skb->len, 46: the kernel's
	// data_out still has the 14 zeroed Ethernet bytes in front), TCP cut
	// to 20 bytes.
	if len(lens) != 3 || lens[0] != 46 || lens[1] != 20 || lens[2] != 20 {
		t.Errorf("written packet lengths %v", lens)
	}
	if st := dispatch([]string{"test-run", "--prog", "socket_filter", "-w", out, obj}, &stdout, &stderr); st != 2 {
		t.Errorf("-w without --pcap: exit %d", st)
	}
}
