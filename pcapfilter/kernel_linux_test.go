package pcapfilter

import (
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/bpfvm/bpfvm/cbpf"
	"golang.org/x/sys/unix"
)

// The kernel as oracle: every compiled program must be accepted by the
// kernel's classic BPF checker (SO_ATTACH_FILTER), and the kernel must keep
// exactly the packets cbpf.Eval keeps. The filter runs on a Unix datagram
// socket, where it sees each datagram as the packet.
func TestKernelAgrees(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no Unix socket pair: %v", err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	unix.SetsockoptInt(fds[1], unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	pkts := linkPackets(LinkTypeEthernet, rand.New(rand.NewPCG(5, 5)))
	buf := make([]byte, 1<<16)
	exprs := append(append([]string{}, ipExprs...), etherExprs...)
	checked := 0
	for _, expr := range exprs {
		prog, err := Compile(expr, LinkTypeEthernet, Options{})
		if err != nil {
			continue
		}
		filter := make([]unix.SockFilter, len(prog))
		for i, ins := range prog {
			filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fds[1]), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER,
			uintptr(unsafe.Pointer(&fprog)), unsafe.Sizeof(fprog), 0)
		if errno == unix.EPERM {
			t.Skip("SO_ATTACH_FILTER not permitted here")
		}
		if errno != 0 {
			t.Errorf("%q: the kernel refuses the program: %v\n%s", expr, errno, cbpf.FormatListing(prog))
			continue
		}
		checked++
		for i, p := range pkts {
			if len(p) == 0 {
				continue
			}
			if err := unix.Send(fds[0], p, 0); err != nil {
				t.Fatalf("send: %v", err)
			}
			n, _, err := unix.Recvfrom(fds[1], buf, unix.MSG_DONTWAIT)
			kept := err == nil
			want := cbpf.Eval(prog, p, nil)
			if kept != (want != 0) {
				t.Errorf("%q: packet %d: kernel kept %v, cbpf.Eval returned %d", expr, i, kept, want)
				break
			}
			if kept && n != min(len(p), int(want)) {
				t.Errorf("%q: packet %d: kernel kept %d bytes, want %d", expr, i, n, min(len(p), int(want)))
				break
			}
		}
	}
	t.Logf("%d programs run in the kernel over %d packets each", checked, len(pkts))
}
