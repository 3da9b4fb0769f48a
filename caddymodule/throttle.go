package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/publink/publink/policy"
)

// Wrong-password throttling (SPEC §4) lives in the store, so every node
// counts the same failures: one counter per client IP per link and one per
// link. Successes are not counted and reset nothing, so one visitor's
// unlock never restores another's budget.

// throttleKeys names a request's two counters. The IP is hashed: keys stay
// short, plain [A-Za-z0-9_:-] (safe for Redis Cluster and any key store)
// and hold no address.
type throttleKeys struct{ ip, link string }

func (a *App) throttleKeysFor(r *http.Request, l *policy.Link) throttleKeys {
	sum := sha256.Sum256([]byte("publink-throttle\n" + ipBucket(clientIP(r))))
	return throttleKeys{
		ip:   "unlock:ip:" + l.ID + ":" + base64.RawURLEncoding.EncodeToString(sum[:12]),
		link: "unlock:link:" + l.ID,
	}
}

// clientIP is Caddy's client IP, which honours the server's
// trusted_proxies; without it, the connection's address.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipBucket is the unit one budget belongs to: an IPv4 address, or an IPv6
// /64, since one client usually holds a whole /64 and could otherwise pick
// a fresh address per guess.
func ipBucket(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// throttled returns how long the client must wait before its next try, or
// zero when it may try now.
func (a *App) throttled(ctx context.Context, k throttleKeys) (time.Duration, error) {
	n, left, err := a.store.Count(ctx, k.ip)
	if err != nil {
		return 0, err
	}
	if n >= int64(a.IPFailures) {
		return atLeastSecond(left, time.Duration(a.IPWindow)), nil
	}
	n, left, err = a.store.Count(ctx, k.link)
	if err != nil {
		return 0, err
	}
	if n >= int64(a.LinkFailures) {
		return atLeastSecond(left, time.Duration(a.LinkWindow)), nil
	}
	return 0, nil
}

// recordFailure counts one wrong password against both budgets.
func (a *App) recordFailure(ctx context.Context, k throttleKeys) error {
	if _, _, err := a.store.Incr(ctx, k.ip, time.Duration(a.IPWindow)); err != nil {
		return err
	}
	_, _, err := a.store.Incr(ctx, k.link, time.Duration(a.LinkWindow))
	return err
}

// atLeastSecond turns a counter's time to reset into a wait worth sending:
// a counter that reports none has its whole window left.
func atLeastSecond(left, window time.Duration) time.Duration {
	if left <= 0 {
		left = window
	}
	return max(left, time.Second)
}
