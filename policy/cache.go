package policy

import (
	"strconv"
	"time"
)

// DefaultMaxAge is how long a shared cache may keep a public link's
// response when the operator does not configure max_age.
const DefaultMaxAge = 60 * time.Second

// CacheControl is the Cache-Control value for a successful response of l at
// now: private for password links (each visitor holds their own unlock),
// otherwise public for at most maxAge and never past validUntil, so a CDN
// cannot keep serving a link after it expires.
func CacheControl(l *Link, now time.Time, maxAge time.Duration) string {
	if l.HasPassword() {
		return "private, no-store"
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if l.ValidUntil != nil {
		if left := l.ValidUntil.Sub(now); left < maxAge {
			maxAge = left
		}
	}
	secs := int64(maxAge / time.Second)
	if secs <= 0 {
		return "no-store"
	}
	return "public, max-age=" + strconv.FormatInt(secs, 10)
}
