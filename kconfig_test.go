package bpfvm

import (
	"errors"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// kconfigRun loads testdata/kconfig.o with the given options and runs prog.
func kconfigRun(t *testing.T, prog string, opts ...Option) (uint32, error) {
	t.Helper()
	rt := NewRuntime(opts...)
	coll, err := rt.LoadCollectionFile("testdata/kconfig.o")
	if err != nil {
		return 0, err
	}
	defer coll.Close()
	return coll.Programs[prog].Run(&RunOptions{Data: make([]byte, 64)})
}

func TestKconfigSetValues(t *testing.T) {
	vals := map[string]string{
		"LINUX_KERNEL_VERSION":    "5.15.300", // sublevel saturates at 255
		"CONFIG_HZ":               "1000",
		"CONFIG_BPF_SYSCALL":      "y",
		"CONFIG_NET_CLS_ACT":      "m",
		"CONFIG_DEFAULT_HOSTNAME": `"bpfvm"`,
	}
	ret, err := kconfigRun(t, "kernel_version", WithoutHostKconfig(), WithKconfig(vals))
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(5<<16 | 15<<8 | 255); ret != want {
		t.Errorf("LINUX_KERNEL_VERSION = %#x, want %#x", ret, want)
	}
	ret, err = kconfigRun(t, "config_values", WithoutHostKconfig(), WithKconfig(vals))
	if err != nil {
		t.Fatal(err)
	}
	// HZ | BPF_SYSCALL<<16 | NET_CLS_ACT(m = 2)<<17 | (hostname[1] == 'n')<<19
	if want := uint32(1000 | 1<<16 | 2<<17 | 0<<19); ret != want {
		t.Errorf("config_values = %#x, want %#x", ret, want)
	}
	vals["CONFIG_DEFAULT_HOSTNAME"] = `"(none)"`
	vals["CONFIG_NET_CLS_ACT"] = "n"
	vals["CONFIG_BPF_SYSCALL"] = "n"
	ret, err = kconfigRun(t, "config_values", WithoutHostKconfig(), WithKconfig(vals))
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(1000 | 1<<19); ret != want {
		t.Errorf("config_values = %#x, want %#x", ret, want)
	}
}

func TestKconfigErrors(t *testing.T) {
	base := map[string]string{
		"LINUX_KERNEL_VERSION": "6.1.0", "CONFIG_HZ": "100", "CONFIG_BPF_SYSCALL": "y",
		"CONFIG_NET_CLS_ACT": "y", "CONFIG_DEFAULT_HOSTNAME": `"x"`,
	}
	for _, tc := range []struct{ key, val, want string }{
		{"CONFIG_HZ", "", "CONFIG_HZ has no value"},
		{"CONFIG_HZ", "y", "integer does not take y"},
		{"CONFIG_HZ", "0x1ffffffff", "out of range"},
		{"CONFIG_BPF_SYSCALL", "m", "bool takes y or n"},
		{"CONFIG_NET_CLS_ACT", "1", "tristate takes y, n or m"},
		{"CONFIG_DEFAULT_HOSTNAME", "bare", "quoted string"},
	} {
		vals := map[string]string{}
		for k, v := range base {
			vals[k] = v
		}
		if tc.val == "" {
			delete(vals, tc.key)
		} else {
			vals[tc.key] = tc.val
		}
		_, err := kconfigRun(t, "kernel_version", WithoutHostKconfig(), WithKconfig(vals))
		if err == nil || !errors.Is(err, ErrLoad) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: error %v, want one containing %q", tc.key, tc.val, err, tc.want)
		}
	}
}

func TestWeakKsymIsZero(t *testing.T) {
	ret, err := kconfigRun(t, "weak_ksym", WithoutHostKconfig(), testKconfig)
	if err != nil {
		t.Fatal(err)
	}
	if ret != 2 {
		t.Errorf("weak_ksym = %d, want 2 (the symbol's address reads as 0)", ret)
	}
}

func TestParseKconfig(t *testing.T) {
	got := parseKconfig(strings.NewReader("#\n# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"s p\"\nCONFIG_D=0x10\nNOT_CONFIG=1\n"))
	want := map[string]string{"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": `"s p"`, "CONFIG_D": "0x10"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for in, want := range map[string]string{"6.18.44-fc-v595": "397868", "4.19": "267008", "12345": "12345"} {
		if got := kernelVersionCode(in); got != want {
			t.Errorf("kernelVersionCode(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzKconfig: any configuration text parses, and any value either
// encodes into a variable of each kind or is refused; never a panic.
func FuzzKconfig(f *testing.F) {
	f.Add("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n", "y")
	f.Add("CONFIG_HZ=250", "0x7fffffff")
	f.Add("", `"a\"b"`)
	f.Add("=\n#", "-1")
	types := []btf.Type{
		&btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		&btf.Int{Name: "u64", Size: 8},
		&btf.Int{Name: "bool", Size: 1, Encoding: btf.Bool},
		&btf.Int{Name: "char", Size: 1, Encoding: btf.Char},
		&btf.Enum{Name: "libbpf_tristate", Size: 4},
		&btf.Array{Type: &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}, Nelems: 4},
	}
	sizes := []int{4, 8, 1, 1, 4, 4}
	f.Fuzz(func(t *testing.T, text, val string) {
		for k, v := range parseKconfig(strings.NewReader(text)) {
			if !strings.HasPrefix(k, "CONFIG_") || strings.Contains(v, "\n") {
				t.Fatalf("parsed %q=%q", k, v)
			}
		}
		for i, typ := range types {
			dst := make([]byte, sizes[i])
			_ = putKconfig(dst, typ, val)
		}
		_ = kernelVersionCode(val)
	})
}

// testKconfig gives testdata/kconfig.o's externs fixed values, for tests
// that must not depend on the host's kernel configuration.
var testKconfig = WithKconfig(map[string]string{
	"LINUX_KERNEL_VERSION": "6.1.0", "CONFIG_HZ": "250", "CONFIG_BPF_SYSCALL": "y",
	"CONFIG_NET_CLS_ACT": "y", "CONFIG_DEFAULT_HOSTNAME": `"(none)"`,
})
