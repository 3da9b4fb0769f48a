package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

// createRequest is the body of POST /v1/links.
type createRequest struct {
	Target            *policy.Target `json:"target"`
	ValidFrom         *string        `json:"validFrom"`
	ValidUntil        *string        `json:"validUntil"`
	Password          *string        `json:"password"`
	ExposeUnpublished *bool          `json:"exposeUnpublished"`
}

func (c *adminCall) actor() (string, error) {
	raw := c.r.Header.Get("X-Publink-Actor")
	actor := strings.TrimSpace(raw)
	if actor == "" || len(actor) > 256 {
		return "", errf(http.StatusBadRequest, "actor_required", "the X-Publink-Actor header must name the acting user")
	}
	// The actor lands in link JSON, audit records, logs and CLI tables:
	// HTTP already refuses CR, LF and other ASCII controls in headers, but
	// not bytes >= 0x80, so refuse what is not UTF-8 and the controls,
	// bidi overrides and line separators that could disguise it there
	// (checked before trimming, which would drop a trailing U+0085).
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool {
		return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
	}) {
		return "", errf(http.StatusBadRequest, "invalid_actor", "the X-Publink-Actor header holds characters a user id cannot have")
	}
	return actor, nil
}

// parseTime reads an optional RFC 3339 field; JSON null clears it.
func parseTime(field string, s *string) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil, errf(http.StatusUnprocessableEntity, "invalid_"+field, "%s must be an RFC 3339 time", field)
	}
	t = t.UTC()
	return &t, nil
}

func checkTarget(t *policy.Target) error {
	if t == nil || !t.Type.Valid() || !policy.ValidID(t.ID) {
		return errf(http.StatusUnprocessableEntity, "invalid_target", "target needs type file, folder or collection and an id of letters, digits, '-' and '_'")
	}
	return nil
}

func checkPassword(pw string) error {
	if pw == "" || len(pw) > maxPasswordLen {
		return errf(http.StatusUnprocessableEntity, "invalid_password", "password must be 1 to %d bytes", maxPasswordLen)
	}
	return nil
}

// checkWindow validates a link's window; changedUntil says whether
// validUntil is being set now (only a newly set bound must be in the future).
func checkWindow(l *policy.Link, now time.Time, changedUntil bool) error {
	if changedUntil && l.ValidUntil != nil && !l.ValidUntil.After(now) {
		return errf(http.StatusUnprocessableEntity, "invalid_validUntil", "validUntil must be in the future")
	}
	if l.ValidFrom != nil && l.ValidUntil != nil && !l.ValidUntil.After(*l.ValidFrom) {
		return errf(http.StatusUnprocessableEntity, "invalid_window", "validUntil must be after validFrom")
	}
	if l.ExposeUnpublished && l.Target.Type == policy.TargetFile {
		return errf(http.StatusUnprocessableEntity, "invalid_exposeUnpublished", "exposeUnpublished applies to folder and collection links only")
	}
	return nil
}

// authorize requires manage on the target (admins have it everywhere).
func (c *adminCall) authorize(actor string, t policy.Target) error {
	p, err := c.ad.app.permission(c.r.Context(), actor, t)
	if err != nil {
		return err
	}
	if p.Role == "admin" || p.Permission == "manage" {
		return nil
	}
	return errf(http.StatusForbidden, "forbidden", "manage permission on the target is required")
}

// requireAdmin requires the account-wide admin role.
// The role is the user's whatever the target, but SPEC §6's permissions
// call always names one: ask about the root folder, and, should the origin
// answer 404 because it knows no such target, once more naming none.
func (c *adminCall) requireAdmin(actor string) error {
	a := c.ad.app
	p, err := a.permission(c.r.Context(), actor, policy.Target{Type: policy.TargetFolder, ID: "root"})
	if err != nil {
		return err
	}
	if p.Role == "none" {
		// Any failure here leaves the answer at "no".
		p, _ = a.permission(c.r.Context(), actor, policy.Target{})
	}
	if p.Role != "admin" {
		return errf(http.StatusForbidden, "forbidden", "the admin role is required")
	}
	return nil
}

// permission asks the origin, caching the answer briefly. An unknown user
// has no permission at all.
func (a *App) permission(ctx context.Context, user string, t policy.Target) (origin.Permission, error) {
	key := "perm:" + user + "\x00" + t.String()
	if v, ok := a.perms.get(key); ok {
		return v.(origin.Permission), nil
	}
	p, err := a.origin.Permission(ctx, user, t)
	if errors.Is(err, origin.ErrNotFound) {
		p, err = origin.Permission{Role: "none", Permission: "none"}, nil
	}
	if err != nil {
		return p, err
	}
	a.perms.put(key, p)
	return p, nil
}

// targetPath checks the target exists at the origin and returns its path
// (files and folders) so a later move can be noticed.
func (a *App) targetPath(ctx context.Context, t policy.Target) (string, error) {
	var p string
	var err error
	switch t.Type {
	case policy.TargetFile:
		var f *origin.File
		if f, err = a.origin.File(ctx, "", t.ID); err == nil {
			p = f.FilePath
		}
	case policy.TargetFolder:
		var f *origin.Folder
		if f, err = a.origin.Folder(ctx, "", t.ID); err == nil {
			p = f.FolderPath
		}
	case policy.TargetCollection:
		_, err = a.origin.Collection(ctx, "", t.ID)
	}
	if errors.Is(err, origin.ErrNotFound) {
		return "", errf(http.StatusNotFound, "target_not_found", "the target does not exist at the origin")
	}
	return p, err
}

func (c *adminCall) createLink() error {
	actor, err := c.actor()
	if err != nil {
		return err
	}
	var req createRequest
	if err := c.decodeBody(&req); err != nil {
		return err
	}
	a := c.ad.app
	now := a.now().UTC().Truncate(time.Second)
	if err := checkTarget(req.Target); err != nil {
		return err
	}
	l := &policy.Link{
		ID: newID("lnk"), Token: newToken(), Account: c.account, Target: *req.Target,
		CreatedAt: now, CreatedBy: actor, UpdatedAt: now, UpdatedBy: actor,
	}
	if l.ValidFrom, err = parseTime("validFrom", req.ValidFrom); err != nil {
		return err
	}
	if l.ValidUntil, err = parseTime("validUntil", req.ValidUntil); err != nil {
		return err
	}
	if req.ExposeUnpublished != nil {
		l.ExposeUnpublished = *req.ExposeUnpublished
	}
	if err := checkWindow(l, a.now(), true); err != nil {
		return err
	}
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return err
		}
	}
	if err := c.authorize(actor, l.Target); err != nil {
		return err
	}
	if l.TargetPath, err = a.targetPath(c.r.Context(), l.Target); err != nil {
		return err
	}
	if req.Password != nil {
		if l.PasswordHash, err = a.hashPassword(c.r.Context(), *req.Password); err != nil {
			return err
		}
		l.PasswordVersion = 1
	}
	limits := store.Limits{PerTarget: a.MaxLinksPerTarget, PerAccount: a.MaxLinksPerAccount}
	switch err := a.store.CreateLink(c.r.Context(), l, limits, a.now()); {
	case errors.Is(err, store.ErrLimitTarget):
		return errf(http.StatusConflict, "link_limit_target", "the target already has %d live links", a.MaxLinksPerTarget)
	case errors.Is(err, store.ErrLimitAccount):
		return errf(http.StatusConflict, "link_limit_account", "the account already has %d live links", a.MaxLinksPerAccount)
	case err != nil:
		return err
	}
	a.metrics.linkCreated()
	a.writeAudit(c.r.Context(), store.AuditRecord{Account: c.account, Actor: actor, Action: "link.created", LinkID: l.ID, Target: l.Target})
	c.w.Header().Set("Location", "/v1/links/"+l.ID)
	return writeJSON(c.w, c.r, http.StatusCreated, a.view(l))
}

// pageParams reads limit and cursor.
func (c *adminCall) pageParams() (store.Page, error) {
	q := c.r.URL.Query()
	p := store.Page{Cursor: q.Get("cursor"), Limit: 50}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return p, errf(http.StatusUnprocessableEntity, "invalid_limit", "limit must be 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

type linkList struct {
	Items []linkView `json:"items"`
	Next  string     `json:"next,omitempty"`
}

func (c *adminCall) listLinks() error {
	actor, err := c.actor()
	if err != nil {
		return err
	}
	page, err := c.pageParams()
	if err != nil {
		return err
	}
	var target *policy.Target
	if ts := c.r.URL.Query().Get("target"); ts != "" {
		typ, id, _ := strings.Cut(ts, ":")
		target = &policy.Target{Type: policy.TargetType(typ), ID: id}
		if err := checkTarget(target); err != nil {
			return errf(http.StatusUnprocessableEntity, "invalid_target", "target must be type:id with type file, folder or collection")
		}
		if err := c.authorize(actor, *target); err != nil {
			return err
		}
	} else if err := c.requireAdmin(actor); err != nil {
		return err
	}
	a := c.ad.app
	links, next, err := a.store.ListLinks(c.r.Context(), c.account, target, page)
	if err != nil {
		return err
	}
	out := linkList{Items: []linkView{}, Next: next}
	now := a.now()
	for _, l := range links {
		if !l.Expired(now) {
			out.Items = append(out.Items, a.view(l))
		}
	}
	return writeJSON(c.w, c.r, http.StatusOK, out)
}

// loadLink fetches one of the account's live links and checks the actor
// may manage it.
func (c *adminCall) loadLink(id string) (*policy.Link, string, error) {
	actor, err := c.actor()
	if err != nil {
		return nil, "", err
	}
	a := c.ad.app
	if !policy.ValidID(id) {
		return nil, "", errf(http.StatusNotFound, "not_found", "no such link")
	}
	l, err := a.store.GetLink(c.r.Context(), c.account, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && l.Expired(a.now())) {
		return nil, "", errf(http.StatusNotFound, "not_found", "no such link")
	}
	if err != nil {
		return nil, "", err
	}
	if err := c.authorize(actor, l.Target); err != nil {
		return nil, "", err
	}
	return l, actor, nil
}

func (c *adminCall) getLink(id string) error {
	l, _, err := c.loadLink(id)
	if err != nil {
		return err
	}
	return writeJSON(c.w, c.r, http.StatusOK, c.ad.app.view(l))
}

func (c *adminCall) deleteLink(id string) error {
	l, actor, err := c.loadLink(id)
	if err != nil {
		return err
	}
	err = c.ad.app.deleteAndAudit(c.r.Context(), l, actor, "api")
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, "not_found", "no such link")
	}
	if err != nil {
		return err
	}
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// patchable are the fields a merge patch may set.
var patchable = map[string]bool{"validFrom": true, "validUntil": true, "password": true, "exposeUnpublished": true}

func (c *adminCall) updateLink(id string) error {
	var patch map[string]json.RawMessage
	if err := c.decodeBody(&patch); err != nil {
		return err
	}
	if patch == nil {
		return errf(http.StatusBadRequest, "malformed_json", "the body must be a JSON object")
	}
	for k := range patch {
		if !patchable[k] {
			return errf(http.StatusBadRequest, "unknown_field", "field %q cannot be changed", k)
		}
	}
	l, actor, err := c.loadLink(id)
	if err != nil {
		return err
	}
	a := c.ad.app
	// Hash a new password before the write loop below: argon2id takes tens
	// of milliseconds, and is done once however often the write is retried.
	newHash := ""
	if raw, ok := patch["password"]; ok && !isJSONNull(raw) {
		var pw string
		if err := json.Unmarshal(raw, &pw); err != nil {
			return errf(http.StatusUnprocessableEntity, "invalid_password", "password must be a string or null")
		}
		if err := checkPassword(pw); err != nil {
			return err
		}
		if newHash, err = a.hashPassword(c.r.Context(), pw); err != nil {
			return err
		}
	}
	// Apply the patch to a fresh copy and write it back as a
	// compare-and-swap; a concurrent edit in between makes the store say
	// ErrStale, and the patch is applied again to the newer copy, so no
	// change is lost and no two password changes share a version.
	for attempt := 1; ; attempt++ {
		changes, err := applyPatch(l, patch, newHash, a.now())
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return writeJSON(c.w, c.r, http.StatusOK, a.view(l))
		}
		l.UpdatedAt = a.now().UTC().Truncate(time.Second)
		l.UpdatedBy = actor
		err = a.store.UpdateLink(c.r.Context(), l)
		if errors.Is(err, store.ErrStale) && attempt < 5 {
			if l, actor, err = c.loadLink(id); err != nil {
				return err
			}
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return errf(http.StatusNotFound, "not_found", "no such link")
		}
		if errors.Is(err, store.ErrStale) {
			return errf(http.StatusConflict, "conflict", "the link is being changed by someone else; try again")
		}
		if err != nil {
			return err
		}
		a.links.forget(l.Token)
		a.writeAudit(c.r.Context(), store.AuditRecord{Account: c.account, Actor: actor, Action: "link.updated", LinkID: l.ID, Target: l.Target, Changes: changes})
		return writeJSON(c.w, c.r, http.StatusOK, a.view(l))
	}
}

// applyPatch applies a validated merge patch to l and names the fields it
// changed, sorted; newHash is the already hashed new password, if any.
func applyPatch(l *policy.Link, patch map[string]json.RawMessage, newHash string, now time.Time) ([]string, error) {
	var changes []string
	setTime := func(field string, dst **time.Time) error {
		raw, ok := patch[field]
		if !ok {
			return nil
		}
		var t *time.Time
		if !isJSONNull(raw) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return errf(http.StatusUnprocessableEntity, "invalid_"+field, "%s must be an RFC 3339 string or null", field)
			}
			var err error
			if t, err = parseTime(field, &s); err != nil {
				return err
			}
		}
		if !sameTime(*dst, t) {
			*dst = t
			changes = append(changes, field)
		}
		return nil
	}
	if err := setTime("validFrom", &l.ValidFrom); err != nil {
		return nil, err
	}
	if err := setTime("validUntil", &l.ValidUntil); err != nil {
		return nil, err
	}
	if raw, ok := patch["exposeUnpublished"]; ok {
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil || isJSONNull(raw) {
			return nil, errf(http.StatusUnprocessableEntity, "invalid_exposeUnpublished", "exposeUnpublished must be true or false")
		}
		if b != l.ExposeUnpublished {
			l.ExposeUnpublished = b
			changes = append(changes, "exposeUnpublished")
		}
	}
	if err := checkWindow(l, now, slices.Contains(changes, "validUntil")); err != nil {
		return nil, err
	}
	if raw, ok := patch["password"]; ok {
		if isJSONNull(raw) {
			if l.HasPassword() {
				l.PasswordHash = ""
				l.PasswordVersion++
				changes = append(changes, "password")
			}
		} else {
			l.PasswordHash = newHash
			l.PasswordVersion++
			changes = append(changes, "password")
		}
	}
	sort.Strings(changes)
	return changes, nil
}

// isJSONNull reports whether a raw JSON value is null.
func isJSONNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

type auditList struct {
	Items []auditView `json:"items"`
	Next  string      `json:"next,omitempty"`
}

// auditView is an audit record as the API shows it: every field present,
// changes an array (names only, never values) and reason null when none.
type auditView struct {
	ID      string        `json:"id"`
	Time    time.Time     `json:"time"`
	Actor   string        `json:"actor"`
	Action  string        `json:"action"`
	LinkID  string        `json:"linkId"`
	Target  policy.Target `json:"target"`
	Changes []string      `json:"changes"`
	Reason  *string       `json:"reason"`
}

func newAuditView(r store.AuditRecord) auditView {
	v := auditView{ID: r.ID, Time: r.Time, Actor: r.Actor, Action: r.Action, LinkID: r.LinkID, Target: r.Target, Changes: r.Changes}
	if v.Changes == nil {
		v.Changes = []string{}
	}
	if r.Reason != "" {
		v.Reason = &r.Reason
	}
	return v
}

func (c *adminCall) listAudit() error {
	actor, err := c.actor()
	if err != nil {
		return err
	}
	if err := c.requireAdmin(actor); err != nil {
		return err
	}
	page, err := c.pageParams()
	if err != nil {
		return err
	}
	recs, next, err := c.ad.app.store.ListAudit(c.r.Context(), c.account, page)
	if err != nil {
		return err
	}
	out := auditList{Items: make([]auditView, 0, len(recs)), Next: next}
	for _, rec := range recs {
		out.Items = append(out.Items, newAuditView(rec))
	}
	return writeJSON(c.w, c.r, http.StatusOK, out)
}

// downloadView is a download as the library sees it.
type downloadView struct {
	store.Download
	ViaPublicLink bool `json:"viaPublicLink"`
}

func (c *adminCall) listDownloads() error {
	actor, err := c.actor()
	if err != nil {
		return err
	}
	q := c.r.URL.Query()
	f := store.DownloadFilter{Account: c.account, LinkID: q.Get("link"), User: q.Get("user")}
	if f.LinkID != "" {
		if _, _, err := c.loadLink(f.LinkID); err != nil {
			return err
		}
	} else if err := c.requireAdmin(actor); err != nil {
		return err
	}
	ds, err := c.ad.app.store.ListDownloads(c.r.Context(), f, 500)
	if err != nil {
		return err
	}
	out := struct {
		Items []downloadView `json:"items"`
	}{Items: []downloadView{}}
	for _, d := range ds {
		out.Items = append(out.Items, downloadView{Download: d, ViaPublicLink: true})
	}
	return writeJSON(c.w, c.r, http.StatusOK, out)
}
