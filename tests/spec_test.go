package tests

// SPEC conformance: statements of SPEC.md §2–§8 that no other test pins
// literally, and the gateway against a second, independently written origin
// (SPEC §6 implemented differently but validly), so nothing depends on
// mediastore's particular answers.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publink/publink/originauth"
)

// visitorHeaders are the headers SPEC §3 puts on every response under /s/.
var visitorHeaders = map[string]string{
	"Referrer-Policy":        "no-referrer",
	"X-Robots-Tag":           "noindex",
	"X-Content-Type-Options": "nosniff",
}

// specCheck checks one visitor response against SPEC §3's header rules.
// status 0 accepts any status.
func specCheck(t *testing.T, what string, r *Response, status int) {
	t.Helper()
	if status != 0 && r.Status != status {
		t.Errorf("%s: status %d, want %d: %.200s", what, r.Status, status, r.Body)
		return
	}
	for k, want := range visitorHeaders {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s (%d): %s = %q, want %q", what, r.Status, k, got, want)
		}
	}
	switch {
	case r.Status == 401 || r.Status == 404 || r.Status == 405 || r.Status == 429 || r.Status >= 500:
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("%s (%d): Cache-Control %q lacks no-store", what, r.Status, cc)
		}
		if strings.Contains(r.Header.Get("Cache-Control"), "public") {
			t.Errorf("%s (%d): Cache-Control %q is public", what, r.Status, r.Header.Get("Cache-Control"))
		}
	}
	if (r.Status == 429 || r.Status == 503) && r.Header.Get("Retry-After") == "" {
		t.Errorf("%s (%d): no Retry-After", what, r.Status)
	}
	if r.Header.Get("Set-Cookie") != "" && strings.Contains(r.Header.Get("Set-Cookie"), "origin") {
		t.Errorf("%s: the origin's Set-Cookie reached the visitor: %q", what, r.Header.Get("Set-Cookie"))
	}
}

// wantPublic checks a public link's successful response: public, max-age=N
// and the purge tags naming the link.
func wantPublic(t *testing.T, what string, r *Response, l Link, maxAge int) {
	t.Helper()
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age="+strconv.Itoa(maxAge) {
		t.Errorf("%s: Cache-Control %q, want public, max-age=%d", what, cc, maxAge)
	}
	wantTags(t, what, r, l)
}

func wantTags(t *testing.T, what string, r *Response, l Link) {
	t.Helper()
	tag := "publink-link-" + l.ID
	if r.Header.Get("Surrogate-Key") != tag || r.Header.Get("Cache-Tag") != tag {
		t.Errorf("%s: Surrogate-Key %q, Cache-Tag %q, want %q", what, r.Header.Get("Surrogate-Key"), r.Header.Get("Cache-Tag"), tag)
	}
}

// TestSpecVisitorHeadersOnEveryResponse walks every visitor route and every
// error status of SPEC §3 and checks the headers each must carry.
func TestSpecVisitorHeadersOnEveryResponse(t *testing.T) {
	e := NewEnv(t, Options{})
	folder := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
	file := e.FileLink("file_sunset")
	col := e.CreateLink(map[string]any{"target": linkTarget("collection", "col_summer")})
	jsonHdr := map[string]string{"Accept": "application/json"}

	// Public successes: every route, GET and HEAD, HTML and JSON.
	for _, l := range []Link{folder, file, col} {
		b := "/s/" + l.Token
		for _, p := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content",
			"/files/file_sunset/content?download=1", "/files/file_sunset/thumbnail"} {
			for _, m := range []string{http.MethodGet, http.MethodHead} {
				r := e.Do(m, e.GatewayURL+b+p, nil, nil)
				what := fmt.Sprintf("%s %s link %s", m, l.Target["type"], p)
				specCheck(t, what, r, 200)
				wantPublic(t, what, r, l, 60)
			}
		}
		r := e.Get(b+"/files/file_sunset/content", map[string]string{"Range": "bytes=0-3"})
		specCheck(t, "Range", r, 206)
		wantPublic(t, "Range", r, l, 60)
		if len(r.Body) != 4 {
			t.Errorf("Range bytes=0-3 gave %d bytes", len(r.Body))
		}
		if cd := e.Get(b+"/files/file_sunset/content?download=1", nil).Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") {
			t.Errorf("download=1: Content-Disposition %q", cd)
		}
		// The zip and the visitor's downloads.
		c := e.visitor(t)
		z := e.visit(t, c, http.MethodGet, b+"/download.zip", nil)
		specCheck(t, "zip", z, 200)
		wantTags(t, "zip", z, l)
		if cc := z.Header.Get("Cache-Control"); cc != "public, max-age=60" {
			t.Errorf("zip: Cache-Control %q", cc)
		}
		d := e.visit(t, c, http.MethodGet, b+"/downloads", nil)
		specCheck(t, "downloads", d, 200)
		var dl struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		d.JSON(t, &dl)
		if len(dl.Items) != 1 {
			t.Fatalf("downloads after one zip: %s", d.Body)
		}
		var keys []string
		for k := range dl.Items[0] {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"bytes", "createdAt", "files", "id", "status"}) {
			t.Errorf("downloads item keys %v, want id, createdAt, files, bytes, status", keys)
		}
	}

	// 404s: unknown token, unknown route, out-of-scope file.
	for _, p := range []string{"/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/files",
		"/s/" + file.Token + "/nope", "/s/" + file.Token + "/files/file_beach", "/s/" + folder.Token + "/files/file_other/content",
		"/s/", "/s"} {
		for _, h := range []map[string]string{nil, jsonHdr} {
			r := e.Get(p, h)
			specCheck(t, "404 "+p, r, 404)
			if r.Header.Get("Surrogate-Key") != "" || r.Header.Get("Cache-Tag") != "" {
				t.Errorf("404 %s names a link: %q", p, r.Header.Get("Surrogate-Key"))
			}
		}
	}
	// 405s: every other method on every route, GET on unlock.
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
		for _, p := range []string{"", "/files", "/files/file_sunset/content", "/download.zip", "/downloads"} {
			r := e.Do(m, e.GatewayURL+"/s/"+file.Token+p, strings.NewReader(""), nil)
			specCheck(t, m+" "+p, r, 405)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPut} {
		specCheck(t, m+" unlock", e.Do(m, e.GatewayURL+"/s/"+file.Token+"/unlock", nil, nil), 405)
	}

	// A password link: 401 on every route, 401 on a wrong password, 303 on
	// the right one, private successes, and 429 once throttled.
	const pw = "spec-password-1"
	locked := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos"), "password": pw})
	for _, rt := range linkRoutes(locked.Token) {
		for _, h := range []map[string]string{nil, jsonHdr} {
			r := e.routeDo(rt, h)
			specCheck(t, "locked "+rt.name, r, 401)
			if h != nil && rt.method == http.MethodGet && !strings.Contains(string(r.Body), `{"error":{"code":"password_required"`) {
				t.Errorf("locked %s JSON: %s", rt.name, r.Body)
			}
		}
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	wrong := e.Do(http.MethodPost, e.GatewayURL+"/s/"+locked.Token+"/unlock", strings.NewReader("password=nope"), form)
	specCheck(t, "wrong password", wrong, 401)
	if !strings.Contains(string(wrong.Body), "<form") {
		t.Errorf("wrong password: no form again: %.200s", wrong.Body)
	}
	right := e.Do(http.MethodPost, e.GatewayURL+"/s/"+locked.Token+"/unlock", strings.NewReader("password="+pw), form)
	specCheck(t, "right password", right, http.StatusSeeOther)
	if right.Header.Get("Location") != "/s/"+locked.Token && right.Header.Get("Location") != e.GatewayURL+"/s/"+locked.Token {
		t.Errorf("303 Location %q", right.Header.Get("Location"))
	}
	if cc := right.Header.Get("Cache-Control"); cc != "private, no-store" {
		t.Errorf("303 Cache-Control %q, want private, no-store", cc)
	}
	ck := unlockCookie(t, right, locked.Token)
	for _, rt := range linkRoutes(locked.Token) {
		r := e.routeDo(rt, cookieHdr(ck))
		specCheck(t, "unlocked "+rt.name, r, rt.unlocked)
		if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Errorf("unlocked %s: Cache-Control %q, want private, no-store", rt.name, cc)
		}
		wantTags(t, "unlocked "+rt.name, r, locked)
	}
	var last *Response
	for i := 0; i < 7; i++ {
		last = e.Do(http.MethodPost, e.GatewayURL+"/s/"+locked.Token+"/unlock", strings.NewReader("password=wrong"), form)
		if last.Status == http.StatusTooManyRequests {
			break
		}
		specCheck(t, "wrong password "+strconv.Itoa(i), last, 401)
	}
	specCheck(t, "throttled unlock", last, 429)
	specCheck(t, "throttled unlock JSON", e.Do(http.MethodPost, e.GatewayURL+"/s/"+locked.Token+"/unlock",
		strings.NewReader("password="+pw), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}), 429)

	// CSP sandbox on runnable content (HTML, SVG, XML), not on a PNG.
	docs := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_docs")})
	for _, id := range []string{"file_svg", "file_page"} {
		for _, q := range []string{"", "?download=1"} {
			r := e.Get("/s/"+docs.Token+"/files/"+id+"/content"+q, nil)
			specCheck(t, id, r, 200)
			if !strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") {
				t.Errorf("%s%s: CSP %q", id, q, r.Header.Get("Content-Security-Policy"))
			}
		}
	}
}

// TestSpecCacheControlNeverPastValidUntil: N = min(default 60, seconds left).
func TestSpecCacheControlNeverPastValidUntil(t *testing.T) {
	e := NewEnv(t, Options{})
	for _, left := range []time.Duration{10 * time.Minute, 20 * time.Second} {
		l := e.CreateLink(map[string]any{"target": linkTarget("file", "file_sunset"),
			"validUntil": time.Now().Add(left).UTC().Format(time.RFC3339)})
		r := e.Get("/s/"+l.Token+"/files/file_sunset", nil)
		specCheck(t, "file", r, 200)
		var n int
		if _, err := fmt.Sscanf(r.Header.Get("Cache-Control"), "public, max-age=%d", &n); err != nil {
			t.Fatalf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
		want := min(60, int(left/time.Second))
		if n > want || n < want-5 {
			t.Errorf("%v left: max-age=%d, want about %d", left, n, want)
		}
	}
	// A configured max_age lowers it.
	e2 := NewEnv(t, Options{Caddyfile: caddyfileWith(t, "max_age 15s")})
	l := e2.FileLink("file_sunset")
	wantPublic(t, "max_age 15s", e2.Get("/s/"+l.Token+"/files/file_sunset/content", nil), l, 15)
}

// TestSpecAdminShapes pins SPEC §5's JSON: link JSON fields and url, RFC 3339
// forms, error shape per status, audit items, downloads.
func TestSpecAdminShapes(t *testing.T) {
	const public = "https://share.example.test"
	e := NewEnv(t, Options{Env: map[string]string{"PUBLINK_PUBLIC_URL": public + "/"}})

	// Link JSON: every field, url = public base + /s/ + token.
	r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")})
	expectStatus(t, r, http.StatusCreated)
	var raw map[string]json.RawMessage
	r.JSON(t, &raw)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"createdAt", "createdBy", "exposeUnpublished", "hasPassword", "id", "target", "token", "updatedAt", "updatedBy", "url", "validFrom", "validUntil"}
	if !slices.Equal(keys, want) {
		t.Errorf("link JSON keys %v, want %v", keys, want)
	}
	l := linkOf(t, r)
	if l.URL != public+"/s/"+l.Token {
		t.Errorf("url %q, want %q", l.URL, public+"/s/"+l.Token)
	}
	if len(l.Token) < 22 || strings.ContainsAny(l.Token, "+/=") {
		t.Errorf("token %d characters, not URL-safe or under 128 bits", len(l.Token))
	}
	for _, k := range []string{"createdAt", "updatedAt"} {
		var s string
		if err := json.Unmarshal(raw[k], &s); err != nil {
			t.Errorf("%s: %s", k, raw[k])
		} else if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s %q is not RFC 3339", k, s)
		}
	}

	// RFC 3339 with fractional seconds and offsets.
	until := time.Now().Add(2 * time.Hour).Truncate(time.Second).Add(250 * time.Millisecond)
	from := time.Now().Add(-time.Hour).Truncate(time.Second)
	off := time.FixedZone("", 5*3600+30*60)
	r = e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset"),
		"validFrom": from.In(off).Format(time.RFC3339), "validUntil": until.In(time.FixedZone("", -7*3600)).Format(time.RFC3339Nano)})
	expectStatus(t, r, http.StatusCreated)
	win := linkOf(t, r)
	if win.ValidFrom == nil || !win.ValidFrom.Equal(from) || win.ValidUntil == nil || !win.ValidUntil.Equal(until) {
		t.Errorf("window with offsets: %v .. %v, want %v .. %v", win.ValidFrom, win.ValidUntil, from, until)
	}
	if got := e.Get("/s/"+win.Token+"/files/file_sunset", nil); got.Status != 200 {
		t.Errorf("link valid from an offset time: %d", got.Status)
	}
	r = e.Admin(http.MethodPatch, "/v1/links/"+win.ID, "alice", map[string]any{"validFrom": time.Now().Add(time.Hour).In(off).Format(time.RFC3339)})
	expectStatus(t, r, http.StatusOK)
	if got := e.Get("/s/"+win.Token+"/files/file_sunset", nil); got.Status != 404 {
		t.Errorf("link not yet valid (offset form): %d", got.Status)
	}

	// Errors: {"error":{"code","message"}} for every status of §5.
	cases := []struct {
		name, method, path, actor, key string
		body                           any
		status                         int
		code                           string
	}{
		{"malformed JSON", "POST", "/v1/links", "alice", "", `{"target":`, 400, ""},
		{"unknown field", "POST", "/v1/links", "alice", "", map[string]any{"target": linkTarget("file", "file_sunset"), "x": 1}, 400, ""},
		{"unknown patch field", "PATCH", "/v1/links/" + l.ID, "alice", "", map[string]any{"token": "x"}, 400, ""},
		{"bad key", "GET", "/v1/links", "alice", "wrong-key", nil, 401, ""},
		{"no key", "GET", "/v1/audit", "alice", "-", nil, 401, ""},
		{"restricted without manage creates", "POST", "/v1/links", "carol", "", map[string]any{"target": linkTarget("file", "file_sunset")}, 403, ""},
		{"restricted without manage reads", "GET", "/v1/links/" + l.ID, "carol", "", nil, 403, ""},
		{"restricted changes", "PATCH", "/v1/links/" + l.ID, "carol", "", map[string]any{"exposeUnpublished": false}, 403, ""},
		{"restricted deletes", "DELETE", "/v1/links/" + l.ID, "carol", "", nil, 403, ""},
		{"restricted lists all", "GET", "/v1/links", "bob", "", nil, 403, ""},
		{"restricted reads audit", "GET", "/v1/audit", "bob", "", nil, 403, ""},
		{"unknown link", "GET", "/v1/links/lnk_nope", "alice", "", nil, 404, ""},
		{"unknown link patch", "PATCH", "/v1/links/lnk_nope", "alice", "", map[string]any{}, 404, ""},
		{"unknown link delete", "DELETE", "/v1/links/lnk_nope", "alice", "", nil, 404, ""},
		{"unknown target", "POST", "/v1/links", "alice", "", map[string]any{"target": linkTarget("file", "file_nope")}, 404, "target_not_found"},
		{"validUntil past", "POST", "/v1/links", "alice", "", map[string]any{"target": linkTarget("file", "file_sunset"), "validUntil": rfc3339(time.Now().Add(-time.Hour))}, 422, ""},
		{"patch validUntil past", "PATCH", "/v1/links/" + l.ID, "alice", "", map[string]any{"validUntil": rfc3339(time.Now().Add(-time.Hour))}, 422, ""},
		{"empty password patch", "PATCH", "/v1/links/" + l.ID, "alice", "", map[string]any{"password": ""}, 422, ""},
		{"expose on file patch", "PATCH", "/v1/links/" + l.ID, "alice", "", map[string]any{"exposeUnpublished": true}, 422, ""},
	}
	for _, c := range cases {
		var resp *Response
		switch c.key {
		case "":
			resp = e.Admin(c.method, c.path, c.actor, c.body)
		case "-":
			resp = e.Do(c.method, e.AdminURL+c.path, nil, map[string]string{"X-Publink-Actor": c.actor})
		default:
			resp = e.AdminKeyed(c.key, c.method, c.path, c.actor, c.body)
		}
		if resp.Status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, resp.Status, c.status, resp.Body)
			continue
		}
		var body struct {
			Error *struct {
				Code    *string `json:"code"`
				Message *string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error == nil || body.Error.Code == nil || *body.Error.Code == "" || body.Error.Message == nil {
			t.Errorf("%s: error body %s is not {\"error\":{\"code\",\"message\"}}", c.name, resp.Body)
			continue
		}
		if c.code != "" && *body.Error.Code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, *body.Error.Code, c.code)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: Content-Type %q", c.name, resp.Header.Get("Content-Type"))
		}
	}
	// The link survived all that.
	expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusOK)
	// Link lists: {"items":[link…],"next"?}; bob sees his target's links.
	r = e.Admin(http.MethodGet, "/v1/links?target=file:file_sunset&limit=1", "bob", nil)
	expectStatus(t, r, http.StatusOK)
	var page struct {
		Items []Link `json:"items"`
		Next  string `json:"next"`
	}
	r.JSON(t, &page)
	if len(page.Items) != 1 || page.Next == "" {
		t.Errorf("page of 1 of 2 links: %s", r.Body)
	}

	// Audit items: every field, actions named as §5 says.
	r = e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"password": "a-new-password"})
	expectStatus(t, r, http.StatusOK)
	expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+l.ID, "alice", nil), http.StatusNoContent)
	r = e.Admin(http.MethodGet, "/v1/audit", "alice", nil)
	expectStatus(t, r, http.StatusOK)
	var audit struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	r.JSON(t, &audit)
	actions := map[string]bool{}
	for _, it := range audit.Items {
		var ks []string
		for k := range it {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		if !slices.Equal(ks, []string{"action", "actor", "changes", "id", "linkId", "reason", "target", "time"}) {
			t.Errorf("audit item keys %v", ks)
		}
		var a string
		json.Unmarshal(it["action"], &a)
		actions[a] = true
		if bytes.Contains(r.Body, []byte("a-new-password")) {
			t.Errorf("audit log holds a password")
		}
	}
	for _, a := range []string{"link.created", "link.updated", "link.deleted"} {
		if !actions[a] {
			t.Errorf("audit lacks %s: %s", a, r.Body)
		}
	}

	// Downloads: viaPublicLink on each, with the link.
	dl := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_docs")})
	e.fetchZip(t, nil, dl.Token)
	var ds struct {
		Items []map[string]any `json:"items"`
	}
	eventually(t, 5*time.Second, "download recorded", func() bool {
		r = e.Admin(http.MethodGet, "/v1/downloads?link="+dl.ID, "alice", nil)
		ds.Items = nil
		r.JSON(t, &ds)
		return len(ds.Items) == 1
	})
	if it := ds.Items[0]; it["viaPublicLink"] != true || it["linkId"] != dl.ID || it["id"] == nil || it["createdAt"] == nil {
		t.Errorf("download item %v", it)
	}
	if r = e.Admin(http.MethodGet, "/v1/downloads", "bob", nil); r.Status != http.StatusForbidden {
		t.Errorf("bob lists every download: %d", r.Status)
	}
}

// specOrigin is an independent implementation of SPEC §6: not mediastore,
// and different from it wherever the SPEC allows: ImageKit-style hex ids
// and UUIDs, folder paths with a trailing slash, listings capped at a page
// size smaller than the gateway asks for and in their own order, file
// objects with extra fields and without optional ones, timestamps with
// fractions and offsets, content without ETag or Last-Modified and with
// a Set-Cookie of its own.
type specOrigin struct {
	URL     string
	secret  []byte
	pageCap int

	mu          sync.Mutex
	files       map[string]map[string]any
	content     map[string][]byte
	folders     map[string]map[string]any
	collections map[string][]string
	requests    []*http.Request

	badSignatures atomic.Int32
	failing       atomic.Bool
}

const (
	soFolder    = "8f14e45f-ceea-467f-a0e6-1b2c3d4e5f60"
	soSub       = "c9f0f895-fb98-4ab0-9f3b-7c8d9e0f1a2b"
	soSibling   = "45c48cce-2e2d-4fbd-a1b2-c3d4e5f60718"
	soColl      = "d3d9446802a44259755d38e6d163e820"
	soDraft     = "65a1b2c3d4e5f60718293a99"
	soSubFile   = "65a1b2c3d4e5f60718293aa0"
	soOther     = "65a1b2c3d4e5f60718293aa1"
	soUUIDFile  = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	soFolderDir = "/Shared Album"
)

// soPublished are the published files directly in soFolderDir.
var soPublished = []string{"65a1b2c3d4e5f60718293a01", "65a1b2c3d4e5f60718293a02", "65a1b2c3d4e5f60718293a03", soUUIDFile, "65a1b2c3d4e5f60718293a05"}

func soFileObject(id, dir, name string, i int) map[string]any {
	o := map[string]any{
		"fileId": id, "type": "file", "name": name, "filePath": dir + "/" + name,
		"tags": []string{"SENTINEL_TAG"}, "AITags": []map[string]any{{"name": "SENTINEL_AITAG"}},
		"versionInfo":   map[string]string{"id": "SENTINEL_VERSION", "name": "Version 3"},
		"isPrivateFile": false, "isPublished": true, "customCoordinates": "SENTINEL_COORDS",
		"customMetadata": map[string]string{"k": "SENTINEL_CUSTOM"}, "embeddedMetadata": map[string]any{"DateTimeOriginal": "2024:05:01 10:00:00"},
		"url": "https://cdn.example.test/SENTINEL_URL/" + name, "thumbnail": "https://cdn.example.test/SENTINEL_THUMB/" + name,
		"fileType": "image", "mime": "image/png", "width": 640, "height": 480, "size": 11 + i, "hasAlpha": false,
		"createdAt": "2024-05-01T10:00:00.123+02:00", "updatedAt": "2024-05-02T08:30:00.5-07:00",
		"createdBy": "SENTINEL_OWNER", "description": "SENTINEL_DESC", "comments": []string{"SENTINEL_COMMENT"},
		"extensionStatus": map[string]string{"aws-auto-tagging": "SENTINEL_EXT"}, "SENTINEL_FIELD": "x",
	}
	switch i % 3 {
	case 1:
		delete(o, "isPublished") // absent means published
	case 2:
		delete(o, "width") // optional facts may be missing
		delete(o, "height")
		o["duration"] = nil
	}
	return o
}

func startSpecOrigin(t *testing.T, pageCap int) *specOrigin {
	t.Helper()
	o := &specOrigin{secret: []byte(testOriginSecret), pageCap: pageCap,
		files: map[string]map[string]any{}, content: map[string][]byte{},
		folders: map[string]map[string]any{}, collections: map[string][]string{}}
	folder := func(id, p string) {
		o.folders[id] = map[string]any{"type": "folder", "folderId": id, "name": p[strings.LastIndexByte(p, '/')+1:],
			"folderPath": p + "/", "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00.000Z", "owner": "SENTINEL_OWNER"}
	}
	folder(soFolder, soFolderDir)
	folder(soSub, soFolderDir+"/Sub")
	folder(soSibling, soFolderDir+" 2")
	add := func(id, dir, name string, i int) {
		o.files[id] = soFileObject(id, dir, name, i)
		o.content[id] = []byte(fmt.Sprintf("PNGBYTES-%s-%02d", id, i))
	}
	for i, id := range soPublished {
		add(id, soFolderDir, fmt.Sprintf("photo %d.png", i), i)
	}
	add(soDraft, soFolderDir, "draft.png", 0)
	o.files[soDraft]["isPublished"] = false
	add(soSubFile, soFolderDir+"/Sub", "deep.png", 3)
	add(soOther, soFolderDir+" 2", "other.png", 0)
	o.collections[soColl] = []string{soPublished[0], soOther, soDraft, "65a1b2c3d4e5f6071829dead"}

	srv := httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

func (o *specOrigin) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Set-Cookie", "origin_session=SENTINEL_COOKIE; Path=/")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (o *specOrigin) serve(w http.ResponseWriter, r *http.Request) {
	if _, err := originauth.Verify(o.secret, r, time.Now(), 5*time.Minute); err != nil {
		o.badSignatures.Add(1)
		o.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "bad signature"})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, r)
	if o.failing.Load() {
		o.writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "down"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		o.writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "read only"})
		return
	}
	notFound := func() {
		o.writeJSON(w, http.StatusNotFound, map[string]string{"message": "The requested asset does not exist."})
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	q := r.URL.Query()
	switch {
	case len(seg) == 1 && seg[0] == "files":
		// Strict: ?path= must be spelled as this origin spells folder
		// paths, with a trailing slash.
		dir, ok := strings.CutSuffix(q.Get("path"), "/")
		if !ok || q.Get("type") != "all" {
			o.writeJSON(w, http.StatusBadRequest, map[string]string{"message": "type"})
			return
		}
		skip, err1 := strconv.Atoi(q.Get("skip"))
		limit, err2 := strconv.Atoi(q.Get("limit"))
		if err1 != nil || err2 != nil || skip < 0 || limit < 1 {
			o.writeJSON(w, http.StatusBadRequest, map[string]string{"message": "skip and limit"})
			return
		}
		// Files first, newest name first, then folders: an order of its own.
		var entries []map[string]any
		var ids []string
		for id, f := range o.files {
			if p := f["filePath"].(string); p[:strings.LastIndexByte(p, '/')] == dir {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return o.files[ids[i]]["name"].(string) > o.files[ids[j]]["name"].(string) })
		for _, id := range ids {
			entries = append(entries, o.files[id])
		}
		for _, f := range o.folders {
			if p := strings.TrimSuffix(f["folderPath"].(string), "/"); p[:strings.LastIndexByte(p, '/')] == dir {
				entries = append(entries, f)
			}
		}
		limit = min(limit, o.pageCap)
		if o.pageCap == 0 {
			// An origin that ignores skip and limit: everything, always.
			skip, limit = 0, len(entries)
		}
		out := []map[string]any{}
		if skip < len(entries) {
			out = entries[skip:min(len(entries), skip+limit)]
		}
		o.writeJSON(w, http.StatusOK, out)
	case len(seg) == 2 && seg[0] == "files":
		f, ok := o.files[seg[1]]
		if !ok {
			notFound()
			return
		}
		o.writeJSON(w, http.StatusOK, f)
	case len(seg) == 3 && seg[0] == "files" && (seg[2] == "content" || seg[2] == "thumbnail"):
		b, ok := o.content[seg[1]]
		if !ok {
			notFound()
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Set-Cookie", "origin_session=SENTINEL_COOKIE; Path=/")
		// No ETag, no Last-Modified: ServeContent still does Range.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	case len(seg) == 2 && seg[0] == "folders":
		f, ok := o.folders[seg[1]]
		if !ok {
			notFound()
			return
		}
		o.writeJSON(w, http.StatusOK, f)
	case len(seg) == 2 && seg[0] == "collections":
		ids, ok := o.collections[seg[1]]
		if !ok {
			notFound()
			return
		}
		files := []map[string]any{}
		for _, id := range ids {
			if f, ok := o.files[id]; ok {
				files = append(files, f)
			}
		}
		o.writeJSON(w, http.StatusOK, map[string]any{"collectionId": seg[1], "name": "Trip", "files": files, "owner": "SENTINEL_OWNER"})
	case len(seg) == 1 && seg[0] == "permissions":
		// A strict origin: it knows no "root" folder, and answers 404 for
		// targets it does not have; without a target it gives the role.
		if strings.HasSuffix(q.Get("target"), ":root") {
			notFound()
			return
		}
		role, perm := "restricted", "none"
		if q.Get("user") == "alice" {
			role, perm = "admin", "manage"
		}
		o.writeJSON(w, http.StatusOK, map[string]any{"role": role, "permission": perm, "userId": q.Get("user"), "grantedAt": "2024-01-01T00:00:00Z"})
	default:
		notFound()
	}
}

// TestSpecOriginIgnoringSkip: an origin that answers every listing request
// with the whole folder (no paging at all) still gives each entry once.
func TestSpecOriginIgnoringSkip(t *testing.T) {
	o := startSpecOrigin(t, 0)
	e := NewEnv(t, Options{NoWebhook: true, Env: map[string]string{"PUBLINK_ORIGIN": o.URL}})
	folder := e.CreateLink(map[string]any{"target": linkTarget("folder", soFolder)})
	for range 2 { // fresh, then from the gateway's cache
		ls := e.listing(t, folder.Token, "")
		if got, want := fileIDs(ls), slices.Sorted(slices.Values(soPublished)); !slices.Equal(got, want) || len(ls.Folders) != 1 {
			t.Errorf("listing files %v folders %v, want %v and Sub", got, ls.Folders, want)
		}
	}
	if got := zipNamesOf(t, e.fetchZip(t, nil, folder.Token)); len(got) != len(soPublished)+1 {
		t.Errorf("zip entries %v", got)
	}
}

// TestSpecIndependentOrigin runs the visitor routes, the zip, the lifecycle
// and fail-closed rules against specOrigin.
func TestSpecIndependentOrigin(t *testing.T) {
	o := startSpecOrigin(t, 2)
	e := NewEnv(t, Options{NoWebhook: true, Env: map[string]string{"PUBLINK_ORIGIN": o.URL}})
	jsonHdr := map[string]string{"Accept": "application/json"}
	allowed := map[string]bool{"fileId": true, "name": true, "path": true, "fileType": true, "mime": true, "size": true,
		"width": true, "height": true, "hasAlpha": true, "embeddedMetadata": true, "duration": true,
		"createdAt": true, "updatedAt": true, "contentUrl": true, "thumbnailUrl": true}
	checkFile := func(what string, f map[string]any, token string) {
		t.Helper()
		for k, v := range f {
			if !allowed[k] {
				t.Errorf("%s: publicFile field %q", what, k)
			}
			if v == nil {
				t.Errorf("%s: %q is null", what, k)
			}
		}
		id, _ := f["fileId"].(string)
		if f["createdAt"] != "2024-05-01T10:00:00.123+02:00" || f["updatedAt"] != "2024-05-02T08:30:00.5-07:00" {
			t.Errorf("%s: timestamps %v %v not passed through", what, f["createdAt"], f["updatedAt"])
		}
		if f["contentUrl"] != e.GatewayURL+"/s/"+token+"/files/"+id+"/content" || f["thumbnailUrl"] != e.GatewayURL+"/s/"+token+"/files/"+id+"/thumbnail" {
			t.Errorf("%s: contentUrl %v thumbnailUrl %v", what, f["contentUrl"], f["thumbnailUrl"])
		}
	}

	// Folder link: the listing pages through the origin's own page size.
	folder := e.CreateLink(map[string]any{"target": linkTarget("folder", soFolder)})
	r := e.Get("/s/"+folder.Token+"/files", jsonHdr)
	specCheck(t, "listing", r, 200)
	wantPublic(t, "listing", r, folder, 60)
	sentinelFree(t, "listing", r)
	var ls folderListing
	r.JSON(t, &ls)
	if ls.Type != "folder" || ls.Name != "Shared Album" || ls.Path != "" {
		t.Errorf("listing head %q %q %q", ls.Type, ls.Name, ls.Path)
	}
	if got, want := fileIDs(ls), slices.Sorted(slices.Values(soPublished)); !slices.Equal(got, want) {
		t.Errorf("listing files %v, want every published file %v (origin pages of %d)", got, want, o.pageCap)
	}
	if len(ls.Folders) != 1 || ls.Folders[0]["name"] != "Sub" || ls.Folders[0]["path"] != "Sub" {
		t.Errorf("listing folders %v", ls.Folders)
	}
	for _, f := range ls.Files {
		checkFile("listing", f, folder.Token)
		if !strings.HasPrefix(f["path"].(string), "photo ") {
			t.Errorf("path %v", f["path"])
		}
	}
	sub := e.listing(t, folder.Token, "path=Sub")
	if ids := fileIDs(sub); len(ids) != 1 || ids[0] != soSubFile || sub.Files[0]["path"] != "Sub/deep.png" || sub.Name != "Sub" {
		t.Errorf("Sub listing %+v", sub)
	}
	if r := e.Get("/s/"+folder.Token+"/files?path=Nope", jsonHdr); r.Status != 404 {
		t.Errorf("listing of a folder that is not there: %d", r.Status)
	}

	// Each file route, by ImageKit id and by UUID.
	for _, id := range append(slices.Clone(soPublished), soSubFile) {
		b := "/s/" + folder.Token + "/files/" + id
		r := e.Get(b, jsonHdr)
		specCheck(t, "file "+id, r, 200)
		sentinelFree(t, "file "+id, r)
		var f map[string]any
		r.JSON(t, &f)
		checkFile("file "+id, f, folder.Token)
		c := e.Get(b+"/content", nil)
		specCheck(t, "content "+id, c, 200)
		wantPublic(t, "content "+id, c, folder, 60)
		if !bytes.Equal(c.Body, o.content[id]) || c.Header.Get("Set-Cookie") != "" {
			t.Errorf("content %s: %q, Set-Cookie %q", id, c.Body, c.Header.Get("Set-Cookie"))
		}
		rg := e.Get(b+"/content", map[string]string{"Range": "bytes=0-7"})
		specCheck(t, "range "+id, rg, 206)
		if string(rg.Body) != "PNGBYTES" {
			t.Errorf("range %s: %q", id, rg.Body)
		}
		h := e.Do(http.MethodHead, e.GatewayURL+b+"/content?download=1", nil, nil)
		specCheck(t, "HEAD "+id, h, 200)
		if len(h.Body) != 0 || !strings.HasPrefix(h.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("HEAD download %s: %d bytes, %q", id, len(h.Body), h.Header.Get("Content-Disposition"))
		}
		specCheck(t, "thumbnail "+id, e.Get(b+"/thumbnail", nil), 200)
	}
	// The unpublished file, the sibling folder's file and a stranger: 404.
	for _, id := range []string{soDraft, soOther, "65a1b2c3d4e5f6071829dead"} {
		for _, p := range []string{"", "/content", "/thumbnail"} {
			specCheck(t, "hidden "+id+p, e.Get("/s/"+folder.Token+"/files/"+id+p, jsonHdr), 404)
		}
	}
	// The zip: the whole subtree, relative paths.
	z := e.fetchZip(t, nil, folder.Token)
	specCheck(t, "zip", z, 200)
	wantNames := []string{"Sub/deep.png"}
	for i := range soPublished {
		wantNames = append(wantNames, fmt.Sprintf("photo %d.png", i))
	}
	slices.Sort(wantNames)
	if got := zipNamesOf(t, z); !slices.Equal(got, wantNames) {
		t.Errorf("zip entries %v, want %v", got, wantNames)
	}

	// Collection link: its published members that exist, flat.
	col := e.CreateLink(map[string]any{"target": linkTarget("collection", soColl)})
	cl := e.listing(t, col.Token, "")
	if ids := fileIDs(cl); !slices.Equal(ids, slices.Sorted(slices.Values([]string{soPublished[0], soOther}))) || cl.Type != "collection" || cl.Name != "Trip" {
		t.Errorf("collection listing %v %+v", ids, cl)
	}
	for _, f := range cl.Files {
		if _, ok := f["path"]; ok {
			t.Errorf("collection file with a path: %v", f)
		}
	}
	specCheck(t, "collection draft", e.Get("/s/"+col.Token+"/files/"+soDraft, jsonHdr), 404)

	// File links: unpublished still served; a UUID id works.
	for _, id := range []string{soDraft, soUUIDFile} {
		fl := e.FileLink(id)
		r := e.Get("/s/"+fl.Token+"/files/"+id+"/content", nil)
		specCheck(t, "file link "+id, r, 200)
		if !bytes.Equal(r.Body, o.content[id]) {
			t.Errorf("file link %s content %q", id, r.Body)
		}
		if p := e.Get("/s/"+fl.Token, nil); p.Status != 200 || !strings.Contains(string(p.Body), o.files[id]["name"].(string)) {
			t.Errorf("file page %s: %d", id, p.Status)
		}
	}

	// Every origin request was signed and carried the link it served.
	if n := o.badSignatures.Load(); n != 0 {
		t.Errorf("%d unsigned or mis-signed origin requests", n)
	}
	o.mu.Lock()
	for _, req := range o.requests {
		if strings.Contains(req.URL.RawQuery, "version") || strings.Contains(req.URL.Path, "versions") {
			t.Errorf("origin request %s names a version", req.URL)
		}
		// Visitor-side blob requests name the link they serve.
		if strings.HasSuffix(req.URL.Path, "/content") || strings.HasSuffix(req.URL.Path, "/thumbnail") {
			if req.Header.Get("X-Publink-Link") == "" {
				t.Errorf("visitor-side origin request %s without X-Publink-Link", req.URL)
			}
		}
	}
	o.mu.Unlock()

	// Fail closed: an origin answering 500 gives 503 with Retry-After.
	o.failing.Store(true)
	time.Sleep(1100 * time.Millisecond) // past the gateway's fact cache
	for _, p := range []string{"/files", "/files/" + soPublished[1], "/files/" + soPublished[1] + "/content", "", "/download.zip"} {
		for _, h := range []map[string]string{nil, jsonHdr} {
			r := e.Get("/s/"+folder.Token+p, h)
			specCheck(t, "origin down "+p, r, http.StatusServiceUnavailable)
			sentinelFree(t, "origin down "+p, r)
		}
	}
	o.failing.Store(false)
	eventually(t, 5*time.Second, "recovery", func() bool { return e.Get("/s/"+folder.Token+"/files", nil).Status == 200 })

	// A file deleted at the origin: its link answers 404 and is deleted
	// (target_deleted); one moved (new filePath): target_moved.
	del, mov := e.FileLink(soPublished[2]), e.FileLink(soPublished[3])
	o.mu.Lock()
	delete(o.files, soPublished[2])
	delete(o.content, soPublished[2])
	o.files[soPublished[3]]["filePath"] = "/Elsewhere/" + o.files[soPublished[3]]["name"].(string)
	o.mu.Unlock()
	eventually(t, 3*time.Second, "deleted and moved targets answer 404", func() bool {
		return e.Get("/s/"+del.Token+"/files/"+soPublished[2], nil).Status == 404 &&
			e.Get("/s/"+mov.Token+"/files/"+soPublished[3], nil).Status == 404
	})
	e.waitDeleted(t, del.ID, "system", "target_deleted", 3*time.Second)
	e.waitDeleted(t, mov.ID, "system", "target_moved", 3*time.Second)

	// Webhooks with fields the SPEC does not name are applied all the same.
	wl := e.FileLink(soPublished[4])
	body, _ := json.Marshal(map[string]any{"id": "evt_spec_1", "type": "file.deleted", "created_at": "2025-01-02T03:04:05.678+01:00",
		"data": map[string]any{"fileId": soPublished[4], "filePath": "/Shared Album/photo 4.png", "extra": []int{1}}, "environment": "prod", "version": 2})
	if r := e.webhookCall(t, e.WebhookSecret, "msg_"+strconv.FormatInt(time.Now().UnixNano(), 36), time.Now(), body); r.Status/100 != 2 {
		t.Fatalf("webhook with extra fields: %d %s", r.Status, r.Body)
	}
	e.waitDeleted(t, wl.ID, "system", "target_deleted", 2*time.Second)

	// Folder webhook: folder.moved deletes the folder's links.
	fw := e.CreateLink(map[string]any{"target": linkTarget("folder", soSub)})
	body, _ = json.Marshal(map[string]any{"id": "evt_spec_2", "type": "folder.moved", "created_at": time.Now().UTC().Format(time.RFC3339Nano),
		"data": map[string]any{"folderId": soSub, "newPath": "/x"}})
	if r := e.webhookCall(t, e.WebhookSecret, "msg_spec_2", time.Now(), body); r.Status/100 != 2 {
		t.Fatalf("folder.moved: %d %s", r.Status, r.Body)
	}
	e.waitDeleted(t, fw.ID, "system", "target_moved", 2*time.Second)
	if r := e.Get("/s/"+fw.Token+"/files", jsonHdr); r.Status != 404 {
		t.Errorf("moved folder's link: %d", r.Status)
	}
}

// TestSpecAdminRoleWithStrictOrigin: account-wide calls need the admin
// role; an origin that answers 404 for the root-folder probe is asked for
// the role alone, so admins are not locked out and others still are.
func TestSpecAdminRoleWithStrictOrigin(t *testing.T) {
	o := startSpecOrigin(t, 0)
	e := NewEnv(t, Options{NoWebhook: true, Env: map[string]string{"PUBLINK_ORIGIN": o.URL}})
	for _, p := range []string{"/v1/links", "/v1/audit", "/v1/downloads"} {
		if r := e.Admin(http.MethodGet, p, "alice", nil); r.Status != http.StatusOK {
			t.Errorf("admin %s: %d %s", p, r.Status, r.Body)
		}
		if r := e.Admin(http.MethodGet, p, "mallory", nil); r.Status != http.StatusForbidden {
			t.Errorf("restricted %s: %d %s", p, r.Status, r.Body)
		}
	}
}
