//go:build race

package maps

// storeWords copies src into dst with atomic word stores, as every other
// write of live values: see storewords_norace.go.
func storeWords(dst, src []byte) { storeValue(dst, src) }
