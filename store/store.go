// Package store persists publink's links, audit log, throttle counters,
// webhook deliveries and download records. One interface, two
// implementations: Redis for a fleet (store/redisstore) and an embedded bbolt
// file for a single node (store/boltstore). store/storetest is the contract
// suite both must pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/publink/publink/policy"
)

// Errors every implementation returns (wrapped or not; test with errors.Is).
var (
	ErrNotFound     = errors.New("store: not found")
	ErrLimitTarget  = errors.New("store: link limit for the target reached")
	ErrLimitAccount = errors.New("store: link limit for the account reached")
	ErrConflict     = errors.New("store: id or token already exists")
	// ErrStale means UpdateLink lost a race: the link changed since it was
	// read (its Revision moved on). Read it again and reapply the change.
	ErrStale = errors.New("store: link changed since it was read")
	// ErrInvalidCursor is a page cursor the store did not make: a client
	// error (the admin API answers 422), not a failure.
	ErrInvalidCursor = errors.New("store: invalid cursor")
	// ErrUnavailable wraps failures to reach the backing server, so the
	// gateway can fail closed with 503.
	ErrUnavailable = errors.New("store: unavailable")
)

// Limits caps live links at create time. Zero means no limit.
type Limits struct {
	PerTarget  int
	PerAccount int
}

// AuditRecord is one entry of the audit log.
type AuditRecord struct {
	ID      string        `json:"id"`
	Time    time.Time     `json:"time"`
	Account string        `json:"-"`
	Actor   string        `json:"actor"`
	Action  string        `json:"action"`
	LinkID  string        `json:"linkId"`
	Target  policy.Target `json:"target"`
	// Changes names the fields an update changed; never their values.
	Changes []string `json:"changes,omitempty"`
	Reason  string   `json:"reason,omitempty"`
}

// Download records one zip download made through a link.
type Download struct {
	ID        string    `json:"id"`
	Account   string    `json:"-"`
	LinkID    string    `json:"linkId"`
	Session   string    `json:"-"`
	User      string    `json:"user,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Files     int       `json:"files"`
	Bytes     int64     `json:"bytes"`
	Status    string    `json:"status"`
}

// DownloadFilter selects downloads; empty fields match anything.
type DownloadFilter struct {
	Account string
	LinkID  string
	Session string
	User    string
}

// Match reports whether d passes the filter.
func (f DownloadFilter) Match(d Download) bool {
	return (f.Account == "" || d.Account == f.Account) && (f.LinkID == "" || d.LinkID == f.LinkID) &&
		(f.Session == "" || d.Session == f.Session) && (f.User == "" || d.User == f.User)
}

// Page is a cursor-paged slice request. An empty Cursor starts at the
// beginning; the returned next cursor is empty at the end.
type Page struct {
	Cursor string
	Limit  int
}

// Store is what the gateway needs from persistence. Every method is safe for
// concurrent use by many goroutines and, for Redis, many nodes.
type Store interface {
	// CreateLink stores l if, counting only links live at now (not past
	// their validUntil), the target and the account are under limits. The
	// check and the write are one atomic step.
	CreateLink(ctx context.Context, l *policy.Link, limits Limits, now time.Time) error
	// GetLink returns a link of account by id, or ErrNotFound.
	GetLink(ctx context.Context, account, id string) (*policy.Link, error)
	// LinkByToken returns the link a share token names, or ErrNotFound.
	LinkByToken(ctx context.Context, token string) (*policy.Link, error)
	// UpdateLink replaces a stored link (same id, account, token, target)
	// if its stored Revision still equals l.Revision, and then increments
	// l.Revision; otherwise it returns ErrStale and stores nothing.
	UpdateLink(ctx context.Context, l *policy.Link) error
	// DeleteLink removes a link and returns what was removed. Of several
	// concurrent deletes of one link exactly one succeeds; the others get
	// ErrNotFound, so exactly one audit record is written.
	DeleteLink(ctx context.Context, account, id string) (*policy.Link, error)
	// ListLinks pages an account's links in creation order, optionally only
	// those of one target.
	ListLinks(ctx context.Context, account string, target *policy.Target, page Page) ([]*policy.Link, string, error)
	// LinksForTarget returns every link, of any account, sharing target.
	LinksForTarget(ctx context.Context, target policy.Target) ([]*policy.Link, error)
	// ExpiredLinks returns up to limit links whose validUntil <= now.
	ExpiredLinks(ctx context.Context, now time.Time, limit int) ([]*policy.Link, error)

	// AppendAudit adds a record; ListAudit pages an account's records,
	// newest first.
	AppendAudit(ctx context.Context, rec AuditRecord) error
	ListAudit(ctx context.Context, account string, page Page) ([]AuditRecord, string, error)

	// Incr adds one to the counter key, which starts at zero and resets
	// window after its first increment, and returns the new count and the
	// time left until the reset.
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	// Count returns a counter's value and time to reset without changing it.
	Count(ctx context.Context, key string) (int64, time.Duration, error)

	// FirstSeen records key for ttl and reports whether it was new. Used to
	// apply a webhook delivery once.
	FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error)

	// AddDownload stores or replaces a download record (by ID).
	AddDownload(ctx context.Context, d Download) error
	// ListDownloads returns matching downloads, newest first, at most limit.
	ListDownloads(ctx context.Context, f DownloadFilter, limit int) ([]Download, error)

	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
