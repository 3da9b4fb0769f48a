package tests

// A second red-team pass, on the admin API, webhooks, the stores, the fleet
// and the CLI's API (attack_test.go covers the visitor routes). Each test
// named after a finding failed before its fix; the others pin rules an
// attacker would probe next to them.

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publink/publink/internal/testenv"
	"github.com/publink/publink/webhook"
)

// rawAdmin sends one admin request byte for byte (the Go client refuses to
// send some of the header values an attacker would try).
func rawAdmin(t *testing.T, e *Env, method, target string, hdr []string, body string) *Response {
	t.Helper()
	return rawExchange(t, e.AdminURL, method, target, hdr, body)
}

// TestAttack2ForgedCursors: a cursor the store did not make ("abc", "-1",
// an audit stream id Redis refuses such as "0-0") made the admin API answer
// 500 (or 503 with Retry-After on Redis, as if the store were down) and log
// an error per request. A cursor is the client's input: 422. A cursor taken
// from another account's page never shows that account's links.
func TestAttack2ForgedCursors(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.Caddyfile = caddyfileWith(t, "admin_key acme "+acmeKey)
		e := NewEnv(t, o)
		mine := map[string]bool{}
		for _, id := range []string{"file_sunset", "file_beach", "file_readme"} {
			mine[e.FileLink(id).ID] = true
			r := e.AdminKeyed(acmeKey, http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", id)})
			expectStatus(t, r, http.StatusCreated)
		}
		for _, c := range []string{"abc", "-1", "0-0", "99999999999999999999-0", "1-99999999999999999999",
			"zzzzzzzzzzzzzzzz", "%00", "1%0D%0AX", strings.Repeat("9", 400)} {
			for _, p := range []string{"/v1/links?cursor=", "/v1/links?target=file:file_sunset&cursor=", "/v1/audit?cursor="} {
				r := e.Admin(http.MethodGet, p+c, "alice", nil)
				wantAPIError(t, r, http.StatusUnprocessableEntity, "invalid_cursor")
			}
		}
		if strings.Contains(e.GatewayLog(), "admin call failed") {
			t.Fatalf("forged cursors were logged as failures:\n%s", tail(e.GatewayLog(), 2000))
		}

		// Every page acme's key walks to, followed with the default key:
		// only the default account's links.
		for _, p := range []string{"/v1/links?limit=1", "/v1/audit?limit=1"} {
			cursor := ""
			for range 10 {
				r := e.AdminKeyed(acmeKey, http.MethodGet, p+"&cursor="+cursor, "alice", nil)
				expectStatus(t, r, http.StatusOK)
				var page struct{ Next string }
				r.JSON(t, &page)
				if page.Next == "" {
					break
				}
				cursor = page.Next
				r = e.Admin(http.MethodGet, p+"&cursor="+url.QueryEscape(cursor), "alice", nil)
				if r.Status == http.StatusUnprocessableEntity {
					continue
				}
				expectStatus(t, r, http.StatusOK)
				var items struct {
					Items []struct {
						ID     string `json:"id"`
						LinkID string `json:"linkId"`
					}
				}
				r.JSON(t, &items)
				for _, it := range items.Items {
					if !mine[it.ID] && !mine[it.LinkID] {
						t.Fatalf("%s with acme's cursor %q shows %s", p, cursor, r.Body)
					}
				}
			}
		}
	})
}

// TestAttack2StrictAdminJSON: the admin API took bodies encoding/json lets
// through: a stray '}' or ']' after the object (json.Decoder.More misses
// it), bytes that are not UTF-8 (silently turned into U+FFFD, so such a
// password could never be typed in), field names in another case
// ("Password", "TARGET") and keys given twice (which one wins differs
// between parsers, so a proxy that vets the body can be fooled). All are
// 400 now; mass assignment of server-made fields stays refused.
func TestAttack2StrictAdminJSON(t *testing.T) {
	e := NewEnv(t, Options{})
	sunset := `{"type":"file","id":"file_sunset"}`
	readme := `{"type":"file","id":"file_readme"}`
	deep := `{"target":` + strings.Repeat("[", 10050) + strings.Repeat("]", 10050) + `}`
	for _, c := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"stray brace", `{"target":` + sunset + `}}`, 400, "malformed_json"},
		{"stray bracket", `{"target":` + sunset + `}]`, 400, "malformed_json"},
		{"second object", `{"target":` + sunset + `}{"target":` + readme + `}`, 400, "malformed_json"},
		{"NUL after", `{"target":` + sunset + "}\x00", 400, "malformed_json"},
		{"not UTF-8", `{"target":` + sunset + `,"password":"pw-` + "\xff\xfe" + `"}`, 400, "malformed_json"},
		{"Target", `{"Target":` + sunset + `}`, 400, "unknown_field"},
		{"TYPE", `{"target":{"TYPE":"file","id":"file_sunset"}}`, 400, "unknown_field"},
		{"Password", `{"target":` + sunset + `,"Password":"hunter2-hunter2"}`, 400, "unknown_field"},
		{"validuntil", `{"target":` + sunset + `,"validuntil":"2099-01-01T00:00:00Z"}`, 400, "unknown_field"},
		{"target twice", `{"target":` + readme + `,"target":` + sunset + `}`, 400, "malformed_json"},
		{"id twice", `{"target":{"type":"file","id":"file_readme","id":"file_sunset"}}`, 400, "malformed_json"},
		{"password then null", `{"target":` + sunset + `,"password":"hunter2-hunter2","password":null}`, 400, "malformed_json"},
		{"deep nesting", deep, 400, ""},
		{"over 64 KiB", `{"target":` + sunset + `,"password":"` + strings.Repeat("p", 64<<10) + `"}`, 413, ""},
		{"NUL in id", `{"target":{"type":"file","id":"file_sunset\u0000"}}`, 422, "invalid_target"},
		{"huge number", `{"target":{"type":"folder","id":"fld_photos"},"exposeUnpublished":1e999}`, 422, ""},
		{"leap second", `{"target":` + sunset + `,"validUntil":"2031-06-30T23:59:60Z"}`, 422, "invalid_validUntil"},
		{"year 0", `{"target":` + sunset + `,"validUntil":"0000-01-01T00:00:00Z"}`, 422, "invalid_validUntil"},
		{"year 10000", `{"target":` + sunset + `,"validUntil":"10000-01-01T00:00:00Z"}`, 422, "invalid_validUntil"},
	} {
		r := e.Admin(http.MethodPost, "/v1/links", "alice", c.body)
		if r.Status != c.status {
			t.Errorf("%s: %d, want %d: %s", c.name, r.Status, c.status, r.Body)
			continue
		}
		wantAPIError(t, r, c.status, c.code)
	}
	// Server-made fields cannot be assigned, in any case.
	for _, f := range []string{"id", "token", "url", "account", "Account", "createdBy", "createdAt", "updatedBy",
		"hasPassword", "passwordHash", "PasswordHash", "passwordVersion", "targetPath"} {
		body := `{"target":` + sunset + `,"` + f + `":"x"}`
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", body), http.StatusBadRequest, "unknown_field")
	}
	if ls := e.listLinks(e.AdminKey, "alice", ""); len(ls) != 0 {
		t.Fatalf("refused creates made %d links", len(ls))
	}

	l := e.FileLink("file_sunset")
	before := e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil).Body
	for _, c := range []struct {
		name, body string
		code       string
	}{
		{"stray brace", `{"validUntil":null}}`, "malformed_json"},
		{"not UTF-8", `{"password":"pw-` + "\xff" + `-long"}`, "malformed_json"},
		{"password twice", `{"password":"hunter2-hunter2","password":null}`, "malformed_json"},
		{"Password", `{"Password":"hunter2-hunter2"}`, "unknown_field"},
		{"passwordHash", `{"passwordHash":"$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAA"}`, "unknown_field"},
		{"passwordVersion", `{"passwordVersion":0}`, "unknown_field"},
		{"account", `{"account":"acme"}`, "unknown_field"},
		{"createdBy", `{"createdBy":"mallory"}`, "unknown_field"},
		{"targetPath", `{"targetPath":"/"}`, "unknown_field"},
		{"target", `{"target":` + readme + `}`, "unknown_field"},
	} {
		r := e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", c.body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("PATCH %s: %d, want 400: %s", c.name, r.Status, r.Body)
			continue
		}
		wantAPIError(t, r, http.StatusBadRequest, c.code)
	}
	if after := e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil).Body; string(after) != string(before) {
		t.Fatalf("refused patches changed the link:\n%s\n%s", before, after)
	}
	// Well-formed bodies still work, whitespace around them included.
	expectStatus(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", " {\"password\": \"hunter2-hunter2\"} \n"), http.StatusOK)
	expectStatus(t, e.Admin(http.MethodPost, "/v1/links", "alice", "\n{\"target\":"+readme+",\"password\":\"p\u00e4ss-\u2603\"}\r\n"), http.StatusCreated)
}

// TestAttack2FarFutureValidUntil: on the embedded store a validUntil after
// 2262 (where UnixNano wraps around) was indexed as long past: such links
// did not count against the limits (7 links on one target) and the sweeper
// deleted each of them within seconds, audited as "expired".
func TestAttack2FarFutureValidUntil(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		var ids []string
		for _, until := range []string{"2262-04-12T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+14:00", "2099-01-01T00:00:00-12:00"} {
			r := e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_other"), "validUntil": until})
			expectStatus(t, r, http.StatusCreated)
			ids = append(ids, linkOf(t, r).ID)
		}
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_other"), "validUntil": "9999-01-01T00:00:00Z"}), http.StatusConflict, "link_limit_target")
		// A far-future validUntil set by PATCH, too.
		l := e.FileLink("file_beach")
		expectStatus(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"validUntil": "9000-01-01T00:00:00Z"}), http.StatusOK)
		ids = append(ids, l.ID)

		time.Sleep(6 * time.Second) // the sweeper runs every 5s
		for _, id := range ids {
			expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+id, "alice", nil), http.StatusOK)
		}
		for _, rec := range e.audit() {
			if rec.Action == "link.deleted" {
				t.Fatalf("a far-future link was deleted: %+v", rec)
			}
		}
		expectStatus(t, e.Get("/s/"+l.Token+"/files/file_beach", acceptJSONHdr), http.StatusOK)
	})
}

// TestAttack2ActorHeader: the actor ends up in link JSON, audit records,
// logs and the CLI's tables. HTTP itself refuses CR, LF and ASCII controls
// (checked here byte for byte), but bytes >= 0x80 passed: a C1 control, a
// bidi override or a line separator disguised the actor wherever it was
// shown, as long as the origin knew such a user. They are 400 now.
func TestAttack2ActorHeader(t *testing.T) {
	e := NewEnv(t, Options{})
	odd := []string{"eve\u202egnp", "eve\u0085x", "eve\u2028x", "eve\u009b31m", "eve\u200bx"}
	users := map[string]any{"alice": map[string]any{"role": "admin"}}
	for _, u := range odd {
		users[u] = map[string]any{"role": "admin"}
	}
	b, _ := json.Marshal(map[string]any{"users": users})
	expectStatus(t, e.Manage(http.MethodPut, "/manage/permissions", strings.NewReader(string(b))), http.StatusOK)
	l := e.FileLink("file_sunset")

	for _, actor := range odd {
		wantAPIError(t, e.Admin(http.MethodPost, "/v1/links", actor, map[string]any{"target": linkTarget("file", "file_readme")}), http.StatusBadRequest, "invalid_actor")
		wantAPIError(t, e.Admin(http.MethodPatch, "/v1/links/"+l.ID, actor, map[string]any{"password": "hunter2-hunter2"}), http.StatusBadRequest, "invalid_actor")
		wantAPIError(t, e.Admin(http.MethodDelete, "/v1/links/"+l.ID, actor, nil), http.StatusBadRequest, "invalid_actor")
	}
	key := "Authorization: Bearer " + e.AdminKey
	for _, actor := range []string{"alice\x01", "alice\x1b[2K", "alice\x7f", "alice\rX-Injected: 1", "\xffalice", "alice\xc2\x85"} {
		r := rawAdmin(t, e, http.MethodPatch, "/v1/links/"+l.ID, []string{key, "X-Publink-Actor: " + actor}, `{"password":"hunter2-hunter2"}`)
		if r.Status != http.StatusBadRequest {
			t.Errorf("actor %q: %d, want 400: %s", actor, r.Status, r.Body)
		}
	}
	// Bounded: 256 bytes at most.
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, strings.Repeat("a", 257), nil), http.StatusBadRequest, "actor_required")
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, strings.Repeat("a", 256), nil), http.StatusForbidden, "")
	// A tab inside is refused too; around the id it is trimmed whitespace.
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "ali\tce", nil), http.StatusBadRequest, "invalid_actor")
	expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, " alice\t", nil), http.StatusOK)

	got := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil))
	if got.HasPassword || got.UpdatedBy != "alice" {
		t.Fatalf("a refused actor changed the link: %+v", got)
	}
	if ls := e.listLinks(e.AdminKey, "alice", ""); len(ls) != 1 {
		t.Fatalf("%d links, want 1", len(ls))
	}
	for _, rec := range e.audit() {
		if rec.Actor != "alice" {
			t.Fatalf("audit record by %q", rec.Actor)
		}
	}
	// Every log line is still one JSON object.
	sc := bufio.NewScanner(strings.NewReader(e.GatewayLog()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
	}
}

// TestAttack2ConcurrentPatchKeepsBothChanges: a PATCH setting a password
// read the link, spent tens of milliseconds in argon2id, then wrote back
// its copy: a PATCH made meanwhile (validUntil, answered 200) was silently
// undone, so a link meant to expire never did. Every time, on both stores.
func TestAttack2ConcurrentPatchKeepsBothChanges(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		e := NewEnv(t, o)
		for range 3 {
			l := e.FileLink("file_sunset")
			until := time.Now().Add(time.Hour).Truncate(time.Second)
			var wg sync.WaitGroup
			var pwStatus, untilStatus int
			wg.Add(2)
			go func() {
				defer wg.Done()
				pwStatus = e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"password": pwRight}).Status
			}()
			go func() {
				defer wg.Done()
				time.Sleep(10 * time.Millisecond) // lands while the password is hashed
				untilStatus = e.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"validUntil": rfc3339(until)}).Status
			}()
			wg.Wait()
			if pwStatus != http.StatusOK || untilStatus != http.StatusOK {
				t.Fatalf("PATCHes answered %d and %d", pwStatus, untilStatus)
			}
			got := linkOf(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil))
			if !got.HasPassword || got.ValidUntil == nil || !got.ValidUntil.Equal(until) {
				t.Fatalf("after both PATCHes answered 200: hasPassword %v, validUntil %v (want %v)", got.HasPassword, got.ValidUntil, until)
			}
			expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+l.ID, "alice", nil), http.StatusNoContent)
		}
	})
}

// TestAttack2RestrictedUserFilters: filters and ids do not widen what a
// restricted user may see: downloads of a link he cannot manage or of
// another account, every download of a user, target spellings.
func TestAttack2RestrictedUserFilters(t *testing.T) {
	o := Options{Caddyfile: caddyfileWith(t, "admin_key acme "+acmeKey)}
	e := NewEnv(t, o)
	readme := e.FileLink("file_readme")
	bobs := linkOf(t, e.Admin(http.MethodPost, "/v1/links", "bob", map[string]any{"target": linkTarget("file", "file_sunset")}))
	r := e.AdminKeyed(acmeKey, http.MethodPost, "/v1/links", "alice", map[string]any{"target": linkTarget("file", "file_sunset")})
	expectStatus(t, r, http.StatusCreated)
	acme := linkOf(t, r)
	expectStatus(t, e.Get("/s/"+readme.Token+"/download.zip", nil), http.StatusOK)
	expectStatus(t, e.Get("/s/"+bobs.Token+"/download.zip", nil), http.StatusOK)

	expectStatus(t, e.Admin(http.MethodGet, "/v1/downloads?link="+bobs.ID, "bob", nil), http.StatusOK)
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads?link="+readme.ID, "bob", nil), http.StatusForbidden, "")
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads?link="+acme.ID, "bob", nil), http.StatusNotFound, "")
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads?link="+acme.ID, "alice", nil), http.StatusNotFound, "")
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads?user=alice", "bob", nil), http.StatusForbidden, "")
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/downloads?link=&user=alice", "bob", nil), http.StatusForbidden, "")
	// bob's own link's downloads do not include readme's.
	var dl struct {
		Items []struct {
			LinkID string `json:"linkId"`
		} `json:"items"`
	}
	e.Admin(http.MethodGet, "/v1/downloads?link="+bobs.ID+"&user=", "bob", nil).JSON(t, &dl)
	if len(dl.Items) != 1 || dl.Items[0].LinkID != bobs.ID {
		t.Fatalf("bob's downloads: %+v", dl.Items)
	}
	for _, q := range []string{"FILE:file_sunset", "file:file_sunset:x", "file:file_sunset%00", "file:file_sunset%0A", "file:file_readme%2Cfile:file_sunset"} {
		r := e.Admin(http.MethodGet, "/v1/links?target="+q, "bob", nil)
		if r.Status != http.StatusUnprocessableEntity {
			t.Errorf("target=%s: %d %s", q, r.Status, r.Body)
		}
	}
	// Two target parameters: the first is the one authorized and listed.
	r = e.Admin(http.MethodGet, "/v1/links?target=file:file_sunset&target=file:file_readme", "bob", nil)
	expectStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.Body), readme.ID) || strings.Contains(string(r.Body), acme.ID) {
		t.Fatalf("bob's listing shows others' links: %s", r.Body)
	}
	wantAPIError(t, e.Admin(http.MethodGet, "/v1/links?target=file:file_readme&target=file:file_sunset", "bob", nil), http.StatusForbidden, "")
}

// TestAttack2FleetChanges: node B sees within a second what node A was
// told: a password change (B's unlock cookie stops working), and target
// deletions delivered by webhook to A only (B's own origin still has the
// targets). A delivery A applied is not applied again by B.
func TestAttack2FleetChanges(t *testing.T) {
	redisURL := testenv.StartRedis(t)
	a := NewEnv(t, Options{Redis: true, RedisURL: redisURL, NoWebhook: true})
	b := NewEnv(t, Options{Redis: true, RedisURL: redisURL, NoWebhook: true})
	l := a.CreateLink(map[string]any{"target": linkTarget("file", "file_sunset"), "password": pwRight})
	docs := a.CreateLink(map[string]any{"target": linkTarget("folder", "fld_docs")})
	readme := a.FileLink("file_readme")

	r := b.unlockPost(l.Token, pwRight, map[string]string{"Origin": b.GatewayURL})
	expectStatus(t, r, http.StatusSeeOther)
	c := unlockCookie(t, r, l.Token)
	expectStatus(t, b.Get("/s/"+l.Token+"/files/file_sunset", mergeHdr(acceptJSONHdr, cookieHdr(c))), http.StatusOK)
	expectStatus(t, b.Get("/s/"+docs.Token+"/files", acceptJSONHdr), http.StatusOK)

	expectStatus(t, a.Admin(http.MethodPatch, "/v1/links/"+l.ID, "alice", map[string]any{"password": pwSecond}), http.StatusOK)
	eventually(t, time.Second, "node B refuses the cookie of the old password", func() bool {
		return b.Get("/s/"+l.Token+"/files/file_sunset", mergeHdr(acceptJSONHdr, cookieHdr(c))).Status == http.StatusUnauthorized
	})

	send := func(e *Env, id string, body []byte) {
		t.Helper()
		if r := e.webhookCall(t, e.WebhookSecret, id, time.Now(), body); r.Status/100 != 2 {
			t.Fatalf("webhook %s: %d %s", id, r.Status, r.Body)
		}
	}
	send(a, "evt_fleet_1", eventBody("evt_fleet_1", "file.deleted", "fileId", "file_sunset"))
	eventually(t, time.Second, "node B stops serving the deleted file's link", func() bool {
		return b.Get("/s/"+l.Token+"/files/file_sunset", mergeHdr(acceptJSONHdr, cookieHdr(c))).Status == http.StatusNotFound
	})
	send(a, "evt_fleet_2", eventBody("evt_fleet_2", "folder.deleted", "folderId", "fld_docs"))
	eventually(t, time.Second, "node B stops serving the deleted folder's link", func() bool {
		return b.Get("/s/"+docs.Token+"/files", acceptJSONHdr).Status == http.StatusNotFound
	})
	// B's origin still has both: B did not learn it there.
	if r := b.Manage(http.MethodGet, "/manage/requests", nil); r.Status != http.StatusOK {
		t.Fatalf("origin B: %d", r.Status)
	}

	// A delivery applied on A, replayed to B after a new link was made.
	send(a, "evt_fleet_3", eventBody("evt_fleet_3", "file.moved", "fileId", "file_readme"))
	a.waitDeleted(t, readme.ID, "system", "target_moved", 2*time.Second)
	fresh := b.FileLink("file_readme")
	send(b, "evt_fleet_3", eventBody("evt_fleet_3", "file.moved", "fileId", "file_readme"))
	expectStatus(t, b.Admin(http.MethodGet, "/v1/links/"+fresh.ID, "alice", nil), http.StatusOK)
	expectStatus(t, b.Get("/s/"+fresh.Token+"/files/file_readme", acceptJSONHdr), http.StatusOK)
}

// TestAttack2OneKeyTwoAccounts: the same admin key configured for two
// accounts was accepted, and the key silently acted for the last account
// only, so one tenant's backend managed the other's links. Refused at load.
func TestAttack2OneKeyTwoAccounts(t *testing.T) {
	for _, c := range []struct {
		name, line string
		ok         bool
	}{
		{"same key, other account", "admin_key acme " + testAdminKey, false},
		{"same key as a hash, other account", fmt.Sprintf("admin_key_sha256 acme %x", sha256.Sum256([]byte(testAdminKey))), false},
		{"same key, same account", "admin_key default " + testAdminKey, true},
		{"other key, other account", "admin_key acme " + acmeKey, true},
	} {
		cf := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(cf, []byte(caddyfileWith(t, c.line)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(filepath.Join(binDir, "publink"), "validate", "--config", cf, "--adapter", "caddyfile")
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir(), "PUBLINK_ADMIN_KEY="+testAdminKey,
			"PUBLINK_DATA_DIR="+t.TempDir(), "PUBLINK_ORIGIN=http://127.0.0.1:9", "PUBLINK_ORIGIN_SECRET="+testOriginSecret,
			"PUBLINK_COOKIE_KEY="+testCookieKey)
		out, err := cmd.CombinedOutput()
		if (err == nil) != c.ok {
			t.Errorf("%s: validate err=%v, want ok=%v:\n%s", c.name, err, c.ok, tail(string(out), 1500))
		}
		if !c.ok && !strings.Contains(string(out), "already bound to account") {
			t.Errorf("%s: error does not say why:\n%s", c.name, tail(string(out), 1500))
		}
	}
}

// TestAttack2WebhookOddDeliveries: deliveries an attacker who saw one
// (or a confused origin) could send: ids that look like store keys, a
// signature list with extra whitespace and bogus entries, an oversized
// body. Signed ones are applied once per id; nothing else changes links.
func TestAttack2WebhookOddDeliveries(t *testing.T) {
	stores(t, func(t *testing.T, o Options) {
		o.NoWebhook = true
		e := NewEnv(t, o)
		for i, id := range []string{"evt:{acct:default}:link:x", "}{tgt:file:file_sunset}", "publink:seen:webhook:evt", "evt %0A\u2028\u00ff"} {
			l := e.FileLink("file_sunset")
			body := eventBody(fmt.Sprint("e", i), "file.deleted", "fileId", "file_sunset")
			if r := e.webhookCall(t, e.WebhookSecret, id, time.Now(), body); r.Status/100 != 2 {
				t.Fatalf("webhook id %q: %d %s", id, r.Status, r.Body)
			}
			e.waitDeleted(t, l.ID, "system", "target_deleted", 2*time.Second)
			l2 := e.FileLink("file_sunset")
			if r := e.webhookCall(t, e.WebhookSecret, id, time.Now(), body); r.Status/100 != 2 {
				t.Fatalf("replayed webhook id %q: %d %s", id, r.Status, r.Body)
			}
			expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l2.ID, "alice", nil), http.StatusOK)
			expectStatus(t, e.Admin(http.MethodDelete, "/v1/links/"+l2.ID, "alice", nil), http.StatusNoContent)
		}

		l := e.FileLink("file_readme")
		now := time.Now()
		send := func(id, sig string, body []byte) *Response {
			hdr := map[string]string{"webhook-id": id, "webhook-timestamp": fmt.Sprint(now.Unix()), "webhook-signature": sig}
			return e.Do(http.MethodPost, e.AdminURL+"/v1/events", strings.NewReader(string(body)), hdr)
		}
		huge := []byte(`{"type":"file.deleted","data":{"fileId":"file_readme"},"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
		h, _ := webhook.Headers(e.WebhookSecret, "evt_huge", now, huge)
		if r := send("evt_huge", h.Get("webhook-signature"), huge); r.Status/100 != 4 {
			t.Fatalf("oversized webhook: %d %s", r.Status, r.Body)
		}
		body := eventBody("evt_ws", "file.deleted", "fileId", "file_readme")
		h, _ = webhook.Headers(e.WebhookSecret, "evt_ws", now, body)
		good := h.Get("webhook-signature")
		for _, sig := range []string{"v1," + strings.ToUpper(good[3:]), "v1, " + good[3:], "V1," + good[3:], "v1," + good[3:len(good)-2], good[3:], "v1;" + good[3:]} {
			if r := send("evt_ws", sig, body); r.Status != http.StatusUnauthorized {
				t.Fatalf("signature %q: %d %s", sig, r.Status, r.Body)
			}
		}
		expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusOK)
		if r := send("evt_ws", "  v2,abc \t v1,!!! "+good+"  ", body); r.Status/100 != 2 {
			t.Fatalf("signature list with whitespace: %d %s", r.Status, r.Body)
		}
		e.waitDeleted(t, l.ID, "system", "target_deleted", 2*time.Second)
	})
}

// TestAttack2CLIPathArgs: a link id given to the CLI cannot reach another
// endpoint or another link (dot segments, slashes, queries are escaped).
func TestAttack2CLIPathArgs(t *testing.T) {
	e := NewEnv(t, Options{})
	l := e.FileLink("file_sunset")
	env := map[string]string{"PUBLINK_API": e.AdminURL, "PUBLINK_ADMIN_KEY": e.AdminKey, "PUBLINK_ACTOR": "alice"}
	for _, id := range []string{"..", "../links/" + l.ID, l.ID + "/../" + l.ID, l.ID + "?x=1", l.ID + "#", "%2e%2e", l.ID + "%00"} {
		if out, errOut, code := publinkCLI(t, env, "", "delete", id); code == 0 {
			t.Fatalf("delete %q succeeded: %s%s", id, out, errOut)
		}
	}
	expectStatus(t, e.Admin(http.MethodGet, "/v1/links/"+l.ID, "alice", nil), http.StatusOK)
}

func mergeHdr(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
