//go:build linux && amd64

package amd64

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"strconv"
	"strings"
	"sync"
)

// vdsoClockGettime is the address of the vDSO's clock_gettime in this
// process, 0 if it has none the code can call (then ktime_get_ns stays a
// helper call). It is looked up once: the vDSO never moves.
var vdsoClockGettime = sync.OnceValue(findVDSOClockGettime)

// findVDSOClockGettime finds the [vdso] mapping in /proc/self/maps, reads
// its ELF image through /proc/self/mem (no unsafe pointer from an
// integer), and looks up __vdso_clock_gettime in its dynamic symbols, as
// the Go runtime does at start-up.
func findVDSOClockGettime() uintptr {
	lo, hi := vdsoMapping()
	if lo == 0 || hi <= lo || hi-lo > 1<<20 {
		return 0
	}
	f, err := os.Open("/proc/self/mem")
	if err != nil {
		return 0
	}
	defer f.Close()
	img := make([]byte, hi-lo)
	if _, err := f.ReadAt(img, int64(lo)); err != nil {
		return 0
	}
	return vdsoSymbol(img, lo, "__vdso_clock_gettime")
}

// vdsoMapping returns the bounds of the [vdso] mapping (0, 0 if none).
func vdsoMapping() (lo, hi uint64) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		rng, _, _ := strings.Cut(line, " ")
		a, b, ok := strings.Cut(rng, "-")
		if !ok {
			return 0, 0
		}
		lo, err1 := strconv.ParseUint(a, 16, 64)
		hi, err2 := strconv.ParseUint(b, 16, 64)
		if err1 != nil || err2 != nil {
			return 0, 0
		}
		return lo, hi
	}
	return 0, 0
}

// vdsoSymbol returns the address of the function name in the vDSO image
// img mapped at base (0 if absent or not an x86-64 function). Symbol
// values are relative to the image's first loadable segment's address.
func vdsoSymbol(img []byte, base uint64, name string) uintptr {
	ef, err := elf.NewFile(bytes.NewReader(img))
	if err != nil || ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
		return 0
	}
	var vaddr uint64
	found := false
	for _, p := range ef.Progs {
		if p.Type == elf.PT_LOAD {
			vaddr, found = p.Vaddr-p.Off, true
			break
		}
	}
	if !found {
		return 0
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		return 0
	}
	for _, s := range syms {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			off := s.Value - vaddr
			if off >= uint64(len(img)) {
				return 0
			}
			return uintptr(base + off)
		}
	}
	return 0
}
