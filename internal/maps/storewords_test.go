package maps

import (
	"bytes"
	"testing"
)

// TestStoreWords checks storeWords copies exactly the value's bytes for
// every length path (one word, whole words, a tail, an unaligned
// destination) and leaves what follows untouched.
func TestStoreWords(t *testing.T) {
	for _, n := range []int{1, 4, 7, 8, 12, 16, 24, 61} {
		for _, off := range []int{0, 3} {
			buf := make([]byte, 80)
			for i := range buf {
				buf[i] = 0xee
			}
			dst := buf[off : off+n]
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i + 1)
			}
			storeWords(dst, src)
			if !bytes.Equal(dst, src) {
				t.Fatalf("len %d off %d: stored %x, want %x", n, off, dst, src)
			}
			for i, b := range buf {
				if (i < off || i >= off+n) && b != 0xee {
					t.Fatalf("len %d off %d: byte %d outside the value changed to %#x", n, off, i, b)
				}
			}
		}
	}
}
