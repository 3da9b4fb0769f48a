package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/publink/publink/password"
	"github.com/publink/publink/policy"
)

// BenchmarkLinkGate is what the handler spends deciding whether a request
// may see a link, per request: nothing for a public link, one cookie parse
// and HMAC-SHA256 per configured key for an unlocked protected one. argon2id
// runs only on unlock posts; its cost is shown for contrast.
//
//	go test ./caddymodule -run '^$' -bench LinkGate -benchmem
func BenchmarkLinkGate(b *testing.B) {
	gate := func(a *App, r *http.Request, l *policy.Link) bool {
		return !l.HasPassword() || a.unlocked(r, l, ckT0)
	}
	public := &policy.Link{ID: "lnk_public", Token: "tok_public"}
	prot := protectedLink("lnk_protected", 2)
	one := &App{cookieKeys: [][]byte{ckKeyA}}
	rotating := &App{cookieKeys: [][]byte{ckKeyB, ckKeyA}} // old cookie: second key verifies
	cookie := withCookie(prot, one.unlockCookie(prot, ckT0).Value)
	// A browser sends its other cookies too.
	cookie.AddCookie(&http.Cookie{Name: "_ga", Value: "GA1.2.123456789.1700000000"})
	cookie.AddCookie(&http.Cookie{Name: unlockCookieName("lnk_other"), Value: "eHh4.eHh4"})

	run := func(name string, a *App, r *http.Request, l *policy.Link) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !gate(a, r, l) {
					b.Fatal("gate refused")
				}
			}
		})
	}
	run("public", one, httptest.NewRequest(http.MethodGet, "/s/tok_public", nil), public)
	run("cookie", one, cookie, prot)
	run("cookie-rotated-key", rotating, cookie, prot)
	b.Run("argon2id-unlock-post", func(b *testing.B) {
		h, err := password.Hash("correct horse battery staple")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if ok, _ := password.Verify(h, "correct horse battery staple"); !ok {
				b.Fatal("verify failed")
			}
		}
	})
}
