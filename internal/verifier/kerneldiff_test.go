package verifier

import (
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/bpfvm/bpfvm/internal/isa"
	"github.com/bpfvm/bpfvm/internal/progen"
)

// TestKernelDifferentialMutants compares bpfvm's verdicts with the running
// kernel's on random mutants of kernel-accepted programs (XDP form). It
// fails when bpfvm accepts a program the kernel rejects for a
// memory-safety reason, and reports the agreement rate.
func TestKernelDifferentialMutants(t *testing.T) {
	if _, _, err := kernelVerdict(prog(mov64(0, 0), exit()), "xdp", nil); err != nil {
		t.Skipf("kernel oracle unavailable: %v", err)
	}
	n := 300
	if testing.Short() {
		n = 60
	}
	if s := os.Getenv("BPFVM_MUTANTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	r := rand.New(rand.NewPCG(11, 13))
	agree, total, kernelRejects := 0, 0, 0
	for i := 0; i < n; i++ {
		p, err := progen.Generate(int64(i%1000), progen.Options{Insns: 48})
		if err != nil {
			t.Fatal(err)
		}
		body := mutate(r, p.Kernel[p.PrologueLen:])
		insns := append(slices.Clone(p.Kernel[:p.PrologueLen]), body...)
		kAccept, klog, err := kernelVerdict(insns, "xdp", nil)
		if errors.Is(err, errNotExpressible) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		_, verr := Verify(insns, Config{ProgType: "xdp"})
		total++
		if !kAccept {
			kernelRejects++
		}
		if (verr == nil) == kAccept {
			agree++
			continue
		}
		if verr == nil && kernelMemorySafety(klog) {
			t.Errorf("mutant %d: bpfvm accepts, the kernel rejects: %s\n%s\nhex: %x", i, lastLogLine(klog), dump(insns), isa.Encode(insns))
		} else {
			t.Logf("mutant %d: bpfvm %v, kernel accept=%v %s", i, verr, kAccept, lastLogLine(klog))
		}
	}
	t.Logf("agreement with the kernel on %d mutants (%d kernel rejections): %d = %.2f%%", total, kernelRejects, agree, 100*float64(agree)/float64(total))
}

// TestKernelDifferentialCorpusMutants mutates the corpus's programs (maps,
// helpers, context and packet accesses, loops) and compares verdicts with
// the kernel's.
func TestKernelDifferentialCorpusMutants(t *testing.T) {
	if _, _, err := kernelVerdict(prog(mov64(0, 0), exit()), "xdp", nil); err != nil {
		t.Skipf("kernel oracle unavailable: %v", err)
	}
	cases := loadCorpus(t)
	rounds := 1
	if testing.Short() {
		rounds = 1
	}
	if s := os.Getenv("BPFVM_CORPUS_MUTANT_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	r := rand.New(rand.NewPCG(5, 5))
	agree, total, skipped := 0, 0, 0
	for round := 0; round < rounds; round++ {
		for i := range cases {
			c := &cases[i]
			insns, cfg, err := c.load()
			if err != nil || len(insns) > 200 {
				continue
			}
			insns = mutate(r, insns)
			kAccept, klog, err := kernelVerdict(insns, c.ProgType, cfg.Maps)
			if err != nil {
				skipped++
				continue
			}
			_, verr := Verify(insns, cfg)
			total++
			if (verr == nil) == kAccept {
				agree++
				continue
			}
			if verr == nil && kernelMemorySafety(klog) {
				t.Errorf("%s mutant: bpfvm accepts, the kernel rejects: %s\n%s\nhex: %x", c.Name, lastLogLine(klog), dump(insns), isa.Encode(insns))
			} else if total-agree <= 30 {
				t.Logf("%s mutant: bpfvm %v; kernel accept=%v %s", c.Name, verr, kAccept, lastLogLine(klog))
			}
		}
	}
	t.Logf("agreement with the kernel on %d corpus mutants: %d = %.2f%% (%d not expressible)", total, agree, 100*float64(agree)/float64(total), skipped)
}
