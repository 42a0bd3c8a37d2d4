//go:build !race

package maps

import (
	"encoding/binary"
	"unsafe"
)

// storeSpare copies src into dst, the spare value a replace is about to
// publish (dst is 8-byte aligned and sized, src as long as the value).
// Plain aligned word stores: Go's memory model never tears a word-sized
// access, and on amd64 an atomic store is a locked exchange, the costliest
// part of a replace. The race detector's build keeps the atomic stores
// (spare_race.go), so that a program's stale read of an earlier value is
// not reported.
func storeSpare(dst, src []byte) {
	n := min(len(dst), len(src))
	if !aligned8(dst) {
		storeValue(dst, src)
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(dst))
	i := 0
	for ; i+8 <= n; i += 8 {
		*(*uint64)(unsafe.Add(p, i)) = binary.NativeEndian.Uint64(src[i:])
	}
	copy(dst[i:n], src[i:n])
}
