package bpfvm

import (
	"errors"

	"github.com/bpfvm/bpfvm/internal/maps"
)

// Errors returned by map operations, matching cilium/ebpf's names. They
// wrap the errno the kernel would return (see Errno).
var (
	ErrKeyNotExist  = maps.ErrKeyNotExist
	ErrKeyExist     = maps.ErrKeyExist
	ErrMapFull      = maps.ErrMapFull
	ErrNotSupported = maps.ErrNotSupported
	// ErrInvalidArgument reports bad arguments (sizes, flags, types):
	// the kernel's EINVAL.
	ErrInvalidArgument = maps.ErrInvalid
	// ErrClosed is returned by readers and objects after Close.
	ErrClosed = maps.ErrClosed
)

// ErrLoad is wrapped by every error LoadCollection returns.
var ErrLoad = errors.New("load failed")

// Errno returns the Linux errno an error returned by bpfvm stands for
// (0 for nil), the value a program would see negated in r0.
func Errno(err error) int { return int(maps.Errnum(err)) }
