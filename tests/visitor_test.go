package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// rawExchange sends one request byte for byte to baseURL's host (no
// client-side path cleaning or header checks) and reads the whole response.
// hdr holds whole header lines; a body gets its Content-Length.
func rawExchange(t testing.TB, baseURL, method, target string, hdr []string, body string) *Response {
	t.Helper()
	u, _ := url.Parse(baseURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, u.Host)
	if body != "" || (method != http.MethodGet && method != http.MethodHead) {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	for _, h := range hdr {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, baseURL, nil) // HEAD answers have no body
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: out}
}

// headerLines turns a header map into lines for rawExchange.
func headerLines(hdr map[string]string) []string {
	var lines []string
	for k, v := range hdr {
		lines = append(lines, k+": "+v)
	}
	return lines
}

// rawGet sends a GET to the gateway exactly as given.
func (e *Env) rawGet(target string, hdr map[string]string) *Response {
	e.t.Helper()
	return rawExchange(e.t, e.GatewayURL, http.MethodGet, target, headerLines(hdr), "")
}

func demoFile(t *testing.T, e *Env, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.DataDir, "media", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileLinkServesMetadataContentAndThumbnail(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		l := e.FileLink("file_sunset")
		base := "/s/" + l.Token
		want := demoFile(t, e, "photos/sunset.png")

		r := e.Get(base+"/files/file_sunset", nil)
		if r.Status != 200 {
			t.Fatalf("file JSON: %d %s", r.Status, r.Body)
		}
		var pf map[string]any
		r.JSON(t, &pf)
		allowed := map[string]bool{"fileId": true, "name": true, "path": true, "fileType": true, "mime": true, "size": true,
			"width": true, "height": true, "hasAlpha": true, "embeddedMetadata": true, "duration": true,
			"createdAt": true, "updatedAt": true, "contentUrl": true, "thumbnailUrl": true}
		for k := range pf {
			if !allowed[k] {
				t.Errorf("publicFile has non-allow-listed field %q", k)
			}
		}
		if pf["fileId"] != "file_sunset" || pf["name"] != "sunset.png" || pf["mime"] != "image/png" {
			t.Errorf("publicFile = %v", pf)
		}
		if _, ok := pf["path"]; ok {
			t.Errorf("a file link's publicFile has a path: %v", pf["path"])
		}
		if pf["contentUrl"] != e.GatewayURL+base+"/files/file_sunset/content" {
			t.Errorf("contentUrl = %v", pf["contentUrl"])
		}

		r = e.Get(base+"/files/file_sunset/content", nil)
		if r.Status != 200 || !bytes.Equal(r.Body, want) {
			t.Fatalf("content: %d, %d bytes (want %d)", r.Status, len(r.Body), len(want))
		}
		if r.Header.Get("Content-Type") != "image/png" || r.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("content headers: %v", r.Header)
		}
		etag := r.Header.Get("ETag")

		r = e.Get(base+"/files/file_sunset/content", map[string]string{"Range": "bytes=0-9"})
		if r.Status != 206 || !bytes.Equal(r.Body, want[:10]) || r.Header.Get("Content-Range") != fmt.Sprintf("bytes 0-9/%d", len(want)) {
			t.Errorf("range: %d %q %q", r.Status, r.Body, r.Header.Get("Content-Range"))
		}
		r = e.Get(base+"/files/file_sunset/content", map[string]string{"Range": "bytes=-5"})
		if r.Status != 206 || !bytes.Equal(r.Body, want[len(want)-5:]) {
			t.Errorf("suffix range: %d %q", r.Status, r.Body)
		}
		r = e.Do(http.MethodHead, e.GatewayURL+base+"/files/file_sunset/content", nil, nil)
		if r.Status != 200 || len(r.Body) != 0 || r.Header.Get("Content-Length") != fmt.Sprint(len(want)) {
			t.Errorf("HEAD: %d len=%d CL=%q", r.Status, len(r.Body), r.Header.Get("Content-Length"))
		}
		if etag == "" {
			t.Fatal("no ETag on content")
		}
		// The origin's ETag is its version id, which visitors never see.
		if strings.Contains(etag, "ver_") {
			t.Errorf("ETag %s shows the origin's version id", etag)
		}
		r = e.Get(base+"/files/file_sunset/content", map[string]string{"If-None-Match": `"ver_current"`})
		if r.Status != 200 || !bytes.Equal(r.Body, want) {
			t.Errorf("a guessed origin ETag revalidated: %d", r.Status)
		}
		r = e.Get(base+"/files/file_sunset/content", map[string]string{"Range": "bytes=0-3", "If-Range": etag})
		if r.Status != 206 || !bytes.Equal(r.Body, want[:4]) {
			t.Errorf("If-Range with the gateway's ETag: %d", r.Status)
		}
		r = e.Get(base+"/files/file_sunset/content", map[string]string{"Range": "bytes=0-3", "If-Range": `"ver_current"`})
		if r.Status != 200 || !bytes.Equal(r.Body, want) {
			t.Errorf("If-Range with a foreign ETag must send the whole file: %d", r.Status)
		}
		r = e.Get(base+"/files/file_sunset/content", map[string]string{"If-None-Match": etag})
		if r.Status != 304 || len(r.Body) != 0 {
			t.Errorf("If-None-Match: %d", r.Status)
		}
		r = e.Get(base+"/files/file_sunset/content?download=1", nil)
		if cd := r.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "sunset.png") {
			t.Errorf("download=1 Content-Disposition = %q", cd)
		}
		r = e.Get(base+"/files/file_sunset/thumbnail", nil)
		if r.Status != 200 || !bytes.HasPrefix(r.Body, []byte("\x89PNG")) {
			t.Errorf("thumbnail: %d %q", r.Status, r.Header.Get("Content-Type"))
		}
		r = e.Get(base+"/files", map[string]string{"Accept": "application/json"})
		var lst struct {
			Type    string           `json:"type"`
			Name    string           `json:"name"`
			Folders []any            `json:"folders"`
			Files   []map[string]any `json:"files"`
		}
		r.JSON(t, &lst)
		if r.Status != 200 || lst.Type != "file" || lst.Name != "sunset.png" || len(lst.Files) != 1 || lst.Folders == nil {
			t.Errorf("listing: %d %s", r.Status, r.Body)
		}
		r = e.Get(base, nil)
		if r.Status != 200 || !strings.Contains(r.Header.Get("Content-Type"), "text/html") || !bytes.Contains(r.Body, []byte("sunset.png")) {
			t.Errorf("page: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
	})
}

// sentinelFree fails when any response part carries a forbidden value.
func sentinelFree(t *testing.T, what string, r *Response) {
	t.Helper()
	body := string(r.Body)
	body = strings.ReplaceAll(body, "SENTINEL_SVG_SCRIPT", "")
	body = strings.ReplaceAll(body, "SENTINEL_HTML_SCRIPT", "")
	if i := strings.Index(body, "SENTINEL"); i >= 0 {
		t.Errorf("%s: body leaks %q", what, body[i:min(len(body), i+60)])
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if strings.Contains(v, "SENTINEL") || strings.Contains(v, "ms_session") {
				t.Errorf("%s: header %s leaks %q", what, k, v)
			}
		}
	}
}

func TestNothingForbiddenLeaks(t *testing.T) {
	e := NewEnv(t, Options{})
	var paths []string
	add := func(tok string, ids ...string) {
		base := "/s/" + tok
		paths = append(paths, base, base+"/files", base+"/download.zip", base+"/downloads", base+"/files/nope", base+"/nope")
		for _, id := range ids {
			f := base + "/files/" + id
			paths = append(paths, f, f+"/content", f+"/thumbnail", f+"/content?download=1", base+"?file="+id)
		}
	}
	all := []string{"file_sunset", "file_beach", "file_draft", "file_private", "file_other", "file_readme", "file_svg", "file_page", "file_hostile"}
	for _, id := range all {
		add(e.FileLink(id).Token, all...)
	}
	for _, tgt := range [][2]string{{"folder", "fld_photos"}, {"folder", "fld_docs"}, {"collection", "col_summer"}} {
		l := e.CreateLink(map[string]any{"target": map[string]any{"type": tgt[0], "id": tgt[1]}, "exposeUnpublished": true})
		add(l.Token, all...)
		paths = append(paths, "/s/"+l.Token+"/files?path=2024", "/s/"+l.Token+"?path=2024")
	}
	add("unknownTokenAAAAAAAAAAAAAAAAAAAAAA", "file_sunset")
	n := 0
	for _, p := range paths {
		for _, accept := range []string{"", "application/json", "text/html"} {
			r := e.Get(p, map[string]string{"Accept": accept})
			sentinelFree(t, p+" Accept="+accept, r)
			n++
		}
	}
	if n < 300 {
		t.Fatalf("only %d requests checked", n)
	}
}

func TestVersionSelectorsAndTraversalNeverReachOldOrOtherFiles(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	base := "/s/" + l.Token
	current := demoFile(t, e, "photos/sunset.png")
	others := [][]byte{demoFile(t, e, "docs/readme.txt"), demoFile(t, e, "photos2/other.png"), demoFile(t, e, "photos/draft.png")}
	attacks := []string{
		base + "/files/file_sunset/content?version=ver_old",
		base + "/files/file_sunset/content?ik-obj-version=ver_old",
		base + "/files/file_sunset/content?versionId=ver_old&version=1",
		base + "/files/file_sunset/versions/ver_old/content",
		base + "/files/file_sunset/content/versions/ver_old",
		base + "/files/file_sunset/versions/ver_old",
		base + "/files/file_sunset/../file_readme/content",
		base + "/files/file_sunset/%2e%2e/file_readme/content",
		base + "/files/%2e%2e/file_readme/content",
		base + "/files/file_sunset%2f..%2ffile_readme/content",
		base + "/files/file_readme%2fcontent",
		base + "/files/..%2f..%2fv1%2ffiles%2ffile_readme/content",
		base + "/files/%252e%252e%252ffile_readme/content",
		base + "/files/file_sunset%00/content",
		base + "/files/file_sunset\\..\\file_readme/content",
		base + "/files/file_readme/content",
		base + "/files/file_other/content",
		base + "/files/file_draft/content",
		base + "/files/FILE_SUNSET/content",
		base + "/files/file_sunset/content;version=ver_old",
		base + "%2ffiles%2ffile_sunset%2fcontent",
		base + "/./files/file_readme/content",
		"/s/" + l.Token + "/../s/" + l.Token + "/files/file_readme/content",
		base + "/files/file_sunset/content?path=../../docs/readme.txt",
		base + "/files?path=../docs",
		base + "/files?path=%2e%2e%2fdocs",
	}
	for _, a := range attacks {
		r := e.rawGet(a, nil)
		if bytes.Contains(r.Body, []byte("OLDVERSIONBYTES")) {
			t.Errorf("%s served old-version bytes", a)
		}
		for _, o := range others {
			if len(o) > 0 && bytes.Contains(r.Body, o) {
				t.Errorf("%s served another file's bytes", a)
			}
		}
		if r.Status == 200 && !bytes.Equal(r.Body, current) && strings.Contains(a, "content") && !strings.Contains(a, "?path") {
			t.Errorf("%s: 200 with unexpected body", a)
		}
	}
	// Query-string selectors are dropped, so the current version is what
	// comes back for them.
	r := e.rawGet(base+"/files/file_sunset/content?version=ver_old", nil)
	if r.Status != 200 || !bytes.Equal(r.Body, current) {
		t.Errorf("?version=: %d", r.Status)
	}
	for _, req := range e.OriginRequests() {
		u := req.RequestURI
		if strings.Contains(u, "version") || strings.Contains(u, "..") || strings.Contains(u, "%2") || strings.Contains(u, "readme") || strings.Contains(u, "file_other") {
			t.Errorf("origin saw %s %s", req.Method, u)
		}
	}
}

func TestNotFoundsAreIdentical(t *testing.T) {
	e := NewEnv(t, Options{})
	now := time.Now().UTC()
	future := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"},
		"validFrom": now.Add(time.Hour).Format(time.RFC3339)})
	expiring := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"},
		"validUntil": now.Add(2 * time.Second).Format(time.RFC3339)})
	deleted := e.FileLink("file_sunset")
	if r := e.Admin(http.MethodDelete, "/v1/links/"+deleted.ID, "alice", nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	live := e.FileLink("file_sunset")
	time.Sleep(time.Until(now.Truncate(time.Second).Add(2*time.Second)) + 100*time.Millisecond)

	tokens := map[string]string{
		"unknown":      "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"not-yet":      future.Token,
		"expired":      expiring.Token,
		"deleted":      deleted.Token,
		"bad-chars":    "not.a.token",
		"out-of-scope": live.Token,
	}
	for _, suffix := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/download.zip"} {
		for _, accept := range []string{"text/html", "application/json", "*/*"} {
			var first *Response
			var firstName string
			names := make([]string, 0, len(tokens))
			for n := range tokens {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, name := range names {
				p := "/s/" + tokens[name] + suffix
				if name == "out-of-scope" {
					if suffix != "/files/file_sunset" && suffix != "/files/file_sunset/content" {
						continue
					}
					p = "/s/" + tokens[name] + strings.ReplaceAll(suffix, "file_sunset", "file_other")
				}
				r := e.Get(p, map[string]string{"Accept": accept})
				if r.Status != 404 {
					t.Errorf("%s %s: status %d", name, suffix, r.Status)
					continue
				}
				if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("%s: 404 Cache-Control %q", name, cc)
				}
				if r.Header.Get("Surrogate-Key") != "" {
					t.Errorf("%s: 404 names a link in Surrogate-Key", name)
				}
				if first == nil {
					first, firstName = r, name
					continue
				}
				if !bytes.Equal(first.Body, r.Body) {
					t.Errorf("Accept %q %s: 404 body of %s differs from %s", accept, suffix, name, firstName)
				}
				if strings.Join(headerNames(first.Header), ",") != strings.Join(headerNames(r.Header), ",") {
					t.Errorf("404 header sets differ: %s %v vs %s %v", firstName, headerNames(first.Header), name, headerNames(r.Header))
				}
			}
		}
	}
}

func headerNames(h http.Header) []string {
	var out []string
	for k := range h {
		if k != "Date" {
			out = append(out, k+"="+strings.Join(h.Values(k), ";"))
		}
	}
	sort.Strings(out)
	return out
}

func TestVisitorPublinkHeadersNeverReachOrigin(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	e.Manage(http.MethodDelete, "/manage/requests", nil)
	spoof := map[string]string{
		"X-Publink-Signature": "v1=deadbeef",
		"X-Publink-Link":      "lnk_forged",
		"X-Publink-Timestamp": "1",
		"X-Publink-Actor":     "alice",
		"X-Publink-Evil":      "1",
	}
	for _, p := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/files/file_sunset/thumbnail"} {
		if r := e.Get("/s/"+l.Token+p, spoof); r.Status != 200 {
			t.Errorf("%s with spoofed headers: %d", p, r.Status)
		}
	}
	reqs := e.OriginRequests()
	if len(reqs) == 0 {
		t.Fatal("origin saw no requests")
	}
	for _, q := range reqs {
		if !q.Verified {
			t.Errorf("origin got an unverified request: %+v", q)
		}
		if q.Link != l.ID {
			t.Errorf("origin request for link %q, want %q", q.Link, l.ID)
		}
		if q.Signature == "v1=deadbeef" || len(q.Headers) > 0 {
			t.Errorf("visitor headers reached the origin: %+v", q)
		}
	}
}

func TestMethodsOtherThanGetAreRefused(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	base := e.GatewayURL + "/s/" + l.Token
	for _, p := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/files/file_sunset/thumbnail", "/download.zip", "/downloads"} {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
			r := e.Do(m, base+p, strings.NewReader("x"), nil)
			if r.Status != 405 {
				t.Errorf("%s %s: %d", m, p, r.Status)
			}
			if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Allow") == "" {
				t.Errorf("%s %s: headers %v", m, p, r.Header)
			}
		}
	}
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		if r := e.Do(m, base+"/unlock", nil, nil); r.Status != 405 {
			t.Errorf("%s unlock: %d", m, r.Status)
		}
	}
}

func TestSecurityAndCachingHeaders(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	svg := e.FileLink("file_svg")
	page := e.FileLink("file_page")
	soon := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"},
		"validUntil": time.Now().Add(30 * time.Second).UTC().Format(time.RFC3339)})
	check := func(name string, r *Response) {
		t.Helper()
		for k, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex", "X-Content-Type-Options": "nosniff"} {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %s = %q", name, k, got)
			}
		}
		if r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: Set-Cookie %q", name, r.Header.Get("Set-Cookie"))
		}
	}
	for _, p := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/files/file_sunset/thumbnail"} {
		r := e.Get("/s/"+l.Token+p, nil)
		check(p, r)
		if r.Status != 200 || r.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Errorf("%s: %d Cache-Control %q", p, r.Status, r.Header.Get("Cache-Control"))
		}
		if tag := "publink-link-" + l.ID; r.Header.Get("Surrogate-Key") != tag || r.Header.Get("Cache-Tag") != tag {
			t.Errorf("%s: Surrogate-Key %q Cache-Tag %q", p, r.Header.Get("Surrogate-Key"), r.Header.Get("Cache-Tag"))
		}
	}
	r := e.Get("/s/"+soon.Token+"/files/file_sunset/content", nil)
	var age int
	if _, err := fmt.Sscanf(r.Header.Get("Cache-Control"), "public, max-age=%d", &age); err != nil || age > 30 || age < 25 {
		t.Errorf("link expiring in 30s: Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	check("404", e.Get("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil))
	check("405", e.Do("DELETE", e.GatewayURL+"/s/"+l.Token, nil, nil))
	for _, tc := range []struct{ tok, id string }{{svg.Token, "file_svg"}, {page.Token, "file_page"}} {
		r := e.Get("/s/"+tc.tok+"/files/"+tc.id+"/content", nil)
		if r.Status != 200 || !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s content: %d CSP %q", tc.id, r.Status, r.Header.Get("Content-Security-Policy"))
		}
		check(tc.id, r)
	}
	if r := e.Get("/s/"+l.Token+"/files/file_sunset/content", nil); strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("png content sandboxed: %q", r.Header.Get("Content-Security-Policy"))
	}
}

func TestLinksSurviveAGatewayRestart(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	e.StopGateway()
	e.StartGateway(filepath.Join(repoRoot(), "Caddyfile"))
	if r := e.Get("/s/"+l.Token+"/files/file_sunset", nil); r.Status != 200 {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
}

func TestPathsOutsideTheBasePassThrough(t *testing.T) {
	e := NewEnv(t, Options{})
	for _, p := range []string{"/", "/sx/abc", "/v1/links", "/static"} {
		r := e.Get(p, nil)
		if r.Status != 404 || string(r.Body) != "Not found" {
			t.Errorf("%s: %d %q (want the site's own 404)", p, r.Status, r.Body)
		}
	}
}
