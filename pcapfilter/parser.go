package pcapfilter

// The parser follows libpcap's grammar (grammar.y): `and` and `or` have
// equal precedence and associate to the left, `not` binds tighter, and a bare
// address after `and`/`or` inherits the qualifiers of the term before it
// (`host a or b` is `host a or host b`). It builds a tree; code generation
// walks the tree in source order, which matters because `vlan` and `mpls`
// shift header offsets for everything after them.

// Direction qualifiers.
const (
	dirDefault = iota
	dirSrc
	dirDst
	dirOr  // src or dst
	dirAnd // src and dst
)

// qual is the qualifier triple libpcap attaches to an address. proto and addr
// hold keywords (kwNone for the default); undef marks libpcap's "qerr",
// the qualifiers after a term that has none to pass on.
type qual struct {
	proto keyword
	dir   int
	addr  keyword
	undef bool
}

var qerr = qual{undef: true}

type node interface{ position() int }

type (
	andNode struct{ l, r node }
	orNode  struct{ l, r node }
	notNode struct {
		x   node
		pos int
	}
	// idNode is an address or number with its qualifiers: `host 1.2.3.4`,
	// `port 80`, `net 10.0.0.0/8`, `ether src aa:bb:cc:dd:ee:ff`.
	idNode struct {
		q       qual
		tok     token
		maskTok *token // `net A mask B`
		maskLen int    // `/len`, -1 when absent
	}
	// protoNode is a protocol name used alone: `tcp`, `ip6`, `arp`.
	protoNode struct {
		proto keyword
		pos   int
	}
	// relNode compares two arithmetic expressions: `ip[0] & 0xf > 5`.
	relNode struct {
		op   string // ">", ">=", "=", "<", "<=", "!="
		l, r arith
		pos  int
	}
	// primNode is one of the other primitives: broadcast, multicast, less,
	// greater, vlan, mpls, byte.
	primNode struct {
		kind  keyword
		proto keyword // for broadcast/multicast
		num   uint32
		has   bool   // vlan/mpls with a number
		op    string // byte operator
		num2  uint32 // byte operand
		pos   int
	}
)

func (n *andNode) position() int   { return n.l.position() }
func (n *orNode) position() int    { return n.l.position() }
func (n *notNode) position() int   { return n.pos }
func (n *idNode) position() int    { return n.tok.pos }
func (n *protoNode) position() int { return n.pos }
func (n *relNode) position() int   { return n.pos }
func (n *primNode) position() int  { return n.pos }

// arith is an arithmetic expression over packet data.
type arith interface{ apos() int }

type (
	constArith struct {
		v   uint32
		pos int
	}
	lenArith  struct{ pos int }
	loadArith struct {
		proto keyword
		idx   arith
		size  int
		pos   int
	}
	binArith struct {
		op   string
		l, r arith
		pos  int
	}
	negArith struct {
		x   arith
		pos int
	}
)

func (a *constArith) apos() int { return a.pos }
func (a *lenArith) apos() int   { return a.pos }
func (a *loadArith) apos() int  { return a.pos }
func (a *binArith) apos() int   { return a.pos }
func (a *negArith) apos() int   { return a.pos }

type parser struct {
	toks []token
	p    int
	// far is the error found furthest into the input, reported when every
	// alternative of a backtracking choice fails.
	far *Error
}

func (ps *parser) peek() token { return ps.toks[ps.p] }
func (ps *parser) peekAt(n int) token {
	if ps.p+n < len(ps.toks) {
		return ps.toks[ps.p+n]
	}
	return ps.toks[len(ps.toks)-1]
}
func (ps *parser) next() token {
	t := ps.toks[ps.p]
	if t.kind != tEOF {
		ps.p++
	}
	return t
}

func (ps *parser) fail(t token, format string, args ...any) *Error {
	e := errorf(t.pos, format, args...)
	if ps.far == nil || e.Pos >= ps.far.Pos {
		ps.far = e
	}
	return e
}

func (ps *parser) syntax(t token) *Error {
	if t.kind == tEOF {
		return ps.fail(t, "syntax error: unexpected end of expression")
	}
	return ps.fail(t, "syntax error at %q", t.text)
}

func (t token) isOp(s string) bool  { return t.kind == tOp && t.text == s }
func (t token) isKw(k keyword) bool { return t.kind == tKeyword && t.kw == k }
func (t token) isAnd() bool         { return t.isKw(kwAnd) }
func (t token) isOr() bool          { return t.isKw(kwOr) }
func (t token) isNot() bool         { return t.isKw(kwNot) || t.isOp("!") }
func isPname(k keyword) bool        { return k >= kwLink && k <= kwESP }
func (t token) isPname() bool       { return t.kind == tKeyword && isPname(t.kw) }
func (t token) isDir() bool         { return t.isKw(kwSrc) || t.isKw(kwDst) }
func (t token) isAqual() bool       { return t.kind == tKeyword && t.kw >= kwHost && t.kw <= kwGateway }
func (t token) isNdaqual() bool     { return t.isKw(kwProto) || t.isKw(kwProtochain) }
func (t token) startsID() bool {
	return t.kind == tID || t.kind == tHID || t.kind == tHID6 || t.kind == tEID || t.kind == tNum
}
func (t token) unsupported() bool { return t.isKw(kwUnsupported) }
func (t token) isRelop() bool {
	return t.kind == tOp && (t.text == ">" || t.text == ">=" || t.text == "=" || t.text == "<" || t.text == "<=" || t.text == "!=")
}

// parse parses a whole expression. An empty expression (only blanks) yields
// nil: it matches every packet, as in libpcap.
func parse(toks []token) (node, error) {
	ps := &parser{toks: toks}
	if ps.peek().kind == tEOF {
		return nil, nil
	}
	n, _, err := ps.expr(qerr)
	if err != nil {
		return nil, ps.best(err)
	}
	if t := ps.peek(); t.kind != tEOF {
		return nil, ps.best(ps.syntax(t))
	}
	return n, nil
}

// best returns the error found furthest into the input.
func (ps *parser) best(err *Error) *Error {
	if ps.far != nil && ps.far.Pos > err.Pos {
		return ps.far
	}
	return err
}

// expr: term { (and|or) (term | id) }.
func (ps *parser) expr(q qual) (node, qual, *Error) {
	n, q, err := ps.term(q)
	if err != nil {
		return nil, q, err
	}
	for {
		t := ps.peek()
		if !t.isAnd() && !t.isOr() {
			return n, q, nil
		}
		ps.next()
		// Either a term or a bare address inheriting q ("host a or b"),
		// told apart by looking ahead, so parsing never backtracks here.
		var r node
		var rq qual
		var err *Error
		if ps.bareID() {
			r, err = ps.id(q)
			rq = q
		} else {
			r, rq, err = ps.term(q)
		}
		if err != nil {
			return nil, q, err
		}
		if t.isAnd() {
			n = &andNode{n, r}
		} else {
			n = &orNode{n, r}
		}
		q = rq
	}
}

// bareID reports whether the tokens ahead are an `id` (an address or
// number, possibly negated or parenthesised) rather than a term.
func (ps *parser) bareID() bool {
	i := ps.p
	for i < len(ps.toks) && (ps.toks[i].isOp("(") || ps.toks[i].isNot()) {
		i++
	}
	if i >= len(ps.toks) {
		return false
	}
	switch t := ps.toks[i]; t.kind {
	case tID, tHID, tHID6, tEID:
		return true
	case tNum:
		if i+1 < len(ps.toks) {
			n := ps.toks[i+1]
			return n.kind == tEOF || n.isAnd() || n.isOr() || n.isOp(")")
		}
	}
	return false
}

// startsRelation reports whether a '(' at the current position opens an
// arithmetic expression rather than a boolean one (a cheap test that
// avoids backtracking in the common case).
func (ps *parser) startsRelation() bool {
	i := ps.p
	for i < len(ps.toks) && ps.toks[i].isOp("(") {
		i++
	}
	if i >= len(ps.toks) {
		return false
	}
	t := ps.toks[i]
	switch {
	case t.kind == tNum, t.isKw(kwLen), t.isOp("-"):
		return true
	case t.isPname():
		return i+1 < len(ps.toks) && ps.toks[i+1].isOp("[")
	}
	return false
}

// term: not term | rterm.
func (ps *parser) term(q qual) (node, qual, *Error) {
	if t := ps.peek(); t.isNot() {
		ps.next()
		x, q2, err := ps.term(q)
		if err != nil {
			return nil, q, err
		}
		return &notNode{x, t.pos}, q2, nil
	}
	return ps.rterm(q)
}

func (ps *parser) rterm(q qual) (node, qual, *Error) {
	t := ps.peek()
	switch {
	case t.unsupported():
		return nil, q, ps.fail(t, "%q is not supported by this compiler", t.text)
	case t.isOp("("):
		// Either a parenthesised expression or the start of an arithmetic
		// relation such as "(ip[0] + 1) > 2".
		if ps.startsRelation() {
			save := ps.p
			if n, err := ps.relation(); err == nil {
				return n, qerr, nil
			}
			ps.p = save
		}
		ps.next()
		n, _, err := ps.expr(q)
		if err != nil {
			return nil, q, err
		}
		if c := ps.peek(); !c.isOp(")") {
			return nil, q, ps.syntax(c)
		}
		ps.next()
		return n, q, nil
	case t.isPname():
		n1 := ps.peekAt(1)
		switch {
		case n1.isOp("["):
			n, err := ps.relation()
			return n, qerr, err
		case n1.isDir() || n1.isAqual() || n1.isNdaqual():
			return ps.head()
		case n1.isKw(kwBroadcast) || n1.isKw(kwMulticast):
			ps.next()
			ps.next()
			return &primNode{kind: n1.kw, proto: t.kw, pos: t.pos}, qerr, nil
		}
		ps.next()
		return &protoNode{proto: t.kw, pos: t.pos}, qerr, nil
	case t.isDir() || t.isAqual() || t.isNdaqual():
		return ps.head()
	case t.isKw(kwBroadcast) || t.isKw(kwMulticast):
		ps.next()
		return &primNode{kind: t.kw, pos: t.pos}, qerr, nil
	case t.isKw(kwLess) || t.isKw(kwGreater):
		ps.next()
		n := ps.next()
		if n.kind != tNum {
			return nil, q, ps.syntax(n)
		}
		return &primNode{kind: t.kw, num: n.num, pos: t.pos}, qerr, nil
	case t.isKw(kwInbound) || t.isKw(kwOutbound):
		ps.next()
		return &primNode{kind: t.kw, pos: t.pos}, qerr, nil
	case t.isKw(kwIfindex):
		ps.next()
		n := ps.next()
		if n.kind != tNum {
			return nil, q, ps.syntax(n)
		}
		return &primNode{kind: kwIfindex, num: n.num, pos: t.pos}, qerr, nil
	case t.isKw(kwPPPoED):
		ps.next()
		return &primNode{kind: kwPPPoED, pos: t.pos}, qerr, nil
	case t.isKw(kwVLAN) || t.isKw(kwMPLS) || t.isKw(kwPPPoES):
		ps.next()
		p := &primNode{kind: t.kw, pos: t.pos}
		save := ps.p
		if v, ok := ps.pnum(); ok {
			p.num, p.has = v, true
		} else {
			ps.p = save
		}
		return p, qerr, nil
	case t.isKw(kwByte):
		ps.next()
		a := ps.next()
		op := ps.next()
		b := ps.next()
		if a.kind != tNum || b.kind != tNum || op.kind != tOp || (op.text != "&" && op.text != "|" && op.text != "<" && op.text != ">" && op.text != "=") {
			return nil, q, ps.fail(t, "syntax error in 'byte' expression")
		}
		return &primNode{kind: kwByte, num: a.num, op: op.text, num2: b.num, pos: t.pos}, qerr, nil
	}
	n, err := ps.relation()
	return n, qerr, err
}

// pnum: NUM | '(' pnum ')'.
func (ps *parser) pnum() (uint32, bool) {
	t := ps.peek()
	if t.kind == tNum {
		ps.next()
		return t.num, true
	}
	if t.isOp("(") {
		ps.next()
		v, ok := ps.pnum()
		if !ok || !ps.peek().isOp(")") {
			return 0, false
		}
		ps.next()
		return v, true
	}
	return 0, false
}

// head id: [pname] [dir] [host|net|port|portrange|gateway] | [pname] proto|protochain.
func (ps *parser) head() (node, qual, *Error) {
	q := qual{}
	if t := ps.peek(); t.isPname() {
		q.proto = t.kw
		ps.next()
	}
	hasDir := false
	if t := ps.peek(); t.isDir() {
		hasDir = true
		ps.next()
		q.dir = dirSrc
		if t.kw == kwDst {
			q.dir = dirDst
		}
		// "src or dst", "dst and src", ...
		n1, n2 := ps.peek(), ps.peekAt(1)
		if (n1.isOr() || n1.isAnd()) && n2.isDir() && n2.kw != t.kw {
			ps.next()
			ps.next()
			q.dir = dirOr
			if n1.isAnd() {
				q.dir = dirAnd
			}
		}
	}
	t := ps.peek()
	switch {
	case t.isAqual():
		q.addr = t.kw
		ps.next()
	case t.isNdaqual() && !hasDir:
		q.addr = t.kw
		ps.next()
	case !hasDir:
		return nil, q, ps.syntax(t)
	}
	n, err := ps.id(q)
	return n, q, err
}

// id: not id | '(' pid ')' | NUM | ID | HID [/NUM | mask HID] | HID6 [/NUM] | EID.
func (ps *parser) id(q qual) (node, *Error) {
	t := ps.peek()
	switch {
	case t.isNot():
		ps.next()
		x, err := ps.id(q)
		if err != nil {
			return nil, err
		}
		return &notNode{x, t.pos}, nil
	case t.isOp("("):
		ps.next()
		n, err := ps.pid(q)
		if err != nil {
			return nil, err
		}
		if c := ps.peek(); !c.isOp(")") {
			return nil, ps.syntax(c)
		}
		ps.next()
		return n, nil
	}
	return ps.nid(q)
}

// pid: (nid | pnum) { (and|or) id }.
func (ps *parser) pid(q qual) (node, *Error) {
	var n node
	if t := ps.peek(); t.isOp("(") {
		save := ps.p
		v, ok := ps.pnum()
		if !ok {
			ps.p = save
			return nil, ps.syntax(t)
		}
		n = &idNode{q: q, tok: token{kind: tNum, num: v, pos: t.pos, text: t.text}, maskLen: -1}
	} else {
		var err *Error
		if n, err = ps.id(q); err != nil {
			return nil, err
		}
	}
	for {
		t := ps.peek()
		if !t.isAnd() && !t.isOr() {
			return n, nil
		}
		ps.next()
		r, err := ps.id(q)
		if err != nil {
			return nil, err
		}
		if t.isAnd() {
			n = &andNode{n, r}
		} else {
			n = &orNode{n, r}
		}
	}
}

func (ps *parser) nid(q qual) (node, *Error) {
	t := ps.peek()
	if !t.startsID() {
		if t.unsupported() {
			return nil, ps.fail(t, "%q is not supported by this compiler", t.text)
		}
		return nil, ps.syntax(t)
	}
	ps.next()
	n := &idNode{q: q, tok: t, maskLen: -1}
	switch t.kind {
	case tHID, tHID6:
		if ps.peek().isOp("/") {
			ps.next()
			l := ps.next()
			if l.kind != tNum {
				return nil, ps.syntax(l)
			}
			n.maskLen = int(l.num)
			if l.num > 1<<16 {
				n.maskLen = 1 << 16
			}
		} else if t.kind == tHID && ps.peek().isKw(kwMask) {
			ps.next()
			m := ps.next()
			if m.kind != tHID {
				return nil, ps.syntax(m)
			}
			n.maskTok = &m
		}
	}
	return n, nil
}

// relation: arith relop arith.
func (ps *parser) relation() (node, *Error) {
	start := ps.peek()
	l, err := ps.arith(0)
	if err != nil {
		return nil, err
	}
	op := ps.peek()
	if !op.isRelop() {
		return nil, ps.syntax(op)
	}
	ps.next()
	r, err := ps.arith(0)
	if err != nil {
		return nil, err
	}
	return &relNode{op: op.text, l: l, r: r, pos: start.pos}, nil
}

// Binary operator precedence, lowest first, as in libpcap's grammar.
var arithPrec = map[string]int{
	"|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5,
}

// arith parses an arithmetic expression whose operators bind at least as
// tightly as minPrec (precedence climbing, left-associative).
func (ps *parser) arith(minPrec int) (arith, *Error) {
	l, err := ps.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := ps.peek()
		p, ok := arithPrec[t.text]
		if t.kind != tOp || !ok || p < minPrec {
			return l, nil
		}
		ps.next()
		r, err := ps.arith(p + 1)
		if err != nil {
			return nil, err
		}
		l = &binArith{op: t.text, l: l, r: r, pos: t.pos}
	}
}

// unary parses an operand, a negation, and a trailing '^'. libpcap gives '^'
// no precedence, so yacc always shifts it: its left operand is the operand
// just read, its right operand everything that follows.
func (ps *parser) unary() (arith, *Error) {
	t := ps.peek()
	var a arith
	if t.isOp("-") {
		ps.next()
		x, err := ps.unary()
		if err != nil {
			return nil, err
		}
		return &negArith{x: x, pos: t.pos}, nil
	}
	a, err := ps.operand()
	if err != nil {
		return nil, err
	}
	if x := ps.peek(); x.isOp("^") {
		ps.next()
		r, err := ps.arith(0)
		if err != nil {
			return nil, err
		}
		a = &binArith{op: "^", l: a, r: r, pos: x.pos}
	}
	return a, nil
}

func (ps *parser) operand() (arith, *Error) {
	t := ps.next()
	switch {
	case t.kind == tNum:
		return &constArith{v: t.num, pos: t.pos}, nil
	case t.isKw(kwLen):
		return &lenArith{pos: t.pos}, nil
	case t.isOp("("):
		a, err := ps.arith(0)
		if err != nil {
			return nil, err
		}
		if c := ps.next(); !c.isOp(")") {
			return nil, ps.syntax(c)
		}
		return a, nil
	case t.isPname():
		if b := ps.next(); !b.isOp("[") {
			return nil, ps.syntax(b)
		}
		idx, err := ps.arith(0)
		if err != nil {
			return nil, err
		}
		size := 1
		c := ps.next()
		if c.isOp(":") {
			s := ps.next()
			if s.kind != tNum {
				return nil, ps.syntax(s)
			}
			if s.num != 1 && s.num != 2 && s.num != 4 {
				return nil, ps.fail(s, "data size must be 1, 2, or 4")
			}
			size = int(s.num)
			c = ps.next()
		}
		if !c.isOp("]") {
			return nil, ps.syntax(c)
		}
		return &loadArith{proto: t.kw, idx: idx, size: size, pos: t.pos}, nil
	case t.unsupported():
		return nil, ps.fail(t, "%q is not supported by this compiler", t.text)
	}
	return nil, ps.syntax(t)
}
