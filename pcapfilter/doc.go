// Package pcapfilter compiles the pcap-filter(7) language, the filter
// expressions of tcpdump and libpcap, to classic BPF.
//
//	prog, err := pcapfilter.Compile("tcp port 80 and host 10.0.0.1", pcapfilter.LinkTypeEthernet, pcapfilter.Options{})
//	// prog is a []cbpf.Instruction: run it with cbpf.NewFilter or
//	// cbpf.Eval, print it with cbpf.FormatListing (tcpdump -d), or attach
//	// it to a socket with SO_ATTACH_FILTER.
//
// The programs match the same packets as libpcap's (this is tested against
// tcpdump over generated captures for every supported link type) and
// return Options.SnapLen (262144 by default) for a match, 0 otherwise.
//
// # Language
//
// Primitives: host, net (A/len, A mask M, and short forms such as
// "net 10"), port and portrange (numbers or well-known service names), each
// with src, dst, "src or dst", "src and dst"; ether host/src/dst, ether
// broadcast and multicast, ip broadcast, ip and ip6 multicast; protocol names
// ip, ip6, arp, rarp, tcp, udp, sctp, icmp, icmp6, igmp, igrp, pim, vrrp,
// carp, ah, esp; proto and protochain with numbers or names ("ip proto
// \udp": protocol keywords must be escaped, as in libpcap); ether proto;
// vlan [ID] (stacked vlans each shift the headers that follow) and mpls
// [LABEL]; pppoed and pppoes [SESSION] (what follows pppoes is matched
// inside the PPP session); inbound, outbound (Linux cooked captures) and ifindex (LINUX_SLL2);
// less, greater and len; byte and field expressions with
// arithmetic (+ - * / % & | ^ << >>, unary -) and comparisons (> >= = == <
// <= !=), such as "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn" or
// "ip[0] & 0xf > 5"; and, or, not (also &&, ||, !) and parentheses.
//
// As in libpcap, and and or have the same precedence and associate to the
// left ("a or b and c" is "(a or b) and c"), not binds tighter, and an
// address after and/or inherits the qualifiers of the primitive before it
// ("host a or b" is "host a or host b"). `vlan` and `mpls` change the
// header offsets for the rest of the expression, in source order. Protocol
// tests without ip or ip6 cover both (tcp matches TCP over IPv4 and IPv6,
// also behind an IPv6 fragment header); port tests look at IPv4 first
// fragments only, as libpcap does.
//
// Errors are *Error values with the column and a libpcap-like message
// ("illegal port number 99999 > 65535", "'ip6' modifier applied to ip
// host"). Expressions that are valid but can never match ("ip6 and arp")
// compile to a program that rejects everything; libpcap reports those as
// errors.
//
// # Link types
//
// Ethernet (EN10MB), raw IP (RAW), Linux cooked captures v1 and v2
// (LINUX_SLL, LINUX_SLL2) and the BSD and OpenBSD loopback encapsulations
// (NULL, LOOP).
//
// # Differences from libpcap
//
//   - No name resolution: host names (DNS, /etc/hosts, /etc/ethers) are
//     not supported, so `gateway` is not either; ports and protocols may
//     be named from a built-in table of well-known names.
//   - protochain follows at most 10 extension headers: libpcap's loop has a
//     backward jump, which classic BPF in the kernel does not allow.
//   - Link types and protocols outside the list above (802.11, FDDI,
//     AppleTalk, DECnet, ISO, IPX, Geneve, MPLS inside PPPoE...) are rejected with a
//     clear message, as are inbound, outbound and ifindex where the link
//     header does not carry them (libpcap reads them from Linux socket
//     metadata in live captures).
//   - In live captures libpcap tests VLAN tags the kernel took out of the
//     packet through Linux metadata; these programs only see tags left in
//     the packet.
//   - Packet offsets of 2 GiB or more, which no packet has, end the run
//     with 0 as in libpcap; the load is not emitted, because the kernel
//     reads such offsets as metadata. An index computed at run time that
//     large (ip[ip[0] << 24]) is read the kernel's way.
//   - The optimizer is simpler than libpcap's: programs are a few percent
//     longer. libpcap's optimizer sometimes drops a load whose result
//     cannot change the verdict, which changes the verdict for packets
//     too short for that load; this compiler keeps every load, as
//     unoptimised libpcap (tcpdump -O) does.
//
// # Optimizer
//
// Each test is a self-contained block (load, then one conditional jump).
// The optimizer names the value each block tests, collects along every
// path the outcomes of earlier tests, and sends jumps straight past tests
// those outcomes decide (jump threading); it then merges identical blocks,
// drops unreachable ones, and removes loads of values already in A or X.
// Conditional jumps too long for classic BPF's 8-bit offsets go through an
// unconditional jump.
package pcapfilter
