//go:build !race

package maps

import (
	"encoding/binary"
	"unsafe"
)

// storeWords copies src into dst, live value memory of a hash map (the
// spare a replace is about to publish, or a per-CPU value updated in
// place), as the kernel's memcpy would. Plain aligned word stores: Go's
// memory model never tears a word-sized access, so a concurrent reader
// sees each word old or new, never a mix; on amd64 an atomic store is a
// locked exchange, the costliest part of an update. The race detector's
// build keeps the atomic stores (storewords_race.go), so that a program's
// concurrent read of the value is not reported.
func storeWords(dst, src []byte) {
	if len(src) == 8 && len(dst) >= 8 && aligned8(dst) {
		// The common u64 value: one store.
		*(*uint64)(unsafe.Pointer(unsafe.SliceData(dst))) = binary.NativeEndian.Uint64(src)
		return
	}
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
