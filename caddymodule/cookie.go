package caddymodule

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/publink/publink/policy"
)

// Unlock cookies (SPEC §4). The value is
//
//	base64url(linkID "|" passwordVersion "|" expiryUnix) "." base64url(HMAC-SHA256)
//
// with the MAC over a domain-separated form of the same three fields. The
// name is per link and the path is the link's, so cookies of several links
// coexist in one browser and each is sent only under its own link.

const (
	cookiePrefix = "publink_unlock_"
	// maxCookieValue bounds what the parser looks at: a real value is ~100
	// bytes.
	maxCookieValue = 256
	// maxCookiesChecked bounds the work one request can ask for with
	// repeated cookies of the same name.
	maxCookiesChecked = 4
)

var cookieB64 = base64.RawURLEncoding.Strict()

// unlockCookieName is a link's cookie name: a prefix of the SHA-256 of its
// id, so the name neither repeats the id nor collides in practice.
func unlockCookieName(linkID string) string {
	sum := sha256.Sum256([]byte(linkID))
	return cookiePrefix + hex.EncodeToString(sum[:4])
}

// unlockClaim is what an unlock cookie asserts.
type unlockClaim struct {
	LinkID  string
	Version int64
	Expiry  time.Time // whole seconds
}

func (c unlockClaim) mac(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("publink-unlock-v1\n"))
	m.Write([]byte(c.LinkID))
	m.Write([]byte{'\n'})
	m.Write(strconv.AppendInt(nil, c.Version, 10))
	m.Write([]byte{'\n'})
	m.Write(strconv.AppendInt(nil, c.Expiry.Unix(), 10))
	return m.Sum(nil)
}

// signCookie encodes c signed with key.
func signCookie(c unlockClaim, key []byte) string {
	payload := c.LinkID + "|" + strconv.FormatInt(c.Version, 10) + "|" + strconv.FormatInt(c.Expiry.Unix(), 10)
	return cookieB64.EncodeToString([]byte(payload)) + "." + cookieB64.EncodeToString(c.mac(key))
}

// parseCookie checks a cookie value's MAC against every key and returns its
// claim. It is strict: one layout, canonical numbers, valid ids; anything
// else is refused. It does not judge the claim (link, version, expiry).
func parseCookie(value string, keys [][]byte) (unlockClaim, bool) {
	var c unlockClaim
	if len(value) > maxCookieValue {
		return c, false
	}
	p64, m64, ok := strings.Cut(value, ".")
	if !ok {
		return c, false
	}
	payload, err1 := cookieB64.DecodeString(p64)
	mac, err2 := cookieB64.DecodeString(m64)
	if err1 != nil || err2 != nil || len(mac) != sha256.Size {
		return c, false
	}
	f := strings.Split(string(payload), "|")
	if len(f) != 3 || !policy.ValidID(f[0]) {
		return c, false
	}
	ver, ok1 := canonicalInt(f[1])
	exp, ok2 := canonicalInt(f[2])
	if !ok1 || !ok2 {
		return c, false
	}
	c = unlockClaim{LinkID: f[0], Version: ver, Expiry: time.Unix(exp, 0)}
	for _, k := range keys {
		if hmac.Equal(mac, c.mac(k)) {
			return c, true
		}
	}
	return unlockClaim{}, false
}

// canonicalInt reads a non-negative decimal with no sign or leading zero,
// so one claim has exactly one encoding.
func canonicalInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// cookieExpiry is when an unlock made at now ends: at most
// maxCookieLifetime later and never past the link's validUntil.
func cookieExpiry(l *policy.Link, now time.Time) time.Time {
	exp := now.Add(maxCookieLifetime)
	if l.ValidUntil != nil && l.ValidUntil.Before(exp) {
		exp = *l.ValidUntil
	}
	return exp.Truncate(time.Second)
}

// unlockCookie is the cookie a right password earns.
func (a *App) unlockCookie(l *policy.Link, now time.Time) *http.Cookie {
	exp := cookieExpiry(l, now)
	maxAge := int(exp.Sub(now) / time.Second)
	if maxAge < 1 {
		// Under a second left: a zero Max-Age would mean a session cookie,
		// outliving validUntil, so send none that lasts.
		maxAge = -1
	}
	return &http.Cookie{
		Name:     unlockCookieName(l.ID),
		Value:    signCookie(unlockClaim{LinkID: l.ID, Version: l.PasswordVersion, Expiry: exp}, a.cookieKeys[0]),
		Path:     defaultBasePath + "/" + l.Token,
		MaxAge:   maxAge,
		Expires:  exp.UTC(),
		HttpOnly: true,
		Secure:   !a.InsecureCookies,
		SameSite: http.SameSiteLaxMode,
	}
}

// unlocked reports whether r carries a valid unlock cookie for l at now:
// signed by a current key, for this link, under its current password
// version, not expired and not claiming more than the longest lifetime.
func (a *App) unlocked(r *http.Request, l *policy.Link, now time.Time) bool {
	name := unlockCookieName(l.ID)
	checked := 0
	for _, ck := range r.CookiesNamed(name) {
		if checked++; checked > maxCookiesChecked {
			return false
		}
		c, ok := parseCookie(ck.Value, a.cookieKeys)
		if ok && c.LinkID == l.ID && c.Version == l.PasswordVersion &&
			now.Before(c.Expiry) && !c.Expiry.After(now.Add(maxCookieLifetime)) {
			return true
		}
	}
	return false
}
