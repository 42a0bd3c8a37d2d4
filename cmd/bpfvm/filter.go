package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bpfvm/bpfvm/cbpf"
	"github.com/bpfvm/bpfvm/pcapfilter"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func init() {
	register(&command{
		name:    "filter",
		summary: "compile a pcap-filter expression to classic BPF and filter captures (like tcpdump)",
		run:     runFilter,
	})
}

const filterUsage = `usage: bpfvm filter [-d|-dd|-ddd] [-r FILE] [-w FILE] [-c] [-y LINKTYPE]
                    [--engine E] [-i IFACE [--limit N]] (EXPRESSION | -F FILE)

Compiles a pcap-filter(7) expression to classic BPF, as tcpdump does, and
either prints the program or filters packets with it.

  -d, -dd, -ddd  print the program as tcpdump -d (listing), -dd (C array)
                 or -ddd (decimal) does, and exit
  -r FILE        read packets from a pcap or pcapng file
  -w FILE        write the matching packets to FILE as pcap ("-" = stdout)
  -c, --count    print only the number of matching packets
  -y LINKTYPE    link type to compile for: EN10MB, RAW, LINUX_SLL,
                 LINUX_SLL2, NULL, LOOP or a number (default: the capture's,
                 EN10MB without a capture)
  -F FILE        take the filter from FILE: a pcap-filter expression ('#'
                 starts a comment), a bpf_asm program, or tcpdump -dd/-ddd/-d
                 output (detected from the content)
  --engine E     how -r runs the filter: classic (default: cbpf's
                 pre-decoded classic interpreter), interp (the eBPF
                 translation on bpfvm's interpreter) or jit (the eBPF
                 translation as native code); pcap is another name for
                 classic. Every engine has libpcap's semantics: len is the
                 length on the wire, loads are bounded by the captured bytes
  -i IFACE       capture live on IFACE (needs root): an AF_PACKET socket with
                 the compiled program attached in the kernel (SO_ATTACH_FILTER),
                 one line per packet (time, length) or -w; --limit stops
                 after N packets, else it runs until interrupted
  -n             accepted and ignored, as names are never resolved

Without -w or -c, each matching packet of -r is printed as one line: its
index, timestamp and length. Host names are not resolved: use numeric
addresses. A progress bar is shown on stderr when it is a terminal and the
capture is large.
`

type filterFlags struct {
	d, dd, ddd bool
	read       string
	write      string
	count      bool
	linkType   string
	engine     string
	file       string
	iface      string
	limit      int
}

func runFilter(args []string, stdout, stderr io.Writer) int {
	var f filterFlags
	fs := flag.NewFlagSet("filter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// Usage is printed below: to stdout for -h (asked for), to stderr
	// after a bad flag (whose error the flag package prints first).
	fs.Usage = func() {}
	fs.BoolVar(&f.d, "d", false, "")
	fs.BoolVar(&f.dd, "dd", false, "")
	fs.BoolVar(&f.ddd, "ddd", false, "")
	fs.StringVar(&f.read, "r", "", "")
	fs.StringVar(&f.write, "w", "", "")
	fs.BoolVar(&f.count, "c", false, "")
	fs.StringVar(&f.linkType, "y", "", "")
	fs.StringVar(&f.engine, "engine", "classic", "")
	fs.StringVar(&f.file, "F", "", "")
	fs.StringVar(&f.iface, "i", "", "")
	fs.IntVar(&f.limit, "limit", 0, "")
	fs.BoolVar(&f.count, "count", false, "")
	fs.Bool("n", false, "") // tcpdump's "don't resolve names": always so here
	// Flags may come after expression words, as with tcpdump; "--" ends
	// the flags.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, filterUsage)
				return 0
			}
			fmt.Fprint(stderr, filterUsage)
			return 2
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			words = append(words, rest...)
			break
		}
		words = append(words, rest[0])
		args = rest[1:]
	}
	expr := strings.Join(words, " ")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bpfvm filter: "+format+"\n", a...)
		return 1
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bpfvm filter: "+format+"\n", a...)
		fmt.Fprint(stderr, filterUsage)
		return 2
	}
	if f.file != "" && expr != "" {
		return usageErr("give the filter either as arguments or with -F, not both")
	}
	cbpfEngine, ok := filterEngines[f.engine]
	if !ok {
		return usageErr("unknown engine %q (known: pcap, classic, interp, jit)", f.engine)
	}
	printing := f.d || f.dd || f.ddd
	if !printing && f.read == "" && f.iface == "" {
		return usageErr("nothing to do: give -r FILE, -i IFACE or -d/-dd/-ddd")
	}
	if f.read != "" && f.iface != "" {
		return usageErr("-r and -i cannot be used together")
	}
	if f.limit < 0 {
		return usageErr("--limit must not be negative")
	}

	// The link type: -y, else the capture's, else Ethernet.
	lt := pcapfilter.LinkTypeEthernet
	var src *captureReader
	if f.read != "" {
		var err error
		// A mapped file truncated under us faults; Go code reading it turns
		// the fault into an error, but the JIT reads packets from native
		// code, where the fault would crash the process: the JIT gets
		// packets read into buffers instead.
		if src, err = openCapture(f.read, f.engine != "jit"); err != nil {
			return fail("%v", err)
		}
		defer src.Close()
		lt = pcapfilter.LinkType(src.linkType)
	}
	if f.linkType != "" {
		v, err := pcapfilter.ParseLinkType(f.linkType)
		if err != nil {
			return usageErr("-y: %v", err)
		}
		lt = v
	}
	opts := pcapfilter.Options{}
	if src != nil {
		opts.NullBigEndian = src.bigEndian
	}
	prog, err := loadFilter(f, expr, lt, opts)
	if err != nil {
		return fail("%v", err)
	}
	if err := cbpf.Check(prog); err != nil {
		return fail("the program is not valid classic BPF: %v", err)
	}
	if printing {
		switch {
		case f.d:
			fmt.Fprint(stdout, cbpf.FormatListing(prog))
		case f.dd:
			fmt.Fprint(stdout, cbpf.FormatC(prog))
		default:
			fmt.Fprint(stdout, cbpf.FormatDecimal(prog))
		}
		return 0
	}
	if f.iface != "" {
		if err := liveCapture(f, prog, stdout, stderr); err != nil {
			return fail("%v", err)
		}
		return 0
	}
	pm, err := newPacketMatcher(prog, cbpfEngine)
	if err != nil {
		return fail("engine %s: %v", f.engine, err)
	}
	defer pm.Close()
	if err := filterFile(f, src, pm, stdout, stderr); err != nil {
		return fail("%v", err)
	}
	return 0
}

// filterEngines maps --engine names to cbpf engines ("pcap", this
// command's own interpreter before cbpf's engines took the wire length,
// stays accepted).
var filterEngines = map[string]cbpf.Engine{
	"pcap": cbpf.EngineClassic, "classic": cbpf.EngineClassic, "interp": cbpf.EngineInterp, "jit": cbpf.EngineJIT,
}

// packetMatcher runs a filter over capture records as libpcap does: len
// is the packet's length on the wire, loads are bounded by the captured
// bytes (cbpf's Metadata.WireLen).
type packetMatcher struct {
	f *cbpf.Filter
	m *cbpf.Matcher
	// md carries the wire length, for programs with len loads; the
	// others run without metadata (the JIT's cheapest entry).
	md *cbpf.Metadata
	// batch: filterFile hands pcap records over in batches (MatchBatch):
	// on the JIT, one native call filters a whole batch; the classic
	// engine gains nothing from it and keeps its single-packet loop.
	batch bool
}

func newPacketMatcher(prog []cbpf.Instruction, e cbpf.Engine) (*packetMatcher, error) {
	f, err := cbpf.NewFilter(prog, cbpf.Options{Engine: e})
	if err != nil {
		return nil, err
	}
	pm := &packetMatcher{f: f, m: f.NewMatcher(), batch: e == cbpf.EngineJIT}
	for _, ins := range prog {
		if ins.Op == cbpf.OpLDLen || ins.Op == cbpf.OpLDXLen {
			pm.md = new(cbpf.Metadata)
		}
	}
	return pm, nil
}

// match returns the verdict for a packet of wireLen bytes of which data
// were captured.
func (pm *packetMatcher) match(data []byte, wireLen uint32) (uint32, error) {
	if pm.md == nil {
		return pm.m.Match(data, nil)
	}
	pm.md.WireLen = wireLen
	return pm.m.Match(data, pm.md)
}

// Close releases the engine.
func (pm *packetMatcher) Close() {
	pm.m.Close()
	pm.f.Close()
}

// loadFilter compiles the expression, or reads -F's file and detects what
// it holds.
func loadFilter(f filterFlags, expr string, lt pcapfilter.LinkType, opts pcapfilter.Options) ([]cbpf.Instruction, error) {
	if f.file == "" {
		prog, err := pcapfilter.Compile(expr, lt, opts)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", expr, err)
		}
		return prog, nil
	}
	data, err := os.ReadFile(f.file)
	if err != nil {
		return nil, err
	}
	text := string(data)
	switch cbpf.Detect(text) {
	case cbpf.FormatTcpdumpC, cbpf.FormatTcpdumpD, cbpf.FormatTcpdumpN:
		prog, err := cbpf.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %v", f.file, cbpf.Detect(text), err)
		}
		return prog, nil
	}
	// An expression (tcpdump -F strips '#' comments), else bpf_asm.
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	prog, exprErr := pcapfilter.Compile(strings.Join(lines, " "), lt, opts)
	if exprErr == nil {
		return prog, nil
	}
	prog, asmErr := cbpf.Assemble(text)
	if asmErr == nil {
		return prog, nil
	}
	return nil, fmt.Errorf("%s is neither a filter expression (%v) nor a bpf_asm program (%v)", f.file, exprErr, asmErr)
}

// filterFile runs the filter over a capture file.
func filterFile(f filterFlags, src *captureReader, pm *packetMatcher, stdout, stderr io.Writer) error {
	if src.mapped != nil && (f.write != "" || f.count) {
		return filterMapped(f, src, pm, stdout, stderr)
	}
	var out *bufio.Writer
	var sink pcapSink
	var flush func() error
	if f.write != "" {
		var w io.Writer = stdout
		if f.write != "-" {
			file, err := os.Create(f.write)
			if err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		out = bufio.NewWriterSize(w, 1<<20)
		var err error
		if sink, flush, err = src.sink(out); err != nil {
			return err
		}
	}
	lines := bufio.NewWriterSize(stdout, 64<<10)
	defer lines.Flush()
	bar := newProgressBar(stderr, src.size)
	var matched, index uint64
	// emit outputs the index-th packet, which matched.
	emit := func(index uint64, pkt packet) error {
		matched++
		switch {
		case sink != nil:
			return sink(pkt)
		case !f.count:
			fmt.Fprintf(lines, "%d %d.%09d %d\n", index, pkt.sec, pkt.nsec, pkt.origLen)
		}
		return nil
	}
	if pm.batch && src.ng == nil {
		if err := filterBatches(src, pm, bar, emit); err != nil {
			return err
		}
	}
	for !pm.batch || src.ng != nil {
		pkt, err := src.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		index++
		if index&0x3fff == 0 {
			bar.update(src.offset())
		}
		v, err := pm.match(pkt.data, uint32(pkt.origLen))
		if err != nil {
			return fmt.Errorf("packet %d: %v", index, err)
		}
		if v != 0 {
			if err := emit(index, pkt); err != nil {
				return err
			}
		}
	}
	bar.done()
	if flush != nil {
		if err := flush(); err != nil {
			return err
		}
	}
	if out != nil {
		if err := out.Flush(); err != nil {
			return err
		}
	}
	if f.count {
		if f.write == "-" {
			// The capture goes to stdout: keep the count apart, as tcpdump does.
			fmt.Fprintln(stderr, matched)
		} else {
			fmt.Fprintln(lines, matched)
		}
	}
	return nil
}

// batchSize is how many pcap records filterBatches matches at a time.
const batchSize = 64

// filterBatches is filterFile's loop for a pcap file (not pcapng, whose
// packets live only until the next is read) on an engine that gains from
// batches: records are matched 64 at a time with MatchBatch, and always
// before the reader recycles the chunk they are in (its beforeRefill
// hook, ahead of the sink's).
func filterBatches(src *captureReader, pm *packetMatcher, bar *progressBar, emit func(uint64, packet) error) error {
	var (
		pkts     = make([][]byte, 0, batchSize)
		wire     = make([]uint32, 0, batchSize)
		recs     = make([]packet, 0, batchSize)
		verdicts = make([]uint32, batchSize)
		index    uint64 // records matched so far
	)
	flush := func() error {
		if len(pkts) == 0 {
			return nil
		}
		var wl []uint32
		if pm.md != nil {
			wl = wire // only len loads read the wire length
		}
		err := pm.m.MatchBatch(pkts, wl, verdicts[:len(pkts)])
		var be *cbpf.BatchError
		if errors.As(err, &be) {
			return fmt.Errorf("packet %d: %v", index+uint64(be.Index)+1, be.Err)
		}
		if err != nil {
			return err
		}
		for i, v := range verdicts[:len(pkts)] {
			if v != 0 {
				if err := emit(index+uint64(i)+1, recs[i]); err != nil {
					return err
				}
			}
		}
		index += uint64(len(pkts))
		pkts, wire, recs = pkts[:0], wire[:0], recs[:0]
		return nil
	}
	sinkRefill := src.beforeRefill
	src.beforeRefill = func() error {
		if err := flush(); err != nil {
			return err
		}
		if sinkRefill != nil {
			return sinkRefill()
		}
		return nil
	}
	defer func() { src.beforeRefill = sinkRefill }()
	for {
		pkt, err := src.next()
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
		if (index+uint64(len(pkts))+1)&0x3fff == 0 {
			bar.update(src.offset())
		}
		pkts = append(pkts, pkt.data)
		wire = append(wire, uint32(pkt.origLen))
		recs = append(recs, pkt)
		if len(pkts) == batchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}

// packet is one record of a capture; data aliases the reader's buffer.
type packet struct {
	data      []byte
	sec, nsec int64
	origLen   int
	raw       []byte // the pcap record (header and data), for copying as is
	off       int64  // offset of raw in the file
}

// pcapSink writes a matching packet.
type pcapSink func(p packet) error

// captureReader reads pcap files itself and pcapng files through
// gopacket's pcapgo. pcap files are mapped into memory where they can be
// (see mapping: the kernel's page-table work then runs on another
// goroutine, and nothing is copied); otherwise (pipes, other systems) they
// are read in large chunks by a second goroutine while the filter runs over
// the previous chunk. Either way packets are filtered in place, without
// copying.
type captureReader struct {
	linkType  uint32
	bigEndian bool // NULL link type: family in big-endian order
	size      int64
	file      *os.File

	// pcap
	buf     []byte // the current chunk; unread data is buf[lo:hi]
	joined  bool   // buf is not a pool buffer (a large record was joined)
	lo, hi  int
	base    int64 // file offset of buf[0]
	order   binary.ByteOrder
	nanos   bool
	fileHdr []byte
	full    chan chunk  // chunks read, in file order
	free    chan []byte // buffers to read into
	done    chan struct{}
	closed  bool
	// beforeRefill is called before the current chunk is recycled (the
	// sink writes out the run of records it holds there).
	beforeRefill func() error

	// mapped is the whole file when it could be mapped into memory (then
	// buf is mapped and there is no reading goroutine): records are parsed
	// and written out in place, with no copy of the file through read(2).
	mapped  []byte
	mapping *mapping

	// pcapng
	ng *pcapgo.NgReader
	cr *countingReader
}

type chunk struct {
	buf []byte // data is buf[chunkRoom : chunkRoom+n]
	n   int
	err error
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// mapCaptures is whether pcap files are mapped into memory when they can
// be (tests turn it off to exercise the reading goroutine, which serves
// pipes and other files that cannot be mapped).
var mapCaptures = true

const (
	chunkSize = 256 << 10
	chunkRoom = 64 << 10 // room before a chunk for the record the previous one cut
	chunks    = 3
)

func openCapture(path string, mapIt bool) (*captureReader, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	c := &captureReader{size: st.Size(), file: file}
	var hdr [24]byte
	if n, _ := io.ReadFull(file, hdr[:]); n < 4 {
		c.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (too short)", path)
	}
	magic := binary.LittleEndian.Uint32(hdr[:])
	if magic == 0x0a0d0d0a {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			c.Close()
			return nil, err
		}
		c.cr = &countingReader{r: file}
		ng, err := pcapgo.NewNgReader(bufio.NewReaderSize(c.cr, 1<<20), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		c.ng = ng
		c.linkType = uint32(ng.LinkType())
		return c, nil
	}
	switch magic {
	case 0xa1b2c3d4:
		c.order = binary.LittleEndian
	case 0xa1b23c4d:
		c.order, c.nanos = binary.LittleEndian, true
	case 0xd4c3b2a1:
		c.order = binary.BigEndian
	case 0x4d3cb2a1:
		c.order, c.nanos = binary.BigEndian, true
	default:
		c.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (unknown magic number)", path)
	}
	if st.Size() < 24 {
		c.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (too short)", path)
	}
	c.linkType = c.order.Uint32(hdr[20:]) & 0x0fffffff
	c.bigEndian = c.order == binary.BigEndian
	c.fileHdr = hdr[:]
	if mapCaptures && mapIt {
		if m, err := mapFile(file, st.Size()); err == nil {
			c.mapping, c.mapped, c.buf, c.joined = m, m.data, m.data, true
			c.lo, c.hi = 24, len(m.data)
			return c, nil
		}
	}
	c.base = 24
	c.full = make(chan chunk, chunks)
	c.free = make(chan []byte, chunks)
	c.done = make(chan struct{})
	size := min(int64(chunkSize), st.Size()) // small files need small buffers
	for i := 0; i < chunks; i++ {
		c.free <- make([]byte, chunkRoom+int(size))
	}
	go c.readChunks(c.file, c.done)
	return c, nil
}

// readChunks runs in its own goroutine, reading the file into free buffers.
func (c *captureReader) readChunks(file *os.File, done chan struct{}) {
	for {
		var b []byte
		select {
		case b = <-c.free:
		case <-done:
			return
		}
		n, err := io.ReadFull(file, b[chunkRoom:])
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = nil // the end of the file is a chunk of 0 bytes
		}
		select {
		case c.full <- chunk{b, n, err}:
		case <-done:
			return
		}
		if n == 0 || err != nil {
			return
		}
	}
}

// fill makes at least n bytes available in buf[lo:hi] unless the file
// ends, moving to the next chunk.
func (c *captureReader) fill(n int) error {
	if c.mapped != nil {
		return nil // all of the file is in buf already
	}
	for c.hi-c.lo < n {
		if c.beforeRefill != nil {
			if err := c.beforeRefill(); err != nil {
				return err
			}
		}
		next := <-c.full
		if next.err != nil {
			return next.err
		}
		tail := c.buf[c.lo:c.hi]
		if next.n == 0 {
			// End of file: put the (empty) chunk back, keep the tail.
			c.full <- next
			return nil
		}
		nb := next.buf
		start := chunkRoom - len(tail)
		if len(tail) > chunkRoom {
			// A record larger than the room: join it with the chunk.
			nb = make([]byte, len(tail)+next.n)
			copy(nb[len(tail):], next.buf[chunkRoom:chunkRoom+next.n])
			c.free <- next.buf
			start = 0
		}
		copy(nb[start:], tail)
		if c.buf != nil && !c.joined {
			c.free <- c.buf
		}
		c.joined = len(tail) > chunkRoom
		c.base += int64(c.lo) - int64(start)
		c.buf, c.lo = nb, start
		c.hi = start + len(tail) + next.n
	}
	return nil
}

func (c *captureReader) Close() {
	if c.done != nil && !c.closed {
		close(c.done)
		c.closed = true
	}
	if c.file != nil {
		c.file.Close()
	}
	if c.mapped != nil {
		c.mapping.close()
		c.mapped, c.buf = nil, nil
	}
}

func (c *captureReader) offset() int64 {
	if c.ng != nil {
		return c.cr.n
	}
	return c.base + int64(c.lo)
}

func (c *captureReader) next() (packet, error) {
	if c.ng != nil {
		data, ci, err := c.ng.ZeroCopyReadPacketData()
		if err != nil {
			return packet{}, err
		}
		if ci.InterfaceIndex != 0 {
			// The filter is compiled for the first interface's link type.
			if ifc, err := c.ng.Interface(ci.InterfaceIndex); err == nil && uint32(ifc.LinkType) != c.linkType {
				return packet{}, fmt.Errorf("the capture mixes link types (%d and %d): not supported", c.linkType, uint32(ifc.LinkType))
			}
		}
		return packet{data: data, sec: ci.Timestamp.Unix(), nsec: int64(ci.Timestamp.Nanosecond()), origLen: ci.Length}, nil
	}
	if c.hi-c.lo < 16 {
		if err := c.fill(16); err != nil {
			return packet{}, err
		}
		if c.hi == c.lo {
			return packet{}, io.EOF
		}
		if c.hi-c.lo < 16 {
			return packet{}, fmt.Errorf("truncated record header at offset %d", c.offset())
		}
	}
	incl := int(c.order.Uint32(c.buf[c.lo+8:]))
	if incl > 1<<28 {
		return packet{}, fmt.Errorf("record at offset %d claims %d bytes", c.offset(), incl)
	}
	if c.hi-c.lo < 16+incl {
		if err := c.fill(16 + incl); err != nil {
			return packet{}, err
		}
		if c.hi-c.lo < 16+incl {
			return packet{}, fmt.Errorf("truncated packet at offset %d (%d bytes claimed)", c.offset(), incl)
		}
	}
	h := c.buf[c.lo : c.lo+16]
	p := packet{
		data:    c.buf[c.lo+16 : c.lo+16+incl],
		sec:     int64(c.order.Uint32(h[0:])),
		nsec:    int64(c.order.Uint32(h[4:])),
		origLen: int(c.order.Uint32(h[12:])),
		raw:     c.buf[c.lo : c.lo+16+incl],
		off:     c.base + int64(c.lo),
	}
	if !c.nanos {
		p.nsec *= 1000
	}
	c.lo += 16 + incl
	return p, nil
}

// sink returns the writer of matching packets and a function to call at
// the end. pcap records are copied as they are (same header, byte order and
// precision), runs of consecutive ones in a single write; pcapng packets
// are written as nanosecond pcap.
func (c *captureReader) sink(w io.Writer) (pcapSink, func() error, error) {
	if c.ng == nil {
		if _, err := w.Write(c.fileHdr); err != nil {
			return nil, nil, err
		}
		var start, end int64 // the pending run of consecutive records
		flush := func() error {
			if start == end {
				return nil
			}
			_, err := w.Write(c.buf[start-c.base : end-c.base])
			start, end = 0, 0
			return err
		}
		c.beforeRefill = flush
		return func(p packet) error {
			if p.off == end && end != 0 {
				end += int64(len(p.raw))
				return nil
			}
			if err := flush(); err != nil {
				return err
			}
			start, end = p.off, p.off+int64(len(p.raw))
			return nil
		}, flush, nil
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(262144, layers.LinkType(c.linkType)); err != nil {
		return nil, nil, err
	}
	return func(p packet) error {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(p.sec, p.nsec), CaptureLength: len(p.data), Length: p.origLen}
		return pw.WritePacket(ci, p.data)
	}, nil, nil
}

// progressBar draws on stderr when it is a terminal and the input is large.
type progressBar struct {
	w     io.Writer
	total int64
	on    bool
	last  time.Time
}

const progressMinSize = 64 << 20

func newProgressBar(w io.Writer, total int64) *progressBar {
	return &progressBar{w: w, total: total, on: total >= progressMinSize && isTerminal(w)}
}

func (b *progressBar) update(done int64) {
	if !b.on || time.Since(b.last) < 200*time.Millisecond {
		return
	}
	b.last = time.Now()
	const width = 40
	frac := float64(done) / float64(b.total)
	if frac > 1 {
		frac = 1
	}
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r[%s%s] %3.0f%%", strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac)
}

func (b *progressBar) done() {
	if b.on && !b.last.IsZero() {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", 48))
	}
}

// filterMapped is filterFile for a pcap file mapped into memory, with -w or
// -c: records are parsed in place in a single loop, and runs of consecutive
// matching records are handed to the output as slices of the mapping,
// written with few large vectored writes (no copy in user space).
func filterMapped(f filterFlags, src *captureReader, pm *packetMatcher, stdout, stderr io.Writer) (err error) {
	var out *vecWriter
	if f.write != "" {
		var w io.Writer = stdout
		if f.write != "-" {
			file, err := os.Create(f.write)
			if err != nil {
				return err
			}
			defer file.Close()
			w = file
		}
		out = newVecWriter(w)
		if err := out.add(src.fileHdr); err != nil {
			return err
		}
	}
	// A file truncated by someone else while it is mapped faults on
	// access: report it as an error rather than crashing.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			fault, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: memory fault at %#x reading the mapped file: was it truncated while being read?", f.read, fault.Addr())
		}
	}()
	bar := newProgressBar(stderr, src.size)
	b := src.mapped
	swap := src.order == binary.BigEndian
	u32 := func(p []byte) uint32 {
		v := binary.LittleEndian.Uint32(p)
		if swap {
			v = bits.ReverseBytes32(v)
		}
		return v
	}
	var matched, index uint64
	runStart, runEnd := 0, 0 // the pending run of matching records, b[runStart:runEnd]
	released := 0            // b[:released] is done with
	lo := src.lo
	ahead := lo // prefetched up to here
	for lo < len(b) {
		if len(b)-lo < 16 {
			return fmt.Errorf("truncated record header at offset %d", lo)
		}
		h := b[lo : lo+16 : lo+16]
		incl := uint64(u32(h[8:]))
		if incl > 1<<28 {
			return fmt.Errorf("record at offset %d claims %d bytes", lo, incl)
		}
		end := lo + 16 + int(incl)
		if end > len(b) {
			return fmt.Errorf("truncated packet at offset %d (%d bytes claimed)", lo, incl)
		}
		if lim := min(end+prefetchAhead, len(b)); ahead < lim {
			prefetch(&b[ahead], uintptr(lim-ahead))
			ahead = lim
		}
		index++
		if index&0x3fff == 0 {
			bar.update(int64(lo))
		}
		data := b[lo+16 : end : end]
		v, err := pm.match(data, u32(h[12:]))
		if err != nil {
			return fmt.Errorf("packet %d: %v", index, err)
		}
		if lo >= released+releaseStep {
			// Hand what is behind to the unmapping goroutine, once written
			// out (a run is written as two, same bytes).
			if out != nil {
				if runEnd > runStart {
					if err := out.add(b[runStart:runEnd]); err != nil {
						return err
					}
					runStart = runEnd
				}
				if err := out.flush(); err != nil {
					return err
				}
			}
			released = lo
			src.mapping.release(released)
		}
		if v != 0 {
			matched++
			if lo != runEnd {
				if out != nil && runEnd > runStart {
					if err := out.add(b[runStart:runEnd]); err != nil {
						return err
					}
				}
				runStart = lo
			}
			runEnd = end
		}
		lo = end
	}
	bar.done()
	if out != nil {
		if runEnd > runStart {
			if err := out.add(b[runStart:runEnd]); err != nil {
				return err
			}
		}
		if err := out.flush(); err != nil {
			return err
		}
	}
	if f.count {
		if f.write == "-" {
			fmt.Fprintln(stderr, matched)
		} else {
			fmt.Fprintln(stdout, matched)
		}
	}
	return nil
}

// vecWriter collects slices to write and writes them, in order, with few
// vectored writes when the destination is a file (else through a buffer).
// The slices must stay unchanged until flush.
type vecWriter struct {
	file *os.File
	w    *bufio.Writer
	iov  [][]byte
	sys  []iovec // writev's argument, kept to not allocate at each call
}

// maxIov is the most slices passed to one writev (Linux's IOV_MAX).
const maxIov = 1024

func newVecWriter(w io.Writer) *vecWriter {
	if f, ok := w.(*os.File); ok && canWritev {
		return &vecWriter{file: f, iov: make([][]byte, 0, maxIov)}
	}
	return &vecWriter{w: bufio.NewWriterSize(w, 1<<20)}
}

func (v *vecWriter) add(p []byte) error {
	if v.file == nil {
		_, err := v.w.Write(p)
		return err
	}
	v.iov = append(v.iov, p)
	if len(v.iov) == maxIov {
		return v.writeIov()
	}
	return nil
}

func (v *vecWriter) writeIov() error {
	err := writev(v.file, v.iov, &v.sys)
	clear(v.iov) // drop references to the mapping
	v.iov = v.iov[:0]
	return err
}

// flush writes out everything added.
func (v *vecWriter) flush() error {
	if v.file == nil {
		return v.w.Flush()
	}
	return v.writeIov()
}

// prefetchAhead is how far ahead of the record being filtered the mapped
// file is prefetched. The next record's position depends on this one's
// header, so without prefetching every record costs a full trip to memory.
const prefetchAhead = 8 << 10

// releaseStep is how often filterMapped releases the part of the mapping
// it is done with (a variable for tests).
var releaseStep = 16 << 20
