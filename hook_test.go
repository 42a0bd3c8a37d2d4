package bpfvm

import (
	"errors"
	"testing"

	"github.com/bpfvm/bpfvm/internal/progtype"
)

func TestHook(t *testing.T) {
	_, coll := loadTestdata(t, "redirect.o")
	_, pass := loadTestdata(t, "xdp_pass.o")
	h := NewHook("ingress", progtype.XDP)
	if err := h.Attach(coll.Programs["tc_redirect"]); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("attaching a tc program to an XDP hook: %v", err)
	}
	if err := h.Attach(pass.Programs["xdp_pass"]); err != nil {
		t.Fatal(err)
	}
	if err := h.Attach(coll.Programs["xdp_redirect"]); err != nil {
		t.Fatal(err)
	}
	if err := h.Attach(coll.Programs["xdp_redirect"]); err == nil {
		t.Fatal("double attach accepted")
	}
	v := h.Fire(udpPkt, nil)
	if len(v) != 2 || v[0].Retval != 2 || v[1].Retval != 4 || v[0].Err != nil || v[1].Err != nil {
		t.Fatalf("verdicts %+v", v)
	}
	h.Detach(pass.Programs["xdp_pass"])
	if v := h.Fire(udpPkt[:4], nil); len(v) != 1 || v[0].Err == nil {
		t.Fatalf("fire with a runt packet: %+v", v)
	}
}
