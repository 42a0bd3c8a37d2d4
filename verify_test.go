package bpfvm

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
)

// verifierGaps are the testdata objects the verifier cannot analyse yet
// (helper prototypes it lacks): it rejects them as unsupported, never as
// unsafe, and the tests load them WithoutVerifier. Remove an entry when
// the verifier learns it (TestVerifierAcceptsTestdata fails until then).
var verifierGaps = map[string]string{
	"for_each.o":     "helper #164 bpf_for_each_map_elem (callback)",
	"loops.o":        "helper #181 bpf_loop (callback)",
	"redirect_map.o": "helper #51 bpf_redirect_map",
	"snprintf.o":     "helper #165 bpf_snprintf",
	"spin_lock.o":    "helpers #93/#94 bpf_spin_lock/unlock",
	"task.o":         "helper #177 bpf_trace_vprintk",
}

// gapOpts returns WithoutVerifier for a known verifier gap.
func gapOpts(obj string) []Option {
	if _, ok := verifierGaps[filepath.Base(obj)]; ok {
		return []Option{WithoutVerifier()}
	}
	return nil
}

// TestVerifierAcceptsTestdata: every clang-compiled program in testdata/
// and examples/ passes the verifier (a rejection is a bug in the
// verifier or in the configuration LoadCollection gives it), except the
// known gaps, which must be rejected as unsupported.
func TestVerifierAcceptsTestdata(t *testing.T) {
	objs, err := filepath.Glob("testdata/*.o")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := filepath.Glob("examples/*/bpf/*.o")
	if err != nil {
		t.Fatal(err)
	}
	objs = append(objs, ex...)
	if len(objs) < 30 {
		t.Fatalf("only %d objects found", len(objs))
	}
	for _, obj := range objs {
		t.Run(obj, func(t *testing.T) {
			spec, err := ebpf.LoadCollectionSpec(obj)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := NewRuntime(WithNumCPU(2)).LoadCollection(spec)
			if gap, ok := verifierGaps[filepath.Base(obj)]; ok {
				var ve *VerifierError
				if err == nil {
					coll.Close()
					t.Fatalf("accepted now: remove it from verifierGaps (%s)", gap)
				}
				if !errors.As(err, &ve) || ve.Kind != VerifierUnsupported {
					t.Fatalf("known gap (%s) rejected otherwise: %v", gap, err)
				}
				t.Logf("known verifier gap, %s: %v", gap, err)
				return
			}
			if err != nil {
				var ve *VerifierError
				if errors.As(err, &ve) {
					t.Fatalf("%v\n%s", err, ve.Detail())
				}
				t.Fatal(err)
			}
			defer coll.Close()
			if len(coll.Programs) != len(spec.Programs) {
				t.Fatalf("%d programs loaded, the object has %d", len(coll.Programs), len(spec.Programs))
			}
		})
	}
}
