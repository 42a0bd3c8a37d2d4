#!/usr/bin/env bash
# The main job on bundled example data, end to end:
#  1. the instruction set: assemble, disassemble and run examples/asm programs
#     on the interpreter and the JIT;
#  2. packet filtering: tcpdump expressions over examples/pcap/sample.pcap;
#  3. real programs: a clang-built XDP object from testdata/ over the capture;
#  4. verification: an unsafe and a safe XDP program;
#  5. the eBPF conformance suite, when ../shared/conformance is beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/bpfvm
CGO_ENABLED=0 go build -o "$bin" ./cmd/bpfvm

echo "== 1. disassembly of examples/asm/primes.s (kernel style)"
"$bin" asm -o "$tmp/primes.bin" examples/asm/primes.s
"$bin" disasm "$tmp/primes.bin"
for engine in interp jit; do
	echo "== run on $engine: primes below 1000"
	"$bin" run --engine "$engine" --json examples/asm/primes.s
done
echo "== run: byte sum over examples/asm/packet.hex"
"$bin" run --json --mem-hex "$(tr -d ' \n' < examples/asm/packet.hex)" examples/asm/sum-memory.s

echo "== 2. filter: examples/pcap/sample.pcap (1,000 frames)"
for expr in 'tcp dst port 80' 'udp port 53' 'icmp[icmptype] == icmp-echo' 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 'ip6 or arp'; do
	printf '%-48s %s packets\n' "$expr" "$("$bin" filter -c -r examples/pcap/sample.pcap "$expr")"
done
echo "-- the compiled program for 'ip and tcp and dst port 80' (tcpdump -d format)"
"$bin" filter -d 'ip and tcp and dst port 80'

echo "== 3. test-run: testdata/xdp_firewall.o over the capture"
"$bin" prog list testdata/xdp_firewall.o
"$bin" test-run --prog xdp_firewall --pcap examples/pcap/sample.pcap testdata/xdp_firewall.o

echo "== 4. verify"
for prog in xdp-unchecked xdp-checked; do
	echo "-- examples/asm/$prog.s"
	"$bin" asm --hex -o "$tmp/$prog.hex" "examples/asm/$prog.s"
	"$bin" verify --type xdp "$tmp/$prog.hex" || true
done

for suite in ../shared/conformance/tests ../shared/conformance/negative; do
	if [ -d "$suite" ]; then
		for engine in interp jit; do
			echo "== 5. conformance on $engine: $suite"
			"$bin" conformance --engine "$engine" "$suite"
		done
	fi
done
