package pcapfilter

import "github.com/bpfvm/bpfvm/cbpf"

// Arithmetic expressions compile to statements leaving the value in A.
// Every packet access adds a guard (the protocol must be present, and for
// transport headers the packet must be a first fragment); guards are
// evaluated before any of the relation's loads, as in libpcap.

var aluOps = map[string]uint16{
	"+": cbpf.AluADD, "-": cbpf.AluSUB, "*": cbpf.AluMUL, "/": cbpf.AluDIV,
	"%": cbpf.AluMOD, "&": cbpf.AluAND, "|": cbpf.AluOR, "^": cbpf.AluXOR,
	"<<": cbpf.AluLSH, ">>": cbpf.AluRSH,
}

// fold evaluates an expression over constants only.
func fold(a arith) (uint32, bool) {
	switch a := a.(type) {
	case *constArith:
		return a.v, true
	case *negArith:
		if v, ok := fold(a.x); ok {
			return -v, true
		}
	case *binArith:
		l, ok1 := fold(a.l)
		r, ok2 := fold(a.r)
		if !ok1 || !ok2 {
			return 0, false
		}
		switch a.op {
		case "+":
			return l + r, true
		case "-":
			return l - r, true
		case "*":
			return l * r, true
		case "/":
			if r != 0 {
				return l / r, true
			}
		case "%":
			if r != 0 {
				return l % r, true
			}
		case "&":
			return l & r, true
		case "|":
			return l | r, true
		case "^":
			return l ^ r, true
		case "<<":
			if r < 32 {
				return l << r, true
			}
		case ">>":
			if r < 32 {
				return l >> r, true
			}
		}
	}
	return 0, false
}

type arithCode struct {
	stmts  []cbpf.Instruction
	guards []bexpr
	// abort: the code loads at an offset of 2 GiB or more, which no packet
	// has: libpcap gives up on the packet (the filter returns 0) once the
	// guards pass. Such a load is not emitted, because the kernel reads
	// "negative" offsets as metadata (SKF_AD_OFF, SKF_LL_OFF...).
	abort bool
}

// impossible reports whether a constant packet offset is one no packet can
// have (and the kernel would read as a negative, special offset).
func impossible(off uint32) bool { return off >= 0x80000000 }

func (g *gen) allocScratch(pos int) (uint32, error) {
	if g.scratch >= cbpf.MemWords {
		return 0, errorf(pos, "too many registers needed to evaluate expression")
	}
	g.scratch++
	return g.scratch - 1, nil
}

func (g *gen) arith(a arith) (arithCode, error) {
	if v, ok := fold(a); ok {
		return arithCode{stmts: []cbpf.Instruction{ldImm(v)}}, nil
	}
	switch a := a.(type) {
	case *lenArith:
		return arithCode{stmts: []cbpf.Instruction{ldLen()}}, nil
	case *negArith:
		c, err := g.arith(a.x)
		if err != nil {
			return c, err
		}
		c.stmts = append(c.stmts, aluK(cbpf.AluNEG, 0))
		return c, nil
	case *binArith:
		op := aluOps[a.op]
		if r, ok := fold(a.r); ok {
			switch {
			case (a.op == "/" || a.op == "%") && r == 0:
				if a.op == "/" {
					return arithCode{}, errorf(a.pos, "division by zero")
				}
				return arithCode{}, errorf(a.pos, "modulus by zero")
			case (a.op == "<<" || a.op == ">>") && r > 31:
				return arithCode{}, errorf(a.pos, "shift by more than 31 bits")
			}
			c, err := g.arith(a.l)
			if err != nil {
				return c, err
			}
			c.stmts = append(c.stmts, aluK(op, r))
			return c, nil
		}
		rc, err := g.arith(a.r)
		if err != nil {
			return rc, err
		}
		t, err := g.allocScratch(a.pos)
		if err != nil {
			return rc, err
		}
		lc, err := g.arith(a.l)
		if err != nil {
			return lc, err
		}
		g.scratch--
		var c arithCode
		c.abort = lc.abort || rc.abort
		c.guards = append(lc.guards, rc.guards...)
		c.stmts = append(c.stmts, rc.stmts...)
		c.stmts = append(c.stmts, st(t))
		c.stmts = append(c.stmts, lc.stmts...)
		c.stmts = append(c.stmts, ldxMem(t), aluX(op))
		return c, nil
	case *loadArith:
		return g.load(a)
	}
	return arithCode{}, errorf(a.apos(), "internal error: unknown expression")
}

// load compiles proto[idx:size].
func (g *gen) load(a *loadArith) (arithCode, error) {
	size := sizeOf(a.size)
	var guard bexpr
	var err error
	transport := false
	var base uint32
	switch a.proto {
	case kwLink:
		base = g.offLinkHdr
	case kwIP, kwArp, kwRarp, kwIP6:
		base = g.nl()
		guard, err = g.protoAbbrev(a.proto)
	case kwTCP, kwUDP, kwICMP, kwIGMP, kwIGRP, kwPIM, kwVRRP, kwCARP, kwSctp:
		transport = true
		base = g.nl()
		if guard, err = g.protoAbbrev(a.proto); err == nil {
			guard = and(guard, g.ipfrag())
		}
	case kwICMP6:
		base = g.nl() + 40
		if guard, err = g.protoAbbrev(kwIP6); err == nil {
			guard = and(guard, cmp(g.nl()+6, 1, 58))
		}
	default:
		return arithCode{}, errorf(a.pos, "'%s' does not support indexing", protoNames[a.proto])
	}
	if err != nil {
		return arithCode{}, positioned(err, a.pos)
	}
	var c arithCode
	if k, ok := fold(a.idx); ok {
		if impossible(base + k) {
			c.abort = true
		}
		if transport {
			c.stmts = []cbpf.Instruction{ldxMSH(g.nl()), ldInd(size, base+k)}
		} else {
			c.stmts = []cbpf.Instruction{ldAbs(size, base+k)}
		}
	} else {
		ic, err := g.arith(a.idx)
		if err != nil {
			return ic, err
		}
		c.guards = ic.guards
		c.stmts = ic.stmts
		c.abort = ic.abort
		if impossible(base) {
			c.abort = true
		}
		if transport {
			t, err := g.allocScratch(a.pos)
			if err != nil {
				return c, err
			}
			g.scratch--
			c.stmts = append(c.stmts, st(t), ldxMSH(g.nl()), ldMem(t), aluX(cbpf.AluADD))
		}
		c.stmts = append(c.stmts, tax(), ldInd(size, base))
	}
	if guard != nil {
		c.guards = append(c.guards, guard)
	}
	return c, nil
}

// relation compiles `l op r`.
func (g *gen) relation(n *relNode) (bexpr, error) {
	g.scratch = 0
	var op uint16
	negate := false
	switch n.op {
	case ">":
		op = cbpf.JmpJGT
	case ">=":
		op = cbpf.JmpJGE
	case "=":
		op = cbpf.JmpJEQ
	case "<":
		op, negate = cbpf.JmpJGE, true
	case "<=":
		op, negate = cbpf.JmpJGT, true
	case "!=":
		op, negate = cbpf.JmpJEQ, true
	}
	var test *bTest
	var guards []bexpr
	aborts := false
	if k, ok := fold(n.r); ok {
		lc, err := g.arith(n.l)
		if err != nil {
			return nil, err
		}
		guards = lc.guards
		aborts = lc.abort
		test = &bTest{stmts: lc.stmts, op: op, k: k}
		// (x & m) == 0 is a jset on m with the branches swapped.
		if last := len(lc.stmts) - 1; op == cbpf.JmpJEQ && k == 0 && last >= 1 && lc.stmts[last].Op == cbpf.ClassALU|cbpf.AluAND|cbpf.SrcK {
			test = &bTest{stmts: lc.stmts[:last], op: cbpf.JmpJSET, k: lc.stmts[last].K}
			negate = !negate
		}
	} else {
		rc, err := g.arith(n.r)
		if err != nil {
			return nil, err
		}
		t, err := g.allocScratch(n.pos)
		if err != nil {
			return nil, err
		}
		lc, err := g.arith(n.l)
		if err != nil {
			return nil, err
		}
		guards = append(lc.guards, rc.guards...)
		aborts = lc.abort || rc.abort
		var stmts []cbpf.Instruction
		stmts = append(stmts, rc.stmts...)
		stmts = append(stmts, st(t))
		stmts = append(stmts, lc.stmts...)
		stmts = append(stmts, ldxMem(t))
		test = &bTest{stmts: stmts, op: op, srcX: true}
	}
	var b bexpr = test
	if negate {
		b = not(b)
	}
	if aborts {
		b = bAbort{}
	}
	for i := len(guards) - 1; i >= 0; i-- {
		b = and(guards[i], b)
	}
	return b, nil
}
