//go:build linux && amd64

package amd64_test

import "unsafe"

func unsafeAddr(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }
