package ctxbtf

import (
	"testing"

	"github.com/cilium/ebpf/btf"
)

// The layouts must be the uapi ones (checked field by field against
// offsets from include/uapi/linux/bpf.h).
func TestLayouts(t *testing.T) {
	s, err := Spec()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		typ, field string
		off        uint32
		size       uint32 // of the whole struct
	}{
		{"__sk_buff", "len", 0, 192},
		{"__sk_buff", "mark", 8, 192},
		{"__sk_buff", "data", 76, 192},
		{"__sk_buff", "tstamp", 152, 192},
		{"xdp_md", "data_end", 4, 24},
		{"xdp_md", "egress_ifindex", 20, 24},
		{"bpf_sock", "src_port", 44, 80},
	} {
		var st *btf.Struct
		if err := s.TypeByName(c.typ, &st); err != nil {
			t.Fatalf("%s: %v", c.typ, err)
		}
		if st.Size != c.size {
			t.Errorf("%s: size %d, want %d", c.typ, st.Size, c.size)
		}
		found := false
		for _, m := range st.Members {
			if m.Name == c.field {
				found = true
				if m.Offset.Bytes() != c.off {
					t.Errorf("%s.%s at %d, want %d", c.typ, c.field, m.Offset.Bytes(), c.off)
				}
			}
		}
		if !found {
			t.Errorf("%s has no %s", c.typ, c.field)
		}
	}
	if !Has("__sk_buff") || Has("task_struct") {
		t.Error("Has: wrong answer")
	}
}
