//go:build linux

package kerneltest

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// progRunAttr is the BPF_PROG_TEST_RUN member of union bpf_attr
// (include/uapi/linux/bpf.h). cilium/ebpf's Program.Run does not return the
// measured duration together with the output packet, so the run is made
// directly.
type progRunAttr struct {
	progFD      uint32
	retval      uint32
	dataSizeIn  uint32
	dataSizeOut uint32
	dataIn      uint64
	dataOut     uint64
	repeat      uint32
	duration    uint32
	ctxSizeIn   uint32
	ctxSizeOut  uint32
	ctxIn       uint64
	ctxOut      uint64
	flags       uint32
	cpu         uint32
	batchSize   uint32
	_           uint32
}

// ctxOutSize is room for any program type's context structure.
const ctxOutSize = 4096

// errENOTSUPP is the kernel-internal ENOTSUPP (524), which leaks to user
// space when a program type has no test runner.
const errENOTSUPP = unix.Errno(524)

// outputSlack is extra room in the output buffer, since a program may grow
// the packet (bpf_xdp_adjust_tail, bpf_skb_change_tail) and old kernels
// ignore the output size.
const outputSlack = 256 + 4096

func ptr(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

func (p *Program) run(in RunInput) (Result, error) {
	repeat := in.Repeat
	if repeat == 0 {
		repeat = 1
	}
	var dataOut, ctxOut []byte
	if len(in.Data) > 0 {
		dataOut = make([]byte, len(in.Data)+outputSlack)
	}
	if len(in.Context) > 0 {
		// The kernel copies out its whole context structure, which may be
		// longer than what was passed in (ENOSPC if it does not fit).
		ctxOut = make([]byte, max(len(in.Context), ctxOutSize))
	}
	attr := progRunAttr{
		progFD:      uint32(p.prog.FD()),
		dataSizeIn:  uint32(len(in.Data)),
		dataSizeOut: uint32(len(dataOut)),
		dataIn:      ptr(in.Data),
		dataOut:     ptr(dataOut),
		repeat:      uint32(repeat),
		ctxSizeIn:   uint32(len(in.Context)),
		ctxSizeOut:  uint32(len(ctxOut)),
		ctxIn:       ptr(in.Context),
		ctxOut:      ptr(ctxOut),
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		runtime.KeepAlive(in.Data)
		runtime.KeepAlive(in.Context)
		runtime.KeepAlive(dataOut)
		runtime.KeepAlive(ctxOut)
		if errno == 0 {
			break
		}
		if errno == unix.EINTR {
			if repeat <= 1 {
				// The kernel checks for signals after the run: one run happened.
				break
			}
			continue
		}
		if errno == errENOTSUPP {
			return Result{}, errors.New("BPF_PROG_TEST_RUN is not supported for this program type")
		}
		return Result{}, fmt.Errorf("BPF_PROG_TEST_RUN: %w", errno)
	}
	if int(attr.dataSizeOut) > len(dataOut) {
		return Result{}, fmt.Errorf("BPF_PROG_TEST_RUN: the kernel reports %d output bytes, more than the %d-byte buffer", attr.dataSizeOut, len(dataOut))
	}
	res := Result{
		Retval:   attr.retval,
		Duration: time.Duration(attr.duration),
	}
	if dataOut != nil {
		res.Data = dataOut[:attr.dataSizeOut]
	}
	if ctxOut != nil {
		res.Context = ctxOut[:min(int(attr.ctxSizeOut), len(ctxOut))]
	}
	return res, nil
}
