package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publink/publink/internal/testenv"
	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
	"github.com/publink/publink/store/storetest"
)

var prefixSeq atomic.Int64

func newStore(t *testing.T, url string, opts ...Option) *Store {
	t.Helper()
	opts = append([]Option{WithPrefix(fmt.Sprintf("pt%d", prefixSeq.Add(1)))}, opts...)
	s, err := New(context.Background(), url, opts...)
	if err != nil {
		t.Fatalf("New(%s): %v", url, err)
	}
	return s
}

func TestContract(t *testing.T) {
	rurl := testenv.StartRedis(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, rurl) })
}

func TestReopen(t *testing.T) {
	rurl := testenv.StartRedis(t)
	s := newStore(t, rurl, WithPrefix("reopen"))
	storetest.Reopen(t, s, func(t *testing.T) store.Store { return newStore(t, rurl, WithPrefix("reopen")) })
}

// Keys of one account's link share a hash slot; the global ones are
// distinct.
func TestKeysClusterSafe(t *testing.T) {
	s := &Store{prefix: "publink"}
	tg := policy.Target{Type: policy.TargetFolder, ID: "x}y{z"}
	for _, acct := range []string{"acme", "we{ird}", "a}b"} {
		keys := append(s.linkKeys(acct, "id1", tg), s.acct(acct)+"audit", s.acct(acct)+"dl", s.acct(acct)+"dlz")
		tag := hashTag(keys[0])
		if tag == keys[0] {
			t.Fatalf("no hash tag in %q", keys[0])
		}
		for _, k := range keys {
			if hashTag(k) != tag {
				t.Fatalf("%q has tag %q, want %q", k, hashTag(k), tag)
			}
		}
	}
	if hashTag(s.linkKey("a", "1")) == hashTag(s.linkKey("b", "1")) {
		t.Fatal("two accounts share a slot tag")
	}
}

// hashTag mirrors Redis Cluster's rule.
func hashTag(k string) string {
	if i := strings.IndexByte(k, '{'); i >= 0 {
		if j := strings.IndexByte(k[i+1:], '}'); j > 0 {
			return k[i+1 : i+1+j]
		}
	}
	return k
}

func TestURLForms(t *testing.T) {
	ok := []struct{ url, kind string }{
		{"redis://localhost:6380/2", "*redis.Client"},
		{"rediss://u:p@redis.example:6380/0?dial_timeout=3s", "*redis.Client"},
		{"redis+cluster://u:p@h1:7000,h2:7001,h3:7002", "*redis.ClusterClient"},
		{"rediss+cluster://h1:7000?addr=h4:7003&read_timeout=2s", "*redis.ClusterClient"},
		{"redis+sentinel://s1:26379,s2:26379/mymaster", "*redis.Client"},
		{"redis+sentinel://s1:26379/mymaster/3?password=pw", "*redis.Client"},
		{"redis+sentinel://s1:26379?master_name=m", "*redis.Client"},
	}
	for _, c := range ok {
		cl, err := newClient(c.url)
		if err != nil {
			t.Errorf("%s: %v", c.url, err)
			continue
		}
		if got := fmt.Sprintf("%T", cl); got != c.kind {
			t.Errorf("%s: client %s, want %s", c.url, got, c.kind)
		}
		cl.Close()
	}
	for _, bad := range []string{
		"localhost:6379", "http://x:1", "redis+cluster://h1:1/3", "redis+sentinel://s1:1",
		"redis+sentinel://s1:1/m/0/x", "redis+foo://h:1", "redis://h:1/?bogus=1",
	} {
		if cl, err := newClient(bad); err == nil {
			cl.Close()
			t.Errorf("%s: accepted", bad)
		}
	}
	u, err := multiHostURL("redis", "user:pa%40ss@h1:1,h2:2,h3:3/mm/4?dial_timeout=1s", func(string, url.Values) error {
		return nil
	})
	if err != nil || !strings.HasPrefix(u, "redis://user:pa%40ss@h1:1?") || !strings.Contains(u, "addr=h2%3A2&addr=h3%3A3") {
		t.Fatalf("multiHostURL = %q, %v", u, err)
	}
	if _, err := New(context.Background(), "redis://127.0.0.1:1/0", WithPrefix("a{b")); err == nil {
		t.Fatal("prefix with a brace accepted")
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	s := newStore(t, srv.URL())
	defer s.Close()
	ctx := context.Background()
	acct := "acme"
	l := storetest.NewLink(acct, policy.Target{Type: policy.TargetFile, ID: "f1"})
	if err := s.CreateLink(ctx, l, store.Limits{}, time.Now()); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	checks := map[string]error{}
	checks["Ping"] = s.Ping(ctx)
	_, checks["GetLink"] = s.GetLink(ctx, acct, l.ID)
	_, checks["LinkByToken"] = s.LinkByToken(ctx, l.Token)
	checks["CreateLink"] = s.CreateLink(ctx, storetest.NewLink(acct, l.Target), store.Limits{}, time.Now())
	checks["UpdateLink"] = s.UpdateLink(ctx, l)
	_, checks["DeleteLink"] = s.DeleteLink(ctx, acct, l.ID)
	_, _, checks["ListLinks"] = s.ListLinks(ctx, acct, nil, store.Page{})
	_, checks["LinksForTarget"] = s.LinksForTarget(ctx, l.Target)
	_, checks["ExpiredLinks"] = s.ExpiredLinks(ctx, time.Now(), 10)
	checks["AppendAudit"] = s.AppendAudit(ctx, store.AuditRecord{Account: acct, Action: "x"})
	_, _, checks["ListAudit"] = s.ListAudit(ctx, acct, store.Page{})
	_, _, checks["Incr"] = s.Incr(ctx, "k", time.Minute)
	_, _, checks["Count"] = s.Count(ctx, "k")
	_, checks["FirstSeen"] = s.FirstSeen(ctx, "k", time.Minute)
	checks["AddDownload"] = s.AddDownload(ctx, store.Download{ID: "d", Account: acct})
	_, checks["ListDownloads"] = s.ListDownloads(ctx, store.DownloadFilter{Account: acct}, 10)
	for name, err := range checks {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s with redis down: %v, want ErrUnavailable", name, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s with redis down also matches ErrNotFound", name)
		}
	}
	if _, err := New(ctx, srv.URL()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("New with redis down: %v", err)
	}
	lazy, err := New(ctx, srv.URL(), WithLazyConnect())
	if err != nil {
		t.Fatalf("New lazy: %v", err)
	}
	defer lazy.Close()

	// Redis comes back on the same port (empty: it keeps nothing on disk).
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := s.GetLink(ctx, acct, l.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLink after restart: %v, want ErrNotFound (data was not persisted)", err)
	}
	l2 := storetest.NewLink(acct, l.Target)
	if err := s.CreateLink(ctx, l2, store.Limits{PerTarget: 5}, time.Now()); err != nil {
		t.Fatalf("CreateLink after recovery: %v", err)
	}
	if got, err := s.LinkByToken(ctx, l2.Token); err != nil || got.ID != l2.ID {
		t.Fatalf("LinkByToken after recovery: %v, %v", got, err)
	}
	if err := lazy.Ping(ctx); err != nil {
		t.Fatalf("lazy store after recovery: %v", err)
	}
}

// A link record whose Redis TTL fired (sweeper down) leaves index entries
// that never count and are pruned on read.
func TestTTLExpiredRecordTolerated(t *testing.T) {
	rurl := testenv.StartRedis(t)
	s := newStore(t, rurl)
	defer s.Close()
	ctx := context.Background()
	acct := "acme"
	tg := policy.Target{Type: policy.TargetFile, ID: "f"}
	l := storetest.NewLink(acct, tg)
	until := time.Now().Add(-2 * time.Hour)
	l.ValidUntil = &until
	if err := s.CreateLink(ctx, l, store.Limits{}, time.Now().Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The record already expired in Redis (validUntil + 1h is past).
	if _, err := s.GetLink(ctx, acct, l.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLink = %v", err)
	}
	l2 := storetest.NewLink(acct, tg)
	mustOK(t, s.CreateLink(ctx, l2, store.Limits{PerTarget: 1, PerAccount: 1}, time.Now()))
	ls, next, err := s.ListLinks(ctx, acct, nil, store.Page{Limit: 1})
	if err != nil || len(ls) != 1 || ls[0].ID != l2.ID || next != "" {
		t.Fatalf("ListLinks = %v, %q, %v", ls, next, err)
	}
	ex, err := s.ExpiredLinks(ctx, time.Now(), 10)
	if err != nil || len(ex) != 0 {
		t.Fatalf("ExpiredLinks = %v, %v", ex, err)
	}
	if n, _ := s.c.ZCard(ctx, s.expiryKey()).Result(); n != 0 {
		t.Fatalf("dangling expiry entry not pruned: %d", n)
	}
	if n, _ := s.c.ZCard(ctx, s.acct(acct)+"all").Result(); n != 1 {
		t.Fatalf("dangling account entry not pruned: %d", n)
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestContractCluster runs the suite against a one-node Redis Cluster,
// which rejects any script or command whose keys span hash slots.
func TestContractCluster(t *testing.T) {
	curl := testenv.StartRedisCluster(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, curl) })
}
