// Package interp is the bpfvm interpreter: the reference semantics of the
// eBPF instruction set (RFC 9669, version 4) that every other engine is
// tested against. Where the RFC leaves a choice it follows the Linux kernel.
//
// # Use
//
//	p, err := interp.Load(insns, interp.Options{Helpers: helpers})
//	vm := p.NewVM()          // one per goroutine, reused run after run
//	r0, err := vm.Run(mem)   // r1 = &mem[0], r2 = len(mem)
//
// Load validates the program (isa.Validate) and pre-decodes it: one
// specialised operation per instruction, lddw folded into one operation,
// jump targets resolved to absolute slots, immediates sign-extended once.
// A Program is immutable and safe for concurrent use; a VM owns the stack
// and per-run state, and a run allocates nothing.
//
// # Memory
//
// Pointers are real host addresses, as in the kernel. Every load, store
// and atomic operation is checked at run time against the regions the run
// knows: the stack frames of the active calls, mem, the packet and the
// regions helpers add (engine.Env.AddRegion, possibly read-only). mem and
// the packet are writable. A bad access ends the run with an
// *isa.InstructionError wrapping engine.ErrOutOfBounds; so does an atomic
// operation on an address not aligned to its size (the kernel's verifier
// refuses those). Every run starts with a zeroed stack, so results never
// depend on an earlier run.
//
// # Semantics where the RFC is silent
//
//   - Division by zero gives 0, modulo by zero leaves the dividend (32-bit
//     forms zero-extend it); INT_MIN sdiv -1 = INT_MIN, INT_MIN smod -1 = 0.
//   - Immediates are sign-extended to 64 bits for ALU64 operations and for
//     64-bit jumps, the unsigned comparisons included.
//   - Bpf-to-bpf calls get a fresh 512-byte frame each and restore r6-r9;
//     at most 8 frames (the entry function's included) may be live.
//   - callx (0x8d) calls the helper whose id is in its dst register.
//   - Legacy packet loads (LD_ABS, LD_IND) read big-endian from the packet
//     (RunWithPacket) or mem (Run) at imm (+ src, 32-bit), set r1-r5 to 0,
//     and, when the load is outside the packet, return 0 from the current
//     function, as the kernel's rewrite of these instructions does. The
//     classic SKF_LL_OFF offsets address the packet's first byte; other
//     negative offsets need socket buffer metadata and count as outside.
//   - lddw with a pseudo source other than 0 (maps, BTF ids, functions)
//     and kfunc calls must be resolved by a loader: Load refuses them.
//
// # Limits
//
// Each run executes at most its budget of instructions (engine.DefaultBudget
// unless Options.Budget or VM.SetBudget says otherwise); a context set with
// VM.SetContext is checked every few thousand instructions. Failures are
// *isa.InstructionError values naming the instruction's index and
// disassembly and wrapping engine.ErrOutOfBounds, ErrBudgetExhausted,
// ErrCancelled, ErrUnknownHelper, ErrCallDepth or ErrHelperFailed.
package interp
