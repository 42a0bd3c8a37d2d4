package bpfvm_test

import (
	"bytes"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm"
)

// frame returns an Ethernet/IPv4 frame from src.
func frame(src [4]byte) []byte {
	p := make([]byte, 60)
	p[12], p[13] = 0x08, 0x00
	p[14] = 0x45
	copy(p[26:], src[:])
	return p
}

func ExampleRuntime_LoadCollectionFile() {
	rt := bpfvm.NewRuntime()
	coll, err := rt.LoadCollectionFile("testdata/xdp_firewall.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	fmt.Println(coll.Programs["xdp_firewall"].Type(), coll.Maps["blocklist"].Type())
	// Output: xdp hash
}

func ExampleRuntime_LoadCollection() {
	// A spec from cilium/ebpf (or bpf2go) loads as is.
	spec, err := ebpf.LoadCollectionSpec("testdata/xdp_swap_mac.o")
	if err != nil {
		panic(err)
	}
	coll, err := bpfvm.NewRuntime().LoadCollection(spec)
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	pkt := frame([4]byte{1, 2, 3, 4})
	copy(pkt, []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2})
	opts := &bpfvm.RunOptions{Data: pkt, DataOut: make([]byte, 100)}
	ret, err := coll.Programs["xdp_swap_mac"].Run(opts)
	if err != nil {
		panic(err)
	}
	fmt.Printf("retval %d, destination now %x\n", ret, opts.DataOut[:6])
	// Output: retval 3, destination now 020202020202
}

func ExampleProgram_Run() {
	coll, err := bpfvm.NewRuntime().LoadCollectionFile("testdata/xdp_firewall.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	// Block 10.0.0.1, then send a packet from it and one from elsewhere.
	coll.Maps["blocklist"].Put([]byte{10, 0, 0, 1}, uint64(0))
	prog := coll.Programs["xdp_firewall"]
	for _, src := range [][4]byte{{10, 0, 0, 1}, {10, 0, 0, 2}} {
		ret, err := prog.Run(&bpfvm.RunOptions{Data: frame(src)})
		if err != nil {
			panic(err)
		}
		fmt.Println(src, map[uint32]string{1: "XDP_DROP", 2: "XDP_PASS"}[ret])
	}
	// Output:
	// [10 0 0 1] XDP_DROP
	// [10 0 0 2] XDP_PASS
}

func ExampleMap_Lookup() {
	rt := bpfvm.NewRuntime()
	m, err := rt.NewMap(&ebpf.MapSpec{Name: "counts", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		panic(err)
	}
	m.Put(uint32(7), uint64(42))
	var n uint64
	if err := m.Lookup(uint32(7), &n); err != nil {
		panic(err)
	}
	fmt.Println(n)
	err = m.Lookup(uint32(8), &n)
	fmt.Println(err != nil, bpfvm.Errno(err))
	// Output:
	// 42
	// true 2
}

func ExampleMap_Iterate() {
	m, _ := bpfvm.NewRuntime().NewMap(&ebpf.MapSpec{Name: "a", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 3})
	m.Put(uint32(1), uint32(10))
	var k, v uint32
	it := m.Iterate()
	for it.Next(&k, &v) {
		fmt.Println(k, v)
	}
	// Output:
	// 0 0
	// 1 10
	// 2 0
}

func ExampleNewTypedMap() {
	m, _ := bpfvm.NewRuntime().NewMap(&ebpf.MapSpec{Name: "t", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: 4})
	counts := bpfvm.NewTypedMap[uint32, uint64](m)
	counts.Update(1, 100, bpfvm.UpdateAny)
	v, err := counts.Lookup(1)
	fmt.Println(v, err)
	// Output: 100 <nil>
}

func ExampleNewHook() {
	coll, err := bpfvm.NewRuntime().LoadCollectionFile("testdata/xdp_firewall.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	hook := bpfvm.NewHook("ingress", bpfvm.XDP)
	if err := hook.Attach(coll.Programs["xdp_firewall"]); err != nil {
		panic(err)
	}
	for _, v := range hook.Fire(frame([4]byte{192, 0, 2, 1}), nil) {
		fmt.Println(v.Program.Name(), v.Retval, v.Err)
	}
	// Output: xdp_firewall 2 <nil>
}

func ExampleWithTraceOutput() {
	var trace bytes.Buffer
	// WithoutVerifier: the verifier has no prototype for bpf_snprintf
	// yet; the program runs with every runtime check on.
	coll, err := bpfvm.NewRuntime(bpfvm.WithTraceOutput(&trace), bpfvm.WithoutVerifier()).LoadCollectionFile("testdata/snprintf.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	coll.Programs["snprintf_prog"].Run(&bpfvm.RunOptions{Data: frame([4]byte{})})
	fmt.Print(trace.String())
	// Output: hello 5
}

func ExampleMap_RingBufReader() {
	coll, err := bpfvm.NewRuntime().LoadCollectionFile("testdata/ringbuf.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	rd, err := coll.Maps["events"].RingBufReader()
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	coll.Programs["ringbuf"].Run(&bpfvm.RunOptions{Data: frame([4]byte{1, 2, 3, 4})})
	for {
		rec, ok := rd.TryRead()
		if !ok {
			break
		}
		fmt.Printf("%d-byte record %x\n", len(rec), rec[:4])
	}
	// Output:
	// 16-byte record 3c000000
	// 4-byte record 0100edfe
}
