package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFilters(t *testing.T) {
	f, err := LoadFilters(3, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Coll.Close()
	get := func(path, remote string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := get("/admin/users", "192.0.2.1:1000"); c != http.StatusForbidden {
		t.Errorf("/admin: %d, want 403", c)
	}
	// The limit (3) applies per client. Every attached program sees every
	// request, so the refused /admin request counted as the first.
	for i, want := range []int{200, 200, 429, 429} {
		if c := get("/", "192.0.2.1:1000"); c != want {
			t.Errorf("request %d from 192.0.2.1: %d, want %d", i, c, want)
		}
	}
	if c := get("/", "198.51.100.7:2000"); c != 200 {
		t.Errorf("another client: %d, want 200", c)
	}
	if n := f.Requests([4]byte{192, 0, 2, 1}); n != 5 {
		t.Errorf("requests counted for 192.0.2.1: %d, want 5", n)
	}
}
