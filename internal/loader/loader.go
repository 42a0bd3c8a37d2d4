// Package loader turns the programs of a *ebpf.CollectionSpec (an ELF
// object parsed by cilium/ebpf, or what bpf2go generates) into linked
// bpfvm instructions: map references become the handles helpers resolve,
// direct loads of global data become real addresses, bpf-to-bpf calls keep
// their relative offsets and function pointers become values the callback
// helpers understand.
package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/ctxbtf"
	"github.com/bpfvm/bpfvm/internal/helpers"
	"github.com/bpfvm/bpfvm/internal/isa"
)

// ErrUnsupported is wrapped by errors about program features bpfvm cannot
// load yet (kfunc calls, unresolved externs, ...).
var ErrUnsupported = errors.New("unsupported program feature")

// MapResolver gives the loader what a map name stands for.
type MapResolver interface {
	// MapHandle returns the handle programs use as the map's pointer.
	MapHandle(name string) (uint64, bool)
	// MapValue returns the live memory of the map's first value, for
	// direct value loads (global data: .data, .rodata, .bss, ...).
	MapValue(name string) ([]byte, bool)
}

// Linked is a program ready for an engine.
type Linked struct {
	Insns []isa.Instruction
	// Lines holds, per instruction slot, the source line the compiler
	// recorded for it (file:line: text), or "" (BTF line info; a line
	// covers the slots up to the next recorded one).
	Lines []string
	// Direct lists the map values the program addresses directly: they
	// must be accessible during every run.
	Direct []DirectRegion
	// Verify is the program as a verifier takes it: the same slots as
	// Insns, but map references are BPF_PSEUDO_MAP_IDX (map_value_idx for
	// direct value loads) indexing VerifyMaps, and function pointers keep
	// BPF_PSEUDO_FUNC. Facts about Verify's slots hold for Insns' slots.
	Verify []isa.Instruction
	// VerifyMaps names the maps Verify's map indices refer to.
	VerifyMaps []string
}

// DirectRegion is map value memory a program addresses directly.
type DirectRegion struct {
	Map      string
	Data     []byte
	Writable bool
}

// Options configure linking.
type Options struct {
	// Targets are the BTF specs CO-RE relocations are resolved against
	// (the running kernel's, or any BTF): the first that has a type
	// wins. Empty: the object's own types, so relocations keep the
	// layouts the program was compiled with.
	Targets []*btf.Spec
	// Types is the object's BTF (CollectionSpec.Types).
	Types *btf.Spec
}

// Link resolves the references of a program spec.
func Link(spec *ebpf.ProgramSpec, maps MapResolver, readOnly func(name string) bool, opts Options) (*Linked, error) {
	insns := make(asm.Instructions, len(spec.Instructions))
	copy(insns, spec.Instructions)
	if err := applyCORE(insns, opts); err != nil {
		return nil, err
	}
	out := &Linked{}
	direct := map[string]bool{}
	// vinsns is the verifier's copy: map references by index.
	vinsns := make(asm.Instructions, len(insns))
	copy(vinsns, insns)
	mapIdx := map[string]int{}
	indexOf := func(name string) int64 {
		i, ok := mapIdx[name]
		if !ok {
			i = len(out.VerifyMaps)
			mapIdx[name] = i
			out.VerifyMaps = append(out.VerifyMaps, name)
		}
		return int64(i)
	}
	for n := range insns {
		ins := &insns[n]
		switch {
		case ins.IsKfuncCall():
			return nil, fmt.Errorf("%w: instruction %d calls kfunc %q", ErrUnsupported, n, ins.Reference())
		case ins.OpCode.IsDWordLoad() && ins.Src == asm.R0 && ins.Reference() != "":
			// An extern __ksym variable's address: bpfvm has no kernel
			// symbols, so (as libbpf does for a symbol the kernel lacks)
			// a weak one reads as 0 and a strong one cannot load.
			isKsym, weak := ksymBinding(ins)
			if !isKsym {
				return nil, fmt.Errorf("%w: instruction %d references unresolved symbol %q", ErrUnsupported, n, ins.Reference())
			}
			if !weak {
				return nil, fmt.Errorf("%w: instruction %d needs kernel symbol %q (only weak __ksym externs load, as 0)", ErrUnsupported, n, ins.Reference())
			}
			*ins = ins.WithReference("")
			ins.Constant = 0
			vinsns[n] = *ins
		case ins.IsLoadFromMap():
			name := ins.Reference()
			if name == "" && ins.Src == asm.PseudoMapValue {
				off, ok := kconfigOffset(ins)
				if !ok {
					return nil, fmt.Errorf("%w: instruction %d reads map memory it does not name", ErrUnsupported, n)
				}
				if _, ok := maps.MapValue(KconfigMap); !ok {
					return nil, fmt.Errorf("instruction %d reads an extern __kconfig variable, but the object has no %s values", n, KconfigMap)
				}
				name = KconfigMap
				ins.Constant = int64(uint64(off) << 32)
			}
			if name == "" {
				return nil, fmt.Errorf("%w: instruction %d loads a map by file descriptor, not by name", ErrUnsupported, n)
			}
			if ins.Src == asm.PseudoMapFD {
				h, ok := maps.MapHandle(name)
				if !ok {
					return nil, fmt.Errorf("instruction %d references unknown map %q", n, name)
				}
				ins.Src = asm.R0
				ins.Constant = int64(h)
				vinsns[n].Src = asm.Register(isa.PseudoMapIdx)
				vinsns[n].Constant = indexOf(name)
				continue
			}
			v, ok := maps.MapValue(name)
			if !ok {
				return nil, fmt.Errorf("instruction %d loads from map %q, which has no directly addressable value", n, name)
			}
			off := uint32(uint64(ins.Constant) >> 32)
			if int(off) > len(v) {
				return nil, fmt.Errorf("instruction %d: offset %d is outside map %q's %d-byte value", n, off, name, len(v))
			}
			if !direct[name] {
				direct[name] = true
				out.Direct = append(out.Direct, DirectRegion{Map: name, Data: v, Writable: !readOnly(name)})
			}
			ins.Src = asm.R0
			ins.Constant = int64(addrOf(v) + uint64(off))
			vinsns[n].Src = asm.Register(isa.PseudoMapIdxValue)
			vinsns[n].Constant = int64(uint64(off)<<32 | uint64(indexOf(name)))
		}
	}
	out.Lines = sourceLines(insns)
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, fmt.Errorf("linking: %w", err)
	}
	raw, err := isa.Decode(buf.Bytes())
	if err != nil {
		return nil, err
	}
	for n := 0; n < len(raw); n++ {
		i := raw[n]
		if !i.IsLDDW() {
			continue
		}
		if n+1 >= len(raw) {
			break
		}
		switch i.Src {
		case isa.PseudoFunc:
			pc := n + 1 + int(i.Imm)
			w := isa.LDDW(i.Dst, helpers.FuncPointer(pc))
			raw[n], raw[n+1] = w[0], w[1]
		case isa.PseudoImm64:
		default:
			return nil, &isa.InstructionError{Index: n, Insn: i, Reason: fmt.Sprintf("lddw with pseudo source %d is not supported", i.Src), Err: ErrUnsupported}
		}
		n++
	}
	out.Insns = raw
	buf.Reset()
	if err := vinsns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, fmt.Errorf("linking: %w", err)
	}
	if out.Verify, err = isa.Decode(buf.Bytes()); err != nil {
		return nil, err
	}
	if len(out.Verify) != len(out.Insns) {
		return nil, fmt.Errorf("linking: the verifier's copy has %d slots, the program %d", len(out.Verify), len(out.Insns))
	}
	return out, nil
}

// applyCORE resolves CO-RE relocations (field offsets, sizes, existence,
// type ids, enum values) as libbpf does before load.
func applyCORE(insns asm.Instructions, opts Options) error {
	var relos []*btf.CORERelocation
	var at []int
	for i := range insns {
		if r := btf.CORERelocationMetadata(&insns[i]); r != nil {
			relos = append(relos, r)
			at = append(at, i)
		}
	}
	if len(relos) == 0 {
		return nil
	}
	if len(opts.Targets) > 0 {
		return relocate(insns, relos, at, opts.Targets)
	}
	if opts.Types == nil {
		return fmt.Errorf("%w: CO-RE relocations without BTF to resolve them against", ErrUnsupported)
	}
	// No target given: context types (__sk_buff, xdp_md, ...) resolve
	// against bpfvm's built-in uapi BTF, since the object's own
	// definition may be a partial local flavour; every other type keeps
	// the layout the object was compiled with.
	var ctxRelos, objRelos []*btf.CORERelocation
	var ctxAt, objAt []int
	for i, r := range relos {
		if name, ok := coreLocalTypeName(r); ok && ctxbtf.Has(essentialName(name)) {
			ctxRelos, ctxAt = append(ctxRelos, r), append(ctxAt, at[i])
		} else {
			objRelos, objAt = append(objRelos, r), append(objAt, at[i])
		}
	}
	if len(ctxRelos) > 0 {
		builtin, err := ctxbtf.Spec()
		if err != nil {
			return err
		}
		if err := relocate(insns, ctxRelos, ctxAt, []*btf.Spec{builtin}); err != nil {
			return err
		}
	}
	if len(objRelos) > 0 {
		return relocate(insns, objRelos, objAt, []*btf.Spec{opts.Types})
	}
	return nil
}

// relocate applies relos (of the instructions at at) against targets.
func relocate(insns asm.Instructions, relos []*btf.CORERelocation, at []int, targets []*btf.Spec) error {
	var b btf.Builder
	fixups, err := btf.CORERelocate(relos, targets, binary.LittleEndian, b.Add)
	if err != nil {
		return fmt.Errorf("CO-RE relocation: %w", err)
	}
	for i, f := range fixups {
		if err := f.Apply(&insns[at[i]]); err != nil {
			return fmt.Errorf("CO-RE relocation of instruction %d (%s): %w", at[i], relos[i], err)
		}
	}
	return nil
}

// essentialName strips a CO-RE flavour suffix ("___local"), as libbpf
// matches local types to target types.
func essentialName(name string) string {
	if i := strings.LastIndex(name, "___"); i > 0 {
		return name[:i]
	}
	return name
}

// coreLocalTypeName returns the name of a relocation's local type.
// cilium/ebpf keeps it unexported (CORERelocation.typ); it is read, never
// written, by reflection, and a change of layout makes this report
// nothing, so the relocation falls back to the object's types.
func coreLocalTypeName(r *btf.CORERelocation) (string, bool) {
	v := reflect.ValueOf(r)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return "", false
	}
	t := v.Elem().FieldByName("typ")
	if !t.IsValid() || t.Kind() != reflect.Interface || t.IsNil() {
		return "", false
	}
	t = t.Elem()
	if t.Kind() != reflect.Pointer || t.IsNil() || t.Elem().Kind() != reflect.Struct {
		return "", false
	}
	n := t.Elem().FieldByName("Name")
	if !n.IsValid() || n.Kind() != reflect.String || n.String() == "" {
		return "", false
	}
	return n.String(), true
}

// sourceLines maps instruction slots to their source lines.
func sourceLines(insns asm.Instructions) []string {
	var lines []string
	cur := ""
	for _, ins := range insns {
		if src := ins.Source(); src != nil {
			if l, ok := src.(*btf.Line); ok {
				cur = fmt.Sprintf("%s:%d: %s", l.FileName(), l.LineNumber(), strings.TrimSpace(l.Line()))
			} else {
				cur = strings.TrimSpace(src.String())
			}
		}
		lines = append(lines, cur)
		if ins.OpCode.IsDWordLoad() {
			lines = append(lines, cur)
		}
	}
	return lines
}
