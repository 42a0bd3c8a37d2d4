// Package cbpf is classic BPF, the 1992 packet filter of tcpdump and
// SO_ATTACH_FILTER, with the Linux kernel's semantics: its instructions,
// the kernel's checker, a reference evaluator, the text formats people
// exchange programs in, and the translation to eBPF that bpfvm's engines
// run.
//
// # Programs
//
// A program is a []Instruction, each one the kernel's struct sock_filter
// (Op, Jt, Jf, K). The machine has an accumulator A, an index register X,
// 16 scratch words M[0..15] and the packet, read big-endian; jumps go only
// forward; the program returns the number of bytes of the packet to keep
// (0 drops it). Besides packet bytes, Linux lets absolute loads at
// SKF_AD_OFF + n read packet metadata ("ancillary data": protocol, packet
// type, interface index, VLAN tag...), which the caller gives as a
// *Metadata; loads at SKF_NET_OFF + n and SKF_LL_OFF + n address the
// network and link-layer headers.
//
// # Checking and running
//
// Check applies the kernel's rules (net/core/filter.c): a program it
// accepts is one SO_ATTACH_FILTER accepts, and the reverse (this is tested
// against the running kernel). Eval runs a program the simple way and is
// the reference; a Filter runs it fast:
//
//	prog, err := cbpf.Assemble(`
//		ldh [12]
//		jeq #0x800, ip, drop
//	ip:	ret #65535
//	drop:	ret #0`)
//	f, err := cbpf.NewFilter(prog, cbpf.Options{})
//	n, err := f.Match(frame, &cbpf.Metadata{Protocol: 0x0800})
//
// Engines: EngineClassic, a pre-decoded classic interpreter (the default)
// that runs libpcap's runs of equality tests as a few masked 64-bit
// compares (see RATIONALE.md); EngineInterp,
// the eBPF translation on bpfvm's interpreter; EngineJIT, the translation
// compiled to native code (linux/amd64), which runs programs without the
// helper-calling ancillary loads (#rand, #nla, #nlan) on the JIT's filter
// entry: from a Matcher, a packet without metadata costs one call into the
// code. Every engine returns what Eval returns, which is what the kernel
// returns (tested with random programs on all of them).
//
// Captures often hold only the first bytes of a packet: Metadata.WireLen
// gives the length on the wire, which len loads then read while loads stay
// bounded by the captured bytes, as in libpcap (tcpdump -r).
//
// # Translation to eBPF
//
// Translate maps a program to eBPF as the kernel's bpf_convert_filter does
// in spirit: A and X in 32-bit registers, M[] on the stack, packet loads as
// legacy LD_ABS/LD_IND instructions (a load outside the packet ends the
// program with 0), division by X = 0 returning 0, ancillary loads from a
// context (PutContext) or helper calls.
//
// # Text formats
//
// Assemble and Disassemble read and write the kernel's bpf_asm syntax
// (tools/bpf/bpf_asm). FormatListing, FormatC and FormatDecimal print
// exactly what `tcpdump -d`, `-dd` and `-ddd` print for the same program
// (checked byte for byte against tcpdump 4.99 and libpcap's bpf_image);
// ParseListing, ParseC and ParseDecimal read them back, and Parse reads any
// of the four formats after Detect.
package cbpf
