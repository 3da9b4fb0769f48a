package caddymodule

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

// Visitor sessions: zip downloads are listed back to the visitor who made
// them (GET /s/{token}/downloads), so a browser gets a random session id
// in a cookie on its first zip download. The store keeps only the id's
// SHA-256, so whoever reads the store cannot act as the visitor.

const (
	sessionCookieName = "publink_session"
	// sessionBytes is the session id's randomness: 128 bits.
	sessionBytes = 16
	// maxVisitorDownloads bounds one /downloads answer.
	maxVisitorDownloads = 100
)

// sessionIDLen is the length of an encoded session id (randomString's
// unpadded base64url).
var sessionIDLen = base64.RawURLEncoding.EncodedLen(sessionBytes)

// visitorSession returns the visitor's session id from its cookie. When
// there is none and create is set it makes one and sets the cookie; fresh
// reports that.
func (v *visit) visitorSession(create bool) (id string, fresh bool) {
	for _, c := range v.r.CookiesNamed(sessionCookieName) {
		if validSessionID(c.Value) {
			return c.Value, false
		}
	}
	if !create {
		return "", false
	}
	id = randomString(sessionBytes)
	http.SetCookie(v.w, &http.Cookie{
		Name:     sessionCookieName,
		Value:    id,
		Path:     defaultBasePath + "/",
		HttpOnly: true,
		Secure:   !v.app().InsecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
	return id, true
}

// validSessionID accepts exactly the ids visitorSession makes.
func validSessionID(s string) bool {
	if len(s) != sessionIDLen {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sessionBytes
}

// sessionKey is what the store keeps of a session id.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte("publink-session-v1\n" + id))
	return hex.EncodeToString(sum[:])
}

// libraryUser is the signed-in library user a trusted front end vouches
// for in the configured identity header; nothing else names a user.
func (v *visit) libraryUser() string {
	a := v.app()
	if a.IdentityHeader == "" {
		return ""
	}
	u := v.r.Header.Get(a.IdentityHeader)
	if !policy.ValidID(u) {
		return ""
	}
	return u
}

// visitorDownload is a download as its visitor sees it: no session, no
// user, no account.
type visitorDownload struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	Files     int       `json:"files"`
	Bytes     int64     `json:"bytes"`
	Status    string    `json:"status"`
}

// downloads serves GET /s/{token}/downloads: this link's zip downloads in
// this visitor's session. The answer differs per visitor, so it is never
// cacheable, whatever the link.
func (v *visit) downloads() error {
	// Like every sibling route: a link whose target is gone is a 404.
	if sc, err := v.scope(); sc == nil {
		return err
	}
	hdr := v.w.Header()
	hdr.Set("Cache-Control", "private, no-store")
	hdr.Add("Vary", "Cookie")
	out := struct {
		Items []visitorDownload `json:"items"`
	}{Items: []visitorDownload{}}
	// Without a session there is nothing of this visitor's to show; an
	// empty filter would match everyone's.
	if id, _ := v.visitorSession(false); id != "" {
		f := store.DownloadFilter{Account: v.link.Account, LinkID: v.link.ID, Session: sessionKey(id)}
		ds, err := v.app().store.ListDownloads(v.r.Context(), f, maxVisitorDownloads)
		if err != nil {
			return v.h.unavailable(v.w, v.r, err)
		}
		for _, d := range ds {
			if !f.Match(d) {
				continue // the store filtered already; this is belt and braces
			}
			out.Items = append(out.Items, visitorDownload{
				ID: d.ID, CreatedAt: d.CreatedAt, Files: d.Files, Bytes: d.Bytes, Status: d.Status,
			})
		}
	}
	return writeJSON(v.w, v.r, http.StatusOK, out)
}
