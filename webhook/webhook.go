// Package webhook signs and verifies Standard Webhooks
// (https://www.standardwebhooks.com/): the headers webhook-id,
// webhook-timestamp and webhook-signature, where the signature is
//
//	v1,<base64(HMAC-SHA256(key, id + "." + unixTimestamp + "." + body))>
//
// Secrets have the form "whsec_<base64 key>". A secret without the "whsec_"
// prefix is used as the raw key bytes (handy for development values).
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a webhook timestamp may be from now, in either
// direction.
const Tolerance = 5 * time.Minute

// Errors returned by Verify (and Sign, for ErrSecret).
var (
	ErrMissing   = errors.New("webhook: missing or malformed headers")
	ErrStale     = errors.New("webhook: timestamp outside the allowed tolerance")
	ErrSignature = errors.New("webhook: no matching signature")
	ErrSecret    = errors.New("webhook: invalid secret")
)

// Key decodes a secret into the HMAC key: "whsec_<base64>" is base64
// decoded (standard or raw encoding); anything else is used as raw bytes.
func Key(secret string) ([]byte, error) {
	if secret == "" {
		return nil, ErrSecret
	}
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if k, err := base64.StdEncoding.DecodeString(rest); err == nil && len(k) > 0 {
			return k, nil
		}
		if k, err := base64.RawStdEncoding.DecodeString(rest); err == nil && len(k) > 0 {
			return k, nil
		}
		return nil, fmt.Errorf("%w: whsec_ value is not base64", ErrSecret)
	}
	return []byte(secret), nil
}

func compute(key []byte, id string, ts int64, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// Sign returns the webhook-signature header value for one message.
func Sign(secret string, id string, ts time.Time, body []byte) (string, error) {
	key, err := Key(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(compute(key, id, ts.Unix(), body)), nil
}

// Headers returns the three Standard Webhooks headers for a message, for
// senders. The caller still sets Content-Type.
func Headers(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := Sign(secret, id, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}

// Verify checks a received message. The signature header may hold several
// space-separated signatures ("v1,abc v1,def"); any valid v1 signature
// passes. Timestamps more than Tolerance away from now are rejected with
// ErrStale. It returns the webhook-id so the receiver can de-duplicate.
func Verify(secret string, h http.Header, body []byte, now time.Time) (id string, err error) {
	id = h.Get(HeaderID)
	tsText := h.Get(HeaderTimestamp)
	sigs := h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return "", ErrMissing
	}
	ts, perr := strconv.ParseInt(tsText, 10, 64)
	if perr != nil {
		return "", ErrMissing
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return "", ErrStale
	}
	key, err := Key(secret)
	if err != nil {
		return "", err
	}
	want := compute(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		b64, ok := strings.CutPrefix(s, "v1,")
		if !ok {
			continue
		}
		got, derr := base64.StdEncoding.DecodeString(b64)
		if derr != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return id, nil
		}
	}
	return "", ErrSignature
}
