package helpers

import (
	"fmt"
	"unsafe"

	"github.com/bpfvm/bpfvm/internal/engine"
)

// memEnv is an engine.Env over one buffer, for calling helpers directly.
type memEnv struct {
	buf []byte
}

func (m *memEnv) addr() uint64 { return uint64(uintptr(unsafe.Pointer(&m.buf[0]))) }

func (m *memEnv) Memory(addr, n uint64, write bool) ([]byte, error) {
	off := addr - m.addr()
	if addr < m.addr() || off+n > uint64(len(m.buf)) {
		return nil, fmt.Errorf("%w: %#x", engine.ErrOutOfBounds, addr)
	}
	return m.buf[off : off+n], nil
}

func (m *memEnv) AddRegion(b []byte, writable bool) {}

func (m *memEnv) Call(pc int, args ...uint64) (uint64, error) {
	return 0, fmt.Errorf("no functions")
}
