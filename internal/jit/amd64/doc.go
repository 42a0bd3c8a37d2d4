// Package amd64 compiles eBPF programs to x86-64 machine code and runs them.
//
// It mirrors the interpreter's API (internal/interp): Load compiles a
// program, Program.NewVM makes a reusable machine for one goroutine, and
// VM.Run runs the program over a memory buffer. The interpreter defines the
// semantics; the JIT must agree with it on every program (the conformance
// suite and a differential fuzzer check this).
//
// # How generated code runs
//
// The code lives in memory that is never writable and executable at once:
// it is written into a read-write mapping which is then made read-execute,
// and unmapped by Program.Close (or a cleanup once the Program is
// unreachable).
//
// One Go-assembly trampoline (enter) calls into the code with a pointer to a
// run context (runContext) in R9. The generated code never pushes on the
// goroutine stack and never calls Go: the eBPF stack is a heap buffer, local
// (bpf-to-bpf) calls use a shadow call stack inside the run context, and
// everything that needs Go (helpers, an exhausted budget slice, an access
// outside the regions the code can check inline) is an exit: the code saves
// the eBPF registers in the run context, records an exit code and the
// instruction index, and returns to the trampoline. Go does the work and
// re-enters the code at the resume point recorded at compile time.
//
// A run starts through a second trampoline (enterFresh) that passes r1, r2
// and the budget slice in registers; Go sets up the rest of a run (the
// buffers Env.Memory sees, the budget reserve) only if the code exits for
// something else than the end of the run, so a short run costs little more
// than the two calls. A static helper call exits and re-enters inline at
// the call site: it saves only what the call leaves live, and Go re-enters
// right after the exit, where the registers are loaded back.
//
// LoadFilter compiles short programs that need none of this (no calls, no
// backward jumps) for FilterVM, the filter entry: called as a Go function,
// with no budget, no exits and the packet in registers; cbpf's JIT engine
// runs classic filters on it (RATIONALE.md).
//
// Register mapping (as the Linux x86-64 JIT, except r10): r0 rax, r1 rdi,
// r2 rsi, r3 rdx, r4 rcx, r5 r8, r6 rbx, r7 r13, r8 r14, r9 r15, r10 (the
// frame pointer) r12. x86 r9 holds the run context, r10 the remaining budget
// slice and r11 is the scratch register. rbp is never touched, so Go's frame
// pointer chain stays intact.
//
// # Budget and cancellation
//
// Every basic block starts by subtracting its instruction count from the
// budget slice in r10 and exits to Go when the slice would go negative, before
// running any of the block. Go then refills the slice from the run's budget
// (at most budgetQuantum instructions at a time), checks the run's
// context for cancellation, and resumes the block; when the whole budget is
// too small for the block the run fails with engine.ErrBudgetExhausted
// naming the instruction the interpreter would have stopped at. So a run
// never executes more instructions than its budget, Executed is exact for
// runs that succeed, and a cancelled context stops even an infinite loop
// within one slice.
//
// # Checked memory accesses
//
// Unless the caller marks an access as proven safe (Options.Proven, which
// the verifier will fill), every load, store and atomic computes its address
// into r11 and compares it with the run's regions (input memory, the stack,
// the packet, and a cached region a helper added) inline; an address in
// none of them exits to Go, which checks the regions helpers added
// (Env.AddRegion) and either resumes at the access (caching the region) or
// fails the run with engine.ErrOutOfBounds. Stack accesses through r10
// with a constant offset inside the frame need no check at all. Atomics
// are also checked for alignment (a misaligned one fails, as in the
// interpreter, and would be a split lock on x86).
//
// # Constant blinding
//
// With Options.BlindConstants every immediate (ALU and jump operands,
// stored values, lddw, shift counts, legacy packet load offsets) is
// emitted xored with a fresh random key and xored back at run time, so an untrusted program cannot place chosen byte
// sequences in executable memory.
//
// # Inline helpers
//
// With Options.Inline (engine.Inline), array lookups and get_prandom_u32
// run in generated code, hash lookups of absent keys too, and the other
// static map helper calls on the program's maps reach the map without the
// generic helper (inline.go, RATIONALE.md).
//
// # Not yet
//
// ktime is still a helper exit. Tail calls are a helper (in
// internal/helpers) whose error ends the run; the runner starts the target
// program (bpfvm's Program.Run), on either engine. Programs that reference
// maps (lddw pseudo sources) or kfuncs are refused at load with
// ErrUnsupported, as by the interpreter: the loader resolves them first.
package amd64
