// Package boltstore implements store.Store on one embedded bbolt file: the
// default, durable store for a single gateway node.
//
// Every write is one bbolt Update transaction (fsynced on commit), so the
// limit check and the insert in CreateLink are atomic, and of several
// concurrent DeleteLinks of one link exactly one finds it.
//
// Layout (top-level buckets; pfx(s) = uvarint(len(s)) + s, which keeps one
// account's or one target's keys a clean prefix; u64 = big-endian):
//
//	links    pfx(acct)+id                         -> JSON {seq, link}
//	tokens   sha256(token)                        -> pfx(acct)+id
//	order    pfx(acct)+u64(seq)                   -> id      (creation order)
//	torder   pfx(acct)+pfx(target)+u64(seq)       -> id      (by account+target)
//	auntil   pfx(acct)+u64(until)+id              -> ""      (account live count)
//	tuntil   pfx(acct)+pfx(target)+u64(until)+id  -> ""      (target live count)
//	gtarget  pfx(target)+pfx(acct)+id             -> ""      (LinksForTarget)
//	guntil   u64(until)+pfx(acct)+id              -> ""      (ExpiredLinks; only links with validUntil)
//	audit    pfx(acct)+u64(seq)                   -> JSON AuditRecord
//	counters key                                  -> u64(count)+u64(resetUnixNano)
//	seen     key                                  -> u64(expiryUnixNano)
//	downloads pfx(acct)+id                        -> JSON Download
//	dtime    u64(createdAt)+pfx(acct)+id          -> ""      (newest-first scans)
//
// until is validUntil in Unix nanoseconds, or MaxUint64 when the link has
// none; a link is live at now when until > now.
package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

var (
	bLinks     = []byte("links")
	bTokens    = []byte("tokens")
	bOrder     = []byte("order")
	bTOrder    = []byte("torder")
	bAUntil    = []byte("auntil")
	bTUntil    = []byte("tuntil")
	bGTarget   = []byte("gtarget")
	bGUntil    = []byte("guntil")
	bAudit     = []byte("audit")
	bCounters  = []byte("counters")
	bSeen      = []byte("seen")
	bDownloads = []byte("downloads")
	bDTime     = []byte("dtime")
	allBuckets = [][]byte{bLinks, bTokens, bOrder, bTOrder, bAUntil, bTUntil, bGTarget, bGUntil,
		bAudit, bCounters, bSeen, bDownloads, bDTime}
)

// DefaultPageLimit is used when a Page has no Limit.
const DefaultPageLimit = 100

// PurgeInterval is how often expired counters and FirstSeen keys are removed.
const PurgeInterval = time.Minute

// Store is a store.Store on a bbolt file.
type Store struct {
	db *bolt.DB
	// now is the clock for counters and FirstSeen; tests may replace it
	// before use.
	now func() time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the store file at path. Only one process
// may open a file at a time; a second Open waits up to 5s and then fails.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: init %s: %w", path, err)
	}
	s := &Store{db: db, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	go s.purgeLoop()
	return s, nil
}

// SetClock replaces the clock used for counters and FirstSeen (for tests).
func (s *Store) SetClock(now func() time.Time) { s.now = now }

// Close stops the purger and closes the file.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		err = s.db.Close()
	})
	return err
}

// Ping reports nil while the file is open.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(*bolt.Tx) error { return nil })
}

func (s *Store) purgeLoop() {
	defer close(s.done)
	t := time.NewTicker(PurgeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.Purge()
		}
	}
}

// Purge deletes expired counters and FirstSeen keys. It runs every
// PurgeInterval by itself; expired entries read as absent in any case.
func (s *Store) Purge() error {
	now := s.now().UnixNano()
	return s.db.Update(func(tx *bolt.Tx) error {
		var dead [][]byte
		c := tx.Bucket(bCounters).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) == 16 && int64(binary.BigEndian.Uint64(v[8:])) <= now {
				dead = append(dead, k)
			}
		}
		for _, k := range dead {
			if err := tx.Bucket(bCounters).Delete(k); err != nil {
				return err
			}
		}
		dead = dead[:0]
		c = tx.Bucket(bSeen).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) <= now {
				dead = append(dead, k)
			}
		}
		for _, k := range dead {
			if err := tx.Bucket(bSeen).Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- encoding helpers

func pfx(s string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(s)))
	return append(b, s...)
}

func cat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// maxNanoTime is the last instant UnixNano can represent (year 2262).
var maxNanoTime = time.Unix(0, math.MaxInt64)

func tsNano(t time.Time) uint64 {
	// Past maxNanoTime UnixNano wraps around: a validUntil in year 2300 or
	// 9999 would read as long past, so the link would not count against the
	// limits and the sweeper would delete it at once as "expired".
	if t.After(maxNanoTime) {
		return math.MaxInt64
	}
	n := t.UnixNano()
	if n < 0 {
		return 0
	}
	return uint64(n)
}

func until(l *policy.Link) uint64 {
	if l.ValidUntil == nil {
		return math.MaxUint64
	}
	return tsNano(*l.ValidUntil)
}

func tokenKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// splitAcctID decodes pfx(acct)+id.
func splitAcctID(b []byte) (acct, id string, ok bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 || uint64(len(b)-w) < n {
		return "", "", false
	}
	return string(b[w : w+int(n)]), string(b[w+int(n):]), true
}

type linkRec struct {
	Seq  uint64       `json:"seq"`
	Link *policy.Link `json:"link"`
}

func getRec(tx *bolt.Tx, acct, id string) (*linkRec, error) {
	v := tx.Bucket(bLinks).Get(cat(pfx(acct), []byte(id)))
	if v == nil {
		return nil, store.ErrNotFound
	}
	var r linkRec
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("boltstore: corrupt link %q: %w", id, err)
	}
	return &r, nil
}

// countFrom counts keys with prefix p that sort at or after p+from, stopping
// at max.
func countFrom(b *bolt.Bucket, p, from []byte, max int) int {
	c := b.Cursor()
	n := 0
	for k, _ := c.Seek(cat(p, from)); k != nil && bytes.HasPrefix(k, p) && n < max; k, _ = c.Next() {
		n++
	}
	return n
}

func checkLink(l *policy.Link) error {
	if l == nil || l.ID == "" || l.Token == "" || l.Account == "" || l.Target.ID == "" {
		return errors.New("boltstore: link needs id, token, account and target")
	}
	return nil
}

// ---- links

// CreateLink implements store.Store.
func (s *Store) CreateLink(ctx context.Context, l *policy.Link, limits store.Limits, now time.Time) error {
	if err := checkLink(l); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		ap, tp := pfx(l.Account), pfx(l.Target.String())
		lk := cat(ap, []byte(l.ID))
		if tx.Bucket(bLinks).Get(lk) != nil || tx.Bucket(bTokens).Get(tokenKey(l.Token)) != nil {
			return store.ErrConflict
		}
		liveFrom := u64(tsNano(now) + 1) // live: until > now
		if limits.PerTarget > 0 && countFrom(tx.Bucket(bTUntil), cat(ap, tp), liveFrom, limits.PerTarget) >= limits.PerTarget {
			return store.ErrLimitTarget
		}
		if limits.PerAccount > 0 && countFrom(tx.Bucket(bAUntil), ap, liveFrom, limits.PerAccount) >= limits.PerAccount {
			return store.ErrLimitAccount
		}
		seq, err := tx.Bucket(bLinks).NextSequence()
		if err != nil {
			return err
		}
		v, err := json.Marshal(linkRec{Seq: seq, Link: l})
		if err != nil {
			return err
		}
		return putLink(tx, l, seq, v)
	})
}

func putLink(tx *bolt.Tx, l *policy.Link, seq uint64, v []byte) error {
	ap, tp := pfx(l.Account), pfx(l.Target.String())
	id := []byte(l.ID)
	un := u64(until(l))
	puts := []struct {
		b    []byte
		k, v []byte
	}{
		{bLinks, cat(ap, id), v},
		{bTokens, tokenKey(l.Token), cat(ap, id)},
		{bOrder, cat(ap, u64(seq)), id},
		{bTOrder, cat(ap, tp, u64(seq)), id},
		{bAUntil, cat(ap, un, id), []byte{}},
		{bTUntil, cat(ap, tp, un, id), []byte{}},
		{bGTarget, cat(tp, ap, id), []byte{}},
	}
	if l.ValidUntil != nil {
		puts = append(puts, struct {
			b    []byte
			k, v []byte
		}{bGUntil, cat(un, ap, id), []byte{}})
	}
	for _, p := range puts {
		if err := tx.Bucket(p.b).Put(p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

func delLink(tx *bolt.Tx, l *policy.Link, seq uint64) error {
	ap, tp := pfx(l.Account), pfx(l.Target.String())
	id := []byte(l.ID)
	un := u64(until(l))
	dels := []struct{ b, k []byte }{
		{bLinks, cat(ap, id)},
		{bTokens, tokenKey(l.Token)},
		{bOrder, cat(ap, u64(seq))},
		{bTOrder, cat(ap, tp, u64(seq))},
		{bAUntil, cat(ap, un, id)},
		{bTUntil, cat(ap, tp, un, id)},
		{bGTarget, cat(tp, ap, id)},
		{bGUntil, cat(un, ap, id)},
	}
	for _, d := range dels {
		if err := tx.Bucket(d.b).Delete(d.k); err != nil {
			return err
		}
	}
	return nil
}

// GetLink implements store.Store.
func (s *Store) GetLink(ctx context.Context, account, id string) (*policy.Link, error) {
	var out *policy.Link
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getRec(tx, account, id)
		if err != nil {
			return err
		}
		out = r.Link
		return nil
	})
	return out, err
}

// LinkByToken implements store.Store.
func (s *Store) LinkByToken(ctx context.Context, token string) (*policy.Link, error) {
	var out *policy.Link
	err := s.db.View(func(tx *bolt.Tx) error {
		ref := tx.Bucket(bTokens).Get(tokenKey(token))
		if ref == nil {
			return store.ErrNotFound
		}
		acct, id, ok := splitAcctID(ref)
		if !ok {
			return store.ErrNotFound
		}
		r, err := getRec(tx, acct, id)
		if err != nil {
			return err
		}
		if r.Link.Token != token {
			return store.ErrNotFound
		}
		out = r.Link
		return nil
	})
	return out, err
}

// UpdateLink implements store.Store. The token and target must not change
// (ErrConflict); an unknown link is ErrNotFound.
func (s *Store) UpdateLink(ctx context.Context, l *policy.Link) error {
	if err := checkLink(l); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		old, err := getRec(tx, l.Account, l.ID)
		if err != nil {
			return err
		}
		if old.Link.Token != l.Token || old.Link.Target != l.Target {
			return fmt.Errorf("%w: UpdateLink may not change token or target", store.ErrConflict)
		}
		if old.Link.Revision != l.Revision {
			return store.ErrStale
		}
		if err := delLink(tx, old.Link, old.Seq); err != nil {
			return err
		}
		next := *l
		next.Revision++
		v, err := json.Marshal(linkRec{Seq: old.Seq, Link: &next})
		if err != nil {
			return err
		}
		if err := putLink(tx, &next, old.Seq, v); err != nil {
			return err
		}
		l.Revision = next.Revision
		return nil
	})
}

// DeleteLink implements store.Store.
func (s *Store) DeleteLink(ctx context.Context, account, id string) (*policy.Link, error) {
	var out *policy.Link
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getRec(tx, account, id)
		if err != nil {
			return err
		}
		out = r.Link
		return delLink(tx, r.Link, r.Seq)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func pageLimit(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	return n
}

func decodeCursor(c string) (uint64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := hex.DecodeString(c)
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("boltstore: %w %q", store.ErrInvalidCursor, c)
	}
	return binary.BigEndian.Uint64(b), nil
}

func encodeCursor(seq uint64) string { return hex.EncodeToString(u64(seq)) }

// ListLinks implements store.Store. The cursor is opaque; an invalid one is
// an error.
func (s *Store) ListLinks(ctx context.Context, account string, target *policy.Target, page store.Page) ([]*policy.Link, string, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(page.Limit)
	var out []*policy.Link
	next := ""
	err = s.db.View(func(tx *bolt.Tx) error {
		b, p := tx.Bucket(bOrder), pfx(account)
		if target != nil {
			b, p = tx.Bucket(bTOrder), cat(pfx(account), pfx(target.String()))
		}
		c := b.Cursor()
		var k, v []byte
		if page.Cursor == "" {
			k, v = c.Seek(p)
		} else {
			k, v = c.Seek(cat(p, u64(after+1)))
		}
		var lastSeq uint64
		for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			if len(out) == limit {
				next = encodeCursor(lastSeq)
				break
			}
			r, err := getRec(tx, account, string(v))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, r.Link)
			lastSeq = binary.BigEndian.Uint64(k[len(k)-8:])
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// LinksForTarget implements store.Store.
func (s *Store) LinksForTarget(ctx context.Context, target policy.Target) ([]*policy.Link, error) {
	var out []*policy.Link
	err := s.db.View(func(tx *bolt.Tx) error {
		p := pfx(target.String())
		c := tx.Bucket(bGTarget).Cursor()
		for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
			acct, id, ok := splitAcctID(k[len(p):])
			if !ok {
				continue
			}
			r, err := getRec(tx, acct, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, r.Link)
		}
		return nil
	})
	return out, err
}

// ExpiredLinks implements store.Store, oldest validUntil first.
func (s *Store) ExpiredLinks(ctx context.Context, now time.Time, limit int) ([]*policy.Link, error) {
	limit = pageLimit(limit)
	var out []*policy.Link
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bGUntil).Cursor()
		for k, _ := c.First(); k != nil && len(out) < limit; k, _ = c.Next() {
			if len(k) < 8 {
				continue
			}
			if binary.BigEndian.Uint64(k[:8]) > tsNano(now) {
				break
			}
			acct, id, ok := splitAcctID(k[8:])
			if !ok {
				continue
			}
			r, err := getRec(tx, acct, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, r.Link)
		}
		return nil
	})
	return out, err
}

// ---- audit

// AppendAudit implements store.Store. An empty rec.ID gets a generated one.
func (s *Store) AppendAudit(ctx context.Context, rec store.AuditRecord) error {
	if rec.Account == "" {
		return errors.New("boltstore: audit record needs an account")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bAudit)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if rec.ID == "" {
			rec.ID = fmt.Sprintf("a%016x", seq)
		}
		v, err := json.Marshal(auditRec{AuditRecord: rec, Account: rec.Account})
		if err != nil {
			return err
		}
		return b.Put(cat(pfx(rec.Account), u64(seq)), v)
	})
}

// auditRec stores the account too (AuditRecord hides it from JSON).
type auditRec struct {
	store.AuditRecord
	Account string `json:"account"`
}

// ListAudit implements store.Store, newest first.
func (s *Store) ListAudit(ctx context.Context, account string, page store.Page) ([]store.AuditRecord, string, error) {
	before, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	limit := pageLimit(page.Limit)
	var out []store.AuditRecord
	next := ""
	err = s.db.View(func(tx *bolt.Tx) error {
		p := pfx(account)
		c := tx.Bucket(bAudit).Cursor()
		bound := cat(p, u64(math.MaxUint64))
		if page.Cursor != "" {
			bound = cat(p, u64(before))
		}
		// Position on the last key < bound.
		k, v := c.Seek(bound)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		var lastSeq uint64
		for ; k != nil && bytes.HasPrefix(k, p); k, v = c.Prev() {
			if len(out) == limit {
				next = encodeCursor(lastSeq)
				break
			}
			var r auditRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("boltstore: corrupt audit record: %w", err)
			}
			r.AuditRecord.Account = r.Account
			out = append(out, r.AuditRecord)
			lastSeq = binary.BigEndian.Uint64(k[len(k)-8:])
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ---- counters

// Incr implements store.Store.
func (s *Store) Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error) {
	now := s.now()
	var n int64
	var reset int64
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bCounters)
		v := b.Get([]byte(key))
		if len(v) == 16 && int64(binary.BigEndian.Uint64(v[8:])) > now.UnixNano() {
			n = int64(binary.BigEndian.Uint64(v[:8])) + 1
			reset = int64(binary.BigEndian.Uint64(v[8:]))
		} else {
			n = 1
			reset = now.Add(window).UnixNano()
		}
		return b.Put([]byte(key), cat(u64(uint64(n)), u64(uint64(reset))))
	})
	if err != nil {
		return 0, 0, err
	}
	return n, time.Duration(reset - now.UnixNano()), nil
}

// Count implements store.Store. An absent or expired counter is 0 with no
// time left.
func (s *Store) Count(ctx context.Context, key string) (int64, time.Duration, error) {
	now := s.now()
	var n int64
	var left time.Duration
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bCounters).Get([]byte(key))
		if len(v) == 16 && int64(binary.BigEndian.Uint64(v[8:])) > now.UnixNano() {
			n = int64(binary.BigEndian.Uint64(v[:8]))
			left = time.Duration(int64(binary.BigEndian.Uint64(v[8:])) - now.UnixNano())
		}
		return nil
	})
	return n, left, err
}

// FirstSeen implements store.Store.
func (s *Store) FirstSeen(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	now := s.now()
	first := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bSeen)
		v := b.Get([]byte(key))
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now.UnixNano() {
			return nil
		}
		first = true
		return b.Put([]byte(key), u64(uint64(now.Add(ttl).UnixNano())))
	})
	return first, err
}

// ---- downloads

// AddDownload implements store.Store.
func (s *Store) AddDownload(ctx context.Context, d store.Download) error {
	if d.ID == "" || d.Account == "" {
		return errors.New("boltstore: download needs id and account")
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, bt := tx.Bucket(bDownloads), tx.Bucket(bDTime)
		k := cat(pfx(d.Account), []byte(d.ID))
		if old := b.Get(k); old != nil {
			var o dlRec
			if err := json.Unmarshal(old, &o); err == nil {
				if err := bt.Delete(cat(u64(tsNano(o.CreatedAt)), k)); err != nil {
					return err
				}
			}
		}
		v, err := json.Marshal(dlRec{Download: d, Account: d.Account, Session: d.Session})
		if err != nil {
			return err
		}
		if err := b.Put(k, v); err != nil {
			return err
		}
		return bt.Put(cat(u64(tsNano(d.CreatedAt)), k), []byte{})
	})
}

// dlRec stores the fields Download hides from JSON.
type dlRec struct {
	store.Download
	Account string `json:"account"`
	Session string `json:"session,omitempty"`
}

// ListDownloads implements store.Store, newest first. A limit <= 0 means
// DefaultPageLimit.
func (s *Store) ListDownloads(ctx context.Context, f store.DownloadFilter, limit int) ([]store.Download, error) {
	limit = pageLimit(limit)
	var out []store.Download
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bDownloads)
		c := tx.Bucket(bDTime).Cursor()
		for k, _ := c.Last(); k != nil && len(out) < limit; k, _ = c.Prev() {
			if len(k) < 8 {
				continue
			}
			acct, _, ok := splitAcctID(k[8:])
			if !ok || (f.Account != "" && acct != f.Account) {
				continue
			}
			v := b.Get(k[8:])
			if v == nil {
				continue
			}
			var r dlRec
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("boltstore: corrupt download: %w", err)
			}
			d := r.Download
			d.Account, d.Session = r.Account, r.Session
			if !f.Match(d) {
				continue
			}
			out = append(out, d)
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, err
}
