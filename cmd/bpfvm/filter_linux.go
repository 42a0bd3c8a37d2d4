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

// mapFile maps a regular file read-only into memory.
func mapFile(f *os.File, size int64) ([]byte, error) {
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
	var m []byte
	var merr error
	if err := rc.Control(func(fd uintptr) {
		m, merr = unix.Mmap(int(fd), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	}); err != nil {
		return nil, err
	}
	if merr != nil {
		return nil, merr
	}
	return m, nil
}

func unmapFile(m []byte) { unix.Munmap(m) }

// populateChunk is how much of a mapping populate asks the kernel to map
// at a time.
const populateChunk = 1 << 20

// populate has the kernel fill in the page tables of m, in order, on
// another goroutine (thus, with two cores, on the other core), so the
// filtering loop does not stop at page faults. It returns a function that
// stops it and waits for it to end. Kernels older than 5.14 lack
// MADV_POPULATE_READ: then the loop faults the pages in itself.
func populate(m []byte) (stop func()) {
	var quit atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for off := 0; off < len(m) && !quit.Load(); off += populateChunk {
			if unix.Madvise(m[off:min(off+populateChunk, len(m))], unix.MADV_POPULATE_READ) != nil {
				return
			}
		}
	}()
	return func() {
		quit.Store(true)
		<-done
	}
}

const canWritev = true

// writev writes all of iov to f, in order, with as few writev(2) calls as
// the kernel allows (it may write less than asked: resume where it stopped).
func writev(f *os.File, iov [][]byte) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	for len(iov) > 0 {
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Writev(int(fd), iov)
			return werr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if werr == unix.EINTR {
			continue
		}
		if werr != nil {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: werr}
		}
		if n == 0 {
			return &os.PathError{Op: "writev", Path: f.Name(), Err: io.ErrShortWrite}
		}
		for n > 0 && len(iov) > 0 {
			if n >= len(iov[0]) {
				n -= len(iov[0])
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
