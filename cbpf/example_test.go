package cbpf_test

import (
	"fmt"

	"github.com/bpfvm/bpfvm/cbpf"
)

func Example() {
	prog, err := cbpf.Assemble(`
		ldh [12]                 ; ethertype
		jeq #0x800, ip, drop
	ip:	ldb [23]                 ; IPv4 protocol
		jeq #17, keep, drop
	keep:	ret #65535
	drop:	ret #0
	`)
	if err != nil {
		panic(err)
	}
	filter, err := cbpf.NewFilter(prog, cbpf.Options{})
	if err != nil {
		panic(err)
	}
	frame := make([]byte, 42)
	frame[12], frame[13], frame[23] = 0x08, 0x00, 17 // IPv4, UDP
	n, err := filter.Match(frame, nil)
	fmt.Println(n, err)
	fmt.Print(cbpf.FormatListing(prog))
	// Output:
	// 65535 <nil>
	// (000) ldh      [12]
	// (001) jeq      #0x800           jt 2	jf 5
	// (002) ldb      [23]
	// (003) jeq      #0x11            jt 4	jf 5
	// (004) ret      #65535
	// (005) ret      #0
}

func ExampleParse() {
	// tcpdump -ddd output, as iptables' xt_bpf takes it.
	prog, err := cbpf.Parse("4\n40 0 0 12\n21 0 1 34525\n6 0 0 262144\n6 0 0 0\n")
	if err != nil {
		panic(err)
	}
	fmt.Print(cbpf.FormatC(prog))
	src, _ := cbpf.Disassemble(prog)
	fmt.Print(src)
	// Output:
	// { 0x28, 0, 0, 0x0000000c },
	// { 0x15, 0, 1, 0x000086dd },
	// { 0x6, 0, 0, 0x00040000 },
	// { 0x6, 0, 0, 0x00000000 },
	// 	ldh [12]
	// 	jeq #0x86dd, L2, L3
	// L2:	ret #262144
	// L3:	ret #0
}

func ExampleCheck() {
	err := cbpf.Check([]cbpf.Instruction{
		cbpf.Stmt(cbpf.OpLDMem, 3), // M[3] was never written
		cbpf.Stmt(cbpf.OpRetA, 0),
	})
	fmt.Println(err)
	// Output:
	// instruction 0 (ld M[3]): M[3] may be read before it is written
}
