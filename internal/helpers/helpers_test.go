package helpers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/bpfvm/bpfvm/asm"
	"github.com/bpfvm/bpfvm/internal/interp"
	"github.com/bpfvm/bpfvm/internal/maps"
)

// env is a test harness: a host with a registry, and a way to run
// assembly against a fresh State.
type env struct {
	t     *testing.T
	host  *Host
	trace bytes.Buffer
}

func newEnv(t *testing.T) *env {
	e := &env{t: t}
	e.host = &Host{Registry: maps.NewRegistry(), NumCPU: 2, Seed: 42, Trace: &e.trace,
		Task: Task{PID: 7, TGID: 9, UID: 1000, GID: 100, Comm: "bpfvm-test-process", CgroupID: 77}}
	return e
}

// newMap creates and registers a map and returns it with its handle.
func (e *env) newMap(spec maps.Spec) (maps.Map, uint64) {
	e.t.Helper()
	spec.SpinLockOffset = -1
	spec.Registry = e.host.Registry
	if spec.NumCPU == 0 {
		spec.NumCPU = e.host.NumCPU
	}
	m, err := maps.New(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return m, maps.Handle(e.host.Registry.AddMap(m))
}

// run assembles src (with {name} placeholders replaced by vars) and runs
// it once on mem with a State on cpu.
func (e *env) run(src string, vars map[string]uint64, cpu int, mem []byte) (uint64, *State, error) {
	e.t.Helper()
	for k, v := range vars {
		src = strings.ReplaceAll(src, "{"+k+"}", fmt.Sprint(v))
	}
	insns, err := asm.Assemble(src)
	if err != nil {
		e.t.Fatalf("assemble: %v", err)
	}
	s := NewState(e.host, cpu)
	p, err := interp.Load(insns, interp.Options{Helpers: s.Helpers()})
	if err != nil {
		e.t.Fatalf("load: %v", err)
	}
	s.Reset()
	r0, err := p.NewVM().Run(mem)
	s.EndRun()
	return r0, s, err
}

// counter increments the u64 at key 0 of a map, creating it with 1.
const counter = `
	stw [%r10-4], 0
	lddw %r1, {map}
	mov %r2, %r10
	add %r2, -4
	call 1
	jeq %r0, 0, create
	ldxdw %r1, [%r0]
	add %r1, 1
	stxdw [%r0], %r1
	mov %r0, 0
	exit
create:
	stdw [%r10-16], 1
	lddw %r1, {map}
	mov %r2, %r10
	add %r2, -4
	mov %r3, %r10
	add %r3, -16
	mov %r4, 1
	call 2
	exit
`

func TestMapHelpers(t *testing.T) {
	e := newEnv(t)
	for _, typ := range []maps.Type{maps.Hash, maps.Array, maps.PerCPUHash, maps.PerCPUArray, maps.LRUHash} {
		m, h := e.newMap(maps.Spec{Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 4})
		for i := 0; i < 3; i++ {
			r0, _, err := e.run(counter, map[string]uint64{"map": h}, 1, nil)
			if err != nil || r0 != 0 {
				t.Fatalf("%s run %d: r0=%d err=%v", typ, i, int64(r0), err)
			}
		}
		v := make([]byte, m.HostValueSize())
		if err := m.Lookup(make([]byte, 4), v, 0); err != nil {
			t.Fatal(err)
		}
		want := uint64(3)
		if typ == maps.Array || typ == maps.PerCPUArray {
			want = 3 // arrays start at 0 and are incremented every time
		}
		got := binary.LittleEndian.Uint64(v[len(v)-8:]) // CPU 1's value for per-CPU maps
		if typ == maps.Hash || typ == maps.Array || typ == maps.LRUHash {
			got = binary.LittleEndian.Uint64(v)
		}
		if got != want {
			t.Errorf("%s: counter = %d, want %d (value %x)", typ, got, want, v)
		}
	}
}

func TestMapUpdateErrnos(t *testing.T) {
	e := newEnv(t)
	_, h := e.newMap(maps.Spec{Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	// BPF_EXIST on an absent key: -ENOENT in r0; delete of an absent key
	// too.
	src := `
	stw [%r10-4], 5
	stdw [%r10-16], 1
	lddw %r1, {map}
	mov %r2, %r10
	add %r2, -4
	mov %r3, %r10
	add %r3, -16
	mov %r4, {flags}
	call 2
	exit`
	for _, c := range []struct {
		flags uint64
		want  int64
	}{{2, -2}, {1, 0}, {1, -17}, {2, 0}, {4, -22}, {3, -22}} {
		flags, want := c.flags, c.want
		r0, _, err := e.run(src, map[string]uint64{"map": h, "flags": flags}, 0, nil)
		if err != nil || int64(r0) != want {
			t.Errorf("update flags %d: r0=%d err=%v, want %d", flags, int64(r0), err, want)
		}
	}
	// A bad map pointer fails the run, naming the helper.
	_, _, err := e.run(src, map[string]uint64{"map": 0x1234, "flags": 0}, 0, nil)
	if err == nil || !errors.Is(err, errBadMap) {
		t.Errorf("bad map pointer: %v", err)
	}
}

func TestPrandomSeeded(t *testing.T) {
	e := newEnv(t)
	seq := func(cpu int) []uint64 {
		s := NewState(e.host, cpu)
		var out []uint64
		for i := 0; i < 5; i++ {
			v, _ := s.getPrandomU32(nil, 0, 0, 0, 0, 0)
			out = append(out, v)
		}
		return out
	}
	a, b, c := seq(0), seq(0), seq(1)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("same seed and CPU, different streams: %v %v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Errorf("different CPUs share a stream: %v", a)
	}
	for _, v := range a {
		if v>>32 != 0 {
			t.Errorf("get_prandom_u32 returned %#x, more than 32 bits", v)
		}
	}
}

func TestTracePrintk(t *testing.T) {
	e := newEnv(t)
	// fmt "n=%d %s!" at r10-32, the string "hi" at r10-40.
	fmtStr := "n=%d %s!\x00"
	src := ""
	for i := 0; i < len(fmtStr); i++ {
		src += fmt.Sprintf("stb [%%r10-%d], %d\n", 32-i, fmtStr[i])
	}
	src += `stb [%r10-40], 104
	stb [%r10-39], 105
	stb [%r10-38], 0
	mov %r1, %r10
	add %r1, -32
	mov %r2, ` + fmt.Sprint(len(fmtStr)) + `
	mov %r3, -5
	mov %r4, %r10
	add %r4, -40
	call 6
	exit`
	r0, _, err := e.run(src, nil, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.trace.String(); got != "n=-5 hi!\n" {
		t.Errorf("trace output %q", got)
	}
	if r0 != uint64(len("n=-5 hi!")) {
		t.Errorf("r0 = %d, want the message length", r0)
	}
}

func TestFormat(t *testing.T) {
	s := NewState(&Host{}, 0)
	cases := []struct {
		f    string
		args []uint64
		want string
		err  maps.Errno
	}{
		{"%d %u %x", []uint64{0xffffffff, 0xffffffff, 0x1ffff}, "-1 4294967295 1ffff", 0},
		{"%ld %lu %llx %lld", []uint64{^uint64(0), ^uint64(0), 0xdeadbeef12, 7}, "-1 18446744073709551615 deadbeef12 7", 0},
		{"[%5d|%-3d|%05u]", []uint64{42, 7, 9}, "[   42|7  |00009]", 0},
		{"%c%c 100%%", []uint64{'o', 'k'}, "ok 100%", 0},
		{"%X", []uint64{0xabc}, "ABC", 0},
		{"%q", []uint64{1}, "", maps.EINVAL},
		{"%.3d", []uint64{1}, "", maps.EINVAL},
		{"%d %d", []uint64{1}, "", maps.EINVAL},
		{"%hd", []uint64{1}, "", maps.EINVAL},
		{"bad\x01", nil, "", maps.EINVAL},
		{"%", nil, "", maps.EINVAL},
	}
	for _, c := range cases {
		got, e := s.format(nil, c.f, c.args)
		if got != c.want || e != c.err {
			t.Errorf("format(%q, %v) = %q, %d; want %q, %d", c.f, c.args, got, e, c.want, c.err)
		}
	}
}

func TestStrtoull(t *testing.T) {
	cases := []struct {
		in    string
		flags uint64
		n     int
		v     uint64
		neg   bool
		err   maps.Errno
	}{
		{"123abc", 10, 3, 123, false, 0},
		{"  -42", 0, 5, 42, true, 0},
		{"0x1f", 0, 4, 31, false, 0},
		{"0x1f", 16, 4, 31, false, 0},
		{"0x", 0, 1, 0, false, 0}, // octal 0, then 'x' stops
		{"017", 0, 3, 15, false, 0},
		{"ff", 16, 2, 255, false, 0},
		{"abc", 10, 0, 0, false, maps.EINVAL},
		{"1", 7, 0, 0, false, maps.EINVAL},
		{"1", 1 << 5, 0, 0, false, maps.EINVAL},
		{"   ", 0, 0, 0, false, maps.EINVAL},
		{"99999999999999999999", 10, 0, 0, false, eRANGE},
		{"12\x0034", 10, 2, 12, false, 0},
	}
	for _, c := range cases {
		n, v, neg, err := strtoull([]byte(c.in), c.flags)
		if n != c.n || v != c.v || neg != c.neg || err != c.err {
			t.Errorf("strtoull(%q, %d) = %d %d %v %d; want %d %d %v %d", c.in, c.flags, n, v, neg, err, c.n, c.v, c.neg, c.err)
		}
	}
}

func TestCsum(t *testing.T) {
	// The kernel selftest csum_diff_test: pushing 0xdeadbeefdeadbeef
	// with seed 0 gives 0x3b3b.
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, 0xdeadbeefdeadbeef)
	if got := from32to16(csumPartial(b, 0)); got != 0x3b3b {
		t.Errorf("csum of deadbeefdeadbeef = %#x, want 0x3b3b", got)
	}
	// RFC 1071 example: the IPv4 header checksum of a known packet.
	hdr := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	sum := csumFold(csumPartial(hdr, 0))
	// Sums run on little-endian loads: b8 61 on the wire reads 0x61b8.
	if sum != 0x61b8 {
		t.Errorf("IPv4 header checksum %#04x, want 0x61b8 (b8 61 on the wire)", sum)
	}
	// l3_csum_replace keeps a header's checksum valid when a field
	// changes.
	binary.BigEndian.PutUint16(hdr[10:], 0xb861)
	s := NewState(&Host{}, 0)
	s.Packet = &Packet{Buf: hdr, Data: 0, End: len(hdr)}
	old := binary.LittleEndian.Uint32(hdr[12:])
	copy(hdr[12:], []byte{10, 0, 0, 1})
	nw := binary.LittleEndian.Uint32(hdr[12:])
	if r, _ := s.l3CsumReplace(nil, 0, 10, uint64(old), uint64(nw), 4); r != 0 {
		t.Fatalf("l3_csum_replace returned %d", int64(r))
	}
	check := append([]byte(nil), hdr...)
	if f := csumFold(csumPartial(check, 0)); f != 0 {
		t.Errorf("checksum after l3_csum_replace does not verify: fold = %#x", f)
	}
	// Same through the 2-byte form: change the TTL/protocol word.
	oldw := binary.LittleEndian.Uint16(hdr[8:])
	hdr[8] = 0x3f
	neww := binary.LittleEndian.Uint16(hdr[8:])
	s.l3CsumReplace(nil, 0, 10, uint64(oldw), uint64(neww), 2)
	if f := csumFold(csumPartial(hdr, 0)); f != 0 {
		t.Errorf("checksum after 2-byte l3_csum_replace does not verify: fold = %#x", f)
	}
	if r, _ := s.l3CsumReplace(nil, 0, 11, 0, 0, 2); int64(r) != -14 {
		t.Errorf("odd offset: %d, want -EFAULT", int64(r))
	}
}

func TestTailCall(t *testing.T) {
	e := newEnv(t)
	pa, h := e.newMap(maps.Spec{Type: maps.ProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 2})
	target := "target program"
	id := e.host.Registry.AddProgram(target)
	if err := pa.Update([]byte{1, 0, 0, 0}, binary.LittleEndian.AppendUint32(nil, id), 0); err != nil {
		t.Fatal(err)
	}
	src := `
	lddw %r2, {map}
	mov %r3, {idx}
	call 12
	mov %r0, 99
	exit`
	r0, _, err := e.run(src, map[string]uint64{"map": h, "idx": 0}, 0, nil)
	if err != nil || r0 != 99 {
		t.Fatalf("tail call to an empty slot: r0=%d err=%v, want fall-through", r0, err)
	}
	_, _, err = e.run(src, map[string]uint64{"map": h, "idx": 1}, 0, nil)
	var tc *TailCallRequest
	if !errors.As(err, &tc) || tc.Program != target {
		t.Fatalf("tail call: %v", err)
	}
}

func TestLoopAndForEach(t *testing.T) {
	e := newEnv(t)
	// bpf_loop(10, cb, &sum on stack, 0); cb adds i to *ctx; r0 = sum.
	// Slot 8 is the callback.
	src := `
	stdw [%r10-8], 0
	mov %r1, 10
	lddw %r2, {cb}
	mov %r3, %r10
	add %r3, -8
	mov %r4, 0
	call 181
	ldxdw %r0, [%r10-8]
	exit
	ldxdw %r3, [%r2]
	add %r3, %r1
	stxdw [%r2], %r3
	mov %r0, 0
	exit`
	r0, _, err := e.run(src, map[string]uint64{"cb": FuncPointer(10)}, 0, nil)
	if err != nil || r0 != 45 {
		t.Fatalf("bpf_loop sum = %d, err %v; want 45", r0, err)
	}
	m, h := e.newMap(maps.Spec{Type: maps.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 8})
	for k := uint32(1); k <= 4; k++ {
		v := make([]byte, 8)
		binary.LittleEndian.PutUint64(v, uint64(k*10))
		m.Update(binary.LittleEndian.AppendUint32(nil, k), v, 0)
	}
	// for_each_map_elem(map, cb, &sum, 0): cb(map, key, value, ctx) adds
	// *value to *ctx; r0 = elements visited + 1000*sum.
	src = `
	stdw [%r10-8], 0
	lddw %r1, {map}
	lddw %r2, {cb}
	mov %r3, %r10
	add %r3, -8
	mov %r4, 0
	call 164
	ldxdw %r1, [%r10-8]
	mul %r1, 1000
	add %r0, %r1
	exit
	ldxdw %r1, [%r3]
	ldxdw %r2, [%r4]
	add %r2, %r1
	stxdw [%r4], %r2
	mov %r0, 0
	exit`
	r0, _, err = e.run(src, map[string]uint64{"map": h, "cb": FuncPointer(13)}, 0, nil)
	if err != nil || r0 != 4+1000*100 {
		t.Fatalf("for_each_map_elem: r0 = %d, err %v; want 100004", r0, err)
	}
}

func TestRingbufFromProgram(t *testing.T) {
	e := newEnv(t)
	m, h := e.newMap(maps.Spec{Type: maps.RingBuf, MaxEntries: 4096})
	r, _ := maps.NewRingReader(m)
	src := `
	lddw %r1, {map}
	mov %r2, 8
	mov %r3, 0
	call 131
	jeq %r0, 0, fail
	lddw %r1, 0x0102030405060708
	stxdw [%r0], %r1
	mov %r1, %r0
	mov %r2, 0
	call 132
	mov %r0, 1
	exit
fail:
	mov %r0, 0
	exit`
	r0, _, err := e.run(src, map[string]uint64{"map": h}, 0, nil)
	if err != nil || r0 != 1 {
		t.Fatalf("r0=%d err=%v", r0, err)
	}
	d, ok := r.TryRead()
	if !ok || binary.LittleEndian.Uint64(d) != 0x0102030405060708 {
		t.Fatalf("record %x %v", d, ok)
	}
	// A run that reserves and fails does not block the ring.
	src = `
	lddw %r1, {map}
	mov %r2, 8
	mov %r3, 0
	call 131
	ldxdw %r0, [%r1]
	exit`
	if _, _, err := e.run(src, map[string]uint64{"map": h}, 0, nil); err == nil {
		t.Fatal("wild read succeeded")
	}
	m.(maps.RingBuffer).Output([]byte{9}, 0)
	if d, ok := r.TryRead(); !ok || d[0] != 9 {
		t.Fatal("ring blocked by a failed run's reservation")
	}
}

func TestTaskAndProbeRead(t *testing.T) {
	e := newEnv(t)
	e.host.Memory = []MemoryRegion{{Addr: 0xffff8880_00001000, Data: []byte("kernel memory!\x00")}}
	src := `
	call 14
	mov %r6, %r0
	mov %r1, %r10
	add %r1, -16
	mov %r2, 8
	call 16
	ldxdw %r7, [%r10-16]
	mov %r1, %r10
	add %r1, -32
	mov %r2, 6
	lddw %r3, 0xffff888000001000
	call 113
	ldxdw %r8, [%r10-32]
	mov %r1, %r10
	add %r1, -32
	mov %r2, 8
	mov %r3, 16
	call 113
	mov %r9, %r0
	stxdw [%r10-8], %r6
	stxdw [%r10-16], %r7
	stxdw [%r10-24], %r8
	stxdw [%r10-40], %r9
	ldxdw %r0, [%r10-8]
	exit`
	insns, err := asm.Assemble(src)
	if err != nil {
		t.Fatal(err)
	}
	s := NewState(e.host, 0)
	p, err := interp.Load(insns, interp.Options{Helpers: s.Helpers()})
	if err != nil {
		t.Fatal(err)
	}
	r0, err := p.NewVM().Run(nil)
	if err != nil || r0 != 9<<32|7 {
		t.Fatalf("pid_tgid = %#x, err %v", r0, err)
	}
	// comm truncated to 7 bytes + NUL; probe_read_kernel of 6 bytes.
	comm := make([]byte, 8)
	s2 := NewState(e.host, 0)
	fake := &memEnv{buf: comm}
	s2.getCurrentComm(fake, fake.addr(), 8, 0, 0, 0)
	if string(comm) != "bpfvm-t\x00" {
		t.Errorf("comm %q", comm)
	}
	dst := make([]byte, 6)
	fe := &memEnv{buf: dst}
	if r, _ := s2.probeRead(fe, fe.addr(), 6, 0xffff888000001000, 0, 0); r != 0 || string(dst) != "kernel" {
		t.Errorf("probe_read_kernel = %d %q", int64(r), dst)
	}
	if r, _ := s2.probeRead(fe, fe.addr(), 6, 16, 0, 0); int64(r) != -14 || !bytes.Equal(dst, make([]byte, 6)) {
		t.Errorf("probe_read of a bad address = %d %q, want -EFAULT and zeroes", int64(r), dst)
	}
	str := make([]byte, 32)
	fs := &memEnv{buf: str}
	if r, _ := s2.probeReadStr(fs, fs.addr(), 32, 0xffff888000001000, 0, 0); r != 15 || string(str[:15]) != "kernel memory!\x00" {
		t.Errorf("probe_read_kernel_str = %d %q", r, str)
	}
}

func TestStacks(t *testing.T) {
	e := newEnv(t)
	e.host.Task.KernelStack = []uint64{0xffffffff81000010, 0xffffffff81000020, 0xffffffff81000030}
	e.host.Task.UserStack = []uint64{0x401000}
	m, h := e.newMap(maps.Spec{Type: maps.StackTrace, KeySize: 4, ValueSize: 16, MaxEntries: 8})
	s := NewState(e.host, 0)
	id, _ := s.getStackid(nil, 0, h, 0, 0, 0)
	id2, _ := s.getStackid(nil, 0, h, 0, 0, 0)
	if int64(id) < 0 || id != id2 {
		t.Fatalf("stack ids %d %d", int64(id), int64(id2))
	}
	v := make([]byte, 16)
	if err := m.Lookup(binary.LittleEndian.AppendUint32(nil, uint32(id)), v, 0); err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint64(v) != 0xffffffff81000010 || binary.LittleEndian.Uint64(v[8:]) != 0xffffffff81000020 {
		t.Errorf("stored stack %x (truncated to 2 frames)", v)
	}
	if r, _ := s.getStackid(nil, 0, h, 5, 0, 0); int64(r) != -14 {
		t.Errorf("skipping past the stack: %d, want -EFAULT", int64(r))
	}
	buf := make([]byte, 32)
	fe := &memEnv{buf: buf}
	if r, _ := s.getStack(fe, 0, fe.addr(), 32, 1, 0); r != 16 || binary.LittleEndian.Uint64(buf) != 0xffffffff81000020 {
		t.Errorf("get_stack skip 1: %d %x", r, buf)
	}
	if r, _ := s.getStack(fe, 0, fe.addr(), 32, 1<<8, 0); r != 8 || binary.LittleEndian.Uint64(buf) != 0x401000 {
		t.Errorf("get_stack user: %d %x", r, buf)
	}
	if r, _ := s.getStack(fe, 0, fe.addr(), 12, 0, 0); int64(r) != -22 {
		t.Errorf("get_stack of 12 bytes: %d, want -EINVAL", int64(r))
	}
}

func TestCurrentTaskUnderCgroup(t *testing.T) {
	e := newEnv(t)
	e.host.Task.CgroupID = 77
	e.host.Task.CgroupAncestors = []uint64{1, 5}
	m, h := e.newMap(maps.Spec{Type: maps.CgroupArray, KeySize: 4, ValueSize: 4, MaxEntries: 4})
	m.Update([]byte{0, 0, 0, 0}, binary.LittleEndian.AppendUint32(nil, 77), 0)
	m.Update([]byte{1, 0, 0, 0}, binary.LittleEndian.AppendUint32(nil, 5), 0)
	m.Update([]byte{2, 0, 0, 0}, binary.LittleEndian.AppendUint32(nil, 9), 0)
	s := NewState(e.host, 0)
	for idx, want := range []int64{1, 1, 0, -11, -7} {
		if r, err := s.currentTaskUnderCgroup(nil, h, uint64(idx), 0, 0, 0); err != nil || int64(r) != want {
			t.Errorf("slot %d: %d %v, want %d", idx, int64(r), err, want)
		}
	}
}

func TestFibLookup(t *testing.T) {
	e := newEnv(t)
	e.host.Routes = []Route{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Ifindex: 2, Gateway: netip.MustParseAddr("10.0.0.1"), SrcMAC: [6]byte{2, 0, 0, 0, 0, 2}, DstMAC: [6]byte{2, 0, 0, 0, 0, 1}},
		{Prefix: netip.MustParsePrefix("10.9.0.0/16"), Ifindex: 3, SrcMAC: [6]byte{2, 0, 0, 0, 0, 3}},
		{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Blackhole: true},
	}
	s := NewState(e.host, 0)
	params := make([]byte, 64)
	fe := &memEnv{buf: params}
	lookup := func(dst string) (int64, []byte) {
		clear(params)
		params[0] = 2
		a := netip.MustParseAddr(dst).As4()
		copy(params[32:], a[:])
		r, err := s.fibLookup(fe, 0, fe.addr(), 64, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return int64(r), params
	}
	if r, p := lookup("10.1.2.3"); r != 0 || p[8] != 2 || !bytes.Equal(p[32:36], []byte{10, 0, 0, 1}) || p[63] != 1 {
		t.Errorf("10.1.2.3: %d %x", r, p)
	}
	if r, p := lookup("10.9.1.1"); r != 7 || p[8] != 3 {
		t.Errorf("10.9.1.1 (no neighbour): %d %x", r, p)
	}
	if r, _ := lookup("192.0.2.7"); r != 1 {
		t.Errorf("blackhole: %d", r)
	}
	if r, _ := lookup("8.8.8.8"); r != 4 {
		t.Errorf("no route: %d", r)
	}
	params[0] = 99
	if r, _ := s.fibLookup(fe, 0, fe.addr(), 64, 0, 0); int64(r) != -97 {
		t.Errorf("bad family: %d", int64(r))
	}
	if r, _ := s.fibLookup(fe, 0, fe.addr(), 32, 0, 0); int64(r) != -22 {
		t.Errorf("short params: %d", int64(r))
	}
}

// TestImplemented pins the helpers programs can call.
func TestImplemented(t *testing.T) {
	for _, id := range []int32{MapLookupElem, MapUpdateElem, MapDeleteElem, TailCall, RingbufReserve, PerfEventOutput,
		ProbeReadKernel, GetCurrentPidTgid, KtimeGetNs, TracePrintk, RedirectMap, FibLookup, SkbChangeTail,
		CurrentTaskUnderCgroup, GetStackid, GetStack, Loop, ForEachMapElem, Snprintf, Strtol, CsumDiff} {
		if !Implemented(id) {
			t.Errorf("helper %d is not implemented", id)
		}
	}
	if Implemented(9999) {
		t.Error("helper 9999 reported as implemented")
	}
}
