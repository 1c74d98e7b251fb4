package pgstore_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/changefeed"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/pgstore/pgtest"
	"github.com/apitoken/apitoken/storetest"
)

// The change feed is up only while the listening connection hears the
// heartbeats the store sends through its pool. These tests point the
// listener where it cannot hear them and check that the feed says so.

const shortHeartbeat = 100 * time.Millisecond

// TestAListenerOnAnotherDatabaseReportsTheFeedDown opens a store whose
// ListenConnString reaches another database: that connection answers
// pings and LISTENs on the right channel name, but hears nothing the
// store's database announces. The feed must be down within two Heartbeats
// of the listener starting (Open waits one Heartbeat for the first
// heartbeat, so it returns with the feed down) and must never report up.
func TestAListenerOnAnotherDatabaseReportsTheFeedDown(t *testing.T) {
	url, other := schemaURL(t), pgtest.OtherDatabase(t)
	open(t, url) // migrate first, so that Open below does only its own work
	s, err := pgstore.Open(ctx, url, &pgstore.Options{ListenConnString: other, Heartbeat: shortHeartbeat, ReconnectDelay: shortHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	listening := pgstore.ListeningSince(s) // the first listening connection's, read before it can be replaced
	up := s.FeedUp()
	took := time.Since(listening)
	t.Logf("listener on another database: Open returned with the feed down %v after the listener started (Heartbeat %v)",
		took.Round(time.Millisecond), shortHeartbeat)
	if up {
		t.Fatal("Open returned with the feed up though the listener hears nothing")
	}
	if took > 2*shortHeartbeat {
		t.Fatalf("the feed was down only %v after the listener started, want within two Heartbeats (%v)", took, 2*shortHeartbeat)
	}
	start := time.Now()

	var mu sync.Mutex
	var seen []changefeed.Kind
	cancel := s.Subscribe(func(c changefeed.Change) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, c.Kind)
	})
	defer cancel()
	// Ten Heartbeats span several reconnects (two Heartbeats each, plus the
	// reconnect delay): none of them may bring the feed up.
	for end := time.Now().Add(10 * shortHeartbeat); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if s.FeedUp() {
			t.Fatalf("the feed came up %v after Open returned though the listener hears nothing", time.Since(start))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != changefeed.Down {
		t.Fatalf("a subscriber saw %v, want only the changefeed.Down it is given on subscribing", seen)
	}
}

// TestARevokeIsRefusedByAnInstanceListeningOnAnotherDatabase is the
// attack: instance B's listener reaches another database, so it hears no
// change. A token cached on B and then revoked through A must be refused
// by B within FallbackCacheTTL plus two Heartbeats.
func TestARevokeIsRefusedByAnInstanceListeningOnAnotherDatabase(t *testing.T) {
	url, other := schemaURL(t), pgtest.OtherDatabase(t)
	a := openReplica(t, url, nil)
	b := openReplica(t, url, &pgstore.Options{ListenConnString: other, Heartbeat: shortHeartbeat, ReconnectDelay: shortHeartbeat})
	signInEverywhere(t, &a)
	if !a.store.FeedUp() {
		t.Fatal("A, whose listener is on the right database, reports its feed down")
	}

	bound := time.Second + 2*shortHeartbeat
	for trial := range 3 {
		iss, err := a.m.Issue(ctx, a.admin, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		cachedOn(t, b.m, iss.Secret)
		if err := a.m.Revoke(ctx, a.admin, iss.Token.ID); err != nil { // B cannot hear this
			t.Fatal(err)
		}
		stale, wait := untilRefused(t, b.m, iss.Secret, bound, 5*time.Millisecond)
		t.Logf("trial %d: B (listener on another database) accepted the revoked token %d times over %v, then refused (bound: FallbackCacheTTL %v (its default) + 2 Heartbeats = %v)",
			trial, stale, wait.Round(time.Millisecond), time.Second, bound)
		if stale == 0 {
			t.Fatal("B refused at once: the record was not cached, so this trial proved nothing about the bound")
		}
	}
	if b.store.FeedUp() {
		t.Fatal("B reports its feed up")
	}
}

// countingFeed counts a store's calls and passes its change feed through,
// so that a Manager over it both subscribes and is counted.
type countingFeed struct {
	*storetest.Counting
	feed changefeed.Feed
}

func (c countingFeed) Subscribe(fn func(changefeed.Change)) func() { return c.feed.Subscribe(fn) }

// TestHeartbeatsNeitherEmptyCachesNorCountAsChanges checks that the
// heartbeats, this store's and another instance's on the same channel,
// are not taken for changes: over many Heartbeats a subscriber sees no
// change at all, and a Manager's hot verification makes no store read.
func TestHeartbeatsNeitherEmptyCachesNorCountAsChanges(t *testing.T) {
	const heartbeat = 50 * time.Millisecond
	url := schemaURL(t)
	s, err := pgstore.Open(ctx, url, &pgstore.Options{Heartbeat: heartbeat})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := pgstore.Open(ctx, url, &pgstore.Options{Heartbeat: heartbeat}) // another instance, beating on the same channel
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	waitFor(t, "the feed to be up", s.FeedUp)

	c := storetest.NewCounting(s)
	m, err := apitoken.New(countingFeed{c, s}, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	r := replica{store: s, m: m}
	signInEverywhere(t, &r)
	iss, err := m.Issue(ctx, r.admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cachedOn(t, m, iss.Secret)
	// The notifications of the writes above arrive asynchronously and drop
	// the record: let them land, then verify until it is cached again.
	time.Sleep(5 * heartbeat)
	for i := 0; ; i++ {
		before := c.Reads()
		if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
			t.Fatal(err)
		}
		if c.Reads() == before {
			break
		}
		if i == 10 {
			t.Fatal("the token does not stay cached even before the heartbeats are watched")
		}
	}

	// A window in which the feed itself went down and up (on a loaded
	// machine a heartbeat can arrive late) cannot show what heartbeats
	// do, since going down empties the cache by design: such a window is
	// observed again, at most three times.
	var mu sync.Mutex
	var seen []changefeed.Change
	cancel := s.Subscribe(func(ch changefeed.Change) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ch)
	})
	defer cancel()
	for attempt := 1; ; attempt++ {
		mu.Lock()
		seen = seen[:0]
		mu.Unlock()
		reads, heard, otherHeard := c.Reads(), pgstore.HeartbeatsHeard(s), pgstore.HeartbeatsHeard(other)
		verifies := 0
		for end := time.Now().Add(25 * heartbeat); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
				t.Fatal(err)
			}
			verifies++
		}
		heard, otherHeard = pgstore.HeartbeatsHeard(s)-heard, pgstore.HeartbeatsHeard(other)-otherHeard
		reads = c.Reads() - reads
		mu.Lock()
		window := slices.Clone(seen)
		mu.Unlock()
		t.Logf("over %v (Heartbeat %v): %d heartbeats heard by the store, %d by the other instance; %d verifications, %d store reads, %d changes seen",
			25*heartbeat, heartbeat, heard, otherHeard, verifies, reads, len(window))
		feedOnly := len(window) > 0
		for _, ch := range window {
			if ch.Kind != changefeed.Down && ch.Kind != changefeed.Up {
				feedOnly = false
			}
		}
		if feedOnly && attempt < 3 {
			t.Logf("the feed went down and up in this window (a late heartbeat under load); observing again")
			waitFor(t, "the feed to be up", s.FeedUp)
			for range 3 { // the cache was emptied: fill it again
				m.Verify(ctx, iss.Secret, "")
			}
			continue
		}
		if heard < 10 || otherHeard < 10 {
			t.Fatalf("only %d and %d heartbeats heard in 25 Heartbeats: the test did not exercise them", heard, otherHeard)
		}
		if len(window) != 0 {
			t.Fatalf("heartbeats were published as changes: %+v", window)
		}
		if reads != 0 {
			t.Fatalf("%d store reads while verifying a cached token across heartbeats: the cache was emptied", reads)
		}
		break
	}
	if !s.FeedUp() {
		t.Fatal("feed down")
	}
}

// TestTheFeedGoesDownWhenItsOwnHeartbeatStopsArriving stalls the pool's
// connections (through a proxy) while the listening connection, direct to
// the database, stays healthy and answers pings: the store's heartbeats no
// longer arrive, so the feed is reported down within about two Heartbeats,
// and up again once they do.
func TestTheFeedGoesDownWhenItsOwnHeartbeatStopsArriving(t *testing.T) {
	url := schemaURL(t)
	px, viaProxy := newProxy(t, url)
	s, err := pgstore.Open(ctx, viaProxy, &pgstore.Options{ListenConnString: url, Heartbeat: shortHeartbeat, ReconnectDelay: shortHeartbeat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	waitFor(t, "the feed to be up", s.FeedUp)

	px.stall(true)
	start := time.Now()
	waitFor(t, "the feed to go down", func() bool { return !s.FeedUp() })
	took := time.Since(start)
	t.Logf("pool stalled, listener healthy: feed down after %v (Heartbeat %v)", took.Round(time.Millisecond), shortHeartbeat)
	if took > 2*shortHeartbeat+100*time.Millisecond {
		t.Fatalf("feed down after %v, want within two Heartbeats (%v; 100 ms more allowed for a loaded machine)", took, 2*shortHeartbeat)
	}
	px.stall(false)
	waitFor(t, "the feed to come back", s.FeedUp)
}

// TestAListenerWithAnotherSearchPathStillHearsChanges points the listener
// at the right database with another search_path. The channel is named
// after the pool's database and schema, not the listener's, so this
// listener hears every change: its feed is up and a revoke through another
// instance reaches its cache through the feed (within the 1 s that
// TestARevokeOnOneInstanceStopsTheTokenOnTheOther allows; with the feed up,
// nothing else would drop the cached record).
func TestAListenerWithAnotherSearchPathStillHearsChanges(t *testing.T) {
	url := schemaURL(t)
	a := openReplica(t, url, nil)
	b := openReplica(t, url, &pgstore.Options{ListenConnString: pgtest.ServerURL(t), Heartbeat: shortHeartbeat})
	signInEverywhere(t, &a)
	if !b.store.FeedUp() {
		t.Fatal("B's feed is down though its listener is on the right database")
	}
	iss, err := a.m.Issue(ctx, a.admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cachedOn(t, b.m, iss.Secret)
	if err := a.m.Revoke(ctx, a.admin, iss.Token.ID); err != nil {
		t.Fatal(err)
	}
	_, wait := untilRefused(t, b.m, iss.Secret, time.Second, 0)
	t.Logf("listener with the server's default search_path: feed up, revoke refused on B after %v", wait.Round(time.Microsecond))
}
