package progtype

import (
	"errors"
	"fmt"

	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// ErrHelperNotAllowed is wrapped by load errors for a helper the program
// type may not call (the kernel's verifier answers "unknown func").
var ErrHelperNotAllowed = errors.New("helper not allowed for the program type")

// skbHelpers work on an sk_buff; xdpHelpers on an xdp_buff.
var (
	skbHelpers = map[int32]bool{
		helpers.SkbStoreBytes: true, helpers.L3CsumReplace: true, helpers.L4CsumReplace: true,
		helpers.SkbLoadBytes: true, helpers.SkbLoadBytesRelative: true, helpers.SkbPullData: true,
		helpers.SkbChangeProto: true, helpers.SkbChangeType: true, helpers.SkbChangeTail: true,
		helpers.SkbChangeHead: true, helpers.SkbAdjustRoom: true, helpers.SkbVlanPush: true,
		helpers.SkbVlanPop: true, helpers.CloneRedirect: true,
	}
	xdpHelpers = map[int32]bool{
		helpers.XdpAdjustHead: true, helpers.XdpAdjustMeta: true, helpers.XdpAdjustTail: true,
		helpers.XdpLoadBytes: true, helpers.XdpStoreBytes: true, helpers.XdpGetBuffLen: true,
	}
)

func isSKB(t Type) bool {
	switch t {
	case SocketFilter, SchedCLS, SchedACT, CgroupSKB, LWTIn, LWTOut, LWTXmit, SkSKB:
		return true
	}
	return false
}

// CheckHelpers refuses calls to helpers of another program family
// (packet helpers of an sk_buff from XDP, and the reverse, or either from
// tracing programs). Types without a known context are not checked.
func CheckHelpers(t Type, insns []isa.Instruction) error {
	for n, i := range insns {
		if i.Opcode != isa.OpcodeCall || i.Src != isa.CallHelper {
			continue
		}
		id := i.Imm
		bad := (skbHelpers[id] && !isSKB(t)) || (xdpHelpers[id] && t != XDP)
		if bad && t != Unspec {
			return &isa.InstructionError{Index: n, Insn: i, Reason: fmt.Sprintf("helper %d is not available to %s programs", id, t), Err: ErrHelperNotAllowed}
		}
	}
	return nil
}
