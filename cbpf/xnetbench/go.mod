module github.com/bpfvm/bpfvm/cbpf/xnetbench

go 1.26.0

require github.com/bpfvm/bpfvm v0.0.0

require (
	golang.org/x/net v0.55.0
	golang.org/x/sys v0.50.0
)

replace github.com/bpfvm/bpfvm => ../..
