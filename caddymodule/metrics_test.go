package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/publink/publink/internal/testenv"
	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
	"github.com/publink/publink/store/boltstore"
)

// counter is one counter's value as reg would expose it; -1 when reg has
// no such series.
func counter(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsAre(m, want) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func labelsAre(m *dto.Metric, want map[string]string) bool {
	if len(m.GetLabel()) != len(want) {
		return false
	}
	for _, lp := range m.GetLabel() {
		if want[lp.GetName()] != lp.GetValue() {
			return false
		}
	}
	return true
}

func TestMetricsCount(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Fixed vocabularies are exposed at zero before anything happens.
	for _, r := range unlockResults {
		if got := counter(t, reg, "publink_unlock_attempts_total", "result", r); got != 0 {
			t.Errorf("unlock_attempts_total{result=%q} = %v before any attempt, want 0", r, got)
		}
	}

	m.unlockAttempt("wrong")
	m.unlockAttempt("wrong")
	m.unlockAttempt("ok")
	m.unlockAttempt("p4ssw0rd") // never a label value
	m.linkCreated()
	m.linkDeleted("expired")
	m.linkDeleted("lnk_abc") // never a label value
	m.linkCacheLookup(true)
	m.linkCacheLookup(false)
	m.linkCacheLookup(false)
	m.originError(fmt.Errorf("%w: connection refused", origin.ErrUnavailable))
	m.originError(errors.New("store: closed"))
	m.originBadStatus()

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"publink_unlock_attempts_total", []string{"result", "wrong"}, 2},
		{"publink_unlock_attempts_total", []string{"result", "ok"}, 1},
		{"publink_unlock_attempts_total", []string{"result", "other"}, 1},
		{"publink_unlock_attempts_total", []string{"result", "throttled"}, 0},
		{"publink_links_created_total", nil, 1},
		{"publink_links_deleted_total", []string{"reason", "expired"}, 1},
		{"publink_links_deleted_total", []string{"reason", "other"}, 1},
		{"publink_links_deleted_total", []string{"reason", "api"}, 0},
		{"publink_link_cache_lookups_total", []string{"result", "hit"}, 1},
		{"publink_link_cache_lookups_total", []string{"result", "miss"}, 2},
		{"publink_origin_errors_total", []string{"kind", "unavailable"}, 1},
		{"publink_origin_errors_total", []string{"kind", "internal"}, 1},
		{"publink_origin_errors_total", []string{"kind", "bad_status"}, 1},
	} {
		if got := counter(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	// A second provisioning against the same registry (a config provisioned
	// twice) must not fail and must keep counting in the same series.
	again, err := newMetrics(reg)
	if err != nil {
		t.Fatalf("registering again: %v", err)
	}
	again.linkCreated()
	if got := counter(t, reg, "publink_links_created_total"); got != 2 {
		t.Errorf("links_created_total after a second registration = %v, want 2", got)
	}
}

func TestMetricsNilCountsNothing(t *testing.T) {
	var m *metrics
	m.unlockAttempt("ok")
	m.linkCreated()
	m.linkDeleted("api")
	m.linkCacheLookup(true)
	m.originError(origin.ErrUnavailable)
	m.originBadStatus()
	w := httptest.NewRecorder()
	got, done := m.observeVisitor(w, httptest.NewRequest(http.MethodGet, "/s/x", nil))
	done()
	if got != w {
		t.Error("a nil *metrics must not wrap the response writer")
	}
}

func TestStatusClass(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		ctx    context.Context
		status int
		want   string
	}{
		{context.Background(), 200, "2xx"},
		{context.Background(), 303, "3xx"},
		{context.Background(), 404, "4xx"},
		{context.Background(), 503, "5xx"},
		{context.Background(), 0, "5xx"}, // an error left to Caddy
		{canceled, 0, "canceled"},
		{canceled, 200, "2xx"},
	} {
		if got := statusClass(c.ctx, c.status); got != c.want {
			t.Errorf("statusClass(%d) = %q, want %q", c.status, got, c.want)
		}
	}
}

// TestMetricsVisitorHandler runs the visitor handler on a real embedded
// store, against an origin port nothing listens on, and reads the counters
// the requests moved from the registry.
func TestMetricsVisitorHandler(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	oc, err := origin.New(fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t)), []byte(benchSecret), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); oc.Close() })
	a := &App{
		origin: oc, store: st, now: time.Now, logger: zap.NewNop(), metrics: m,
		links: newLinkCache(time.Hour, 100), facts: newFactCache(time.Hour, 100),
		lists: newListCache(time.Hour, 10), PublicFields: policy.DefaultPublicFields,
	}
	link := &policy.Link{ID: newID("lnk"), Token: newToken(), Account: "acct",
		Target: policy.Target{Type: policy.TargetFile, ID: "file_sunset"}}
	if err := st.CreateLink(context.Background(), link, store.Limits{PerTarget: 5, PerAccount: 5}, time.Now()); err != nil {
		t.Fatal(err)
	}
	h := &Handler{app: a, logger: zap.NewNop()}
	var nextCalls int
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		nextCalls++
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	unknown := newToken()
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/s/" + unknown, http.StatusNotFound},               // miss
		{http.MethodGet, "/s/" + unknown + "/files", http.StatusNotFound},    // hit (cached absence)
		{http.MethodGet, "/s/" + unknown + "/nonsense", http.StatusNotFound}, // no lookup
		{http.MethodDelete, "/s/" + unknown, http.StatusMethodNotAllowed},    // no lookup
		{http.MethodGet, "/s/" + link.Token, http.StatusServiceUnavailable},  // miss; origin down
		{http.MethodGet, "/elsewhere", http.StatusTeapot},                    // not a visitor route
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		r.Header.Set("Accept", "application/json")
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		if w.Code != c.want {
			t.Fatalf("%s %s = %d, want %d: %s", c.method, c.path, w.Code, c.want, w.Body)
		}
	}
	if nextCalls != 1 {
		t.Fatalf("next called %d times, want 1", nextCalls)
	}

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"publink_visitor_requests_total", []string{"route", "page", "code", "4xx"}, 2},
		{"publink_visitor_requests_total", []string{"route", "list", "code", "4xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "unknown", "code", "4xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "page", "code", "5xx"}, 1},
		{"publink_link_cache_lookups_total", []string{"result", "miss"}, 2},
		{"publink_link_cache_lookups_total", []string{"result", "hit"}, 1},
		{"publink_origin_errors_total", []string{"kind", "unavailable"}, 1},
	} {
		if got := counter(t, reg, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		for _, mm := range mf.GetMetric() {
			if mf.GetName() == "publink_visitor_requests_total" {
				total += mm.GetCounter().GetValue()
			}
			for _, lp := range mm.GetLabel() {
				for _, secret := range []string{unknown, link.Token, link.ID, "file_sunset", "/s/", "127.0.0.1"} {
					if strings.Contains(lp.GetValue(), secret) {
						t.Errorf("%s label %s=%q carries %q", mf.GetName(), lp.GetName(), lp.GetValue(), secret)
					}
				}
			}
		}
	}
	if total != 5 {
		t.Errorf("visitor requests counted %v times, want 5 (the request outside /s/ is not a visitor's)", total)
	}
}

// BenchmarkObserveVisitor is what counting adds to each visitor request:
// the status recorder, the route's kind and the counter.
func BenchmarkObserveVisitor(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/s/"+newToken()+"/files/file_001/content", nil)
	var w http.ResponseWriter = httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		rec, done := m.observeVisitor(w, r)
		rec.WriteHeader(http.StatusOK)
		done()
	}
}
