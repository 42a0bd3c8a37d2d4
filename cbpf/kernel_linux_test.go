//go:build linux

package cbpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Differential tests against the Linux kernel: the same classic programs
// attached with SO_ATTACH_FILTER to a packet socket on the loopback device
// of a private network namespace, and run by bpfvm, must give the same
// verdicts; and Check must accept exactly what the kernel accepts.

// kernelLab is a private network namespace with its loopback up, a socket
// to send frames, an unfiltered receiver (the reference: it tells what the
// filter saw and its metadata) and a receiver to attach filters to.
type kernelLab struct {
	stats    labStats
	ifindex  int
	send     int
	ref      int
	filtered int
}

// labStats count what the frames exercised, to show the comparison is not
// vacuous.
type labStats struct {
	kept, dropped, truncated, vlan int
	pktTypes, protocols            map[uint32]bool
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// newKernelLab creates the namespace on a locked thread that is then
// discarded; the sockets stay in the namespace. It skips the test when the
// kernel cannot be used.
func newKernelLab(t *testing.T) *kernelLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel differential test skipped: needs root (CAP_SYS_ADMIN for a network namespace, CAP_NET_RAW for packet sockets)")
	}
	type result struct {
		lab *kernelLab
		err error
	}
	ch := make(chan result)
	go func() {
		// Never unlocked: the thread is in the new namespace and must die
		// with this goroutine.
		runtime.LockOSThread()
		lab, err := setupLab()
		ch <- result{lab, err}
	}()
	r := <-ch
	if errors.Is(r.err, unix.EPERM) || errors.Is(r.err, unix.EACCES) || errors.Is(r.err, unix.EAFNOSUPPORT) {
		t.Skipf("kernel differential test skipped: %v", r.err)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		unix.Close(r.lab.send)
		unix.Close(r.lab.ref)
		unix.Close(r.lab.filtered)
	})
	return r.lab
}

func setupLab() (*kernelLab, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	ctl, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ctl)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFFLAGS, ifr); err != nil {
		return nil, fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(ctl, unix.SIOCSIFFLAGS, ifr); err != nil {
		return nil, fmt.Errorf("bringing lo up: %w", err)
	}
	if err := unix.IoctlIfreq(ctl, unix.SIOCGIFINDEX, ifr); err != nil {
		return nil, err
	}
	lab := &kernelLab{ifindex: int(ifr.Uint32())}
	if lab.send, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	open := func() (int, error) {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return 0, err
		}
		// Only frames received by lo, not the copies of outgoing ones.
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return 0, fmt.Errorf("PACKET_IGNORE_OUTGOING: %w", err)
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return 0, err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
			return 0, err
		}
		return fd, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: lab.ifindex})
	}
	if lab.ref, err = open(); err != nil {
		return nil, err
	}
	if lab.filtered, err = open(); err != nil {
		return nil, err
	}
	return lab, nil
}

func attach(fd int, prog []Instruction) error {
	raw := make([]unix.SockFilter, len(prog)+1) // +1: never a nil pointer
	for i, ins := range prog {
		raw[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &raw[0]})
}

// drain discards whatever fd has queued.
func drain(fd int) {
	buf := make([]byte, 1<<16)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			return
		}
	}
}

// observed is a frame as the reference socket received it: the bytes a
// filter sees and the metadata the kernel reports for it.
type observed struct {
	pkt []byte
	md  Metadata
}

// receive reads one frame with its metadata; wait says whether to block
// (up to a second) or return nil at once when nothing is queued.
func receive(t *testing.T, fd int, wait bool) *observed {
	t.Helper()
	buf := make([]byte, 1<<16)
	oob := make([]byte, 256)
	flags := unix.MSG_DONTWAIT
	if wait {
		flags = 0
		tv := unix.NsecToTimeval(int64(time.Second))
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, flags)
	if errors.Is(err, unix.EAGAIN) {
		return nil
	}
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	ll, ok := from.(*unix.SockaddrLinklayer)
	if !ok {
		t.Fatalf("recvmsg: address %T", from)
	}
	o := &observed{pkt: append([]byte(nil), buf[:n]...)}
	o.md = Metadata{
		Protocol: htons(ll.Protocol), PktType: ll.Pkttype, IfIndex: uint32(ll.Ifindex), HAType: ll.Hatype,
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_PACKET && m.Header.Type == unix.PACKET_AUXDATA && len(m.Data) >= int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			o.md.NetOffset = uint32(aux.Net) - uint32(aux.Mac)
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				o.md.VLANPresent = true
				o.md.VLANTag = aux.Vlan_tci
				o.md.VLANTPID = aux.Vlan_tpid
			}
		}
	}
	return o
}

// kernelAncillary are the ancillary loads whose values the reference
// socket reports (or that are constant here: mark 0), so bpfvm can be given
// the same metadata. Not here: queue, rxhash, cpu, random, poff (not
// reported); nla, nlan (the kernel answers 0 for the non-linear skbs
// packet sockets send).
var kernelAncillary = []uint32{
	AncillaryProtocol, AncillaryPktType, AncillaryIfIndex, AncillaryMark, AncillaryHatype,
	AncillaryAlu_XOR_X, AncillaryVLANTag, AncillaryVLANTagPresent, AncillaryVLANTPID,
}

// testFrame returns a frame of at least 14 bytes that the rest of the
// stack ignores (so no replies appear on lo): IP-like frames addressed to
// this host get version 0, which IPv4, IPv6 and ARP drop.
func testFrame(r *rand.Rand) []byte {
	n := 14 + r.IntN(90)
	if r.IntN(8) == 0 {
		n = 14 + r.IntN(1400)
	}
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(r.IntN(256))
		if r.IntN(3) == 0 {
			f[i] = byte(r.IntN(16))
		}
	}
	dsts := [][]byte{
		{0, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0x01, 0x00, 0x5e, 0, 0, 1},
		{0x33, 0x33, 0, 0, 0, 1}, {0x02, 0, 0, 0, 0, 1},
	}
	copy(f, dsts[r.IntN(len(dsts))])
	types := []uint16{0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x88b5, 0x0060, 0x05ff, uint16(r.Uint32())}
	binary.BigEndian.PutUint16(f[12:], types[r.IntN(len(types))])
	l2 := 14
	if et := binary.BigEndian.Uint16(f[12:]); (et == 0x8100 || et == 0x88a8) && n >= 18 {
		binary.BigEndian.PutUint16(f[16:], types[r.IntN(len(types))])
		l2 = 18
	}
	if f[0]&0x02 == 0 { // not the locally administered "other host" address
		for i := l2; i < len(f) && i < l2+8; i++ {
			f[i] = 0
		}
	}
	if r.IntN(4) == 0 && n >= 16 { // 802.3 frames with 0xffff: raw IPX
		f[14], f[15] = 0xff, 0xff
	}
	return f
}

// sendAndObserve sends one frame and returns what the reference socket saw
// and what the filtered socket received (nil if the filter dropped it).
func (lab *kernelLab) sendAndObserve(t *testing.T, frame []byte) (ref, got *observed) {
	t.Helper()
	to := &unix.SockaddrLinklayer{Ifindex: lab.ifindex, Protocol: htons(unix.ETH_P_ALL)}
	if err := unix.Sendto(lab.send, frame, 0, to); err != nil {
		t.Fatalf("sendto: %v", err)
	}
	ref = receive(t, lab.ref, true)
	if ref == nil {
		t.Fatalf("the reference socket did not receive the frame % x", frame)
	}
	if extra := receive(t, lab.ref, false); extra != nil {
		t.Fatalf("unexpected traffic on lo: % x (after sending % x)", extra.pkt, frame)
	}
	// Loopback delivers in the sender's softirq, and to the filtered
	// socket first (packet taps are added at the head of the list and it
	// was opened after the reference socket): once the reference socket
	// has the frame, the filtered one has it too if its filter kept it.
	got = receive(t, lab.filtered, false)
	if got != nil {
		if extra := receive(t, lab.filtered, false); extra != nil {
			t.Fatalf("filtered socket received two frames")
		}
	}
	return ref, got
}

// kernelVerdicts runs prog in the kernel and in bpfvm (Eval and every
// Filter engine) on frames and fails on any difference.
func (lab *kernelLab) kernelVerdicts(t *testing.T, prog []Instruction, frames [][]byte) {
	t.Helper()
	if err := attach(lab.filtered, prog); err != nil {
		t.Fatalf("SO_ATTACH_FILTER refused a program Check accepts: %v\n%s", err, FormatListing(prog))
	}
	drain(lab.filtered)
	var filters []*Filter
	for _, e := range testEngines {
		f, err := NewFilter(prog, Options{Engine: e})
		if err != nil {
			t.Fatal(err)
		}
		filters = append(filters, f)
	}
	for _, frame := range frames {
		ref, got := lab.sendAndObserve(t, frame)
		kernelLen := 0
		if got != nil {
			kernelLen = len(got.pkt)
			if !bytes.Equal(got.pkt, ref.pkt[:kernelLen]) {
				t.Fatalf("filtered socket received different bytes")
			}
		}
		verdict := Eval(prog, ref.pkt, &ref.md)
		want := min(uint64(verdict), uint64(len(ref.pkt)))
		st := &lab.stats
		switch {
		case want == 0:
			st.dropped++
		case want < uint64(len(ref.pkt)):
			st.truncated++
		default:
			st.kept++
		}
		if ref.md.VLANPresent {
			st.vlan++
		}
		if st.pktTypes == nil {
			st.pktTypes, st.protocols = map[uint32]bool{}, map[uint32]bool{}
		}
		st.pktTypes[uint32(ref.md.PktType)] = true
		st.protocols[uint32(ref.md.Protocol)] = true
		if uint64(kernelLen) != want {
			t.Fatalf("kernel kept %d bytes, bpfvm's Eval says %d (verdict %#x)\nframe % x\nmetadata %+v\n%s",
				kernelLen, want, verdict, ref.pkt, ref.md, FormatListing(prog))
		}
		for _, f := range filters {
			if v, err := f.Match(ref.pkt, &ref.md); err != nil || v != verdict {
				t.Fatalf("%v: Match = %#x, %v; Eval and the kernel: %#x", f.Engine(), v, err, verdict)
			}
		}
	}
}

func TestKernelVerdicts(t *testing.T) {
	lab := newKernelLab(t)
	r := rand.New(rand.NewPCG(7, 11))
	frames := make([][]byte, 24)
	for i := range frames {
		frames[i] = testFrame(r)
	}
	frames = append(frames, tcpFrame(80, 5, 0), tcpFrame(80, 7, 0), tcpFrame(22, 5, 0))
	var programs [][]Instruction
	programs = append(programs, httpProgram)
	for _, src := range []string{
		"ld #proto\nret a",
		"ld #type\nadd #1\nret a",
		"ld #ifidx\nadd #100\nret a",
		"ld #hatype\nret a",
		"ld #mark\nadd #5\nret a",
		"ld #vlan_tci\nadd #1\nret a",
		"ld #vlan_avail\nadd #1\nret a",
		"ld #vlan_tpid\nret a",
		"ld #len\nret a",
		"ld #len\nsub #5\nret a",
		"ld [-1048576]\nret a",          // SKF_NET_OFF: the network header
		"ldb [-1048575]\nadd #1\nret a", // SKF_NET_OFF + 1
		"ldh [-2097140]\nadd #1\nret a", // SKF_LL_OFF + 12: the ethertype
		"ldx #4\nldb [x + -1048576]\nadd #1\nret a",
		"ldx #12\nldh [x + -2097152]\nret a",
		"ldx #0\nld #9\ndiv x\nret #7", // division by zero X: 0
		"ldx #0\nld #9\nmod x\nret #7",
		"ld #1\nldx #33\nlsh x\nret a", // shifts by X mod 32
		"ld #0x80000000\nldx #63\nrsh x\nret a",
		"ldb [13]\nldx #0x55\nld [-4056]\nret a", // xor_x
		"ldxb 4*([14]&0xf)\nldb [x + 0]\nadd #1\nret a",
		"ld #0xffffffff\nret a",
		"ret #1",
		"ret #13",
		"ldh [12]\njgt #0x5ff, big, small\nbig: ret #100\nsmall: ret #3",
		"ld [2]\njset #0x80000000, y, n\ny: ret #9\nn: ret #10",
		"ld #0x80000000\njge #0x80000000, y, n\ny: ret #9\nn: ret #10",
	} {
		programs = append(programs, mustAssemble(t, src))
	}
	for _, g := range readTcpdumpGolden(t) {
		prog, err := ParseC(g.dd)
		if err != nil {
			t.Fatal(err)
		}
		programs = append(programs, prog)
	}
	opts := genOptions{ancillary: kernelAncillary, negative: true, maxOff: 80}
	random := 1500
	if testing.Short() {
		random = 50
	}
	for range random {
		programs = append(programs, randomProgram(r, 2+r.IntN(30), opts))
	}
	for _, prog := range programs {
		lab.kernelVerdicts(t, prog, frames)
		if t.Failed() {
			return
		}
	}
	st := lab.stats
	t.Logf("%d programs x %d frames agree with the kernel: %d kept, %d truncated, %d dropped; %d with a VLAN tag, %d packet types, %d protocols",
		len(programs), len(frames), st.kept, st.truncated, st.dropped, st.vlan, len(st.pktTypes), len(st.protocols))
	if st.kept == 0 || st.truncated == 0 || st.dropped == 0 || st.vlan == 0 || len(st.pktTypes) < 3 {
		t.Errorf("the frames did not exercise all cases")
	}
}

// TestKernelCheck compares Check with the kernel's own checker: random
// programs, valid and broken in every way the checker looks at, must be
// accepted by SO_ATTACH_FILTER exactly when Check accepts them.
func TestKernelCheck(t *testing.T) {
	lab := newKernelLab(t)
	r := rand.New(rand.NewPCG(3, 5))
	opts := genOptions{ancillary: allAncillary, negative: true, maxOff: 80}
	n := 4000
	if testing.Short() {
		n = 500
	}
	accepted := 0
	for i := 0; i < n; i++ {
		prog := randomProgram(r, 1+r.IntN(20), opts)
		mutate(r, prog)
		err := Check(prog)
		kerr := attach(lab.filtered, prog)
		if (err == nil) != (kerr == nil) {
			t.Fatalf("Check = %v, kernel = %v\n%s", err, kerr, FormatListing(prog))
		}
		if err == nil {
			accepted++
		}
	}
	// Lengths at the limits.
	for _, n := range []int{0, 1, MaxInstructions, MaxInstructions + 1} {
		prog := make([]Instruction, n)
		for i := range prog {
			prog[i] = Stmt(OpRetK, 1)
		}
		err := Check(prog)
		kerr := attach(lab.filtered, prog)
		if (err == nil) != (kerr == nil) {
			t.Fatalf("length %d: Check = %v, kernel = %v", n, err, kerr)
		}
	}
	if accepted < n/5 || accepted > n*4/5 {
		t.Errorf("only %d of %d programs valid: the mutations are unbalanced", accepted, n)
	}
	t.Logf("%d programs, %d accepted by both", n, accepted)
}

// mutate breaks a valid program at random in the ways the checker looks
// at (or leaves it valid).
func mutate(r *rand.Rand, prog []Instruction) {
	i := r.IntN(len(prog))
	switch r.IntN(12) {
	case 0:
		prog[i].Op = uint16(r.IntN(256))
	case 1:
		prog[i].Op = uint16(r.IntN(256))
		prog[i].K = uint32(r.IntN(20))
	case 2:
		prog[i] = Stmt([]uint16{ClassALU | AluDIV, ClassALU | AluMOD, ClassALU | AluLSH, ClassALU | AluRSH}[r.IntN(4)], uint32(r.IntN(3))*16)
	case 3:
		prog[i] = Stmt([]uint16{OpLDMem, OpLDXMem, OpST, OpSTX}[r.IntN(4)], uint32(r.IntN(18)))
	case 4:
		prog[i] = Stmt(OpJA, uint32(r.IntN(len(prog)+1)))
	case 5:
		prog[i] = Jump(ClassJMP|JmpJEQ, 0, uint8(r.IntN(len(prog)+1)), uint8(r.IntN(len(prog)+1)))
	case 6:
		prog[i] = Stmt(ClassLD|ModeABS|SizeW, adOff+uint32(r.IntN(80)))
	case 7:
		prog[len(prog)-1] = Stmt([]uint16{OpRetK, OpRetA, OpRetX, OpLDImm, OpTAX}[r.IntN(5)], 0)
	case 8:
		prog[i].Op |= uint16(r.IntN(2)) << 8
	}
}

// TestKernelCheckExhaustive compares Check with the kernel on every 9-bit
// opcode and on every offset of the ancillary area, for each load size.
func TestKernelCheckExhaustive(t *testing.T) {
	lab := newKernelLab(t)
	compare := func(prog []Instruction) {
		t.Helper()
		err := Check(prog)
		kerr := attach(lab.filtered, prog)
		if (err == nil) != (kerr == nil) {
			t.Errorf("Check = %v, kernel = %v\n%s", err, kerr, FormatListing(prog))
		}
	}
	for op := 0; op < 0x200; op++ {
		for _, k := range []uint32{0, 1, 40} {
			compare([]Instruction{{Op: uint16(op), K: k}, Stmt(OpRetK, 0)})
			compare([]Instruction{Stmt(OpST, 1), {Op: uint16(op), K: k}, Stmt(OpRetA, 0)})
		}
	}
	for _, size := range []uint16{SizeW, SizeH, SizeB} {
		for k := adOff - 8; k != 8; k++ { // wraps through 0xffffffff to 0..7
			compare([]Instruction{Stmt(ClassLD|ModeABS|size, k), Stmt(OpRetA, 0)})
		}
	}
}

// TestKernelGroups runs libpcap-shaped programs (groupProgram: runs of
// equality tests the classic engine merges into test groups) in the
// kernel and in bpfvm, on frames near the template their tests were made
// for, so that groups both pass and fail at every test.
func TestKernelGroups(t *testing.T) {
	lab := newKernelLab(t)
	r := rand.New(rand.NewPCG(8, 12))
	programs := 300
	if testing.Short() {
		programs = 30
	}
	grouped := 0
	for range programs {
		tmpl := testFrame(r)
		for len(tmpl) < 64 {
			tmpl = append(tmpl, byte(r.IntN(16)))
		}
		// Another host's address: the stack ignores the frame whatever
		// it holds.
		copy(tmpl, []byte{0x02, 0, 0, 0, 0, 1})
		prog := groupProgram(r, tmpl, r.IntN(3) == 0)
		if len(compileClassic(prog).groups) > 0 {
			grouped++
		}
		frames := [][]byte{tmpl}
		for k := range 5 {
			f := append([]byte(nil), tmpl...)
			switch k % 3 {
			case 0:
				f[18+r.IntN(len(f)-18)] ^= byte(1 << r.IntN(8))
			case 1:
				// Not shorter: the stack drops short VLAN-tagged frames.
				f = f[:24+r.IntN(len(f)-23)]
			case 2:
				f[14] = byte(r.IntN(256))
			}
			frames = append(frames, f)
		}
		lab.kernelVerdicts(t, prog, frames)
		if t.Failed() {
			return
		}
	}
	if grouped < programs/5 {
		t.Errorf("only %d of %d programs have test groups", grouped, programs)
	}
	t.Logf("%d programs (%d with test groups) agree with the kernel", programs, grouped)
}
