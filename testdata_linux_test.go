package bpfvm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/perf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// runInput is one BPF_PROG_TEST_RUN.
type runInput struct {
	data []byte
	ctx  []byte // nil: no context
}

// mapEntry is a map update applied before the runs, to both sides.
type mapEntry struct {
	m          string
	key, value []byte
}

// progCase is a program of testdata run in bpfvm and in the kernel.
type progCase struct {
	obj, prog string
	setup     []mapEntry
	inputs    []runInput
	// compareMaps lists the maps whose contents must match afterwards
	// (nil: every map except program arrays, ring buffers and perf
	// event arrays).
	ignoreMaps []string
	// kernelTypes: resolve CO-RE against the running kernel's BTF, as
	// the kernel loader does.
	kernelTypes bool
	// currentTask: bpfvm reports the test process as the current task,
	// as the kernel does for syscall programs run by it.
	currentTask bool
	// noCtxOut: the kernel takes no ctx_out for this type (raw
	// tracepoints, syscall programs).
	noCtxOut bool
	// prepare runs before the runs and returns a check for after them.
	prepare func(t *testing.T, kc *ebpf.Collection, vc *Collection) func()
	// check compares more state after the runs.
	check func(t *testing.T, kc *ebpf.Collection, vc *Collection)
	// progType is given explicitly (the section names no type): to the
	// kernel in the spec, to bpfvm by WithProgramType.
	progType ebpf.ProgramType
}

var allPkts = []runInput{{data: udpPkt}, {data: tcpPkt}, {data: bcastPkt}, {data: otherPkt}, {data: arpPkt}}

var progCases = []progCase{
	{obj: "xdp_pass.o", prog: "xdp_pass", inputs: allPkts},
	// .kconfig externs take the host's values on both sides; the weak
	// __ksym no kernel has reads as 0 on both.
	{obj: "kconfig.o", prog: "kernel_version", inputs: allPkts[:1]},
	{obj: "kconfig.o", prog: "config_values", inputs: allPkts[:1]},
	{obj: "kconfig.o", prog: "weak_ksym", inputs: allPkts[:1]},
	// CO-RE against a local flavour of __sk_buff: the built-in BTF's
	// layout on bpfvm's side, vmlinux's on the kernel's.
	{obj: "core_ctx.o", prog: "core_ctx", inputs: []runInput{{data: udpPkt}, {data: tcpPkt, ctx: skbCtx(5, 3, 99)}}},
	{obj: "adjust_room.o", prog: "adjust_room", inputs: adjustRoomInputs()},
	// Socket cookies and flow hashes: their properties (the values are
	// per-boot and per-run), and a map the comparison must skip.
	{obj: "skb_meta.o", prog: "skb_meta", inputs: allPkts, ignoreMaps: []string{"last_cookie"}},
	{obj: "skb_meta.o", prog: "socket_cookie", inputs: allPkts[:2], ignoreMaps: []string{"last_cookie"}},
	{obj: "vlan.o", prog: "vlan", inputs: vlanInputs()},
	// A legacy `maps` section map, used by a program whose section names
	// no type.
	{obj: "legacy.o", prog: "custom_section", inputs: allPkts, progType: ebpf.XDP},
	{obj: "xdp_firewall.o", prog: "xdp_firewall", inputs: allPkts,
		setup: []mapEntry{{"blocklist", []byte{192, 168, 1, 1}, le64(0)}, {"blocklist", []byte{9, 9, 9, 9}, le64(5)}}},
	{obj: "xdp_swap_mac.o", prog: "xdp_swap_mac", inputs: allPkts},
	{obj: "xdp_adjust.o", prog: "xdp_adjust", inputs: allPkts},
	{obj: "tc_fields.o", prog: "tc_fields", inputs: []runInput{
		{data: udpPkt}, {data: bcastPkt, ctx: skbCtx(5, 3, 99)}, {data: otherPkt, ctx: skbCtx(0, 0, 0)}, {data: arpPkt, ctx: skbCtx(1, 1, 1)},
	}},
	{obj: "socket_filter.o", prog: "socket_filter", inputs: []runInput{{data: udpPkt}, {data: tcpPkt}, {data: otherPkt, ctx: skbCtx(3, 0, 7)}}},
	{obj: "hash_ops.o", prog: "hash_ops", inputs: []runInput{{data: udpPkt}, {data: udpPkt}}},
	{obj: "hash_replace.o", prog: "hash_replace", inputs: []runInput{{data: udpPkt}, {data: udpPkt}}},
	{obj: "global_data.o", prog: "global_data", inputs: allPkts},
	{obj: "bpf2bpf.o", prog: "bpf2bpf", inputs: allPkts},
	{obj: "tail_call.o", prog: "tail_entry", inputs: allPkts[:2]},
	{obj: "loops.o", prog: "loops", inputs: []runInput{{data: udpPkt}, {data: []byte{5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}}, {data: bcastPkt}}},
	{obj: "for_each.o", prog: "for_each", inputs: allPkts[:3]},
	{obj: "percpu_counters.o", prog: "percpu_counters", inputs: allPkts},
	{obj: "lru.o", prog: "lru", inputs: append(allPkts, allPkts...)},
	{obj: "lpm.o", prog: "lpm", inputs: allPkts, setup: []mapEntry{
		{"routes", lpmKey(8, 10, 0, 0, 0), le32(1)},
		{"routes", lpmKey(24, 10, 0, 0, 0), le32(2)},
		{"routes", lpmKey(0, 0, 0, 0, 0), le32(3)},
		{"routes", lpmKey(16, 5, 6, 0, 0), le32(4)},
	}},
	{obj: "queue_stack.o", prog: "queue_stack", inputs: append(allPkts, allPkts...)},
	{obj: "ringbuf.o", prog: "ringbuf", inputs: allPkts, check: compareRingbuf("events")},
	{obj: "map_in_map.o", prog: "map_in_map", inputs: allPkts},
	{obj: "tc_csum.o", prog: "tc_csum", inputs: []runInput{{data: udpPkt}, {data: withIPChecksum(udpPkt)}, {data: tcpPkt}}},
	{obj: "skb_bytes.o", prog: "skb_bytes", inputs: allPkts},
	{obj: "xdp_bytes.o", prog: "xdp_bytes", inputs: allPkts},
	{obj: "strtox.o", prog: "strtox", inputs: []runInput{
		{data: []byte("  -1234xyz\x00abcdef")}, {data: []byte("0x1fZZZZZZZZZZZZZZ")}, {data: []byte("077 and more bytes")},
		{data: []byte("99999999999999999999999")}, {data: []byte("abc\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
	}},
	{obj: "snprintf.o", prog: "snprintf_prog", inputs: allPkts[:2]},
	{obj: "spin_lock.o", prog: "spin_lock", inputs: allPkts},
	{obj: "atomics.o", prog: "atomics", inputs: allPkts},
	{obj: "redirect.o", prog: "xdp_redirect", inputs: allPkts[:1]},
	{obj: "redirect.o", prog: "tc_redirect", inputs: allPkts[:1]},
	{obj: "parse_tcp.o", prog: "parse_tcp", inputs: []runInput{{data: tcpPkt}, {data: synPkt(80)}, {data: synPkt(80)}, {data: synPkt(443)}, {data: udpPkt}}},
	{obj: "vlan_ipv6.o", prog: "classify_l3", inputs: []runInput{{data: ipv6Pkt}, {data: vlanPkt}, {data: udpPkt}, {data: arpPkt}}},
	{obj: "raw_tp.o", prog: "raw_tp", noCtxOut: true, inputs: []runInput{
		{ctx: append(le64(1), le64(10)...)}, {ctx: append(le64(2), le64(5)...)}, {ctx: append(le64(1), le64(7)...)},
	}},
	{obj: "syscall_prog.o", prog: "syscall_prog", noCtxOut: true, inputs: []runInput{
		{ctx: append(append(le32(6), le32(7)...), make([]byte, 16)...)}, {ctx: append(append(le32(9), le32(2)...), make([]byte, 16)...)},
	}},
	{obj: "lru_percpu.o", prog: "lru_percpu", inputs: append(allPkts, allPkts...)},
	{obj: "redirect_map.o", prog: "redirect_map", inputs: []runInput{
		{data: make([]byte, 60)}, {data: make([]byte, 61)}, {data: make([]byte, 62)}, {data: make([]byte, 63)}, {data: make([]byte, 64)},
	}, setup: []mapEntry{{"devs", le32(0), le32(1)}, {"devhash", le32(7), le32(1)}, {"cpus", le32(0), le32(64)}}},
	{obj: "perf_output.o", prog: "perf_output", inputs: allPkts[:3], prepare: comparePerf("samples")},
	{obj: "cpuv4.o", prog: "cpuv4", inputs: append(allPkts, runInput{data: []byte{0, 1, 2, 3, 4, 5, 0x80, 7, 0xff, 0xfe, 0x01, 0x80, 0xff, 0xff, 0x33, 0x44}})},
	{obj: "skb_change_tail.o", prog: "skb_change_tail", inputs: allPkts},
	{obj: "task.o", prog: "task", noCtxOut: true, currentTask: true, inputs: []runInput{{ctx: make([]byte, 8)}}},
	{obj: "bench_maps.o", prog: "bench_hash_update", inputs: allPkts[:1]},
	{obj: "bench_maps.o", prog: "bench_hash_lookup", inputs: allPkts[:1], setup: []mapEntry{{"bh", le32(3), le64(7)}, {"bh", le32(9), le64(2)}}},
	{obj: "bench_maps.o", prog: "bench_array_lookup", inputs: allPkts[:2], setup: []mapEntry{{"ba", le32(3), le64(7)}, {"ba", le32(9), le64(2)}}},
	{obj: "skb_change_head.o", prog: "skb_change_head", inputs: allPkts},
	{obj: "core.o", prog: "core", kernelTypes: true, inputs: allPkts},
	{obj: "ld_abs.o", prog: "ld_abs", inputs: []runInput{{data: udpPkt}, {data: tcpPkt}, {data: ipv6Pkt}, {data: synPkt(8080)}}},
}

func lpmKey(plen uint32, a, b, c, d byte) []byte { return append(le32(plen), a, b, c, d) }

// withIPChecksum returns p with a valid IPv4 header checksum.
func withIPChecksum(p []byte) []byte {
	q := append([]byte(nil), p...)
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(q[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(q[24:], ^uint16(sum))
	binary.BigEndian.PutUint16(q[40:], 0x1234) // a UDP checksum to update
	return q
}

func synPkt(port uint16) []byte {
	p := packet(0, 6, [4]byte{10, 1, 1, 1}, [4]byte{10, 2, 2, 2}, 20)
	binary.BigEndian.PutUint16(p[14+2:], 40)
	binary.BigEndian.PutUint16(p[34+2:], port)
	p[34+12] = 5 << 4
	p[34+13] = 0x02
	return p
}

var (
	ipv6Pkt = func() []byte {
		p := make([]byte, 14+40+8)
		binary.BigEndian.PutUint16(p[12:], 0x86dd)
		p[14] = 0x60
		p[14+6], p[14+7] = 17, 33
		return p
	}()
	vlanPkt = func() []byte {
		p := make([]byte, 14+4+20)
		binary.BigEndian.PutUint16(p[12:], 0x8100)
		binary.BigEndian.PutUint16(p[14:], 0x2123)
		binary.BigEndian.PutUint16(p[16:], 0x0800)
		return p
	}()
)

// comparePerf opens a perf reader on both sides before the runs (the
// check runs after them, so it reads what the runs wrote into readers
// opened by setup) and compares the samples.
func comparePerf(name string) func(t *testing.T, kc *ebpf.Collection, vc *Collection) func() {
	return func(t *testing.T, kc *ebpf.Collection, vc *Collection) func() {
		kr, err := perf.NewReader(kc.Maps[name], 4096)
		if err != nil {
			t.Fatal(err)
		}
		vr, err := vc.Maps[name].PerfReader(4096)
		if err != nil {
			t.Fatal(err)
		}
		return func() {
			defer kr.Close()
			defer vr.Close()
			var krec, vrec []string
			kr.SetDeadline(time.Now().Add(50 * time.Millisecond))
			for {
				r, err := kr.Read()
				if err != nil {
					break
				}
				krec = append(krec, hex.EncodeToString(r.RawSample))
			}
			for {
				r, ok := vr.TryRead()
				if !ok {
					break
				}
				vrec = append(vrec, hex.EncodeToString(r.RawSample))
			}
			if len(krec) != len(vrec) || len(krec) == 0 {
				t.Fatalf("perf samples: kernel %d, bpfvm %d", len(krec), len(vrec))
			}
			for i := range krec {
				// The kernel's raw samples are padded to 8 bytes (size
				// header included) with stray bytes: compare bpfvm's
				// exact sample with the kernel's prefix.
				if !strings.HasPrefix(krec[i], vrec[i]) || len(krec[i])-len(vrec[i]) > 14 {
					t.Errorf("perf sample %d: kernel %s, bpfvm %s", i, krec[i], vrec[i])
				}
			}
		}
	}
}

// compareRingbuf reads every record of a ring buffer map on both sides.
func compareRingbuf(name string) func(t *testing.T, kc *ebpf.Collection, vc *Collection) {
	return func(t *testing.T, kc *ebpf.Collection, vc *Collection) {
		kr, err := ringbuf.NewReader(kc.Maps[name])
		if err != nil {
			t.Fatal(err)
		}
		defer kr.Close()
		vr, err := vc.Maps[name].RingBufReader()
		if err != nil {
			t.Fatal(err)
		}
		defer vr.Close()
		var krec, vrec [][]byte
		kr.SetDeadline(time.Now().Add(50 * time.Millisecond))
		for {
			r, err := kr.Read()
			if err != nil {
				break
			}
			krec = append(krec, r.RawSample)
		}
		for {
			d, ok := vr.TryRead()
			if !ok {
				break
			}
			vrec = append(vrec, d)
		}
		if fmt.Sprintf("%x", krec) != fmt.Sprintf("%x", vrec) {
			t.Errorf("ring buffer %s:\nkernel %x\nbpfvm  %x", name, krec, vrec)
		}
		if len(krec) == 0 {
			t.Errorf("ring buffer %s: no records", name)
		}
	}
}

// kernelRun is a kernel collection for a case, or nil when bpf() is
// unavailable.
func kernelCollection(t *testing.T, spec *ebpf.CollectionSpec) *ebpf.Collection {
	t.Helper()
	// Probe bpf() with a trivial map: only its failure means the oracle
	// is unavailable; a refused program is a test failure.
	probe, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		t.Skipf("kernel oracle unavailable (bpf() needs root on Linux): %v", err)
	}
	probe.Close()
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		t.Fatalf("kernel refused the collection: %v", err)
	}
	t.Cleanup(func() { coll.Close() })
	return coll
}

type runOutput struct {
	ret     uint32
	dataOut []byte
	ctxOut  []byte
}

func (o runOutput) String() string {
	return fmt.Sprintf("retval %d data_out %s ctx_out %s", o.ret, hex.EncodeToString(o.dataOut), hex.EncodeToString(o.ctxOut))
}

func TestProgramsAgainstKernel(t *testing.T) {
	for _, engine := range []Engine{Interpreter, JIT} {
		t.Run(string(engine), func(t *testing.T) { testProgramsAgainstKernel(t, engine) })
	}
}

func testProgramsAgainstKernel(t *testing.T, engine Engine) {
	for _, c := range progCases {
		t.Run(c.prog, func(t *testing.T) {
			pinToOneCPU(t)
			spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", c.obj))
			if err != nil {
				t.Fatal(err)
			}
			kspec := spec
			var opts []Option
			if c.progType != ebpf.UnspecifiedProgram {
				kspec = spec.Copy()
				kspec.Programs[c.prog].Type = c.progType
				opts = append(opts, WithProgramType(c.prog, ProgramType(c.progType)))
			}
			kc := kernelCollection(t, kspec)
			ncpu, err := ebpf.PossibleCPU()
			if err != nil {
				t.Fatal(err)
			}
			opts = append(append(opts, WithNumCPU(ncpu), WithEngine(engine)), gapOpts(c.obj)...)
			if c.kernelTypes {
				kt, err := btf.LoadKernelSpec()
				if err != nil {
					t.Skipf("no kernel BTF: %v", err)
				}
				opts = append(opts, WithKernelTypes(kt))
			}
			if c.currentTask {
				// The kernel reports the calling thread: stay on one.
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				opts = append(opts, WithTask(thisTask(t)))
			}
			rt := NewRuntime(opts...)
			vc, err := rt.LoadCollection(spec)
			if err != nil {
				t.Fatalf("bpfvm: %v", err)
			}
			defer vc.Close()
			for _, e := range c.setup {
				if err := kc.Maps[e.m].Update(e.key, e.value, ebpf.UpdateAny); err != nil {
					t.Fatal(err)
				}
				if err := vc.Maps[e.m].Update(e.key, e.value, UpdateAny); err != nil {
					t.Fatal(err)
				}
			}
			var after func()
			if c.prepare != nil {
				after = c.prepare(t, kc, vc)
			}
			kp, vp := kc.Programs[c.prog], vc.Programs[c.prog]
			if kp == nil || vp == nil {
				t.Fatalf("program %s missing", c.prog)
			}
			if engine == JIT && runtime.GOARCH == "amd64" && vp.Engine() != JIT {
				t.Fatalf("program runs on %s, not the JIT", vp.Engine())
			}
			for i, in := range c.inputs {
				var ko, vo runOutput
				kopts := &ebpf.RunOptions{Data: in.data}
				vopts := &RunOptions{Data: in.data}
				if in.data != nil {
					kopts.DataOut, vopts.DataOut = make([]byte, 4096), make([]byte, 4096)
				}
				if in.ctx != nil && c.noCtxOut {
					kopts.Context, vopts.Context = in.ctx, in.ctx
				} else if in.ctx != nil {
					ko.ctxOut, vo.ctxOut = make([]byte, len(in.ctx)), make([]byte, len(in.ctx))
					kopts.Context, kopts.ContextOut = in.ctx, ko.ctxOut
					vopts.Context, vopts.ContextOut = in.ctx, vo.ctxOut
				}
				ko.ret, err = kp.Run(kopts)
				if err != nil {
					t.Fatalf("input %d: kernel run: %v", i, err)
				}
				vo.ret, err = vp.Run(vopts)
				if err != nil {
					t.Fatalf("input %d: bpfvm run: %v", i, err)
				}
				ko.dataOut, vo.dataOut = kopts.DataOut, vopts.DataOut
				if ko.ret != vo.ret || !bytes.Equal(ko.dataOut, vo.dataOut) || !bytes.Equal(ko.ctxOut, vo.ctxOut) {
					t.Errorf("input %d (%x):\nkernel %v\nbpfvm  %v", i, in.data, ko, vo)
				}
			}
			compareMaps(t, spec, kc, vc, c.ignoreMaps)
			if c.check != nil {
				c.check(t, kc, vc)
			}
			if after != nil {
				after()
			}
		})
	}
}

// compareMaps checks that every map holds the same entries in both. For
// per-CPU maps the values of each key are compared as a sorted list: the
// kernel runs on whichever CPU it likes.
func compareMaps(t *testing.T, spec *ebpf.CollectionSpec, kc *ebpf.Collection, vc *Collection, ignore []string) {
	t.Helper()
	for name, ms := range spec.Maps {
		switch ms.Type {
		case ebpf.ProgramArray, ebpf.RingBuf, ebpf.PerfEventArray, ebpf.ArrayOfMaps, ebpf.HashOfMaps:
			continue
		case ebpf.Queue, ebpf.Stack:
			// Pop everything from both.
			for {
				kv, vv := make([]byte, ms.ValueSize), make([]byte, ms.ValueSize)
				kerr := kc.Maps[name].LookupAndDelete(nil, kv)
				verr := vc.Maps[name].LookupAndDelete(nil, vv)
				if (kerr == nil) != (verr == nil) || !bytes.Equal(kv, vv) {
					t.Errorf("map %s pop: kernel %x %v, bpfvm %x %v", name, kv, kerr, vv, verr)
				}
				if kerr != nil || verr != nil {
					break
				}
			}
			continue
		}
		skip := false
		for _, n := range ignore {
			skip = skip || n == name
		}
		if skip {
			continue
		}
		km, vm := kc.Maps[name], vc.Maps[name]
		kent := kernelEntries(t, km)
		vent := bpfvmEntries(t, vm)
		if len(kent) != len(vent) {
			t.Errorf("map %s: kernel has %d entries, bpfvm %d", name, len(kent), len(vent))
		}
		perCPU := ms.Type == ebpf.PerCPUArray || ms.Type == ebpf.PerCPUHash || ms.Type == ebpf.LRUCPUHash
		for k, kv := range kent {
			vv, ok := vent[k]
			if !ok {
				t.Errorf("map %s: key %x missing in bpfvm", name, k)
				continue
			}
			if perCPU {
				kv, vv = sortedChunks(kv, int(ms.ValueSize)), sortedChunks(vv, int(ms.ValueSize))
			}
			if !bytes.Equal(kv, vv) {
				t.Errorf("map %s key %x:\nkernel %x\nbpfvm  %x", name, k, kv, vv)
			}
		}
	}
}

// pinToOneCPU keeps the test's thread, and so the kernel's test runs, on
// one CPU until the test ends: per-CPU maps are compared as a multiset of
// per-CPU values, which holds only if every kernel run of a case happened on
// the same CPU (bpfvm runs each on its configured CPU). Without it, the
// scheduler moving the thread between runs splits the kernel's counts.
func pinToOneCPU(t *testing.T) {
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		t.Logf("cannot read CPU affinity (%v): per-CPU maps may differ if the thread migrates", err)
		return
	}
	var one unix.CPUSet
	for cpu := 0; cpu < 1024; cpu++ {
		if old.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		runtime.UnlockOSThread()
		t.Logf("cannot pin to one CPU (%v): per-CPU maps may differ if the thread migrates", err)
		return
	}
	t.Cleanup(func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	})
}

func sortedChunks(b []byte, size int) []byte {
	stride := (size + 7) &^ 7
	var chunks []string
	for i := 0; i+stride <= len(b); i += stride {
		chunks = append(chunks, string(b[i:i+stride]))
	}
	sort.Strings(chunks)
	out := []byte{}
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

func kernelEntries(t *testing.T, m *ebpf.Map) map[string][]byte {
	out := map[string][]byte{}
	var k []byte
	for {
		next := make([]byte, m.KeySize())
		var err error
		if k == nil {
			err = m.NextKey(nil, next)
		} else {
			err = m.NextKey(k, next)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return out
		}
		if err != nil {
			t.Fatalf("kernel next key: %v", err)
		}
		v, err := m.LookupBytes(next)
		if err != nil {
			t.Fatalf("kernel lookup: %v", err)
		}
		out[string(next)] = v
		k = next
	}
}

func bpfvmEntries(t *testing.T, m *Map) map[string][]byte {
	out := map[string][]byte{}
	var k []byte
	for {
		next := make([]byte, m.KeySize())
		var err error
		if k == nil {
			err = m.NextKey(nil, next)
		} else {
			err = m.NextKey(k, next)
		}
		if errors.Is(err, ErrKeyNotExist) {
			return out
		}
		if err != nil {
			t.Fatalf("bpfvm next key: %v", err)
		}
		v := make([]byte, m.m.HostValueSize())
		if err := m.m.Lookup(next, v, 0); errors.Is(err, ErrKeyNotExist) {
			v = nil // an empty slot (DEVMAP), as LookupBytes reports it
		} else if err != nil {
			t.Fatalf("bpfvm lookup: %v", err)
		}
		out[string(next)] = v
		k = next
	}
}

// adjustRoomInputs are IPv4 packets of every length mod 8 (adjust_room.c
// picks its case by it), an IPv6 packet and an ARP one (-ENOTSUPP).
func adjustRoomInputs() []runInput {
	var in []runInput
	for n := 64; n < 72; n++ {
		p := make([]byte, n)
		copy(p, udpPkt)
		for i := len(udpPkt); i < n; i++ {
			p[i] = byte(i)
		}
		in = append(in, runInput{data: p})
	}
	return append(in, runInput{data: ipv6Pkt}, runInput{data: arpPkt})
}

// vlanInputs are untagged and tagged (one and two tags) frames of every
// length mod 4 (vlan.c picks its case by it).
func vlanInputs() []runInput {
	var in []runInput
	qinq := append(append(append([]byte(nil), vlanPkt[:12]...), 0x88, 0xa8, 0x00, 0x03), vlanPkt[12:]...)
	for _, base := range [][]byte{udpPkt, vlanPkt, qinq} {
		for n := 64; n < 68; n++ {
			p := make([]byte, n)
			copy(p, base)
			in = append(in, runInput{data: p})
		}
	}
	return in
}
