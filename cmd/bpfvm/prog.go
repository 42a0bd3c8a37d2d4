package main

import (
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/cilium/ebpf"
)

func init() {
	register(&command{
		name:    "prog",
		summary: "inspect the programs and maps of an ELF object (prog list OBJECT.o)",
		run:     runProg,
	})
}

const progUsage = `usage: bpfvm prog list OBJECT.o

Lists the programs of an ELF object (name, type, section, instruction
count) and its maps (name, type, key and value size, max entries, flags).

flags:
`

func runProg(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	rest, status := parseCommandFlags(fs, args, progUsage, stdout, stderr)
	if status >= 0 {
		return status
	}
	if len(rest) != 2 || rest[0] != "list" {
		fmt.Fprint(stderr, progUsage)
		return 2
	}
	spec, err := ebpf.LoadCollectionSpec(rest[1])
	if err != nil {
		fmt.Fprintf(stderr, "bpfvm prog: %v\n", err)
		return 1
	}
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(stdout, "programs:")
	for _, n := range names {
		p := spec.Programs[n]
		fmt.Fprintf(stdout, "  %-24s %-16s section %-20s %d instructions\n", n, p.Type, p.SectionName, len(p.Instructions))
	}
	names = names[:0]
	for n := range spec.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(stdout, "maps:")
	for _, n := range names {
		m := spec.Maps[n]
		fmt.Fprintf(stdout, "  %-24s %-16s key %d value %d max_entries %d flags %#x\n", n, m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags)
	}
	return 0
}
