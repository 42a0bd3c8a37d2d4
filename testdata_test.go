package bpfvm

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cilium/ebpf"
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
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// packet builds an Ethernet/IPv4/UDP or TCP frame.
func packet(dstMAC byte, proto uint8, src, dst [4]byte, payload int) []byte {
	p := make([]byte, 14+20+8+payload)
	p[0] = dstMAC
	p[6], p[11] = 0x02, 0x07
	binary.BigEndian.PutUint16(p[12:], 0x0800)
	ip := p[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+payload))
	ip[8], ip[9] = 64, proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	for i := range payload {
		p[42+i] = byte(i * 7)
	}
	return p
}

var (
	udpPkt   = packet(0, 17, [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 16)
	tcpPkt   = packet(0, 6, [4]byte{192, 168, 1, 1}, [4]byte{10, 0, 0, 2}, 30)
	bcastPkt = func() []byte {
		p := packet(0xff, 17, [4]byte{1, 2, 3, 4}, [4]byte{5, 6, 7, 8}, 4)
		copy(p, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		return p
	}()
	otherPkt = packet(0x02, 6, [4]byte{9, 9, 9, 9}, [4]byte{5, 6, 7, 8}, 64)
	arpPkt   = func() []byte { p := make([]byte, 42); binary.BigEndian.PutUint16(p[12:], 0x0806); return p }()
	allPkts  = []runInput{{data: udpPkt}, {data: tcpPkt}, {data: bcastPkt}, {data: otherPkt}, {data: arpPkt}}
)

func skbCtx(mark, priority uint32, cb0 uint32) []byte {
	c := make([]byte, 192)
	binary.LittleEndian.PutUint32(c[8:], mark)
	binary.LittleEndian.PutUint32(c[32:], priority)
	binary.LittleEndian.PutUint32(c[48:], cb0)
	return c
}

var progCases = []progCase{
	{obj: "xdp_pass.o", prog: "xdp_pass", inputs: allPkts},
	{obj: "xdp_firewall.o", prog: "xdp_firewall", inputs: allPkts,
		setup: []mapEntry{{"blocklist", []byte{192, 168, 1, 1}, le64(0)}, {"blocklist", []byte{9, 9, 9, 9}, le64(5)}}},
	{obj: "xdp_swap_mac.o", prog: "xdp_swap_mac", inputs: allPkts},
	{obj: "xdp_adjust.o", prog: "xdp_adjust", inputs: allPkts},
	{obj: "tc_fields.o", prog: "tc_fields", inputs: []runInput{
		{data: udpPkt}, {data: bcastPkt, ctx: skbCtx(5, 3, 99)}, {data: otherPkt, ctx: skbCtx(0, 0, 0)}, {data: arpPkt, ctx: skbCtx(1, 1, 1)},
	}},
	{obj: "socket_filter.o", prog: "socket_filter", inputs: []runInput{{data: udpPkt}, {data: tcpPkt}, {data: otherPkt, ctx: skbCtx(3, 0, 7)}}},
	{obj: "hash_ops.o", prog: "hash_ops", inputs: []runInput{{data: udpPkt}, {data: udpPkt}}},
	{obj: "global_data.o", prog: "global_data", inputs: allPkts},
	{obj: "bpf2bpf.o", prog: "bpf2bpf", inputs: allPkts},
	{obj: "tail_call.o", prog: "tail_entry", inputs: allPkts[:2]},
	{obj: "loops.o", prog: "loops", inputs: []runInput{{data: udpPkt}, {data: []byte{5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}}, {data: bcastPkt}}},
	{obj: "for_each.o", prog: "for_each", inputs: allPkts[:3]},
}

// kernelRun is a kernel collection for a case, or nil when bpf() is
// unavailable.
func kernelCollection(t *testing.T, spec *ebpf.CollectionSpec) *ebpf.Collection {
	t.Helper()
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, ebpf.ErrNotSupported) {
			t.Skipf("kernel oracle unavailable (bpf() needs root on Linux): %v", err)
		}
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
	for _, c := range progCases {
		t.Run(c.prog, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec(filepath.Join("testdata", c.obj))
			if err != nil {
				t.Fatal(err)
			}
			kc := kernelCollection(t, spec)
			ncpu, err := ebpf.PossibleCPU()
			if err != nil {
				t.Fatal(err)
			}
			rt := NewRuntime(WithNumCPU(ncpu))
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
			kp, vp := kc.Programs[c.prog], vc.Programs[c.prog]
			if kp == nil || vp == nil {
				t.Fatalf("program %s missing", c.prog)
			}
			for i, in := range c.inputs {
				var ko, vo runOutput
				kopts := &ebpf.RunOptions{Data: in.data, DataOut: make([]byte, 4096)}
				vopts := &RunOptions{Data: in.data, DataOut: make([]byte, 4096)}
				if in.ctx != nil {
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
		if err := m.m.Lookup(next, v, 0); err != nil {
			t.Fatalf("bpfvm lookup: %v", err)
		}
		out[string(next)] = v
		k = next
	}
}
