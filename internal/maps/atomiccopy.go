package maps

import (
	"sync/atomic"
	"unsafe"
)

// Values programs can reach are read and written by the host with 8-byte
// atomic loads and stores where aligned: a program updating a counter with
// an atomic instruction while Go reads the map is then race-free (as it is
// in the kernel), and the Go race detector agrees.

func aligned8(b []byte) bool { return uintptr(unsafe.Pointer(unsafe.SliceData(b)))&7 == 0 }

// loadValue copies src (live value memory) into dst.
func loadValue(dst, src []byte) {
	n := min(len(dst), len(src))
	i := 0
	if aligned8(src) {
		for ; i+8 <= n; i += 8 {
			v := atomic.LoadUint64((*uint64)(unsafe.Pointer(&src[i])))
			*(*[8]byte)(dst[i:]) = *(*[8]byte)(unsafe.Pointer(&v))
		}
	}
	copy(dst[i:n], src[i:n])
}

// storeValue copies src into dst (live value memory).
func storeValue(dst, src []byte) {
	n := min(len(dst), len(src))
	i := 0
	if aligned8(dst) {
		for ; i+8 <= n; i += 8 {
			w := [8]byte(src[i : i+8])
			v := *(*uint64)(unsafe.Pointer(&w))
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&dst[i])), v)
		}
	}
	copy(dst[i:n], src[i:n])
}
