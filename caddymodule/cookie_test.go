package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/publink/publink/policy"
)

var (
	ckKeyA = []byte("cookie-key-A-0123456789abcdef")
	ckKeyB = []byte("cookie-key-B-0123456789abcdef")
	ckT0   = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

func protectedLink(id string, version int64) *policy.Link {
	return &policy.Link{ID: id, Token: "tok_" + id, PasswordHash: "$argon2id$…", PasswordVersion: version}
}

// withCookie is a request under l carrying the cookie value v.
func withCookie(l *policy.Link, v string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/s/"+l.Token, nil)
	r.AddCookie(&http.Cookie{Name: unlockCookieName(l.ID), Value: v})
	return r
}

func TestUnlockCookieRoundTrip(t *testing.T) {
	a := &App{cookieKeys: [][]byte{ckKeyA}}
	l := protectedLink("lnk_one", 3)
	ck := a.unlockCookie(l, ckT0)
	if !a.unlocked(withCookie(l, ck.Value), l, ckT0) {
		t.Fatal("a fresh cookie does not unlock its link")
	}
	if !a.unlocked(withCookie(l, ck.Value), l, ckT0.Add(maxCookieLifetime-time.Second)) {
		t.Fatal("cookie refused before its expiry")
	}
	if a.unlocked(withCookie(l, ck.Value), l, ckT0.Add(maxCookieLifetime)) {
		t.Fatal("cookie accepted at its expiry")
	}
	if a.unlocked(httptest.NewRequest(http.MethodGet, "/s/"+l.Token, nil), l, ckT0) {
		t.Fatal("no cookie unlocked the link")
	}
}

func TestUnlockCookieAttributes(t *testing.T) {
	a := &App{cookieKeys: [][]byte{ckKeyA}}
	l := protectedLink("lnk_attr", 1)
	ck := a.unlockCookie(l, ckT0)
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/s/"+l.Token {
		t.Fatalf("cookie attributes: %+v", ck)
	}
	if ck.MaxAge != int(maxCookieLifetime/time.Second) {
		t.Fatalf("MaxAge = %d, want 12h", ck.MaxAge)
	}
	s := ck.String()
	for _, want := range []string{"HttpOnly", "Secure", "SameSite=Lax", "Path=/s/" + l.Token, "Max-Age=43200"} {
		if !strings.Contains(s, want) {
			t.Errorf("Set-Cookie %q lacks %s", s, want)
		}
	}
	a.InsecureCookies = true
	if a.unlockCookie(l, ckT0).Secure {
		t.Fatal("insecure_cookies still sets Secure")
	}

	// Never past validUntil.
	until := ckT0.Add(90 * time.Minute)
	l.ValidUntil = &until
	ck = a.unlockCookie(l, ckT0)
	if ck.MaxAge != 90*60 || !ck.Expires.Equal(until) {
		t.Fatalf("cookie of a link valid 90 more minutes: MaxAge %d, Expires %v", ck.MaxAge, ck.Expires)
	}
	c, ok := parseCookie(ck.Value, a.cookieKeys)
	if !ok || !c.Expiry.Equal(until) {
		t.Fatalf("signed expiry %v, want %v", c.Expiry, until)
	}
	// Under a second left: no lasting cookie at all.
	soon := ckT0.Add(300 * time.Millisecond)
	l.ValidUntil = &soon
	if ck := a.unlockCookie(l, ckT0); ck.MaxAge >= 0 {
		t.Fatalf("cookie with 0.3s left has MaxAge %d", ck.MaxAge)
	}
}

func TestUnlockCookieNamesDiffer(t *testing.T) {
	n1, n2 := unlockCookieName("lnk_one"), unlockCookieName("lnk_two")
	if n1 == n2 || !strings.HasPrefix(n1, cookiePrefix) || len(n1) != len(cookiePrefix)+8 {
		t.Fatalf("names %q and %q", n1, n2)
	}
	if strings.Contains(n1, "lnk_one") {
		t.Fatalf("name %q repeats the link id", n1)
	}
}

func TestUnlockCookieRefusals(t *testing.T) {
	a := &App{cookieKeys: [][]byte{ckKeyA}}
	l := protectedLink("lnk_one", 3)
	good := signCookie(unlockClaim{LinkID: l.ID, Version: 3, Expiry: ckT0.Add(time.Hour)}, ckKeyA)
	if !a.unlocked(withCookie(l, good), l, ckT0) {
		t.Fatal("control cookie refused")
	}
	other := protectedLink("lnk_two", 3)
	cases := map[string]struct {
		link  *policy.Link
		value string
	}{
		"other link's cookie":  {l, signCookie(unlockClaim{LinkID: other.ID, Version: 3, Expiry: ckT0.Add(time.Hour)}, ckKeyA)},
		"old password version": {l, signCookie(unlockClaim{LinkID: l.ID, Version: 2, Expiry: ckT0.Add(time.Hour)}, ckKeyA)},
		"newer version":        {l, signCookie(unlockClaim{LinkID: l.ID, Version: 4, Expiry: ckT0.Add(time.Hour)}, ckKeyA)},
		"expired":              {l, signCookie(unlockClaim{LinkID: l.ID, Version: 3, Expiry: ckT0.Add(-time.Second)}, ckKeyA)},
		"expires now":          {l, signCookie(unlockClaim{LinkID: l.ID, Version: 3, Expiry: ckT0}, ckKeyA)},
		"lives too long":       {l, signCookie(unlockClaim{LinkID: l.ID, Version: 3, Expiry: ckT0.Add(maxCookieLifetime + time.Minute)}, ckKeyA)},
		"unknown key":          {l, signCookie(unlockClaim{LinkID: l.ID, Version: 3, Expiry: ckT0.Add(time.Hour)}, ckKeyB)},
		"empty":                {l, ""},
		"no mac":               {l, strings.Split(good, ".")[0]},
		"empty mac":            {l, strings.Split(good, ".")[0] + "."},
		"extra part":           {l, good + ".AAAA"},
		"padded":               {l, good + "="},
		"link B's cookie on B": {other, good},
	}
	for name, c := range cases {
		if a.unlocked(withCookie(c.link, c.value), c.link, ckT0) {
			t.Errorf("%s: accepted", name)
		}
	}
	// Every single-character change and every truncation is refused.
	for i := range good {
		for _, ch := range []byte{'A', 'z', '0', '_', '-', '.', '|'} {
			if good[i] == ch {
				continue
			}
			bad := good[:i] + string(ch) + good[i+1:]
			if a.unlocked(withCookie(l, bad), l, ckT0) {
				t.Fatalf("tampered cookie %q accepted", bad)
			}
		}
		if a.unlocked(withCookie(l, good[:i]), l, ckT0) {
			t.Fatalf("truncated cookie %q accepted", good[:i])
		}
	}
}

// A payload that says the same thing in another spelling is refused even
// with a valid MAC over the claim, so a value has one encoding.
func TestParseCookieIsCanonical(t *testing.T) {
	c := unlockClaim{LinkID: "lnk_one", Version: 3, Expiry: ckT0.Add(time.Hour)}
	exp := c.Expiry.Unix()
	mac := cookieB64.EncodeToString(c.mac(ckKeyA))
	for _, payload := range []string{
		"lnk_one|03|" + itoa(exp),
		"lnk_one|+3|" + itoa(exp),
		"lnk_one|3|0" + itoa(exp),
		"lnk_one|3|" + itoa(exp) + "|",
		"lnk_one|3| " + itoa(exp),
		"lnk one|3|" + itoa(exp),
	} {
		v := cookieB64.EncodeToString([]byte(payload)) + "." + mac
		if _, ok := parseCookie(v, [][]byte{ckKeyA}); ok {
			t.Errorf("payload %q accepted", payload)
		}
	}
	if _, ok := parseCookie(cookieB64.EncodeToString([]byte("lnk_one|3|"+itoa(exp)))+"."+mac, [][]byte{ckKeyA}); !ok {
		t.Fatal("canonical control refused")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestUnlockCookieKeyRotation(t *testing.T) {
	l := protectedLink("lnk_rot", 1)
	old := &App{cookieKeys: [][]byte{ckKeyA}}
	oldCookie := old.unlockCookie(l, ckT0).Value

	both := &App{cookieKeys: [][]byte{ckKeyB, ckKeyA}}
	if !both.unlocked(withCookie(l, oldCookie), l, ckT0) {
		t.Fatal("cookie of the previous key refused while that key still verifies")
	}
	newCookie := both.unlockCookie(l, ckT0).Value
	if newCookie == oldCookie {
		t.Fatal("the first key does not sign")
	}
	if !(&App{cookieKeys: [][]byte{ckKeyB}}).unlocked(withCookie(l, newCookie), l, ckT0) {
		t.Fatal("new cookie not signed by the first key")
	}
	rotated := &App{cookieKeys: [][]byte{ckKeyB}}
	if rotated.unlocked(withCookie(l, oldCookie), l, ckT0) {
		t.Fatal("cookie of a removed key accepted")
	}
}

func TestUnlockedChecksFewCookies(t *testing.T) {
	a := &App{cookieKeys: [][]byte{ckKeyA}}
	l := protectedLink("lnk_many", 1)
	good := a.unlockCookie(l, ckT0).Value
	r := httptest.NewRequest(http.MethodGet, "/s/"+l.Token, nil)
	r.AddCookie(&http.Cookie{Name: unlockCookieName(l.ID), Value: good})
	if !a.unlocked(r, l, ckT0) {
		t.Fatal("control refused")
	}
	r = httptest.NewRequest(http.MethodGet, "/s/"+l.Token, nil)
	for range 50 {
		r.AddCookie(&http.Cookie{Name: unlockCookieName(l.ID), Value: "x"})
	}
	r.AddCookie(&http.Cookie{Name: unlockCookieName(l.ID), Value: good})
	if a.unlocked(r, l, ckT0) {
		t.Fatal("a good cookie behind 50 junk ones was checked: the per-request work is unbounded")
	}
}

func TestSameOrigin(t *testing.T) {
	a := &App{publicBase: "https://share.example.com"}
	cases := []struct {
		host   string
		hdr    map[string]string
		allow  bool
		reason string
	}{
		{"gw.internal:8080", nil, true, "no Origin, no Sec-Fetch-Site (curl)"},
		{"gw.internal:8080", map[string]string{"Origin": "https://share.example.com"}, true, "public URL behind a CDN rewriting Host"},
		{"gw.internal:8080", map[string]string{"Origin": "https://SHARE.example.com:443", "Sec-Fetch-Site": "same-origin"}, true, "explicit default port"},
		{"share.example.com", map[string]string{"Origin": "https://share.example.com"}, true, "Host without port"},
		{"127.0.0.1:9999", map[string]string{"Origin": "http://127.0.0.1:9999"}, true, "same Host and port"},
		{"127.0.0.1:9999", map[string]string{"Sec-Fetch-Site": "none"}, true, "typed in"},
		{"127.0.0.1:9999", map[string]string{"Origin": "http://127.0.0.1:9998"}, false, "other port"},
		{"gw.internal:8080", map[string]string{"Origin": "http://share.example.com"}, false, "public host over the other scheme"},
		{"gw.internal:8080", map[string]string{"Origin": "https://share.example.com:8443"}, false, "public host, other port"},
		{"share.example.com", map[string]string{"Origin": "https://evil.example"}, false, "other site"},
		{"share.example.com", map[string]string{"Origin": "https://share.example.com.evil.example"}, false, "suffix trick"},
		{"share.example.com", map[string]string{"Origin": "null"}, false, "opaque origin"},
		{"share.example.com", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}, true, "form on a no-referrer page"},
		{"share.example.com", map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, false, "sandboxed cross-site frame"},
		{"share.example.com", map[string]string{"Origin": "null", "Sec-Fetch-Site": "none"}, false, "opaque origin, typed in"},
		{"share.example.com", map[string]string{"Origin": "https://share.example.com/path"}, false, "not an origin"},
		{"share.example.com", map[string]string{"Origin": "ftp://share.example.com"}, false, "scheme"},
		{"share.example.com", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, "cross-site fetch"},
		{"share.example.com", map[string]string{"Sec-Fetch-Site": "same-site"}, false, "sibling subdomain"},
		{"share.example.com", map[string]string{"Origin": "https://share.example.com", "Sec-Fetch-Site": "cross-site"}, false, "Sec-Fetch-Site wins"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodPost, "/s/tok/unlock", nil)
		r.Host = c.host
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		if got := a.sameOrigin(r); got != c.allow {
			t.Errorf("%s: sameOrigin = %v, want %v", c.reason, got, c.allow)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/s/tok/unlock", nil)
	r.Header.Add("Origin", "https://share.example.com")
	r.Header.Add("Origin", "https://evil.example")
	if a.sameOrigin(r) {
		t.Error("two Origin headers accepted")
	}
}

func TestIPBucket(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                  "192.0.2.7",
		"::ffff:192.0.2.7":           "192.0.2.7",
		"2001:db8:1:2:aaaa::1":       "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::99": "2001:db8:1:2::/64",
		"fe80::1%eth0":               "fe80::/64",
		"not-an-ip":                  "not-an-ip",
	} {
		if got := ipBucket(in); got != want {
			t.Errorf("ipBucket(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestThrottleKeys(t *testing.T) {
	a := &App{}
	req := func(remote string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/s/tok/unlock", nil)
		r.RemoteAddr = remote
		return r
	}
	l1, l2 := protectedLink("lnk_one", 1), protectedLink("lnk_two", 1)
	k1 := a.throttleKeysFor(req("192.0.2.7:1234"), l1)
	if k1 != a.throttleKeysFor(req("192.0.2.7:5678"), l1) {
		t.Fatal("the client's port changes its budget")
	}
	if k1.ip == a.throttleKeysFor(req("192.0.2.8:1234"), l1).ip {
		t.Fatal("two IPs share a budget")
	}
	if k2 := a.throttleKeysFor(req("192.0.2.7:1234"), l2); k1.ip == k2.ip || k1.link == k2.link {
		t.Fatal("two links share a budget")
	}
	k6 := a.throttleKeysFor(req("[2001:db8::1]:1234"), l1)
	for _, k := range []string{k1.ip, k1.link, k6.ip} {
		if strings.Contains(k, "192.0.2.7") || strings.Contains(k, "2001") || strings.ContainsAny(k, "{}. ") {
			t.Errorf("key %q holds an address or Cluster-unsafe characters", k)
		}
	}
}

func TestReadPassword(t *testing.T) {
	post := func(ct, body string) (string, int) {
		r := httptest.NewRequest(http.MethodPost, "/s/tok/unlock?password=fromquery", strings.NewReader(body))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		return readPassword(httptest.NewRecorder(), r)
	}
	if pw, st := post("application/x-www-form-urlencoded", "password=s%C3%A9same+ouvre"); st != 0 || pw != "sésame ouvre" {
		t.Fatalf("got %q, %d", pw, st)
	}
	if pw, st := post("application/x-www-form-urlencoded; charset=utf-8", "other=1"); st != 0 || pw != "" {
		t.Fatalf("missing field: got %q, %d (the query must not count)", pw, st)
	}
	for _, c := range []struct {
		ct, body string
		want     int
	}{
		{"", "password=x", http.StatusUnsupportedMediaType},
		{"application/json", `{"password":"x"}`, http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", "", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", "password=a&password=b", http.StatusBadRequest},
		{"application/x-www-form-urlencoded", "password=%zz", http.StatusBadRequest},
		{"application/x-www-form-urlencoded", "password=" + strings.Repeat("a", maxUnlockBody), http.StatusRequestEntityTooLarge},
	} {
		if _, st := post(c.ct, c.body); st != c.want {
			t.Errorf("%s %.40q: status %d, want %d", c.ct, c.body, st, c.want)
		}
	}
}

func FuzzParseCookie(f *testing.F) {
	keys := [][]byte{ckKeyA, ckKeyB}
	f.Add(signCookie(unlockClaim{LinkID: "lnk_one", Version: 3, Expiry: ckT0}, ckKeyA))
	f.Add(signCookie(unlockClaim{LinkID: "lnk_two", Version: 0, Expiry: time.Unix(0, 0)}, ckKeyB))
	f.Add("")
	f.Add(".")
	f.Add("bG5rX29uZXwzfDE4OTM1NDk0NDU.")
	f.Fuzz(func(t *testing.T, v string) {
		c, ok := parseCookie(v, keys)
		if !ok {
			if c != (unlockClaim{}) {
				t.Fatalf("refused %q but returned a claim %+v", v, c)
			}
			return
		}
		// Accepted values are exactly what the gateway signs: one encoding
		// per claim, a MAC from a configured key.
		if v != signCookie(c, ckKeyA) && v != signCookie(c, ckKeyB) {
			t.Fatalf("accepted %q, which no key signs as %+v", v, c)
		}
		if !policy.ValidID(c.LinkID) || c.Version < 0 {
			t.Fatalf("accepted claim %+v", c)
		}
		m := hmac.New(sha256.New, []byte("some other key 0123456789"))
		m.Write([]byte(v))
		if _, ok := parseCookie(v, [][]byte{m.Sum(nil)}); ok {
			t.Fatalf("%q accepted under an unrelated key", v)
		}
	})
}

func TestHashSlotsBound(t *testing.T) {
	a := &App{hashSlots: make(chan struct{}, 1)}
	ran := false
	if err := a.withHashSlot(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("free slot: %v, ran %v", err, ran)
	}
	a.hashSlots <- struct{}{} // every slot taken
	ran = false
	if err := a.withHashSlot(context.Background(), func() error { ran = true; return nil }); !errors.Is(err, errHashBusy) || ran {
		t.Fatalf("busy slots: %v, ran %v", err, ran)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := a.withHashSlot(ctx, func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("gone client: %v, ran %v", err, ran)
	}
	_, err := a.hashPassword(context.Background(), "pw")
	var ae *adminError
	if !errors.As(err, &ae) || ae.status != http.StatusServiceUnavailable {
		t.Fatalf("hashPassword with busy slots: %v", err)
	}
	<-a.hashSlots
	h, err := a.hashPassword(context.Background(), "pw")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hashPassword = %q, %v", h, err)
	}
	if len(a.hashSlots) != 0 {
		t.Fatal("a slot leaked")
	}
}
