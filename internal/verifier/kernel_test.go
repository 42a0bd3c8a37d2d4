package verifier

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// kernelMustReject loads a program into the running kernel (the oracle)
// and fails the test if the kernel accepts it. It skips where bpf() is
// unavailable.
func kernelMustReject(t *testing.T, insns []isa.Instruction, progType string, maps []*Map) {
	t.Helper()
	accepted, log, err := kernelVerdict(insns, progType, maps)
	if err != nil {
		t.Logf("kernel oracle unavailable: %v", err)
		return
	}
	if accepted {
		t.Fatalf("the kernel accepts this program, so it is not an unsafe regression case")
	}
	t.Logf("kernel: %s", lastLogLine(log))
}

var (
	errNoKernel       = errors.New("bpf() is unavailable (needs Linux and root)")
	errNotExpressible = errors.New("cilium/ebpf does not pass this program through unchanged")
)

func kernelVerdict(insns []isa.Instruction, progType string, maps []*Map) (bool, string, error) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return false, "", errNoKernel
	}
	pt := map[string]ebpf.ProgramType{"socket_filter": ebpf.SocketFilter, "sched_cls": ebpf.SchedCLS, "xdp": ebpf.XDP,
		"cgroup_skb": ebpf.CGroupSKB, "tracepoint": ebpf.TracePoint, "kprobe": ebpf.Kprobe}[progType]
	if pt == 0 {
		return false, "", errors.New("program type not mapped for the kernel oracle")
	}
	fds := map[int32]int{}
	var closers []*ebpf.Map
	defer func() {
		for _, m := range closers {
			m.Close()
		}
	}()
	types := map[string]ebpf.MapType{"array": ebpf.Array, "hash": ebpf.Hash, "ringbuf": ebpf.RingBuf, "prog_array": ebpf.ProgramArray,
		"percpu_array": ebpf.PerCPUArray, "percpu_hash": ebpf.PerCPUHash, "lru_hash": ebpf.LRUHash, "perf_event_array": ebpf.PerfEventArray}
	for _, m := range maps {
		mt, ok := types[m.Type]
		if !ok || m.Inner != nil {
			return false, "", errNotExpressible
		}
		km, err := ebpf.NewMap(&ebpf.MapSpec{Type: mt, KeySize: m.KeySize, ValueSize: m.ValueSize, MaxEntries: m.MaxEntries, Flags: m.Flags})
		if err != nil {
			return false, "", err
		}
		closers = append(closers, km)
		fds[m.FD] = km.FD()
	}
	raw := make([]isa.Instruction, len(insns))
	copy(raw, insns)
	for i := range raw {
		if raw[i].IsLDDW() && (raw[i].Src == isa.PseudoMapFD || raw[i].Src == isa.PseudoMapValue) {
			fd, ok := fds[raw[i].Imm]
			if !ok {
				return false, "", errors.New("program refers to an unknown map")
			}
			raw[i].Imm = int32(fd)
		}
	}
	var prog asm.Instructions
	code := isa.Encode(raw)
	r := bytes.NewReader(code)
	for r.Len() > 0 {
		var ins asm.Instruction
		if err := ins.Unmarshal(r, binary.LittleEndian, "linux"); err != nil {
			return false, "", err
		}
		prog = append(prog, ins)
	}
	if err := addFuncInfo(raw, prog); err != nil {
		return false, "", err
	}
	// cilium/ebpf normalises some fields on the way; a program it cannot
	// pass through unchanged cannot be judged by the kernel here.
	var back bytes.Buffer
	if err := prog.Marshal(&back, binary.LittleEndian); err != nil || !bytes.Equal(back.Bytes(), code) {
		return false, "", errNotExpressible
	}
	p, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{Type: pt, Instructions: prog, License: "GPL"}, ebpf.ProgramOptions{})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			lines := ve.Log
			if len(lines) > 50 {
				lines = lines[len(lines)-50:]
			}
			return false, strings.Join(lines, "\n"), nil
		}
		return false, err.Error(), nil
	}
	p.Close()
	return true, "", nil
}

// addFuncInfo gives every function of a program with subprograms BTF
// func info (the kernel requires it for callbacks: BPF_PSEUDO_FUNC).
func addFuncInfo(raw []isa.Instruction, prog asm.Instructions) error {
	starts := map[int]bool{}
	for i, in := range raw {
		if (in.Opcode == isa.OpcodeCall && in.Src == isa.CallLocal) || (in.IsLDDW() && in.Src == isa.PseudoFunc) {
			t, ok := isa.Target(raw, i)
			if !ok {
				return errNotExpressible
			}
			starts[t] = true
		}
	}
	if len(starts) == 0 {
		return nil
	}
	starts[0] = true
	u64 := &btf.Int{Name: "u64", Size: 8}
	proto := &btf.FuncProto{Return: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Params: []btf.FuncParam{{Name: "a", Type: u64}, {Name: "b", Type: u64}}}
	slot := 0
	for i := range prog {
		if starts[slot] {
			link := btf.StaticFunc
			if slot == 0 {
				link = btf.GlobalFunc
			}
			prog[i] = btf.WithFuncMetadata(prog[i], &btf.Func{Name: fmt.Sprintf("f%d", slot), Type: proto, Linkage: link})
		}
		slot += int(prog[i].Size() / 8)
	}
	return nil
}
