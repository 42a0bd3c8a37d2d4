package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
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
                    [--engine E] [-i IFACE [-n COUNT]] (EXPRESSION | -F FILE)

Compiles a pcap-filter(7) expression to classic BPF, as tcpdump does, and
either prints the program or filters packets with it.

  -d, -dd, -ddd  print the program as tcpdump -d (listing), -dd (C array)
                 or -ddd (decimal) does, and exit
  -r FILE        read packets from a pcap or pcapng file
  -w FILE        write the matching packets to FILE as pcap ("-" = stdout)
  -c             print only the number of matching packets
  -y LINKTYPE    link type to compile for: EN10MB, RAW, LINUX_SLL,
                 LINUX_SLL2, NULL, LOOP or a number (default: the capture's,
                 EN10MB without a capture)
  -F FILE        take the filter from FILE: a pcap-filter expression ('#'
                 starts a comment), a bpf_asm program, or tcpdump -dd/-ddd/-d
                 output (detected from the content)
  --engine E     how packets are run through the filter: interp (default;
                 jit is not available yet)
  -i IFACE       capture live on IFACE (needs root): an AF_PACKET socket with
                 the compiled program attached in the kernel (SO_ATTACH_FILTER),
                 one line per packet (time, length) or -w; -n stops after
                 COUNT packets

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
	fs.Usage = func() { fmt.Fprint(stderr, filterUsage) }
	fs.BoolVar(&f.d, "d", false, "")
	fs.BoolVar(&f.dd, "dd", false, "")
	fs.BoolVar(&f.ddd, "ddd", false, "")
	fs.StringVar(&f.read, "r", "", "")
	fs.StringVar(&f.write, "w", "", "")
	fs.BoolVar(&f.count, "c", false, "")
	fs.StringVar(&f.linkType, "y", "", "")
	fs.StringVar(&f.engine, "engine", "interp", "")
	fs.StringVar(&f.file, "F", "", "")
	fs.StringVar(&f.iface, "i", "", "")
	fs.IntVar(&f.limit, "n", 0, "")
	// Flags may come after expression words, as with tcpdump; "--" ends
	// the flags.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, filterUsage)
				return 0
			}
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
	switch f.engine {
	case "interp":
	case "jit":
		return fail("engine %q is not available yet (use --engine interp)", f.engine)
	default:
		return usageErr("unknown engine %q (known: interp)", f.engine)
	}
	printing := f.d || f.dd || f.ddd
	if !printing && f.read == "" && f.iface == "" {
		return usageErr("nothing to do: give -r FILE, -i IFACE or -d/-dd/-ddd")
	}
	if f.read != "" && f.iface != "" {
		return usageErr("-r and -i cannot be used together")
	}
	if f.limit < 0 {
		return usageErr("-n must not be negative")
	}

	// The link type: -y, else the capture's, else Ethernet.
	lt := pcapfilter.LinkTypeEthernet
	var src *captureReader
	if f.read != "" {
		var err error
		if src, err = openCapture(f.read); err != nil {
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
	if err := filterFile(f, src, prog, stdout, stderr); err != nil {
		return fail("%v", err)
	}
	return 0
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
func filterFile(f filterFlags, src *captureReader, prog []cbpf.Instruction, stdout, stderr io.Writer) error {
	var out *bufio.Writer
	var sink pcapSink
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
		if sink, err = src.sink(out); err != nil {
			return err
		}
	}
	lines := bufio.NewWriterSize(stdout, 64<<10)
	defer lines.Flush()
	bar := newProgressBar(stderr, src.size)
	var matched, index uint64
	for {
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
		if cbpf.Eval(prog, pkt.data, nil) == 0 {
			continue
		}
		matched++
		switch {
		case sink != nil:
			if err := sink(pkt); err != nil {
				return err
			}
		case !f.count:
			fmt.Fprintf(lines, "%d %d.%09d %d\n", index, pkt.sec, pkt.nsec, pkt.origLen)
		}
	}
	bar.done()
	if out != nil {
		if err := out.Flush(); err != nil {
			return err
		}
	}
	if f.count {
		fmt.Fprintln(lines, matched)
	}
	return nil
}

// packet is one record of a capture; data aliases the reader's buffer.
type packet struct {
	data      []byte
	sec, nsec int64
	origLen   int
	raw       []byte // the pcap record (header and data), for copying as is
}

// pcapSink writes a matching packet.
type pcapSink func(p packet) error

// captureReader reads pcap files from memory (mapped) and pcapng files
// through gopacket's pcapgo.
type captureReader struct {
	linkType  uint32
	bigEndian bool // NULL link type: family in big-endian order
	size      int64

	// pcap
	mem     []byte
	mapped  bool
	pos     int
	order   binary.ByteOrder
	nanos   bool
	fileHdr []byte

	// pcapng
	file *os.File
	ng   *pcapgo.NgReader
	cr   *countingReader
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

func openCapture(path string) (*captureReader, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, err
	}
	var magic [4]byte
	if _, err := io.ReadFull(file, magic[:]); err != nil {
		file.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (too short)", path)
	}
	c := &captureReader{size: st.Size()}
	if binary.LittleEndian.Uint32(magic[:]) == 0x0a0d0d0a {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			file.Close()
			return nil, err
		}
		c.file = file
		c.cr = &countingReader{r: file}
		ng, err := pcapgo.NewNgReader(bufio.NewReaderSize(c.cr, 1<<20), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			file.Close()
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		c.ng = ng
		c.linkType = uint32(ng.LinkType())
		return c, nil
	}
	// A pcap file: map it (or read it when it cannot be mapped).
	if m, ok := mapFile(file, st.Size()); ok {
		c.mem, c.mapped = m, true
	}
	if c.mem == nil {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			file.Close()
			return nil, err
		}
		if c.mem, err = io.ReadAll(file); err != nil {
			file.Close()
			return nil, err
		}
	}
	file.Close()
	if len(c.mem) < 24 {
		c.Close()
		return nil, fmt.Errorf("%s: not a pcap or pcapng file (too short)", path)
	}
	switch binary.LittleEndian.Uint32(c.mem) {
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
	c.linkType = c.order.Uint32(c.mem[20:]) & 0x0fffffff
	c.bigEndian = c.order == binary.BigEndian
	c.fileHdr = c.mem[:24]
	c.pos = 24
	return c, nil
}

func (c *captureReader) Close() {
	if c.mapped {
		unmapFile(c.mem)
		c.mapped = false
	}
	c.mem = nil
	if c.file != nil {
		c.file.Close()
	}
}

func (c *captureReader) offset() int64 {
	if c.ng != nil {
		return c.cr.n
	}
	return int64(c.pos)
}

func (c *captureReader) next() (packet, error) {
	if c.ng != nil {
		data, ci, err := c.ng.ZeroCopyReadPacketData()
		if err != nil {
			return packet{}, err
		}
		return packet{data: data, sec: ci.Timestamp.Unix(), nsec: int64(ci.Timestamp.Nanosecond()), origLen: ci.Length}, nil
	}
	if c.pos == len(c.mem) {
		return packet{}, io.EOF
	}
	if len(c.mem)-c.pos < 16 {
		return packet{}, fmt.Errorf("truncated record header at offset %d", c.pos)
	}
	h := c.mem[c.pos : c.pos+16]
	incl := int(c.order.Uint32(h[8:]))
	if incl > len(c.mem)-c.pos-16 {
		return packet{}, fmt.Errorf("truncated packet at offset %d (%d bytes claimed)", c.pos, incl)
	}
	p := packet{
		data:    c.mem[c.pos+16 : c.pos+16+incl],
		sec:     int64(c.order.Uint32(h[0:])),
		nsec:    int64(c.order.Uint32(h[4:])),
		origLen: int(c.order.Uint32(h[12:])),
		raw:     c.mem[c.pos : c.pos+16+incl],
	}
	if !c.nanos {
		p.nsec *= 1000
	}
	c.pos += 16 + incl
	return p, nil
}

// sink returns the writer of matching packets: pcap records are copied as
// they are (same header, byte order and precision); pcapng packets are
// written as nanosecond pcap.
func (c *captureReader) sink(w io.Writer) (pcapSink, error) {
	if c.ng == nil {
		if _, err := w.Write(c.fileHdr); err != nil {
			return nil, err
		}
		return func(p packet) error {
			_, err := w.Write(p.raw)
			return err
		}, nil
	}
	pw := pcapgo.NewWriterNanos(w)
	if err := pw.WriteFileHeader(262144, layers.LinkType(c.linkType)); err != nil {
		return nil, err
	}
	return func(p packet) error {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(p.sec, p.nsec), CaptureLength: len(p.data), Length: p.origLen}
		return pw.WritePacket(ci, p.data)
	}, nil
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
