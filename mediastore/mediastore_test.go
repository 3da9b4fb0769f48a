package mediastore

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publink/publink/originauth"
	"github.com/publink/publink/webhook"
)

const (
	testSecret = "origin-test-secret"
	hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// copyDemo copies examples/demo into a temp dir so tests can mutate it.
func copyDemo(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "examples", "demo")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

type received struct {
	mu     sync.Mutex
	events []map[string]any
	errs   []error
}

type env struct {
	t    *testing.T
	srv  *Server
	ts   *httptest.Server
	dir  string
	hook *received
}

func newEnv(t *testing.T) *env {
	t.Helper()
	hook := &received{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hook.mu.Lock()
		defer hook.mu.Unlock()
		id, err := webhook.Verify(hookSecret, r.Header, body, time.Now())
		if err != nil {
			hook.errs = append(hook.errs, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev map[string]any
		json.Unmarshal(body, &ev)
		if ev["id"] != id {
			t.Errorf("body id %v != webhook-id %v", ev["id"], id)
		}
		hook.events = append(hook.events, ev)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hs.Close)
	dir := copyDemo(t)
	srv, err := New(Config{DataDir: dir, Secret: testSecret, WebhookURL: hs.URL, WebhookSecret: hookSecret, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &env{t: t, srv: srv, ts: ts, dir: dir, hook: hook}
}

func (e *env) do(method, uri string, hdr http.Header, signed bool, body []byte) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+uri, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if signed {
		originauth.Sign(req, []byte(testSecret), "lnk_test", time.Now())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

func (e *env) get(uri string) (*http.Response, []byte) { return e.do("GET", uri, nil, true, nil) }

func (e *env) manage(method, uri string, body []byte) (*http.Response, []byte) {
	return e.do(method, uri, http.Header{"Authorization": {"Bearer " + testSecret}}, false, body)
}

func (e *env) json(uri string, v any) int {
	e.t.Helper()
	resp, b := e.get(uri)
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			e.t.Fatalf("%s: %v: %s", uri, err, b)
		}
	}
	return resp.StatusCode
}

func TestSignatureRequired(t *testing.T) {
	e := newEnv(t)
	for _, uri := range []string{"/v1/files/file_sunset", "/v1/files/file_sunset/content", "/v1/files?path=/photos", "/v1/folders/fld_photos", "/v1/collections/col_summer", "/v1/permissions?user=alice&target=file:file_sunset", "/v1/nope"} {
		resp, b := e.do("GET", uri, nil, false, nil)
		if resp.StatusCode != 401 || !strings.Contains(string(b), `"error"`) {
			t.Errorf("unsigned %s: %d %s", uri, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "SENTINEL") {
			t.Errorf("unsigned %s leaked data", uri)
		}
	}
	// Wrong secret, stale timestamp, tampered URI.
	req, _ := http.NewRequest("GET", e.ts.URL+"/v1/files/file_sunset", nil)
	originauth.Sign(req, []byte("wrong"), "", time.Now())
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Errorf("wrong secret: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", e.ts.URL+"/v1/files/file_sunset", nil)
	originauth.Sign(req, []byte(testSecret), "", time.Now().Add(-10*time.Minute))
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Errorf("stale: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest("GET", e.ts.URL+"/v1/files/file_beach", nil)
	originauth.Sign(req, []byte(testSecret), "", time.Now())
	req.URL.Path = "/v1/files/file_sunset"
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 401 {
		t.Errorf("tampered: %d", resp.StatusCode)
	}
	resp, _ := e.get("/v1/files/file_sunset")
	if resp.StatusCode != 200 {
		t.Fatalf("signed: %d", resp.StatusCode)
	}
	if got := resp.Header.Get("Set-Cookie"); got != SessionCookie {
		t.Errorf("Set-Cookie = %q", got)
	}
}

func TestFileObject(t *testing.T) {
	e := newEnv(t)
	var f map[string]any
	if st := e.json("/v1/files/file_sunset", &f); st != 200 {
		t.Fatal(st)
	}
	want := map[string]any{"fileId": "file_sunset", "type": "file", "name": "sunset.png", "filePath": "/photos/sunset.png",
		"mime": "image/png", "fileType": "image", "isPublished": true, "isPrivateFile": false, "internalScore": "SENTINEL_EXTRA_file_sunset",
		"createdBy": "SENTINEL_OWNER_file_sunset", "width": 64.0, "height": 48.0}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
	if vi := f["versionInfo"].(map[string]any); vi["id"] != "ver_current" {
		t.Errorf("versionInfo %v", vi)
	}
	var h map[string]any
	e.json("/v1/files/file_hostile", &h)
	if h["name"] != `<img src=x onerror=alert(1)>"é.png` || h["filePath"] != "/docs/hostile.png" {
		t.Errorf("hostile: %v %v", h["name"], h["filePath"])
	}
	if st := e.json("/v1/files/nope", &f); st != 404 {
		t.Errorf("missing file: %d", st)
	}
}

func TestContent(t *testing.T) {
	e := newEnv(t)
	want, _ := os.ReadFile(filepath.Join(e.dir, "media/photos/sunset.png"))
	resp, b := e.get("/v1/files/file_sunset/content")
	if resp.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Fatalf("content %d len %d", resp.StatusCode, len(b))
	}
	if resp.Header.Get("ETag") != `"ver_current"` || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("Last-Modified") != "Sun, 02 Jun 2024 10:00:00 GMT" || resp.Header.Get("Set-Cookie") != SessionCookie {
		t.Errorf("headers %v", resp.Header)
	}
	if bytes.Contains(b, []byte("OLDVERSIONBYTES")) {
		t.Error("current content holds old version marker")
	}
	resp, b = e.do("GET", "/v1/files/file_sunset/content", http.Header{"Range": {"bytes=0-7"}}, true, nil)
	if resp.StatusCode != 206 || !bytes.Equal(b, want[:8]) || resp.Header.Get("Content-Range") != "bytes 0-7/"+itoa(len(want)) {
		t.Errorf("range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, _ = e.do("GET", "/v1/files/file_sunset/content", http.Header{"If-None-Match": {`"ver_current"`}}, true, nil)
	if resp.StatusCode != 304 {
		t.Errorf("if-none-match: %d", resp.StatusCode)
	}
	resp, b = e.do("HEAD", "/v1/files/file_sunset/content", nil, true, nil)
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(len(want)) {
		t.Errorf("head: %d %d", resp.StatusCode, resp.ContentLength)
	}
	resp, _ = e.get("/v1/files/file_svg/content")
	if resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("svg type %q", resp.Header.Get("Content-Type"))
	}
	resp, _ = e.get("/v1/files/nope/content")
	if resp.StatusCode != 404 {
		t.Errorf("missing: %d", resp.StatusCode)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestThumbnail(t *testing.T) {
	e := newEnv(t)
	for id, wantW := range map[string]int{"file_beach": 200, "file_sunset": 64, "file_readme": 64, "file_svg": 64} {
		resp, b := e.get("/v1/files/" + id + "/thumbnail")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("%s: %d %v", id, resp.StatusCode, resp.Header)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if img.Bounds().Dx() != wantW {
			t.Errorf("%s: width %d want %d", id, img.Bounds().Dx(), wantW)
		}
		if id == "file_beach" && img.Bounds().Dy() != 150 {
			t.Errorf("beach thumb height %d", img.Bounds().Dy())
		}
	}
}

func TestVersions(t *testing.T) {
	e := newEnv(t)
	resp, b := e.get("/v1/files/file_sunset/versions/ver_old/content")
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("OLDVERSIONBYTES")) || resp.Header.Get("ETag") != `"ver_old"` {
		t.Fatalf("old version: %d %v", resp.StatusCode, resp.Header)
	}
	cur, _ := os.ReadFile(filepath.Join(e.dir, "media/photos/sunset.png"))
	if _, b = e.get("/v1/files/file_sunset/versions/ver_current/content"); !bytes.Equal(b, cur) {
		t.Error("current via versions route")
	}
	for _, v := range []string{"ver_old.json", "..", "nope", "%2e%2e"} {
		if resp, _ := e.get("/v1/files/file_sunset/versions/" + v + "/content"); resp.StatusCode != 404 {
			t.Errorf("%s: %d", v, resp.StatusCode)
		}
	}
	var list []map[string]any
	e.json("/v1/files/file_sunset/versions", &list)
	if len(list) != 2 || list[0]["versionInfo"].(map[string]any)["id"] != "ver_current" || list[1]["versionInfo"].(map[string]any)["id"] != "ver_old" {
		t.Errorf("versions: %v", list)
	}
}

func names(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["type"].(string)+":"+it["name"].(string))
	}
	return out
}

func TestListing(t *testing.T) {
	e := newEnv(t)
	var items []map[string]any
	e.json("/v1/files?path=/photos&type=all", &items)
	got := strings.Join(names(items), ",")
	if got != "folder:2024,file:draft.png,file:private.png,file:sunset.png" {
		t.Errorf("listing = %s", got)
	}
	if items[0]["folderId"] != "fld_photos_2024" || items[0]["folderPath"] != "/photos/2024" {
		t.Errorf("folder item %v", items[0])
	}
	e.json("/v1/files?path=/photos/&type=all&skip=1&limit=2", &items)
	if got := strings.Join(names(items), ","); got != "file:draft.png,file:private.png" {
		t.Errorf("paged = %s", got)
	}
	e.json("/v1/files?path=/photos&skip=10", &items)
	if len(items) != 0 {
		t.Errorf("skip past end: %v", items)
	}
	e.json("/v1/files?path=/", &items)
	if got := strings.Join(names(items), ","); got != "folder:docs,folder:photos,folder:photos2" {
		t.Errorf("root = %s", got)
	}
	e.json("/v1/files?path=/photos2", &items)
	if got := strings.Join(names(items), ","); got != "file:other.png" {
		t.Errorf("photos2 = %s", got)
	}
	resp, b := e.get("/v1/files?path=/nope&type=all")
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("unknown folder: %d %s", resp.StatusCode, b)
	}
	if resp, _ := e.get("/v1/files?path=/photos&limit=x"); resp.StatusCode != 400 {
		t.Errorf("bad limit %d", resp.StatusCode)
	}
	var fo map[string]any
	if e.json("/v1/folders/fld_photos2", &fo); fo["folderPath"] != "/photos2" || fo["type"] != "folder" || fo["name"] != "photos2" || fo["createdAt"] != "2024-06-01T18:00:00.000Z" {
		t.Errorf("folder %v", fo)
	}
	if st := e.json("/v1/folders/nope", &fo); st != 404 {
		t.Errorf("missing folder %d", st)
	}
}

func TestCollectionsAndPermissions(t *testing.T) {
	e := newEnv(t)
	var c struct {
		CollectionID string           `json:"collectionId"`
		Name         string           `json:"name"`
		Files        []map[string]any `json:"files"`
	}
	e.json("/v1/collections/col_summer", &c)
	var ids []string
	for _, f := range c.Files {
		ids = append(ids, f["fileId"].(string))
	}
	if c.Name != "Summer picks" || strings.Join(ids, ",") != "file_sunset,file_other,file_draft,file_beach" {
		t.Errorf("collection %+v", c)
	}
	e.json("/v1/collections/col_empty", &c)
	if c.Files == nil || len(c.Files) != 0 {
		t.Errorf("empty collection %+v", c)
	}
	if st := e.json("/v1/collections/nope", &c); st != 404 {
		t.Errorf("missing collection %d", st)
	}
	cases := []struct{ user, target, role, perm string }{
		{"alice", "file:anything", "admin", "manage"},
		{"bob", "folder:fld_photos", "restricted", "manage"},
		{"bob", "collection:col_summer", "restricted", "manage"},
		{"bob", "folder:fld_photos2", "restricted", "none"},
		{"carol", "file:file_sunset", "restricted", "edit"},
		{"carol", "folder:fld_photos", "restricted", "view"},
		{"carol", "collection:col_summer", "restricted", "none"},
	}
	for _, tc := range cases {
		var p map[string]string
		if st := e.json("/v1/permissions?user="+tc.user+"&target="+tc.target, &p); st != 200 || p["role"] != tc.role || p["permission"] != tc.perm {
			t.Errorf("%s %s: %d %v", tc.user, tc.target, st, p)
		}
	}
	resp, b := e.get("/v1/permissions?user=mallory&target=file:file_sunset")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "user not found") {
		t.Errorf("unknown user %d %s", resp.StatusCode, b)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/v1/files/file_sunset", http.Header{"X-Publink-Extra": {"hello"}}, true, nil)
	e.do("GET", "/v1/files/file_sunset?x=1", nil, false, nil)
	resp, b := e.do("GET", "/manage/requests", nil, false, nil)
	if resp.StatusCode != 401 {
		t.Errorf("manage without bearer: %d", resp.StatusCode)
	}
	resp, b = e.manage("GET", "/manage/requests", nil)
	var out struct{ Items []RequestRecord }
	if err := json.Unmarshal(b, &out); err != nil || len(out.Items) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	a, u := out.Items[0], out.Items[1]
	if !a.Verified || a.Link != "lnk_test" || a.RequestURI != "/v1/files/file_sunset" || a.Headers["X-Publink-Extra"][0] != "hello" || a.Signature == "" || a.Status != 200 {
		t.Errorf("signed record %+v", a)
	}
	if u.Verified || u.RequestURI != "/v1/files/file_sunset?x=1" || u.Status != 401 || u.Error == "" {
		t.Errorf("unsigned record %+v", u)
	}
	e.manage("DELETE", "/manage/requests", nil)
	if len(e.srv.Requests()) != 0 {
		t.Error("not cleared")
	}
}

func (e *env) events() []map[string]any {
	e.hook.mu.Lock()
	defer e.hook.mu.Unlock()
	if len(e.hook.errs) > 0 {
		e.t.Fatalf("webhook verify errors: %v", e.hook.errs)
	}
	out := e.hook.events
	e.hook.events = nil
	return out
}

func (e *env) expectEvent(typ, key, id string) {
	e.t.Helper()
	evs := e.events()
	if len(evs) != 1 {
		e.t.Fatalf("events = %v, want one %s", evs, typ)
	}
	data, _ := evs[0]["data"].(map[string]any)
	if evs[0]["type"] != typ || data[key] != id || evs[0]["created_at"] == nil {
		e.t.Fatalf("event = %v, want %s %s=%s", evs[0], typ, key, id)
	}
}

func TestManagement(t *testing.T) {
	e := newEnv(t)
	if resp, _ := e.do("DELETE", "/manage/files/file_readme", http.Header{"Authorization": {"Bearer wrong"}}, false, nil); resp.StatusCode != 401 {
		t.Fatalf("bad bearer: %d", resp.StatusCode)
	}
	// Delete a file.
	if resp, b := e.manage("DELETE", "/manage/files/file_readme", nil); resp.StatusCode != 204 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	e.expectEvent("file.deleted", "fileId", "file_readme")
	if resp, _ := e.get("/v1/files/file_readme"); resp.StatusCode != 404 {
		t.Errorf("deleted file still served")
	}
	// Move a file.
	resp, b := e.manage("POST", "/manage/files/file_other/move?to=/archive/2023", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"filePath":"/archive/2023/other.png"`) {
		t.Fatalf("move: %d %s", resp.StatusCode, b)
	}
	e.expectEvent("file.moved", "fileId", "file_other")
	var items []map[string]any
	e.json("/v1/files?path=/photos2", &items)
	if len(items) != 0 {
		t.Errorf("photos2 after move: %v", items)
	}
	// Upload replacing sunset: new id, old id gone, old versions gone.
	resp, b = e.manage("PUT", "/manage/upload?path=/photos/sunset.png", []byte("not really a png"))
	var nf map[string]any
	json.Unmarshal(b, &nf)
	if resp.StatusCode != 201 || nf["fileId"] == "file_sunset" || nf["filePath"] != "/photos/sunset.png" || nf["size"] != 16.0 {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	e.expectEvent("file.deleted", "fileId", "file_sunset")
	if resp, _ := e.get("/v1/files/file_sunset/content"); resp.StatusCode != 404 {
		t.Errorf("old id still served")
	}
	if resp, _ := e.get("/v1/files/file_sunset/versions/ver_old/content"); resp.StatusCode != 404 {
		t.Errorf("old version still served")
	}
	if _, b := e.get("/v1/files/" + nf["fileId"].(string) + "/content"); string(b) != "not really a png" {
		t.Errorf("new content %q", b)
	}
	// Upload of a new file: no event.
	if resp, b := e.manage("PUT", "/manage/upload?path=/new/dir/a.txt", []byte("hi")); resp.StatusCode != 201 {
		t.Fatalf("upload new: %d %s", resp.StatusCode, b)
	}
	if evs := e.events(); len(evs) != 0 {
		t.Errorf("unexpected events %v", evs)
	}
	// Patch metadata.
	resp, b = e.manage("PATCH", "/manage/files/file_beach", []byte(`{"isPublished":false}`))
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"isPublished":false`) {
		t.Errorf("patch: %d %s", resp.StatusCode, b)
	}
	// Move a folder: ids survive.
	resp, b = e.manage("POST", "/manage/folders/fld_photos_2024/move?to=/docs", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"folderPath":"/docs/2024"`) {
		t.Fatalf("folder move: %d %s", resp.StatusCode, b)
	}
	e.expectEvent("folder.moved", "folderId", "fld_photos_2024")
	var f map[string]any
	if e.json("/v1/files/file_beach", &f); f["filePath"] != "/docs/2024/beach.png" {
		t.Errorf("beach after folder move: %v", f["filePath"])
	}
	if resp, _ := e.manage("POST", "/manage/folders/fld_docs/move?to=/docs/2024", nil); resp.StatusCode != 400 {
		t.Errorf("move into self: %d", resp.StatusCode)
	}
	// Delete a folder.
	if resp, _ := e.manage("DELETE", "/manage/folders/fld_photos", nil); resp.StatusCode != 204 {
		t.Fatalf("folder delete %d", resp.StatusCode)
	}
	e.expectEvent("folder.deleted", "folderId", "fld_photos")
	if resp, _ := e.get("/v1/files/file_draft"); resp.StatusCode != 404 {
		t.Errorf("file in deleted folder still served")
	}
	// Delete a collection.
	if resp, _ := e.manage("DELETE", "/manage/collections/col_summer", nil); resp.StatusCode != 204 {
		t.Fatal("collection delete")
	}
	e.expectEvent("collection.deleted", "collectionId", "col_summer")
	if resp, _ := e.get("/v1/collections/col_summer"); resp.StatusCode != 404 {
		t.Errorf("deleted collection still served")
	}
	// Not found.
	if resp, _ := e.manage("DELETE", "/manage/files/nope", nil); resp.StatusCode != 404 {
		t.Errorf("delete missing: %d", resp.StatusCode)
	}
	if evs := e.events(); len(evs) != 0 {
		t.Errorf("unexpected events %v", evs)
	}
}

func TestTraversalRejected(t *testing.T) {
	e := newEnv(t)
	bad := []string{"../x", "/../x", "/a/../../x", "/a/./b", "a/b", "/a\\b", "/a%00b", "/.hidden/x", "/a//b", "/x.png.json"}
	for _, p := range bad {
		if resp, b := e.manage("PUT", "/manage/upload?path="+p, []byte("x")); resp.StatusCode != 400 {
			t.Errorf("upload %q: %d %s", p, resp.StatusCode, b)
		}
		if strings.HasSuffix(p, ".json") {
			continue // a folder may be called x.png.json
		}
		if resp, b := e.manage("POST", "/manage/files/file_draft/move?to="+p, nil); resp.StatusCode != 400 {
			t.Errorf("move %q: %d %s", p, resp.StatusCode, b)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.dir), "x")); err == nil {
		t.Error("escaped the data dir")
	}
	if evs := e.events(); len(evs) != 0 {
		t.Errorf("unexpected events %v", evs)
	}
}

func TestCleanPath(t *testing.T) {
	ok := map[string]string{"/": "/", "/a": "/a", "/a/b/": "/a/b", "/é x/y.png": "/é x/y.png"}
	for in, want := range ok {
		if got, err := cleanPath(in); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "a", "/..", "/a/..", "/a\x00", "/a\\..", "//", "/.folder.json"} {
		if _, err := cleanPath(in); err == nil {
			t.Errorf("cleanPath(%q) accepted", in)
		}
	}
}

func TestWebhookFailureDoesNotFailMutation(t *testing.T) {
	dir := copyDemo(t)
	srv, err := New(Config{DataDir: dir, Secret: testSecret, WebhookURL: "http://127.0.0.1:1/hook", WebhookSecret: hookSecret, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	req := httptest.NewRequest("DELETE", "/manage/collections/col_empty", nil)
	req.Header.Set("Authorization", "Bearer "+testSecret)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("delete with broken webhook: %d", rec.Code)
	}
}
