package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestLiveWindowBoundaries(t *testing.T) {
	cases := []struct {
		name        string
		from, until *time.Time
		now         time.Time
		live, exp   bool
	}{
		{"no bounds", nil, nil, t0, true, false},
		{"exactly validFrom", at(0), nil, t0, true, false},
		{"one ns before validFrom", at(0), nil, t0.Add(-1), false, false},
		{"one second before validFrom", at(time.Second), nil, t0, false, false},
		{"one ns before validUntil", nil, at(0), t0.Add(-1), true, false},
		{"exactly validUntil", nil, at(0), t0, false, true},
		{"after validUntil", nil, at(0), t0.Add(time.Hour), false, true},
		{"inside window", at(-time.Hour), at(time.Hour), t0, true, false},
		{"before window", at(time.Hour), at(2 * time.Hour), t0, false, false},
	}
	for _, c := range cases {
		l := &Link{ValidFrom: c.from, ValidUntil: c.until}
		if got := l.Live(c.now); got != c.live {
			t.Errorf("%s: Live = %v, want %v", c.name, got, c.live)
		}
		if got := l.Expired(c.now); got != c.exp {
			t.Errorf("%s: Expired = %v, want %v", c.name, got, c.exp)
		}
	}
}

func TestValidID(t *testing.T) {
	good := []string{"a", "file_sunset", "ABC-123", strings.Repeat("x", 128)}
	bad := []string{"", ".", "..", "a/b", "a%2fb", "a.b", "a b", "a\x00", "é", strings.Repeat("x", 129), "a\\b", "%2e%2e"}
	for _, s := range good {
		if !ValidID(s) {
			t.Errorf("ValidID(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidID(s) {
			t.Errorf("ValidID(%q) = true", s)
		}
	}
}

func TestCleanRelPath(t *testing.T) {
	cases := map[string]string{"": "", "/": "", "2024": "2024", "2024/june/": "2024/june", "été": "été"}
	for in, want := range cases {
		got, ok := CleanRelPath(in)
		if !ok || got != want {
			t.Errorf("CleanRelPath(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"..", "a/..", "../x", "a/./b", "a//b", "a\\b", "a\x00b", "\x7f", strings.Repeat("a/", 600), "a/\ufffd", "%2e%2e", "a%2fb", "2024/%00"} {
		if _, ok := CleanRelPath(in); ok {
			t.Errorf("CleanRelPath(%q) accepted", in)
		}
	}
}

func TestInFolderAndRelativePath(t *testing.T) {
	cases := []struct {
		root, p string
		in      bool
		rel     string
	}{
		{"/a/b", "/a/b/x", true, "x"},
		{"/a/b", "/a/b/c/d.png", true, "c/d.png"},
		{"/a/b", "/a/bc/x", false, ""},
		{"/a/b", "/a/b", false, ""},
		{"/a/b", "/a", false, ""},
		{"/a/b", "/a/b/../c", false, ""},
		{"/a/b", "/a/b/./x", false, ""},
		{"/a/b", "/a/b//x", false, ""},
		{"/a/b", "a/b/x", false, ""},
		{"/", "/x", true, "x"},
		{"/", "/", false, ""},
		{"/a/../b", "/b/x", false, ""},
	}
	for _, c := range cases {
		if got := InFolder(c.root, c.p); got != c.in {
			t.Errorf("InFolder(%q, %q) = %v", c.root, c.p, got)
		}
		rel, ok := RelativePath(c.root, c.p)
		if ok != c.in || rel != c.rel {
			t.Errorf("RelativePath(%q, %q) = %q, %v", c.root, c.p, rel, ok)
		}
	}
	if JoinFolder("/a", "b/c") != "/a/b/c" || JoinFolder("/", "b") != "/b" || JoinFolder("/a", "") != "/a" {
		t.Error("JoinFolder")
	}
}

func TestFileVisible(t *testing.T) {
	file := &Link{Target: Target{TargetFile, "f1"}}
	folder := &Link{Target: Target{TargetFolder, "d1"}}
	folderExp := &Link{Target: Target{TargetFolder, "d1"}, ExposeUnpublished: true}
	coll := &Link{Target: Target{TargetCollection, "c1"}}
	collExp := &Link{Target: Target{TargetCollection, "c1"}, ExposeUnpublished: true}
	sc := Scope{FolderPath: "/photos"}
	cases := []struct {
		name string
		l    *Link
		f    FileFacts
		want bool
	}{
		{"file link own file", file, FileFacts{FileID: "f1", FilePath: "/x/y", Published: true}, true},
		{"file link own unpublished file", file, FileFacts{FileID: "f1", Published: false}, true},
		{"file link other file", file, FileFacts{FileID: "f2", Published: true}, false},
		{"folder child", folder, FileFacts{FileID: "a", FilePath: "/photos/a.png", Published: true}, true},
		{"folder grandchild", folder, FileFacts{FileID: "a", FilePath: "/photos/2024/a.png", Published: true}, true},
		{"folder look-alike sibling", folder, FileFacts{FileID: "a", FilePath: "/photos2/a.png", Published: true}, false},
		{"folder parent", folder, FileFacts{FileID: "a", FilePath: "/a.png", Published: true}, false},
		{"folder traversal path", folder, FileFacts{FileID: "a", FilePath: "/photos/../secret/a.png", Published: true}, false},
		{"folder unpublished", folder, FileFacts{FileID: "a", FilePath: "/photos/a.png"}, false},
		{"folder unpublished exposed", folderExp, FileFacts{FileID: "a", FilePath: "/photos/a.png"}, true},
		{"collection member", coll, FileFacts{FileID: "a", Member: true, Published: true}, true},
		{"collection non-member", coll, FileFacts{FileID: "a", Published: true}, false},
		{"collection unpublished", coll, FileFacts{FileID: "a", Member: true}, false},
		{"collection unpublished exposed", collExp, FileFacts{FileID: "a", Member: true}, true},
		{"bad id", folder, FileFacts{FileID: "../a", FilePath: "/photos/a.png", Published: true}, false},
		{"unknown target type", &Link{Target: Target{"album", "x"}}, FileFacts{FileID: "x", Published: true}, false},
	}
	for _, c := range cases {
		if got := FileVisible(c.l, sc, c.f); got != c.want {
			t.Errorf("%s: FileVisible = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCacheControl(t *testing.T) {
	pub := &Link{}
	if got := CacheControl(pub, t0, 0); got != "public, max-age=60" {
		t.Errorf("default: %q", got)
	}
	if got := CacheControl(pub, t0, 10*time.Second); got != "public, max-age=10" {
		t.Errorf("configured: %q", got)
	}
	soon := &Link{ValidUntil: at(15*time.Second + 500*time.Millisecond)}
	if got := CacheControl(soon, t0, 0); got != "public, max-age=15" {
		t.Errorf("until: %q", got)
	}
	if got := CacheControl(&Link{ValidUntil: at(500 * time.Millisecond)}, t0, 0); got != "no-store" {
		t.Errorf("under a second left: %q", got)
	}
	if got := CacheControl(&Link{PasswordHash: "x"}, t0, 0); got != "private, no-store" {
		t.Errorf("password: %q", got)
	}
}

func TestBuildPublicFileIsAnAllowList(t *testing.T) {
	origin := `{"fileId":"f1","name":"a.png","filePath":"/secret/a.png","tags":["T"],"AITags":[{"name":"A"}],
	"customCoordinates":"C","customMetadata":{"k":"v"},"isPrivateFile":true,"isPublished":false,
	"versionInfo":{"id":"v"},"url":"https://u","thumbnail":"https://t","createdBy":"o","comments":[],
	"description":"d","newOriginField":"n","fileType":"image","mime":"image/png","size":10,"width":2,
	"height":3,"hasAlpha":false,"embeddedMetadata":{"Make":"M"},"createdAt":"c","updatedAt":"u","duration":null}`
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(origin), &raw); err != nil {
		t.Fatal(err)
	}
	pf := BuildPublicFile(raw, DefaultPublicFields, GatewayValues{Path: "a.png", ContentURL: "/c", ThumbnailURL: "/t"})
	b, _ := json.Marshal(pf)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	want := []string{"fileId", "name", "path", "fileType", "mime", "size", "width", "height", "hasAlpha", "embeddedMetadata", "createdAt", "updatedAt", "contentUrl", "thumbnailUrl"}
	if len(got) != len(want) {
		t.Errorf("got keys %v", got)
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	if got["path"] != "a.png" {
		t.Errorf("path = %v", got["path"])
	}
	// Even an operator list naming forbidden fields never copies them.
	pf = BuildPublicFile(raw, []string{"fileId", "tags", "url", "filePath"}, GatewayValues{})
	if b, _ := json.Marshal(pf); string(b) != `{"fileId":"f1"}` {
		t.Errorf("forbidden fields copied: %s", b)
	}
	if err := CheckPublicFields([]string{"fileId", "tags"}); err == nil {
		t.Error("CheckPublicFields accepted tags")
	}
}

func TestRunnable(t *testing.T) {
	for _, c := range []struct {
		ct, mime, name string
		want           bool
	}{
		{"image/png", "image/png", "a.png", false},
		{"text/html; charset=utf-8", "", "a.png", true},
		{"image/png", "image/svg+xml", "a.png", true},
		{"application/octet-stream", "", "x.svg", true},
		{"application/rss+xml", "", "feed", true},
		{"text/plain", "text/plain", "a.txt", false},
		{"bogus/;;", "", "a", true},
	} {
		if got := Runnable(c.ct, c.mime, c.name); got != c.want {
			t.Errorf("Runnable(%q,%q,%q) = %v", c.ct, c.mime, c.name, got)
		}
	}
}

func FuzzCleanRelPath(f *testing.F) {
	for _, s := range []string{"", "a/b", "../x", "a/%2e%2e", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := CleanRelPath(s)
		if !ok {
			return
		}
		for _, seg := range strings.Split(p, "/") {
			if p != "" && (seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00")) {
				t.Fatalf("CleanRelPath(%q) = %q", s, p)
			}
		}
		if p != "" && !InFolder("/root", JoinFolder("/root", p)) {
			t.Fatalf("joined path %q escapes the root", p)
		}
	})
}
