package origin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/publink/publink/originauth"
)

// TestRequestsAreSignedAndBuiltHere checks the one place that builds origin
// URLs: ids are validated before any request, every request is signed for
// the link, and only Range and conditional headers pass through.
func TestRequestsAreSignedAndBuiltHere(t *testing.T) {
	secret := []byte("origin-secret-0123456789")
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := originauth.Verify(secret, r, time.Now(), time.Minute); err != nil {
			t.Errorf("unsigned request %s: %v", r.URL, err)
		}
		seen = append(seen, r)
		switch {
		case r.URL.Path == "/v1/folders/fld_a":
			w.Write([]byte(`{"type":"folder","folderId":"fld_a","name":"a","folderPath":"/a/"}`))
		case r.URL.Path == "/v1/files" && r.URL.Query().Get("path") == "/a/": // its own spelling (see Folder)
			w.Write([]byte(`[{"type":"folder","folderId":"x","name":"b","folderPath":"/a/b/"},{"type":"file","fileId":"f1","filePath":"/a/f.png","isPublished":false,"tags":["t"]}]`))
		case r.URL.Path == "/v1/files/f1":
			w.Write([]byte(`{"type":"file","fileId":"f1","filePath":"/a/f.png"}`))
		case r.URL.Path == "/v1/files/f1/content":
			w.Header().Set("Set-Cookie", "x=y")
			w.Write([]byte("bytes"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, secret, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, bad := range []string{"../x", "a/b", "a%2fb", "", "x.y", strings.Repeat("a", 200)} {
		if _, err := c.File(ctx, "lnk", bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("File(%q) = %v", bad, err)
		}
		if _, err := c.Blob(ctx, "lnk", bad, "content", http.MethodGet, nil); !errors.Is(err, ErrNotFound) {
			t.Errorf("Blob(%q) = %v", bad, err)
		}
	}
	if len(seen) != 0 {
		t.Fatalf("invalid ids reached the origin: %v", seen[0].URL)
	}
	f, err := c.Folder(ctx, "lnk", "fld_a")
	if err != nil || f.FolderPath != "/a" {
		t.Errorf("Folder = %+v, %v (trailing slash must be trimmed)", f, err)
	}
	list, err := c.List(ctx, "lnk", "/a", 0, 10)
	if err != nil || len(list) != 2 || list[0].FolderPath != "/a/b" || list[1].Published() || string(list[1].Raw["tags"]) != `["t"]` {
		t.Errorf("List = %+v, %v", list, err)
	}
	if _, err := c.List(ctx, "lnk", "/a/../b", 0, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("List with dot segments = %v", err)
	}
	in := http.Header{"Range": {"bytes=0-1"}, "Cookie": {"c=1"}, "X-Publink-Link": {"forged"}, "Authorization": {"x"}}
	resp, err := c.Blob(ctx, "lnk_1", "f1", "content", http.MethodGet, in)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	last := seen[len(seen)-1]
	if last.Header.Get("Range") != "bytes=0-1" || last.Header.Get("Cookie") != "" || last.Header.Get("Authorization") != "" ||
		last.Header.Get("X-Publink-Link") != "lnk_1" || last.Header.Get("Accept-Encoding") != "identity" {
		t.Errorf("content request headers: %v", last.Header)
	}
	if _, err := c.Blob(ctx, "lnk", "f1", "versions", http.MethodGet, nil); err == nil {
		t.Error("Blob accepted an unknown kind")
	}
	if _, err := New("ftp://x", secret, time.Second); err == nil {
		t.Error("New accepted ftp")
	}
	if _, err := New("http://x/?v=1", secret, time.Second); err == nil {
		t.Error("New accepted a query")
	}
}
