module github.com/bpfvm/bpfvm/cbpf/xnetbench

go 1.26.0

require github.com/bpfvm/bpfvm v0.0.0

require golang.org/x/net v0.47.0

replace github.com/bpfvm/bpfvm => ../..
