// Package caddymodule is publink's Caddy glue: the publink app (store,
// origin client, keys, limits and background work shared by every handler),
// the publink visitor handler, the publink_admin handler and their Caddyfile
// grammar. Decisions live in package policy; this package does the I/O.
package caddymodule

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
	"github.com/publink/publink/store/boltstore"
	"github.com/publink/publink/store/redisstore"
)

func init() {
	caddy.RegisterModule(new(App))
}

// Defaults for the app's settings (SPEC §2, §4).
const (
	defaultPerTarget      = 5
	defaultPerAccount     = 100
	defaultIPFailures     = 5
	defaultIPWindow       = 15 * time.Minute
	defaultLinkFailures   = 100
	defaultLinkWindow     = time.Hour
	defaultCacheTTL       = 500 * time.Millisecond
	defaultOriginTimeout  = 30 * time.Second
	defaultHashSlots      = 4
	defaultSweepInterval  = 5 * time.Second
	defaultBasePath       = "/s"
	maxCookieLifetime     = 12 * time.Hour
	defaultPermissionTTL  = 5 * time.Second
	defaultPublicURL      = "http://localhost:8080"
	defaultAccount        = "default"
	minSecretLen          = 16
	maxPasswordLen        = 1024
	defaultProductName    = "publink"
	defaultOriginInterval = time.Second
)

// App is the publink app: the state every publink handler shares. It is
// configured by the global `publink` Caddyfile option.
type App struct {
	// Redis URL of the shared store (redis://, rediss://, redis+sentinel://,
	// redis+cluster://). Empty selects the embedded store.
	Redis string `json:"redis,omitempty"`
	// DataDir is the embedded store's folder. Default: Caddy's data dir.
	DataDir string `json:"data_dir,omitempty"`
	// Origin is the media store's base URL.
	Origin string `json:"origin,omitempty"`
	// OriginSecret signs every request to the origin (HMAC-SHA256).
	OriginSecret string `json:"origin_secret,omitempty"`
	// OriginTimeout bounds waiting for an origin's response headers
	// (default 30s).
	OriginTimeout caddy.Duration `json:"origin_timeout,omitempty"`
	// PublicURL is the base of share URLs, e.g. https://share.example.com.
	PublicURL string `json:"public_url,omitempty"`
	// CookieKeys sign unlock cookies: the first signs, all verify.
	CookieKeys []string `json:"cookie_keys,omitempty"`
	// InsecureCookies drops the Secure attribute (plain-HTTP development).
	InsecureCookies bool `json:"insecure_cookies,omitempty"`
	// WebhookSecret verifies origin webhooks (Standard Webhooks, whsec_…).
	WebhookSecret string `json:"webhook_secret,omitempty"`
	// AdminKeys are the admin API's bearer keys, each bound to an account.
	AdminKeys []AdminKey `json:"admin_keys,omitempty"`
	// MaxLinksPerTarget caps one target's live links (default 5).
	MaxLinksPerTarget int `json:"max_links_per_target,omitempty"`
	// MaxLinksPerAccount caps one account's live links (default 100).
	MaxLinksPerAccount int `json:"max_links_per_account,omitempty"`
	// MaxAge of a public link's cacheable responses (default 60s).
	MaxAge caddy.Duration `json:"max_age,omitempty"`
	// PublicFields is the publicFile allow-list (default SPEC §3's).
	PublicFields []string `json:"public_fields,omitempty"`
	// IPFailures wrong passwords from one client IP for one link within
	// IPWindow get that IP 429 for the link (default 5).
	IPFailures int `json:"ip_failures,omitempty"`
	// IPWindow is the per-IP throttle's window (default 15m).
	IPWindow caddy.Duration `json:"ip_window,omitempty"`
	// LinkFailures wrong passwords for one link within LinkWindow get
	// everyone 429 for the link (default 100).
	LinkFailures int `json:"link_failures,omitempty"`
	// LinkWindow is the per-link throttle's window (default 1h).
	LinkWindow caddy.Duration `json:"link_window,omitempty"`
	// HashConcurrency caps concurrent argon2id checks (each ~19 MiB;
	// default 4).
	HashConcurrency int `json:"hash_concurrency,omitempty"`
	// CacheTTL is how long a node keeps link records and origin facts in
	// memory (default 500ms); at most 1s so a change reaches every node
	// within a second.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// IdentityHeader names a request header, set by a trusted front end,
	// holding the signed-in library user's id (recorded on downloads).
	IdentityHeader string `json:"identity_header,omitempty"`
	// ProductName brands the visitor pages (default "publink").
	ProductName string `json:"product_name,omitempty"`
	// LogoURL is the pages' logo: an http(s) URL, a same-site path or an
	// image data: URL.
	LogoURL string `json:"logo_url,omitempty"`

	store      store.Store
	storeKey   string
	origin     *origin.Client
	links      *linkCache
	facts      *factCache
	lists      *listCache // complete one-page folder listings (issue 7)
	perms      *factCache
	cookieKeys [][]byte
	etags      *etagSealer
	removing   sync.Map // link ids with a removal under way
	adminKeys  map[[32]byte]string
	publicBase string
	hashSlots  chan struct{}
	logger     *zap.Logger
	audit      *zap.Logger
	metrics    *metrics
	now        func() time.Time
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// AdminKey binds one admin API bearer key to an account. Give the key's
// SHA-256 (hex) or the key itself, usually as a placeholder such as
// {env.PUBLINK_ADMIN_KEY}; a plain key is hashed at load and not kept.
type AdminKey struct {
	// Account the key acts for (default "default").
	Account string `json:"account,omitempty"`
	// KeySHA256 is the key's SHA-256, 64 hex digits.
	KeySHA256 string `json:"key_sha256,omitempty"`
	// Key is the key itself, at least 16 characters; give this or
	// KeySHA256.
	Key string `json:"key,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "publink", New: func() caddy.Module { return new(App) }}
}

// storePool shares store clients across config reloads, so a reload does
// not open a new Redis pool or fight over the bbolt file lock.
var storePool = caddy.NewUsagePool()

type pooledStore struct{ store.Store }

func (p pooledStore) Destruct() error { return p.Store.Close() }

// Provision fills defaults, resolves placeholders and opens the store.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	a.audit = a.logger.Named("audit")
	if a.now == nil {
		a.now = time.Now
	}
	repl := caddy.NewReplacer()
	a.Redis = repl.ReplaceAll(a.Redis, "")
	a.DataDir = repl.ReplaceAll(a.DataDir, "")
	a.Origin = repl.ReplaceAll(a.Origin, "")
	a.OriginSecret = repl.ReplaceAll(a.OriginSecret, "")
	a.PublicURL = repl.ReplaceAll(a.PublicURL, "")
	a.WebhookSecret = repl.ReplaceAll(a.WebhookSecret, "")
	a.IdentityHeader = repl.ReplaceAll(a.IdentityHeader, "")
	if a.PublicURL == "" {
		a.PublicURL = defaultPublicURL
	}
	a.publicBase = strings.TrimRight(a.PublicURL, "/")
	setDefault(&a.MaxLinksPerTarget, defaultPerTarget)
	setDefault(&a.MaxLinksPerAccount, defaultPerAccount)
	setDefault(&a.IPFailures, defaultIPFailures)
	setDefault(&a.LinkFailures, defaultLinkFailures)
	setDefault(&a.HashConcurrency, defaultHashSlots)
	setDefaultDuration(&a.IPWindow, defaultIPWindow)
	setDefaultDuration(&a.LinkWindow, defaultLinkWindow)
	setDefaultDuration(&a.CacheTTL, defaultCacheTTL)
	setDefaultDuration(&a.OriginTimeout, defaultOriginTimeout)
	setDefaultDuration(&a.MaxAge, policy.DefaultMaxAge)
	if len(a.PublicFields) == 0 {
		a.PublicFields = policy.DefaultPublicFields
	}
	if a.ProductName == "" {
		a.ProductName = defaultProductName
	}
	a.cookieKeys = nil
	for _, k := range a.CookieKeys {
		a.cookieKeys = append(a.cookieKeys, []byte(repl.ReplaceAll(k, "")))
	}
	a.adminKeys = map[[32]byte]string{}
	for i, k := range a.AdminKeys {
		acct := k.Account
		if acct == "" {
			acct = defaultAccount
		}
		sum, err := adminKeyHash(repl, k)
		if err != nil {
			return fmt.Errorf("admin_keys[%d]: %v", i, err)
		}
		// One key for two accounts would silently act for the last one
		// only: the other account's backend would manage a stranger's links.
		if prev, dup := a.adminKeys[sum]; dup && prev != acct {
			return fmt.Errorf("admin_keys[%d]: the same key is already bound to account %q", i, prev)
		}
		a.adminKeys[sum] = acct
	}
	a.hashSlots = make(chan struct{}, a.HashConcurrency)
	if err := a.Validate(); err != nil {
		return err
	}

	oc, err := origin.New(a.Origin, []byte(a.OriginSecret), time.Duration(a.OriginTimeout))
	if err != nil {
		return fmt.Errorf("origin: %v", err)
	}
	a.origin = oc
	a.etags = newETagSealer([]byte(a.OriginSecret))
	if a.metrics, err = newMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %v", err)
	}
	ttl := time.Duration(a.CacheTTL)
	a.links = newLinkCache(ttl, 100_000)
	a.facts = newFactCache(ttl, 100_000)
	a.lists = newListCache(ttl, maxCachedListings)
	a.perms = newFactCache(defaultPermissionTTL, 10_000)

	if a.Redis != "" {
		a.storeKey = "redis:" + a.Redis
	} else {
		dir := a.DataDir
		if dir == "" {
			dir = filepath.Join(caddy.AppDataDir(), "publink")
		}
		a.storeKey = "bolt:" + filepath.Join(dir, "publink.db")
	}
	val, _, err := storePool.LoadOrNew(a.storeKey, func() (caddy.Destructor, error) {
		s, err := a.openStore()
		if err != nil {
			return nil, err
		}
		return pooledStore{s}, nil
	})
	if err != nil {
		a.storeKey = ""
		return err
	}
	a.store = val.(pooledStore).Store
	return nil
}

func (a *App) openStore() (store.Store, error) {
	if a.Redis != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := redisstore.New(ctx, a.Redis)
		if err != nil {
			return nil, fmt.Errorf("redis: %v", err)
		}
		return s, nil
	}
	path := strings.TrimPrefix(a.storeKey, "bolt:")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %v", err)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data_dir: opening embedded store %s: %v", path, err)
	}
	return s, nil
}

func adminKeyHash(repl *caddy.Replacer, k AdminKey) ([32]byte, error) {
	var sum [32]byte
	switch {
	case k.KeySHA256 != "" && k.Key != "":
		return sum, errors.New("give key or key_sha256, not both")
	case k.KeySHA256 != "":
		b, err := hex.DecodeString(strings.TrimSpace(k.KeySHA256))
		if err != nil || len(b) != 32 {
			return sum, errors.New("key_sha256 must be 64 hex digits")
		}
		copy(sum[:], b)
	case k.Key != "":
		key := repl.ReplaceAll(k.Key, "")
		if len(key) < minSecretLen {
			return sum, fmt.Errorf("key must be at least %d characters", minSecretLen)
		}
		sum = sha256.Sum256([]byte(key))
	default:
		return sum, errors.New("key or key_sha256 is required")
	}
	return sum, nil
}

func setDefault(v *int, d int) {
	if *v == 0 {
		*v = d
	}
}

func setDefaultDuration(v *caddy.Duration, d time.Duration) {
	if *v == 0 {
		*v = caddy.Duration(d)
	}
}

// Validate rejects bad configuration, naming the field.
func (a *App) Validate() error {
	if a.Origin == "" {
		return errors.New("publink: origin is required")
	}
	if u, err := url.Parse(a.Origin); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("publink: origin %q must be an absolute http(s) URL", a.Origin)
	}
	if len(a.OriginSecret) < minSecretLen {
		return fmt.Errorf("publink: origin_secret must be at least %d characters", minSecretLen)
	}
	if u, err := url.Parse(a.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return fmt.Errorf("publink: public_url %q must be an absolute http(s) URL without a query", a.PublicURL)
	}
	if len(a.cookieKeys) == 0 {
		return errors.New("publink: cookie_key is required (at least one)")
	}
	for i, k := range a.cookieKeys {
		if len(k) < minSecretLen {
			return fmt.Errorf("publink: cookie_key #%d must be at least %d characters", i+1, minSecretLen)
		}
	}
	if a.WebhookSecret != "" && len(a.WebhookSecret) < minSecretLen {
		return fmt.Errorf("publink: webhook_secret must be at least %d characters", minSecretLen)
	}
	if a.MaxLinksPerTarget < 0 || a.MaxLinksPerAccount < 0 {
		return errors.New("publink: max_links_per_target and max_links_per_account must not be negative")
	}
	if a.IPFailures < 0 || a.LinkFailures < 0 || a.HashConcurrency < 0 {
		return errors.New("publink: ip_failures, link_failures and hash_concurrency must not be negative")
	}
	if a.CacheTTL < 0 || time.Duration(a.CacheTTL) > time.Second {
		return errors.New("publink: cache_ttl must be between 0 and 1s (a change must reach every node within a second)")
	}
	if err := policy.CheckPublicFields(a.PublicFields); err != nil {
		return fmt.Errorf("publink: public_fields: %v", err)
	}
	return nil
}

// Start launches the sweeper that deletes expired links.
func (a *App) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go a.sweep(ctx)
	return nil
}

// Stop ends background work.
func (a *App) Stop() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	return nil
}

// Cleanup releases the pooled store; safe after a half-failed Provision.
func (a *App) Cleanup() error {
	if a.origin != nil {
		a.origin.Close()
	}
	if a.storeKey != "" {
		_, err := storePool.Delete(a.storeKey)
		a.storeKey = ""
		return err
	}
	return nil
}

// sweep deletes expired links, so they leave the admin API and the audit
// log records them with actor system, reason expired.
func (a *App) sweep(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(defaultSweepInterval)
	defer t.Stop()
	for {
		a.sweepOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *App) sweepOnce(ctx context.Context) {
	for {
		expired, err := a.store.ExpiredLinks(ctx, a.now(), 100)
		if err != nil {
			if ctx.Err() == nil {
				a.logger.Warn("sweeping expired links", zap.Error(err))
			}
			return
		}
		removed := 0
		for _, l := range expired {
			err := a.deleteAndAudit(ctx, l, "system", "expired")
			switch {
			case err == nil:
				removed++
			case !errors.Is(err, store.ErrNotFound):
				a.logger.Warn("deleting expired link", zap.String("link", l.ID), zap.Error(err))
			}
		}
		// A short batch is the last; a batch that removed nothing means
		// deletes are failing, so wait for the next tick rather than spin.
		if len(expired) < 100 || removed == 0 {
			return
		}
	}
}

// removeLink is deleteAndAudit for callers with no one to answer (sweeper,
// webhooks, a visitor's 404): a failure is logged.
func (a *App) removeLink(ctx context.Context, l *policy.Link, actor, reason string) {
	if err := a.deleteAndAudit(ctx, l, actor, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.logger.Warn("deleting link", zap.String("link", l.ID), zap.Error(err))
	}
}

// deleteAndAudit deletes a link and audits it once, whoever deletes it: of
// concurrent deletes only one finds the link, the others get
// store.ErrNotFound.
func (a *App) deleteAndAudit(ctx context.Context, l *policy.Link, actor, reason string) error {
	gone, err := a.store.DeleteLink(ctx, l.Account, l.ID)
	a.links.forget(l.Token)
	if err != nil {
		return err
	}
	a.metrics.linkDeleted(reason)
	a.writeAudit(ctx, store.AuditRecord{
		Account: gone.Account, Actor: actor, Action: "link.deleted",
		LinkID: gone.ID, Target: gone.Target, Reason: reason,
	})
	return nil
}

// writeAudit stores an audit record and mirrors it to the publink.audit log.
func (a *App) writeAudit(ctx context.Context, rec store.AuditRecord) {
	if rec.ID == "" {
		rec.ID = newID("aud")
	}
	if rec.Time.IsZero() {
		rec.Time = a.now().UTC()
	}
	if err := a.store.AppendAudit(ctx, rec); err != nil {
		a.logger.Error("writing audit record", zap.String("link", rec.LinkID), zap.Error(err))
	}
	a.audit.Info(rec.Action,
		zap.String("account", rec.Account), zap.String("actor", rec.Actor),
		zap.String("link", rec.LinkID), zap.String("target", rec.Target.String()),
		zap.Strings("changes", rec.Changes), zap.String("reason", rec.Reason))
}

// shareURL is a link's public URL.
func (a *App) shareURL(token string) string { return a.publicBase + defaultBasePath + "/" + token }

// Interface guards.
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.Validator    = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
