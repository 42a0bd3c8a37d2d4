package bpfvm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// WithKconfig sets the values of extern __kconfig variables, in the
// syntax of a kernel .config: "y", "n", "m", a number ("250", "0x10") or a
// quoted string (`"(none)"`). Keys are CONFIG_* names, LINUX_KERNEL_VERSION
// (a number, KERNEL_VERSION(a,b,c) = a<<16|b<<8|c, or "a.b.c") and
// LINUX_HAS_SYSCALL_WRAPPER. They take precedence over the host's values;
// calls add to each other.
func WithKconfig(values map[string]string) Option {
	return func(r *Runtime) {
		if r.kconfig == nil {
			r.kconfig = map[string]string{}
		}
		for k, v := range values {
			r.kconfig[k] = v
		}
	}
}

// WithoutHostKconfig makes extern __kconfig variables take only the values
// WithKconfig gives, never the host's
// kernel version or configuration: for results that do not depend on the
// machine.
func WithoutHostKconfig() Option { return func(r *Runtime) { r.noHostKconfig = true } }

// kconfigSpec returns the .kconfig map of an object (as cilium/ebpf and
// libbpf make it: a one-element read-only array whose value is the
// .kconfig datasec), filled with values, or nil if the object has no
// extern __kconfig variables.
func (r *Runtime) kconfigSpec(types *btf.Spec) (*ebpf.MapSpec, error) {
	if types == nil {
		return nil, nil
	}
	var ds *btf.Datasec
	if err := types.TypeByName(loader.KconfigMap, &ds); err != nil {
		if errors.Is(err, btf.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	if ds.Size == 0 || ds.Size > 1<<20 {
		return nil, fmt.Errorf("%s: bad size %d", loader.KconfigMap, ds.Size)
	}
	data := make([]byte, ds.Size)
	var host map[string]string
	for _, vs := range ds.Vars {
		v, ok := vs.Type.(*btf.Var)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not a variable", loader.KconfigMap, vs.Type)
		}
		if uint64(vs.Offset)+uint64(vs.Size) > uint64(len(data)) {
			return nil, fmt.Errorf("%s: %s lies outside the section", loader.KconfigMap, v.Name)
		}
		val, ok := r.kconfig[v.Name]
		if !ok && !r.noHostKconfig {
			switch {
			case v.Name == "LINUX_KERNEL_VERSION":
				val, ok = hostKernelVersion()
			case v.Name == "LINUX_HAS_SYSCALL_WRAPPER":
				// Every kernel since 4.17 on x86-64 and arm64 wraps
				// syscalls; libbpf probes, bpfvm has no kernel to probe.
				val, ok = "1", true
			case strings.HasPrefix(v.Name, "CONFIG_"):
				if host == nil {
					host = hostKconfig()
				}
				val, ok = host[v.Name]
			}
		}
		if !ok {
			// As cilium/ebpf (whose ELF reader accepts only strong
			// __kconfig externs): an option the configuration lacks
			// fails the load.
			return nil, fmt.Errorf("%w: extern __kconfig %s has no value (set it with WithKconfig)", ErrInvalidArgument, v.Name)
		}
		if v.Name == "LINUX_KERNEL_VERSION" {
			val = kernelVersionCode(val)
		}
		if err := putKconfig(data[vs.Offset:vs.Offset+vs.Size], v.Type, val); err != nil {
			return nil, fmt.Errorf("%w: extern __kconfig %s = %s: %w", ErrInvalidArgument, v.Name, val, err)
		}
	}
	return &ebpf.MapSpec{
		Name: loader.KconfigMap, Type: ebpf.Array, KeySize: 4, ValueSize: ds.Size, MaxEntries: 1,
		Flags: maps.FlagRdonlyProg, Key: &btf.Int{Size: 4}, Value: ds,
		Contents: []ebpf.MapKV{{Key: uint32(0), Value: data}},
	}, nil
}

// kernelVersionCode turns "a.b.c" into KERNEL_VERSION(a,b,c); numbers pass.
func kernelVersionCode(s string) string {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return s
	}
	var n [3]uint64
	for i, p := range parts {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		n[i], _ = strconv.ParseUint(p[:end], 10, 32)
	}
	// The kernel's KERNEL_VERSION saturates the sublevel at 255.
	return strconv.FormatUint(n[0]<<16|min(n[1], 255)<<8|min(n[2], 255), 10)
}

// hostKernelVersion reads the running kernel's release (Linux only).
func hostKernelVersion() (string, bool) {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// hostKconfig reads the running kernel's configuration where libbpf looks
// for it: /boot/config-$(uname -r), then /proc/config.gz. Nil if neither.
func hostKconfig() map[string]string {
	if rel, ok := hostKernelVersion(); ok {
		if b, err := os.ReadFile("/boot/config-" + rel); err == nil {
			return parseKconfig(bytes.NewReader(b))
		}
	}
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return map[string]string{}
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return map[string]string{}
	}
	return parseKconfig(io.LimitReader(z, 16<<20))
}

// parseKconfig reads CONFIG_X=value lines; "# CONFIG_X is not set" is n.
func parseKconfig(rd io.Reader) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok := strings.CutSuffix(rest, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				out[name] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			out[k] = v
		}
	}
	return out
}

// putKconfig encodes a value as libbpf does for the variable's type:
// tristate enums and bools take y/n/m, char takes y/n/m as characters,
// char arrays take quoted strings, integers take numbers.
func putKconfig(dst []byte, t btf.Type, val string) error {
	t = btf.UnderlyingType(t)
	switch tt := t.(type) {
	case *btf.Array:
		if it, ok := btf.UnderlyingType(tt.Type).(*btf.Int); !ok || it.Size != 1 {
			return errors.New("only char arrays take strings")
		}
		s, err := strconv.Unquote(val)
		if err != nil {
			return fmt.Errorf("a char array takes a quoted string: %w", err)
		}
		// libbpf truncates to the array, keeping a terminating NUL.
		n := copy(dst[:max(len(dst)-1, 0)], s)
		clear(dst[n:])
		return nil
	case *btf.Enum:
		// enum libbpf_tristate: n = 0, y = 1, m = 2.
		tri := map[string]uint64{"n": 0, "y": 1, "m": 2}
		x, ok := tri[val]
		if !ok {
			return errors.New("a tristate takes y, n or m")
		}
		return putInt(dst, x)
	case *btf.Int:
		if tt.Encoding == btf.Bool {
			switch val {
			case "y":
				return putInt(dst, 1)
			case "n":
				return putInt(dst, 0)
			}
			return errors.New("a bool takes y or n")
		}
		if tt.Size == 1 && (tt.Encoding&btf.Char != 0 || tt.Name == "char") {
			if len(val) == 1 && strings.Contains("ynm", val) {
				dst[0] = val[0]
				return nil
			}
		}
		switch val {
		case "y", "n", "m":
			return fmt.Errorf("an integer does not take %s", val)
		}
		var x uint64
		if tt.Encoding&btf.Signed != 0 {
			i, err := strconv.ParseInt(val, 0, int(tt.Size)*8)
			if err != nil {
				return err
			}
			x = uint64(i)
		} else {
			u, err := strconv.ParseUint(val, 0, int(tt.Size)*8)
			if err != nil {
				return err
			}
			x = u
		}
		return putInt(dst, x)
	}
	return fmt.Errorf("unsupported type %s", t)
}

func putInt(dst []byte, x uint64) error {
	switch len(dst) {
	case 1:
		dst[0] = byte(x)
	case 2:
		binary.LittleEndian.PutUint16(dst, uint16(x))
	case 4:
		binary.LittleEndian.PutUint32(dst, uint32(x))
	case 8:
		binary.LittleEndian.PutUint64(dst, x)
	default:
		return fmt.Errorf("%d-byte integer", len(dst))
	}
	return nil
}
