package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
	"github.com/publink/publink/webhook"
)

// webhookReplayTTL keeps delivered webhook ids longer than a delivery can be
// accepted: a timestamp is accepted from Tolerance before to Tolerance after
// now, so a delivery dated Tolerance ahead stays acceptable for 2×Tolerance
// (10 minutes); the margin covers clock skew between gateway nodes, which
// would otherwise let a replay reach a node after the id was forgotten.
const webhookReplayTTL = 2*webhook.Tolerance + 5*time.Minute

// event is an origin webhook body.
type event struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	CreatedAt string `json:"created_at"`
	Data      struct {
		FileID       string `json:"fileId"`
		FolderID     string `json:"folderId"`
		CollectionID string `json:"collectionId"`
	} `json:"data"`
}

// events applies an origin webhook: deletes the links of a deleted or moved
// target. Deliveries are verified, dated and applied once per webhook-id.
func (ad *Admin) events(w http.ResponseWriter, r *http.Request) error {
	a := ad.app
	if a.WebhookSecret == "" {
		return errf(http.StatusNotFound, "not_found", "webhooks are not configured")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil || len(body) > maxAdminBody {
		return errf(http.StatusBadRequest, "bad_request", "unreadable or oversized body")
	}
	id, err := webhook.Verify(a.WebhookSecret, r.Header, body, a.now())
	if err != nil {
		return errf(http.StatusUnauthorized, "invalid_signature", "%v", err)
	}
	var ev event
	if err := json.Unmarshal(body, &ev); err != nil {
		return errf(http.StatusBadRequest, "malformed_json", "%v", err)
	}
	var target policy.Target
	reason := "target_deleted"
	switch ev.Type {
	case "file.deleted", "file.moved":
		target = policy.Target{Type: policy.TargetFile, ID: ev.Data.FileID}
	case "folder.deleted", "folder.moved":
		target = policy.Target{Type: policy.TargetFolder, ID: ev.Data.FolderID}
	case "collection.deleted":
		target = policy.Target{Type: policy.TargetCollection, ID: ev.Data.CollectionID}
	default:
		// Unknown types are acknowledged so the origin does not retry them.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if ev.Type == "file.moved" || ev.Type == "folder.moved" {
		reason = "target_moved"
	}
	if !policy.ValidID(target.ID) {
		return errf(http.StatusBadRequest, "invalid_event", "event data lacks a valid id")
	}
	// Read first: if the store fails here, the delivery is not yet marked
	// as seen and the origin's retry is applied.
	links, err := a.store.LinksForTarget(r.Context(), target)
	if err != nil {
		return err
	}
	first, err := a.store.FirstSeen(r.Context(), "webhook:"+id, webhookReplayTTL)
	if err != nil {
		return err
	}
	if !first {
		// A replay: applying it again could delete links made since.
		ad.logger.Info("webhook replay ignored", zap.String("type", ev.Type), zap.String("target", target.String()))
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	for _, l := range links {
		a.removeLink(r.Context(), l, "system", reason)
	}
	a.facts.forget(target.String()) // the key originFile & co. cache it under
	if target.Type == policy.TargetFolder {
		// Files and subfolders inside it went with it: check every file and
		// folder link against the origin now rather than on its next visit.
		a.recheckTargetsAsync()
	}
	ad.logger.Info("webhook applied", zap.String("type", ev.Type), zap.String("target", target.String()), zap.Int("links_deleted", len(links)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recheckTimeout bounds one pass of recheckTargets.
const recheckTimeout = time.Minute

// recheckTargetsAsync starts recheckTargets off the webhook's request; the
// app's wait group lets Stop wait for it.
func (a *App) recheckTargetsAsync() {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), recheckTimeout)
		defer cancel()
		a.recheckTargets(ctx)
	}()
}

// recheckTargets asks the origin about the target of every file and folder
// link of every configured account, bypassing the fact cache, and removes
// the links whose target is gone or moved (resolveScope does the removing
// and the audit). A folder event names only the folder; this is how links
// to what was inside it go at once too. Limits keep it small: at most
// max_links_per_account links per account.
func (a *App) recheckTargets(ctx context.Context) {
	seen := map[string]bool{}
	for _, account := range a.adminKeys {
		if seen[account] {
			continue
		}
		seen[account] = true
		page := store.Page{Limit: 500}
		for {
			links, next, err := a.store.ListLinks(ctx, account, nil, page)
			if err != nil {
				a.logger.Warn("rechecking link targets", zap.Error(err))
				return
			}
			for _, l := range links {
				if l.Target.Type == policy.TargetCollection || !l.Live(a.now()) {
					continue
				}
				a.facts.forget(l.Target.String())
				if _, err := a.resolveScope(ctx, l); err != nil && !errors.Is(err, errTargetGone) && ctx.Err() == nil {
					a.logger.Debug("rechecking a link target", zap.String("link", l.ID), zap.Error(err))
				}
			}
			if next == "" {
				break
			}
			page.Cursor = next
		}
	}
}
