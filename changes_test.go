package apitoken_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/changefeed"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// feedStore is a store shared by several Managers, as a database is shared
// by replicas: it reports every update and delete to its subscribers while
// the feed is up, and nothing while it is down.
type feedStore struct {
	apitoken.Store
	mu   sync.Mutex
	up   bool
	subs map[int]func(changefeed.Change)
	next int
}

func newFeedStore() *feedStore {
	return &feedStore{Store: memstore.New(), up: true, subs: map[int]func(changefeed.Change){}}
}

func (s *feedStore) Subscribe(fn func(changefeed.Change)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.next
	s.next++
	s.subs[id] = fn
	if !s.up {
		fn(changefeed.Change{Kind: changefeed.Down})
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.subs, id)
	}
}

func (s *feedStore) publish(c changefeed.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up && c.Kind != changefeed.Up {
		return
	}
	for _, fn := range s.subs {
		fn(c)
	}
}

func (s *feedStore) setUp(up bool) {
	kind := changefeed.Down
	if up {
		kind = changefeed.Up
	}
	s.publish(changefeed.Change{Kind: kind}) // while still up, for Down
	s.mu.Lock()
	s.up = up
	s.mu.Unlock()
}

func (s *feedStore) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	err := s.Store.UpdateToken(ctx, t)
	if err == nil {
		s.publish(changefeed.Change{Kind: changefeed.Token, Hash: t.Hash})
	}
	return err
}

func (s *feedStore) UpdateUser(ctx context.Context, u *apitoken.User) error {
	err := s.Store.UpdateUser(ctx, u)
	if err == nil {
		s.publish(changefeed.Change{Kind: changefeed.User, UserID: u.ID})
	}
	return err
}

// replicas returns two Managers over one store with one fake clock, and an
// admin session on the first.
func replicas(t *testing.T, s apitoken.Store) (a, b *apitoken.Manager, clock *storetest.Clock, admin apitoken.Principal) {
	t.Helper()
	clock = storetest.NewClock(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))
	open := func() *apitoken.Manager {
		m, err := apitoken.New(s, &apitoken.Options{HashKey: []byte("shared key, shared key, shared k"), Now: clock.Now, FallbackCacheTTL: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b = open(), open()
	u, err := a.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "ops@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin, err = a.Verify(ctx, l.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return a, b, clock, admin
}

// warm verifies secret on m until its record is cached: the first use by an
// app records the app, which rewrites the record and drops it from the cache.
func warm(t *testing.T, m *apitoken.Manager, secret string) {
	t.Helper()
	for range 2 {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestARevokeOnOneReplicaStopsTheTokenOnAnother(t *testing.T) {
	for _, tc := range []struct {
		name     string
		store    apitoken.Store
		wantStop bool
	}{
		{"with a change feed, the other replica refuses at once", newFeedStore(), true},
		// The control: without a feed the other replica's cache serves the
		// revoked token, which is what the feed exists to prevent.
		{"without a change feed, the other replica's cache still accepts", memstore.New(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, _, admin := replicas(t, tc.store)
			iss, err := a.Issue(ctx, admin, apitoken.IssueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			warm(t, b, iss.Secret)
			if err := a.Revoke(ctx, admin, iss.Token.ID); err != nil {
				t.Fatal(err)
			}
			_, err = b.Verify(ctx, iss.Secret, "")
			if stopped := errors.Is(err, apitoken.ErrRevoked); stopped != tc.wantStop {
				t.Fatalf("verify on the other replica after revoke: %v (want refused: %v)", err, tc.wantStop)
			}
		})
	}
}

func TestAUserChangeOnOneReplicaReachesAnother(t *testing.T) {
	s := newFeedStore()
	a, b, _, admin := replicas(t, s)
	u, err := a.CreateUser(ctx, admin, apitoken.NewUser{Name: "dev@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.Verify(ctx, l.Secret, ""); err != nil || p.Privilege != apitoken.Normal {
		t.Fatalf("before: %v %v", p.Privilege, err)
	}
	role := apitoken.ReadOnly
	if _, err := a.UpdateUser(ctx, admin, u.ID, apitoken.UserUpdate{Role: &role}); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Verify(ctx, l.Secret, ""); err != nil || p.Privilege != apitoken.ReadOnly {
		t.Fatalf("after the role change on the other replica: %v %v, want read-only", p.Privilege, err)
	}
}

func TestWhileTheFeedIsDownCachedRecordsLiveOnlyTheFallbackTTL(t *testing.T) {
	s := newFeedStore()
	a, b, clock, admin := replicas(t, s)
	iss, err := a.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	warm(t, b, iss.Secret)
	s.setUp(false)
	if _, err := b.Verify(ctx, iss.Secret, ""); err != nil { // cached again, with a deadline
		t.Fatal(err)
	}
	if err := a.Revoke(ctx, admin, iss.Token.ID); err != nil { // b hears nothing
		t.Fatal(err)
	}
	clock.Advance(time.Second - time.Nanosecond)
	if _, err := b.Verify(ctx, iss.Secret, ""); err != nil {
		t.Fatalf("within the fallback TTL the cached record serves (the bound, not a wish): %v", err)
	}
	clock.Advance(time.Nanosecond)
	if _, err := b.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("at the fallback TTL: %v, want ErrRevoked", err)
	}

	// Back up: a change missed in the gap must not survive in the cache.
	iss2, err := a.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	warm(t, b, iss2.Secret)
	if err := a.Revoke(ctx, admin, iss2.Token.ID); err != nil { // still unheard
		t.Fatal(err)
	}
	s.setUp(true)
	if _, err := b.Verify(ctx, iss2.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("after the feed came back: %v, want ErrRevoked", err)
	}

	// Up again, records are cached with no deadline.
	iss3, err := a.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	warm(t, b, iss3.Secret)
	clock.Advance(time.Hour)
	if _, err := b.Verify(ctx, iss3.Secret, ""); err != nil {
		t.Fatal(err)
	}
}

func TestAManagerOverADownFeedStartsInFallback(t *testing.T) {
	s := newFeedStore()
	s.setUp(false)
	a, b, clock, admin := replicas(t, s)
	iss, err := a.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	warm(t, b, iss.Secret)
	if err := a.Revoke(ctx, admin, iss.Token.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, err := b.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("got %v, want ErrRevoked", err)
	}
}
