package helpers

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/bpfvm/bpfvm/internal/engine"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// maxStrArg bounds a %s argument (the kernel copies at most this much).
const maxStrArg = 1024

// format formats fmt with args as bpf_bprintf_prepare and bstr_printf do:
// only the conversions %d %i %u %x %X (with l/ll), %c, %s, %p, %pK, %px,
// %pB, %pi4 %pI4 %pi6 %pI6 and %%, the flags "0+- " and a width. Anything
// else is -EINVAL, as is using more arguments than given.
func (s *State) format(env engine.Env, f string, args []uint64) (string, maps.Errno) {
	var out strings.Builder
	next := 0
	arg := func() (uint64, bool) {
		if next >= len(args) {
			return 0, false
		}
		next++
		return args[next-1], true
	}
	for i := 0; i < len(f); i++ {
		c := f[i]
		if (c < 0x20 || c > 0x7e) && !isSpace(c) {
			return "", maps.EINVAL
		}
		if c != '%' {
			out.WriteByte(c)
			continue
		}
		i++
		if i >= len(f) {
			return "", maps.EINVAL
		}
		if f[i] == '%' {
			out.WriteByte('%')
			continue
		}
		start := i
		for i < len(f) && strings.IndexByte("0+- ", f[i]) >= 0 {
			i++
		}
		if i < len(f) && f[i] >= '1' && f[i] <= '9' {
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
			}
		}
		spec := f[start:i]
		if i >= len(f) {
			return "", maps.EINVAL
		}
		v, ok := arg()
		if !ok {
			return "", maps.EINVAL
		}
		switch f[i] {
		case 'p':
			i++
			var ip string
			if i+1 < len(f) && (f[i] == 'i' || f[i] == 'I') && (f[i+1] == '4' || f[i+1] == '6') {
				n := 4
				if f[i+1] == '6' {
					n = 16
				}
				b, ok := s.readMem(env, v, uint64(n))
				if !ok {
					return "", maps.EFAULT
				}
				ip = formatIP(f[i], b)
				i++
				fmt.Fprintf(&out, "%"+spec+"s", ip)
				continue
			}
			if i < len(f) && (f[i] == 'K' || f[i] == 'x' || f[i] == 'B') {
				i++
			}
			i-- // the loop's i++ moves past the conversion
			fmt.Fprintf(&out, "%"+spec+"s", fmt.Sprintf("%016x", v))
		case 's':
			str, _ := s.readStr(env, v, maxStrArg)
			fmt.Fprintf(&out, "%"+spec+"s", str)
		case 'c':
			fmt.Fprintf(&out, "%"+spec+"c", rune(byte(v)))
		default:
			long := 0
			for long < 2 && i < len(f) && f[i] == 'l' {
				long++
				i++
			}
			if i >= len(f) {
				return "", maps.EINVAL
			}
			switch f[i] {
			case 'd', 'i':
				if long == 0 {
					fmt.Fprintf(&out, "%"+spec+"d", int32(v))
				} else {
					fmt.Fprintf(&out, "%"+spec+"d", int64(v))
				}
			case 'u', 'x', 'X':
				verb := map[byte]string{'u': "d", 'x': "x", 'X': "X"}[f[i]]
				if long == 0 {
					v = uint64(uint32(v))
				}
				fmt.Fprintf(&out, "%"+spec+verb, v)
			default:
				return "", maps.EINVAL
			}
		}
	}
	return out.String(), 0
}

func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

func formatIP(kind byte, b []byte) string {
	switch {
	case len(b) == 4 && kind == 'I':
		return netip.AddrFrom4([4]byte(b)).String()
	case len(b) == 4:
		return fmt.Sprintf("%03d.%03d.%03d.%03d", b[0], b[1], b[2], b[3])
	case kind == 'I':
		var parts []string
		for j := 0; j < 16; j += 2 {
			parts = append(parts, fmt.Sprintf("%02x%02x", b[j], b[j+1]))
		}
		return strings.Join(parts, ":")
	default:
		return fmt.Sprintf("%x", b)
	}
}

// fmtArg reads a format string argument: fmt_size bytes that must contain
// a NUL.
func (s *State) fmtArg(env engine.Env, addr, size uint64) (string, bool, error) {
	b, err := env.Memory(addr, size, false)
	if err != nil {
		return "", false, err
	}
	n := strings.IndexByte(string(b), 0)
	if n < 0 {
		return "", false, nil
	}
	return string(b[:n]), true, nil
}

func (s *State) emit(msg string) {
	w := s.Host.Trace
	if w == nil {
		return
	}
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	s.Host.traceMu.Lock()
	w.Write([]byte(msg))
	s.Host.traceMu.Unlock()
}

// tracePrintk is bpf_trace_printk(fmt, fmt_size, a1, a2, a3): it returns
// the length of the formatted message.
func (s *State) tracePrintk(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	f, ok, err := s.fmtArg(env, r1, r2)
	if err != nil {
		return 0, err
	}
	if !ok {
		return errno(maps.EINVAL), nil
	}
	msg, e := s.format(env, f, []uint64{r3, r4, r5})
	if e != 0 {
		return errno(e), nil
	}
	s.emit(msg)
	return uint64(len(msg)), nil
}

// maxVarArgs is MAX_BPF_FUNC_VAR_ARGS.
const maxVarArgs = 12

func (s *State) varArgs(env engine.Env, addr, size uint64) ([]uint64, maps.Errno, error) {
	if size%8 != 0 || size > 8*maxVarArgs || (size > 0 && addr == 0) {
		return nil, maps.EINVAL, nil
	}
	b, err := env.Memory(addr, size, false)
	if err != nil {
		return nil, 0, err
	}
	args := make([]uint64, size/8)
	for j := range args {
		args[j] = le64(b[8*j:])
	}
	return args, 0, nil
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// traceVprintk is bpf_trace_vprintk(fmt, fmt_size, data, data_len).
func (s *State) traceVprintk(env engine.Env, r1, r2, r3, r4, _ uint64) (uint64, error) {
	f, ok, err := s.fmtArg(env, r1, r2)
	if err != nil {
		return 0, err
	}
	if !ok {
		return errno(maps.EINVAL), nil
	}
	args, e, err := s.varArgs(env, r3, r4)
	if err != nil || e != 0 {
		return errno(e), err
	}
	msg, e := s.format(env, f, args)
	if e != 0 {
		return errno(e), nil
	}
	s.emit(msg)
	return uint64(len(msg)), nil
}

// snprintf is bpf_snprintf(str, str_size, fmt, data, data_len): it writes
// at most str_size bytes (NUL included) and returns the length the whole
// string needs, NUL included.
func (s *State) snprintf(env engine.Env, r1, r2, r3, r4, r5 uint64) (uint64, error) {
	f, ok := s.readStr(env, r3, 4096)
	if !ok {
		return errno(maps.EINVAL), nil
	}
	args, e, err := s.varArgs(env, r4, r5)
	if err != nil || e != 0 {
		return errno(e), err
	}
	msg, e := s.format(env, f, args)
	if e != 0 {
		return errno(e), nil
	}
	if r2 > 0 {
		dst, err := env.Memory(r1, r2, true)
		if err != nil {
			return 0, err
		}
		n := copy(dst[:len(dst)-1], msg)
		dst[n] = 0
	}
	return uint64(len(msg)) + 1, nil
}

// taiNow is CLOCK_TAI: UTC plus the 37 leap seconds in force since 2017.
func taiNow() uint64 { return uint64(time.Now().UnixNano()) + 37*uint64(time.Second) }
