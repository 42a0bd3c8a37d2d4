package progtype

import "testing"

// BenchmarkPrepare is one full Prepare (context and packet filled) and one
// unobserved Prepare of each networking type, on a 60-byte and a 1500-byte
// packet.
func BenchmarkPrepare(b *testing.B) {
	for _, t := range []Type{XDP, SchedCLS, SocketFilter} {
		for _, n := range []int{60, 1500} {
			data := make([]byte, n)
			for _, unobserved := range []bool{false, true} {
				name := t.String() + "/" + map[int]string{60: "60", 1500: "1500"}[n]
				if unobserved {
					name += "/unobserved"
				}
				b.Run(name, func(b *testing.B) {
					r := NewRun()
					req := Request{Data: data, Unobserved: unobserved}
					for b.Loop() {
						r.same = false // measure the work, not the repeat shortcut
						if err := r.Prepare(t, req); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
