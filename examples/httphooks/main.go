// Command httphooks is an HTTP server that runs user-supplied eBPF
// programs at a request hook, the way proxies run WebAssembly filters:
// each program sees a struct describing the request and returns 0 to let
// it through or an HTTP status to refuse it. Per-client state lives in
// eBPF maps the server can read.
package main

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm"
)

//go:embed bpf/hooks.o
var object []byte

// request is struct request of hooks.c.
type request struct {
	Client  [4]byte
	Method  uint32
	PathLen uint32
	Path    [64]byte
}

// Filters runs the attached programs before a handler.
type Filters struct {
	Hook *bpfvm.Hook
	Coll *bpfvm.Collection
	Next http.Handler
}

// LoadFilters loads hooks.o with a request limit per client and attaches
// its programs.
func LoadFilters(limit uint64, next http.Handler) (*Filters, error) {
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(object))
	if err != nil {
		return nil, err
	}
	// .rodata constants are set before load, as with the kernel.
	if err := spec.Variables["limit"].Set(limit); err != nil {
		return nil, err
	}
	coll, err := bpfvm.NewRuntime().LoadCollection(spec)
	if err != nil {
		return nil, err
	}
	hook := bpfvm.NewHook("http-request", bpfvm.Syscall)
	for _, name := range []string{"deny_admin", "rate_limit"} {
		if err := hook.Attach(coll.Programs[name]); err != nil {
			return nil, err
		}
	}
	return &Filters{Hook: hook, Coll: coll, Next: next}, nil
}

func (f *Filters) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req request
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host).To4(); ip != nil {
		copy(req.Client[:], ip)
	}
	switch r.Method {
	case http.MethodGet:
		req.Method = 1
	case http.MethodPost:
		req.Method = 2
	default:
		req.Method = 3
	}
	req.PathLen = uint32(copy(req.Path[:], r.URL.Path))
	for _, v := range f.Hook.Fire(nil, &req) {
		if v.Err != nil {
			http.Error(w, "filter failed: "+v.Err.Error(), http.StatusInternalServerError)
			return
		}
		if v.Retval != 0 {
			http.Error(w, fmt.Sprintf("refused by %s", v.Program.Name()), int(v.Retval))
			return
		}
	}
	f.Next.ServeHTTP(w, r)
}

// Requests returns how many requests the rate limiter counted for client.
func (f *Filters) Requests(client [4]byte) uint64 {
	var n uint64
	f.Coll.Maps["requests"].Lookup(binary.LittleEndian.Uint32(client[:]), &n)
	return n
}

func main() {
	f, err := LoadFilters(10, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from", strings.TrimPrefix(r.URL.Path, "/"))
	}))
	if err != nil {
		log.Fatal(err)
	}
	log.Println("listening on :8080")
	log.Fatal(http.ListenAndServe(":8080", f))
}
