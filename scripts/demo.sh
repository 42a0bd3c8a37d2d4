#!/usr/bin/env bash
# The main job on bundled example data: assemble, disassemble and run the
# example programs in examples/asm with the interpreter, then run the eBPF
# conformance suite when it is beside the checkout (../shared/conformance).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

bin=$(mktemp -d)/bpfvm
CGO_ENABLED=0 go build -o "$bin" ./cmd/bpfvm

echo "== disassembly of examples/asm/primes.s (kernel style)"
"$bin" asm -o "${bin%/*}/primes.bin" examples/asm/primes.s
"$bin" disasm "${bin%/*}/primes.bin"
echo "== run: primes below 1000"
"$bin" run --json examples/asm/primes.s
echo "== run: checksum over examples/asm/packet.hex memory"
"$bin" run --json --mem-hex "$(tr -d ' \n' < examples/asm/packet.hex)" examples/asm/sum-memory.s
for suite in ../shared/conformance/tests ../shared/conformance/negative; do
	if [ -d "$suite" ]; then
		echo "== conformance: $suite"
		"$bin" conformance "$suite"
	fi
done
