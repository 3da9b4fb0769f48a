package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/publink/publink/password"
)

const (
	// maxUnlockBody bounds an unlock post: "password=" and a maximal
	// password, percent-encoded, fit with room to spare.
	maxUnlockBody = 8 << 10
	// hashWait is how long a password check queues for a hash slot before
	// the client is told to come back (503 + Retry-After).
	hashWait = 2 * time.Second
	// unlockBodyTimeout bounds how long an unlock post may take to send
	// its (small) body.
	unlockBodyTimeout = 10 * time.Second
)

// errHashBusy means every hash slot stayed taken for hashWait.
var errHashBusy = errors.New("publink: too many password checks at once")

// withHashSlot runs fn holding one of the HashConcurrency slots, so at most
// that many argon2id computations (each ~19 MiB) run at once on this node.
func (a *App) withHashSlot(ctx context.Context, fn func() error) error {
	t := time.NewTimer(hashWait)
	defer t.Stop()
	select {
	case a.hashSlots <- struct{}{}:
	case <-t.C:
		return errHashBusy
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-a.hashSlots }()
	return fn()
}

// hashPassword hashes a new link password (admin API) under a hash slot.
func (a *App) hashPassword(ctx context.Context, pw string) (string, error) {
	var h string
	err := a.withHashSlot(ctx, func() (err error) {
		h, err = password.Hash(pw)
		return err
	})
	if errors.Is(err, errHashBusy) {
		return "", errf(http.StatusServiceUnavailable, "busy", "too many password operations at once; try again")
	}
	return h, err
}

// unlock serves POST /s/{token}/unlock (SPEC §3, §4).
func (v *visit) unlock() error {
	a, w, r := v.app(), v.w, v.r
	// SPEC §3: a password link's responses are "private, no-store", the
	// 303 that sets the unlock cookie included (errors say "no-store").
	w.Header().Set("Cache-Control", "private, no-store")
	if !a.sameOrigin(r) {
		a.metrics.unlockAttempt("refused")
		return v.h.visitorError(w, r, http.StatusForbidden, "cross_site", "Unlock this link from its own page.")
	}
	base := defaultBasePath + "/" + v.link.Token
	if !v.link.HasPassword() {
		// Nothing to unlock (the password may just have been removed).
		w.Header().Set("Location", base)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	// Caddy sets no read timeout by default: without one, a client that
	// trickles its body (slowloris) would hold this request open forever.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(unlockBodyTimeout))
	pw, status := readPassword(w, r)
	rc.SetReadDeadline(time.Time{})
	if status != 0 {
		a.metrics.unlockAttempt("refused")
		return v.h.visitorError(w, r, status, "bad_request", "Send the form field password, form-encoded.")
	}

	ctx := r.Context()
	keys := a.throttleKeysFor(r, v.link)
	// A throttled client is turned away before it can queue for a slot.
	wait, err := a.throttled(ctx, keys)
	if err != nil {
		a.metrics.unlockAttempt("unavailable")
		return v.h.unavailable(w, r, err)
	}
	if wait > 0 {
		return v.tooMany(wait)
	}
	if pw == "" {
		a.metrics.unlockAttempt("refused")
		return v.h.passwordRequired(w, r, v.link, http.StatusUnauthorized, "Enter the password.")
	}
	var right bool
	err = a.withHashSlot(ctx, func() error {
		// Ask again once holding the slot: requests queued behind a burst
		// of wrong guesses must not each get a guess of their own.
		var err error
		if wait, err = a.throttled(ctx, keys); err != nil || wait > 0 {
			return err
		}
		if len(pw) > maxPasswordLen {
			return nil // no stored password is this long
		}
		right, err = password.Verify(v.link.PasswordHash, pw)
		return err
	})
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case err != nil:
		a.metrics.unlockAttempt("unavailable")
		return v.h.unavailable(w, r, err)
	case wait > 0:
		return v.tooMany(wait)
	case right:
		a.metrics.unlockAttempt("ok")
		http.SetCookie(w, a.unlockCookie(v.link, v.now))
		w.Header().Set("Location", base)
		w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	// A failure that cannot be counted is not given for free.
	if err := a.recordFailure(ctx, keys); err != nil {
		a.metrics.unlockAttempt("unavailable")
		return v.h.unavailable(w, r, err)
	}
	a.metrics.unlockAttempt("wrong")
	v.h.logger.Debug("wrong link password", zap.String("link", v.link.ID))
	return v.h.passwordRequired(w, r, v.link, http.StatusUnauthorized, "That password is not right. Try again.")
}

// tooMany answers a throttled unlock: 429 and Retry-After. The page words
// the wait itself (from Retry-After); JSON clients get it in the message.
func (v *visit) tooMany(wait time.Duration) error {
	secs := int((wait + time.Second - 1) / time.Second)
	v.app().metrics.unlockAttempt("throttled")
	v.h.logger.Info("link unlock throttled", zap.String("link", v.link.ID), zap.Int("retry_after_s", secs))
	v.w.Header().Set("Retry-After", strconv.Itoa(secs))
	msg := "Too many wrong passwords."
	if wantsJSON(v.r) {
		msg = fmt.Sprintf("Too many wrong passwords. Try again in %d seconds.", secs)
	}
	return v.h.passwordRequired(v.w, v.r, v.link, http.StatusTooManyRequests, msg)
}

// readPassword reads the form field password from a bounded,
// form-encoded body; status is non-zero when the post is malformed. The
// URL's query is ignored: a password never belongs in a URL.
func readPassword(w http.ResponseWriter, r *http.Request) (string, int) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return "", http.StatusUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUnlockBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", http.StatusRequestEntityTooLarge
		}
		return "", http.StatusBadRequest
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil || len(vals["password"]) > 1 {
		return "", http.StatusBadRequest
	}
	return vals.Get("password"), 0
}

// sameOrigin decides whether an unlock post may come from where it says.
// The rule:
//   - Sec-Fetch-Site, when sent, must be same-origin or none (typed in,
//     bookmarks); same-site and cross-site are refused.
//   - Origin, when sent, must be an http(s) origin whose host and port are
//     those of public_url (what visitors see, even behind a CDN that
//     rewrites Host), or whose host is the request's Host, with the same
//     port when Host names one (a proxy may drop it). "null" passes only
//     with Sec-Fetch-Site: same-origin: browsers send Origin: null for a
//     form posted from a no-referrer page, and Sec-Fetch-Site cannot be
//     forged by a page, so that pair is a genuine same-origin post.
//   - A request with neither (curl, scripts, old browsers) passes: no other
//     site can make a browser send it, and the password is the guard.
func (a *App) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Values("Sec-Fetch-Site"); len(sfs) > 0 {
		if len(sfs) != 1 || (sfs[0] != "same-origin" && sfs[0] != "none") {
			return false
		}
	}
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return true
	}
	if len(origins) != 1 {
		return false
	}
	if origins[0] == "null" {
		sfs := r.Header.Values("Sec-Fetch-Site")
		return len(sfs) == 1 && sfs[0] == "same-origin"
	}
	o, err := url.Parse(origins[0])
	if err != nil || (o.Scheme != "http" && o.Scheme != "https") || o.Host == "" ||
		o.User != nil || o.Path != "" || o.RawQuery != "" || o.Fragment != "" {
		return false
	}
	oHost, oPort := strings.ToLower(o.Hostname()), portOf(o)
	if pub, err := url.Parse(a.publicBase); err == nil &&
		pub.Scheme == o.Scheme && strings.ToLower(pub.Hostname()) == oHost && portOf(pub) == oPort {
		return true
	}
	req := &url.URL{Host: r.Host}
	return strings.ToLower(req.Hostname()) == oHost && (req.Port() == "" || req.Port() == oPort)
}

// portOf is a URL's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}
