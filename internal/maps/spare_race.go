//go:build race

package maps

// storeSpare copies src into dst with atomic word stores, as every other
// write of live values: see spare_norace.go.
func storeSpare(dst, src []byte) { storeValue(dst, src) }
