package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The admin API (SPEC §5) against a real gateway, origin and store.

// acmeKey is a second account's admin key in the Caddyfiles built below.
const acmeKey = "acme-admin-key-0123456789"

// caddyfileWith is the root Caddyfile with extra lines in its global publink
// option.
func caddyfileWith(t testing.TB, lines ...string) string {
	t.Helper()
	return pwCaddyfile(t, nil, lines...)
}

// AdminKeyed calls the admin API with a given bearer key ("" sends none).
func (e *Env) AdminKeyed(key, method, path, actor string, body any) *Response {
	e.t.Helper()
	var rd *strings.Reader
	switch b := body.(type) {
	case nil:
		rd = strings.NewReader("")
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = strings.NewReader(string(j))
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		hdr["Authorization"] = "Bearer " + key
	}
	if actor != "" {
		hdr["X-Publink-Actor"] = actor
	}
	return e.Do(method, e.AdminURL+path, rd, hdr)
}

func linkTarget(typ, id string) map[string]any { return map[string]any{"type": typ, "id": id} }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// wantAPIError checks an admin error: status, the JSON error shape and,
// when given, its code.
func wantAPIError(t testing.TB, r *Response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || b.Error.Code == "" {
		t.Fatalf("error body %q is not {\"error\":{\"code\",...}}", r.Body)
	}
	if code != "" && b.Error.Code != code {
		t.Fatalf("error code %q, want %q: %s", b.Error.Code, code, r.Body)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("error Content-Type %q", r.Header.Get("Content-Type"))
	}
}

func expectStatus(t testing.TB, r *Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

// linkOf decodes a link JSON response.
func linkOf(t testing.TB, r *Response) Link {
	t.Helper()
	var l Link
	r.JSON(t, &l)
	if l.ID == "" || l.Token == "" {
		t.Fatalf("not a link: %s", r.Body)
	}
	return l
}

// listLinks returns every link an actor sees at path (following cursors).
func (e *Env) listLinks(key, actor, query string) []Link {
	e.t.Helper()
	var all []Link
	cursor := ""
	for range 100 {
		q := query
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := e.AdminKeyed(key, http.MethodGet, "/v1/links?"+q, actor, nil)
		expectStatus(e.t, r, http.StatusOK)
		var page struct {
			Items []Link `json:"items"`
			Next  string `json:"next"`
		}
		r.JSON(e.t, &page)
		if page.Items == nil {
			e.t.Fatalf("items is not an array: %s", r.Body)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
	e.t.Fatal("link listing never ends")
	return nil
}

func linkIDs(ls []Link) map[string]bool {
	m := map[string]bool{}
	for _, l := range ls {
		m[l.ID] = true
	}
	return m
}

// auditRecord is one record of GET /v1/audit.
type auditRecord struct {
	ID      string            `json:"id"`
	Time    time.Time         `json:"time"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	LinkID  string            `json:"linkId"`
	Target  map[string]string `json:"target"`
	Changes []string          `json:"changes"`
	Reason  string            `json:"reason"`
}

// auditPage fetches one page of the audit log as alice.
func (e *Env) auditPage(key, query string) ([]auditRecord, string, []byte) {
	e.t.Helper()
	r := e.AdminKeyed(key, http.MethodGet, "/v1/audit?"+query, "alice", nil)
	expectStatus(e.t, r, http.StatusOK)
	var page struct {
		Items []auditRecord `json:"items"`
		Next  string        `json:"next"`
	}
	r.JSON(e.t, &page)
	return page.Items, page.Next, r.Body
}

// audit returns the whole audit log of the default account, newest first.
func (e *Env) audit() []auditRecord {
	e.t.Helper()
	recs, next, _ := e.auditPage(e.AdminKey, "limit=500")
	if next != "" {
		e.t.Fatal("audit log longer than 500 records")
	}
	return recs
}

// auditFor returns the records about one link.
func (e *Env) auditFor(linkID string) []auditRecord {
	e.t.Helper()
	var out []auditRecord
	for _, r := range e.audit() {
		if r.LinkID == linkID {
			out = append(out, r)
		}
	}
	return out
}

// waitDeleted waits until a link is gone from the admin API and audited as
// deleted with reason, by actor; it returns that record.
func (e *Env) waitDeleted(t testing.TB, id, actor, reason string, within time.Duration) auditRecord {
	t.Helper()
	var rec auditRecord
	eventually(t, within, "link "+id+" deleted with reason "+reason, func() bool {
		for _, r := range e.auditFor(id) {
			if r.Action == "link.deleted" {
				rec = r
				return true
			}
		}
		return false
	})
	if rec.Actor != actor || rec.Reason != reason {
		t.Fatalf("link %s deleted by %q for %q, want %q for %q", id, rec.Actor, rec.Reason, actor, reason)
	}
	if r := e.Admin(http.MethodGet, "/v1/links/"+id, "alice", nil); r.Status != http.StatusNotFound {
		t.Fatalf("deleted link %s still answers %d", id, r.Status)
	}
	n := 0
	for _, r := range e.auditFor(id) {
		if r.Action == "link.deleted" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("link %s has %d link.deleted records, want 1", id, n)
	}
	return rec
}

func TestAdminAuthentication(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	for name, key := range map[string]string{"none": "", "wrong": "wrong-admin-key-0123456789", "prefix": e.AdminKey[:10]} {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/v1/links"}, {http.MethodPost, "/v1/links"}, {http.MethodGet, "/v1/links/" + l.ID},
			{http.MethodPatch, "/v1/links/" + l.ID}, {http.MethodDelete, "/v1/links/" + l.ID}, {http.MethodGet, "/v1/audit"},
			{http.MethodGet, "/v1/downloads"},
		} {
			r := e.AdminKeyed(key, c.method, c.path, "alice", `{"target":{"type":"file","id":"file_sunset"}}`)
			wantAPIError(t, r, http.StatusUnauthorized, "")
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s key %s %s: Cache-Control %q", name, c.method, c.path, r.Header.Get("Cache-Control"))
			}
		}
	}
	// Another scheme with the right key is not a bearer key.
	r := e.Do(http.MethodGet, e.AdminURL+"/v1/links", nil, map[string]string{"Authorization": "Basic " + e.AdminKey, "X-Publink-Actor": "alice"})
	wantAPIError(t, r, http.StatusUnauthorized, "")
	// The scheme name is case-insensitive; the key is not.
	r = e.Do(http.MethodGet, e.AdminURL+"/v1/links", nil, map[string]string{"Authorization": "bearer " + e.AdminKey, "X-Publink-Actor": "alice"})
	expectStatus(t, r, http.StatusOK)
	r = e.Do(http.MethodGet, e.AdminURL+"/v1/links", nil, map[string]string{"Authorization": "Bearer " + strings.ToUpper(e.AdminKey), "X-Publink-Actor": "alice"})
	wantAPIError(t, r, http.StatusUnauthorized, "")

	// Link calls need an actor.
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, "/v1/links"}, {http.MethodPost, "/v1/links"}, {http.MethodGet, "/v1/links/" + l.ID},
		{http.MethodPatch, "/v1/links/" + l.ID}, {http.MethodDelete, "/v1/links/" + l.ID}, {http.MethodGet, "/v1/audit"},
	} {
		body := `{"target":{"type":"file","id":"file_sunset"}}`
		if c.method == http.MethodPatch {
			body = `{"exposeUnpublished":false}`
		}
		wantAPIError(t, e.Admin(c.method, c.path, "", body), http.StatusBadRequest, "actor_required")
	}
	if got := e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil); got.Status != http.StatusOK {
		t.Fatalf("link changed by calls without key or actor: %d %s", got.Status, got.Body)
	}
	if n := len(e.listLinks(e.AdminKey, "alice", "")); n != 1 {
		t.Fatalf("%d links after refused creates, want 1", n)
	}

	// Unknown links, endpoints and methods.
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		wantAPIError(t, e.Admin(m, "/v1/links/lnk_nope", "alice", nil), http.StatusNotFound, "not_found")
	}
	wantAPIError(t, e.Admin(http.MethodPatch, "/v1/links/lnk_nope", "alice", `{"validFrom":null}`), http.StatusNotFound, "not_found")
	for _, id := range []string{"lnk%00", "..", "lnk%20x", strings.Repeat("x", 300), l.ID + "%2Fx"} {
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+id, "alice", nil), http.StatusNotFound, "")
	}
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/nope", "alice", nil), http.StatusNotFound, "")
	r = e.Admin(http.MethodPut, "/v1/links", "alice", nil)
	wantAPIError(t, r, http.StatusMethodNotAllowed, "")
	if r.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

func TestAdminValidation(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		now := time.Now()
		file := linkTarget("file", "file_sunset")
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"malformed JSON", `{"target":`, 400, ""},
			{"not JSON", `target=file:file_sunset`, 400, ""},
			{"array", `[{"target":{"type":"file","id":"file_sunset"}}]`, 400, ""},
			{"trailing data", `{"target":{"type":"file","id":"file_sunset"}} {}`, 400, ""},
			{"empty body", ``, 400, ""},
			{"unknown field", map[string]any{"target": file, "color": "red"}, 400, "unknown_field"},
			{"unknown target field", `{"target":{"type":"file","id":"file_sunset","path":"/photos"}}`, 400, "unknown_field"},
			{"validUntil in the past", map[string]any{"target": file, "validUntil": rfc3339(now.Add(-time.Minute))}, 422, ""},
			{"validUntil now", map[string]any{"target": file, "validUntil": rfc3339(now.Add(-time.Second))}, 422, ""},
			{"validUntil equals validFrom", map[string]any{"target": file, "validFrom": rfc3339(now.Add(time.Hour)), "validUntil": rfc3339(now.Add(time.Hour))}, 422, ""},
			{"validUntil before validFrom", map[string]any{"target": file, "validFrom": rfc3339(now.Add(2 * time.Hour)), "validUntil": rfc3339(now.Add(time.Hour))}, 422, ""},
			{"validUntil not RFC 3339", map[string]any{"target": file, "validUntil": "tomorrow"}, 422, ""},
			{"validFrom not RFC 3339", map[string]any{"target": file, "validFrom": "2030-01-01"}, 422, ""},
			{"validUntil a number", `{"target":{"type":"file","id":"file_sunset"},"validUntil":1893456000}`, 422, ""},
			{"exposeUnpublished on a file", map[string]any{"target": file, "exposeUnpublished": true}, 422, ""},
			{"exposeUnpublished a string", `{"target":{"type":"folder","id":"fld_photos"},"exposeUnpublished":"yes"}`, 422, ""},
			{"empty password", map[string]any{"target": file, "password": ""}, 422, ""},
			{"over-long password", map[string]any{"target": file, "password": strings.Repeat("p", 1025)}, 422, ""},
			{"password a number", `{"target":{"type":"file","id":"file_sunset"},"password":1234}`, 422, ""},
			{"no target", map[string]any{}, 422, ""},
			{"null target", `{"target":null}`, 422, ""},
			{"target a string", `{"target":"file:file_sunset"}`, 422, ""},
			{"bad target type", map[string]any{"target": linkTarget("album", "file_sunset")}, 422, ""},
			{"empty target type", map[string]any{"target": linkTarget("", "file_sunset")}, 422, ""},
			{"bad target id", map[string]any{"target": linkTarget("file", "../file_sunset")}, 422, ""},
			{"target id with slash", map[string]any{"target": linkTarget("folder", "fld_photos/2024")}, 422, ""},
			{"empty target id", map[string]any{"target": linkTarget("file", "")}, 422, ""},
			{"unknown file", map[string]any{"target": linkTarget("file", "file_nope")}, 404, "target_not_found"},
			{"unknown folder", map[string]any{"target": linkTarget("folder", "fld_nope")}, 404, "target_not_found"},
			{"unknown collection", map[string]any{"target": linkTarget("collection", "col_nope")}, 404, "target_not_found"},
			{"file id given as folder", map[string]any{"target": linkTarget("folder", "file_sunset")}, 404, "target_not_found"},
		}
		for _, c := range cases {
			r := e.Admin(http.MethodPost, "/v1/links", "alice", c.body)
			if r.Status != c.status {
				t.Errorf("%s: status %d, want %d: %s", c.name, r.Status, c.status, r.Body)
				continue
			}
			wantAPIError(t, r, c.status, c.code)
		}
		if ls := e.listLinks(e.AdminKey, "alice", ""); len(ls) != 0 {
			t.Fatalf("refused creates left %d links", len(ls))
		}

		// The boundaries are accepted.
		pw := strings.Repeat("p", 1024)
		r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": file, "password": pw, "validUntil": rfc3339(now.Add(time.Hour))})
		expectStatus(t, r, http.StatusCreated)
		l := linkOf(t, r)
		if !l.HasPassword || l.ValidUntil == nil || l.ValidFrom != nil || l.CreatedBy != "alice" || l.UpdatedBy != "alice" {
			t.Fatalf("created link %s", r.Body)
		}
		if strings.Contains(string(r.Body), "pppp") || strings.Contains(string(r.Body), "argon2") {
			t.Fatalf("link JSON leaks the password or its hash: %s", r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.Header.Get("Cache-Control"))
		}
		if l.URL != e.GatewayURL+"/s/"+l.Token || len(l.Token) < 22 {
			t.Fatalf("url %q token %q", l.URL, l.Token)
		}
		var raw map[string]any
		r.JSON(t, &raw)
		for _, k := range []string{"id", "token", "url", "target", "validFrom", "validUntil", "hasPassword", "exposeUnpublished", "createdAt", "createdBy", "updatedAt", "updatedBy"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("link JSON lacks %q: %s", k, r.Body)
			}
		}
		for k := range raw {
			if strings.Contains(strings.ToLower(k), "password") && k != "hasPassword" || k == "account" || k == "targetPath" {
				t.Errorf("link JSON has %q: %s", k, r.Body)
			}
		}
		r = e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{
			"target": linkTarget("folder", "fld_photos"), "exposeUnpublished": true,
			"validFrom": "2020-01-01T00:00:00+02:00", "validUntil": rfc3339(now.Add(time.Hour)),
		})
		expectStatus(t, r, http.StatusCreated)
		if l := linkOf(t, r); !l.ExposeUnpublished || l.ValidFrom == nil || !l.ValidFrom.Equal(time.Date(2019, 12, 31, 22, 0, 0, 0, time.UTC)) {
			t.Fatalf("folder link %s", r.Body)
		}
		expectStatus(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("collection", "col_summer")}), http.StatusCreated)
	})
}

func TestAdminLimits(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.Caddyfile = caddyfileWith(t, "max_links_per_account 7")
		e := NewEnv(t, o)

		// 50 concurrent creates for one target: exactly 5 win.
		type result struct {
			status int
			code   string
			id     string
		}
		concurrently := func(targets []map[string]any) []result {
			out := make([]result, len(targets))
			var wg sync.WaitGroup
			for i, tg := range targets {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": tg})
					var b struct {
						ID    string `json:"id"`
						Error struct {
							Code string `json:"code"`
						} `json:"error"`
					}
					json.Unmarshal(r.Body, &b)
					out[i] = result{r.Status, b.Error.Code, b.ID}
				}()
			}
			wg.Wait()
			return out
		}
		count := func(rs []result) (created []string, codes map[string]int) {
			codes = map[string]int{}
			for _, r := range rs {
				switch r.status {
				case http.StatusCreated:
					created = append(created, r.id)
				case http.StatusConflict:
					codes[r.code]++
				default:
					t.Fatalf("unexpected status %d (%s)", r.status, r.code)
				}
			}
			return created, codes
		}
		var sunset []map[string]any
		for range 50 {
			sunset = append(sunset, linkTarget("file", "file_sunset"))
		}
		sunsetIDs, codes := count(concurrently(sunset))
		if len(sunsetIDs) != 5 || codes["link_limit_target"] != 45 {
			t.Fatalf("50 concurrent creates: %d created, conflicts %v; want 5 and 45 link_limit_target", len(sunsetIDs), codes)
		}
		if n := len(e.listLinks(e.AdminKey, "alice", "target=file:file_sunset")); n != 5 {
			t.Fatalf("file_sunset has %d links, want 5", n)
		}

		// 10 concurrent creates over 5 fresh targets with 2 account slots left.
		var mixed []map[string]any
		for _, id := range []string{"file_private", "file_draft", "file_svg", "file_page", "file_hostile"} {
			mixed = append(mixed, linkTarget("file", id), linkTarget("file", id))
		}
		more, codes := count(concurrently(mixed))
		if len(more) != 2 || codes["link_limit_account"] != 8 {
			t.Fatalf("10 concurrent creates with 2 slots left: %d created, conflicts %v", len(more), codes)
		}
		if n := len(e.listLinks(e.AdminKey, "alice", "")); n != 7 {
			t.Fatalf("account has %d links, want 7", n)
		}
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_other")}), http.StatusConflict, "link_limit_account")
		// The account limit is checked for every target, the target limit
		// is met first for a full target.
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusConflict, "")

		// A deleted link frees its slot.
		expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+more[0], "alice", nil), http.StatusNoContent)
		other := e.CreateLink(map[string]any{"target": linkTarget("file", "file_other")})
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_readme")}), http.StatusConflict, "link_limit_account")

		// An expired link frees its slot, swept or not.
		expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+more[1], "alice", nil), http.StatusNoContent)
		until := time.Now().Add(3 * time.Second).Truncate(time.Second)
		short := e.CreateLink(map[string]any{"target": linkTarget("file", "file_beach"), "validUntil": rfc3339(until)})
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_readme")}), http.StatusConflict, "link_limit_account")
		time.Sleep(time.Until(until) + 100*time.Millisecond)
		expectStatus(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_readme")}), http.StatusCreated)
		if linkIDs(e.listLinks(e.AdminKey, "alice", ""))[short.ID] {
			t.Fatal("expired link still listed")
		}

		// A deleted link frees its target's slot.
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusConflict, "")
		expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+sunsetIDs[0], "alice", nil), http.StatusNoContent)
		expectStatus(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusCreated)
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusConflict, "link_limit_target")
		_ = other
	})
}

func TestAdminAccountIsolation(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.Caddyfile = caddyfileWith(t, "admin_key acme "+acmeKey)
		e := NewEnv(t, o)
		create := func(key string, tg map[string]any) Link {
			r := e.AdminKeyed(key, http.MethodPost, "/v1/links", "alice", map[string]any{"target": tg})
			expectStatus(t, r, http.StatusCreated)
			return linkOf(t, r)
		}
		mine := create(e.AdminKey, linkTarget("file", "file_sunset"))
		theirs := create(acmeKey, linkTarget("file", "file_sunset"))

		for _, c := range []struct {
			key  string
			link Link
		}{{acmeKey, mine}, {e.AdminKey, theirs}} {
			wantAPIError(t, e.AdminKeyed(c.key, http.MethodGet, "/v1/links/"+c.link.ID, "alice", nil), http.StatusNotFound, "not_found")
			wantAPIError(t, e.AdminKeyed(c.key, http.MethodPatch, "/v1/links/"+c.link.ID, "alice", map[string]any{"password": "taken-over"}), http.StatusNotFound, "not_found")
			wantAPIError(t, e.AdminKeyed(c.key, http.MethodDelete, "/v1/links/"+c.link.ID, "alice", nil), http.StatusNotFound, "not_found")
		}
		for _, c := range []struct {
			key        string
			own, other Link
		}{{e.AdminKey, mine, theirs}, {acmeKey, theirs, mine}} {
			for _, q := range []string{"", "target=file:file_sunset"} {
				ids := linkIDs(e.listLinks(c.key, "alice", q))
				if len(ids) != 1 || !ids[c.own.ID] {
					t.Fatalf("list %q: %v, want only %s", q, ids, c.own.ID)
				}
			}
			recs, _, _ := e.auditPage(c.key, "")
			if len(recs) != 1 || recs[0].LinkID != c.own.ID {
				t.Fatalf("audit of one account shows %+v", recs)
			}
		}
		// Both links are intact and work.
		for _, l := range []Link{mine, theirs} {
			expectStatus(t, e.Get("/s/"+l.Token, nil), http.StatusOK)
		}
		if got := linkOf(t, e.AdminKeyed(acmeKey, http.MethodGet, "/v1/links/"+theirs.ID, "alice", nil)); got.HasPassword {
			t.Fatal("another account changed the password")
		}

		// Limits are per account: acme's links do not use the default
		// account's target slots.
		for range 4 {
			create(acmeKey, linkTarget("file", "file_sunset"))
		}
		for range 4 {
			create(e.AdminKey, linkTarget("file", "file_sunset"))
		}
		wantAPIError(t, e.AdminKeyed(acmeKey, http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")}), http.StatusConflict, "link_limit_target")
	})
}

func TestAdminPermissions(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		readme := e.FileLink("file_readme")
		aliceSunset := e.FileLink("file_sunset")

		// bob manages folder:fld_photos, file:file_sunset, collection:col_summer.
		var bobs []Link
		for _, tg := range []map[string]any{linkTarget("folder", "fld_photos"), linkTarget("file", "file_sunset"), linkTarget("collection", "col_summer")} {
			r := e.Admin(http.MethodPost, "/v1/links", "bob", map[string]any{"target": tg})
			expectStatus(t, r, http.StatusCreated)
			l := linkOf(t, r)
			if l.CreatedBy != "bob" {
				t.Fatalf("createdBy %q", l.CreatedBy)
			}
			bobs = append(bobs, l)
			expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "bob", nil), http.StatusOK)
			r = e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "bob", map[string]any{"validUntil": rfc3339(time.Now().Add(time.Hour))})
			expectStatus(t, r, http.StatusOK)
			if u := linkOf(t, r); u.UpdatedBy != "bob" || u.ValidUntil == nil {
				t.Fatalf("patched by bob: %s", r.Body)
			}
		}
		r := e.Admin(http.MethodGet, "/v1/links?target=file:file_sunset", "bob", nil)
		expectStatus(t, r, http.StatusOK)
		// bob may change alice's link to a target he manages.
		r = e.Admin(http.MethodPatch, "/v1/links/"+aliceSunset.ID, "bob", map[string]any{"exposeUnpublished": false})
		expectStatus(t, r, http.StatusOK)
		expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+bobs[2].ID, "bob", nil), http.StatusNoContent)

		// ...and nothing else.
		for _, tg := range []map[string]any{linkTarget("file", "file_readme"), linkTarget("file", "file_beach"), linkTarget("folder", "fld_photos_2024"), linkTarget("folder", "fld_docs")} {
			wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "bob", map[string]any{"target": tg}), http.StatusForbidden, "")
		}
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+readme.ID, "bob", nil), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodPatch, "/v1/links/"+readme.ID, "bob", map[string]any{"password": "bob-was-here"}), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodDelete, "/v1/links/"+readme.ID, "bob", nil), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/links?target=file:file_readme", "bob", nil), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/links", "bob", nil), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/audit", "bob", nil), http.StatusForbidden, "")
		wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads", "bob", nil), http.StatusForbidden, "")

		// carol has edit on file_sunset and view on fld_photos: not enough.
		// mallory is no user at all.
		for _, who := range []string{"carol", "mallory"} {
			for _, tg := range []map[string]any{linkTarget("file", "file_sunset"), linkTarget("folder", "fld_photos")} {
				wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", who, map[string]any{"target": tg}), http.StatusForbidden, "")
			}
			for _, l := range []Link{aliceSunset, bobs[0]} {
				wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, who, nil), http.StatusForbidden, "")
				wantAPIError(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, who, map[string]any{"validUntil": nil}), http.StatusForbidden, "")
				wantAPIError(t, e.Admin(http.MethodDelete, "/v1/links/"+l.ID, who, nil), http.StatusForbidden, "")
			}
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/links?target=file:file_sunset", who, nil), http.StatusForbidden, "")
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/links", who, nil), http.StatusForbidden, "")
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/audit", who, nil), http.StatusForbidden, "")
		}

		// Nothing the refused calls tried happened.
		ls := e.listLinks(e.AdminKey, "alice", "")
		if len(ls) != 4 {
			t.Fatalf("%d links, want 4", len(ls))
		}
		for _, l := range ls {
			if l.HasPassword {
				t.Fatalf("link %s got a password", l.ID)
			}
			if l.ID == bobs[0].ID && l.ValidUntil == nil {
				t.Fatal("a refused PATCH cleared validUntil")
			}
		}
	})
}

func TestAdminPatch(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		l := e.CreateLink(map[string]any{"target": linkTarget("folder", "fld_photos")})
		patch := func(body any) Link {
			t.Helper()
			r := e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", body)
			expectStatus(t, r, http.StatusOK)
			got := linkOf(t, r)
			if got.Token != l.Token || got.URL != l.URL || got.ID != l.ID {
				t.Fatalf("PATCH changed identity: %s", r.Body)
			}
			stored := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil))
			if !sameTimePtr(stored.ValidFrom, got.ValidFrom) || !sameTimePtr(stored.ValidUntil, got.ValidUntil) ||
				stored.HasPassword != got.HasPassword || stored.ExposeUnpublished != got.ExposeUnpublished {
				t.Fatalf("PATCH answer %+v differs from the stored link %+v", got, stored)
			}
			return got
		}
		visit := func() int {
			return e.Get("/s/"+l.Token+"/files", map[string]string{"Accept": "application/json"}).Status
		}

		from := time.Now().Add(time.Hour).Truncate(time.Second)
		until := time.Now().Add(2 * time.Hour).Truncate(time.Second)
		got := patch(map[string]any{"validFrom": rfc3339(from)})
		if got.ValidFrom == nil || !got.ValidFrom.Equal(from) || got.ValidUntil != nil {
			t.Fatalf("validFrom set: %+v", got)
		}
		eventually(t, 2*time.Second, "a not-yet-valid link answers 404", func() bool { return visit() == http.StatusNotFound })
		got = patch(map[string]any{"validUntil": rfc3339(until)})
		if got.ValidFrom == nil || got.ValidUntil == nil || !got.ValidUntil.Equal(until) {
			t.Fatalf("validUntil set, validFrom kept: %+v", got)
		}
		got = patch(`{"validFrom":null}`)
		if got.ValidFrom != nil || got.ValidUntil == nil {
			t.Fatalf("validFrom cleared, validUntil kept: %+v", got)
		}
		eventually(t, 2*time.Second, "the link works again", func() bool { return visit() == http.StatusOK })
		got = patch(`{"validUntil":null}`)
		if got.ValidFrom != nil || got.ValidUntil != nil {
			t.Fatalf("validUntil cleared: %+v", got)
		}

		got = patch(map[string]any{"exposeUnpublished": true})
		if !got.ExposeUnpublished {
			t.Fatal("exposeUnpublished not set")
		}
		got = patch(map[string]any{"exposeUnpublished": false})
		if got.ExposeUnpublished {
			t.Fatal("exposeUnpublished not cleared")
		}

		got = patch(map[string]any{"password": "correct horse battery"})
		if !got.HasPassword {
			t.Fatal("password not set")
		}
		eventually(t, 2*time.Second, "a password link answers 401", func() bool { return visit() == http.StatusUnauthorized })
		got = patch(map[string]any{"password": "another horse battery"})
		if !got.HasPassword {
			t.Fatal("password change dropped the password")
		}
		got = patch(`{"password":null}`)
		if got.HasPassword {
			t.Fatal("password not removed")
		}
		eventually(t, 2*time.Second, "the link is public again", func() bool { return visit() == http.StatusOK })
		patch(`{}`)

		// Refused patches change nothing.
		before := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil))
		for _, c := range []struct {
			body   any
			status int
		}{
			{`{"validFrom":`, 400},
			{`null`, 400},
			{`[]`, 400},
			{`{"token":"mine"}`, 400},
			{`{"target":{"type":"file","id":"file_readme"}}`, 400},
			{`{"id":"lnk_x"}`, 400},
			{`{"hasPassword":false}`, 400},
			{`{"validUntil":"2030-01-01T00:00:00Z","color":"red"}`, 400},
			{map[string]any{"validUntil": rfc3339(time.Now().Add(-time.Minute))}, 422},
			{map[string]any{"validFrom": rfc3339(time.Now().Add(3 * time.Hour)), "validUntil": rfc3339(time.Now().Add(2 * time.Hour))}, 422},
			{map[string]any{"validUntil": "soon"}, 422},
			{`{"validFrom":12}`, 422},
			{`{"exposeUnpublished":"true"}`, 422},
			{`{"exposeUnpublished":null}`, 422},
			{map[string]any{"password": ""}, 422},
			{map[string]any{"password": strings.Repeat("x", 1025)}, 422},
			{`{"password":42}`, 422},
		} {
			r := e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", c.body)
			if r.Status != c.status {
				t.Errorf("PATCH %v: %d, want %d: %s", c.body, r.Status, c.status, r.Body)
				continue
			}
			wantAPIError(t, r, c.status, "")
		}
		after := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil))
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("refused patches changed the link:\n%+v\n%+v", before, after)
		}

		// A window that is already set need not be in the future to keep
		// other changes working; exposeUnpublished stays refused on files.
		fl := e.FileLink("file_sunset")
		wantAPIError(t, e.Admin(http.MethodPatch, "/v1/links/"+fl.ID, "alice", map[string]any{"exposeUnpublished": true}), 422, "")
	})
}

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func TestAdminAudit(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		const pw1, pw2 = "first-Secret-PW-8812", "second-Secret-PW-7734"
		until := time.Now().Add(time.Hour).Truncate(time.Second)
		l := e.CreateLink(map[string]any{"target": linkTarget("file", "file_sunset"), "password": pw1})
		r := e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "bob", map[string]any{"password": pw2, "validUntil": rfc3339(until)})
		expectStatus(t, r, http.StatusOK)
		// A patch that changes nothing is not a change.
		expectStatus(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"validUntil": rfc3339(until)}), http.StatusOK)
		expectStatus(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", `{"password":null}`), http.StatusOK)
		expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+l.ID, "bob", nil), http.StatusNoContent)

		recs, next, body := e.auditPage(e.AdminKey, "")
		if next != "" || len(recs) != 4 {
			t.Fatalf("audit: %s", body)
		}
		want := []struct {
			actor, action, reason string
			changes               []string
		}{
			{"bob", "link.deleted", "api", nil},
			{"alice", "link.updated", "", []string{"password"}},
			{"bob", "link.updated", "", []string{"password", "validUntil"}},
			{"alice", "link.created", "", nil},
		}
		for i, w := range want {
			g := recs[i]
			if g.Actor != w.actor || g.Action != w.action || g.Reason != w.reason || g.LinkID != l.ID ||
				fmt.Sprint(g.Changes) != fmt.Sprint(w.changes) || g.ID == "" || g.Time.IsZero() ||
				g.Target["type"] != "file" || g.Target["id"] != "file_sunset" {
				t.Errorf("record %d = %+v, want %+v", i, g, w)
			}
		}
		var raw struct {
			Items []map[string]any `json:"items"`
		}
		json.Unmarshal(body, &raw)
		for _, rec := range raw.Items {
			for _, k := range []string{"id", "time", "actor", "action", "linkId", "target", "changes", "reason"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("audit record lacks %q: %v", k, rec)
				}
			}
		}
		for _, secret := range []string{pw1, pw2, "argon2", "$v=19", "passwordHash", l.Token} {
			if strings.Contains(string(body), secret) {
				t.Fatalf("audit log contains %q: %s", secret, body)
			}
		}

		// The same records reach the gateway log as logger publink.audit,
		// without secrets.
		var logged []map[string]any
		eventually(t, 2*time.Second, "4 publink.audit log entries", func() bool {
			logged = logged[:0]
			sc := bufio.NewScanner(strings.NewReader(e.GatewayLog()))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) == nil && m["logger"] == "publink.audit" {
					logged = append(logged, m)
				}
			}
			return len(logged) >= 4
		})
		actions := []string{}
		for _, m := range logged {
			actions = append(actions, fmt.Sprint(m["msg"]))
			if !strings.Contains(fmt.Sprint(m), l.ID) {
				t.Errorf("log entry does not name the link: %v", m)
			}
		}
		if strings.Join(actions, ",") != "link.created,link.updated,link.updated,link.deleted" {
			t.Errorf("logged actions %v", actions)
		}
		log := e.GatewayLog()
		for _, secret := range []string{pw1, pw2, "argon2", l.Token} {
			if strings.Contains(log, secret) {
				t.Fatalf("gateway log contains %q", secret)
			}
		}

		// Paging: limit and cursor walk the log newest first, once each.
		for range 4 {
			x := e.FileLink("file_beach")
			expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+x.ID, "alice", nil), http.StatusNoContent)
		}
		all := e.audit()
		if len(all) != 12 {
			t.Fatalf("%d records, want 12", len(all))
		}
		var paged []auditRecord
		cursor, pages := "", 0
		for {
			q := "limit=5"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			recs, next, _ := e.auditPage(e.AdminKey, q)
			if len(recs) > 5 {
				t.Fatalf("page of %d records with limit=5", len(recs))
			}
			paged = append(paged, recs...)
			pages++
			if next == "" || pages > 10 {
				break
			}
			cursor = next
		}
		if pages != 3 || len(paged) != len(all) {
			t.Fatalf("%d pages, %d records; want 3 pages, %d records", pages, len(paged), len(all))
		}
		for i := range all {
			if paged[i].ID != all[i].ID {
				t.Fatalf("paged record %d is %s, want %s", i, paged[i].ID, all[i].ID)
			}
			if i > 0 && all[i].Time.After(all[i-1].Time) {
				t.Fatalf("audit log not newest first at %d", i)
			}
		}
		for _, q := range []string{"limit=0", "limit=-1", "limit=x", "limit=100000"} {
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/audit?"+q, "alice", nil), http.StatusUnprocessableEntity, "")
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/links?"+q, "alice", nil), http.StatusUnprocessableEntity, "")
		}
		for _, q := range []string{"target=file", "target=album:x", "target=file:../x", "target=:file_sunset"} {
			wantAPIError(t, e.Admin(http.MethodGet, "/v1/links?"+q, "alice", nil), http.StatusUnprocessableEntity, "invalid_target")
		}
	})
}
