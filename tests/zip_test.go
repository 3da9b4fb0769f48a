package tests

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publink/publink/originauth"
)

// visitor is one browser: its own cookie jar.
func (e *Env) visitor(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// visit sends a request as a visitor.
func (e *Env) visit(t testing.TB, c *http.Client, method, path string, hdr map[string]string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, e.GatewayURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// fetchZip downloads a link's zip (as visitor c, or a cookieless client)
// and checks what every zip must be: 200, an attachment, streamed, valid for
// Go and for unzip, stored entries, nothing forbidden anywhere.
func (e *Env) fetchZip(t *testing.T, c *http.Client, token string) *Response {
	t.Helper()
	if c == nil {
		c = e.Client
	}
	r := e.visit(t, c, http.MethodGet, "/s/"+token+"/download.zip", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("zip: %d %.300s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/zip" {
		t.Errorf("zip Content-Type %q", ct)
	}
	if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ".zip") {
		t.Errorf("zip Content-Disposition %q", cd)
	}
	// Streamed: net/http adds a Content-Length only when the whole archive
	// fit in its first buffer.
	if cl := r.Header.Get("Content-Length"); cl != "" && (cl != strconv.Itoa(len(r.Body)) || len(r.Body) > 4096) {
		t.Errorf("zip Content-Length %s for %d bytes", cl, len(r.Body))
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "SENTINEL") || strings.Contains(v, "ms_session") {
				t.Errorf("zip header %s: %q", k, v)
			}
		}
	}
	if bytes.Contains(r.Body, []byte("OLDVERSIONBYTES")) {
		t.Errorf("zip holds old-version bytes")
	}
	zr := openZip(t, r.Body)
	for _, f := range zr.File {
		if strings.Contains(f.Name, "SENTINEL") || strings.Contains(f.Comment, "SENTINEL") {
			t.Errorf("zip entry %q leaks", f.Name)
		}
		if f.Method != zip.Store {
			t.Errorf("zip entry %q method %d, want stored", f.Name, f.Method)
		}
		if strings.HasPrefix(f.Name, "/") || strings.Contains(f.Name, "\\") || slices.Contains(strings.Split(f.Name, "/"), "..") {
			t.Errorf("unsafe zip entry name %q", f.Name)
		}
	}
	if zr.Comment != "" {
		t.Errorf("zip comment %q", zr.Comment)
	}
	if _, err := exec.LookPath("unzip"); err == nil && len(zr.File) > 0 { // unzip calls an empty zip a warning
		p := filepath.Join(t.TempDir(), "dl.zip")
		os.WriteFile(p, r.Body, 0o600)
		if out, err := exec.Command("unzip", "-t", p).CombinedOutput(); err != nil {
			t.Errorf("unzip -t: %v\n%s", err, out)
		}
	}
	return r
}

func openZip(t *testing.T, b []byte) *zip.Reader {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip (%d bytes): %v", len(b), err)
	}
	return zr
}

// zipContents maps entry names to their bytes.
func zipContents(t *testing.T, r *Response) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range openZip(t, r.Body).File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("entry %s: %v", f.Name, err)
		}
		if _, dup := out[f.Name]; dup {
			t.Errorf("duplicate entry %q", f.Name)
		}
		out[f.Name] = b
	}
	return out
}

func zipNamesOf(t *testing.T, r *Response) []string {
	t.Helper()
	var names []string
	for name := range zipContents(t, r) {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// wantZip checks a zip holds exactly want (name → demo path under media/).
func (e *Env) wantZip(t *testing.T, r *Response, want map[string]string) {
	t.Helper()
	got := zipContents(t, r)
	for name, rel := range want {
		b, ok := got[name]
		if !ok {
			t.Errorf("zip lacks %q (has %v)", name, zipNamesOf(t, r))
			continue
		}
		if !bytes.Equal(b, demoFile(t, e, rel)) {
			t.Errorf("zip entry %q differs from the origin's current %s", name, rel)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("zip has unexpected %q", name)
		}
	}
}

func TestZipDownloads(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		photos := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})

		// A folder: its whole subtree, paths relative to it, no drafts,
		// current versions only.
		e.Manage(http.MethodDelete, "/manage/requests", nil)
		r := e.fetchZip(t, nil, photos.Token)
		e.wantZip(t, r, map[string]string{"sunset.png": "photos/sunset.png", "private.png": "photos/private.png", "2024/beach.png": "photos/2024/beach.png"})
		if cd := r.Header.Get("Content-Disposition"); cd != `attachment; filename=photos.zip` && cd != `attachment; filename="photos.zip"` {
			t.Errorf("Content-Disposition %q", cd)
		}
		for _, req := range e.OriginRequests() {
			if strings.Contains(req.RequestURI, "version") || strings.Contains(req.RequestURI, "draft") || !req.Verified {
				t.Errorf("origin saw %s %s (verified %v)", req.Method, req.RequestURI, req.Verified)
			}
		}
		// The folder's sub-folder link.
		sub := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos_2024")})
		e.wantZip(t, e.fetchZip(t, nil, sub.Token), map[string]string{"beach.png": "photos/2024/beach.png"})

		// A file link: that file.
		fl := e.FileLink("file_sunset")
		r = e.fetchZip(t, nil, fl.Token)
		e.wantZip(t, r, map[string]string{"sunset.png": "photos/sunset.png"})
		if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "sunset.zip") {
			t.Errorf("file link Content-Disposition %q", cd)
		}

		// A collection: flat, published members wherever they live.
		col := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_summer")})
		r = e.fetchZip(t, nil, col.Token)
		e.wantZip(t, r, map[string]string{"sunset.png": "photos/sunset.png", "other.png": "photos2/other.png", "beach.png": "photos/2024/beach.png"})
		if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "Summer picks.zip") {
			t.Errorf("collection Content-Disposition %q", cd)
		}
		empty := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_empty")})
		if names := zipNamesOf(t, e.fetchZip(t, nil, empty.Token)); len(names) != 0 {
			t.Errorf("empty collection zip %v", names)
		}

		// HEAD: the headers only, and nothing fetched from the origin.
		e.Manage(http.MethodDelete, "/manage/requests", nil)
		h := e.Do(http.MethodHead, e.GatewayURL+"/s/"+photos.Token+"/download.zip", nil, nil)
		if h.Status != http.StatusOK || h.Header.Get("Content-Type") != "application/zip" || len(h.Body) != 0 ||
			!strings.HasPrefix(h.Header.Get("Content-Disposition"), "attachment") || h.Header.Get("Set-Cookie") != "" {
			t.Errorf("HEAD zip: %d %v", h.Status, h.Header)
		}
		if hits := e.originSaw("/content"); len(hits) > 0 {
			t.Errorf("HEAD fetched content: %v", hits)
		}
	})
}

// TestZipNamesAreSafeAndUnique: a collection whose members share a name, or
// carry hostile display names, still zips to distinct, safe entries.
func TestZipNamesAreSafeAndUnique(t *testing.T) {
	e := NewEnv(t, Options{})
	up := func(p string, body string) string {
		r := e.Manage(http.MethodPut, "/manage/upload?path="+url.QueryEscape(p), strings.NewReader(body))
		if r.Status != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", p, r.Status, r.Body)
		}
		var f struct{ FileID string }
		r.JSON(t, &f)
		return f.FileID
	}
	rename := func(id, name string) {
		b, _ := json.Marshal(map[string]any{"name": name})
		if r := e.Manage(http.MethodPatch, "/manage/files/"+id, bytes.NewReader(b)); r.Status != http.StatusOK {
			t.Fatalf("renaming %s: %d %s", id, r.Status, r.Body)
		}
	}
	twin := up("/docs/sunset.png", "second sunset")
	upper := up("/docs/upper.png", "upper")
	rename(upper, "SUNSET.PNG")
	evil := up("/docs/evil1.txt", "evil one")
	rename(evil, "../../etc/passwd")
	evil2 := up("/docs/evil2.txt", "evil two")
	rename(evil2, `..\..\win.ini`)
	evil3 := up("/docs/evil3.txt", "evil three")
	rename(evil3, "/abs\x01olute\u202egnp.txt")
	evil4 := up("/docs/evil4.txt", "evil four")
	rename(evil4, "..")
	body, _ := json.Marshal(map[string]any{"name": "Dups", "fileIds": []string{"file_sunset", twin, upper, "file_hostile", evil, evil2, evil3, evil4}})
	if r := e.Manage(http.MethodPut, "/manage/collections/col_dups", bytes.NewReader(body)); r.Status/100 != 2 {
		t.Fatalf("collection: %d %s", r.Status, r.Body)
	}
	l := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_dups")})
	r := e.fetchZip(t, nil, l.Token)
	got := zipContents(t, r)
	hostile := `<img src=x onerror=alert(1)>"é.png`
	want := map[string]string{
		"sunset.png":         string(demoFile(t, e, "photos/sunset.png")),
		"sunset (2).png":     "second sunset",
		"SUNSET (3).PNG":     "upper",
		hostile:              string(demoFile(t, e, "docs/hostile.png")),
		".._.._etc_passwd":   "evil one",
		".._.._win.ini":      "evil two",
		"_abs_olute_gnp.txt": "evil three",
		evil4:                "evil four",
	}
	for name, content := range want {
		if string(got[name]) != content {
			t.Errorf("entry %q: %q", name, got[name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("entries %v", zipNamesOf(t, r))
	}
	// Non-ASCII names are marked UTF-8.
	for _, f := range openZip(t, r.Body).File {
		if f.Name == hostile && (f.Flags&0x800 == 0 || f.NonUTF8) {
			t.Errorf("%q not marked UTF-8 (flags %#x)", f.Name, f.Flags)
		}
	}
}

// TestZipVisitorDownloads: each zip download is recorded; a visitor sees
// only their own downloads through that link; the library sees them all,
// marked viaPublicLink, with the user a trusted front end vouched for.
func TestZipVisitorDownloads(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.Caddyfile = caddyfileWith(t, "identity_header X-Library-User")
		e := NewEnv(t, o)
		photos := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
		other := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_summer")})
		a, b := e.visitor(t), e.visitor(t)

		type item struct {
			ID        string    `json:"id"`
			CreatedAt time.Time `json:"createdAt"`
			Files     int       `json:"files"`
			Bytes     int64     `json:"bytes"`
			Status    string    `json:"status"`
		}
		list := func(c *http.Client, token string) []item {
			t.Helper()
			r := e.visit(t, c, http.MethodGet, "/s/"+token+"/downloads", nil)
			if r.Status != http.StatusOK {
				t.Fatalf("downloads: %d %s", r.Status, r.Body)
			}
			if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
				t.Errorf("downloads Cache-Control %q", cc)
			}
			var raw struct{ Items []map[string]any }
			r.JSON(t, &raw)
			for _, it := range raw.Items {
				for k := range it {
					if !slices.Contains([]string{"id", "createdAt", "files", "bytes", "status"}, k) {
						t.Errorf("downloads item has %q", k)
					}
				}
			}
			if strings.Contains(string(r.Body), "bob") || strings.Contains(strings.ToLower(string(r.Body)), "session") {
				t.Errorf("downloads exposes %s", r.Body)
			}
			var out struct{ Items []item }
			r.JSON(t, &out)
			return out.Items
		}
		if got := list(a, photos.Token); len(got) != 0 {
			t.Fatalf("fresh visitor has downloads %v", got)
		}

		// A's first zip sets the session cookie; it stays public per SPEC
		// §3 and says Vary: Cookie (CDNs do not store Set-Cookie responses).
		r1 := e.visit(t, a, http.MethodGet, "/s/"+photos.Token+"/download.zip", map[string]string{"X-Library-User": "bob"})
		sc := r1.Header.Get("Set-Cookie")
		if r1.Status != 200 || !strings.Contains(sc, "publink_session=") || !strings.Contains(sc, "HttpOnly") ||
			!strings.Contains(sc, "SameSite=Lax") || !strings.Contains(sc, "Path=/s/") {
			t.Fatalf("first zip: %d Set-Cookie %q", r1.Status, sc)
		}
		if cc := r1.Header.Get("Cache-Control"); cc != "public, max-age=60" || !strings.Contains(strings.Join(r1.Header.Values("Vary"), ","), "Cookie") {
			t.Errorf("zip that sets a session: Cache-Control %q, Vary %q", cc, r1.Header.Values("Vary"))
		}
		r2 := e.visit(t, a, http.MethodGet, "/s/"+photos.Token+"/download.zip", nil)
		if r2.Header.Get("Set-Cookie") != "" || !strings.HasPrefix(r2.Header.Get("Cache-Control"), "public, max-age=") {
			t.Errorf("second zip: Set-Cookie %q Cache-Control %q", r2.Header.Get("Set-Cookie"), r2.Header.Get("Cache-Control"))
		}
		e.visit(t, a, http.MethodGet, "/s/"+other.Token+"/download.zip", nil)
		rb := e.visit(t, b, http.MethodGet, "/s/"+photos.Token+"/download.zip", nil)

		ga := list(a, photos.Token)
		if len(ga) != 2 {
			t.Fatalf("A's downloads %+v", ga)
		}
		for _, d := range ga {
			if d.Status != "completed" || d.Files != 3 || d.Bytes != int64(len(r1.Body)) || d.ID == "" || time.Since(d.CreatedAt) > time.Minute {
				t.Errorf("A's download %+v (zip was %d bytes)", d, len(r1.Body))
			}
		}
		if ga[0].CreatedAt.Before(ga[1].CreatedAt) {
			t.Errorf("downloads not newest first: %+v", ga)
		}
		gb := list(b, photos.Token)
		if len(gb) != 1 || gb[0].Bytes != int64(len(rb.Body)) || gb[0].ID == ga[0].ID || gb[0].ID == ga[1].ID {
			t.Errorf("B's downloads %+v", gb)
		}
		if got := list(a, other.Token); len(got) != 1 || got[0].Files != 3 {
			t.Errorf("A's downloads through the collection %+v", got)
		}
		if got := list(e.visitor(t), photos.Token); len(got) != 0 {
			t.Errorf("a stranger sees %+v", got)
		}
		// A forged or foreign cookie value shows nothing.
		for _, v := range []string{"x", strings.Repeat("A", 22), "../../", ""} {
			r := e.Get("/s/"+photos.Token+"/downloads", map[string]string{"Cookie": "publink_session=" + v})
			if r.Status != 200 || strings.Contains(string(r.Body), `"id"`) {
				t.Errorf("cookie %q: %d %s", v, r.Status, r.Body)
			}
		}

		// The library's view.
		var all struct {
			Items []map[string]any `json:"items"`
		}
		ar := e.Admin(http.MethodGet, "/v1/downloads", "alice", nil)
		if ar.Status != 200 {
			t.Fatalf("admin downloads: %d %s", ar.Status, ar.Body)
		}
		ar.JSON(t, &all)
		if len(all.Items) != 4 {
			t.Fatalf("admin sees %d downloads: %s", len(all.Items), ar.Body)
		}
		users := 0
		for _, it := range all.Items {
			if it["viaPublicLink"] != true || it["linkId"] == "" || it["status"] != "completed" {
				t.Errorf("admin item %v", it)
			}
			if _, ok := it["session"]; ok {
				t.Errorf("admin item shows the session: %v", it)
			}
			if it["user"] == "bob" {
				users++
			} else if _, ok := it["user"]; ok {
				t.Errorf("admin item user %v", it["user"])
			}
		}
		if users != 1 {
			t.Errorf("%d downloads by bob, want 1: %s", users, ar.Body)
		}
		ar = e.Admin(http.MethodGet, "/v1/downloads?user=bob", "alice", nil)
		ar.JSON(t, &all)
		if len(all.Items) != 1 || all.Items[0]["linkId"] != photos.ID {
			t.Errorf("?user=bob: %s", ar.Body)
		}
		ar = e.Admin(http.MethodGet, "/v1/downloads?link="+other.ID, "alice", nil)
		ar.JSON(t, &all)
		if len(all.Items) != 1 || all.Items[0]["linkId"] != other.ID {
			t.Errorf("?link=: %s", ar.Body)
		}
	})
}

// TestZipUserOnlyFromConfiguredHeader: without identity_header no request
// header names a user.
func TestZipUserOnlyFromConfiguredHeader(t *testing.T) {
	e := NewEnv(t, Options{Env: map[string]string{"PUBLINK_INSECURE_COOKIES": "false"}})
	l := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos_2024")})
	r := e.Get("/s/"+l.Token+"/download.zip", map[string]string{"X-Library-User": "bob", "X-Publink-User": "bob", "X-Remote-User": "bob"})
	if r.Status != 200 {
		t.Fatalf("zip: %d", r.Status)
	}
	if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, "; Secure") {
		t.Errorf("session cookie without Secure: %q", sc)
	}
	ar := e.Admin(http.MethodGet, "/v1/downloads", "alice", nil)
	if ar.Status != 200 || !strings.Contains(string(ar.Body), `"viaPublicLink":true`) || strings.Contains(string(ar.Body), "bob") {
		t.Errorf("admin downloads: %d %s", ar.Status, ar.Body)
	}
}

// TestZipOriginFailureBreaksTheDownload: when the origin dies in the middle
// of a file, the visitor's download fails visibly (the response is cut
// off, the bytes are not a valid zip) and the download is recorded failed.
func TestZipOriginFailureBreaksTheDownload(t *testing.T) {
	// A thin origin in front of mediastore that breaks one file's content
	// half way through.
	var target atomic.Pointer[httputil.ReverseProxy]
	var broken atomic.Bool
	front := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() && r.URL.Path == "/v1/files/file_beach/content" {
			w.Header().Set("Content-Length", "1000000")
			w.WriteHeader(http.StatusOK)
			w.Write(bytes.Repeat([]byte{0x89}, 64<<10))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		p := target.Load()
		if p == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	e := NewEnv(t, Options{Env: map[string]string{"PUBLINK_ORIGIN": front}})
	u, _ := url.Parse(e.OriginURL)
	target.Store(httputil.NewSingleHostReverseProxy(u))
	l := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
	c := e.visitor(t)
	e.fetchZip(t, c, l.Token) // works while the origin does

	broken.Store(true)
	resp, err := c.Get(e.GatewayURL + "/s/" + l.Token + "/download.zip")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if err == nil {
		t.Errorf("the broken download ended cleanly after %d bytes", len(body))
	}
	if len(body) == 0 {
		t.Errorf("nothing streamed before the failure")
	}
	if _, err := zip.NewReader(bytes.NewReader(body), int64(len(body))); err == nil {
		t.Errorf("the broken download is a valid zip")
	}
	eventually(t, 5*time.Second, "failed download recorded", func() bool {
		r := e.visit(t, c, http.MethodGet, "/s/"+l.Token+"/downloads", nil)
		var out struct{ Items []struct{ Status string } }
		json.Unmarshal(r.Body, &out)
		return len(out.Items) == 2 && out.Items[0].Status == "failed" && out.Items[1].Status == "completed"
	})
	// The gateway is fine afterwards.
	broken.Store(false)
	e.fetchZip(t, c, l.Token)
}

// newLoopbackServer serves h on a free 127.0.0.1 port until the test ends.
func newLoopbackServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := &http.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// BenchmarkZipFolder streams a zip of a 1 GiB folder (64 sparse files of
// 16 MiB on mediastore's disk) and compares it with reading the same bytes
// straight from the origin and through the gateway's content route (the
// same bytes, file by file, no zip); it also reports how much the gateway's
// resident memory grew. Run: go test ./tests -run '^$' -bench ZipFolder -benchtime 3x
func BenchmarkZipFolder(b *testing.B) {
	const files, size = 64, 16 << 20
	e := NewEnv(b, Options{})
	dir := filepath.Join(e.DataDir, "media", "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, ".folder.json"), []byte(`{"folderId":"fld_big"}`), 0o644)
	var ids []string
	for i := range files {
		name := filepath.Join(dir, fmt.Sprintf("f%02d.bin", i))
		f, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		f.Truncate(size)
		f.Close()
		id := fmt.Sprintf("file_big_%02d", i)
		os.WriteFile(name+".json", []byte(`{"fileId":"`+id+`"}`), 0o644)
		ids = append(ids, id)
	}
	if r := e.Manage(http.MethodPost, "/manage/reload", nil); r.Status/100 != 2 {
		b.Fatalf("reload: %d", r.Status)
	}
	l := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_big")})
	client := &http.Client{}
	drain := func(req *http.Request) int64 {
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%s: %d %v", req.URL.Path, resp.StatusCode, err)
		}
		return n
	}
	hwm0, rss0 := procMemory(b, e.gateway.Process.Pid)
	var zipTime, originTime, contentTime time.Duration
	var zipBytes, originBytes, contentBytes int64
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, e.GatewayURL+"/s/"+l.Token+"/download.zip", nil)
		zipBytes += drain(req)
		zipTime += time.Since(start)

		start = time.Now()
		for _, id := range ids {
			req, _ := http.NewRequest(http.MethodGet, e.OriginURL+"/v1/files/"+id+"/content", nil)
			originauth.Sign(req, []byte(e.OriginSecret), l.ID, time.Now())
			originBytes += drain(req)
		}
		originTime += time.Since(start)

		start = time.Now()
		for _, id := range ids {
			req, _ := http.NewRequest(http.MethodGet, e.GatewayURL+"/s/"+l.Token+"/files/"+id+"/content", nil)
			contentBytes += drain(req)
		}
		contentTime += time.Since(start)
	}
	b.StopTimer()
	hwm1, rss1 := procMemory(b, e.gateway.Process.Pid)
	zipMBps := float64(zipBytes) / zipTime.Seconds() / (1 << 20)
	originMBps := float64(originBytes) / originTime.Seconds() / (1 << 20)
	b.ReportMetric(zipMBps, "zip-MiB/s")
	b.ReportMetric(originMBps, "origin-MiB/s")
	contentMBps := float64(contentBytes) / contentTime.Seconds() / (1 << 20)
	b.ReportMetric(contentMBps, "content-MiB/s")
	b.ReportMetric(zipMBps/originMBps, "zip/origin")
	b.ReportMetric(zipMBps/contentMBps, "zip/content")
	b.ReportMetric(float64(hwm1-hwm0)/1024, "VmHWM-growth-MiB")
	b.ReportMetric(float64(rss1)/1024, "VmRSS-MiB")
	b.Logf("zip %.0f MiB/s, origin %.0f MiB/s, gateway content %.0f MiB/s, VmHWM %d→%d KiB, VmRSS %d→%d KiB", zipMBps, originMBps, contentMBps, hwm0, hwm1, rss0, rss1)
}

// procMemory reads a process's peak and current resident memory, in KiB.
func procMemory(t testing.TB, pid int) (hwm, rss int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmHWM":
			hwm = n
		case "VmRSS":
			rss = n
		}
	}
	return hwm, rss
}
