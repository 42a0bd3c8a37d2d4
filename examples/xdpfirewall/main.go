// Command xdpfirewall runs an XDP firewall (bpf/firewall.c) on a few packets
// in user space with bpfvm: no root, no kernel, any OS. The same object
// loads into the kernel with cilium/ebpf unchanged.
package main

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"log"

	"github.com/bpfvm/bpfvm"
)

//go:embed bpf/firewall.o
var object []byte

// Firewall wraps the loaded collection.
type Firewall struct {
	coll *bpfvm.Collection
	prog *bpfvm.Program
}

// New loads the firewall into a fresh runtime.
func New() (*Firewall, error) {
	coll, err := bpfvm.NewRuntime().LoadCollectionReader(bytes.NewReader(object))
	if err != nil {
		return nil, err
	}
	return &Firewall{coll: coll, prog: coll.Programs["firewall"]}, nil
}

// BlockSource drops every IPv4 packet from src.
func (f *Firewall) BlockSource(src [4]byte) error {
	return f.coll.Maps["blocked_sources"].Put(src[:], uint64(0))
}

// BlockPort drops TCP packets to port.
func (f *Firewall) BlockPort(port uint16) error {
	return f.coll.Maps["blocked_ports"].Put(port, uint8(1))
}

// Verdict runs the firewall on one Ethernet frame.
func (f *Firewall) Verdict(frame []byte) (uint32, error) {
	return f.prog.Run(&bpfvm.RunOptions{Data: frame})
}

// Drops returns how many packets from src were dropped.
func (f *Firewall) Drops(src [4]byte) (uint64, error) {
	var n uint64
	err := f.coll.Maps["blocked_sources"].Lookup(src[:], &n)
	return n, err
}

// Stats returns the packets seen per XDP action, summed over CPUs.
func (f *Firewall) Stats(action uint32) (uint64, error) {
	var perCPU []uint64
	if err := f.coll.Maps["stats"].Lookup(action, &perCPU); err != nil {
		return 0, err
	}
	var sum uint64
	for _, n := range perCPU {
		sum += n
	}
	return sum, nil
}

// Close releases the firewall.
func (f *Firewall) Close() error { return f.coll.Close() }

// TCPFrame builds an Ethernet/IPv4/TCP frame.
func TCPFrame(src, dst [4]byte, dport uint16) []byte {
	p := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	p[14] = 0x45
	binary.BigEndian.PutUint16(p[16:], 40)
	p[23] = 6 // TCP
	copy(p[26:], src[:])
	copy(p[30:], dst[:])
	binary.BigEndian.PutUint16(p[36:], dport)
	p[46] = 5 << 4
	return p
}

func main() {
	fw, err := New()
	if err != nil {
		log.Fatal(err)
	}
	defer fw.Close()
	fw.BlockSource([4]byte{203, 0, 113, 9})
	fw.BlockPort(23)
	names := map[uint32]string{1: "DROP", 2: "PASS"}
	for _, c := range []struct {
		src  [4]byte
		port uint16
	}{{[4]byte{198, 51, 100, 1}, 80}, {[4]byte{203, 0, 113, 9}, 80}, {[4]byte{198, 51, 100, 1}, 23}} {
		v, err := fw.Verdict(TCPFrame(c.src, [4]byte{192, 0, 2, 1}, c.port))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v -> port %d: %s\n", c.src, c.port, names[v])
	}
}
