package maps

import "errors"

// Errno is a Linux error number. Programs see map failures as the negated
// errno in r0, exactly as the kernel's helpers return them.
type Errno int32

// Linux errno values (asm-generic/errno-base.h, errno.h, and the kernel's
// internal ENOTSUPP), fixed here so bpfvm behaves the same on every OS.
const (
	EPERM      Errno = 1
	ENOENT     Errno = 2
	E2BIG      Errno = 7
	EAGAIN     Errno = 11
	ENOMEM     Errno = 12
	EFAULT     Errno = 14
	EBUSY      Errno = 16
	EEXIST     Errno = 17
	EINVAL     Errno = 22
	ENOSPC     Errno = 28
	EOPNOTSUPP Errno = 95
	ENOTSUPP   Errno = 524
)

// mapError is a sentinel error that knows its errno.
type mapError struct {
	msg   string
	errno Errno
}

func (e *mapError) Error() string { return e.msg }

// Sentinel errors, matching the errnos the kernel returns. Test with
// errors.Is; Errnum recovers the number.
var (
	ErrKeyNotExist  error = &mapError{"key does not exist", ENOENT}        // ENOENT
	ErrKeyExist     error = &mapError{"key already exists", EEXIST}        // EEXIST
	ErrMapFull      error = &mapError{"map is full", E2BIG}                // E2BIG (and index out of range)
	ErrInvalid      error = &mapError{"invalid argument", EINVAL}          // EINVAL
	ErrNotSupported error = &mapError{"operation not supported", ENOTSUPP} // ENOTSUPP
	ErrNoMemory     error = &mapError{"no memory", ENOMEM}                 // ENOMEM
	ErrBusy         error = &mapError{"busy", EBUSY}                       // EBUSY
	ErrPermission   error = &mapError{"operation not permitted", EPERM}    // EPERM
	ErrNoSpace      error = &mapError{"no space left", ENOSPC}             // ENOSPC
)

// Errnum returns the errno an error stands for (0 for nil, EINVAL for an
// error that wraps none of this package's sentinels).
func Errnum(err error) Errno {
	if err == nil {
		return 0
	}
	var me *mapError
	if errors.As(err, &me) {
		return me.errno
	}
	return EINVAL
}

// Ret returns the helper return value (r0) for err: 0 or the negated errno
// as a 64-bit two's complement number.
func Ret(err error) uint64 {
	return uint64(-int64(Errnum(err)))
}
