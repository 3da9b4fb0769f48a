package tests

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/publink/publink/internal/testenv"
)

// metricsCaddyfile is the root Caddyfile with Caddy's admin endpoint, which
// serves /metrics, on a free loopback port instead of off.
func metricsCaddyfile(t *testing.T) (caddyfile, metricsURL string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	const off = "\tadmin off\n"
	if !bytes.Contains(b, []byte(off)) {
		t.Fatalf("root Caddyfile has no %q", off)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	return strings.Replace(string(b), off, "\tadmin "+addr+"\n", 1), "http://" + addr + "/metrics"
}

// scrape reads the publink_ metric families from Caddy's /metrics.
func scrape(t *testing.T, e *Env, url string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	r := e.Do(http.MethodGet, url, nil, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return string(r.Body), mfs
}

// value is a counter's value; -1 when the series is missing.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if want[lp.GetName()] != lp.GetValue() {
				continue next
			}
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// TestMetricsScrape drives visitor and admin traffic through the real
// gateway and reads publink's counters from Caddy's admin /metrics: they
// count what happened, and nothing in the scrape names a token, link id or
// password.
func TestMetricsScrape(t *testing.T) {
	const (
		pw      = "Metrics-5e1d-right"
		pwWrong = "Metrics-0a9c-wrong"
	)
	caddyfile, metricsURL := metricsCaddyfile(t)
	e := NewEnv(t, Options{Caddyfile: caddyfile})

	public := e.FileLink("file_sunset")
	locked := e.CreateLink(map[string]any{"target": map[string]any{"type": "file", "id": "file_beach"}, "password": pw})
	gone := e.FileLink("file_readme")

	if r := e.Get("/s/"+public.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("public link page: %d %s", r.Status, r.Body)
	}
	if r := e.Get("/s/"+public.Token+"/files/file_sunset", map[string]string{"Accept": "application/json"}); r.Status != http.StatusOK {
		t.Fatalf("public link file: %d %s", r.Status, r.Body)
	}
	unknown := "NoSuchToken" + strings.Repeat("x", 21)
	if r := e.Get("/s/"+unknown, nil); r.Status != http.StatusNotFound {
		t.Fatalf("unknown token: %d", r.Status)
	}
	if r := e.unlockPost(locked.Token, pwWrong, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	if r := e.unlockPost(locked.Token, pw, nil); r.Status != http.StatusSeeOther {
		t.Fatalf("right password: %d %s", r.Status, r.Body)
	}
	if r := e.Admin(http.MethodDelete, "/v1/links/"+gone.ID, "alice", nil); r.Status != http.StatusNoContent {
		t.Fatalf("deleting a link: %d %s", r.Status, r.Body)
	}

	text, mfs := scrape(t, e, metricsURL)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"publink_visitor_requests_total", []string{"route", "page", "code", "2xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "file", "code", "2xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "page", "code", "4xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "unlock", "code", "4xx"}, 1},
		{"publink_visitor_requests_total", []string{"route", "unlock", "code", "3xx"}, 1},
		{"publink_unlock_attempts_total", []string{"result", "wrong"}, 1},
		{"publink_unlock_attempts_total", []string{"result", "ok"}, 1},
		{"publink_unlock_attempts_total", []string{"result", "throttled"}, 0},
		{"publink_links_created_total", nil, 3},
		{"publink_links_deleted_total", []string{"reason", "api"}, 1},
		{"publink_links_deleted_total", []string{"reason", "expired"}, 0},
		{"publink_origin_errors_total", []string{"kind", "unavailable"}, 0},
	} {
		if got := value(mfs, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Five requests looked a token up; each of the three tokens missed the
	// cache the first time (whether the repeats hit depends on its TTL).
	hit := value(mfs, "publink_link_cache_lookups_total", "result", "hit")
	miss := value(mfs, "publink_link_cache_lookups_total", "result", "miss")
	if hit+miss != 5 || miss < 3 {
		t.Errorf("link cache lookups: hit %v miss %v, want 5 in all and at least 3 misses", hit, miss)
	}

	for what, secret := range map[string]string{
		"public token": public.Token, "locked token": locked.Token, "deleted token": gone.Token,
		"unknown token": unknown, "public link id": public.ID, "locked link id": locked.ID,
		"deleted link id": gone.ID, "password": pw, "wrong password": pwWrong,
		"file id": "file_sunset", "share path": "/s/", "admin key": e.AdminKey,
	} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains the %s %q", what, secret)
		}
	}

	// A config reload provisions the app against the new config's registry:
	// no panic, and the counters go on, from zero like Caddy's own. The
	// same config is only reloaded when forced.
	load := e.Do(http.MethodPost, strings.TrimSuffix(metricsURL, "/metrics")+"/load", strings.NewReader(caddyfile),
		map[string]string{"Content-Type": "text/caddyfile", "Cache-Control": "must-revalidate"})
	if load.Status != http.StatusOK {
		t.Fatalf("reloading the config: %d %s", load.Status, load.Body)
	}
	// Kept-alive connections may still reach the old config's servers
	// while they shut down.
	fresh := func() { e.Client.CloseIdleConnections() }
	eventually(t, 10*time.Second, "/metrics serves the reloaded config's counters", func() bool {
		fresh()
		_, mfs = scrape(t, e, metricsURL)
		return value(mfs, "publink_unlock_attempts_total", "result", "wrong") == 0
	})
	fresh()
	if r := e.Get("/s/"+public.Token, nil); r.Status != http.StatusOK {
		t.Fatalf("public link page after a reload: %d %s", r.Status, r.Body)
	}
	fresh()
	_, mfs = scrape(t, e, metricsURL)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"route", "page", "code", "2xx"}, 1},
		{[]string{"route", "unlock", "code", "4xx"}, -1}, // not seen since the reload
	} {
		if got := value(mfs, "publink_visitor_requests_total", c.labels...); got != c.want {
			t.Errorf("after a reload, publink_visitor_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
}
