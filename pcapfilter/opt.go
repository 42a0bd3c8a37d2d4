package pcapfilter

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/bpfvm/bpfvm/cbpf"
)

// The boolean expression is lowered to a graph of blocks (statements, then
// a conditional jump or a return), optimised, and laid out as a program.
//
// The optimizer works on symbolic values: every block computes A from packet
// data only (tests are self-contained), so a block's A can be named by the
// expression it computes, e.g. "H[12]" or "(B[14]&240)". Along each edge the
// outcome of the jump is a fact about that value; a later block testing the
// same value is skipped when the facts decide it (jump threading). Packet
// bytes never change during a run, so facts hold on every later block, and a
// block is only skipped because the same value was loaded before on that
// path, so skipping never hides an out-of-bounds load. Then unreachable and
// duplicate blocks go, and loads whose value is already in A or X are
// removed.

type block struct {
	stmts  []cbpf.Instruction
	ret    bool
	retVal uint32
	gotoOp bool // unconditional jump to jt
	op     uint16
	srcX   bool
	k      uint32
	jt, jf *block

	// keep marks a block whose statements later blocks depend on (the
	// head of a protochain walk): it is never skipped.
	keep bool

	// analysis state
	sym   string // symbolic A at the jump ("" when it depends on entry state)
	symX  string // symbolic X at the jump, for srcX jumps
	order int
	seen  bool
}

func (b *block) isJump() bool { return !b.ret && !b.gotoOp }

type lowering struct {
	blocks []*block
	reject *block // returns 0
}

func (lw *lowering) newBlock(b *block) *block {
	lw.blocks = append(lw.blocks, b)
	return b
}

func (lw *lowering) lower(e bexpr, t, f *block) *block {
	switch e := e.(type) {
	case bConst:
		if e {
			return t
		}
		return f
	case *bNot:
		return lw.lower(e.x, f, t)
	case *bAnd:
		return lw.lower(e.l, lw.lower(e.r, t, f), f)
	case *bOr:
		return lw.lower(e.l, t, lw.lower(e.r, t, f))
	case *bTest:
		return lw.newBlock(&block{stmts: e.stmts, op: e.op, srcX: e.srcX, k: e.k, jt: t, jf: f})
	case *bChain:
		return lw.lowerChain(e, t, f)
	case bAbort:
		return lw.reject
	}
	panic(fmt.Sprintf("pcapfilter: unknown boolean node %T", e))
}

// lowerChain unrolls libpcap's protochain loop. A holds the protocol of
// the next header and X its offset from the network header. Only the
// first block is self-contained; the others depend on the registers it
// and the previous iterations leave, so the optimizer only skips blocks
// that are self-contained and never the head.
func (lw *lowering) lowerChain(c *bChain, t, f *block) *block {
	eq := func(k uint32, jt, jf *block) *block {
		return lw.newBlock(&block{op: cbpf.JmpJEQ, k: k, jt: jt, jf: jf})
	}
	// Built backwards: after the last iteration the chain gives up.
	var test *block = f // the block testing A == v, entered with A, X set
	var head *block
	for i := protochainDepth; i >= 0; i-- {
		nextTest := test
		var ah, ext *block
		// AH: the next protocol is its first byte, and libpcap sets X to
		// (length + 2) * 4 (not added to the previous offset, as libpcap does).
		ah = lw.newBlock(&block{stmts: []cbpf.Instruction{
			{Op: cbpf.ClassMISC | cbpf.MiscTXA}, ldInd(cbpf.SizeB, c.nl), st(0),
			{Op: cbpf.ClassMISC | cbpf.MiscTXA}, aluK(cbpf.AluADD, 1), tax(), ldInd(cbpf.SizeB, c.nl),
			aluK(cbpf.AluADD, 2), aluK(cbpf.AluMUL, 4), tax(), ldMem(0),
		}, gotoOp: true, jt: nextTest})
		rest := eq(51, ah, f)
		if c.v6 {
			// Hop-by-hop, destination options, routing, fragment: the
			// next header is the first byte, the length (in 8 bytes,
			// not counting the first 8) the second.
			ext = lw.newBlock(&block{stmts: []cbpf.Instruction{
				ldInd(cbpf.SizeB, c.nl), st(0), ldInd(cbpf.SizeB, c.nl+1),
				aluK(cbpf.AluADD, 1), aluK(cbpf.AluMUL, 8), aluX(cbpf.AluADD), tax(), ldMem(0),
			}, gotoOp: true, jt: nextTest})
			rest = eq(0, ext, eq(60, ext, eq(43, ext, eq(44, ext, rest))))
		}
		if i == protochainDepth {
			// Out of iterations: a further header cannot be followed.
			rest = f
		}
		body := f
		if rest != f {
			body = eq(59, f, rest)
		}
		if i == 0 {
			var stmts []cbpf.Instruction
			if c.v6 {
				stmts = []cbpf.Instruction{ldAbs(cbpf.SizeB, c.nl+6), {Op: cbpf.ClassLDX | cbpf.ModeIMM, K: 40}}
			} else {
				stmts = []cbpf.Instruction{ldAbs(cbpf.SizeB, c.nl+9), ldxMSH(c.nl)}
			}
			head = lw.newBlock(&block{stmts: stmts, op: cbpf.JmpJEQ, k: c.v, jt: t, jf: body, keep: true})
			break
		}
		test = eq(c.v, t, body)
	}
	return head
}

// assemble lowers, optimises and lays out the program.
func assemble(e bexpr, opts Options) ([]cbpf.Instruction, error) {
	lw := &lowering{}
	accept := lw.newBlock(&block{ret: true, retVal: opts.SnapLen})
	reject := lw.newBlock(&block{ret: true, retVal: 0})
	lw.reject = reject
	entry := lw.lower(e, accept, reject)
	if !opts.NoOptimize {
		entry = optimize(entry)
	}
	return layout(entry)
}

// symState is the symbolic content of the registers and scratch memory.
type symState struct {
	a, x string
	m    [cbpf.MemWords]string
}

const unknown = "?"

func newUnknownState() symState {
	s := symState{a: unknown, x: unknown}
	for i := range s.m {
		s.m[i] = unknown
	}
	return s
}

func isConstSym(s string) (uint32, bool) {
	if !strings.HasPrefix(s, "#") {
		return 0, false
	}
	v, err := strconv.ParseUint(s[1:], 10, 32)
	return uint32(v), err == nil
}

var aluNames = map[uint16]string{
	cbpf.AluADD: "+", cbpf.AluSUB: "-", cbpf.AluMUL: "*", cbpf.AluDIV: "/",
	cbpf.AluOR: "|", cbpf.AluAND: "&", cbpf.AluLSH: "<<", cbpf.AluRSH: ">>",
	cbpf.AluMOD: "%", cbpf.AluXOR: "^",
}

func aluFold(op uint16, a, b uint32) (uint32, bool) {
	switch op {
	case cbpf.AluADD:
		return a + b, true
	case cbpf.AluSUB:
		return a - b, true
	case cbpf.AluMUL:
		return a * b, true
	case cbpf.AluDIV:
		if b != 0 {
			return a / b, true
		}
	case cbpf.AluMOD:
		if b != 0 {
			return a % b, true
		}
	case cbpf.AluOR:
		return a | b, true
	case cbpf.AluAND:
		return a & b, true
	case cbpf.AluXOR:
		return a ^ b, true
	case cbpf.AluLSH:
		if b < 32 {
			return a << b, true
		}
	case cbpf.AluRSH:
		if b < 32 {
			return a >> b, true
		}
	}
	return 0, false
}

func cst(v uint32) string { return "#" + strconv.FormatUint(uint64(v), 10) }

// step applies one statement to a symbolic state. Values depending on an
// unknown input stay unknown.
func step(s *symState, ins cbpf.Instruction) {
	sizeName := map[uint16]string{cbpf.SizeW: "W", cbpf.SizeH: "H", cbpf.SizeB: "B"}[ins.Op&0x18]
	dep := func(parts ...string) bool {
		for _, p := range parts {
			if strings.Contains(p, unknown) {
				return true
			}
		}
		return false
	}
	switch ins.Op & 0x07 {
	case cbpf.ClassLD:
		switch ins.Op & 0xe0 {
		case cbpf.ModeIMM:
			s.a = cst(ins.K)
		case cbpf.ModeABS:
			s.a = fmt.Sprintf("%s[%d]", sizeName, ins.K)
		case cbpf.ModeIND:
			if dep(s.x) {
				s.a = unknown
			} else {
				s.a = fmt.Sprintf("%s[%s+%d]", sizeName, s.x, ins.K)
			}
		case cbpf.ModeMEM:
			s.a = s.m[ins.K%cbpf.MemWords]
		case cbpf.ModeLEN:
			s.a = "len"
		}
	case cbpf.ClassLDX:
		switch ins.Op & 0xe0 {
		case cbpf.ModeIMM:
			s.x = cst(ins.K)
		case cbpf.ModeMEM:
			s.x = s.m[ins.K%cbpf.MemWords]
		case cbpf.ModeLEN:
			s.x = "len"
		case cbpf.ModeMSH:
			s.x = fmt.Sprintf("msh[%d]", ins.K)
		}
	case cbpf.ClassST:
		s.m[ins.K%cbpf.MemWords] = s.a
	case cbpf.ClassSTX:
		s.m[ins.K%cbpf.MemWords] = s.x
	case cbpf.ClassALU:
		op := ins.Op & 0xf0
		if op == cbpf.AluNEG {
			if v, ok := isConstSym(s.a); ok {
				s.a = cst(-v)
			} else if !dep(s.a) {
				s.a = "(-" + s.a + ")"
			}
			return
		}
		rhs := cst(ins.K)
		if ins.Op&cbpf.SrcX != 0 {
			rhs = s.x
		}
		if dep(s.a, rhs) {
			s.a = unknown
			return
		}
		va, ok1 := isConstSym(s.a)
		vb, ok2 := isConstSym(rhs)
		if ok1 && ok2 {
			if v, ok := aluFold(op, va, vb); ok {
				s.a = cst(v)
				return
			}
		}
		s.a = "(" + s.a + aluNames[op] + rhs + ")"
	case cbpf.ClassMISC:
		if ins.Op&0xf8 == cbpf.MiscTAX {
			s.x = s.a
		} else {
			s.a = s.x
		}
	}
}

// analyse names the value each block tests, assuming nothing on entry.
func analyse(b *block) {
	s := newUnknownState()
	for _, ins := range b.stmts {
		step(&s, ins)
	}
	b.sym, b.symX = "", ""
	if !strings.Contains(s.a, unknown) {
		b.sym = s.a
	}
	if !strings.Contains(s.x, unknown) {
		b.symX = s.x
	}
}

type fact struct {
	sym     string
	op      uint16
	k       uint32
	outcome bool
}

func evalJump(op uint16, v, k uint32) bool {
	switch op {
	case cbpf.JmpJEQ:
		return v == k
	case cbpf.JmpJGT:
		return v > k
	case cbpf.JmpJGE:
		return v >= k
	case cbpf.JmpJSET:
		return v&k != 0
	}
	return false
}

// parseAbsSym recognises the name of an absolute packet load, "H[12]".
func parseAbsSym(sym string) (size int, off uint32, ok bool) {
	if len(sym) < 4 || sym[1] != '[' || sym[len(sym)-1] != ']' {
		return 0, 0, false
	}
	switch sym[0] {
	case 'B':
		size = 1
	case 'H':
		size = 2
	case 'W':
		size = 4
	default:
		return 0, 0, false
	}
	v, err := strconv.ParseUint(sym[2:len(sym)-1], 10, 32)
	if err != nil {
		return 0, 0, false
	}
	return size, uint32(v), true
}

// decideFromBytes uses the packet bytes that equality facts on other
// absolute loads pin down (ldb [20] == 6 fixes the high byte of ldh [20]),
// provided an earlier load proves the skipped one would not have failed.
func decideFromBytes(facts map[fact]bool, sym string, op uint16, k uint32) (outcome, ok bool) {
	size, off, isAbs := parseAbsSym(sym)
	if !isAbs {
		return false, false
	}
	var known, value uint32 // bit masks of the tested value
	reach := uint64(0)      // the packet is at least this long
	for f := range facts {
		fs, fo, ok := parseAbsSym(f.sym)
		if !ok {
			continue
		}
		reach = max(reach, uint64(fo)+uint64(fs))
		if f.op != cbpf.JmpJEQ || !f.outcome || f.sym == sym || fo+uint32(fs) <= off || fo >= off+uint32(size) {
			continue
		}
		for i := 0; i < fs; i++ {
			pos := fo + uint32(i)
			if pos < off || pos >= off+uint32(size) {
				continue
			}
			b := f.k >> (8 * uint(fs-1-i)) & 0xff
			shift := 8 * uint(int(off)+size-1-int(pos))
			known |= 0xff << shift
			value |= b << shift
		}
	}
	// Deciding skips the load, so it must be known not to fail: an
	// earlier load on this path reached at least as far.
	if known == 0 || reach < uint64(off)+uint64(size) {
		return false, false
	}
	full := uint32(0xffffffff)
	if size < 4 {
		full = 1<<(8*uint(size)) - 1
	}
	if known == full {
		return evalJump(op, value, k), true
	}
	switch op {
	case cbpf.JmpJSET:
		if value&k != 0 {
			return true, true
		}
		if k&^known == 0 {
			return false, true
		}
	case cbpf.JmpJEQ:
		if k&known != value {
			return false, true
		}
	}
	return false, false
}

// decide tries to determine `sym op k` from known facts.
func decide(facts map[fact]bool, sym string, op uint16, k uint32) (outcome, ok bool) {
	if v, isConst := isConstSym(sym); isConst {
		return evalJump(op, v, k), true
	}
	if o, ok := decideFromBytes(facts, sym, op, k); ok {
		return o, true
	}
	for f := range facts {
		if f.sym != sym {
			continue
		}
		if f.op == op && f.k == k {
			return f.outcome, true
		}
		kf := f.k
		switch {
		case f.op == cbpf.JmpJEQ && f.outcome:
			return evalJump(op, kf, k), true
		case f.op == cbpf.JmpJEQ && !f.outcome:
			if op == cbpf.JmpJEQ && k == kf {
				return false, true
			}
		case f.op == cbpf.JmpJGT && f.outcome: // v > kf
			switch {
			case op == cbpf.JmpJEQ && k <= kf:
				return false, true
			case op == cbpf.JmpJGT && k <= kf:
				return true, true
			case op == cbpf.JmpJGE && kf < 0xffffffff && k <= kf+1:
				return true, true
			}
		case f.op == cbpf.JmpJGT && !f.outcome: // v <= kf
			switch {
			case op == cbpf.JmpJEQ && k > kf:
				return false, true
			case op == cbpf.JmpJGT && k >= kf:
				return false, true
			case op == cbpf.JmpJGE && k > kf:
				return false, true
			}
		case f.op == cbpf.JmpJGE && f.outcome: // v >= kf
			switch {
			case op == cbpf.JmpJEQ && k < kf:
				return false, true
			case op == cbpf.JmpJGT && k < kf:
				return true, true
			case op == cbpf.JmpJGE && k <= kf:
				return true, true
			}
		case f.op == cbpf.JmpJGE && !f.outcome: // v < kf
			switch {
			case op == cbpf.JmpJEQ && k >= kf:
				return false, true
			case op == cbpf.JmpJGT && kf > 0 && k >= kf-1:
				return false, true
			case op == cbpf.JmpJGE && k >= kf:
				return false, true
			}
		case f.op == cbpf.JmpJSET && f.outcome: // v & kf != 0
			switch {
			case op == cbpf.JmpJSET && kf&^k == 0:
				return true, true
			case op == cbpf.JmpJEQ && k&kf == 0:
				return false, true
			}
		case f.op == cbpf.JmpJSET && !f.outcome: // v & kf == 0
			switch {
			case op == cbpf.JmpJSET && k&^kf == 0:
				return false, true
			case op == cbpf.JmpJEQ && k&kf != 0:
				return false, true
			}
		}
	}
	return false, false
}

// blockDecide reports whether b's jump is determined by facts.
func blockDecide(facts map[fact]bool, b *block) (bool, bool) {
	if !b.isJump() || b.sym == "" || b.keep {
		return false, false
	}
	if b.srcX {
		va, ok1 := isConstSym(b.sym)
		vx, ok2 := isConstSym(b.symX)
		if ok1 && ok2 {
			return evalJump(b.op, va, vx), true
		}
		if b.op != cbpf.JmpJSET && b.sym == b.symX {
			return b.op != cbpf.JmpJGT, true
		}
		if b.symX == "" {
			return false, false
		}
		if vx, ok := isConstSym(b.symX); ok {
			return decide(facts, b.sym, b.op, vx)
		}
		return false, false
	}
	return decide(facts, b.sym, b.op, b.k)
}

func edgeFact(b *block, outcome bool) (fact, bool) {
	if !b.isJump() || b.sym == "" || b.srcX {
		return fact{}, false
	}
	return fact{b.sym, b.op, b.k, outcome}, true
}

// topo returns the blocks reachable from entry in an order where every jump
// goes forward, the true branch placed right after its block when possible.
func topo(entry *block) []*block {
	var post []*block
	var all []*block
	var visit func(b *block)
	visit = func(b *block) {
		if b.seen {
			return
		}
		b.seen = true
		all = append(all, b)
		if !b.ret {
			// The false branch is visited first so that, in reverse
			// postorder, the true branch follows its block, as libpcap
			// lays programs out.
			if b.isJump() {
				visit(b.jf)
			}
			visit(b.jt)
		}
		post = append(post, b)
	}
	visit(entry)
	for _, b := range all {
		b.seen = false
	}
	order := make([]*block, len(post))
	for i, b := range post {
		order[len(post)-1-i] = b
		b.order = len(post) - 1 - i
	}
	return order
}

func copyFacts(m map[fact]bool) map[fact]bool {
	c := make(map[fact]bool, len(m)+1)
	for f := range m {
		c[f] = true
	}
	return c
}

// thread follows b's jumps that are decided by facts.
func thread(facts map[fact]bool, to *block) (*block, bool) {
	changed := false
	var local map[fact]bool
	for steps := 0; to.isJump() && steps < 1000; steps++ {
		if to.sym == "" && len(to.stmts) == 0 && to.jt != to.jf {
			break
		}
		if to.jt == to.jf && to.sym != "" && !to.keep {
			to, changed = to.jt, true
			continue
		}
		o, ok := blockDecide(facts, to)
		if !ok {
			if local == nil {
				return to, changed
			}
			break
		}
		if local == nil {
			local = copyFacts(facts)
			facts = local
		}
		if f, ok := edgeFact(to, o); ok {
			facts[f] = true
		}
		if o {
			to = to.jt
		} else {
			to = to.jf
		}
		changed = true
	}
	return to, changed
}

func optimize(entry *block) *block {
	for round := 0; round < 100; round++ {
		order := topo(entry)
		for _, b := range order {
			analyse(b)
		}
		changed := false
		if e, ch := thread(map[fact]bool{}, entry); ch {
			entry, changed = e, true
			continue
		}
		// Facts on entry of each block: those true on every incoming edge.
		in := map[*block]map[fact]bool{}
		in[entry] = map[fact]bool{}
		for _, b := range order {
			facts := in[b]
			if facts == nil {
				facts = map[fact]bool{}
			}
			if b.ret {
				continue
			}
			edges := []*(*block){&b.jt}
			outs := []bool{true}
			if b.isJump() {
				edges = append(edges, &b.jf)
				outs = append(outs, false)
			}
			for i, e := range edges {
				ef := facts
				if f, ok := edgeFact(b, outs[i]); ok {
					ef = copyFacts(facts)
					ef[f] = true
				}
				if to, ch := thread(ef, *e); ch {
					*e = to
					changed = true
				}
				to := *e
				if cur, ok := in[to]; !ok {
					in[to] = copyFacts(ef)
				} else {
					for f := range cur {
						if !ef[f] {
							delete(cur, f)
						}
					}
				}
			}
			if b.isJump() && b.jt == b.jf && b.sym != "" && !b.keep {
				changed = true // removable: thread skips it next round
			}
		}
		entry = mergeDuplicates(entry)
		if !changed {
			break
		}
	}
	removeRedundantLoads(entry)
	return entry
}

// dupKey identifies a block by its code and successors.
type dupKey struct {
	ret, gotoOp, srcX bool
	retVal, k         uint32
	op                uint16
	stmts             string
	jt, jf            int
}

// mergeDuplicates makes identical blocks (same code, same successors) one.
func mergeDuplicates(entry *block) *block {
	order := topo(entry)
	canon := map[dupKey]*block{}
	repl := map[*block]*block{}
	id := map[*block]int{}
	for i := len(order) - 1; i >= 0; i-- {
		b := order[i]
		if !b.ret {
			if r, ok := repl[b.jt]; ok {
				b.jt = r
			}
			if b.isJump() {
				if r, ok := repl[b.jf]; ok {
					b.jf = r
				}
			}
		}
		key := dupKey{ret: b.ret, gotoOp: b.gotoOp, retVal: b.retVal, srcX: b.srcX, op: b.op, k: b.k}
		enc := make([]byte, 0, 8*len(b.stmts))
		for _, st := range b.stmts {
			enc = binary.LittleEndian.AppendUint16(enc, st.Op)
			enc = binary.LittleEndian.AppendUint32(enc, st.K)
		}
		key.stmts = string(enc)
		if !b.ret {
			key.jt = id[b.jt]
			if b.isJump() {
				key.jf = id[b.jf]
			}
		}
		if c, ok := canon[key]; ok {
			repl[b] = c
			id[b] = id[c]
			continue
		}
		canon[key] = b
		id[b] = len(canon)
	}
	if r, ok := repl[entry]; ok {
		entry = r
	}
	return entry
}

func meet(a, b symState) symState {
	if a.a != b.a {
		a.a = unknown
	}
	if a.x != b.x {
		a.x = unknown
	}
	for i := range a.m {
		if a.m[i] != b.m[i] {
			a.m[i] = unknown
		}
	}
	return a
}

// removeRedundantLoads drops statements that leave the machine state
// unchanged because the value is already there on every path.
func removeRedundantLoads(entry *block) {
	order := topo(entry)
	in := map[*block]symState{entry: newUnknownState()}
	have := map[*block]bool{entry: true}
	for _, b := range order {
		s := in[b]
		if !b.ret {
			// The whole block is redundant if it recomputes the current state.
			t := s
			for _, ins := range b.stmts {
				step(&t, ins)
			}
			if t == s && !strings.Contains(t.a, unknown) {
				b.stmts = nil
			} else {
				var kept []cbpf.Instruction
				cur := s
				for _, ins := range b.stmts {
					next := cur
					step(&next, ins)
					if next == cur && !strings.Contains(next.a+next.x, unknown) && ins.Op&0x07 != cbpf.ClassALU {
						continue
					}
					kept = append(kept, ins)
					cur = next
				}
				b.stmts = kept
				t = cur
			}
			succ := []*block{b.jt}
			if b.isJump() {
				succ = append(succ, b.jf)
			}
			for _, c := range succ {
				if !have[c] {
					in[c], have[c] = t, true
				} else {
					in[c] = meet(in[c], t)
				}
			}
		}
	}
}

// layout orders the blocks and encodes jumps, inserting unconditional
// jumps where a conditional one would exceed 255 instructions.
func layout(entry *block) ([]cbpf.Instruction, error) {
	order := topo(entry)
	for {
		pos := make(map[*block]int, len(order))
		n := 0
		for _, b := range order {
			pos[b] = n
			n += len(b.stmts)
			if b.ret || b.isJump() {
				n++
			} else if b.gotoOp {
				n++ // may be dropped when the target is next; counted conservatively
			}
		}
		fixed := true
		var out []*block
		for _, b := range order {
			out = append(out, b)
			if !b.isJump() {
				continue
			}
			end := pos[b] + len(b.stmts) + 1
			if pos[b.jt]-end > 255 {
				tr := &block{gotoOp: true, jt: b.jt}
				b.jt = tr
				out = append(out, tr)
				fixed = false
			}
			if pos[b.jf]-end > 255 {
				tr := &block{gotoOp: true, jt: b.jf}
				b.jf = tr
				out = append(out, tr)
				fixed = false
			}
		}
		order = out
		if fixed {
			break
		}
	}
	if len(order) > cbpf.MaxInstructions {
		return nil, errorf(-1, "expression too complex: program would exceed %d instructions", cbpf.MaxInstructions)
	}
	pos := make(map[*block]int, len(order))
	n := 0
	for _, b := range order {
		pos[b] = n
		n += len(b.stmts)
		if !b.ret && !b.isJump() && b.gotoOp {
			n++
		} else {
			n++
		}
	}
	var prog []cbpf.Instruction
	for _, b := range order {
		prog = append(prog, b.stmts...)
		end := len(prog) + 1
		switch {
		case b.ret:
			prog = append(prog, cbpf.Instruction{Op: cbpf.ClassRET | cbpf.SrcK, K: b.retVal})
		case b.gotoOp:
			prog = append(prog, cbpf.Instruction{Op: cbpf.ClassJMP | cbpf.JmpJA, K: uint32(pos[b.jt] - end)})
		default:
			op := cbpf.ClassJMP | b.op | cbpf.SrcK
			if b.srcX {
				op = cbpf.ClassJMP | b.op | cbpf.SrcX
			}
			prog = append(prog, cbpf.Instruction{Op: op, Jt: uint8(pos[b.jt] - end), Jf: uint8(pos[b.jf] - end), K: b.k})
		}
	}
	if len(prog) > cbpf.MaxInstructions {
		return nil, errorf(-1, "expression too complex: program has %d instructions (limit %d)", len(prog), cbpf.MaxInstructions)
	}
	return prog, nil
}
