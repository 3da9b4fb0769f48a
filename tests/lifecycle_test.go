package tests

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/publink/publink/internal/testenv"
	"github.com/publink/publink/webhook"
)

// Link lifecycle (SPEC §2, §6, §7): expiry, target deletes and moves by
// webhook and by observation, webhook security, Redis outages and fleets.

var acceptJSONHdr = map[string]string{"Accept": "application/json"}

func TestLinkExpiry(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		// Four lasting links and one that expires fill file_sunset's 5 slots.
		for range 4 {
			e.FileLink("file_sunset")
		}
		until := time.Now().Add(3 * time.Second).Truncate(time.Second)
		l := e.CreateLink(map[string]any{"target": linkTarget("file", "file_sunset"), "validUntil": rfc3339(until)})
		expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusOK)
		r := e.Get("/s/"+l.Token+"/files/file_sunset", acceptJSONHdr)
		expectStatus(t, r, http.StatusOK)
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
			t.Fatalf("Cache-Control %q", cc)
		}
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusConflict, "link_limit_target")

		time.Sleep(time.Until(until))
		// From validUntil on the link is gone everywhere, swept or not.
		eventually(t, time.Second, "the expired link answers 404", func() bool {
			return e.Get("/s/"+l.Token, nil).Status == http.StatusNotFound
		})
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusNotFound, "not_found")
		if linkIDs(e.listLinks(e.AdminKey, "alice", ""))[l.ID] || linkIDs(e.listLinks(e.AdminKey, "alice", "target=file:file_sunset"))[l.ID] {
			t.Fatal("expired link still listed")
		}
		expectStatus(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusCreated)
		e.waitDeleted(t, l.ID, "system", "expired", 10*time.Second)
	})
}

// TestExpirySweep: a link nobody visits is still deleted and audited.
func TestExpirySweep(t *testing.T) {
	e := NewEnv(t, Options{})
	until := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
	l := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_docs"), "validUntil": rfc3339(until)})
	e.waitDeleted(t, l.ID, "system", "expired", 12*time.Second)
	expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusNotFound)
}

// targetChange is one change at the origin and what it does to a link.
type targetChange struct {
	name   string
	target map[string]any
	method string
	path   string
	body   string
	reason string
}

var targetChanges = []targetChange{
	{"file deleted", linkTarget("file", "file_readme"), http.MethodDelete, "/manage/files/file_readme", "", "target_deleted"},
	{"file moved", linkTarget("file", "file_svg"), http.MethodPost, "/manage/files/file_svg/move?to=/elsewhere", "", "target_moved"},
	{"folder deleted", linkTarget("folder", "fld_photos2"), http.MethodDelete, "/manage/folders/fld_photos2", "", "target_deleted"},
	{"folder moved", linkTarget("folder", "fld_photos_2024"), http.MethodPost, "/manage/folders/fld_photos_2024/move?to=/archive", "", "target_moved"},
	{"collection deleted", linkTarget("collection", "col_empty"), http.MethodDelete, "/manage/collections/col_empty", "", "target_deleted"},
	{"file replaced", linkTarget("file", "file_sunset"), http.MethodPut, "/manage/upload?path=/photos/sunset.png", "REUPLOADED-BYTES", "target_deleted"},
}

func (e *Env) change(t testing.TB, c targetChange) {
	t.Helper()
	r := e.Manage(c.method, c.path, strings.NewReader(c.body))
	if r.Status/100 != 2 {
		t.Fatalf("%s: origin answered %d %s", c.name, r.Status, r.Body)
	}
}

// gone checks every visitor route of a link answers 404 and serves none of
// the replacement's bytes.
func (e *Env) gone(t testing.TB, l Link) {
	t.Helper()
	fileID := "file_sunset"
	if l.Target["type"] == "file" {
		fileID = l.Target["id"].(string)
	}
	for _, p := range []string{"", "/files", "/files/" + fileID, "/files/" + fileID + "/content", "/files/" + fileID + "/thumbnail"} {
		r := e.Get("/s/"+l.Token+p, acceptJSONHdr)
		if r.Status != http.StatusNotFound || strings.Contains(string(r.Body), "REUPLOADED") {
			t.Fatalf("GET /s/{token}%s after the change: %d %.200s", p, r.Status, r.Body)
		}
	}
}

func TestTargetLifecycleWebhook(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		keep := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_docs")})
		// Files inside changed folders get no webhook of their own.
		beach := e.FileLink("file_beach") // in /photos/2024, moved below
		other := e.FileLink("file_other") // in /photos2, deleted below
		for _, c := range targetChanges {
			l := e.CreateLink(map[string]any{"target": c.target})
			expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusOK)
			e.change(t, c)
			// The webhook alone deletes the link: no visitor needed.
			rec := e.waitDeleted(t, l.ID, "system", c.reason, 3*time.Second)
			if rec.Target["id"] != c.target["id"] {
				t.Fatalf("%s: audited target %v", c.name, rec.Target)
			}
			e.gone(t, l)
		}
		// A folder's webhook makes the gateway recheck every link's
		// target, so links to what was inside go at once too, unvisited.
		e.waitDeleted(t, beach.ID, "system", "target_moved", 3*time.Second)
		e.waitDeleted(t, other.ID, "system", "target_deleted", 3*time.Second)
		expectStatus(t, e.Get("/s/"+beach.Token, nil), http.StatusNotFound)
		expectStatus(t, e.Get("/s/"+other.Token, nil), http.StatusNotFound)
		// An unrelated link lives on.
		expectStatus(t, e.Get("/s/"+keep.Token, nil), http.StatusOK)
		expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+keep.ID, "alice", nil), http.StatusOK)
	})
}

func TestTargetLifecycleNoWebhook(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.NoWebhook = true
		e := NewEnv(t, o)
		beach := e.FileLink("file_beach") // in /photos/2024, moved below
		for _, c := range targetChanges {
			l := e.CreateLink(map[string]any{"target": c.target})
			e.change(t, c)
			// Nobody told the gateway: the link still exists...
			expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusOK)
			// ...until the first visitor request sees the change.
			r := e.Get("/s/"+l.Token, nil)
			if r.Status != http.StatusNotFound {
				t.Fatalf("%s: first visit after the change: %d", c.name, r.Status)
			}
			e.waitDeleted(t, l.ID, "system", c.reason, 3*time.Second)
			e.gone(t, l)
		}

		// A file whose folder moved has moved too.
		expectStatus(t, e.Get("/s/"+beach.Token, nil), http.StatusNotFound)
		e.waitDeleted(t, beach.ID, "system", "target_moved", 3*time.Second)

		// Links that were seen working notice too, within the cache's life.

		l := e.FileLink("file_page")
		expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusOK)
		e.change(t, targetChange{name: "page deleted", method: http.MethodDelete, path: "/manage/files/file_page"})
		eventually(t, 2*time.Second, "the link of a deleted file answers 404", func() bool {
			return e.Get("/s/"+l.Token+"/files/file_page", acceptJSONHdr).Status == http.StatusNotFound
		})
		e.waitDeleted(t, l.ID, "system", "target_deleted", 3*time.Second)
	})
}

// webhookCall posts a Standard Webhook to the gateway.
func (e *Env) webhookCall(t testing.TB, secret, id string, ts time.Time, body []byte) *Response {
	t.Helper()
	h, err := webhook.Headers(secret, id, ts, body)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	for k := range h {
		hdr[k] = h.Get(k)
	}
	return e.Do(http.MethodPost, e.AdminURL+"/v1/events", strings.NewReader(string(body)), hdr)
}

func eventBody(id, typ, key, val string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "type": typ, "created_at": time.Now().UTC().Format(time.RFC3339), "data": map[string]string{key: val}})
	return b
}

func TestWebhookSecurity(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.NoWebhook = true
		e := NewEnv(t, o)
		l := e.FileLink("file_sunset")
		body := eventBody("evt_one", "file.deleted", "fileId", "file_sunset")
		now := time.Now()
		intact := func(what string) {
			t.Helper()
			if r := e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil); r.Status != http.StatusOK {
				t.Fatalf("%s deleted the link: %d", what, r.Status)
			}
		}

		for _, c := range []struct {
			name string
			do   func() *Response
		}{
			{"forged", func() *Response {
				return e.webhookCall(t, "whsec_d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldA==", "evt_one", now, body)
			}},
			{"stale", func() *Response { return e.webhookCall(t, e.WebhookSecret, "evt_one", now.Add(-10*time.Minute), body) }},
			{"from the future", func() *Response {
				return e.webhookCall(t, e.WebhookSecret, "evt_one", now.Add(10*time.Minute), body)
			}},
			{"unsigned", func() *Response {
				return e.Do(http.MethodPost, e.AdminURL+"/v1/events", strings.NewReader(string(body)), map[string]string{"Authorization": "Bearer " + e.AdminKey})
			}},
			{"tampered", func() *Response {
				h, _ := webhook.Headers(e.WebhookSecret, "evt_one", now, eventBody("evt_one", "file.deleted", "fileId", "file_readme"))
				hdr := map[string]string{}
				for k := range h {
					hdr[k] = h.Get(k)
				}
				return e.Do(http.MethodPost, e.AdminURL+"/v1/events", strings.NewReader(string(body)), hdr)
			}},
		} {
			r := c.do()
			if r.Status != http.StatusUnauthorized {
				t.Errorf("%s webhook: %d %s", c.name, r.Status, r.Body)
			}
			intact(c.name + " webhook")
		}
		// The refused deliveries did not burn the id: the genuine one works.
		sigHdr, _ := webhook.Headers(e.WebhookSecret, "evt_one", now, body)
		send := func() *Response {
			hdr := map[string]string{}
			for k := range sigHdr {
				hdr[k] = sigHdr.Get(k)
			}
			return e.Do(http.MethodPost, e.AdminURL+"/v1/events", strings.NewReader(string(body)), hdr)
		}
		if r := send(); r.Status/100 != 2 {
			t.Fatalf("genuine webhook: %d %s", r.Status, r.Body)
		}
		e.waitDeleted(t, l.ID, "system", "target_deleted", 2*time.Second)

		// A new link to the same (still existing) file, then the same
		// delivery again, byte for byte and re-signed now: applied once.
		l2 := e.FileLink("file_sunset")
		if r := send(); r.Status/100 != 2 && r.Status != http.StatusConflict {
			t.Fatalf("replayed webhook: %d %s", r.Status, r.Body)
		}
		if r := e.webhookCall(t, e.WebhookSecret, "evt_one", time.Now(), body); r.Status/100 != 2 && r.Status != http.StatusConflict {
			t.Fatalf("re-signed replay: %d %s", r.Status, r.Body)
		}
		if r := e.Admin(http.MethodGet, "/v1/links/"+l2.ID, "alice", nil); r.Status != http.StatusOK {
			t.Fatalf("a replayed webhook deleted a new link: %d", r.Status)
		}
		expectStatus(t, e.Get("/s/"+l2.Token, nil), http.StatusOK)

		// A new delivery is applied.
		if r := e.webhookCall(t, e.WebhookSecret, "evt_two", time.Now(), eventBody("evt_two", "file.moved", "fileId", "file_sunset")); r.Status/100 != 2 {
			t.Fatalf("second webhook: %d %s", r.Status, r.Body)
		}
		e.waitDeleted(t, l2.ID, "system", "target_moved", 2*time.Second)

		// Malformed but signed deliveries change nothing and do not crash.
		l3 := e.FileLink("file_sunset")
		for i, b := range []string{`{`, `{"type":"file.deleted","data":{"fileId":"../x"}}`, `{"type":"file.deleted","data":{}}`, `{"type":"file.renamed","data":{"fileId":"file_sunset"}}`} {
			r := e.webhookCall(t, e.WebhookSecret, "evt_bad_"+string(rune('a'+i)), time.Now(), []byte(b))
			if r.Status/100 == 5 {
				t.Fatalf("webhook %s: %d", b, r.Status)
			}
		}
		if r := e.Admin(http.MethodGet, "/v1/links/"+l3.ID, "alice", nil); r.Status != http.StatusOK {
			t.Fatalf("a malformed webhook deleted a link: %d", r.Status)
		}
	})
}

func TestRedisFailClosed(t *testing.T) {
	rs := testenv.StartRedisServer(t)
	e := NewEnv(t, Options{Redis: true, RedisURL: rs.URL()})
	l := e.FileLink("file_sunset")
	expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusOK)

	rs.Stop()
	for _, p := range []string{"", "/files", "/files/file_sunset", "/files/file_sunset/content", "/download.zip"} {
		var r *Response
		eventually(t, 5*time.Second, "GET /s/{token}"+p+" answers 503 with Redis down", func() bool {
			r = e.Get("/s/"+l.Token+p, nil)
			return r.Status == http.StatusServiceUnavailable
		})
		if r.Header.Get("Retry-After") == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("503 headers: %v", r.Header)
		}
		if strings.Contains(string(r.Body), "SENTINEL") || strings.Contains(string(r.Body), "redis") {
			t.Fatalf("503 body leaks: %s", r.Body)
		}
	}
	// An unknown token cannot be told apart either: the store is not there
	// to say so.
	expectStatus(t, e.Get("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil), http.StatusServiceUnavailable)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/v1/links", nil},
		{http.MethodGet, "/v1/links/" + l.ID, nil},
		{http.MethodPost, "/v1/links", map[string]any{"target": linkTarget("file", "file_beach")}},
		{http.MethodPatch, "/v1/links/" + l.ID, map[string]any{"password": "while-down"}},
		{http.MethodDelete, "/v1/links/" + l.ID, nil},
		{http.MethodGet, "/v1/audit", nil},
	} {
		r := e.Admin(c.method, c.path, "alice", c.body)
		wantAPIError(t, r, http.StatusServiceUnavailable, "")
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %s: 503 without Retry-After", c.method, c.path)
		}
	}

	// Back on the same port (empty: this Redis keeps nothing on disk), the
	// gateway recovers without a restart.
	rs.Restart()
	var fresh Link
	eventually(t, 10*time.Second, "admin API recovers", func() bool {
		r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_beach")})
		if r.Status == http.StatusCreated {
			fresh = linkOf(t, r)
			return true
		}
		return false
	})
	expectStatus(t, e.Get("/s/"+fresh.Token+"/files/file_beach", acceptJSONHdr), http.StatusOK)
	eventually(t, 2*time.Second, "the lost link answers 404", func() bool { return e.Get("/s/"+l.Token, nil).Status == http.StatusNotFound })
}

func TestFleetPropagation(t *testing.T) {
	url := testenv.StartRedis(t)
	a := NewEnv(t, Options{Redis: true, RedisURL: url})
	b := NewEnv(t, Options{Redis: true, RedisURL: url})
	l := a.FileLink("file_sunset")
	// Node B serves A's link and caches it.
	for range 5 {
		expectStatus(t, b.Get("/s/"+l.Token+"/files/file_sunset", acceptJSONHdr), http.StatusOK)
	}
	// B's admin API sees it too (same account, same store).
	expectStatus(t, b.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusOK)

	// A password set on A applies on B within a second.
	expectStatus(t, a.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"password": "fleet-password"}), http.StatusOK)
	eventually(t, time.Second, "node B asks for the new password", func() bool {
		return b.Get("/s/"+l.Token+"/files/file_sunset", acceptJSONHdr).Status == http.StatusUnauthorized
	})
	expectStatus(t, a.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", `{"password":null}`), http.StatusOK)
	eventually(t, time.Second, "node B serves the public link again", func() bool {
		return b.Get("/s/"+l.Token+"/files/file_sunset", acceptJSONHdr).Status == http.StatusOK
	})

	// Deleted on A: B stops serving it within a second.
	expectStatus(t, a.Admin(http.MethodDelete, "/v1/links/"+l.ID, "alice", nil), http.StatusNoContent)
	eventually(t, time.Second, "node B stops serving the deleted link", func() bool {
		return b.Get("/s/"+l.Token+"/files/file_sunset", acceptJSONHdr).Status == http.StatusNotFound
	})
	// And once stopped, it stays stopped.
	for range 5 {
		expectStatus(t, b.Get("/s/"+l.Token+"/files/file_sunset/content", acceptJSONHdr), http.StatusNotFound)
	}
}
