package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
)

// newToken returns a share token: 192 random bits, URL-safe.
func newToken() string { return randomString(24) }

// newID returns an opaque server-made id with a readable prefix.
func newID(prefix string) string { return prefix + "_" + randomString(12) }

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("publink: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
