package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/publink/publink/origin"
)

// metrics are publink's Prometheus counters (docs/METRICS.md). They live in
// the metrics registry of the Caddy config that provisioned the app, so
// Caddy serves them with its own: on the admin endpoint's /metrics and
// through the metrics handler. Every config load brings a fresh registry,
// so the counters restart at a reload, as Caddy's caddy_http_* ones do.
//
// Every label value comes from a fixed vocabulary written below: never a
// token, link or file id, client IP, path or password (SPEC §4), and no
// visitor can grow the number of series.
//
// A nil *metrics counts nothing, for Apps built without Provision.
type metrics struct {
	visitorRequests *prometheus.CounterVec // route, code
	unlockAttempts  *prometheus.CounterVec // result
	linksCreated    prometheus.Counter
	linksDeleted    *prometheus.CounterVec // reason
	originErrors    *prometheus.CounterVec // kind
	linkCache       *prometheus.CounterVec // result
}

// Label vocabularies. Values outside them are counted as "other".
var (
	metricRoutes = []string{"page", "list", "file", "content", "thumbnail", "zip", "downloads", "unlock", "unknown"}
	// unlock: ok (cookie set), wrong (wrong password, counted by the
	// throttle), throttled (429), refused (cross-site, malformed or empty
	// post: no password checked), unavailable (store or hash slots failed).
	unlockResults  = []string{"ok", "wrong", "throttled", "refused", "unavailable"}
	deleteReasons  = []string{"api", "expired", "target_deleted", "target_moved"}
	originErrKinds = []string{"unavailable", "bad_status", "internal"}
	cacheResults   = []string{"hit", "miss"}
)

// newMetrics creates publink's collectors in reg. A collector reg already
// holds (the same config provisioned twice) is reused, not a panic.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counterVec := func(name, help string, label ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "publink", Name: name, Help: help}, label)
	}
	m := &metrics{
		visitorRequests: counterVec("visitor_requests_total", "Responses to share link visitors, by route kind and status class.", "route", "code"),
		unlockAttempts:  counterVec("unlock_attempts_total", "Unlock posts to password-protected links, by result.", "result"),
		linksCreated:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "publink", Name: "links_created_total", Help: "Share links created through the admin API."}),
		linksDeleted:    counterVec("links_deleted_total", "Share links deleted, by reason.", "reason"),
		originErrors:    counterVec("origin_errors_total", "Visitor requests failed closed (503) because the origin could not answer, by kind.", "kind"),
		linkCache:       counterVec("link_cache_lookups_total", "Share token lookups in this node's link cache, by result.", "result"),
	}
	var err error
	for _, v := range []**prometheus.CounterVec{&m.visitorRequests, &m.unlockAttempts, &m.linksDeleted, &m.originErrors, &m.linkCache} {
		if *v, err = register(reg, *v); err != nil {
			return nil, err
		}
	}
	if m.linksCreated, err = register(reg, m.linksCreated); err != nil {
		return nil, err
	}
	// Series of a fixed vocabulary start at 0, so a rate sees its first event.
	for vec, values := range map[*prometheus.CounterVec][]string{
		m.unlockAttempts: unlockResults, m.linksDeleted: deleteReasons,
		m.originErrors: originErrKinds, m.linkCache: cacheResults,
	} {
		for _, val := range values {
			vec.WithLabelValues(val)
		}
	}
	return m, nil
}

// register registers c in reg, or returns the equal collector reg holds.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}

// observeVisitor wraps w to record the response's status; call the
// returned func when the request is done.
func (m *metrics) observeVisitor(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, func()) {
	if m == nil {
		return w, func() {}
	}
	rec := caddyhttp.NewResponseRecorder(w, nil, nil)
	return rec, func() {
		m.visitorRequests.WithLabelValues(known(routeKind(r), metricRoutes), statusClass(r.Context(), rec.Status())).Inc()
	}
}

// statusClass is a status code's class ("2xx"…), "canceled" when the
// client left before any response, "5xx" for an error left to Caddy.
func statusClass(ctx context.Context, status int) string {
	switch {
	case status >= 200 && status <= 599:
		return strconv.Itoa(status/100) + "xx"
	case status == 0 && ctx.Err() != nil:
		return "canceled"
	default:
		return "5xx"
	}
}

func (m *metrics) unlockAttempt(result string) {
	if m != nil {
		m.unlockAttempts.WithLabelValues(known(result, unlockResults)).Inc()
	}
}

func (m *metrics) linkCreated() {
	if m != nil {
		m.linksCreated.Inc()
	}
}

func (m *metrics) linkDeleted(reason string) {
	if m != nil {
		m.linksDeleted.WithLabelValues(known(reason, deleteReasons)).Inc()
	}
}

// originError counts a failure that visit.fail answers with 503.
func (m *metrics) originError(err error) {
	if m == nil {
		return
	}
	kind := "internal"
	if errors.Is(err, origin.ErrUnavailable) {
		kind = "unavailable"
	}
	m.originErrors.WithLabelValues(kind).Inc()
}

// originBadStatus counts a content response the origin should not give.
func (m *metrics) originBadStatus() {
	if m != nil {
		m.originErrors.WithLabelValues("bad_status").Inc()
	}
}

func (m *metrics) linkCacheLookup(hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.linkCache.WithLabelValues(result).Inc()
}

// known keeps label values inside their vocabulary.
func known(v string, vocabulary []string) string {
	if slices.Contains(vocabulary, v) {
		return v
	}
	return "other"
}
