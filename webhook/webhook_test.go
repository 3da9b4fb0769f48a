package webhook

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestSignKnownVector(t *testing.T) {
	// Vector from the Standard Webhooks reference libraries.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	id := "msg_p5jXN8AQM9LWM0D4loKWxJek"
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got, err := Sign(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"file.deleted","data":{"fileId":"f1"}}`)
	good, err := Headers(secret, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	otherSig, _ := Sign("whsec_"+base64.StdEncoding.EncodeToString([]byte("another key")), "msg_1", now, body)
	goodSig := good.Get(HeaderSignature)

	with := func(mod func(h http.Header)) http.Header {
		h := good.Clone()
		mod(h)
		return h
	}
	cases := []struct {
		name    string
		secret  string
		h       http.Header
		body    []byte
		now     time.Time
		wantErr error
	}{
		{"ok", secret, good, body, now, nil},
		{"ok within skew past", secret, good, body, now.Add(4 * time.Minute), nil},
		{"ok within skew future", secret, good, body, now.Add(-4 * time.Minute), nil},
		{"tampered body", secret, good, append([]byte(nil), append(body, ' ')...), now, ErrSignature},
		{"wrong secret", "whsec_" + base64.StdEncoding.EncodeToString([]byte("nope")), good, body, now, ErrSignature},
		{"stale", secret, good, body, now.Add(6 * time.Minute), ErrStale},
		{"future", secret, good, body, now.Add(-6 * time.Minute), ErrStale},
		{"missing id", secret, with(func(h http.Header) { h.Del(HeaderID) }), body, now, ErrMissing},
		{"missing sig", secret, with(func(h http.Header) { h.Del(HeaderSignature) }), body, now, ErrMissing},
		{"bad ts", secret, with(func(h http.Header) { h.Set(HeaderTimestamp, "abc") }), body, now, ErrMissing},
		{"changed id", secret, with(func(h http.Header) { h.Set(HeaderID, "msg_2") }), body, now, ErrSignature},
		{"changed ts", secret, with(func(h http.Header) { h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)) }), body, now, ErrSignature},
		{"multiple sigs, good last", secret, with(func(h http.Header) { h.Set(HeaderSignature, otherSig+" v2,xyz "+goodSig) }), body, now, nil},
		{"multiple sigs, good first", secret, with(func(h http.Header) { h.Set(HeaderSignature, goodSig+" "+otherSig) }), body, now, nil},
		{"multiple sigs, none good", secret, with(func(h http.Header) { h.Set(HeaderSignature, otherSig+" v1,!!!notbase64") }), body, now, ErrSignature},
		{"v2 prefix only", secret, with(func(h http.Header) { h.Set(HeaderSignature, "v2,"+goodSig[3:]) }), body, now, ErrSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := Verify(c.secret, c.h, c.body, c.now)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err == nil && id != "msg_1" {
				t.Fatalf("id = %q", id)
			}
		})
	}
}

func TestRawSecret(t *testing.T) {
	now := time.Now()
	h, err := Headers("dev-webhook-secret", "m", now, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify("dev-webhook-secret", h, []byte("x"), now); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify("whsec_"+base64.StdEncoding.EncodeToString([]byte("dev-webhook-secret")), h, []byte("x"), now); err != nil {
		t.Fatalf("raw secret should equal whsec_ of same bytes: %v", err)
	}
	if _, err := Sign("", "m", now, nil); !errors.Is(err, ErrSecret) {
		t.Fatalf("empty secret: %v", err)
	}
	if _, err := Sign("whsec_***", "m", now, nil); !errors.Is(err, ErrSecret) {
		t.Fatalf("bad base64: %v", err)
	}
}
