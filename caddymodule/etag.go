package caddymodule

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/publink/publink/origin"
)

// etagSealer makes the origin's ETags opaque. An origin's ETag is often its
// version id (mediastore's is versionInfo.id), which SPEC §3 keeps from
// visitors, so the gateway sends a deterministic encryption of it instead
// and decrypts the validators visitors send back before they reach the
// origin. Deterministic (the nonce is an HMAC of the ETag), so every node
// of a fleet sharing the origin secret gives one file the same ETag and
// CDNs and browsers revalidate as usual.
type etagSealer struct {
	aead   cipher.AEAD
	macKey []byte
}

// unknownETag replaces a validator the gateway did not make: it matches
// nothing at the origin, so the visitor gets the full current response.
const unknownETag = `"publink-unknown"`

func newETagSealer(secret []byte) *etagSealer {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("publink etag encryption v1"))
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &etagSealer{aead: aead, macKey: derive("publink etag nonce v1")}
}

// seal turns an origin ETag (`"x"` or `W/"x"`) into the gateway's.
func (s *etagSealer) seal(etag string) string {
	weak, inner := splitWeak(etag)
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(inner))
	nonce := m.Sum(nil)[:s.aead.NonceSize()]
	sealed := s.aead.Seal(append([]byte(nil), nonce...), nonce, []byte(inner), nil)
	return weak + `"` + base64.RawURLEncoding.EncodeToString(sealed) + `"`
}

// open recovers the origin ETag from one of the gateway's.
func (s *etagSealer) open(tag string) (string, bool) {
	weak, inner := splitWeak(strings.TrimSpace(tag))
	if len(inner) < 2 || inner[0] != '"' || inner[len(inner)-1] != '"' {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(inner[1 : len(inner)-1])
	n := s.aead.NonceSize()
	if err != nil || len(raw) < n+s.aead.Overhead() {
		return "", false
	}
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", false
	}
	return weak + string(plain), true
}

func splitWeak(etag string) (weak, inner string) {
	if strings.HasPrefix(etag, "W/") {
		return "W/", etag[2:]
	}
	return "", etag
}

// forOrigin translates a visitor's conditional headers into the origin's
// terms; validators the gateway did not issue become unknownETag.
func (s *etagSealer) forOrigin(in http.Header) http.Header {
	out := make(http.Header, 6)
	for _, k := range origin.ForwardedRequestHeaders {
		vals := in.Values(k)
		if len(vals) == 0 {
			continue
		}
		switch k {
		case "If-None-Match", "If-Match":
			var tags []string
			for _, v := range vals {
				for _, t := range strings.Split(v, ",") {
					t = strings.TrimSpace(t)
					switch {
					case t == "":
					case t == "*":
						tags = append(tags, t)
					default:
						if o, ok := s.open(t); ok {
							tags = append(tags, o)
						} else {
							tags = append(tags, unknownETag)
						}
					}
				}
			}
			if len(tags) > 0 {
				out.Set(k, strings.Join(tags, ", "))
			}
		case "If-Range":
			v := strings.TrimSpace(vals[0])
			if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
				if o, ok := s.open(v); ok {
					v = o
				} else {
					v = unknownETag
				}
			}
			out.Set(k, v)
		default:
			out[k] = vals
		}
	}
	return out
}
