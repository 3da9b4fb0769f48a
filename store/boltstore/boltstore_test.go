package boltstore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/publink/publink/store"
	"github.com/publink/publink/store/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "publink.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "publink.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Reopen(t, s, func(t *testing.T) store.Store {
		s2, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return s2
	})
}

func TestPurgeAndClock(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	s.SetClock(func() time.Time { return now })
	if n, left, _ := s.Incr(ctx, "k", time.Minute); n != 1 || left != time.Minute {
		t.Fatalf("Incr = %d, %v", n, left)
	}
	if first, _ := s.FirstSeen(ctx, "w", time.Minute); !first {
		t.Fatal("not first")
	}
	now = now.Add(30 * time.Second)
	if n, left, _ := s.Incr(ctx, "k", time.Minute); n != 2 || left != 30*time.Second {
		t.Fatalf("Incr = %d, %v", n, left)
	}
	now = now.Add(30 * time.Second)
	if n, left, _ := s.Count(ctx, "k"); n != 0 || left != 0 {
		t.Fatalf("Count at reset = %d, %v", n, left)
	}
	if err := s.Purge(); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bCounters).Cursor().First(); k != nil {
			t.Errorf("counter %q not purged", k)
		}
		if k, _ := tx.Bucket(bSeen).Cursor().First(); k != nil {
			t.Errorf("seen %q not purged", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstSeen(ctx, "w", time.Minute); !first {
		t.Fatal("not first after ttl")
	}
}
