package cbpf

import (
	"errors"
	"fmt"
)

// ErrInvalidProgram is wrapped by every error Check returns: the kernel
// would refuse the program (setsockopt(SO_ATTACH_FILTER) fails with EINVAL).
var ErrInvalidProgram = errors.New("invalid classic BPF program")

// InstructionError is an error about one instruction of a classic program.
type InstructionError struct {
	Index  int
	Insn   Instruction
	Reason string
	Err    error
}

func (e *InstructionError) Error() string {
	return fmt.Sprintf("instruction %d (%s): %s", e.Index, e.Insn.format(e.Index, false), e.Reason)
}

func (e *InstructionError) Unwrap() error { return e.Err }

func invalid(prog []Instruction, n int, format string, args ...any) error {
	return &InstructionError{Index: n, Insn: prog[n], Reason: fmt.Sprintf(format, args...), Err: ErrInvalidProgram}
}

// allowed lists the opcodes Linux accepts (net/core/filter.c,
// chk_code_allowed). Everything else is refused, including BSD's `ret x`
// and the size bits on `ld #k`.
var allowed = func() (t [256]bool) {
	for _, op := range []uint16{AluADD, AluSUB, AluMUL, AluDIV, AluMOD, AluAND, AluOR, AluXOR, AluLSH, AluRSH} {
		t[ClassALU|op|SrcK] = true
		t[ClassALU|op|SrcX] = true
	}
	t[OpNeg] = true
	for _, size := range []uint16{SizeW, SizeH, SizeB} {
		t[ClassLD|ModeABS|size] = true
		t[ClassLD|ModeIND|size] = true
	}
	for _, op := range []uint16{OpLDImm, OpLDMem, OpLDLen, OpLDXImm, OpLDXMem, OpLDXLen, OpLDXMSH,
		OpST, OpSTX, OpTAX, OpTXA, OpRetK, OpRetA, OpJA} {
		t[op] = true
	}
	for _, op := range []uint16{JmpJEQ, JmpJGT, JmpJGE, JmpJSET} {
		t[ClassJMP|op|SrcK] = true
		t[ClassJMP|op|SrcX] = true
	}
	return t
}()

// Check applies the kernel's rules for classic programs (net/core/filter.c:
// bpf_check_basics_ok, bpf_check_classic, check_load_and_stores), so it
// accepts exactly what SO_ATTACH_FILTER accepts:
//   - 1 to 4096 instructions, every opcode one Linux knows;
//   - no division or modulo by the constant 0, constant shifts below 32;
//   - scratch memory indices below 16;
//   - jumps forward and inside the program;
//   - absolute loads in the ancillary area (SKF_AD_OFF and above) only at
//     known ancillary offsets;
//   - the last instruction a return;
//   - every M[k] read preceded, on every path, by a write to M[k].
//
// Programs Check accepts run identically on Eval, Filter and the kernel.
// Not modelled: the kernel's limits after the check, which refuse some
// very long programs Check accepts: socket memory (net.core.optmem_max,
// ENOMEM, around 2000 instructions by default) and bpf_convert_filter's
// 16-bit eBPF jump offsets (EINVAL for a ja spanning more than 32767
// translated instructions, possible only near 4096 instructions).
func Check(prog []Instruction) error {
	if len(prog) == 0 {
		return fmt.Errorf("%w: the program has no instructions", ErrInvalidProgram)
	}
	if len(prog) > MaxInstructions {
		return fmt.Errorf("%w: the program has %d instructions, more than the limit of %d", ErrInvalidProgram, len(prog), MaxInstructions)
	}
	for pc, ins := range prog {
		if ins.Op > 0xff || !allowed[ins.Op] {
			return invalid(prog, pc, "unknown opcode %#x", ins.Op)
		}
		switch ins.Op {
		case ClassALU | AluDIV | SrcK, ClassALU | AluMOD | SrcK:
			if ins.K == 0 {
				return invalid(prog, pc, "division by the constant 0")
			}
		case ClassALU | AluLSH | SrcK, ClassALU | AluRSH | SrcK:
			if ins.K >= 32 {
				return invalid(prog, pc, "shift by %d, 32 or more", ins.K)
			}
		case OpLDMem, OpLDXMem, OpST, OpSTX:
			if ins.K >= MemWords {
				return invalid(prog, pc, "scratch memory index %d out of range (0..%d)", ins.K, MemWords-1)
			}
		case OpJA:
			if uint64(ins.K) >= uint64(len(prog)-pc-1) {
				return invalid(prog, pc, "jump target %d is past the last instruction %d", uint64(pc)+1+uint64(ins.K), len(prog)-1)
			}
		case ClassLD | ModeABS | SizeW, ClassLD | ModeABS | SizeH, ClassLD | ModeABS | SizeB:
			if ins.K >= uint32(0xfffff000) && !isAncillary(ins.K) {
				return invalid(prog, pc, "unknown ancillary load offset SKF_AD_OFF%+d", int32(ins.K)-AncillaryOffset)
			}
		}
		if ins.IsJump() {
			if pc+int(ins.Jt)+1 >= len(prog) || pc+int(ins.Jf)+1 >= len(prog) {
				return invalid(prog, pc, "jump target %d or %d is past the last instruction %d", pc+1+int(ins.Jt), pc+1+int(ins.Jf), len(prog)-1)
			}
		}
	}
	if last := prog[len(prog)-1]; last.Op != OpRetK && last.Op != OpRetA {
		return invalid(prog, len(prog)-1, "the last instruction is not a return")
	}
	return checkMemory(prog)
}

// checkMemory is check_load_and_stores: a forward pass tracking which
// scratch cells are certainly written. Jumps AND their state into their
// targets; after a jump the fall-through state is "all written", the
// identity of AND, so a target's state is exactly what its jumpers give
// (plus the fall-through from a preceding non-jump, as in the kernel).
func checkMemory(prog []Instruction) error {
	masks := make([]uint16, len(prog))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, ins := range prog {
		valid &= masks[pc]
		switch {
		case ins.Op == OpST || ins.Op == OpSTX:
			valid |= 1 << ins.K
		case ins.Op == OpLDMem || ins.Op == OpLDXMem:
			if valid&(1<<ins.K) == 0 {
				return invalid(prog, pc, "M[%d] may be read before it is written", ins.K)
			}
		case ins.Op == OpJA:
			masks[pc+1+int(ins.K)] &= valid
			valid = 0xffff
		case ins.IsJump():
			masks[pc+1+int(ins.Jt)] &= valid
			masks[pc+1+int(ins.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}

// ancillaryNames maps the known ancillary offsets (k - SKF_AD_OFF) to the
// names libpcap prints in brackets and bpf_asm accepts after '#'.
var ancillaryNames = map[uint32]string{
	AncillaryProtocol:       "proto",
	AncillaryPktType:        "type",
	AncillaryIfIndex:        "ifidx",
	AncillaryNLAttr:         "nla",
	AncillaryNLAttrNest:     "nlan",
	AncillaryMark:           "mark",
	AncillaryQueue:          "queue",
	AncillaryHatype:         "hatype",
	AncillaryRXHash:         "rxhash",
	AncillaryCPU:            "cpu",
	AncillaryAlu_XOR_X:      "xor_x",
	AncillaryVLANTag:        "vlan_tci",
	AncillaryVLANTagPresent: "vlanp",
	AncillaryPayOffset:      "poff",
	AncillaryRandom:         "random",
	AncillaryVLANTPID:       "vlan_tpid",
}

// isAncillary reports whether k (of an absolute load) is SKF_AD_OFF plus a
// known ancillary offset.
func isAncillary(k uint32) bool {
	if k < uint32(0xfffff000) {
		return false
	}
	_, ok := ancillaryNames[k-uint32(0xfffff000)]
	return ok
}
