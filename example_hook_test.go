package bpfvm_test

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/bpfvm/bpfvm"
)

// A hook standing for a function, with one program attached twice under
// different cookies: each attachment's program sees its own cookie, as
// kprobes attached with bpf_link_create's cookies do.
func ExampleHook_AttachWithCookie() {
	rt := bpfvm.NewRuntime()
	load := func() *bpfvm.Program {
		coll, err := rt.LoadCollection(&ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
			"cookie": {Name: "cookie", Type: ebpf.Kprobe, License: "GPL",
				Instructions: asm.Instructions{asm.FnGetAttachCookie.Call(), asm.Return()}},
		}})
		if err != nil {
			panic(err)
		}
		return coll.Programs["cookie"]
	}
	h := bpfvm.NewHook("kprobe/handle_request", bpfvm.Kprobe)
	h.SetFuncIP(0xffffffff81234560)
	for _, c := range []uint64{7, 42} {
		if err := h.AttachWithCookie(load(), c); err != nil {
			panic(err)
		}
	}
	regs := make([]byte, 168) // the context the programs get (pt_regs)
	for _, v := range h.Fire(nil, regs) {
		fmt.Println(v.Retval, v.Err)
	}
	// Output:
	// 7 <nil>
	// 42 <nil>
}

// A Runner holds a machine for one goroutine: runs skip the pool.
func ExampleProgram_NewRunner() {
	coll, err := bpfvm.NewRuntime().LoadCollectionFile("testdata/xdp_pass.o")
	if err != nil {
		panic(err)
	}
	defer coll.Close()
	r, err := coll.Programs["xdp_pass"].NewRunner()
	if err != nil {
		panic(err)
	}
	defer r.Close()
	pkt := make([]byte, 60)
	for i := 0; i < 3; i++ {
		ret, err := r.Run(&bpfvm.RunOptions{Data: pkt})
		fmt.Println(ret, err)
	}
	// Output:
	// 2 <nil>
	// 2 <nil>
	// 2 <nil>
}
