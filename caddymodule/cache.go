package caddymodule

import (
	"sync"
	"time"

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

// factCache holds origin answers (file, folder, collection objects,
// permissions) keyed by kind and id.
type factCache = ttlCache[any]

func newFactCache(ttl time.Duration, max int) *factCache { return newTTLCache[any](ttl, max) }
