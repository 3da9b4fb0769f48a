// Package redisstore implements store.Store on Redis (standalone, Sentinel
// or Cluster) with go-redis v9, so a fleet of gateway nodes shares links,
// audit, throttle counters and webhook de-duplication.
//
// # URL forms
//
//	redis://[user:pass@]host:port[/db][?opts]          standalone
//	rediss://[user:pass@]host:port[/db][?opts]         standalone over TLS
//	redis+cluster://[user:pass@]h1:p1,h2:p2[?opts]     Cluster (seed nodes)
//	rediss+cluster://...                               Cluster over TLS
//	redis+sentinel://[user:pass@]s1:p1,s2:p2/master[/db][?opts]
//	rediss+sentinel://...                              Sentinel over TLS
//
// opts are go-redis URL options (dial_timeout, read_timeout, pool_size, …;
// see redis.ParseURL, ParseClusterURL, ParseFailoverURL). Cluster seeds may
// also be given as ?addr=h:p repeated. For Sentinel, user:pass authenticate
// to the sentinels and ?password=/&username= to the master; the master name
// may also be given as ?master_name=. Defaults unless the URL says
// otherwise: dial timeout 2s, read/write timeout 1s, pool size 10 per CPU.
//
// # Key layout
//
// P is the prefix (default "publink", see WithPrefix); A an account; T a
// target "type:id"; ref the JSON array ["A","id"]. Inside the braces A and T
// have %, { and } escaped as %25, %7B, %7D.
//
//	P:{acct:A}:link:<id>   hash j=link JSON, t=T, k=sha256(token) hex; PEXPIREAT validUntil+1h
//	P:{acct:A}:seq         per-account creation counter
//	P:{acct:A}:all         zset id -> creation seq            (ListLinks)
//	P:{acct:A}:tseq:T      zset id -> creation seq            (ListLinks by target)
//	P:{acct:A}:live        zset id -> validUntil ms or +inf   (account limit)
//	P:{acct:A}:target:T    zset id -> validUntil ms or +inf   (target limit)
//	P:{acct:A}:audit       stream, field r = record JSON, MAXLEN ~ 100000
//	P:{acct:A}:dl          hash id -> download JSON
//	P:{acct:A}:dlz         zset id -> createdAt ms (capped at 100000)
//	P:tok:<sha256 hex>     ref                                (LinkByToken)
//	P:{tgt:T}              set of refs                        (LinksForTarget)
//	P:{expiry}             zset ref -> validUntil ms          (ExpiredLinks)
//	P:{dlaccts}            set of accounts with downloads
//	P:cnt:<key>            INCR counter with PEXPIRE
//	P:seen:<key>           SET NX PX marker
//
// Every Lua script touches only keys of one account's hash slot, so the
// layout is Cluster-safe. A link counts against the limits while its
// validUntil score is after now, so links past validUntil stop counting at
// once, before any sweep. The token, target and expiry indexes live in other
// slots and are written before the link (and removed again if the create
// fails); a reader tolerates an index entry whose link is gone.
//
// Every failure to reach Redis is wrapped so errors.Is(err,
// store.ErrUnavailable) holds; a missing key is store.ErrNotFound.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

const (
	// DefaultPageLimit is used when a Page has no Limit.
	DefaultPageLimit = 100
	// AuditMaxLen caps each account's audit stream (approximately).
	AuditMaxLen = 100000
	// DownloadsMax caps each account's download records.
	DownloadsMax = 100000
	// LinkTTLSlack is how long a link record outlives its validUntil in
	// Redis, as a safety net should the sweeper not run.
	LinkTTLSlack = time.Hour
	// danglingGrace: an expiry-index entry whose link is missing is only
	// removed once its validUntil is this far in the past (a create may be
	// between writing the index and the link).
	danglingGrace = time.Minute
)

// Store is a store.Store on Redis.
type Store struct {
	c      redis.UniversalClient
	prefix string
}

var _ store.Store = (*Store)(nil)

// Option configures New.
type Option func(*config)

type config struct {
	prefix string
	lazy   bool
}

// WithPrefix sets the key prefix (default "publink"). It must not contain
// '{' or '}'. Distinct prefixes let several stores share one Redis.
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithLazyConnect makes New return without checking that Redis answers.
// Without it New fails (with store.ErrUnavailable) if Redis is down.
func WithLazyConnect() Option { return func(c *config) { c.lazy = true } }

// New connects to the Redis named by rawURL (see the package comment).
func New(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	cfg := config{prefix: "publink"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.prefix == "" || strings.ContainsAny(cfg.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: invalid prefix %q", cfg.prefix)
	}
	c, err := newClient(rawURL)
	if err != nil {
		return nil, err
	}
	s := &Store{c: c, prefix: cfg.prefix}
	if !cfg.lazy {
		if err := s.Ping(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return s, nil
}

// setDefaults fills what the URL left unset: dial 2s, read/write 1s, and
// few retries so that a down Redis fails fast (the gateway answers 503).
func setDefaults(dial, read, write *time.Duration, dialRetries, retries *int, q url.Values) {
	if *dial == 0 {
		*dial = 2 * time.Second
	}
	if *read == 0 {
		*read = time.Second
	}
	if *write == 0 {
		*write = time.Second
	}
	if !q.Has("dialer_retries") {
		*dialRetries = 1
	}
	if !q.Has("max_retries") {
		*retries = 2
	}
}

func newClient(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("redisstore: URL %q has no scheme", redactURL(rawURL))
	}
	var q url.Values
	if _, rq, ok := strings.Cut(rest, "?"); ok {
		q, _ = url.ParseQuery(rq)
	}
	base, mode, _ := strings.Cut(strings.ToLower(scheme), "+")
	if base != "redis" && base != "rediss" {
		return nil, fmt.Errorf("redisstore: unsupported URL scheme %q", scheme)
	}
	switch mode {
	case "":
		o, err := redis.ParseURL(base + "://" + rest)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries, q)
		return redis.NewClient(o), nil
	case "cluster":
		u, err := multiHostURL(base, rest, nil)
		if err != nil {
			return nil, err
		}
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries, q)
		return redis.NewClusterClient(o), nil
	case "sentinel":
		u, err := multiHostURL(base, rest, func(path string, q url.Values) error {
			parts := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
			if len(parts) > 2 {
				return fmt.Errorf("redisstore: sentinel URL path must be /master[/db]")
			}
			if len(parts) >= 1 {
				q.Set("master_name", parts[0])
			}
			if len(parts) == 2 {
				q.Set("db", parts[1])
			}
			if q.Get("master_name") == "" {
				return fmt.Errorf("redisstore: sentinel URL needs a master name")
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		o, err := redis.ParseFailoverURL(u)
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		setDefaults(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.MaxRetries, q)
		return redis.NewFailoverClient(o), nil
	default:
		return nil, fmt.Errorf("redisstore: unsupported URL scheme %q", scheme)
	}
}

// multiHostURL turns "user@h1:p1,h2:p2/path?q" into the go-redis form
// "base://user@h1:p1?addr=h2:p2&q" (path handled by fixPath, or dropped).
func multiHostURL(base, rest string, fixPath func(path string, q url.Values) error) (string, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	userinfo := ""
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, authority = authority[:i+1], authority[i+1:]
	}
	path, rawQuery, _ := strings.Cut(tail, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", fmt.Errorf("redisstore: bad URL query: %w", err)
	}
	var hosts []string
	for h := range strings.SplitSeq(authority, ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return "", errors.New("redisstore: URL names no host")
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	if fixPath != nil {
		if err := fixPath(path, q); err != nil {
			return "", err
		}
	} else if strings.Trim(path, "/") != "" {
		return "", fmt.Errorf("redisstore: cluster URL takes no path (Cluster has only db 0)")
	}
	u := base + "://" + userinfo + hosts[0]
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return u, nil
}

var userinfoRE = regexp.MustCompile(`//[^@/]*@`)

func redactURL(s string) string { return userinfoRE.ReplaceAllString(s, "//***@") }

// Client exposes the underlying client (for health checks or tests).
func (s *Store) Client() redis.UniversalClient { return s.c }

// Close closes the client.
func (s *Store) Close() error { return s.c.Close() }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error { return wrap(s.c.Ping(ctx).Err()) }

// wrap maps go-redis errors: redis.Nil to store.ErrNotFound, anything else
// to store.ErrUnavailable (keeping the cause in the chain).
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return store.ErrNotFound
	case errors.Is(err, store.ErrUnavailable):
		return err
	}
	return fmt.Errorf("%w: redis: %w", store.ErrUnavailable, err)
}

// ---- keys

func (s *Store) acct(a string) string          { return s.prefix + ":{acct:" + esc(a) + "}:" }
func (s *Store) linkKey(a, id string) string   { return s.acct(a) + "link:" + id }
func (s *Store) tokKey(token string) string    { return s.prefix + ":tok:" + tokHash(token) }
func (s *Store) tgtKey(t policy.Target) string { return s.prefix + ":{tgt:" + esc(t.String()) + "}" }
func (s *Store) expiryKey() string             { return s.prefix + ":{expiry}" }
func (s *Store) dlAcctsKey() string            { return s.prefix + ":{dlaccts}" }

// linkKeys are the account-slot keys of a link: link, seq, all, live,
// target, tseq.
func (s *Store) linkKeys(a, id string, t policy.Target) []string {
	p := s.acct(a)
	return []string{p + "link:" + id, p + "seq", p + "all", p + "live", p + "target:" + t.String(), p + "tseq:" + t.String()}
}

// esc keeps an account or target from ending the hash tag early (and so
// from making two accounts' keys collide): it escapes %, { and }.
var escaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func esc(s string) string { return escaper.Replace(s) }

func tokHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func ref(a, id string) string {
	b, _ := json.Marshal([]string{a, id})
	return string(b)
}

func parseRef(r string) (a, id string, ok bool) {
	var v []string
	if json.Unmarshal([]byte(r), &v) != nil || len(v) != 2 {
		return "", "", false
	}
	return v[0], v[1], true
}

func ms(t time.Time) int64 { return t.UnixMilli() }

// untilScore is the zset score of a link's validUntil (+inf when none).
func untilScore(l *policy.Link) string {
	if l.ValidUntil == nil {
		return "+inf"
	}
	return strconv.FormatInt(ms(*l.ValidUntil), 10)
}

// expireAt is the PEXPIREAT of a link record, or "0" for none.
func expireAt(l *policy.Link) string {
	if l.ValidUntil == nil {
		return "0"
	}
	return strconv.FormatInt(ms(l.ValidUntil.Add(LinkTTLSlack)), 10)
}

func checkLink(l *policy.Link) error {
	if l == nil || l.ID == "" || l.Token == "" || l.Account == "" || l.Target.ID == "" {
		return errors.New("redisstore: link needs id, token, account and target")
	}
	return nil
}

// ---- scripts

// KEYS link, seq, all, live, target, tseq
// ARGV json, nowms, untilScore, perTarget, perAccount, id, expireAt, tokhash, targetString
var createScript = redis.NewScript(`
local k = redis.call('HGET', KEYS[1], 'k')
if k then
  if k == ARGV[8] then return 'ok' end
  return 'conflict'
end
local now = '(' .. ARGV[2]
local pt, pa = tonumber(ARGV[4]), tonumber(ARGV[5])
if pt > 0 and redis.call('ZCOUNT', KEYS[5], now, '+inf') >= pt then return 'limit_target' end
if pa > 0 and redis.call('ZCOUNT', KEYS[4], now, '+inf') >= pa then return 'limit_account' end
local seq = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'j', ARGV[1], 't', ARGV[9], 'k', ARGV[8])
if ARGV[7] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[7]) end
redis.call('ZADD', KEYS[3], seq, ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[6])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[6])
redis.call('ZADD', KEYS[6], seq, ARGV[6])
return 'ok'
`)

// KEYS link, seq, all, live, target, tseq
// ARGV id, targetString, tokhash (” = any)
// Returns {'none'} | {'retry', actualTarget} | {'mismatch'} | {'ok', json}.
var deleteScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'j', 't', 'k')
if not cur[1] then return {'none'} end
if cur[2] ~= ARGV[2] then return {'retry', cur[2]} end
if ARGV[3] ~= '' and cur[3] ~= ARGV[3] then return {'mismatch'} end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
return {'ok', cur[1]}
`)

// KEYS link, seq, all, live, target, tseq
// ARGV id, targetString, tokhash, json, untilScore, expireAt, revision read,
// revision to write (field r: a compare-and-swap against concurrent edits)
var updateScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 't', 'k', 'r')
if not cur[1] then return 'none' end
if cur[1] ~= ARGV[2] or cur[2] ~= ARGV[3] then return 'immutable' end
if (cur[3] or '0') ~= ARGV[7] then return 'stale' end
redis.call('HSET', KEYS[1], 'j', ARGV[4], 'r', ARGV[8])
if ARGV[6] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[6]) else redis.call('PERSIST', KEYS[1]) end
redis.call('ZADD', KEYS[4], 'XX', ARGV[5], ARGV[1])
redis.call('ZADD', KEYS[5], 'XX', ARGV[5], ARGV[1])
return 'ok'
`)

// KEYS link, all, live   ARGV id
// Drops index entries of a link record that Redis expired by its TTL.
var pruneScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`)

// KEYS counter   ARGV windowMs
var incrScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// KEYS dl, dlz   ARGV id, json, scoreMs, cap
var addDownloadScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return 'ok'
`)

// ---- links

// CreateLink implements store.Store.
func (s *Store) CreateLink(ctx context.Context, l *policy.Link, limits store.Limits, now time.Time) error {
	if err := checkLink(l); err != nil {
		return err
	}
	j, err := json.Marshal(l)
	if err != nil {
		return err
	}
	th := tokHash(l.Token)
	r := ref(l.Account, l.ID)

	// 1. Claim the token.
	tokTTL := time.Duration(0)
	if l.ValidUntil != nil {
		tokTTL = time.Until(l.ValidUntil.Add(LinkTTLSlack))
		if tokTTL < time.Second {
			tokTTL = time.Second
		}
	}
	okTok, err := s.c.SetNX(ctx, s.tokKey(l.Token), r, tokTTL).Result()
	if err != nil {
		return wrap(err)
	}
	if !okTok {
		return store.ErrConflict
	}
	// 2. Global indexes (tolerated dangling until the link exists).
	pipe := s.c.Pipeline()
	sadd := pipe.SAdd(ctx, s.tgtKey(l.Target), r)
	var zadd *redis.IntCmd
	if l.ValidUntil != nil {
		zadd = pipe.ZAddNX(ctx, s.expiryKey(), redis.Z{Score: float64(ms(*l.ValidUntil)), Member: r})
	}
	_, err = pipe.Exec(ctx)
	addedTgt := err == nil && sadd.Val() == 1
	addedExp := err == nil && zadd != nil && zadd.Val() == 1
	if err != nil {
		s.undoCreate(l, true, false, false)
		return wrap(err)
	}
	// 3. The atomic limit check and write.
	res, err := createScript.Run(ctx, s.c, s.linkKeys(l.Account, l.ID, l.Target),
		j, ms(now), untilScore(l), limits.PerTarget, limits.PerAccount, l.ID, expireAt(l), th, l.Target.String()).Text()
	if err != nil {
		// Unknown outcome: remove the link if it was made, then the indexes.
		if _, derr := s.deleteLink(context.WithoutCancel(ctx), l.Account, l.ID, th); derr == nil || errors.Is(derr, store.ErrNotFound) {
			s.undoCreate(l, true, addedTgt, addedExp)
		}
		return wrap(err)
	}
	switch res {
	case "ok":
		return nil
	case "conflict":
		s.undoCreate(l, true, addedTgt, addedExp)
		return store.ErrConflict
	case "limit_target":
		s.undoCreate(l, true, addedTgt, addedExp)
		return store.ErrLimitTarget
	case "limit_account":
		s.undoCreate(l, true, addedTgt, addedExp)
		return store.ErrLimitAccount
	}
	return fmt.Errorf("redisstore: create script said %q", res)
}

// undoCreate removes, best effort, the global index entries a failed
// create made.
func (s *Store) undoCreate(l *policy.Link, tok, tgt, exp bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r := ref(l.Account, l.ID)
	pipe := s.c.Pipeline()
	if tok {
		delIfEqual(ctx, pipe, s.tokKey(l.Token), r)
	}
	if tgt {
		pipe.SRem(ctx, s.tgtKey(l.Target), r)
	}
	if exp {
		pipe.ZRem(ctx, s.expiryKey(), r)
	}
	_, _ = pipe.Exec(ctx)
}

var delIfEqualScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

func delIfEqual(ctx context.Context, c redis.Scripter, key, val string) {
	// EVAL (not EVALSHA) so it works inside a pipeline without NOSCRIPT
	// handling.
	delIfEqualScript.Eval(ctx, c, []string{key}, val)
}

func (s *Store) getLinkJSON(ctx context.Context, account, id string) (*policy.Link, error) {
	j, err := s.c.HGet(ctx, s.linkKey(account, id), "j").Result()
	if err != nil {
		return nil, wrap(err)
	}
	return decodeLink(j)
}

func decodeLink(j string) (*policy.Link, error) {
	var l policy.Link
	if err := json.Unmarshal([]byte(j), &l); err != nil {
		return nil, fmt.Errorf("redisstore: corrupt link record: %w", err)
	}
	return &l, nil
}

// GetLink implements store.Store.
func (s *Store) GetLink(ctx context.Context, account, id string) (*policy.Link, error) {
	return s.getLinkJSON(ctx, account, id)
}

// LinkByToken implements store.Store.
func (s *Store) LinkByToken(ctx context.Context, token string) (*policy.Link, error) {
	r, err := s.c.Get(ctx, s.tokKey(token)).Result()
	if err != nil {
		return nil, wrap(err)
	}
	a, id, ok := parseRef(r)
	if !ok {
		return nil, store.ErrNotFound
	}
	l, err := s.getLinkJSON(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if l.Token != token {
		return nil, store.ErrNotFound
	}
	return l, nil
}

// UpdateLink implements store.Store. The token and target must not change
// (ErrConflict); an unknown link is ErrNotFound.
func (s *Store) UpdateLink(ctx context.Context, l *policy.Link) error {
	if err := checkLink(l); err != nil {
		return err
	}
	next := *l
	next.Revision++
	j, err := json.Marshal(&next)
	if err != nil {
		return err
	}
	res, err := updateScript.Run(ctx, s.c, s.linkKeys(l.Account, l.ID, l.Target),
		l.ID, l.Target.String(), tokHash(l.Token), j, untilScore(l), expireAt(l),
		strconv.FormatInt(l.Revision, 10), strconv.FormatInt(next.Revision, 10)).Text()
	if err != nil {
		return wrap(err)
	}
	switch res {
	case "none":
		return store.ErrNotFound
	case "immutable":
		return fmt.Errorf("%w: UpdateLink may not change token or target", store.ErrConflict)
	case "stale":
		return store.ErrStale
	case "ok":
		l.Revision = next.Revision
	default:
		return fmt.Errorf("redisstore: update script said %q", res)
	}
	r := ref(l.Account, l.ID)
	pipe := s.c.Pipeline()
	if l.ValidUntil != nil {
		pipe.ZAdd(ctx, s.expiryKey(), redis.Z{Score: float64(ms(*l.ValidUntil)), Member: r})
		pipe.PExpireAt(ctx, s.tokKey(l.Token), l.ValidUntil.Add(LinkTTLSlack))
	} else {
		pipe.ZRem(ctx, s.expiryKey(), r)
		pipe.Persist(ctx, s.tokKey(l.Token))
	}
	_, err = pipe.Exec(ctx)
	return wrap(err)
}

// DeleteLink implements store.Store.
func (s *Store) DeleteLink(ctx context.Context, account, id string) (*policy.Link, error) {
	return s.deleteLink(ctx, account, id, "")
}

func (s *Store) deleteLink(ctx context.Context, account, id, tokHash string) (*policy.Link, error) {
	t, err := s.c.HGet(ctx, s.linkKey(account, id), "t").Result()
	if err != nil {
		return nil, wrap(err)
	}
	for range 5 {
		tg, err := parseTarget(t)
		if err != nil {
			return nil, err
		}
		res, err := deleteScript.Run(ctx, s.c, s.linkKeys(account, id, tg), id, t, tokHash).StringSlice()
		if err != nil {
			return nil, wrap(err)
		}
		switch {
		case len(res) == 1 && res[0] == "none", len(res) == 1 && res[0] == "mismatch":
			return nil, store.ErrNotFound
		case len(res) == 2 && res[0] == "retry":
			t = res[1]
			continue
		case len(res) == 2 && res[0] == "ok":
			l, err := decodeLink(res[1])
			if err != nil {
				return nil, err
			}
			// Best effort: readers tolerate dangling global entries.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			r := ref(account, id)
			pipe := s.c.Pipeline()
			delIfEqual(cctx, pipe, s.tokKey(l.Token), r)
			pipe.SRem(cctx, s.tgtKey(l.Target), r)
			pipe.ZRem(cctx, s.expiryKey(), r)
			_, _ = pipe.Exec(cctx)
			cancel()
			return l, nil
		default:
			return nil, fmt.Errorf("redisstore: delete script said %q", res)
		}
	}
	return nil, fmt.Errorf("%w: link %q keeps changing", store.ErrConflict, id)
}

func parseTarget(s string) (policy.Target, error) {
	typ, id, ok := strings.Cut(s, ":")
	if !ok {
		return policy.Target{}, fmt.Errorf("redisstore: corrupt target %q", s)
	}
	return policy.Target{Type: policy.TargetType(typ), ID: id}, nil
}

func pageLimit(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	return n
}

// ListLinks implements store.Store. The cursor is opaque (a creation
// sequence number); an invalid one is an error.
func (s *Store) ListLinks(ctx context.Context, account string, target *policy.Target, page store.Page) ([]*policy.Link, string, error) {
	after := int64(0)
	if page.Cursor != "" {
		v, err := strconv.ParseInt(page.Cursor, 10, 64)
		if err != nil || v < 0 {
			return nil, "", fmt.Errorf("redisstore: %w %q", store.ErrInvalidCursor, page.Cursor)
		}
		after = v
	}
	limit := pageLimit(page.Limit)
	key := s.acct(account) + "all"
	if target != nil {
		key = s.acct(account) + "tseq:" + target.String()
	}
	var out []*policy.Link
	var seqs []int64
	for {
		batch, err := s.c.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{
			Min: "(" + strconv.FormatInt(after, 10), Max: "+inf", Count: int64(limit + 1 - len(out)),
		}).Result()
		if err != nil {
			return nil, "", wrap(err)
		}
		if len(batch) == 0 {
			break
		}
		pipe := s.c.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, z := range batch {
			cmds[i] = pipe.HGet(ctx, s.linkKey(account, z.Member.(string)), "j")
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, "", wrap(err)
		}
		for i, z := range batch {
			after = int64(z.Score)
			j, err := cmds[i].Result()
			if errors.Is(err, redis.Nil) {
				s.prune(ctx, account, z.Member.(string))
				continue
			}
			if err != nil {
				return nil, "", wrap(err)
			}
			l, err := decodeLink(j)
			if err != nil {
				return nil, "", err
			}
			out = append(out, l)
			seqs = append(seqs, int64(z.Score))
		}
		if len(out) > limit {
			break
		}
	}
	if len(out) > limit {
		return out[:limit], strconv.FormatInt(seqs[limit-1], 10), nil
	}
	return out, "", nil
}

func (s *Store) prune(ctx context.Context, account, id string) {
	p := s.acct(account)
	_ = pruneScript.Run(ctx, s.c, []string{p + "link:" + id, p + "all", p + "live"}, id).Err()
}

// fetchRefs loads the links named by refs; missing ones are left nil.
func (s *Store) fetchRefs(ctx context.Context, refs []string) ([]*policy.Link, error) {
	pipe := s.c.Pipeline()
	cmds := make([]*redis.StringCmd, len(refs))
	for i, r := range refs {
		a, id, ok := parseRef(r)
		if !ok {
			continue
		}
		cmds[i] = pipe.HGet(ctx, s.linkKey(a, id), "j")
	}
	if len(refs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, wrap(err)
		}
	}
	out := make([]*policy.Link, len(refs))
	for i, c := range cmds {
		if c == nil {
			continue
		}
		j, err := c.Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, wrap(err)
		}
		if out[i], err = decodeLink(j); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LinksForTarget implements store.Store.
func (s *Store) LinksForTarget(ctx context.Context, target policy.Target) ([]*policy.Link, error) {
	refs, err := s.c.SMembers(ctx, s.tgtKey(target)).Result()
	if err != nil {
		return nil, wrap(err)
	}
	ls, err := s.fetchRefs(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]*policy.Link, 0, len(ls))
	for _, l := range ls {
		if l != nil && l.Target == target {
			out = append(out, l)
		}
	}
	return out, nil
}

// ExpiredLinks implements store.Store, oldest validUntil first.
func (s *Store) ExpiredLinks(ctx context.Context, now time.Time, limit int) ([]*policy.Link, error) {
	limit = pageLimit(limit)
	var out []*policy.Link
	offset := int64(0)
	for range 10 {
		want := int64(limit - len(out))
		batch, err := s.c.ZRangeByScoreWithScores(ctx, s.expiryKey(), &redis.ZRangeBy{
			Min: "-inf", Max: strconv.FormatInt(ms(now), 10), Offset: offset, Count: want,
		}).Result()
		if err != nil {
			return nil, wrap(err)
		}
		if len(batch) == 0 {
			break
		}
		refs := make([]string, len(batch))
		for i, z := range batch {
			refs[i] = z.Member.(string)
		}
		ls, err := s.fetchRefs(ctx, refs)
		if err != nil {
			return nil, err
		}
		var fix []redis.Z
		var drop []any
		for i, l := range ls {
			switch {
			case l == nil:
				// Gone (deleted, or a create still in flight).
				if batch[i].Score < float64(ms(now.Add(-danglingGrace))) {
					drop = append(drop, refs[i])
				} else {
					offset++
				}
			case l.Expired(now):
				out = append(out, l)
				offset++
			case l.ValidUntil == nil:
				drop = append(drop, refs[i])
			default:
				// A stale score: repair it.
				fix = append(fix, redis.Z{Score: float64(ms(*l.ValidUntil)), Member: refs[i]})
				if float64(ms(*l.ValidUntil)) <= float64(ms(now)) {
					offset++
				}
			}
		}
		if len(fix) > 0 || len(drop) > 0 {
			pipe := s.c.Pipeline()
			if len(fix) > 0 {
				pipe.ZAddXX(ctx, s.expiryKey(), fix...)
			}
			if len(drop) > 0 {
				pipe.ZRem(ctx, s.expiryKey(), drop...)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return nil, wrap(err)
			}
		}
		if len(out) >= limit || int64(len(batch)) < want {
			break
		}
	}
	return out, nil
}

// ---- audit

type auditRec struct {
	store.AuditRecord
	Account string `json:"account"`
}

// AppendAudit implements store.Store. An empty rec.ID gets the stream id.
func (s *Store) AppendAudit(ctx context.Context, rec store.AuditRecord) error {
	if rec.Account == "" {
		return errors.New("redisstore: audit record needs an account")
	}
	j, err := json.Marshal(auditRec{AuditRecord: rec, Account: rec.Account})
	if err != nil {
		return err
	}
	return wrap(s.c.XAdd(ctx, &redis.XAddArgs{
		Stream: s.acct(rec.Account) + "audit", MaxLen: AuditMaxLen, Approx: true,
		Values: []any{"r", string(j)},
	}).Err())
}

var streamIDRE = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// validStreamCursor accepts the stream ids Redis takes as an exclusive end:
// both parts fit in 64 bits and the id is not 0-0. Anything else would make
// XREVRANGE fail, which would read as Redis being unavailable (503).
func validStreamCursor(c string) bool {
	if !streamIDRE.MatchString(c) {
		return false
	}
	ms, seq, _ := strings.Cut(c, "-")
	a, errA := strconv.ParseUint(ms, 10, 64)
	b, errB := strconv.ParseUint(seq, 10, 64)
	return errA == nil && errB == nil && (a != 0 || b != 0)
}

// ListAudit implements store.Store, newest first; the cursor is a stream id.
func (s *Store) ListAudit(ctx context.Context, account string, page store.Page) ([]store.AuditRecord, string, error) {
	limit := pageLimit(page.Limit)
	hi := "+"
	if page.Cursor != "" {
		if !validStreamCursor(page.Cursor) {
			return nil, "", fmt.Errorf("redisstore: %w %q", store.ErrInvalidCursor, page.Cursor)
		}
		hi = "(" + page.Cursor
	}
	msgs, err := s.c.XRevRangeN(ctx, s.acct(account)+"audit", hi, "-", int64(limit+1)).Result()
	if err != nil {
		return nil, "", wrap(err)
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		next = msgs[limit-1].ID
	}
	out := make([]store.AuditRecord, 0, len(msgs))
	for _, m := range msgs {
		j, _ := m.Values["r"].(string)
		var r auditRec
		if err := json.Unmarshal([]byte(j), &r); err != nil {
			return nil, "", fmt.Errorf("redisstore: corrupt audit record %s: %w", m.ID, err)
		}
		r.AuditRecord.Account = r.Account
		if r.ID == "" {
			r.ID = m.ID
		}
		out = append(out, r.AuditRecord)
	}
	return out, next, nil
}

// ---- counters

func durMs(d time.Duration) int64 {
	if v := d.Milliseconds(); v > 0 {
		return v
	}
	return 1
}

// Incr implements store.Store.
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	v, err := incrScript.Run(ctx, s.c, []string{s.prefix + ":cnt:" + key}, durMs(window)).Int64Slice()
	if err != nil {
		return 0, 0, wrap(err)
	}
	if len(v) != 2 {
		return 0, 0, fmt.Errorf("redisstore: incr script said %v", v)
	}
	return v[0], time.Duration(v[1]) * time.Millisecond, nil
}

// Count implements store.Store. An absent counter is 0 with no time left.
func (s *Store) Count(ctx context.Context, key string) (int64, time.Duration, error) {
	k := s.prefix + ":cnt:" + key
	pipe := s.c.Pipeline()
	get := pipe.Get(ctx, k)
	ttl := pipe.PTTL(ctx, k)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, wrap(err)
	}
	n, err := get.Int64()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, wrap(err)
	}
	left := ttl.Val()
	if left < 0 {
		left = 0
	}
	return n, left, nil
}

// FirstSeen implements store.Store.
func (s *Store) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.c.SetNX(ctx, s.prefix+":seen:"+key, "1", time.Duration(durMs(ttl))*time.Millisecond).Result()
	return ok, wrap(err)
}

// ---- downloads

type dlRec struct {
	store.Download
	Account string `json:"account"`
	Session string `json:"session,omitempty"`
}

// AddDownload implements store.Store.
func (s *Store) AddDownload(ctx context.Context, d store.Download) error {
	if d.ID == "" || d.Account == "" {
		return errors.New("redisstore: download needs id and account")
	}
	j, err := json.Marshal(dlRec{Download: d, Account: d.Account, Session: d.Session})
	if err != nil {
		return err
	}
	p := s.acct(d.Account)
	if err := addDownloadScript.Run(ctx, s.c, []string{p + "dl", p + "dlz"}, d.ID, j, ms(d.CreatedAt), DownloadsMax).Err(); err != nil {
		return wrap(err)
	}
	return wrap(s.c.SAdd(ctx, s.dlAcctsKey(), d.Account).Err())
}

// ListDownloads implements store.Store, newest first. A limit <= 0 means
// DefaultPageLimit. Without an Account it scans every account.
func (s *Store) ListDownloads(ctx context.Context, f store.DownloadFilter, limit int) ([]store.Download, error) {
	limit = pageLimit(limit)
	accts := []string{f.Account}
	if f.Account == "" {
		var err error
		if accts, err = s.c.SMembers(ctx, s.dlAcctsKey()).Result(); err != nil {
			return nil, wrap(err)
		}
	}
	var out []store.Download
	for _, a := range accts {
		ds, err := s.listAccountDownloads(ctx, a, f, limit)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID > out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *Store) listAccountDownloads(ctx context.Context, account string, f store.DownloadFilter, limit int) ([]store.Download, error) {
	const batch = 500
	p := s.acct(account)
	var out []store.Download
	for start := int64(0); len(out) < limit; start += batch {
		ids, err := s.c.ZRevRange(ctx, p+"dlz", start, start+batch-1).Result()
		if err != nil {
			return nil, wrap(err)
		}
		if len(ids) == 0 {
			break
		}
		vals, err := s.c.HMGet(ctx, p+"dl", ids...).Result()
		if err != nil {
			return nil, wrap(err)
		}
		for _, v := range vals {
			j, ok := v.(string)
			if !ok {
				continue
			}
			var r dlRec
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				return nil, fmt.Errorf("redisstore: corrupt download: %w", err)
			}
			d := r.Download
			d.Account, d.Session = r.Account, r.Session
			if !f.Match(d) {
				continue
			}
			out = append(out, d)
			if len(out) == limit {
				break
			}
		}
		if len(ids) < batch {
			break
		}
	}
	return out, nil
}
