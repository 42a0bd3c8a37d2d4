package verifier

import (
	"strings"
	"testing"
)

// BenchmarkCorpus verifies every corpus program once per iteration
// (BPFVM_BENCH_FILTER-like narrowing: -bench 'Corpus/name').
func BenchmarkCorpus(b *testing.B) {
	cases := loadCorpus(b)
	b.Run("all", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for j := range cases {
				insns, cfg, _ := cases[j].load()
				Verify(insns, cfg)
			}
		}
	})
	for _, name := range []string{"verifier_search_pruning/short_loop1", "verifier_loops1/loop_after_a_conditional_jump", "verifier_liveness_exp/liveness_exponential_complexity"} {
		for j := range cases {
			if cases[j].Name != name {
				continue
			}
			c := &cases[j]
			b.Run(strings.ReplaceAll(name, "/", "_"), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					insns, cfg, _ := c.load()
					Verify(insns, cfg)
				}
			})
		}
	}
}
