package conformance

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/kerneltest"
)

// Kernel is the EngineFactory of the Linux kernel, the oracle: each test
// program runs once with BPF_PROG_TEST_RUN as an XDP program. The helpers
// argument is ignored: programs call the kernel's own helpers (id 5 is
// bpf_ktime_get_ns, which like the suite's "unwind" needs no argument
// and whose result the suite ignores), and callx does not exist there.
//
// The program is called as a bpf-to-bpf function from a wrapper that
// plays the part of the suite's runtime, much like the suite's libbpf
// plugin prologue: the packet is an 8-byte result slot followed by the
// test's memory; the wrapper checks the packet's length, calls the program
// with r1 = the memory and r2 = its length, and stores the returned r0 —
// all 64 bits, which XDP's return value could not carry — in the slot.
func Kernel(engine.Helpers) Engine {
	return runInKernel
}

// resultSlot is the packet bytes before the test's memory that receive r0.
const resultSlot = 8

// kernelWrapper returns the wrapper's instructions for memory of n bytes.
// The program under test follows it.
func kernelWrapper(n int) []isa.Instruction {
	const (
		xdpPass    = 2
		xdpAborted = 0
	)
	return []isa.Instruction{
		{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 6, Src: 1, Offset: 0}, // 0: r6 = ctx->data
		{Opcode: isa.ClassLDX | isa.ModeMEM | isa.SizeW, Dst: 7, Src: 1, Offset: 4}, // 1: r7 = ctx->data_end
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 8, Src: 6},             // 2: r8 = r6
		{Opcode: isa.ClassALU64 | isa.OpADD, Dst: 8, Imm: int32(resultSlot + n)},    // 3: r8 += 8 + n
		{Opcode: isa.ClassJMP | isa.OpJGT | isa.SrcX, Dst: 8, Src: 7, Offset: 7},    // 4: if r8 > r7 goto 12
		{Opcode: isa.ClassALU64 | isa.OpMOV | isa.SrcX, Dst: 1, Src: 6},             // 5: r1 = r6
		{Opcode: isa.ClassALU64 | isa.OpADD, Dst: 1, Imm: resultSlot},               // 6: r1 += 8
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 2, Imm: int32(n)},                 // 7: r2 = n
		{Opcode: isa.OpcodeCall, Src: isa.CallLocal, Imm: 5},                        // 8: call 14 (the test)
		{Opcode: isa.ClassSTX | isa.ModeMEM | isa.SizeDW, Dst: 6, Src: 0},           // 9: *(u64 *)(r6 + 0) = r0
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0, Imm: xdpPass},                  // 10: r0 = XDP_PASS
		{Opcode: isa.OpcodeExit}, // 11
		{Opcode: isa.ClassALU64 | isa.OpMOV, Dst: 0, Imm: xdpAborted}, // 12: r0 = XDP_ABORTED
		{Opcode: isa.OpcodeExit}, // 13
	}
}

func runInKernel(insns []isa.Instruction, mem []byte) (uint64, error) {
	prog := append(kernelWrapper(len(mem)), insns...)
	// XDP test runs need at least an Ethernet header's worth of packet.
	packet := make([]byte, max(resultSlot+len(mem), 64))
	copy(packet[resultSlot:], mem)
	ret, out, _, err := kerneltest.RunXDP(prog, packet, 1)
	if err != nil {
		var le *kerneltest.LoadError
		if errors.As(err, &le) {
			return 0, fmt.Errorf("the kernel refused the program: %v%s", le.Err, logTail(le.Log, len(kernelWrapper(0))))
		}
		return 0, err
	}
	if ret != 2 || len(out) < resultSlot {
		return 0, fmt.Errorf("the kernel's test run returned %d (the wrapper's bounds check failed?)", ret)
	}
	return binary.LittleEndian.Uint64(out), nil
}

// logTail returns the verifier log's last lines (where the reason is),
// with instruction indices shifted back to the test program's.
func logTail(log string, shift int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return fmt.Sprintf(" (log, whose instruction numbers are %d more than the test's: %s)", shift, strings.Join(lines, " | "))
}
