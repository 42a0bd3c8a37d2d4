package interp

// Operation kinds of the pre-decoded form. Every instruction variant that
// behaves differently gets its own kind so the run loop never re-examines
// opcode bits, offsets or immediates: one dense switch dispatches it.
const (
	opInvalid uint8 = iota // the second slot of an lddw; never executed

	opAdd64K
	opAdd64X
	opSub64K
	opSub64X
	opMul64K
	opMul64X
	opDiv64K
	opDiv64X
	opSdiv64K
	opSdiv64X
	opMod64K
	opMod64X
	opSmod64K
	opSmod64X
	opOr64K
	opOr64X
	opAnd64K
	opAnd64X
	opLsh64K
	opLsh64X
	opRsh64K
	opRsh64X
	opArsh64K
	opArsh64X
	opXor64K
	opXor64X
	opNeg64
	opMov64K
	opMov64X
	opMovsx64s8
	opMovsx64s16
	opMovsx64s32

	opAdd32K
	opAdd32X
	opSub32K
	opSub32X
	opMul32K
	opMul32X
	opDiv32K
	opDiv32X
	opSdiv32K
	opSdiv32X
	opMod32K
	opMod32X
	opSmod32K
	opSmod32X
	opOr32K
	opOr32X
	opAnd32K
	opAnd32X
	opLsh32K
	opLsh32X
	opRsh32K
	opRsh32X
	opArsh32K
	opArsh32X
	opXor32K
	opXor32X
	opNeg32
	opMov32K
	opMov32X
	opMovsx32s8
	opMovsx32s16

	// Byte order conversions, resolved for the host's byte order at load.
	opSwap16
	opSwap32
	opSwap64
	opZext16
	opZext32
	opNop

	opLDDW

	// Loads and stores: B, H, W, DW in this order (decodeStore relies on it).
	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxsB
	opLdxsH
	opLdxsW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW

	opAtomAdd32
	opAtomAdd64
	opAtomOr32
	opAtomOr64
	opAtomAnd32
	opAtomAnd64
	opAtomXor32
	opAtomXor64
	opAtomFetchAdd32
	opAtomFetchAdd64
	opAtomFetchOr32
	opAtomFetchOr64
	opAtomFetchAnd32
	opAtomFetchAnd64
	opAtomFetchXor32
	opAtomFetchXor64
	opAtomXchg32
	opAtomXchg64
	opAtomCmpxchg32
	opAtomCmpxchg64

	opLdAbsB
	opLdAbsH
	opLdAbsW
	opLdIndB
	opLdIndH
	opLdIndW

	opJA
	// Conditional jumps: 64K, 64X, 32K, 32X for each condition
	// (decodeJump relies on it).
	opJeq64K
	opJeq64X
	opJeq32K
	opJeq32X
	opJne64K
	opJne64X
	opJne32K
	opJne32X
	opJgt64K
	opJgt64X
	opJgt32K
	opJgt32X
	opJge64K
	opJge64X
	opJge32K
	opJge32X
	opJlt64K
	opJlt64X
	opJlt32K
	opJlt32X
	opJle64K
	opJle64X
	opJle32K
	opJle32X
	opJsgt64K
	opJsgt64X
	opJsgt32K
	opJsgt32X
	opJsge64K
	opJsge64X
	opJsge32K
	opJsge32X
	opJslt64K
	opJslt64X
	opJslt32K
	opJslt32X
	opJsle64K
	opJsle64X
	opJsle32K
	opJsle32X
	opJset64K
	opJset64X
	opJset32K
	opJset32X

	opCall      // static helper call; off indexes Program.helpers
	opCallX     // helper id in the dst register
	opCallLocal // bpf-to-bpf call; off is the callee's first slot
	opExit

	// Static map helper calls on inline maps (mapops.go).
	opMapLookupArray
	opMapLookupHash
	opMapUpdate
	opMapDelete

	// Superinstructions (fuse.go): one op running two adjacent
	// instructions. The second instruction keeps its own op in the next
	// slot, so a jump to it still works.
	opMovXAddK     // rX = rY; rX += K (dst equal)
	opMov32KStxW   // wX = K; *(u32 *)(rA + off) = rB
	opMov64KStxDW  // rX = K; *(u64 *)(rA + off) = rB
	opMovXMovX     // rA = rB; rC = rD
	opMovXMov32K   // rA = rB; wC = K
	opMovXMov64K   // rA = rB; rC = K
	opMov64KMov64K // rA = K; rC = K2
	opMov32KMov32K // wA = K; wC = K2
	opLdxDWAdd64X  // rA = *(u64 *)(rB + off); rC += rD
	opAdd64XMovX   // rA += rB; rC = rD
	opMov32KExit   // wA = K; exit (must stay just before opExit's case)

	// Loop counters: rA += K; a 64-bit conditional jump. Each condition
	// also stands for its negation with the targets swapped (off is the
	// target when the condition holds, the high half of imm the other).
	opAdd64KJeqK
	opAdd64KJeqX
	opAdd64KJgtK
	opAdd64KJgtX
	opAdd64KJgeK
	opAdd64KJgeX

	// Legacy packet load; 32-bit conditional jump on r0 against K. imm's
	// low half is the load's offset, its high half the target when the
	// condition fails; off is the target when it holds; K is the jump's
	// (next slot). Order: Abs B, H, W, Ind B, H, W; each Jeq, Jgt, Jge, Jset.
	opLdAbsBJeq
	opLdAbsBJgt
	opLdAbsBJge
	opLdAbsBJset
	opLdAbsHJeq
	opLdAbsHJgt
	opLdAbsHJge
	opLdAbsHJset
	opLdAbsWJeq
	opLdAbsWJgt
	opLdAbsWJge
	opLdAbsWJset
	opLdIndBJeq
	opLdIndBJgt
	opLdIndBJge
	opLdIndBJset
	opLdIndHJeq
	opLdIndHJgt
	opLdIndHJge
	opLdIndHJset
	opLdIndWJeq
	opLdIndWJgt
	opLdIndWJge
	opLdIndWJset

	// r0 = *(u8 *)skb[K]; w0 &= 15; w0 <<= 2; wX = w0: classic BPF's
	// ldxb 4*([k]&0xf) (IP header length) as cbpf translates it, four
	// instructions. src holds X's register.
	opLdAbsBMsh

	// rX = rY; rX += K; rZ = imm64 (lddw): the arguments of every map
	// helper call clang emits (r2 = r10; r2 += -4; r1 = map ll). imm is
	// the add's; the lddw's op stays in its slot, two after.
	opMovXAddKLddw

	// rA = *(u64 *)(rB + off); rA += rC; rC = rA (A != C; aux is C):
	// clang's sum of looked-up values (r1 = *(u64 *)(r0 + 0); r1 += r6;
	// r6 = r1).
	opLdxDWAddMovX

	// A map lookup as clang emits it, eight slots (fuse.go):
	// wA = K (or rA = K); *(u32 *)(r10 + o1) = rA (or u64);
	// r2 = r10; r2 += o2; r1 = map ll; call map_lookup_elem;
	// if r0 == 0 goto T (or !=). dst and imm are the mov's, src is the
	// map (the lookup op's dst), off packs o1 and o2, aux flags (see
	// mapGroup).
	opMapGroupArray
	opMapGroupHash

	numOps
)

// The dispatch switch must stay a byte-indexed jump table.
var _ [256 - int(numOps)]struct{}
