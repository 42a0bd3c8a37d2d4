package verifier

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/bpfvm/bpfvm/internal/isa"
)

// TestTestdataAccepted: every clang-compiled program in testdata/ is
// accepted (issue 4), linked as the runtime links it.
func TestTestdataAccepted(t *testing.T) {
	objs, err := filepath.Glob("../../testdata/*.o")
	if err != nil || len(objs) == 0 {
		t.Fatalf("no objects in testdata: %v", err)
	}
	sort.Strings(objs)
	total := 0
	for _, obj := range objs {
		spec, err := ebpf.LoadCollectionSpec(obj)
		if err != nil {
			t.Errorf("%s: %v", obj, err)
			continue
		}
		// Sections libbpf does not recognise get their type explicitly,
		// as the runtime's tests give it with WithProgramType.
		for name, typ := range explicitTypes {
			if ps := spec.Programs[name]; ps != nil && ps.Type == ebpf.UnspecifiedProgram {
				ps.Type = typ
			}
		}
		for _, p := range ObjectPrograms(spec) {
			total++
			t.Run(strings.TrimSuffix(filepath.Base(obj), ".o")+"/"+p.Name, func(t *testing.T) {
				if p.Err != nil {
					t.Fatalf("cannot prepare: %v", p.Err)
				}
				res, err := Verify(p.Insns, p.Config)
				if err != nil {
					var ve *Error
					if errors.As(err, &ve) {
						t.Fatalf("rejected (%s): %v\n%s", ve.Kind, err, ve.Line)
					}
					t.Fatalf("rejected: %v", err)
				}
				t.Logf("processed %d insns", res.Stats.Processed)
			})
		}
	}
	if total < 40 {
		t.Errorf("only %d programs in testdata objects", total)
	}
}

// explicitTypes are the program types of testdata programs in sections
// libbpf does not recognise (testdata_linux_test.go gives the same).
var explicitTypes = map[string]ebpf.ProgramType{"custom_section": ebpf.XDP}

// TestObjectLineInfo: a rejection of an object's program quotes its C
// source line.
func TestObjectLineInfo(t *testing.T) {
	spec, err := ebpf.LoadCollectionSpec("../../testdata/xdp_bytes.o")
	if err != nil {
		t.Fatal(err)
	}
	progs := ObjectPrograms(spec)
	if len(progs) == 0 || progs[0].Err != nil {
		t.Fatalf("programs: %+v", progs)
	}
	p := progs[0]
	if len(p.Config.LineInfo) == 0 {
		t.Fatal("no line info")
	}
	// Make the program unsafe: its first instruction now dereferences a
	// scalar, and the rejection must name the C line of slot 0.
	bad := append(prog(mov64(isa.R1, 0), ldx(isa.SizeW, isa.R0, isa.R1, 0)), p.Insns[2:]...)
	_, err = Verify(bad, p.Config)
	var ve *Error
	if !errors.As(err, &ve) {
		t.Fatalf("want a rejection, got %v", err)
	}
	if ve.Kind != KindUnsafe || !strings.Contains(ve.Line, "xdp_bytes.c:") {
		t.Fatalf("rejection has no source line: %q (%v)", ve.Line, err)
	}
	t.Logf("%v\n%s", err, ve.Line)
}

// FuzzObjectPrograms: preparing and verifying the programs of any ELF
// object the parser accepts never panics.
func FuzzObjectPrograms(f *testing.F) {
	for _, name := range []string{"loops.o", "for_each.o", "spin_lock.o", "global_data.o", "xdp_bytes.o"} {
		data, err := os.ReadFile(filepath.Join("../../testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := func() (s *ebpf.CollectionSpec, err error) {
			defer func() {
				if recover() != nil {
					err = errors.New("parser panic") // cilium/ebpf's, not ours
				}
			}()
			return ebpf.LoadCollectionSpecFromReader(bytes.NewReader(data))
		}()
		if err != nil {
			return
		}
		// Sections libbpf does not recognise get their type explicitly,
		// as the runtime's tests give it with WithProgramType.
		for name, typ := range explicitTypes {
			if ps := spec.Programs[name]; ps != nil && ps.Type == ebpf.UnspecifiedProgram {
				ps.Type = typ
			}
		}
		for _, p := range ObjectPrograms(spec) {
			if p.Err != nil {
				continue
			}
			p.Config.MaxProcessed = 50_000
			Verify(p.Insns, p.Config)
		}
	})
}
