package originauth

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	secret := []byte("s3cret-s3cret-s3cret")
	now := time.Unix(1_800_000_000, 0)
	r := httptest.NewRequest("GET", "http://origin/v1/files/abc/content?x=1", nil)
	Sign(r, secret, "lnk_1", now)
	if id, err := Verify(secret, r, now.Add(time.Minute), 5*time.Minute); err != nil || id != "lnk_1" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	cases := map[string]func(){
		"wrong secret": func() { secret = []byte("other") },
		"other uri":    func() { r.URL.RawQuery = "x=2" },
		"other method": func() { r.Method = "DELETE" },
		"other link":   func() { r.Header.Set(HeaderLink, "lnk_2") },
		"stale":        func() { now = now.Add(time.Hour) },
		"no signature": func() { r.Header.Del(HeaderSignature) },
		"bad prefix":   func() { r.Header.Set(HeaderSignature, "v2="+r.Header.Get(HeaderSignature)[3:]) },
	}
	for name, mutate := range cases {
		secret = []byte("s3cret-s3cret-s3cret")
		now = time.Unix(1_800_000_000, 0)
		r = httptest.NewRequest("GET", "http://origin/v1/files/abc/content?x=1", nil)
		Sign(r, secret, "lnk_1", now)
		mutate()
		if _, err := Verify(secret, r, now, 5*time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
