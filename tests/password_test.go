package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publink/publink/internal/testenv"
)

// Passwords with unusual spellings, so a log search cannot miss them.
const (
	pwRight  = "Sesame-7f3a-right"
	pwWrong  = "Guess-91bc-wrong"
	pwSecond = "Second-44de-new"
)

// pwCaddyfile is the root Caddyfile with extra global options (before the
// publink option) and extra lines inside the publink option.
func pwCaddyfile(t testing.TB, globals []string, publink ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "\tpublink {\n"
	if !strings.Contains(string(b), anchor) {
		t.Fatalf("root Caddyfile has no %q", anchor)
	}
	repl := strings.Join(globals, "\n") + "\n" + anchor
	for _, l := range publink {
		repl += "\t\t" + l + "\n"
	}
	return strings.Replace(string(b), anchor, repl, 1)
}

// trustLoopbackProxies makes 127.0.0.0/8 a trusted proxy, so
// X-Forwarded-For names the client (a CDN in front of the gateway).
var trustLoopbackProxies = []string{"\tservers {", "\t\ttrusted_proxies static 127.0.0.1/8", "\t}"}

// unlockPost posts the password form; hdr adds headers (Origin,
// X-Forwarded-For, Accept, …).
func (e *Env) unlockPost(token, pw string, hdr map[string]string) *Response {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range hdr {
		h[k] = v
	}
	body := strings.NewReader(url.Values{"password": {pw}}.Encode())
	return e.Do(http.MethodPost, e.GatewayURL+"/s/"+token+"/unlock", body, h)
}

// unlockCookie checks a successful unlock and returns its cookie.
func unlockCookie(t testing.TB, r *Response, token string) *http.Cookie {
	t.Helper()
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/s/"+token {
		t.Fatalf("unlock: %d Location %q %s", r.Status, r.Header.Get("Location"), r.Body)
	}
	sc := r.Header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("unlock set %d cookies: %q", len(sc), sc)
	}
	c, err := http.ParseSetCookie(sc[0])
	if err != nil {
		t.Fatalf("Set-Cookie %q: %v", sc[0], err)
	}
	return c
}

func noCookie(t testing.TB, r *Response, what string) {
	t.Helper()
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("%s set a cookie: %q", what, sc)
	}
}

func cookieHdr(cs ...*http.Cookie) map[string]string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return map[string]string{"Cookie": strings.Join(parts, "; ")}
}

// forgeCookie builds an unlock cookie value the way the gateway documents
// it (caddymodule/cookie.go), signed with key.
func forgeCookie(key, linkID string, version int64, expiry time.Time) string {
	v, exp := strconv.FormatInt(version, 10), strconv.FormatInt(expiry.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("publink-unlock-v1\n" + linkID + "\n" + v + "\n" + exp))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(linkID+"|"+v+"|"+exp)) + "." + enc.EncodeToString(m.Sum(nil))
}

// protectedRoute is one request under a link and what it answers once
// unlocked.
type protectedRoute struct {
	name, method, path string
	hdr                map[string]string
	unlocked           int
}

// linkRoutes lists every visitor route under a folder link to /photos.
func linkRoutes(token string) []protectedRoute {
	b := "/s/" + token
	return []protectedRoute{
		{"page", "GET", b, nil, 200},
		{"page of a subfolder", "GET", b + "?path=2024", nil, 200},
		{"page of one file", "GET", b + "?file=file_sunset", nil, 200},
		{"listing", "GET", b + "/files", nil, 200},
		{"listing of a subfolder", "GET", b + "/files?path=2024", nil, 200},
		{"file", "GET", b + "/files/file_sunset", nil, 200},
		{"content", "GET", b + "/files/file_sunset/content", nil, 200},
		{"content with Range", "GET", b + "/files/file_sunset/content", map[string]string{"Range": "bytes=0-9"}, 206},
		{"content download", "GET", b + "/files/file_sunset/content?download=1", nil, 200},
		{"HEAD content", "HEAD", b + "/files/file_sunset/content", nil, 200},
		{"thumbnail", "GET", b + "/files/file_sunset/thumbnail", nil, 200},
		{"HEAD page", "HEAD", b, nil, 200},
		{"download.zip", "GET", b + "/download.zip", nil, 200},
		{"downloads", "GET", b + "/downloads", nil, 200},
	}
}

func (e *Env) routeDo(rt protectedRoute, extra map[string]string) *Response {
	e.t.Helper()
	h := map[string]string{}
	for k, v := range rt.hdr {
		h[k] = v
	}
	for k, v := range extra {
		h[k] = v
	}
	return e.Do(rt.method, e.GatewayURL+rt.path, nil, h)
}

// wantLocked checks every route answers 401 with the password form (or
// its JSON), never cacheable.
func (e *Env) wantLocked(t *testing.T, token string, extra map[string]string, why string) {
	t.Helper()
	for _, rt := range linkRoutes(token) {
		r := e.routeDo(rt, extra)
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("%s: %s %s answered %d, want 401", why, rt.method, rt.name, r.Status)
		}
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Fatalf("%s: %s 401 has Cache-Control %q", why, rt.name, cc)
		}
		if rt.method == http.MethodHead {
			continue
		}
		if !strings.Contains(string(r.Body), `action="/s/`+token+`/unlock"`) {
			t.Fatalf("%s: %s 401 page has no unlock form: %.300s", why, rt.name, r.Body)
		}
	}
	for _, rt := range linkRoutes(token) {
		if rt.method != http.MethodGet {
			continue
		}
		j := map[string]string{"Accept": "application/json"}
		for k, v := range extra {
			j[k] = v
		}
		r := e.routeDo(rt, j)
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), `{"error":{"code":"password_required"`) {
			t.Fatalf("%s: JSON %s: %d %s", why, rt.name, r.Status, r.Body)
		}
	}
}

// wantUnlocked checks every route answers as a visitor with access sees
// it, private to that visitor.
func (e *Env) wantUnlocked(t *testing.T, token string, c *http.Cookie) {
	t.Helper()
	for _, rt := range linkRoutes(token) {
		r := e.routeDo(rt, cookieHdr(c))
		if r.Status != rt.unlocked {
			t.Fatalf("unlocked %s %s answered %d, want %d: %.300s", rt.method, rt.name, r.Status, rt.unlocked, r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "private, no-store" {
			t.Fatalf("unlocked %s has Cache-Control %q, want private, no-store", rt.name, cc)
		}
	}
}

func TestPasswordProtectsEveryRoute(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		folder := map[string]any{"type": "folder", "id": "fld_photos"}
		a := e.CreateLink(map[string]any{"target": folder, "password": pwRight})
		b := e.CreateLink(map[string]any{"target": folder, "password": pwRight})
		if !a.HasPassword || strings.Contains(string(e.Admin("GET", "/v1/links/"+a.ID, "alice", nil).Body), pwRight) {
			t.Fatalf("link JSON: hasPassword %v", a.HasPassword)
		}

		e.wantLocked(t, a.Token, nil, "no cookie")
		// A locked link may ask the origin whether its target still
		// exists (so a deleted target answers 404, not 401), but nothing
		// else: no listing, file object, content or thumbnail.
		for _, req := range e.OriginRequests() {
			if req.Link == a.ID && req.RequestURI != "/v1/folders/fld_photos" {
				t.Fatalf("the origin was asked %s for a locked link", req.RequestURI)
			}
		}

		r := e.unlockPost(a.Token, pwWrong, nil)
		if r.Status != http.StatusUnauthorized || !strings.Contains(string(r.Body), "not right") {
			t.Fatalf("wrong password: %d %.300s", r.Status, r.Body)
		}
		noCookie(t, r, "a wrong password")
		if r := e.unlockPost(a.Token, pwWrong, map[string]string{"Accept": "application/json"}); r.Status != 401 || !strings.Contains(string(r.Body), `"password_required"`) {
			t.Fatalf("wrong password, JSON: %d %s", r.Status, r.Body)
		}

		ca := unlockCookie(t, e.unlockPost(a.Token, pwRight, nil), a.Token)
		if !ca.HttpOnly || ca.SameSite != http.SameSiteLaxMode || ca.Path != "/s/"+a.Token || ca.Secure {
			t.Fatalf("cookie attributes (insecure_cookies on): %+v", ca)
		}
		if ca.MaxAge <= 0 || ca.MaxAge > 12*3600 {
			t.Fatalf("cookie Max-Age %d, want (0, 12h]", ca.MaxAge)
		}
		if strings.Contains(ca.Value, pwRight) || strings.Contains(ca.Value, a.Token) {
			t.Fatal("the cookie holds the password or the token")
		}
		e.wantUnlocked(t, a.Token, ca)
		if r := e.Get("/s/"+a.Token+"/files/file_sunset/content", map[string]string{"Range": "bytes=0-9", "Cookie": ca.Name + "=" + ca.Value}); len(r.Body) != 10 || r.Header.Get("Content-Range") == "" {
			t.Fatalf("Range under an unlock: %d bytes, Content-Range %q", len(r.Body), r.Header.Get("Content-Range"))
		}

		// Link B shares A's folder and password, but A's cookie is A's:
		// under its own name, under B's name, sent to B's path.
		cb := unlockCookie(t, e.unlockPost(b.Token, pwRight, nil), b.Token)
		if cb.Name == ca.Name {
			t.Fatalf("two links' cookies share the name %q: they could not coexist", ca.Name)
		}
		e.wantLocked(t, b.Token, cookieHdr(ca), "link A's cookie on link B")
		e.wantLocked(t, b.Token, cookieHdr(&http.Cookie{Name: cb.Name, Value: ca.Value}), "link A's cookie renamed for B")
		// Both cookies at once (a browser holding both) open both.
		e.wantUnlocked(t, a.Token, &http.Cookie{Name: ca.Name, Value: ca.Value + "; " + cb.Name + "=" + cb.Value})
		e.wantUnlocked(t, b.Token, &http.Cookie{Name: cb.Name, Value: cb.Value + "; " + ca.Name + "=" + ca.Value})

		// Forged cookies: the control (right key, version, future expiry)
		// opens, so each refusal below is for the reason named.
		later := time.Now().Add(time.Hour)
		forged := func(v string) map[string]string { return cookieHdr(&http.Cookie{Name: ca.Name, Value: v}) }
		if r := e.Get("/s/"+a.Token+"/files", forged(forgeCookie(e.CookieKey, a.ID, 1, later))); r.Status != 200 {
			t.Fatalf("control forged cookie: %d (the documented format changed?)", r.Status)
		}
		mac := ca.Value[strings.IndexByte(ca.Value, '.')+1:]
		flip := func(s string, i int) string {
			c := byte('A')
			if s[i] == 'A' {
				c = 'B'
			}
			return s[:i] + string(c) + s[i+1:]
		}
		for name, v := range map[string]string{
			"tampered MAC":        flip(ca.Value, len(ca.Value)-len(mac)+3),
			"tampered payload":    flip(ca.Value, 2),
			"truncated":           ca.Value[:len(ca.Value)-5],
			"payload only":        ca.Value[:len(ca.Value)-len(mac)-1],
			"expired":             forgeCookie(e.CookieKey, a.ID, 1, time.Now().Add(-time.Minute)),
			"beyond 12 hours":     forgeCookie(e.CookieKey, a.ID, 1, time.Now().Add(13*time.Hour)),
			"wrong key":           forgeCookie("some-other-cookie-key-0123456789", a.ID, 1, later),
			"other password vers": forgeCookie(e.CookieKey, a.ID, 2, later),
			"other link's id":     forgeCookie(e.CookieKey, b.ID, 1, later),
		} {
			e.wantLocked(t, a.Token, forged(v), name)
		}

		// A cookie never outlives validUntil.
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		c := e.CreateLink(map[string]any{"target": folder, "password": pwRight, "validUntil": until.Format(time.RFC3339)})
		cc := unlockCookie(t, e.unlockPost(c.Token, pwRight, nil), c.Token)
		if cc.MaxAge > 3600 || cc.MaxAge < 3500 || cc.Expires.After(until) {
			t.Fatalf("cookie of a link valid for 1h: Max-Age %d, Expires %v (validUntil %v)", cc.MaxAge, cc.Expires, until)
		}

		// Secrets stay out of the gateway's output (access log included).
		log := e.GatewayLog()
		for _, s := range []string{pwRight, pwWrong, a.Token, b.Token, c.Token, ca.Value, mac} {
			if strings.Contains(log, s) {
				t.Fatalf("gateway log contains %.8q…", s)
			}
		}
	})
}

func TestPasswordChangeAndRemove(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		l := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}, "password": pwRight})
		c1 := unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token)
		e.wantUnlocked(t, l.Token, c1)

		// Change: same URL, new password, every old cookie refused.
		r := e.Admin("PATCH", "/v1/links/"+l.ID, "alice", map[string]any{"password": pwSecond})
		var changed Link
		r.JSON(t, &changed)
		if r.Status != 200 || changed.URL != l.URL || changed.Token != l.Token || !changed.HasPassword {
			t.Fatalf("changing the password: %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), pwSecond) {
			t.Fatal("PATCH answer holds the password")
		}
		e.wantLocked(t, l.Token, cookieHdr(c1), "cookie of the old password")
		if r := e.unlockPost(l.Token, pwRight, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("old password after the change: %d", r.Status)
		}
		c2 := unlockCookie(t, e.unlockPost(l.Token, pwSecond, nil), l.Token)
		if c2.Name != c1.Name || c2.Value == c1.Value {
			t.Fatalf("new cookie %q=%q vs old %q=%q", c2.Name, c2.Value, c1.Name, c1.Value)
		}
		e.wantUnlocked(t, l.Token, c2)

		// Remove: the link is public and cacheable again.
		r = e.Admin("PATCH", "/v1/links/"+l.ID, "alice", map[string]any{"password": nil})
		var public Link
		r.JSON(t, &public)
		if r.Status != 200 || public.HasPassword || public.URL != l.URL {
			t.Fatalf("removing the password: %d %s", r.Status, r.Body)
		}
		for _, rt := range linkRoutes(l.Token) {
			r := e.routeDo(rt, nil)
			if r.Status != rt.unlocked {
				t.Fatalf("public %s: %d, want %d", rt.name, r.Status, rt.unlocked)
			}
			if rt.name == "listing" || rt.name == "file" || rt.name == "content" || rt.name == "page" {
				if cc := r.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
					t.Fatalf("public %s has Cache-Control %q", rt.name, cc)
				}
			}
		}
		r = e.unlockPost(l.Token, pwSecond, nil)
		if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/s/"+l.Token {
			t.Fatalf("unlocking a public link: %d %q", r.Status, r.Header.Get("Location"))
		}
		noCookie(t, r, "unlocking a public link")

		// Set a password again: no earlier cookie comes back to life.
		if r := e.Admin("PATCH", "/v1/links/"+l.ID, "alice", map[string]any{"password": pwRight}); r.Status != 200 {
			t.Fatalf("setting the password again: %d %s", r.Status, r.Body)
		}
		e.wantLocked(t, l.Token, cookieHdr(c1), "first cookie after the password came back")
		e.wantLocked(t, l.Token, cookieHdr(c2), "second cookie after the password came back")
		e.wantUnlocked(t, l.Token, unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token))
	})
}

func TestPasswordThrottle(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.Caddyfile = pwCaddyfile(t, trustLoopbackProxies, "throttle_link 8 1h")
		e := NewEnv(t, o)
		l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pwRight})
		other := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_beach"}, "password": pwRight})
		from := func(ip string, extra ...string) map[string]string {
			h := map[string]string{"X-Forwarded-For": ip}
			for i := 0; i+1 < len(extra); i += 2 {
				h[extra[i]] = extra[i+1]
			}
			return h
		}
		const ipA, ipB, ipC, ipD = "203.0.113.1", "203.0.113.2", "198.51.100.3", "2001:db8:77::4"

		for i := 1; i <= 5; i++ {
			if r := e.unlockPost(l.Token, pwWrong, from(ipA)); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong password #%d from A: %d", i, r.Status)
			}
		}
		r := e.unlockPost(l.Token, pwWrong, from(ipA))
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("6th wrong password from A: %d, want 429", r.Status)
		}
		ra, _ := strconv.Atoi(r.Header.Get("Retry-After"))
		if ra < 1 || ra > 15*60 {
			t.Fatalf("Retry-After %q, want 1..900", r.Header.Get("Retry-After"))
		}
		if !strings.Contains(string(r.Body), "Try again in") || !strings.Contains(r.Header.Get("Cache-Control"), "no-store") {
			t.Fatalf("429 page does not say when to retry or is cacheable: %q %.400s", r.Header.Get("Cache-Control"), r.Body)
		}
		r = e.unlockPost(l.Token, pwRight, from(ipA))
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password from throttled A: %d, want 429", r.Status)
		}
		noCookie(t, r, "a throttled right password")
		r = e.unlockPost(l.Token, pwRight, from(ipA, "Accept", "application/json"))
		if r.Status != 429 || !strings.Contains(string(r.Body), `"code":"too_many_attempts"`) || !strings.Contains(string(r.Body), "seconds") {
			t.Fatalf("throttled JSON: %d %s", r.Status, r.Body)
		}
		// A's budget is per link: A may still open another link.
		unlockCookie(t, e.unlockPost(other.Token, pwRight, from(ipA)), other.Token)

		// B is another client: its budget is whole, and its success resets
		// nothing of A's.
		cb := unlockCookie(t, e.unlockPost(l.Token, pwRight, from(ipB)), l.Token)
		if r := e.unlockPost(l.Token, pwRight, from(ipA)); r.Status != http.StatusTooManyRequests {
			t.Fatalf("A after B's unlock: %d, want 429", r.Status)
		}

		// The link's own budget (8 an hour): 5 from A + 3 from C.
		for i := 1; i <= 3; i++ {
			if r := e.unlockPost(l.Token, pwWrong, from(ipC)); r.Status != http.StatusUnauthorized {
				t.Fatalf("wrong password #%d from C: %d", i, r.Status)
			}
		}
		for _, ip := range []string{ipD, ipB, ipC} {
			r := e.unlockPost(l.Token, pwRight, from(ip))
			if r.Status != http.StatusTooManyRequests {
				t.Fatalf("right password from %s with the link's budget spent: %d, want 429", ip, r.Status)
			}
			noCookie(t, r, "a right password on a throttled link")
		}
		// Visitors who already unlocked keep their access.
		if r := e.Get("/s/"+l.Token+"/files", cookieHdr(cb)); r.Status != 200 {
			t.Fatalf("B's cookie while the link is throttled: %d", r.Status)
		}
		if log := e.GatewayLog(); strings.Contains(log, pwRight) || strings.Contains(log, pwWrong) || strings.Contains(log, l.Token) {
			t.Fatal("gateway log contains a password or a full token")
		}
	})
}

// Without trusted_proxies, X-Forwarded-For is the client's own claim: it
// must not buy a fresh budget.
func TestPasswordThrottleIgnoresSpoofedForwardedFor(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pwRight})
	for i := 1; i <= 5; i++ {
		r := e.unlockPost(l.Token, pwWrong, map[string]string{"X-Forwarded-For": "192.0.2." + strconv.Itoa(i), "X-Real-IP": "192.0.2." + strconv.Itoa(i)})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password #%d: %d", i, r.Status)
		}
	}
	for _, hdr := range []map[string]string{
		{"X-Forwarded-For": "192.0.2.99"},
		{"X-Forwarded-For": "192.0.2.100, 127.0.0.1"},
		{"Forwarded": "for=192.0.2.101"},
		nil,
	} {
		r := e.unlockPost(l.Token, pwRight, hdr)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("right password with %v after 5 wrong ones from this client: %d, want 429", hdr, r.Status)
		}
		noCookie(t, r, "spoofed X-Forwarded-For")
	}
}

func TestPasswordUnlockRefusesCrossSitePosts(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pwRight})
	host := strings.TrimPrefix(e.GatewayURL, "http://")
	for name, hdr := range map[string]map[string]string{
		"Origin of another site":       {"Origin": "https://evil.example"},
		"cross-site fetch":             {"Sec-Fetch-Site": "cross-site"},
		"both":                         {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		"sibling site":                 {"Sec-Fetch-Site": "same-site", "Origin": "http://other." + host},
		"opaque origin":                {"Origin": "null"},
		"same host, other port":        {"Origin": "http://127.0.0.1:1"},
		"look-alike host":              {"Origin": "http://" + host + ".evil.example"},
		"lying Origin, honest browser": {"Origin": e.GatewayURL, "Sec-Fetch-Site": "cross-site"},
	} {
		r := e.unlockPost(l.Token, pwRight, hdr)
		if r.Status != http.StatusForbidden {
			t.Fatalf("%s: %d, want 403", name, r.Status)
		}
		noCookie(t, r, name)
	}
	// Refused posts are not guesses: none of them used up the budget.
	for name, hdr := range map[string]map[string]string{
		"same-origin browser": {"Origin": e.GatewayURL, "Sec-Fetch-Site": "same-origin"},
		"typed-in navigation": {"Sec-Fetch-Site": "none"},
		"behind a CDN that rewrites Host (Origin is public_url)": {"Origin": e.GatewayURL, "Host": "gateway.internal:8080"},
		"curl": nil,
	} {
		if r := e.unlockPost(l.Token, pwRight, hdr); r.Status != http.StatusSeeOther {
			t.Fatalf("%s: %d, want 303", name, r.Status)
		}
	}
	// Malformed posts are refused without a cookie and without a guess.
	post := func(ct, body string) *Response {
		return e.Do(http.MethodPost, e.GatewayURL+"/s/"+l.Token+"/unlock?password="+url.QueryEscape(pwRight), strings.NewReader(body), map[string]string{"Content-Type": ct})
	}
	for _, c := range []struct {
		ct, body string
		want     int
	}{
		{"application/json", `{"password":"` + pwRight + `"}`, http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", "password=" + strings.Repeat("x", 64<<10), http.StatusRequestEntityTooLarge},
		{"application/x-www-form-urlencoded", "password=a&password=" + pwRight, http.StatusBadRequest},
		{"application/x-www-form-urlencoded", "", http.StatusUnauthorized}, // the query's password is ignored
	} {
		r := post(c.ct, c.body)
		if r.Status != c.want {
			t.Fatalf("%s %.30q: %d, want %d", c.ct, c.body, r.Status, c.want)
		}
		noCookie(t, r, "a malformed post")
	}
	if r := e.Do(http.MethodGet, e.GatewayURL+"/s/"+l.Token+"/unlock", nil, nil); r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET unlock: %d", r.Status)
	}
}

// A rotated-out cookie key stops verifying; the new first key signs.
func TestPasswordCookieKeyRotation(t *testing.T) {
	oldKey, newKey := testCookieKey, "rotated-cookie-key-9876543210zyx"
	e := NewEnv(t, Options{Env: map[string]string{"PUBLINK_INSECURE_COOKIES": "false", "PUBLINK_COOKIE_KEY_NEW": newKey}})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "folder", "id": "fld_photos"}, "password": pwRight})
	c1 := unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token)
	if !c1.Secure {
		t.Fatal("cookie without Secure while insecure_cookies is false")
	}
	if forgeCookie(oldKey, l.ID, 1, c1.Expires) != c1.Value {
		t.Fatal("first cookie is not signed with the configured key")
	}

	restart := func(keys ...string) {
		t.Helper()
		var lines []string
		for _, k := range keys {
			lines = append(lines, "cookie_key "+k)
		}
		b, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile"))
		if err != nil {
			t.Fatal(err)
		}
		const only = "\t\tcookie_key       {$PUBLINK_COOKIE_KEY:dev-cookie-key-change-me-0000}\n"
		if !strings.Contains(string(b), only) {
			t.Fatalf("root Caddyfile has no line %q", only)
		}
		cf := strings.Replace(string(b), only, "\t\t"+strings.Join(lines, "\n\t\t")+"\n", 1)
		path := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(path, []byte(cf), 0o600); err != nil {
			t.Fatal(err)
		}
		e.StopGateway()
		e.StartGateway(path)
	}

	// New key first, old key still verifying.
	restart("{$PUBLINK_COOKIE_KEY_NEW}", "{$PUBLINK_COOKIE_KEY}")
	e.wantUnlocked(t, l.Token, c1)
	c2 := unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token)
	if forgeCookie(newKey, l.ID, 1, c2.Expires) != c2.Value {
		t.Fatal("after rotation the new first key does not sign")
	}

	// Old key removed: its cookies stop working, the new ones keep going.
	restart("{$PUBLINK_COOKIE_KEY_NEW}")
	e.wantLocked(t, l.Token, cookieHdr(c1), "cookie of a removed key")
	e.wantUnlocked(t, l.Token, c2)
}

// A flood of unlock posts queues for the few hash slots and is then told
// to come back; nothing else answers, and the gateway stays healthy.
func TestPasswordUnlockFlood(t *testing.T) {
	e := NewEnv(t, Options{Caddyfile: pwCaddyfile(t, trustLoopbackProxies, "hash_concurrency 1", "throttle_link 1000 1h")})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pwRight})
	const n = 48
	statuses := make([]*Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.unlockPost(l.Token, pwWrong, map[string]string{"X-Forwarded-For": "198.18.0." + strconv.Itoa(i+1)})
		}()
	}
	wg.Wait()
	counts := map[int]int{}
	for _, r := range statuses {
		counts[r.Status]++
		switch r.Status {
		case http.StatusUnauthorized:
		case http.StatusServiceUnavailable:
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("503 without Retry-After")
			}
		default:
			t.Fatalf("flooded unlock answered %d: %s", r.Status, r.Body)
		}
	}
	t.Logf("%d concurrent unlock posts with hash_concurrency 1: %v", n, counts)
	unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token)
}

// With the store down the gateway cannot count failures, so it answers no
// password at all, right or wrong: 503, no cookie.
func TestPasswordUnlockFailsClosed(t *testing.T) {
	rs := testenv.StartRedisServer(t)
	e := NewEnv(t, Options{Redis: true, RedisURL: rs.URL()})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_sunset"}, "password": pwRight})
	unlockCookie(t, e.unlockPost(l.Token, pwRight, nil), l.Token)
	rs.Stop()
	for _, pw := range []string{pwRight, pwWrong} {
		r := e.unlockPost(l.Token, pw, nil)
		if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Fatalf("unlock with the store down: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
		}
		noCookie(t, r, "an unlock with the store down")
	}
	rs.Restart()
	eventually(t, 10*time.Second, "unlock works again once Redis is back", func() bool {
		return e.unlockPost(l.Token, pwRight, nil).Status == http.StatusSeeOther
	})
}

// A protected link whose target is gone is a deleted link: the common 404
// on every route, not a password form, and it is removed.
func TestPasswordLinkWithDeletedTargetIsNotFound(t *testing.T) {
	e := NewEnv(t, Options{NoWebhook: true})
	l := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_beach"}, "password": "open sesame"})
	if r := e.Get("/s/"+l.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("before: %d", r.Status)
	}
	if r := e.Manage(http.MethodDelete, "/manage/files/file_beach", nil); r.Status/100 != 2 {
		t.Fatalf("deleting at the origin: %d %s", r.Status, r.Body)
	}
	unknown := e.Get("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil)
	eventually(t, 3*time.Second, "the locked link answers 404", func() bool {
		return e.Get("/s/"+l.Token, nil).Status == http.StatusNotFound
	})
	for _, p := range []string{"", "/files", "/files/file_beach/content", "/downloads", "/download.zip"} {
		r := e.Get("/s/"+l.Token+p, nil)
		if r.Status != http.StatusNotFound || string(r.Body) != string(unknown.Body) {
			t.Errorf("%s: %d, body identical to unknown token's: %v", p, r.Status, string(r.Body) == string(unknown.Body))
		}
	}
	if r := e.Do(http.MethodPost, e.GatewayURL+"/s/"+l.Token+"/unlock", strings.NewReader("password=open+sesame"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); r.Status != http.StatusNotFound {
		t.Errorf("unlock: %d", r.Status)
	}
	eventually(t, 3*time.Second, "the link is deleted", func() bool {
		return e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil).Status == http.StatusNotFound
	})
}
