package verifier

import (
	"fmt"
	"math"
	"sort"

	"github.com/bpfvm/bpfvm/internal/isa"
)

const (
	maxVarOff      = 1 << 29 // BPF_MAX_VAR_OFF
	maxVarSize     = 1 << 29 // BPF_MAX_VAR_SIZ
	maxPacketOff   = 0xffff
	defaultLimit   = 1_000_000
	maxStackStates = 8192 // pending branches (BPF_COMPLEXITY_LIMIT_JMP_SEQ)
	// maxStoredStates bounds the states kept for pruning, so a hostile
	// program cannot exhaust memory before the instruction limit ends it.
	maxStoredStates = 64 * 1024
)

// verifier is one analysis run.
type verifier struct {
	insns []isa.Instruction
	cfg   Config
	pt    *progType
	idx   int
	facts []Fact
	stats Stats

	second     []bool // second halves of lddw
	subprogs   []int  // entry instruction of each subprogram, sorted
	subprogOf  []int
	prunePoint []bool
	// forceCheckpoint: always store a state here (may_goto loops).
	forceCheckpoint []bool
	live            []uint16 // registers live before each instruction
	ptrType         []RegType
	explored        [][]*state
	pending         []*state
	cur             *state
	idGen           uint32
	limit           int

	jmps, prevJmps, prevInsns int
	curStates                 int
	depth                     []int // stack depth per subprogram
}

func (v *verifier) insnString(i int) string {
	if i < 0 || i >= len(v.insns) {
		return ""
	}
	return v.insns[i].String()
}

// fail builds a rejection at the current instruction.
func (v *verifier) fail(kind Kind, format string, args ...any) *Error {
	e := &Error{Kind: kind, Index: v.idx, Insn: v.insnString(v.idx), Reason: fmt.Sprintf(format, args...)}
	if v.cur != nil {
		e.State = v.cur.String()
		var path []Branch
		for p := v.cur.path; p != nil && len(path) < 64; p = p.prev {
			path = append(path, Branch{Index: p.idx, Taken: p.taken})
		}
		for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
			path[i], path[j] = path[j], path[i]
		}
		e.Path = path
	}
	return e
}

func (v *verifier) unsafe(format string, args ...any) *Error {
	return v.fail(KindUnsafe, format, args...)
}

func (v *verifier) unsupported(format string, args ...any) *Error {
	return v.fail(KindUnsupported, format, args...)
}

func (v *verifier) logf(format string, args ...any) {
	if v.cfg.Log != nil && v.cfg.LogLevel > 0 {
		fmt.Fprintf(v.cfg.Log, format, args...)
	}
}

func (v *verifier) run() error {
	v.idx = -1
	if err := v.checkStatic(); err != nil {
		return err
	}
	pt, ok := progTypes[v.cfg.ProgType]
	if !ok {
		return &Error{Kind: KindUnsupported, Index: -1, Reason: fmt.Sprintf("program type %q is not supported", v.cfg.ProgType)}
	}
	v.pt = pt
	v.limit = v.cfg.MaxProcessed
	if v.limit <= 0 {
		v.limit = defaultLimit
	}
	n := len(v.insns)
	v.facts = make([]Fact, n)
	v.ptrType = make([]RegType, n)
	v.explored = make([][]*state, n)
	if err := v.checkStructure(); err != nil {
		return err
	}
	v.computeLiveness()
	if err := v.doCheck(); err != nil {
		return err
	}
	for i := range v.facts {
		if v.facts[i]&factMemUnsafe != 0 {
			v.facts[i] &^= FactMemSafe | factMemUnsafe
		}
	}
	v.stats.StackDepth = v.depth
	return v.checkStackDepth()
}

// checkStructure finds the subprograms, checks that jumps stay inside
// their function, that every function ends in exit or a jump, and that
// every instruction is reachable (the kernel's check_subprogs/check_cfg).
func (v *verifier) checkStructure() error {
	insns := v.insns
	n := len(insns)
	starts := map[int]bool{0: true}
	for i := 0; i < n; i++ {
		in := insns[i]
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal {
			t, _ := isa.Target(insns, i)
			starts[t] = true
		}
		if in.IsLDDW() {
			if in.Src == isa.PseudoFunc {
				t, _ := isa.Target(insns, i)
				starts[t] = true
			}
			i++
		}
	}
	for s := range starts {
		v.subprogs = append(v.subprogs, s)
	}
	sort.Ints(v.subprogs)
	v.depth = make([]int, len(v.subprogs))
	v.subprogOf = make([]int, n)
	for k, s := range v.subprogs {
		end := n
		if k+1 < len(v.subprogs) {
			end = v.subprogs[k+1]
		}
		for i := s; i < end; i++ {
			v.subprogOf[i] = k
		}
		last := end - 1
		if last > s && insns[last-1].IsLDDW() {
			last--
		}
		if l := insns[last]; l.Opcode != isa.OpcodeExit && l.Opcode != isa.OpcodeJA && l.Opcode != isa.OpcodeJA32 {
			v.idx = last
			return v.fail(KindInvalid, "last insn is not an exit or jmp: function %d ends at instruction %d, and execution would fall into the next function", k, last)
		}
	}
	v.prunePoint = make([]bool, n)
	v.forceCheckpoint = make([]bool, n)
	for i := 0; i < n; i++ {
		in := insns[i]
		if in.IsLDDW() {
			i++
			continue
		}
		if in.Class() != isa.ClassJMP && in.Class() != isa.ClassJMP32 {
			continue
		}
		if in.Op() == isa.OpCALL {
			if in.Src == isa.CallLocal && in.Source() == isa.SrcK {
				v.prunePoint[i] = true
			}
			if in.Src == 0 && in.Source() == isa.SrcK && isCallbackHelper(in.Imm) {
				// Callback iterations come back here: check for a fixed point.
				v.prunePoint[i] = true
				v.forceCheckpoint[i] = true
			}
			if i+1 < n {
				v.prunePoint[i+1] = true
			}
			continue
		}
		if in.Op() == isa.OpEXIT {
			continue
		}
		t, _ := isa.Target(insns, i)
		if v.subprogOf[t] != v.subprogOf[i] {
			v.idx = i
			return v.fail(KindInvalid, "jump out of range from insn %d to %d: a jump may not leave its function", i, t)
		}
		if in.Op() == isa.OpJA {
			v.prunePoint[t] = true
		} else if in.Opcode == isa.ClassJMP|opJCOND {
			v.prunePoint[i] = true
			v.forceCheckpoint[i] = true
		} else {
			v.prunePoint[i] = true
		}
	}
	// Reachability: a depth-first walk from the entry, following calls.
	seen := make([]bool, n)
	work := []int{0}
	seen[0] = true
	push := func(t int) {
		if t >= 0 && t < n && !seen[t] {
			seen[t] = true
			work = append(work, t)
		}
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		for _, s := range v.successors(i) {
			push(s)
		}
		in := insns[i]
		if in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal {
			t, _ := isa.Target(insns, i)
			push(t)
		}
		if in.IsLDDW() && in.Src == isa.PseudoFunc {
			t, _ := isa.Target(insns, i)
			push(t)
		}
	}
	for i := 0; i < n; i++ {
		if !seen[i] {
			v.idx = i
			return v.fail(KindInvalid, "unreachable insn %d: no path from the entry reaches it (the kernel rejects dead code)", i)
		}
		if insns[i].IsLDDW() {
			i++
		}
	}
	return nil
}

// successors lists the instructions control may pass to after i within
// its function (a local call continues at the next instruction).
func (v *verifier) successors(i int) []int {
	in := v.insns[i]
	if in.IsLDDW() {
		return []int{i + 2}
	}
	switch in.Class() {
	case isa.ClassJMP, isa.ClassJMP32:
		switch in.Op() {
		case isa.OpEXIT:
			return nil
		case isa.OpCALL:
			return []int{i + 1}
		case isa.OpJA:
			t, _ := isa.Target(v.insns, i)
			return []int{t}
		}
		t, _ := isa.Target(v.insns, i)
		return []int{i + 1, t}
	}
	return []int{i + 1}
}

const allRegs = 1<<10 - 1

// usesDefs returns the registers instruction i reads and writes.
func (v *verifier) usesDefs(i int) (use, def uint16) {
	in := v.insns[i]
	bit := func(r uint8) uint16 { return 1 << r }
	switch in.Class() {
	case isa.ClassALU, isa.ClassALU64:
		if in.Op() != isa.OpMOV {
			use |= bit(in.Dst)
		}
		if in.Source() == isa.SrcX && in.Op() != isa.OpNEG && in.Op() != isa.OpEND {
			use |= bit(in.Src)
		}
		def = bit(in.Dst)
	case isa.ClassLD:
		if in.IsLDDW() {
			def = bit(in.Dst)
		} else {
			use = bit(isa.R6)
			if in.Mode() == isa.ModeIND {
				use |= bit(in.Src)
			}
			def = 0x3f
		}
	case isa.ClassLDX:
		use, def = bit(in.Src), bit(in.Dst)
	case isa.ClassST:
		use = bit(in.Dst)
	case isa.ClassSTX:
		use = bit(in.Dst) | bit(in.Src)
		if in.Mode() == isa.ModeATOMIC {
			if in.Imm == isa.AtomicCMPXCHG {
				use |= bit(isa.R0)
				def = bit(isa.R0)
			} else if in.Imm&isa.AtomicFETCH != 0 {
				def = bit(in.Src)
			}
		}
	case isa.ClassJMP, isa.ClassJMP32:
		switch in.Op() {
		case isa.OpJA:
		case isa.OpEXIT:
			use = bit(isa.R0)
		case isa.OpCALL:
			use = 0x3e
			if in.Source() == isa.SrcX {
				use |= bit(in.Dst)
			}
			def = 0x3f
		default:
			use = bit(in.Dst)
			if in.Source() == isa.SrcX {
				use |= bit(in.Src)
			}
		}
	}
	return use &^ bit(isa.R10), def
}

// computeLiveness is a static backward liveness analysis of r0-r9. A
// register dead at a pruning point cannot affect the rest of the path, so
// states may differ in it.
func (v *verifier) computeLiveness() {
	n := len(v.insns)
	v.live = make([]uint16, n)
	uses := make([]uint16, n)
	defs := make([]uint16, n)
	for i := 0; i < n; i++ {
		uses[i], defs[i] = v.usesDefs(i)
	}
	for changed := true; changed; {
		changed = false
		for i := n - 1; i >= 0; i-- {
			if i > 0 && v.insns[i-1].IsLDDW() {
				continue
			}
			var out uint16
			for _, s := range v.successors(i) {
				if s < n {
					out |= v.live[s]
				}
			}
			in := uses[i] | out&^defs[i]
			if in != v.live[i] {
				v.live[i] = in
				changed = true
			}
		}
	}
}

// checkStackDepth walks every call chain (dead code included, as the
// kernel's check_max_stack_depth does): at most 8 frames, and at most 512
// bytes of stack in total, each frame rounded up to 32 bytes.
func (v *verifier) checkStackDepth() error {
	round := func(d int) int { return (max(d, 1) + 31) &^ 31 }
	var walk func(sp, total, frames int) error
	walk = func(sp, total, frames int) error {
		total += round(v.depth[sp])
		if total > isa.StackSize {
			return &Error{Kind: KindUnsafe, Index: v.subprogs[sp], Insn: v.insnString(v.subprogs[sp]),
				Reason: fmt.Sprintf("combined stack size of %d calls is %d. Too large: the stack of a call chain may use at most %d bytes", frames, total, isa.StackSize)}
		}
		end := len(v.insns)
		if sp+1 < len(v.subprogs) {
			end = v.subprogs[sp+1]
		}
		for i := v.subprogs[sp]; i < end; i++ {
			in := v.insns[i]
			if v.second[i] || !((in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal) || (in.IsLDDW() && in.Src == isa.PseudoFunc)) {
				continue
			}
			if frames+1 > isa.MaxCallDepth {
				return &Error{Kind: KindUnsafe, Index: i, Insn: v.insnString(i),
					Reason: fmt.Sprintf("the call stack of %d frames is too deep !: calls may nest at most %d deep, counting every call in the code", frames+1, isa.MaxCallDepth)}
			}
			t, _ := isa.Target(v.insns, i)
			if err := walk(v.subprogOf[t], total, frames+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(0, 0, 1)
}

// initialState is the state at the entry: r1 = context, r10 = frame pointer.
func (v *verifier) initialState() *state {
	f := &frame{callsite: -1}
	for i := range f.regs {
		f.regs[i] = Reg{Type: NotInit}
	}
	f.regs[isa.R1].setPointer(PtrToCtx)
	if v.pt.name == "mem" {
		if v.cfg.MemSize > 0 {
			f.regs[isa.R1].setPointer(PtrToMem)
			f.regs[isa.R1].MemSize = v.cfg.MemSize
		} else {
			f.regs[isa.R1].setKnown(0)
		}
		f.regs[isa.R2].setKnown(uint64(v.cfg.MemSize))
	}
	f.regs[isa.R10].setPointer(PtrToStack)
	return &state{frames: []*frame{f}, branches: 1}
}

func (v *verifier) newID() uint32 {
	v.idGen++
	return v.idGen
}

// doCheck explores every path depth first.
func (v *verifier) doCheck() error {
	v.cur = v.initialState()
	for {
		if v.cur == nil {
			if len(v.pending) == 0 {
				return nil
			}
			v.cur = v.pending[len(v.pending)-1]
			v.pending = v.pending[:len(v.pending)-1]
			v.curStates--
			v.logf("from %d to %d: %s\n", v.cur.path.idx, v.cur.insn, v.cur)
		}
		v.idx = v.cur.insn
		v.stats.Processed++
		if v.stats.Processed > v.limit {
			return v.fail(KindLimit, "BPF program is too large. Processed %d insn: the analysis explores more than %d instructions over all paths; simplify loops or bound them more tightly", v.stats.Processed, v.limit)
		}
		if v.prunePoint[v.idx] {
			pruned, err := v.isStateVisited(v.idx)
			if err != nil {
				return err
			}
			if pruned {
				v.logf("%d: safe\n", v.idx)
				v.endPath()
				continue
			}
		}
		v.facts[v.idx] |= FactReached
		if err := v.checkFields(v.insns[v.idx]); err != nil {
			return err
		}
		if err := v.step(); err != nil {
			return err
		}
		if v.cfg.LogLevel > 0 {
			if v.cur != nil {
				v.logf("%d: (%02x) %s ; %s\n", v.idx, v.insns[v.idx].Opcode, v.insns[v.idx], v.cur)
			} else {
				v.logf("%d: (%02x) %s\n", v.idx, v.insns[v.idx].Opcode, v.insns[v.idx])
			}
		}
	}
}

// endPath finishes the current path (exit or pruned).
func (v *verifier) endPath() {
	for s := v.cur.parent; s != nil; s = s.parent {
		s.branches--
		if s.branches > 0 {
			break
		}
	}
	v.cur = nil
}

// push queues the other side of a branch, continuing at insn.
func (v *verifier) push(insn int, taken bool) (*state, error) {
	if len(v.pending) >= maxStackStates {
		return nil, v.fail(KindLimit, "the sequence of %d jumps is too complex", len(v.pending))
	}
	n := v.cur.copy()
	n.insn = insn
	n.path = &pathNode{idx: v.idx, taken: taken, prev: v.cur.path}
	if n.parent != nil {
		n.parent.branches++
	}
	v.pending = append(v.pending, n)
	v.curStates++
	v.stats.PeakStates = max(v.stats.PeakStates, v.curStates+v.stats.TotalStates)
	return n, nil
}

// isCallbackCall reports whether instruction idx calls a helper with a
// callback.
func (v *verifier) isCallbackCall(idx int) bool {
	in := v.insns[idx]
	return in.Opcode == isa.OpcodeCall && in.Src == 0 && isCallbackHelper(in.Imm)
}

func (v *verifier) isStateVisited(idx int) (bool, error) {
	cur := v.cur
	force := v.forceCheckpoint[idx]
	addNew := force || !(v.jmps-v.prevJmps < 2 && v.stats.Processed-v.prevInsns < 8)
	list := v.explored[idx]
	kept := list[:0]
	pruned, widened := false, false
	hashed, curHash := false, uint64(0)
	for i, old := range list {
		if pruned {
			kept = append(kept, list[i:]...)
			break
		}
		if old.branches > 0 && v.isCallbackCall(idx) {
			// Another iteration of a callback: it adds nothing once its
			// state is within an earlier one's (the helper bounds the
			// iterations at run time); otherwise widen what changed.
			if !widened && cur.cur().cbDepth > cbUnroll {
				widenScalars(old, cur)
				widened = true
			}
			if v.statesEqual(old, cur, false) {
				old.hits++
				pruned = true
				kept = append(kept, old)
				continue
			}
		} else if old.branches > 0 {
			// old is still being explored below: we are in a loop.
			if v.insns[idx].Opcode == isa.ClassJMP|opJCOND && old.mayGotoDepth != cur.mayGotoDepth && v.statesEqual(old, cur, false) {
				// A may_goto loop whose state repeats: the budget ends it.
				old.hits++
				pruned = true
				kept = append(kept, old)
				continue
			}
			if !hashed {
				curHash, hashed = regsHash(cur), true
			}
			if old.mayGotoDepth == cur.mayGotoDepth && v.maybeLooping(old, cur, curHash) && v.statesEqual(old, cur, true) {
				return false, v.unsafe("infinite loop detected at insn %d: the loop comes back to the same state, so it never ends", idx)
			}
			if !force && v.jmps-v.prevJmps < 20 && v.stats.Processed-v.prevInsns < 100 {
				addNew = false
			}
		} else if v.statesEqual(old, cur, false) {
			old.hits++
			pruned = true
			kept = append(kept, old)
			continue
		}
		if addNew {
			old.misses++
		}
		// Evict states that keep missing: they are unlikely to prune.
		if old.misses > old.hits*3+3 {
			v.stats.evicted++
			continue
		}
		kept = append(kept, old)
	}
	for i := len(kept); i < len(list); i++ {
		list[i] = nil
	}
	v.explored[idx] = kept
	if pruned || !addNew || v.stats.TotalStates-v.stats.evicted >= maxStoredStates {
		// Past the cap, stop storing states (memory stays bounded; the
		// analysis only loses pruning opportunities).
		return pruned, nil
	}
	n := cur.copy()
	n.insn = idx
	n.regsHash = regsHash(n)
	n.branches = 1
	n.parent = cur.parent
	cur.parent = n
	v.prevJmps, v.prevInsns = v.jmps, v.stats.Processed
	v.explored[idx] = append(v.explored[idx], n)
	v.stats.TotalStates++
	v.stats.MaxStatesPerInsn = max(v.stats.MaxStatesPerInsn, len(v.explored[idx]))
	v.stats.PeakStates = max(v.stats.PeakStates, v.curStates+v.stats.TotalStates-v.stats.evicted)
	return false, nil
}

func (v *verifier) maybeLooping(old, cur *state, curHash uint64) bool {
	if len(old.frames) != len(cur.frames) || old.regsHash != curHash {
		return false
	}
	return old.cur().regs == cur.cur().regs
}

// regsHash summarises the current frame's registers, so that most
// maybeLooping checks against the stored states of a long loop end
// without comparing eleven registers field by field.
func regsHash(s *state) uint64 {
	var h uint64
	regs := &s.cur().regs
	for i := range regs {
		r := &regs[i]
		h = h*0x100000001b3 + (uint64(r.Type) | uint64(uint32(r.Off))<<32)
		h = h*0x100000001b3 + r.VarOff.Value
		h = h*0x100000001b3 + r.Umax
	}
	return h
}

// statesEqual reports whether everything safe from old is safe from cur.
func (v *verifier) statesEqual(old, cur *state, exact bool) bool {
	if len(old.frames) != len(cur.frames) || len(old.refs) != len(cur.refs) || old.lock.m != cur.lock.m {
		return false
	}
	m := &idMap{}
	if old.lock.m != nil && !m.check(old.lock.id, cur.lock.id) {
		return false
	}
	for i := range old.refs {
		if !m.check(old.refs[i].id, cur.refs[i].id) {
			return false
		}
	}
	for fi := range old.frames {
		of, cf := old.frames[fi], cur.frames[fi]
		if of.callsite != cf.callsite {
			return false
		}
		var live uint16 = allRegs
		if fi == len(old.frames)-1 {
			live = v.live[old.insn]
		} else if cs := old.frames[fi+1].callsite; cs+1 < len(v.insns) {
			live = v.live[cs+1] &^ 0x3f
		}
		for r := 0; r < isa.NumRegisters-1; r++ {
			if !exact && live&(1<<r) == 0 {
				continue
			}
			if !regSafe(&of.regs[r], &cf.regs[r], m, exact) {
				return false
			}
		}
		if !stackSafe(of, cf, m, exact) {
			return false
		}
	}
	return true
}

// step executes the instruction at v.cur.insn on the abstract state.
func (v *verifier) step() error {
	in := v.insns[v.idx]
	switch in.Class() {
	case isa.ClassALU, isa.ClassALU64:
		if err := v.checkALU(in); err != nil {
			return err
		}
		v.cur.insn++
	case isa.ClassLDX:
		if err := v.checkLoad(in); err != nil {
			return err
		}
		v.cur.insn++
	case isa.ClassST, isa.ClassSTX:
		if in.Class() == isa.ClassSTX && in.Mode() == isa.ModeATOMIC {
			if err := v.checkAtomic(in); err != nil {
				return err
			}
		} else if err := v.checkStore(in); err != nil {
			return err
		}
		v.cur.insn++
	case isa.ClassLD:
		if in.IsLDDW() {
			if err := v.checkLDDW(in); err != nil {
				return err
			}
			v.cur.insn += 2
			return nil
		}
		if err := v.checkLdAbs(in); err != nil {
			return err
		}
		v.cur.insn++
	case isa.ClassJMP, isa.ClassJMP32:
		return v.checkJump(in)
	}
	return nil
}

func (v *verifier) regs() *[isa.NumRegisters]Reg { return &v.cur.cur().regs }

func (v *verifier) checkReadable(r uint8) error {
	if v.regs()[r].Type == NotInit {
		return v.unsafe("R%d !read_ok: r%d is read before anything was written to it on this path", r, r)
	}
	return nil
}

func (v *verifier) checkLDDW(in isa.Instruction) error {
	regs := v.regs()
	d := &regs[in.Dst]
	imm := isa.Imm64(v.insns, v.idx)
	switch in.Src {
	case isa.PseudoImm64:
		d.setKnown(imm)
		return nil
	case isa.PseudoMapFD, isa.PseudoMapIdx, isa.PseudoMapValue, isa.PseudoMapIdxValue:
		m := v.mapFor(in)
		if m == nil {
			if in.Src == isa.PseudoMapFD || in.Src == isa.PseudoMapValue {
				return v.unsafe("fd %d is not pointing to valid bpf_map: no map with that fd was given", in.Imm)
			}
			return v.unsafe("map index %d is out of range: the program has %d maps", in.Imm, len(v.cfg.Maps))
		}
		if in.Src == isa.PseudoMapFD || in.Src == isa.PseudoMapIdx {
			d.setPointer(ConstPtrToMap)
			d.Map = m
			return nil
		}
		off := uint32(v.insns[v.idx+1].Imm)
		if m.Type != "array" {
			return v.unsafe("direct value access on %s map is not supported by the kernel: only array maps have a fixed value address", m.Type)
		}
		if off >= m.ValueSize {
			return v.unsafe("invalid access to map value pointer, value_size=%d off=%d: the offset is past the value", m.ValueSize, off)
		}
		d.setPointer(PtrToMapValue)
		d.Map = m
		d.Off = int32(off)
		return nil
	case isa.PseudoFunc:
		t, _ := isa.Target(v.insns, v.idx)
		d.setPointer(PtrToFunc)
		d.Subprog = int32(t)
		return nil
	}
	return v.unsupported("lddw with pseudo source %d (kernel BTF objects) is not supported", in.Src)
}

func (v *verifier) mapFor(in isa.Instruction) *Map {
	switch in.Src {
	case isa.PseudoMapIdx, isa.PseudoMapIdxValue:
		if in.Imm >= 0 && int(in.Imm) < len(v.cfg.Maps) {
			return v.cfg.Maps[in.Imm]
		}
		return nil
	}
	for _, m := range v.cfg.Maps {
		if m.FD == in.Imm {
			return m
		}
	}
	return nil
}

func (v *verifier) checkLdAbs(in isa.Instruction) error {
	if !v.pt.ldAbs {
		return v.unsafe("BPF_LD_[ABS|IND] instructions not allowed for this program type")
	}
	if err := v.checkReadable(isa.R6); err != nil {
		return err
	}
	if v.cur.lock.m != nil {
		return v.unsafe("BPF_LD_[ABS|IND] cannot be used inside bpf_spin_lock-ed region")
	}
	if len(v.cur.refs) > 0 {
		return v.unsafe("BPF_LD_[ABS|IND] would lead to reference leak: a legacy packet load may end the program while it holds a reference")
	}
	regs := v.regs()
	if regs[isa.R6].Type != PtrToCtx {
		return v.unsafe("at the time of BPF_LD_ABS|IND R6 != pointer to skb: legacy packet loads take the context in r6")
	}
	if in.Mode() == isa.ModeIND {
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
	}
	if regs[isa.R6].Off != 0 || !regs[isa.R6].VarOff.IsConst() || regs[isa.R6].VarOff.Value != 0 {
		return v.unsafe("dereference of modified ctx ptr R6 off=%d disallowed", regs[isa.R6].Off)
	}
	for r := isa.R0; r <= isa.R5; r++ {
		regs[r] = Reg{Type: NotInit}
	}
	regs[isa.R0].setUnknown()
	return nil
}

// ---- ALU ----

func (v *verifier) checkALU(in isa.Instruction) error {
	regs := v.regs()
	op := in.Op()
	alu32 := in.Class() == isa.ClassALU
	d := &regs[in.Dst]
	switch op {
	case isa.OpEND, isa.OpNEG:
		if err := v.checkReadable(in.Dst); err != nil {
			return err
		}
		if op == isa.OpNEG && d.Type == Scalar {
			scalarALU(d, Reg{}, isa.OpNEG, alu32)
			d.ID, d.AddConst, d.Off = 0, false, 0
			return nil
		}
		if op == isa.OpEND && d.Type == Scalar {
			// Byte swaps move known bits: swap value and mask alike.
			t := Tnum{byteSwap(d.VarOff.Value, in), byteSwap(d.VarOff.Mask, in)}
			d.setUnknown()
			d.VarOff = t
			d.boundsSync()
			return nil
		}
		d.setUnknown()
		return nil
	case isa.OpMOV:
		return v.checkMov(in, alu32)
	}
	if err := v.checkReadable(in.Dst); err != nil {
		return err
	}
	var src Reg
	if in.Source() == isa.SrcX {
		if err := v.checkReadable(in.Src); err != nil {
			return err
		}
		src = regs[in.Src]
	} else {
		if (op == isa.OpDIV || op == isa.OpMOD) && in.Imm == 0 {
			return v.unsafe("div by zero: the divisor is the constant 0")
		}
		if op == isa.OpLSH || op == isa.OpRSH || op == isa.OpARSH {
			w := int32(64)
			if alu32 {
				w = 32
			}
			if in.Imm < 0 || in.Imm >= w {
				return v.unsafe("invalid shift %d: shifts must be less than the operand width %d", in.Imm, w)
			}
		}
		src.setKnown(uint64(int64(in.Imm)))
	}
	if d.Type != Scalar || src.Type != Scalar {
		return v.pointerALU(in, d, &src, alu32)
	}
	// rX += K on a linked scalar keeps the link, remembering K, so that
	// what a later comparison learns about one register carries over to
	// the other (64-bit only: the kernel's 32-bit form is not tracked).
	link, linkOff := false, int32(0)
	if (op == isa.OpADD || op == isa.OpSUB) && !alu32 && d.ID != 0 && !d.AddConst && src.isConst() {
		val := int64(src.VarOff.Value)
		if val >= math.MinInt32 && val <= math.MaxInt32 && !(op == isa.OpSUB && val == math.MinInt32) {
			link, linkOff = true, int32(val)
			if op == isa.OpSUB {
				linkOff = -linkOff
			}
		}
	}
	id := d.ID
	scalarALU(d, src, op, alu32)
	d.ID, d.AddConst, d.Off = 0, false, 0
	if link {
		d.ID, d.AddConst, d.Off = id, true, linkOff
	}
	return nil
}

func byteSwap(x uint64, in isa.Instruction) uint64 {
	w := uint(in.Imm)
	if in.Class() == isa.ClassALU && in.Source() == isa.SrcK {
		// to little endian on a little-endian machine: truncation only
		if w == 64 {
			return x
		}
		return x & (1<<w - 1)
	}
	var r uint64
	for i := uint(0); i < w/8; i++ {
		r = r<<8 | (x>>(8*i))&0xff
	}
	return r
}

func (v *verifier) checkMov(in isa.Instruction, alu32 bool) error {
	regs := v.regs()
	d := &regs[in.Dst]
	if in.Source() == isa.SrcK {
		if alu32 {
			d.setKnown(uint64(uint32(in.Imm)))
		} else {
			d.setKnown(uint64(int64(in.Imm)))
		}
		return nil
	}
	if err := v.checkReadable(in.Src); err != nil {
		return err
	}
	s := &regs[in.Src]
	if in.Offset != 0 { // movsx
		if s.Type != Scalar {
			d.setUnknown()
			return nil
		}
		noSext := s.Umax < uint64(1)<<(in.Offset-1)
		if noSext && !alu32 {
			v.assignScalarID(s)
		}
		val := *s
		if !noSext || alu32 {
			val.ID = 0
		}
		val.AddConst, val.Off = false, 0
		val.coerceToSizeSX(int(in.Offset) / 8)
		if alu32 {
			val.coerceToSize(4)
		}
		*d = val
		return nil
	}
	if !alu32 {
		if s.Type == Scalar {
			v.assignScalarID(s)
		}
		*d = *s
		return nil
	}
	if s.Type != Scalar {
		d.setUnknown()
		d.coerceToSize(4)
		return nil
	}
	fits := s.Umax <= math.MaxUint32
	if fits {
		v.assignScalarID(s)
	}
	val := *s
	if !fits {
		val.ID = 0
	}
	val.AddConst, val.Off = false, 0
	val.VarOff = val.VarOff.Subreg()
	val.zext32()
	val.boundsSync()
	*d = val
	return nil
}

func (v *verifier) assignScalarID(r *Reg) {
	if r.Type == Scalar && r.AddConst {
		// Links do not chain: rX = rY where rY = rZ + K starts afresh.
		r.ID, r.AddConst, r.Off = 0, false, 0
	}
	if r.Type == Scalar && r.ID == 0 && !r.VarOff.IsConst() {
		r.ID = v.newID()
	}
}

func opName(op uint8) string {
	switch op {
	case isa.OpADD:
		return "+="
	case isa.OpSUB:
		return "-="
	case isa.OpMUL:
		return "*="
	case isa.OpDIV:
		return "/="
	case isa.OpOR:
		return "|="
	case isa.OpAND:
		return "&="
	case isa.OpLSH:
		return "<<="
	case isa.OpRSH:
		return ">>="
	case isa.OpMOD:
		return "%="
	case isa.OpXOR:
		return "^="
	case isa.OpARSH:
		return "s>>="
	}
	return "?"
}

// pointerALU is the kernel's adjust_ptr_min_max_vals for the root profile.
func (v *verifier) pointerALU(in isa.Instruction, d, s *Reg, alu32 bool) error {
	op := in.Op()
	if d.Type != Scalar && s.Type != Scalar {
		if op == isa.OpSUB {
			// Pointer difference: root may compute it (an unknown scalar),
			// in 32 bits too (adjust_reg_min_max_vals does not look at the
			// class: `w1 -= w2` of data_end and data is what clang emits).
			d.setUnknown()
			return nil
		}
		return v.unsafe("R%d pointer %s pointer prohibited", in.Dst, opName(op))
	}
	ptr, off := d, s
	if d.Type == Scalar {
		ptr, off = s, d
	}
	if alu32 {
		if op == isa.OpSUB {
			d.setUnknown()
			return nil
		}
		return v.unsafe("R%d 32-bit pointer arithmetic prohibited", in.Dst)
	}
	if ptr.Type.MayBeNull() {
		return v.unsafe("R%d pointer arithmetic on %s prohibited, null-check it first", in.Dst, ptr.Type)
	}
	known := off.VarOff.IsConst()
	switch ptr.Type {
	case PtrToCtx, PtrToMapValue, PtrToMapKey, PtrToStack, PtrToPacketMeta, PtrToPacket, PtrToMem, PtrToRingbuf:
	case PtrToFlowKeys:
		if !known {
			return v.unsafe("R%d pointer arithmetic on %s prohibited", in.Dst, ptr.Type)
		}
	case ConstPtrToMap:
		if known && int64(off.VarOff.Value) == 0 && op == isa.OpADD {
			break
		}
		return v.unsafe("R%d pointer arithmetic on %s prohibited", in.Dst, ptr.Type)
	default:
		return v.unsafe("R%d pointer arithmetic on %s prohibited", in.Dst, ptr.Type)
	}
	if (known && (off.Smin != off.Smax || off.Umin != off.Umax)) || off.Smin > off.Smax || off.Umin > off.Umax {
		d.setUnknown()
		return nil
	}
	p := *ptr
	o := *off
	if err := v.saneOffset(&o, p.Type, in.Dst); err != nil {
		return err
	}
	if err := v.saneOffset(&p, p.Type, in.Dst); err != nil {
		return err
	}
	res := p
	res.mark32Unbounded()
	switch op {
	case isa.OpADD:
		if known && int64(p.Off)+o.Smin == int64(int32(int64(p.Off)+o.Smin)) {
			res.Off = p.Off + int32(o.Smin)
			break
		}
		var ov1, ov2 bool
		res.Smin, ov1 = addOverflow64(p.Smin, o.Smin)
		res.Smax, ov2 = addOverflow64(p.Smax, o.Smax)
		if ov1 || ov2 {
			res.Smin, res.Smax = math.MinInt64, math.MaxInt64
		}
		umin, c1 := addU64(p.Umin, o.Umin)
		umax, c2 := addU64(p.Umax, o.Umax)
		if c1 || c2 {
			umin, umax = 0, math.MaxUint64
		}
		res.Umin, res.Umax = umin, umax
		res.VarOff = p.VarOff.Add(o.VarOff)
		if p.Type.isPacket() {
			res.ID = v.newID()
			res.Range = 0
		}
	case isa.OpSUB:
		if d.Type == Scalar {
			return v.unsafe("R%d tried to subtract pointer from scalar", in.Dst)
		}
		if p.Type == PtrToStack {
			return v.unsafe("R%d subtraction from stack pointer prohibited", in.Dst)
		}
		if known && int64(p.Off)-o.Smin == int64(int32(int64(p.Off)-o.Smin)) {
			res.Off = p.Off - int32(o.Smin)
			break
		}
		var ov1, ov2 bool
		res.Smin, ov1 = subOverflow64(p.Smin, o.Smax)
		res.Smax, ov2 = subOverflow64(p.Smax, o.Smin)
		if ov1 || ov2 {
			res.Smin, res.Smax = math.MinInt64, math.MaxInt64
		}
		if p.Umin < o.Umax {
			res.Umin, res.Umax = 0, math.MaxUint64
		} else {
			res.Umin, res.Umax = p.Umin-o.Umax, p.Umax-o.Umin
		}
		res.VarOff = p.VarOff.Sub(o.VarOff)
		if p.Type.isPacket() {
			res.ID = v.newID()
			if o.Smin < 0 {
				res.Range = 0
			}
		}
	case isa.OpAND, isa.OpOR, isa.OpXOR:
		return v.unsafe("R%d bitwise operator %s on pointer prohibited", in.Dst, opName(op))
	default:
		return v.unsafe("R%d pointer arithmetic with %s operator prohibited", in.Dst, opName(op))
	}
	if err := v.saneOffset(&res, res.Type, in.Dst); err != nil {
		return err
	}
	res.boundsSync()
	if res.boundsInvalid() {
		d.setUnknown()
		return nil
	}
	*d = res
	return nil
}

func addU64(a, b uint64) (uint64, bool) {
	s := a + b
	return s, s < a
}

func (v *verifier) saneOffset(r *Reg, t RegType, dst uint8) error {
	known := r.VarOff.IsConst()
	val := int64(r.VarOff.Value)
	if known && (val >= maxVarOff || val <= -maxVarOff) {
		return v.unsafe("math between %s pointer and %d is not allowed: the offset is too large", t, val)
	}
	if r.Off >= maxVarOff || r.Off <= -maxVarOff {
		return v.unsafe("%s pointer offset %d is not allowed", t, r.Off)
	}
	if r.Smin == math.MinInt64 {
		return v.unsafe("math between %s pointer and register with unbounded min value is not allowed: bound the offset with a comparison first", t)
	}
	if r.Smin >= maxVarOff || r.Smin <= -maxVarOff {
		return v.unsafe("value %d makes %s pointer be out of bounds", r.Smin, t)
	}
	return nil
}
