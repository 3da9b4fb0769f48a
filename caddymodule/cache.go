package caddymodule

import (
	"context"
	"sync"
	"time"

	"github.com/publink/publink/origin"
	"github.com/publink/publink/policy"
)

// ttlCache is a bounded map whose entries live for a fixed TTL. It keeps
// per-node copies of link records and origin facts; the TTL (at most 1s) is
// what bounds how long a change takes to reach every node.
type ttlCache[V any] struct {
	ttl time.Duration
	max int
	now func() time.Time
	mu  sync.RWMutex
	m   map[string]ttlEntry[V]
	// inflight are the fetches fill is running (nil until first used).
	inflight map[string]*flight[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, max int) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, now: time.Now, m: make(map[string]ttlEntry[V])}
}

func (c *ttlCache[V]) get(key string) (V, bool) {
	var zero V
	if c.ttl <= 0 {
		return zero, false
	}
	c.mu.RLock()
	e, ok := c.m[key]
	c.mu.RUnlock()
	if !ok || !c.now().Before(e.expires) {
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(key string, v V) {
	if c.ttl <= 0 {
		return
	}
	now := c.now()
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Drop expired entries first; if that frees nothing, drop an
		// arbitrary half so the map stays bounded under a token flood.
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			n := 0
			for k := range c.m {
				delete(c.m, k)
				if n++; n >= c.max/2 {
					break
				}
			}
		}
	}
	c.m[key] = ttlEntry[V]{v: v, expires: now.Add(c.ttl)}
	c.mu.Unlock()
}

func (c *ttlCache[V]) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// linkCache maps share tokens to link records; a nil record caches "no such
// token" so a flood of guesses does not reach the store every time.
type linkCache = ttlCache[*policy.Link]

func newLinkCache(ttl time.Duration, max int) *linkCache { return newTTLCache[*policy.Link](ttl, max) }

// fill returns the cached value for key, or runs fetch once for all the
// callers that miss at the same time (a small singleflight) and caches its
// value when fetch says so. A waiter whose context ends stops waiting.
func (c *ttlCache[V]) fill(ctx context.Context, key string, fetch func() (V, bool, error)) (V, error) {
	if v, ok := c.get(key); ok {
		return v, nil
	}
	c.mu.Lock()
	if c.inflight == nil {
		c.inflight = map[string]*flight[V]{}
	}
	if f, ok := c.inflight[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.v, f.err
		case <-ctx.Done():
			var zero V
			return zero, ctx.Err()
		}
	}
	f := &flight[V]{done: make(chan struct{})}
	c.inflight[key] = f
	c.mu.Unlock()
	var keep bool
	f.v, keep, f.err = fetch()
	if keep {
		c.put(key, f.v)
	}
	c.mu.Lock()
	delete(c.inflight, key)
	c.mu.Unlock()
	close(f.done)
	return f.v, f.err
}

// flight is one fetch that concurrent fill callers share.
type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// listCache holds folder listings from the origin, keyed by folder path.
// It is separate from factCache and small because one listing can hold up
// to originPage file objects.
type listCache = ttlCache[*folderListing]

// maxCachedListings bounds listCache: at most this many folders' listings
// (each under originPage entries) are kept at once.
const maxCachedListings = 64

func newListCache(ttl time.Duration, max int) *listCache {
	return newTTLCache[*folderListing](ttl, max)
}

// folderListing is one folder's complete listing as the origin gave it and,
// per link that showed it, the listing JSON rendered from it. A rendered
// body lives and dies with the listing it was made from.
type folderListing struct {
	files []*origin.File
	// complete: the origin confirmed no entries follow files (listPage);
	// only complete listings are cached.
	complete bool

	mu       sync.Mutex
	rendered map[string]renderedListing // by link id
}

// renderedListing is a listing body with the immutable inputs it was built
// from besides the folder listing itself.
type renderedListing struct {
	link   *policy.Link
	folder *origin.Folder
	body   []byte
}

// factCache holds origin answers (file, folder, collection objects,
// permissions) keyed by kind and id.
type factCache = ttlCache[any]

func newFactCache(ttl time.Duration, max int) *factCache { return newTTLCache[any](ttl, max) }
