// Package originauth signs and verifies the headers a publink gateway puts on
// every request it makes to an origin. Origins import it to check that a
// request really comes from the gateway:
//
//	if _, err := originauth.Verify(secret, r, time.Now(), 5*time.Minute); err != nil {
//		http.Error(w, "unauthorized", http.StatusUnauthorized)
//		return
//	}
//
// The signature is v1= + hex(HMAC-SHA256(secret, METHOD "\n" requestURI "\n"
// linkID "\n" timestamp)).
package originauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names carried by signed requests.
const (
	HeaderTimestamp = "X-Publink-Timestamp"
	HeaderLink      = "X-Publink-Link"
	HeaderSignature = "X-Publink-Signature"
)

// Errors returned by Verify.
var (
	ErrMissing   = errors.New("originauth: missing signature headers")
	ErrStale     = errors.New("originauth: timestamp outside the allowed skew")
	ErrSignature = errors.New("originauth: signature mismatch")
)

// Signature computes the header value for one request.
func Signature(secret []byte, method, requestURI, linkID string, ts int64) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(method))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(requestURI))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(linkID))
	mac.Write([]byte{'\n'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Sign sets the three signature headers on an outgoing request, replacing
// any that are already there.
func Sign(req *http.Request, secret []byte, linkID string, now time.Time) {
	ts := now.Unix()
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderLink, linkID)
	req.Header.Set(HeaderSignature, Signature(secret, req.Method, req.URL.RequestURI(), linkID, ts))
}

// Verify checks an incoming request's signature headers against secret,
// rejecting timestamps further than maxSkew from now. It returns the link id
// the gateway acted for (empty for admin-side calls).
func Verify(secret []byte, r *http.Request, now time.Time, maxSkew time.Duration) (linkID string, err error) {
	tsText := r.Header.Get(HeaderTimestamp)
	sig := r.Header.Get(HeaderSignature)
	if tsText == "" || sig == "" || !strings.HasPrefix(sig, "v1=") {
		return "", ErrMissing
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return "", ErrMissing
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return "", ErrStale
	}
	linkID = r.Header.Get(HeaderLink)
	want := Signature(secret, r.Method, r.URL.RequestURI(), linkID, ts)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", ErrSignature
	}
	return linkID, nil
}
