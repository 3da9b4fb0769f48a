package web

import (
	"bytes"
	"strings"
	"testing"
)

func TestCSPAllowsOnlyASafeLogo(t *testing.T) {
	for _, tc := range []struct {
		logo, show, allow string
	}{
		{"", "", ""},
		{"https://cdn.example.com/brand/logo.png?v=2", "https://cdn.example.com/brand/logo.png?v=2", "https://cdn.example.com/brand/logo.png"},
		{"http://127.0.0.1:8080/logo.svg", "http://127.0.0.1:8080/logo.svg", "http://127.0.0.1:8080/logo.svg"},
		{"/static/logo.png", "/static/logo.png", ""},
		{"data:image/png;base64,iVBORw0KGgo=", "data:image/png;base64,iVBORw0KGgo=", ""},
		{"//evil.example/logo.png", "", ""},
		{"javascript:alert(1)", "", ""},
		{"https://cdn.example.com/x.png; script-src *", "", ""},
		{"https://cdn.example.com/x.png,script-src", "", ""},
		{"https://a'b.example/x.png", "", ""},
		{"https://user:pw@cdn.example.com/x.png", "", ""},
		{"data:text/html,<script>", "", ""},
	} {
		b := Brand{ProductName: "p", LogoURL: tc.logo}
		if got := string(b.Logo()); got != tc.show {
			t.Errorf("Logo(%q) = %q, want %q", tc.logo, got, tc.show)
		}
		csp := b.CSP()
		img := csp[strings.Index(csp, "img-src"):]
		img = img[:strings.IndexByte(img, ';')]
		want := "img-src 'self' data:"
		if tc.allow != "" {
			want += " " + tc.allow
		}
		if img != want {
			t.Errorf("CSP for %q: %q, want %q", tc.logo, img, want)
		}
		if strings.Count(csp, ";") != 6 || strings.Contains(csp, "script-src") {
			t.Errorf("CSP for %q has extra directives: %q", tc.logo, csp)
		}
	}
}

func TestHumanText(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 379: "379 B", 1023: "1023 B", 1434: "1.4 KB", 20 << 10: "20 KB", 5 << 20: "5.0 MB", 3 << 30: "3.0 GB"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
	for s, want := range map[int]string{1: "1 second", 30: "30 seconds", 60: "1 minute", 61: "2 minutes", 900: "15 minutes"} {
		if got := waitText(s); got != want {
			t.Errorf("waitText(%d) = %q, want %q", s, got, want)
		}
	}
	for k, want := range map[string]string{"DateTimeOriginal": "Date Time Original", "ISO": "ISO", "ExifIFDPointer": "Exif IFD Pointer", "gps_lat": "gps lat"} {
		if got := (KV{Key: k}).Label(); got != want {
			t.Errorf("Label(%q) = %q, want %q", k, got, want)
		}
	}
	f := File{Name: "clip.MP4", Mime: "video/mp4", Duration: 75.4}
	if f.Kind() != "video" || f.TypeText() != "MP4 video" || f.DurationText() != "1:15" {
		t.Errorf("video: %q %q %q", f.Kind(), f.TypeText(), f.DurationText())
	}
	if k := (File{Name: "page.html", Mime: "text/html"}).Kind(); k != "other" {
		t.Errorf("an HTML file previews as %q", k)
	}
}

// TestNotFoundPageIsFixed renders the error page twice with different
// surroundings: nothing request-dependent can reach it.
func TestNotFoundPageIsFixed(t *testing.T) {
	render := func() []byte {
		var buf bytes.Buffer
		p := &Page{Kind: "error", Title: "Link not found", Status: 404, Message: "gone", Brand: Brand{ProductName: "publink"}}
		if err := Render(&buf, p); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if a, b := render(), render(); !bytes.Equal(a, b) {
		t.Errorf("two renders differ")
	}
}

func TestTemplatesEscape(t *testing.T) {
	name := `<img src=x onerror=alert(1)>"é.png`
	var buf bytes.Buffer
	err := Render(&buf, &Page{Kind: "file", Title: name, Brand: Brand{ProductName: "<b>p</b>"}, File: &File{
		Name: name, Mime: "image/png", Metadata: []KV{{Key: "Artist", Value: "<script>alert('x')</script>"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, bad := range []string{"<img src=x", "<script>alert", "<b>p</b>"} {
		if strings.Contains(out, bad) {
			t.Errorf("page contains raw %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;img src=x onerror=alert(1)&gt;&#34;é.png") {
		t.Errorf("escaped name missing")
	}
}
