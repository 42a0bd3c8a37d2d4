package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/bpfvm/bpfvm/cbpf"
	"golang.org/x/sys/unix"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// mapping is a capture file mapped read-only into memory, with a goroutine
// that, on the other core when there are two, has the kernel fill in the
// page tables ahead of the filtering loop (so the loop does not stop at
// page faults) and unmaps what the loop is done with behind it (so that
// work is not left for the end).
type mapping struct {
	data     []byte
	released atomic.Int64  // data[:released] is no longer used
	kick     chan struct{} // released has grown
	stop     chan struct{}
	finished chan struct{}
	unmapped int // data[:unmapped] is unmapped: the goroutine's until finished
}

// populateChunk is how much of a mapping is populated at a time.
const populateChunk = 1 << 20

// mapFile maps a regular file into memory.
func mapFile(f *os.File, size int64) (*mapping, error) {
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	if size <= 0 || int64(int(size)) != size {
		return nil, errors.New("file too small or too large to map")
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	var merr error
	if err := rc.Control(func(fd uintptr) {
		p, merr = unix.MmapPtr(int(fd), 0, nil, uintptr(size), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, merr
	}
	m := &mapping{
		data:     unsafe.Slice((*byte)(p), int(size)),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go m.run()
	return m, nil
}

func (m *mapping) run() {
	defer close(m.finished)
	page := unix.Getpagesize()
	populated := 0
	for {
		if r := int(m.released.Load()) &^ (page - 1); r > m.unmapped {
			if unix.MunmapPtr(unsafe.Pointer(&m.data[m.unmapped]), uintptr(r-m.unmapped)) == nil {
				m.unmapped = r
			}
		}
		select {
		case <-m.stop:
			return
		default:
		}
		if populated < len(m.data) {
			// MADV_POPULATE_READ needs Linux 5.14: without it, the
			// filtering loop faults the pages in itself.
			start, end := max(populated, m.unmapped), min(populated+populateChunk, len(m.data))
			if start < end && unix.Madvise(m.data[start:end], unix.MADV_POPULATE_READ) != nil {
				end = len(m.data)
			}
			populated = end
			continue
		}
		select {
		case <-m.stop:
			return
		case <-m.kick:
		}
	}
}

// release says that data[:n] will not be used any more.
func (m *mapping) release(n int) {
	m.released.Store(int64(n))
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// close stops the goroutine and unmaps the rest.
func (m *mapping) close() {
	close(m.stop)
	<-m.finished
	if m.unmapped < len(m.data) {
		unix.MunmapPtr(unsafe.Pointer(&m.data[m.unmapped]), uintptr(len(m.data)-m.unmapped))
	}
	m.data = nil
}

const canWritev = true

type iovec = unix.Iovec

// writev writes all of iov to f, in order, with as few writev(2) calls as
// the kernel allows (it may write less than asked: resume where it
// stopped). sys is reused from call to call.
func writev(f *os.File, iov [][]byte, sys *[]iovec) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for len(iov) > 0 && len(iov[0]) == 0 {
		iov = iov[1:]
	}
	for len(iov) > 0 {
		vec := (*sys)[:0]
		for _, b := range iov {
			if len(b) > 0 {
				v := unix.Iovec{Base: &b[0]}
				v.SetLen(len(b))
				vec = append(vec, v)
			}
		}
		*sys = vec
		var n uintptr
		var errno unix.Errno
		if err := rc.Write(func(fd uintptr) bool {
			n, _, errno = unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&vec[0])), uintptr(len(vec)))
			return errno != unix.EAGAIN
		}); err != nil {
			return err
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: errno}
		}
		if n == 0 {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: io.ErrShortWrite}
		}
		for n > 0 && len(iov) > 0 {
			if n >= uintptr(len(iov[0])) {
				n -= uintptr(len(iov[0]))
				iov = iov[1:]
			} else {
				iov[0] = iov[0][n:]
				n = 0
			}
		}
		for len(iov) > 0 && len(iov[0]) == 0 {
			iov = iov[1:]
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// liveCapture captures on an interface the way libpcap does on Linux: an
// AF_PACKET raw socket with the program attached (SO_ATTACH_FILTER), so the
// kernel runs the filter and only matching packets reach user space.
func liveCapture(f filterFlags, prog []cbpf.Instruction, stdout, stderr io.Writer) error {
	ifi, err := net.InterfaceByName(f.iface)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("AF_PACKET socket (needs root or CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	// Attach a drop-everything filter first and drain the socket, so no
	// packet queued before the real filter is attached slips through.
	drop := []unix.SockFilter{{Code: cbpf.ClassRET | cbpf.SrcK, K: 0}}
	if err := attach(fd, drop); err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("bind to %s: %w", f.iface, err)
	}
	buf := make([]byte, 1<<18)
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	if err := attach(fd, filter); err != nil {
		return err
	}
	// A receive timeout lets the loop notice an interrupt.
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	defer signal.Stop(stop)

	var pw *pcapWriter
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	if f.write != "" {
		var w io.Writer = out
		if f.write != "-" {
			file, err := os.Create(f.write)
			if err != nil {
				return err
			}
			defer file.Close()
			bw := bufio.NewWriter(file)
			defer bw.Flush()
			w = bw
		}
		pw = &pcapWriter{w: w}
		if err := pw.header(); err != nil {
			return err
		}
	}
	count := 0
	for f.limit == 0 || count < f.limit {
		select {
		case <-stop:
			return nil
		default:
		}
		// MSG_TRUNC makes recvfrom return the packet's real length.
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_TRUNC)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		now := time.Now()
		caplen := min(n, len(buf))
		count++
		switch {
		case pw != nil:
			if err := pw.packet(now, buf[:caplen], n); err != nil {
				return err
			}
		case f.count:
		default:
			fmt.Fprintf(out, "%d.%06d length %d\n", now.Unix(), now.Nanosecond()/1000, n)
			out.Flush()
		}
	}
	if f.count {
		if f.write == "-" {
			fmt.Fprintln(stderr, count)
		} else {
			fmt.Fprintln(out, count)
		}
	}
	return nil
}

func attach(fd int, filter []unix.SockFilter) error {
	p := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
		uintptr(unsafe.Pointer(&p)), unsafe.Sizeof(p), 0)
	if errno != 0 {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", errno)
	}
	return nil
}

// pcapWriter writes a microsecond pcap file of Ethernet packets.
type pcapWriter struct{ w io.Writer }

func (p *pcapWriter) header() error {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 262144)
	binary.LittleEndian.PutUint32(h[20:], 1)
	_, err := p.w.Write(h[:])
	return err
}

func (p *pcapWriter) packet(t time.Time, data []byte, origLen int) error {
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(t.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(origLen))
	if _, err := p.w.Write(h[:]); err != nil {
		return err
	}
	_, err := p.w.Write(data)
	return err
}
