package caddymodule

import (
	"net/http"
	"strings"
	"testing"
)

func TestETagSealing(t *testing.T) {
	s := newETagSealer([]byte("origin-secret-0123456789"))
	for _, et := range []string{`"ver_current"`, `W/"ver_current"`, `"a,b"`, `""`} {
		sealed := s.seal(et)
		if strings.Contains(sealed, "ver_current") {
			t.Errorf("seal(%s) = %s shows the origin's ETag", et, sealed)
		}
		if sealed != s.seal(et) {
			t.Errorf("seal(%s) is not deterministic", et)
		}
		if got, ok := s.open(sealed); !ok || got != et {
			t.Errorf("open(seal(%s)) = %q, %v", et, got, ok)
		}
	}
	other := newETagSealer([]byte("another-secret-0123456789"))
	if _, ok := other.open(s.seal(`"x"`)); ok {
		t.Error("another key opened the ETag")
	}
	sealed := s.seal(`"x"`)
	for _, bad := range []string{`"x"`, `*`, sealed[:len(sealed)-2] + `"`, `"` + strings.Repeat("A", 40) + `"`, `W/`, ``} {
		if _, ok := s.open(bad); ok {
			t.Errorf("open(%q) accepted", bad)
		}
	}
}

func TestETagForOrigin(t *testing.T) {
	s := newETagSealer([]byte("origin-secret-0123456789"))
	in := http.Header{}
	in.Set("If-None-Match", s.seal(`"v1"`)+`, "forged", `+s.seal(`W/"v2"`))
	in.Set("If-Match", "*")
	in.Set("If-Range", `"ver_old"`)
	in.Set("Range", "bytes=0-1")
	in.Set("If-Modified-Since", "Sun, 02 Jun 2024 10:00:00 GMT")
	in.Set("X-Other", "1")
	out := s.forOrigin(in)
	if got := out.Get("If-None-Match"); got != `"v1", "publink-unknown", W/"v2"` {
		t.Errorf("If-None-Match = %q", got)
	}
	if out.Get("If-Match") != "*" || out.Get("If-Range") != unknownETag || out.Get("Range") != "bytes=0-1" ||
		out.Get("If-Modified-Since") == "" || out.Get("X-Other") != "" {
		t.Errorf("forOrigin = %v", out)
	}
	in = http.Header{}
	in.Set("If-Range", "Sun, 02 Jun 2024 10:00:00 GMT")
	if got := s.forOrigin(in).Get("If-Range"); got != "Sun, 02 Jun 2024 10:00:00 GMT" {
		t.Errorf("date If-Range = %q", got)
	}
}
