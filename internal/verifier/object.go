package verifier

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// ObjectProgram is one program of an ELF object (a parsed
// *ebpf.CollectionSpec), linked the way the runtime links it and ready
// to verify: Verify(p.Insns, p.Config).
type ObjectProgram struct {
	Name   string
	Insns  []isa.Instruction
	Config Config
	// Err is set when the program cannot be prepared (a program type or
	// feature the verifier lacks, a link error); Insns is then nil.
	Err error
}

// objectProgTypes names the verifier's program types for cilium/ebpf's.
var objectProgTypes = map[ebpf.ProgramType]string{
	ebpf.SocketFilter: "socket_filter", ebpf.Kprobe: "kprobe", ebpf.SchedCLS: "sched_cls",
	ebpf.SchedACT: "sched_act", ebpf.TracePoint: "tracepoint", ebpf.XDP: "xdp",
	ebpf.PerfEvent: "perf_event", ebpf.CGroupSKB: "cgroup_skb", ebpf.RawTracepoint: "raw_tp",
	ebpf.Syscall: "syscall", ebpf.SkSKB: "sk_skb", ebpf.LWTIn: "lwt_in", ebpf.LWTOut: "lwt_out",
	ebpf.LWTXmit: "lwt_xmit", ebpf.CGroupSock: "cgroup_sock", ebpf.SkMsg: "sk_msg",
	ebpf.CGroupDevice: "cgroup_device", ebpf.CGroupSockAddr: "cgroup_sock_addr",
	ebpf.SkReuseport: "sk_reuseport", ebpf.SkLookup: "sk_lookup",
}

// ObjectPrograms prepares every program of an object for verification, in
// the object's order: map references become BPF_PSEUDO_MAP_IDX loads of
// Config.Maps (described from the map specs, spin locks from their BTF),
// and BTF line info becomes Config.LineInfo so rejections quote the C
// source.
func ObjectPrograms(spec *ebpf.CollectionSpec) []ObjectProgram {
	var out []ObjectProgram
	for _, ps := range programsInOrder(spec) {
		p := ObjectProgram{Name: ps.Name}
		p.Insns, p.Config, p.Err = linkObjectProgram(spec, ps)
		out = append(out, p)
	}
	return out
}

// programsInOrder lists the programs by section then name, so output is
// stable.
func programsInOrder(spec *ebpf.CollectionSpec) []*ebpf.ProgramSpec {
	var ps []*ebpf.ProgramSpec
	for _, p := range spec.Programs {
		ps = append(ps, p)
	}
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && (ps[j].SectionName < ps[j-1].SectionName ||
			ps[j].SectionName == ps[j-1].SectionName && ps[j].Name < ps[j-1].Name); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return ps
}

// specResolver links against map specs alone: the verifier's copy of the
// program refers to maps by index, so handles are placeholders, and
// direct values get memory of the value's size.
type specResolver struct{ spec *ebpf.CollectionSpec }

func (r specResolver) MapHandle(name string) (uint64, bool) {
	_, ok := r.spec.Maps[name]
	return 1, ok
}

func (r specResolver) MapValue(name string) ([]byte, bool) {
	ms, ok := r.spec.Maps[name]
	if !ok || ms.Type != ebpf.Array || ms.ValueSize == 0 {
		return nil, false
	}
	return make([]byte, ms.ValueSize), true
}

// MapFromSpec describes a cilium/ebpf map spec to the verifier.
func MapFromSpec(ms *ebpf.MapSpec) *Map {
	m := &Map{Name: ms.Name, Type: maps.Type(ms.Type).String(), KeySize: ms.KeySize, ValueSize: ms.ValueSize,
		MaxEntries: ms.MaxEntries, Flags: ms.Flags}
	if ms.InnerMap != nil {
		m.Inner = MapFromSpec(ms.InnerMap)
	}
	if ms.Value != nil {
		if s, ok := btf.UnderlyingType(ms.Value).(*btf.Struct); ok {
			for _, f := range s.Members {
				if fs, ok := btf.UnderlyingType(f.Type).(*btf.Struct); ok && fs.Name == "bpf_spin_lock" {
					m.HasSpinLock, m.SpinLockOffset = true, f.Offset.Bytes()
				}
			}
		}
	}
	return m
}

func linkObjectProgram(spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec) ([]isa.Instruction, Config, error) {
	if ps.Type == ebpf.UnspecifiedProgram {
		return nil, Config{}, fmt.Errorf("section %q names no program type libbpf recognises: give its type explicitly (bpfvm verify --type T)", ps.SectionName)
	}
	typ, ok := objectProgTypes[ps.Type]
	if !ok {
		return nil, Config{}, fmt.Errorf("the verifier does not support %s programs", ps.Type)
	}
	spec = withKconfigMap(spec)
	linked, err := loader.Link(ps, specResolver{spec}, func(name string) bool {
		m := spec.Maps[name]
		return m != nil && m.Flags&MapFlagRdonlyProg != 0
	}, loader.Options{Types: spec.Types})
	if err != nil {
		return nil, Config{}, err
	}
	cfg := Config{ProgType: typ, ExpectedAttachType: uint32(ps.AttachType), Flags: ps.Flags, LineInfo: map[int]string{}}
	for _, n := range linked.VerifyMaps {
		ms, ok := spec.Maps[n]
		if !ok {
			return nil, Config{}, fmt.Errorf("no map %q", n)
		}
		cfg.Maps = append(cfg.Maps, MapFromSpec(ms))
	}
	for i, l := range linked.Lines {
		// Only where a line starts: the verifier takes the nearest one at
		// or before an instruction.
		if l != "" && (i == 0 || linked.Lines[i-1] != l) {
			cfg.LineInfo[i] = l
		}
	}
	return linked.Verify, cfg, nil
}

// withKconfigMap adds the .kconfig map an object with extern __kconfig
// variables gets at load (a read-only one-element array whose value is the
// .kconfig datasec, as libbpf and the runtime make it), so its programs
// link and verify: the verifier needs the map's shape, not the host's values.
func withKconfigMap(spec *ebpf.CollectionSpec) *ebpf.CollectionSpec {
	if spec.Types == nil || spec.Maps[loader.KconfigMap] != nil {
		return spec
	}
	var ds *btf.Datasec
	if err := spec.Types.TypeByName(loader.KconfigMap, &ds); err != nil || ds.Size == 0 {
		return spec
	}
	c := *spec
	c.Maps = make(map[string]*ebpf.MapSpec, len(spec.Maps)+1)
	for n, m := range spec.Maps {
		c.Maps[n] = m
	}
	c.Maps[loader.KconfigMap] = &ebpf.MapSpec{Name: loader.KconfigMap, Type: ebpf.Array, KeySize: 4,
		ValueSize: ds.Size, MaxEntries: 1, Flags: MapFlagRdonlyProg}
	return &c
}

// ObjectProgramType returns the cilium/ebpf program type of a verifier
// program type name (the inverse of what ObjectPrograms reports), for
// programs whose section names no type.
func ObjectProgramType(name string) (ebpf.ProgramType, bool) {
	for t, n := range objectProgTypes {
		if n == name {
			return t, true
		}
	}
	return ebpf.UnspecifiedProgram, false
}
