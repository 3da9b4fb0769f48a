package caddymodule

// Benchmarks of the visitor hot path (issue 7; `go test -run '^$' -bench .
// -benchmem ./caddymodule`) and tests of the caches that make it fast: the
// folder listing cache, its singleflight fill and the rendered listing reuse.
// The origin is the real mediastore on a generated data set.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/publink/publink/mediastore"
	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store/boltstore"
)

const (
	benchSecret   = "bench-origin-secret-0123456789"
	benchFolder   = "/bench/list"
	benchFolderID = "fld_bench_list"
	benchFiles    = 200
)

// benchOrigin is a running mediastore with a folder of benchFiles files
// (every tenth unpublished) and a counter of the origin requests it saw.
type benchOrigin struct {
	url   string
	dir   string
	srv   *mediastore.Server
	lists atomic.Int64 // GET /v1/files?path=… requests for a first page (skip=0)
	files atomic.Int64 // GET /v1/files/{id} requests
}

func startBenchOrigin(tb testing.TB) *benchOrigin {
	tb.Helper()
	dir := tb.TempDir()
	write := func(rel string, v any) {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				tb.Fatal(err)
			}
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	write("media"+benchFolder+"/.folder.json", map[string]any{"folderId": benchFolderID})
	for i := range benchFiles {
		rel := fmt.Sprintf("media%s/img_%03d.jpg", benchFolder, i)
		write(rel, bytes.Repeat([]byte{byte(i)}, 1024))
		write(rel+".json", map[string]any{
			"fileId": fmt.Sprintf("file_%03d", i), "mime": "image/jpeg", "width": 640, "height": 480,
			"isPublished": i%10 != 0, "tags": []string{"SENTINEL_TAG"}, "customMetadata": map[string]any{"k": "SENTINEL_CUSTOM"},
			"embeddedMetadata": map[string]any{"Make": "BenchCam"}, "url": "https://SENTINEL-URL.example/x",
			"createdAt": "2024-06-01T18:00:00.000Z", "updatedAt": "2024-06-02T10:00:00.000Z",
		})
	}
	ms, err := mediastore.New(mediastore.Config{DataDir: dir, Secret: benchSecret, Logger: nil})
	if err != nil {
		tb.Fatal(err)
	}
	o := &benchOrigin{dir: dir, srv: ms}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/files" && r.URL.Query().Get("path") != "":
			// A listing is its first page and the empty page confirming
			// its end (listPage); count listings.
			if r.URL.Query().Get("skip") == "0" {
				o.lists.Add(1)
			}
		case len(r.URL.Path) > len("/v1/files/"):
			o.files.Add(1)
		}
		ms.ServeHTTP(w, r)
	}))
	tb.Cleanup(func() { hs.Close(); ms.Close() })
	o.url = hs.URL
	return o
}

// fakeClock is a settable clock for the caches.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// benchApp is an App as Provision makes it, with caches on a fake clock.
func benchApp(tb testing.TB, originURL string, clock *fakeClock) *App {
	tb.Helper()
	oc, err := origin.New(originURL, []byte(benchSecret), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "s.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close(); oc.Close() })
	a := &App{
		origin: oc, store: st, now: time.Now, logger: zap.NewNop(),
		links: newLinkCache(defaultCacheTTL, 100_000), facts: newFactCache(defaultCacheTTL, 100_000),
		lists: newListCache(defaultCacheTTL, maxCachedListings), MaxAge: caddy.Duration(time.Minute),
		PublicFields: policy.DefaultPublicFields, publicBase: "https://share.example",
	}
	if clock != nil {
		a.links.now, a.facts.now, a.lists.now = clock.now, clock.now, clock.now
	}
	return a
}

func folderLink(id string, exposeUnpublished bool) *policy.Link {
	return &policy.Link{ID: id, Token: "tok_" + id, Account: "acct", ExposeUnpublished: exposeUnpublished,
		Target: policy.Target{Type: policy.TargetFolder, ID: benchFolderID}, TargetPath: benchFolder}
}

// listVisit runs GET /s/{token}/files for l and returns the response.
func listVisit(tb testing.TB, a *App, l *policy.Link) *httptest.ResponseRecorder {
	tb.Helper()
	h := &Handler{app: a, logger: zap.NewNop()}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/s/"+l.Token+"/files", nil)
	v := &visit{h: h, w: w, r: r, link: l, rt: route{token: l.Token, kind: "list"}, now: time.Now()}
	if err := v.list(); err != nil {
		tb.Fatal(err)
	}
	return w
}

func listedFiles(tb testing.TB, w *httptest.ResponseRecorder) []map[string]any {
	tb.Helper()
	if w.Code != http.StatusOK {
		tb.Fatalf("listing answered %d: %s", w.Code, w.Body)
	}
	var out struct {
		Files []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		tb.Fatal(err)
	}
	return out.Files
}

// TestListingCacheOneOriginCallPerTTL: within the cache TTL a folder
// listing reaches the origin once, however many visitors ask at the same
// time; after the TTL the origin is asked again and its changes show.
func TestListingCacheOneOriginCallPerTTL(t *testing.T) {
	o := startBenchOrigin(t)
	clock := &fakeClock{t: time.Now()}
	a := benchApp(t, o.url, clock)
	l := folderLink("lnk_a", false)

	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			page, last, err := a.listPage(context.Background(), l.ID, benchFolder, 0)
			if err != nil || len(page) != benchFiles || !last {
				t.Errorf("listPage: %d entries, %v", len(page), err)
			}
		}()
	}
	wg.Wait()
	if n := o.lists.Load(); n != 1 {
		t.Fatalf("16 concurrent listings within the TTL made %d origin listing requests, want 1", n)
	}
	if got := len(listedFiles(t, listVisit(t, a, l))); got != benchFiles-benchFiles/10 {
		t.Fatalf("listing shows %d files, want %d published", got, benchFiles-benchFiles/10)
	}
	if n := o.lists.Load(); n != 1 {
		t.Fatalf("a listing within the TTL asked the origin again (%d requests)", n)
	}

	// A file disappears at the origin: after the TTL the listing shows it.
	if err := os.Remove(filepath.Join(o.dir, "media", "bench", "list", "img_001.jpg")); err != nil {
		t.Fatal(err)
	}
	if err := o.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	clock.add(defaultCacheTTL)
	files := listedFiles(t, listVisit(t, a, l))
	if n := o.lists.Load(); n != 2 {
		t.Fatalf("after the TTL: %d origin listing requests, want 2", n)
	}
	for _, f := range files {
		if f["fileId"] == "file_001" {
			t.Fatal("a file deleted at the origin is still listed after the cache TTL")
		}
	}
}

// TestListingJSONReuseIsExact: a reused listing body is byte-identical to
// a fresh one, is never served for another link or another version of the
// link record, and holds no forbidden field.
func TestListingJSONReuseIsExact(t *testing.T) {
	o := startBenchOrigin(t)
	clock := &fakeClock{t: time.Now()}
	a := benchApp(t, o.url, clock)
	l := folderLink("lnk_a", false)
	first := listVisit(t, a, l).Body.String()
	second := listVisit(t, a, l).Body.String()
	if first != second {
		t.Fatal("the same link's listing differs within the TTL")
	}
	if bytes.Contains([]byte(second), []byte("SENTINEL")) {
		t.Fatalf("listing leaks a forbidden field: %.300s", second)
	}
	fl, _ := a.lists.get(benchFolder)
	if fl == nil || fl.rendered[l.ID].body == nil {
		t.Fatal("the listing body was not kept with the cached folder listing")
	}

	// A fresh App (no caches shared) renders the same bytes.
	fresh := listVisit(t, benchApp(t, o.url, nil), l).Body.String()
	if fresh != second {
		t.Fatal("a reused listing differs from a freshly built one")
	}

	// The link changes (exposeUnpublished on): a new record, a new body.
	changed := folderLink("lnk_a", true)
	if got := len(listedFiles(t, listVisit(t, a, changed))); got != benchFiles {
		t.Fatalf("changed link lists %d files, want %d (the old body was reused)", got, benchFiles)
	}
	// Another link on the same folder, other token: its own URLs.
	other := folderLink("lnk_b", false)
	body := listVisit(t, a, other).Body.String()
	if !bytes.Contains([]byte(body), []byte("/s/tok_lnk_b/files/")) || bytes.Contains([]byte(body), []byte("tok_lnk_a")) {
		t.Fatal("another link's listing carries the first link's URLs")
	}
	if n := o.lists.Load(); n != 2 { // this App's one, and the fresh App's one
		t.Fatalf("%d origin listing requests, want 2", n)
	}
}

// BenchmarkLinkCacheGet is the per-request token lookup with a warm cache.
func BenchmarkLinkCacheGet(b *testing.B) {
	// The TTL only decides expiry; a long one keeps the benchmark warm.
	c := newLinkCache(time.Hour, 100_000)
	for i := range 1000 {
		c.put(fmt.Sprintf("token-%04d-aaaaaaaaaaaaaaaaaaaa", i), &policy.Link{ID: fmt.Sprint(i)})
	}
	key := "token-0500-aaaaaaaaaaaaaaaaaaaa"
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if l, ok := c.get(key); !ok || l == nil {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkLookupTokenWarm is App.lookupToken served by the cache.
func BenchmarkLookupTokenWarm(b *testing.B) {
	a := &App{links: newLinkCache(time.Hour, 100_000)}
	a.links.put("tok", &policy.Link{ID: "lnk"})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.lookupToken(ctx, "tok"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublicFile renders one origin file through the allow-list.
func BenchmarkPublicFile(b *testing.B) {
	o := startBenchOrigin(b)
	a := benchApp(b, o.url, nil)
	l := folderLink("lnk_a", false)
	page, err := a.origin.List(context.Background(), l.ID, benchFolder, 0, originPage)
	if err != nil {
		b.Fatal(err)
	}
	s := &scope{folder: &origin.Folder{FolderID: benchFolderID, FolderPath: benchFolder}}
	f := page[1]
	b.ReportAllocs()
	for b.Loop() {
		if pf := a.publicFile(l, s, f); len(pf) == 0 {
			b.Fatal("empty")
		}
	}
}

// BenchmarkBuildListing filters and renders 200 cached origin entries
// (visibility + allow-list), without the JSON encoding.
func BenchmarkBuildListing(b *testing.B) {
	o := startBenchOrigin(b)
	a := benchApp(b, o.url, nil)
	a.lists = newListCache(time.Hour, maxCachedListings)
	a.facts = newFactCache(time.Hour, 100)
	l := folderLink("lnk_a", false)
	v := &visit{h: &Handler{app: a, logger: zap.NewNop()}, r: httptest.NewRequest(http.MethodGet, "/", nil), link: l}
	s, err := a.resolveScope(context.Background(), l)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := v.buildListing(s, "")
		if err != nil || len(out.Files) != benchFiles-benchFiles/10 {
			b.Fatalf("%v", err)
		}
	}
}

// BenchmarkListVisit is a whole GET /s/{token}/files after the token
// lookup: cold (every request rebuilds and re-encodes; the TTL is zero so
// each one also asks the origin) and warm (cached listing and body).
func BenchmarkListVisit(b *testing.B) {
	o := startBenchOrigin(b)
	for _, mode := range []string{"uncached", "cached"} {
		b.Run(mode, func(b *testing.B) {
			a := benchApp(b, o.url, nil)
			if mode == "uncached" {
				a.facts, a.lists = newFactCache(0, 10), newListCache(0, 10)
			}
			l := folderLink("lnk_a", false)
			b.ReportAllocs()
			for b.Loop() {
				if w := listVisit(b, a, l); w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// BenchmarkContentVisit is a whole GET …/content of a 1 KiB file through
// the real origin over loopback HTTP, file fact cached.
func BenchmarkContentVisit(b *testing.B) {
	o := startBenchOrigin(b)
	a := benchApp(b, o.url, nil)
	a.facts = newFactCache(time.Hour, 100)
	l := &policy.Link{ID: "lnk_f", Token: "tok_f", Target: policy.Target{Type: policy.TargetFile, ID: "file_001"}, TargetPath: benchFolder + "/img_001.jpg"}
	h := &Handler{app: a, logger: zap.NewNop()}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/s/tok_f/files/file_001/content", nil)
		v := &visit{h: h, w: w, r: r, link: l, rt: route{token: "tok_f", kind: "content", fileID: "file_001"}, now: time.Now()}
		if err := v.blob("content"); err != nil || w.Code != http.StatusOK || w.Body.Len() != 1024 {
			b.Fatalf("%v %d %d", err, w.Code, w.Body.Len())
		}
	}
}
