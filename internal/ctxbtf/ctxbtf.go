// Package ctxbtf holds bpfvm's built-in BTF: the uapi context types
// (__sk_buff, xdp_md, bpf_sock, ...) as the kernel defines them. CO-RE
// relocations against those types resolve here by default, so a program
// that declares its own flavour of a context type (`struct
// __sk_buff___local`, or one from an old vmlinux.h) gets the real
// layout without the running kernel's BTF.
package ctxbtf

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/cilium/ebpf/btf"
)

//go:embed ctxtypes.o
var object []byte

var (
	once sync.Once
	spec *btf.Spec
	err  error
)

// Spec returns the built-in BTF (parsed once; callers must not modify it).
func Spec() (*btf.Spec, error) {
	once.Do(func() {
		spec, err = btf.LoadSpecFromReader(bytes.NewReader(object))
		if err != nil {
			err = fmt.Errorf("bpfvm's built-in BTF: %w", err)
		}
	})
	return spec, err
}

// Has reports whether the built-in BTF defines a type of that name.
func Has(name string) bool {
	s, err := Spec()
	if err != nil {
		return false
	}
	types, err := s.AnyTypesByName(name)
	return err == nil && len(types) > 0
}
