package tests

// Attacks from the share-link CVE history, run against the real gateway:
// each test is a finding (it failed before its fix) or a sibling-route
// check of a rule that another route already enforces.

import (
	"bufio"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publink/publink/originauth"
)

// attackRaw sends one gateway request byte for byte.
func attackRaw(t *testing.T, e *Env, method, target string, hdr map[string]string) *Response {
	t.Helper()
	return rawExchange(t, e.GatewayURL, method, target, headerLines(hdr), "")
}

// TestAttackTokenNeverLoggedWhenVisitorHangsUp: a visitor who closes the
// connection while a page or listing is being written made the handler
// return the write error, and Caddy logged it at error level with the
// request's full URI, share token included (the access log's filter does
// not apply to the error log). SPEC §4: full tokens never appear in logs.
func TestAttackTokenNeverLoggedWhenVisitorHangsUp(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_docs"}})
	u, _ := url.Parse(e.GatewayURL)
	paths := []string{"/s/" + l.Token, "/s/" + l.Token + "/files", "/s/" + l.Token + "/nope"}
	for i := range 60 {
		conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s?n=%d HTTP/1.1\r\nHost: %s\r\n\r\n", paths[i%len(paths)], i, u.Host)
		// Close with a reset, at once or a moment later, so the gateway's
		// write of the (large) answer fails.
		conn.(*net.TCPConn).SetLinger(0)
		time.Sleep(time.Duration(i%4) * 200 * time.Microsecond)
		conn.Close()
	}
	// The gateway still answers, and its access log saw the requests.
	if r := e.Get("/s/"+l.Token+"/files", nil); r.Status != 200 {
		t.Fatalf("listing after hang-ups: %d", r.Status)
	}
	eventually(t, 5*time.Second, "access log lines", func() bool {
		return strings.Contains(e.GatewayLog(), "/s/"+l.Token[:4])
	})
	time.Sleep(200 * time.Millisecond)
	if log := e.GatewayLog(); strings.Contains(log, l.Token) {
		i := strings.Index(log, l.Token)
		t.Fatalf("full share token in the gateway's log: %q", log[max(0, i-300):min(len(log), i+80)])
	}
}

// independentOrigin is a second origin implementation in front of the
// reference one: it verifies the gateway's signatures like any origin, serves
// a few answers of its own that the SPEC allows an origin to give, and
// passes everything else to mediastore.
type independentOrigin struct {
	URL      string
	upstream atomic.Pointer[url.URL]
}

const (
	// hostileThumb is what an ImageKit-like origin answers for an SVG's
	// thumbnail: the SVG itself, script included.
	hostileThumb = `<svg xmlns="http://www.w3.org/2000/svg"><script>/*ATTACK_THUMB_SCRIPT*/</script></svg>`
	// untypedHTML is content sent without a Content-Type.
	untypedHTML = "<!DOCTYPE html><html><body><script>/*ATTACK_SNIFFED_SCRIPT*/</script></body></html>"
)

func startIndependentOrigin(t *testing.T) *independentOrigin {
	t.Helper()
	o := &independentOrigin{}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(o.upstream.Load()) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := originauth.Verify([]byte(testOriginSecret), r, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v1/files/file_svg/thumbnail":
			w.Header().Set("Content-Type", "image/svg+xml")
			io.WriteString(w, hostileThumb)
		case "/v1/files/file_readme/content":
			w.Header()["Content-Type"] = nil // no type, and none sniffed here
			io.WriteString(w, untypedHTML)
		default:
			if o.upstream.Load() == nil {
				http.Error(w, "not ready", http.StatusBadGateway)
				return
			}
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	o.URL = srv.URL
	return o
}

// TestAttackRunnableBytesFromEveryBlobRoute: the content route sandboxed
// runnable types, but its sibling the thumbnail route did not, so an origin
// answering an SVG's thumbnail with the SVG ran its script on the gateway's
// origin; and content sent without a Content-Type was sniffed by net/http
// into text/html, unsandboxed.
func TestAttackRunnableBytesFromEveryBlobRoute(t *testing.T) {
	o := startIndependentOrigin(t)
	e := NewEnv(t, Options{Env: map[string]string{"PUBLINK_ORIGIN": o.URL}})
	up, _ := url.Parse(e.OriginURL)
	o.upstream.Store(up)
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_docs"}})
	base := "/s/" + l.Token + "/files/"

	for _, m := range []string{http.MethodGet, http.MethodHead} {
		r := e.Do(m, e.GatewayURL+base+"file_svg/thumbnail", nil, nil)
		if r.Status != 200 {
			t.Fatalf("%s svg thumbnail: %d", m, r.Status)
		}
		if m == http.MethodGet && !strings.Contains(string(r.Body), "ATTACK_THUMB_SCRIPT") {
			t.Fatalf("the independent origin's thumbnail was not served: %q", r.Body)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
			t.Errorf("%s svg thumbnail (%s) without CSP sandbox: %q", m, r.Header.Get("Content-Type"), csp)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s svg thumbnail without nosniff", m)
		}
	}

	for _, q := range []string{"", "?download=1"} {
		r := e.Get(base+"file_readme/content"+q, nil)
		if r.Status != 200 || string(r.Body) != untypedHTML {
			t.Fatalf("untyped content%s: %d %q", q, r.Status, r.Body)
		}
		ct := r.Header.Get("Content-Type")
		mt, _, _ := mime.ParseMediaType(ct)
		sandboxed := strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox")
		if (mt == "text/html" || mt == "" || strings.HasSuffix(mt, "xml")) && !sandboxed {
			t.Errorf("untyped content%s served as %q without CSP sandbox", q, ct)
		}
		if ct == "" {
			t.Errorf("untyped content%s: no Content-Type at all", q)
		}
	}
	// A PNG's thumbnail is still an image, served as the origin typed it.
	if r := e.Get("/s/"+l.Token+"/files/file_hostile/thumbnail", nil); r.Status != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("png thumbnail: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
}

// TestAttackSlowUnlockBody: Caddy has no read timeout by default, so an
// unlock post whose body never finishes held its request open forever
// (slowloris). The gateway now gives up on the body and answers.
func TestAttackSlowUnlockBody(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": "s3cret-pass"})
	u, _ := url.Parse(e.GatewayURL)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /s/%s/unlock HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 64\r\n\r\npassword=s3c", l.Token, u.Host)
	// Well past the gateway's body timeout, well short of forever.
	conn.SetReadDeadline(time.Now().Add(40 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a trickled unlock body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("trickled unlock body: %d, want a 4xx", resp.StatusCode)
	}
	if len(resp.Cookies()) != 0 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("trickled unlock body: cookies %v, Cache-Control %q", resp.Cookies(), resp.Header.Get("Cache-Control"))
	}
}

// TestAttackUnlockCookieIsBoundToItsLink: the same password on two links;
// link A's cookie value, replayed under link B's cookie name and path, must
// not open B (the Synology/Nextcloud "cookie reuse across shares" class).
func TestAttackUnlockCookieIsBoundToItsLink(t *testing.T) {
	e := NewEnv(t, Options{})
	const pw = "same-password-on-both"
	a := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pw})
	b := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}, "password": pw})
	unlock := func(tok string) *http.Cookie {
		r := e.Do(http.MethodPost, e.GatewayURL+"/s/"+tok+"/unlock", strings.NewReader("password="+pw),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("unlock: %d %s", r.Status, r.Body)
		}
		cs := (&http.Response{Header: r.Header}).Cookies()
		if len(cs) != 1 {
			t.Fatalf("unlock cookies: %v", cs)
		}
		return cs[0]
	}
	ca, cb := unlock(a.Token), unlock(b.Token)
	if ca.Path != "/s/"+a.Token || !ca.HttpOnly || ca.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie attributes: %+v", ca)
	}
	routes := []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/files/file_sunset/thumbnail", "/download.zip", "/downloads", "?file=file_sunset"}
	for _, rt := range routes {
		for name, cookie := range map[string]string{
			"A's value under B's name": cb.Name + "=" + ca.Value,
			"A's cookie as is":         ca.Name + "=" + ca.Value,
			"both names, A's value":    ca.Name + "=" + ca.Value + "; " + cb.Name + "=" + ca.Value,
		} {
			r := e.Get("/s/"+b.Token+rt, map[string]string{"Cookie": cookie, "Accept": "application/json"})
			if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "password_required") {
				t.Errorf("B%s with %s: %d %.80s", rt, name, r.Status, r.Body)
			}
		}
		// B's own cookie works (the attack above is not failing for some
		// other reason).
		if r := e.Get("/s/"+b.Token+rt, map[string]string{"Cookie": cb.Name + "=" + cb.Value}); r.Status != 200 {
			t.Errorf("B%s with its own cookie: %d", rt, r.Status)
		}
	}
}

// TestAttackPasswordBypassThroughRouteVariants: alternate spellings of the
// protected routes (case, doubled slashes, dot segments, ;params, encoded
// separators, trailing slashes, method overrides) never serve anything
// from a protected link.
func TestAttackPasswordBypassThroughRouteVariants(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}, "password": "open-sesame-42"})
	tok := l.Token
	sunset := demoBytesOf(t, "photos/sunset.png")
	variants := []string{
		"/S/" + tok + "/files", "//s//" + tok + "/files", "/s//" + tok + "/files", "/s/" + tok + "//files",
		"/s/" + tok + "/./files", "/s/" + tok + "/files/", "/s/" + tok + "/", "/s/" + tok + ";a=b/files",
		"/s/" + tok + "/files;a=b", "/s/" + tok + "%2ffiles", "/s/" + tok + "/%66iles", "/s/x/../" + tok + "/files",
		"/s/" + tok + "/files/file_sunset/content/", "/s/" + tok + "/files/file_sunset/content;x",
		"/s/" + tok + "/files/file_sunset/./content", "/s/" + tok + "/files/file_sunset/CONTENT",
		"/s/" + tok + "/FILES/file_sunset/content", "/s/" + tok + "/files/file_sunset/thumbnail/",
		"/s/" + tok + "/files/file_sunset/preview", "/s/" + tok + "/files/file_sunset/download",
		"/s/" + tok + "/download.zip/", "/s/" + tok + "/DOWNLOAD.ZIP", "/s/" + tok + "/webdav/sunset.png",
		"/s/" + tok + "/files/file_sunset/content?unlock=1&password=x",
	}
	for _, v := range variants {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			r := attackRaw(t, e, m, v, nil)
			if r.Status < 400 {
				t.Errorf("%s %s: %d", m, v, r.Status)
			}
			if strings.Contains(string(r.Body), "sunset") || (len(sunset) > 0 && strings.Contains(string(r.Body), string(sunset))) {
				t.Errorf("%s %s leaked the protected folder", m, v)
			}
		}
	}
	// Method overrides never turn a refused method into a read, nor a read
	// into anything else.
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		for _, m := range []string{http.MethodPost, http.MethodPut, "PROPFIND"} {
			r := attackRaw(t, e, m, "/s/"+tok+"/files/file_sunset/content", map[string]string{h: "GET", "Content-Length": "0"})
			if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s with %s: GET: %d %q", m, h, r.Status, r.Header.Get("Cache-Control"))
			}
		}
		r := attackRaw(t, e, http.MethodGet, "/s/"+tok+"/files", map[string]string{h: "POST"})
		if r.Status != http.StatusUnauthorized {
			t.Errorf("GET with %s: POST: %d", h, r.Status)
		}
	}
	r := attackRaw(t, e, http.MethodPost, "/s/"+tok+"/files?_method=GET", map[string]string{"Content-Length": "0"})
	if r.Status != http.StatusMethodNotAllowed {
		t.Errorf("POST ?_method=GET: %d", r.Status)
	}
}

// TestAttackHostileNameInHeaders: a file name full of quotes, angle brackets
// and non-ASCII reaches Content-Disposition only as a well-formed, escaped
// parameter (no header injection, no broken quoting).
func TestAttackHostileNameInHeaders(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_hostile")
	for _, q := range []string{"", "?download=1"} {
		r := e.Get("/s/"+l.Token+"/files/file_hostile/content"+q, nil)
		if r.Status != 200 {
			t.Fatalf("content%s: %d", q, r.Status)
		}
		cds := r.Header.Values("Content-Disposition")
		if len(cds) != 1 || strings.ContainsAny(cds[0], "\r\n<>") {
			t.Fatalf("content%s: Content-Disposition %q", q, cds)
		}
		disp, params, err := mime.ParseMediaType(cds[0])
		want := map[string]string{"": "inline", "?download=1": "attachment"}[q]
		if err != nil || disp != want || params["filename"] != `<img src=x onerror=alert(1)>"é.png` {
			t.Errorf("content%s: Content-Disposition %q parses as %q %v (%v)", q, cds[0], disp, params, err)
		}
	}
}

// demoBytesOf is a demo file's content from the checked-in demo data.
func demoBytesOf(t *testing.T, rel string) []byte {
	t.Helper()
	r, err := http.Dir(repoRoot() + "/examples/demo/media").Open("/" + rel)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
