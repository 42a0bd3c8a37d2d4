package verifier

import (
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/loader"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// testdataProgType names the verifier's program type for a cilium/ebpf one.
var testdataProgType = map[ebpf.ProgramType]string{
	ebpf.SocketFilter: "socket_filter", ebpf.Kprobe: "kprobe", ebpf.SchedCLS: "sched_cls",
	ebpf.SchedACT: "sched_act", ebpf.TracePoint: "tracepoint", ebpf.XDP: "xdp",
	ebpf.PerfEvent: "perf_event", ebpf.CGroupSKB: "cgroup_skb", ebpf.RawTracepoint: "raw_tp",
	ebpf.Syscall: "syscall", ebpf.SkSKB: "sk_skb", ebpf.LWTIn: "lwt_in", ebpf.LWTOut: "lwt_out",
	ebpf.LWTXmit: "lwt_xmit", ebpf.CGroupSock: "cgroup_sock", ebpf.SkMsg: "sk_msg",
}

// specResolver links programs against map specs alone: handles are
// placeholders (the verifier sees maps by index) and direct values are
// the specs' initial contents.
type specResolver struct{ spec *ebpf.CollectionSpec }

func (r specResolver) MapHandle(name string) (uint64, bool) {
	_, ok := r.spec.Maps[name]
	return 1, ok
}

func (r specResolver) MapValue(name string) ([]byte, bool) {
	ms, ok := r.spec.Maps[name]
	if !ok || ms.Type != ebpf.Array {
		return nil, false
	}
	return make([]byte, ms.ValueSize), true
}

func verifierMapOf(ms *ebpf.MapSpec) *Map {
	m := &Map{Name: ms.Name, Type: maps.Type(ms.Type).String(), KeySize: ms.KeySize, ValueSize: ms.ValueSize,
		MaxEntries: ms.MaxEntries, Flags: ms.Flags}
	if ms.InnerMap != nil {
		m.Inner = verifierMapOf(ms.InnerMap)
	}
	if s, ok := btf.UnderlyingType(ms.Value).(*btf.Struct); ok && ms.Value != nil {
		for _, f := range s.Members {
			if fs, ok := btf.UnderlyingType(f.Type).(*btf.Struct); ok && fs.Name == "bpf_spin_lock" {
				m.HasSpinLock, m.SpinLockOffset = true, f.Offset.Bytes()
			}
		}
	}
	return m
}

// linkForVerifier links one program of an object as the runtime does and
// returns it with the Config to verify it.
func linkForVerifier(t testing.TB, spec *ebpf.CollectionSpec, ps *ebpf.ProgramSpec) (*loader.Linked, Config, bool) {
	typ, ok := testdataProgType[ps.Type]
	if !ok {
		t.Errorf("%s: program type %s has no verifier name", ps.Name, ps.Type)
		return nil, Config{}, false
	}
	linked, err := loader.Link(ps, specResolver{spec}, func(name string) bool {
		return spec.Maps[name].Flags&MapFlagRdonlyProg != 0
	}, loader.Options{Types: spec.Types})
	if err != nil {
		t.Errorf("%s: link: %v", ps.Name, err)
		return nil, Config{}, false
	}
	cfg := Config{ProgType: typ, ExpectedAttachType: uint32(ps.AttachType), Flags: ps.Flags, LineInfo: map[int]string{}}
	for _, n := range linked.VerifyMaps {
		cfg.Maps = append(cfg.Maps, verifierMapOf(spec.Maps[n]))
	}
	for i, l := range linked.Lines {
		if l != "" && (i == 0 || linked.Lines[i-1] != l) {
			cfg.LineInfo[i] = l
		}
	}
	return linked, cfg, true
}

// TestTestdataAccepted: every clang-compiled program in testdata/ is
// accepted (issue 4).
func TestTestdataAccepted(t *testing.T) {
	objs, err := filepath.Glob("../../testdata/*.o")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no objects in testdata: %v", err)
	}
	sort.Strings(objs)
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Errorf("%s: %v", obj, err)
			continue
		}
		names := make([]string, 0, len(spec.Programs))
		for n := range spec.Programs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ps := spec.Programs[n]
			t.Run(strings.TrimSuffix(filepath.Base(obj), ".o")+"/"+n, func(t *testing.T) {
				linked, cfg, ok := linkForVerifier(t, spec, ps)
				if !ok {
					return
				}
				if _, err := Verify(linked.Verify, cfg); err != nil {
					var ve *Error
					if errors.As(err, &ve) {
						t.Errorf("rejected (%s): %v\n%s", ve.Kind, err, ve.Line)
					} else {
						t.Errorf("rejected: %v", err)
					}
				}
			})
		}
	}
}
