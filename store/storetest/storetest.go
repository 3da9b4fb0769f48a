// Package storetest is the contract suite every store.Store implementation
// must pass. Call Run from the implementation's tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publink/publink/policy"
	"github.com/publink/publink/store"
)

// Open returns a fresh, empty store for one test. The store is closed by
// the suite (via t.Cleanup).
type Open func(t *testing.T) store.Store

var seq atomic.Int64

func uniq(prefix string) string {
	return fmt.Sprintf("%s%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

func tp(t time.Time) *time.Time { return &t }

// NewLink returns a link with every field set (validity bounds nil).
func NewLink(account string, target policy.Target) *policy.Link {
	now := time.Now().UTC().Truncate(time.Second)
	return &policy.Link{
		ID:        uniq("l"),
		Token:     uniq("tok-0123456789abcdefghijkl-"),
		Account:   account,
		Target:    target,
		CreatedAt: now,
		CreatedBy: "u-creator",
		UpdatedAt: now,
		UpdatedBy: "u-creator",
	}
}

func fileTarget(id string) policy.Target { return policy.Target{Type: policy.TargetFile, ID: id} }

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// EqualLinks reports the first difference between two links, or "".
func EqualLinks(want, got *policy.Link) string {
	switch {
	case want == nil || got == nil:
		if want != got {
			return fmt.Sprintf("want %v, got %v", want, got)
		}
		return ""
	case want.ID != got.ID:
		return fmt.Sprintf("ID %q != %q", got.ID, want.ID)
	case want.Token != got.Token:
		return "Token differs"
	case want.Account != got.Account:
		return fmt.Sprintf("Account %q != %q", got.Account, want.Account)
	case want.Target != got.Target:
		return fmt.Sprintf("Target %v != %v", got.Target, want.Target)
	case want.TargetPath != got.TargetPath:
		return fmt.Sprintf("TargetPath %q != %q", got.TargetPath, want.TargetPath)
	case !sameTime(want.ValidFrom, got.ValidFrom):
		return fmt.Sprintf("ValidFrom %v != %v", got.ValidFrom, want.ValidFrom)
	case !sameTime(want.ValidUntil, got.ValidUntil):
		return fmt.Sprintf("ValidUntil %v != %v", got.ValidUntil, want.ValidUntil)
	case want.PasswordHash != got.PasswordHash:
		return "PasswordHash differs"
	case want.PasswordVersion != got.PasswordVersion:
		return fmt.Sprintf("PasswordVersion %d != %d", got.PasswordVersion, want.PasswordVersion)
	case want.ExposeUnpublished != got.ExposeUnpublished:
		return "ExposeUnpublished differs"
	case !sameTime(&want.CreatedAt, &got.CreatedAt):
		return fmt.Sprintf("CreatedAt %v != %v", got.CreatedAt, want.CreatedAt)
	case want.CreatedBy != got.CreatedBy:
		return "CreatedBy differs"
	case !sameTime(&want.UpdatedAt, &got.UpdatedAt):
		return fmt.Sprintf("UpdatedAt %v != %v", got.UpdatedAt, want.UpdatedAt)
	case want.UpdatedBy != got.UpdatedBy:
		return "UpdatedBy differs"
	}
	return ""
}

func ids(ls []*policy.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.ID
	}
	return out
}

func mustCreate(t *testing.T, s store.Store, l *policy.Link) {
	t.Helper()
	if err := s.CreateLink(context.Background(), l, store.Limits{}, time.Now()); err != nil {
		t.Fatalf("CreateLink(%s): %v", l.ID, err)
	}
}

func isNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: got %v, want ErrNotFound", what, err)
	}
}

// Run runs the whole contract suite; open is called once per subtest.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"NotFound", testNotFound},
		{"Conflict", testConflict},
		{"AccountIsolation", testAccountIsolation},
		{"ListLinksPaging", testListLinksPaging},
		{"ListLinksTargetFilter", testListLinksTargetFilter},
		{"LimitPerTarget", testLimitPerTarget},
		{"LimitPerAccount", testLimitPerAccount},
		{"LimitsCountLiveOnly", testLimitsCountLiveOnly},
		{"ConcurrentCreate", testConcurrentCreate},
		{"ConcurrentCreateAccountLimit", testConcurrentCreateAccountLimit},
		{"ConcurrentDelete", testConcurrentDelete},
		{"LinksForTarget", testLinksForTarget},
		{"ExpiredLinks", testExpiredLinks},
		{"Audit", testAudit},
		{"Counters", testCounters},
		{"FirstSeen", testFirstSeen},
		{"Downloads", testDownloads},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	from := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	full := NewLink(acct, policy.Target{Type: policy.TargetFolder, ID: uniq("fold")})
	full.TargetPath = "/photos/2024/ü ber"
	full.ValidFrom, full.ValidUntil = tp(from), tp(until)
	full.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	full.PasswordVersion = 3
	full.ExposeUnpublished = true
	bare := NewLink(acct, policy.Target{Type: policy.TargetCollection, ID: uniq("coll")})

	for _, l := range []*policy.Link{full, bare} {
		want := *l
		mustCreate(t, s, l)
		got, err := s.GetLink(ctx, acct, l.ID)
		if err != nil {
			t.Fatalf("GetLink: %v", err)
		}
		if d := EqualLinks(&want, got); d != "" {
			t.Fatalf("GetLink: %s", d)
		}
		got, err = s.LinkByToken(ctx, l.Token)
		if err != nil {
			t.Fatalf("LinkByToken: %v", err)
		}
		if d := EqualLinks(&want, got); d != "" {
			t.Fatalf("LinkByToken: %s", d)
		}
	}
	got, _ := s.GetLink(ctx, acct, bare.ID)
	if got.ValidFrom != nil || got.ValidUntil != nil {
		t.Fatalf("nil validity bounds came back as %v / %v", got.ValidFrom, got.ValidUntil)
	}

	// Update: change everything that may change, including dropping and
	// adding validity bounds and the password.
	upd := *full
	upd.ValidFrom = nil
	upd.ValidUntil = tp(until.Add(24 * time.Hour))
	upd.PasswordHash, upd.PasswordVersion = "", 4
	upd.ExposeUnpublished = false
	upd.TargetPath = "/photos/2025"
	upd.UpdatedAt = time.Now().Add(time.Minute).UTC().Truncate(time.Second)
	upd.UpdatedBy = "u-editor"
	if err := s.UpdateLink(ctx, &upd); err != nil {
		t.Fatalf("UpdateLink: %v", err)
	}
	want := upd
	for _, get := range []func() (*policy.Link, error){
		func() (*policy.Link, error) { return s.GetLink(ctx, acct, full.ID) },
		func() (*policy.Link, error) { return s.LinkByToken(ctx, full.Token) },
	} {
		got, err := get()
		if err != nil {
			t.Fatalf("get after update: %v", err)
		}
		if d := EqualLinks(&want, got); d != "" {
			t.Fatalf("after update: %s", d)
		}
	}
	// Updated links keep their place in creation order.
	ls, _, err := s.ListLinks(ctx, acct, nil, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(ls), []string{full.ID, bare.ID}) {
		t.Fatalf("ListLinks after update = %v", ids(ls))
	}

	// Updates are a compare-and-swap on Revision: a writer holding an
	// older copy loses with ErrStale and changes nothing.
	if upd.Revision != full.Revision+1 {
		t.Fatalf("Revision after update = %d, want %d", upd.Revision, full.Revision+1)
	}
	stale := *full
	stale.UpdatedBy = "u-late"
	if err := s.UpdateLink(ctx, &stale); !errors.Is(err, store.ErrStale) {
		t.Fatalf("UpdateLink with an old revision: %v, want ErrStale", err)
	}
	if got, err := s.GetLink(ctx, acct, full.ID); err != nil || got.UpdatedBy != "u-editor" || got.Revision != upd.Revision {
		t.Fatalf("after a stale update: %+v, %v", got, err)
	}

	// Token and target are immutable.
	bad := upd
	bad.Token = uniq("other-token")
	if err := s.UpdateLink(ctx, &bad); err == nil {
		t.Fatal("UpdateLink changing the token succeeded")
	}
	bad = upd
	bad.Target = fileTarget("x")
	if err := s.UpdateLink(ctx, &bad); err == nil {
		t.Fatal("UpdateLink changing the target succeeded")
	}

	del, err := s.DeleteLink(ctx, acct, full.ID)
	if err != nil {
		t.Fatalf("DeleteLink: %v", err)
	}
	if d := EqualLinks(&want, del); d != "" {
		t.Fatalf("DeleteLink returned: %s", d)
	}
	_, err = s.GetLink(ctx, acct, full.ID)
	isNotFound(t, "GetLink after delete", err)
	_, err = s.LinkByToken(ctx, full.Token)
	isNotFound(t, "LinkByToken after delete", err)
	_, err = s.DeleteLink(ctx, acct, full.ID)
	isNotFound(t, "second DeleteLink", err)
	isNotFound(t, "UpdateLink after delete", s.UpdateLink(ctx, &upd))
	ls, _, _ = s.ListLinks(ctx, acct, nil, store.Page{})
	if !slices.Equal(ids(ls), []string{bare.ID}) {
		t.Fatalf("ListLinks after delete = %v", ids(ls))
	}
	fl, _ := s.LinksForTarget(ctx, full.Target)
	if len(fl) != 0 {
		t.Fatalf("LinksForTarget after delete = %v", ids(fl))
	}
	// The deleted link's id and token can be used again.
	again := *full
	mustCreate(t, s, &again)
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.GetLink(ctx, "nobody", "nothing")
	isNotFound(t, "GetLink", err)
	_, err = s.LinkByToken(ctx, "no-such-token")
	isNotFound(t, "LinkByToken", err)
	_, err = s.DeleteLink(ctx, "nobody", "nothing")
	isNotFound(t, "DeleteLink", err)
	isNotFound(t, "UpdateLink", s.UpdateLink(ctx, NewLink("nobody", fileTarget("f"))))
	ls, next, err := s.ListLinks(ctx, "nobody", nil, store.Page{})
	if err != nil || len(ls) != 0 || next != "" {
		t.Fatalf("ListLinks(empty) = %v, %q, %v", ls, next, err)
	}
	fl, err := s.LinksForTarget(ctx, fileTarget("none"))
	if err != nil || len(fl) != 0 {
		t.Fatalf("LinksForTarget(empty) = %v, %v", fl, err)
	}
	ar, next, err := s.ListAudit(ctx, "nobody", store.Page{})
	if err != nil || len(ar) != 0 || next != "" {
		t.Fatalf("ListAudit(empty) = %v, %q, %v", ar, next, err)
	}
	ds, err := s.ListDownloads(ctx, store.DownloadFilter{Account: "nobody"}, 10)
	if err != nil || len(ds) != 0 {
		t.Fatalf("ListDownloads(empty) = %v, %v", ds, err)
	}
}

func testConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	a := NewLink(acct, fileTarget(uniq("f")))
	mustCreate(t, s, a)

	sameID := NewLink(acct, fileTarget(uniq("f")))
	sameID.ID = a.ID
	if err := s.CreateLink(ctx, sameID, store.Limits{}, time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same id: %v, want ErrConflict", err)
	}
	sameTok := NewLink(uniq("acct"), fileTarget(uniq("f")))
	sameTok.Token = a.Token
	if err := s.CreateLink(ctx, sameTok, store.Limits{}, time.Now()); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same token: %v, want ErrConflict", err)
	}
	// The original is untouched and the failed ones left nothing behind.
	got, err := s.LinkByToken(ctx, a.Token)
	if err != nil || got.ID != a.ID || got.Account != acct {
		t.Fatalf("LinkByToken after conflicts = %v, %v", got, err)
	}
	if _, err := s.GetLink(ctx, sameTok.Account, sameTok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("conflicting link was stored: %v", err)
	}
	ls, _ := s.LinksForTarget(ctx, sameID.Target)
	if len(ls) != 0 {
		t.Fatalf("conflicting link indexed by target: %v", ids(ls))
	}
	ls, _, _ = s.ListLinks(ctx, acct, nil, store.Page{})
	if !slices.Equal(ids(ls), []string{a.ID}) {
		t.Fatalf("ListLinks = %v", ids(ls))
	}
}

func testAccountIsolation(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := uniq("acctA"), uniq("acctB")
	target := fileTarget(uniq("shared"))
	la := NewLink(a, target)
	lb := NewLink(b, target)
	mustCreate(t, s, la)
	mustCreate(t, s, lb)

	_, err := s.GetLink(ctx, b, la.ID)
	isNotFound(t, "GetLink with the wrong account", err)
	_, err = s.DeleteLink(ctx, b, la.ID)
	isNotFound(t, "DeleteLink with the wrong account", err)
	wrong := *la
	wrong.Account = b
	isNotFound(t, "UpdateLink with the wrong account", s.UpdateLink(ctx, &wrong))

	for acct, want := range map[string]string{a: la.ID, b: lb.ID} {
		ls, _, err := s.ListLinks(ctx, acct, nil, store.Page{})
		if err != nil || !slices.Equal(ids(ls), []string{want}) {
			t.Fatalf("ListLinks(%s) = %v, %v", acct, ids(ls), err)
		}
		ls, _, err = s.ListLinks(ctx, acct, &target, store.Page{})
		if err != nil || !slices.Equal(ids(ls), []string{want}) {
			t.Fatalf("ListLinks(%s, target) = %v, %v", acct, ids(ls), err)
		}
	}
	// Limits are per account: b's link does not count for a.
	l2 := NewLink(a, target)
	if err := s.CreateLink(ctx, l2, store.Limits{PerTarget: 2, PerAccount: 2}, time.Now()); err != nil {
		t.Fatalf("second link of a: %v", err)
	}
}

func pageAll(t *testing.T, s store.Store, acct string, target *policy.Target, limit int) ([]string, int) {
	t.Helper()
	var all []string
	cursor := ""
	pages := 0
	for {
		ls, next, err := s.ListLinks(context.Background(), acct, target, store.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("ListLinks(cursor %q): %v", cursor, err)
		}
		if len(ls) > limit {
			t.Fatalf("page of %d > limit %d", len(ls), limit)
		}
		pages++
		all = append(all, ids(ls)...)
		if next == "" {
			return all, pages
		}
		if pages > 100 {
			t.Fatal("ListLinks never ends")
		}
		cursor = next
	}
}

func testListLinksPaging(t *testing.T, s store.Store) {
	acct := uniq("acct")
	var want []string
	for i := range 7 {
		l := NewLink(acct, fileTarget(fmt.Sprintf("f%d", i%2)))
		// IDs deliberately not in lexical creation order.
		l.ID = fmt.Sprintf("z%d-%s", 9-i, l.ID)
		mustCreate(t, s, l)
		want = append(want, l.ID)
	}
	got, pages := pageAll(t, s, acct, nil, 3)
	if !slices.Equal(got, want) {
		t.Fatalf("paged = %v\nwant    %v", got, want)
	}
	if pages != 3 {
		t.Fatalf("pages = %d, want 3", pages)
	}
	got, pages = pageAll(t, s, acct, nil, 7)
	if !slices.Equal(got, want) || pages != 1 {
		t.Fatalf("one page = %v (%d pages)", got, pages)
	}
	got, _ = pageAll(t, s, acct, nil, 1)
	if !slices.Equal(got, want) {
		t.Fatalf("paged by 1 = %v", got)
	}
	// A deletion between pages does not repeat or skip others.
	ls, next, err := s.ListLinks(context.Background(), acct, nil, store.Page{Limit: 3})
	if err != nil || len(ls) != 3 || next == "" {
		t.Fatalf("first page: %v %q %v", ids(ls), next, err)
	}
	if _, err := s.DeleteLink(context.Background(), acct, want[3]); err != nil {
		t.Fatal(err)
	}
	ls, _, err = s.ListLinks(context.Background(), acct, nil, store.Page{Limit: 3, Cursor: next})
	if err != nil || !slices.Equal(ids(ls), want[4:7]) {
		t.Fatalf("page after deletion = %v, %v; want %v", ids(ls), err, want[4:7])
	}
}

func testListLinksTargetFilter(t *testing.T, s store.Store) {
	acct := uniq("acct")
	t1 := fileTarget(uniq("t1"))
	t2 := policy.Target{Type: policy.TargetFolder, ID: t1.ID} // same id, other type
	var want1, want2 []string
	for i := range 7 {
		tg := t1
		if i%3 == 2 {
			tg = t2
		}
		l := NewLink(acct, tg)
		mustCreate(t, s, l)
		if tg == t1 {
			want1 = append(want1, l.ID)
		} else {
			want2 = append(want2, l.ID)
		}
	}
	// Another account's link for the same target is never listed.
	mustCreate(t, s, NewLink(uniq("other"), t1))
	got, _ := pageAll(t, s, acct, &t1, 2)
	if !slices.Equal(got, want1) {
		t.Fatalf("target %v: %v, want %v", t1, got, want1)
	}
	got, _ = pageAll(t, s, acct, &t2, 1)
	if !slices.Equal(got, want2) {
		t.Fatalf("target %v: %v, want %v", t2, got, want2)
	}
	none := fileTarget(uniq("none"))
	got, _ = pageAll(t, s, acct, &none, 5)
	if len(got) != 0 {
		t.Fatalf("unknown target lists %v", got)
	}
}

func testLimitPerTarget(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	tg := fileTarget(uniq("f"))
	lim := store.Limits{PerTarget: 3, PerAccount: 100}
	var made []*policy.Link
	for range 3 {
		l := NewLink(acct, tg)
		if err := s.CreateLink(ctx, l, lim, time.Now()); err != nil {
			t.Fatal(err)
		}
		made = append(made, l)
	}
	over := NewLink(acct, tg)
	if err := s.CreateLink(ctx, over, lim, time.Now()); !errors.Is(err, store.ErrLimitTarget) {
		t.Fatalf("4th link: %v, want ErrLimitTarget", err)
	}
	_, err := s.GetLink(ctx, acct, over.ID)
	isNotFound(t, "rejected link", err)
	_, err = s.LinkByToken(ctx, over.Token)
	isNotFound(t, "rejected link by token", err)
	if ls, _ := s.LinksForTarget(ctx, tg); len(ls) != 3 {
		t.Fatalf("LinksForTarget = %d links, want 3", len(ls))
	}
	// Another target is fine; zero means no limit.
	if err := s.CreateLink(ctx, NewLink(acct, fileTarget(uniq("g"))), lim, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLink(ctx, NewLink(acct, tg), store.Limits{}, time.Now()); err != nil {
		t.Fatalf("no limits: %v", err)
	}
	// Deleting frees a slot.
	if err := s.CreateLink(ctx, NewLink(acct, tg), store.Limits{PerTarget: 4}, time.Now()); !errors.Is(err, store.ErrLimitTarget) {
		t.Fatalf("at 4/4: %v", err)
	}
	if _, err := s.DeleteLink(ctx, acct, made[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLink(ctx, over, store.Limits{PerTarget: 4}, time.Now()); err != nil {
		t.Fatalf("after delete: %v", err)
	}
}

func testLimitPerAccount(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	lim := store.Limits{PerTarget: 5, PerAccount: 4}
	for i := range 4 {
		if err := s.CreateLink(ctx, NewLink(acct, fileTarget(fmt.Sprint("f", i))), lim, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	over := NewLink(acct, fileTarget("f9"))
	if err := s.CreateLink(ctx, over, lim, time.Now()); !errors.Is(err, store.ErrLimitAccount) {
		t.Fatalf("5th link: %v, want ErrLimitAccount", err)
	}
	_, err := s.GetLink(ctx, acct, over.ID)
	isNotFound(t, "rejected link", err)
	// Both limits hit: either error is acceptable, but it must fail.
	if err := s.CreateLink(ctx, NewLink(acct, fileTarget("f0")), store.Limits{PerTarget: 1, PerAccount: 4}, time.Now()); !errors.Is(err, store.ErrLimitAccount) && !errors.Is(err, store.ErrLimitTarget) {
		t.Fatalf("both limits: %v", err)
	}
	// Another account is unaffected.
	if err := s.CreateLink(ctx, NewLink(uniq("acct"), fileTarget("f9")), lim, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func testLimitsCountLiveOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	tg := fileTarget(uniq("f"))
	now := time.Now()
	lim := store.Limits{PerTarget: 2, PerAccount: 3}

	// Two links already past validUntil (one exactly at now) and one
	// not-yet-valid link; only the latter counts.
	dead1 := NewLink(acct, tg)
	dead1.ValidUntil = tp(now.Add(-time.Second))
	dead2 := NewLink(acct, tg)
	dead2.ValidUntil = tp(now.Add(time.Second))
	future := NewLink(acct, tg)
	future.ValidFrom = tp(now.Add(time.Hour))
	future.ValidUntil = tp(now.Add(2 * time.Hour))
	for _, l := range []*policy.Link{dead1, dead2, future} {
		if err := s.CreateLink(ctx, l, store.Limits{}, now.Add(-2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// At now+1s, dead1 and dead2 are expired (validUntil <= now).
	at := now.Add(time.Second)
	live := NewLink(acct, tg)
	if err := s.CreateLink(ctx, live, lim, at); err != nil {
		t.Fatalf("expired links counted against the target: %v", err)
	}
	if err := s.CreateLink(ctx, NewLink(acct, tg), lim, at); !errors.Is(err, store.ErrLimitTarget) {
		t.Fatalf("future+live should fill PerTarget=2: %v", err)
	}
	if err := s.CreateLink(ctx, NewLink(acct, fileTarget(uniq("g"))), lim, at); err != nil {
		t.Fatalf("account has 2 live of 3: %v", err)
	}
	if err := s.CreateLink(ctx, NewLink(acct, fileTarget(uniq("h"))), lim, at); !errors.Is(err, store.ErrLimitAccount) {
		t.Fatalf("account full: %v", err)
	}
	// Expired links still exist until deleted.
	if _, err := s.GetLink(ctx, acct, dead1.ID); err != nil {
		t.Fatalf("expired link vanished before sweep: %v", err)
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	tg := fileTarget(uniq("hot"))
	const n = 50
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			err := s.CreateLink(ctx, NewLink(acct, tg), store.Limits{PerTarget: 5, PerAccount: 100}, time.Now())
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrLimitTarget):
				limited.Add(1)
			default:
				other.Add(1)
				t.Errorf("CreateLink: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 5 || limited.Load() != n-5 || other.Load() != 0 {
		t.Fatalf("ok=%d limited=%d other=%d; want 5/%d/0", ok.Load(), limited.Load(), other.Load(), n-5)
	}
	ls, _, _ := s.ListLinks(ctx, acct, &tg, store.Page{Limit: 100})
	if len(ls) != 5 {
		t.Fatalf("stored %d links, want 5", len(ls))
	}
	if fl, _ := s.LinksForTarget(ctx, tg); len(fl) != 5 {
		t.Fatalf("LinksForTarget = %d, want 5", len(fl))
	}
}

func testConcurrentCreateAccountLimit(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	const n = 30
	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.CreateLink(ctx, NewLink(acct, fileTarget(fmt.Sprint("t", i))), store.Limits{PerTarget: 5, PerAccount: 7}, time.Now())
			if err == nil {
				ok.Add(1)
			} else if !errors.Is(err, store.ErrLimitAccount) {
				t.Errorf("CreateLink: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 7 {
		t.Fatalf("%d creates succeeded, want 7", ok.Load())
	}
}

func testConcurrentDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	l := NewLink(acct, fileTarget(uniq("f")))
	mustCreate(t, s, l)
	const n = 20
	var ok, nf atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			got, err := s.DeleteLink(ctx, acct, l.ID)
			switch {
			case err == nil:
				ok.Add(1)
				if got == nil || got.ID != l.ID {
					t.Errorf("DeleteLink returned %v", got)
				}
			case errors.Is(err, store.ErrNotFound):
				nf.Add(1)
			default:
				t.Errorf("DeleteLink: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if ok.Load() != 1 || nf.Load() != n-1 {
		t.Fatalf("ok=%d notfound=%d; want 1/%d", ok.Load(), nf.Load(), n-1)
	}
}

func testLinksForTarget(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := uniq("acctA"), uniq("acctB")
	tg := policy.Target{Type: policy.TargetCollection, ID: uniq("c")}
	la1, la2, lb := NewLink(a, tg), NewLink(a, tg), NewLink(b, tg)
	expired := NewLink(b, tg)
	expired.ValidUntil = tp(time.Now().Add(-time.Minute))
	for _, l := range []*policy.Link{la1, la2, lb, expired} {
		mustCreate(t, s, l)
	}
	mustCreate(t, s, NewLink(a, fileTarget(tg.ID))) // same id, other type
	mustCreate(t, s, NewLink(a, policy.Target{Type: policy.TargetCollection, ID: tg.ID + "x"}))

	ls, err := s.LinksForTarget(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(ls)
	slices.Sort(got)
	want := []string{la1.ID, la2.ID, lb.ID, expired.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("LinksForTarget = %v, want %v", got, want)
	}
	for _, l := range ls {
		if l.Target != tg {
			t.Fatalf("wrong target %v", l.Target)
		}
		if l.Account != a && l.Account != b {
			t.Fatalf("wrong account %q", l.Account)
		}
	}
	if _, err := s.DeleteLink(ctx, b, lb.ID); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.LinksForTarget(ctx, tg)
	if len(ls) != 3 {
		t.Fatalf("after delete: %v", ids(ls))
	}
}

func testExpiredLinks(t *testing.T, s store.Store) {
	ctx := context.Background()
	now := time.Now()
	a, b := uniq("acctA"), uniq("acctB")
	var wantExpired []string
	for i, acct := range []string{a, b, a} {
		l := NewLink(acct, fileTarget(uniq("f")))
		l.ValidUntil = tp(now.Add(-time.Duration(i+1) * time.Minute))
		mustCreate(t, s, l)
		wantExpired = append(wantExpired, l.ID)
	}
	atNow := NewLink(a, fileTarget(uniq("f")))
	atNow.ValidUntil = tp(now)
	mustCreate(t, s, atNow)
	wantExpired = append(wantExpired, atNow.ID)
	later := NewLink(a, fileTarget(uniq("f")))
	later.ValidUntil = tp(now.Add(time.Hour))
	mustCreate(t, s, later)
	mustCreate(t, s, NewLink(b, fileTarget(uniq("f")))) // no validUntil

	ls, err := s.ExpiredLinks(ctx, now, 100)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(ls)
	slices.Sort(got)
	slices.Sort(wantExpired)
	if !slices.Equal(got, wantExpired) {
		t.Fatalf("ExpiredLinks = %v, want %v", got, wantExpired)
	}
	for _, l := range ls {
		if !l.Expired(now) {
			t.Fatalf("not expired: %v", l.ValidUntil)
		}
	}
	ls, _ = s.ExpiredLinks(ctx, now, 2)
	if len(ls) != 2 {
		t.Fatalf("limit 2 gave %d", len(ls))
	}
	// The sweeper deletes them; then they are gone.
	ls, _ = s.ExpiredLinks(ctx, now, 100)
	for _, l := range ls {
		if _, err := s.DeleteLink(ctx, l.Account, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	if ls, _ = s.ExpiredLinks(ctx, now, 100); len(ls) != 0 {
		t.Fatalf("after sweep: %v", ids(ls))
	}
	// An update moving validUntil into the past makes it expired, and back.
	later.ValidUntil = tp(now.Add(-time.Second))
	if err := s.UpdateLink(ctx, later); err != nil {
		t.Fatal(err)
	}
	if ls, _ = s.ExpiredLinks(ctx, now, 100); !slices.Equal(ids(ls), []string{later.ID}) {
		t.Fatalf("after update into the past: %v", ids(ls))
	}
	later.ValidUntil = nil
	if err := s.UpdateLink(ctx, later); err != nil {
		t.Fatal(err)
	}
	if ls, _ = s.ExpiredLinks(ctx, now.Add(100*365*24*time.Hour), 100); len(ls) != 0 {
		t.Fatalf("after removing validUntil: %v", ids(ls))
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := uniq("acctA"), uniq("acctB")
	base := time.Now().UTC().Truncate(time.Second)
	var want []store.AuditRecord
	for i := range 7 {
		rec := store.AuditRecord{
			ID: fmt.Sprint("au", i), Time: base.Add(time.Duration(i) * time.Second), Account: a,
			Actor: "u1", Action: "link.updated", LinkID: fmt.Sprint("l", i),
			Target: fileTarget("f"), Changes: []string{"validUntil", "password"},
		}
		if i == 6 {
			rec.Actor, rec.Action, rec.Reason, rec.Changes = "system", "link.deleted", "expired", nil
		}
		if err := s.AppendAudit(ctx, rec); err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
		if err := s.AppendAudit(ctx, store.AuditRecord{ID: fmt.Sprint("bu", i), Time: base, Account: b, Actor: "x", Action: "link.created"}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(want)
	var got []store.AuditRecord
	cursor := ""
	for pages := 0; ; pages++ {
		recs, next, err := s.ListAudit(ctx, a, store.Page{Cursor: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) > 3 || pages > 5 {
			t.Fatalf("bad paging: %d records, page %d", len(recs), pages)
		}
		got = append(got, recs...)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if g.ID != w.ID || !g.Time.Equal(w.Time) || g.Actor != w.Actor || g.Action != w.Action ||
			g.LinkID != w.LinkID || g.Target != w.Target || !slices.Equal(g.Changes, w.Changes) || g.Reason != w.Reason {
			t.Fatalf("record %d = %+v, want %+v", i, g, w)
		}
		if g.Account != "" && g.Account != a {
			t.Fatalf("record %d account %q", i, g.Account)
		}
	}
	recs, _, _ := s.ListAudit(ctx, b, store.Page{Limit: 100})
	if len(recs) != 7 {
		t.Fatalf("account b has %d records", len(recs))
	}
	for _, r := range recs {
		if r.ID[:2] != "bu" {
			t.Fatalf("account b sees %q", r.ID)
		}
	}
}

func testCounters(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := uniq("pw:link:ip")
	const window = 400 * time.Millisecond
	if n, left, err := s.Count(ctx, key); err != nil || n != 0 || left > 0 {
		t.Fatalf("Count(absent) = %d, %v, %v", n, left, err)
	}
	for i := int64(1); i <= 3; i++ {
		n, left, err := s.Incr(ctx, key, window)
		if err != nil {
			t.Fatal(err)
		}
		if n != i || left <= 0 || left > window {
			t.Fatalf("Incr #%d = %d, %v", i, n, left)
		}
	}
	// The window is not extended by later increments.
	time.Sleep(150 * time.Millisecond)
	n, left, err := s.Incr(ctx, key, window)
	if err != nil || n != 4 || left > window-100*time.Millisecond || left <= 0 {
		t.Fatalf("Incr #4 = %d, %v, %v (window must not restart)", n, left, err)
	}
	n, left, err = s.Count(ctx, key)
	if err != nil || n != 4 || left <= 0 || left > window {
		t.Fatalf("Count = %d, %v, %v", n, left, err)
	}
	if n2, _, _ := s.Count(ctx, uniq("other")); n2 != 0 {
		t.Fatalf("other key = %d", n2)
	}
	time.Sleep(window)
	if n, left, err := s.Count(ctx, key); err != nil || n != 0 || left > 0 {
		t.Fatalf("Count after window = %d, %v, %v", n, left, err)
	}
	n, left, err = s.Incr(ctx, key, window)
	if err != nil || n != 1 || left <= window-100*time.Millisecond {
		t.Fatalf("Incr after reset = %d, %v, %v", n, left, err)
	}

	// Concurrent increments are all counted.
	key2 := uniq("hot")
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if _, _, err := s.Incr(ctx, key2, time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _, _ := s.Count(ctx, key2); n != 40 {
		t.Fatalf("concurrent Incr counted %d, want 40", n)
	}
}

func testFirstSeen(t *testing.T, s store.Store) {
	ctx := context.Background()
	key := uniq("delivery")
	if first, err := s.FirstSeen(ctx, key, time.Hour); err != nil || !first {
		t.Fatalf("first = %v, %v", first, err)
	}
	if first, err := s.FirstSeen(ctx, key, time.Hour); err != nil || first {
		t.Fatalf("second = %v, %v", first, err)
	}
	if first, _ := s.FirstSeen(ctx, uniq("delivery"), time.Hour); !first {
		t.Fatal("other key not first")
	}
	short := uniq("short")
	if first, _ := s.FirstSeen(ctx, short, 200*time.Millisecond); !first {
		t.Fatal("short not first")
	}
	time.Sleep(350 * time.Millisecond)
	if first, _ := s.FirstSeen(ctx, short, time.Hour); !first {
		t.Fatal("key not new again after its ttl")
	}
	// Exactly one of many concurrent callers is first.
	hot := uniq("hot")
	var firsts atomic.Int64
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			first, err := s.FirstSeen(ctx, hot, time.Hour)
			if err != nil {
				t.Error(err)
			}
			if first {
				firsts.Add(1)
			}
		})
	}
	wg.Wait()
	if firsts.Load() != 1 {
		t.Fatalf("%d callers were first", firsts.Load())
	}
}

func testDownloads(t *testing.T, s store.Store) {
	ctx := context.Background()
	a, b := uniq("acctA"), uniq("acctB")
	base := time.Now().UTC().Truncate(time.Second)
	mk := func(id, acct, link, session, user string, age int) store.Download {
		return store.Download{ID: id, Account: acct, LinkID: link, Session: session, User: user,
			CreatedAt: base.Add(-time.Duration(age) * time.Minute), Files: 3, Bytes: 1 << 40, Status: "started"}
	}
	ds := []store.Download{
		mk("d1", a, "l1", "s1", "", 5),
		mk("d2", a, "l1", "s2", "u1", 4),
		mk("d3", a, "l2", "s1", "u1", 3),
		mk("d4", b, "l1", "s9", "u1", 2),
		mk("d5", a, "l2", "s3", "", 1),
	}
	for _, d := range ds {
		if err := s.AddDownload(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	// Replace d2 by id.
	d2 := ds[1]
	d2.Status, d2.Files, d2.Bytes = "completed", 7, 12345
	if err := s.AddDownload(ctx, d2); err != nil {
		t.Fatal(err)
	}
	dlIDs := func(ds []store.Download) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	cases := []struct {
		f     store.DownloadFilter
		limit int
		want  []string
	}{
		{store.DownloadFilter{Account: a}, 100, []string{"d5", "d3", "d2", "d1"}},
		{store.DownloadFilter{Account: a}, 2, []string{"d5", "d3"}},
		{store.DownloadFilter{Account: a, LinkID: "l1"}, 100, []string{"d2", "d1"}},
		{store.DownloadFilter{Account: a, User: "u1"}, 100, []string{"d3", "d2"}},
		{store.DownloadFilter{Account: a, Session: "s1"}, 100, []string{"d3", "d1"}},
		{store.DownloadFilter{Account: a, LinkID: "l2", User: "u1"}, 100, []string{"d3"}},
		{store.DownloadFilter{Account: b}, 100, []string{"d4"}},
		{store.DownloadFilter{Account: a, LinkID: "nope"}, 100, nil},
		{store.DownloadFilter{LinkID: "l1"}, 100, []string{"d4", "d2", "d1"}},
	}
	for _, c := range cases {
		got, err := s.ListDownloads(ctx, c.f, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(dlIDs(got), c.want) {
			t.Fatalf("ListDownloads(%+v, %d) = %v, want %v", c.f, c.limit, dlIDs(got), c.want)
		}
	}
	got, _ := s.ListDownloads(ctx, store.DownloadFilter{Account: a, LinkID: "l1", Session: "s2"}, 10)
	if len(got) != 1 {
		t.Fatalf("d2 lookup = %v", got)
	}
	g := got[0]
	if g.Status != "completed" || g.Files != 7 || g.Bytes != 12345 || g.User != "u1" || g.Session != "s2" ||
		g.Account != a || !g.CreatedAt.Equal(d2.CreatedAt) {
		t.Fatalf("replaced download = %+v", g)
	}
}

// Reopen checks that links, audit records and downloads written to s
// survive closing it and opening the same storage again with reopen.
func Reopen(t *testing.T, s store.Store, reopen func(t *testing.T) store.Store) {
	ctx := context.Background()
	acct := uniq("acct")
	l := NewLink(acct, fileTarget(uniq("f")))
	l.ValidUntil = tp(time.Now().Add(-time.Minute))
	l.PasswordHash = "h"
	mustCreate(t, s, l)
	l2 := NewLink(acct, fileTarget(uniq("f")))
	mustCreate(t, s, l2)
	if err := s.AppendAudit(ctx, store.AuditRecord{ID: "r1", Account: acct, Time: time.Now(), Action: "link.created"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDownload(ctx, store.Download{ID: "d1", Account: acct, LinkID: l.ID, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Incr(ctx, "c", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2 := reopen(t)
	t.Cleanup(func() { s2.Close() })
	got, err := s2.LinkByToken(ctx, l.Token)
	if err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if d := EqualLinks(l, got); d != "" {
		t.Fatalf("after reopen: %s", d)
	}
	ls, _, err := s2.ListLinks(ctx, acct, nil, store.Page{})
	if err != nil || !slices.Equal(ids(ls), []string{l.ID, l2.ID}) {
		t.Fatalf("ListLinks after reopen = %v, %v", ids(ls), err)
	}
	if ex, _ := s2.ExpiredLinks(ctx, time.Now(), 10); !slices.Equal(ids(ex), []string{l.ID}) {
		t.Fatalf("ExpiredLinks after reopen = %v", ids(ex))
	}
	if recs, _, _ := s2.ListAudit(ctx, acct, store.Page{}); len(recs) != 1 {
		t.Fatalf("audit after reopen = %v", recs)
	}
	if ds, _ := s2.ListDownloads(ctx, store.DownloadFilter{Account: acct}, 10); len(ds) != 1 {
		t.Fatalf("downloads after reopen = %v", ds)
	}
	if n, _, _ := s2.Count(ctx, "c"); n != 1 {
		t.Fatalf("counter after reopen = %d", n)
	}
	// New links keep creation order after the old ones.
	l3 := NewLink(acct, fileTarget(uniq("f")))
	mustCreate(t, s2, l3)
	ls, _, _ = s2.ListLinks(ctx, acct, nil, store.Page{})
	if !slices.Equal(ids(ls), []string{l.ID, l2.ID, l3.ID}) {
		t.Fatalf("ListLinks after reopen+create = %v", ids(ls))
	}
}
