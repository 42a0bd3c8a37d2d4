package loader

import (
	"debug/elf"
	"reflect"

	"github.com/cilium/ebpf/asm"
)

// KconfigMap names the read-only array map holding the values of an
// object's extern __kconfig variables (libbpf's and cilium/ebpf's name).
const KconfigMap = ".kconfig"

// cilium/ebpf marks extern __kconfig reads and __ksym loads with metadata
// under unexported keys (kconfigMetaKey -> *kconfigMeta{Map, Offset},
// ksymMetaKey -> *ksymMeta{Binding, Name}) and resolves them only when it
// loads into a kernel. bpfvm reads those marks by reflection: fields are
// only read, never written, and a change of layout in a future cilium/ebpf
// makes metaValue report nothing, which the loader turns into a clear error
// (and the kconfig tests catch).
func metaValue(ins *asm.Instruction, keyType string) (reflect.Value, bool) {
	head := reflect.ValueOf(&ins.Metadata).Elem().FieldByName("head")
	for e := head; e.IsValid() && e.Kind() == reflect.Pointer && !e.IsNil(); e = e.Elem().FieldByName("next") {
		key := e.Elem().FieldByName("key")
		if !key.IsValid() || key.IsNil() {
			continue
		}
		kt := key.Elem().Type()
		if kt.Name() != keyType || kt.PkgPath() != "github.com/cilium/ebpf" {
			continue
		}
		v := e.Elem().FieldByName("value")
		if !v.IsValid() || v.IsNil() {
			return reflect.Value{}, false
		}
		v = v.Elem()
		if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		return v.Elem(), true
	}
	return reflect.Value{}, false
}

// kconfigOffset returns the offset in .kconfig an extern __kconfig read
// refers to.
func kconfigOffset(ins *asm.Instruction) (uint32, bool) {
	v, ok := metaValue(ins, "kconfigMetaKey")
	if !ok {
		return 0, false
	}
	off := v.FieldByName("Offset")
	if !off.IsValid() || off.Kind() != reflect.Uint32 {
		return 0, false
	}
	return uint32(off.Uint()), true
}

// ksymBinding reports whether ins loads the address of an extern __ksym
// variable, and whether it is weak.
func ksymBinding(ins *asm.Instruction) (isKsym, weak bool) {
	v, ok := metaValue(ins, "ksymMetaKey")
	if !ok {
		return false, false
	}
	b := v.FieldByName("Binding")
	if !b.IsValid() || b.Kind() != reflect.Int {
		return true, false
	}
	return true, elf.SymBind(b.Int()) == elf.STB_WEAK
}
