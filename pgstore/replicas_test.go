package pgstore_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"

	"github.com/apitoken/apitoken/storetest"
)

var hashKey = []byte("pgstore test key, 32 bytes......")

// replica is one library instance: its own pool, listener and Manager.
type replica struct {
	store *pgstore.Store
	m     *apitoken.Manager
	admin apitoken.Principal
}

// openReplica opens one instance (its own pool, listener and Manager).
func openReplica(t *testing.T, url string, o *pgstore.Options) replica {
	t.Helper()
	s, err := pgstore.Open(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return replica{store: s, m: m}
}

// signInEverywhere adds an admin through the first replica and sets each
// replica's admin to that admin's session as verified there.
func signInEverywhere(t *testing.T, rs ...*replica) {
	t.Helper()
	u, err := rs[0].m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "ops@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := rs[0].m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.admin, err = r.m.Verify(ctx, l.Secret, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// twoReplicas opens two instances on one fresh database and signs the same
// admin in on both.
func twoReplicas(t *testing.T) (a, b replica) {
	t.Helper()
	url := schemaURL(t)
	a, b = openReplica(t, url, nil), openReplica(t, url, nil)
	signInEverywhere(t, &a, &b)
	return a, b
}

// cachedOn verifies secret on m until its record is in m's cache (the first
// use by an app rewrites the record, which drops it from the cache).
func cachedOn(t *testing.T, m *apitoken.Manager, secret string) {
	t.Helper()
	for range 2 {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			t.Fatal(err)
		}
	}
}

func TestARevokeOnOneInstanceStopsTheTokenOnTheOther(t *testing.T) {
	a, b := twoReplicas(t)
	trials := 1000
	if !storetest.Long() {
		trials = 100
	}
	waits := make([]time.Duration, 0, trials)
	for range trials {
		iss, err := a.m.Issue(ctx, a.admin, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		cachedOn(t, b.m, iss.Secret)
		if err := a.m.Revoke(ctx, a.admin, iss.Token.ID); err != nil {
			t.Fatal(err)
		}
		_, wait := untilRefused(t, b.m, iss.Secret, 5*time.Second, 0)
		waits = append(waits, wait)
	}
	slices.Sort(waits)
	max, median := waits[len(waits)-1], waits[len(waits)/2]
	t.Logf("%d trials of revoke on A then verify on B: median %v, p99 %v, max %v until B refused",
		trials, median, waits[len(waits)*99/100], max)
	if max >= time.Second {
		t.Fatalf("max %v, want under 1 s", max)
	}
}

func TestConcurrentPromotesAcrossInstancesHaveOneWinner(t *testing.T) {
	a, b := twoReplicas(t)
	for round := range 5 {
		iss, err := a.m.Issue(ctx, a.admin, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, lost := 0, 0
		for i := range 64 {
			r := []replica{a, b}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.m.Promote(ctx, r.admin, iss.Token.ID)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, apitoken.ErrAlreadyAccountToken):
					lost++
				default:
					t.Errorf("promote: %v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || lost != 63 {
			t.Fatalf("round %d: %d promotes succeeded, %d lost; want 1 and 63", round, won, lost)
		}
	}
}

// TestWhileTheListenerIsDownCachesKeepRecordsOnlyBriefly cuts B's
// listening connection (B's pool stays connected) and checks the fallback:
// B's cache is emptied, a record cached while the feed is down serves at most
// FallbackCacheTTL (1 s) after another instance revokes it, and the feed
// comes back by itself.
func TestWhileTheListenerIsDownCachesKeepRecordsOnlyBriefly(t *testing.T) {
	url := schemaURL(t)
	px, viaProxy := newProxy(t, url)
	a := openReplica(t, url, nil)
	b := openReplica(t, url, &pgstore.Options{ListenConnString: viaProxy, Heartbeat: 200 * time.Millisecond, ReconnectDelay: 200 * time.Millisecond})
	signInEverywhere(t, &a)
	admin := a.admin

	px.cut()
	waitFor(t, "B's feed to notice the cut", func() bool { return !b.store.FeedUp() })
	iss, err := a.m.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cachedOn(t, b.m, iss.Secret)                                 // cached with a deadline
	if err := a.m.Revoke(ctx, admin, iss.Token.ID); err != nil { // B cannot hear this
		t.Fatal(err)
	}
	stale, wait := untilRefused(t, b.m, iss.Secret, 1100*time.Millisecond, 5*time.Millisecond)
	t.Logf("feed down: B served the revoked token's cached record %d times over %v, then refused (bound: 1 s)",
		stale, wait.Round(time.Millisecond))
	if stale == 0 {
		t.Fatal("B refused at once: the record was not cached, so this test proved nothing about the TTL")
	}

	px.restore()
	waitFor(t, "B's feed to come back", b.store.FeedUp)
	iss2, err := a.m.Issue(ctx, admin, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cachedOn(t, b.m, iss2.Secret)
	if err := a.m.Revoke(ctx, admin, iss2.Token.ID); err != nil {
		t.Fatal(err)
	}
	untilRefused(t, b.m, iss2.Secret, time.Second, 0)
}

// untilRefused verifies secret on m, pausing between tries, until it is
// refused as revoked; it fails the test on any other error or if m still
// accepts after limit. It returns how many times m accepted and how long
// refusal took.
func untilRefused(t *testing.T, m *apitoken.Manager, secret string, limit, pause time.Duration) (accepts int, took time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		_, err := m.Verify(ctx, secret, "")
		if errors.Is(err, apitoken.ErrRevoked) {
			return accepts, time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		accepts++
		if time.Since(start) > limit {
			t.Fatalf("still accepted a revoked token after %v (%d accepts)", limit, accepts)
		}
		time.Sleep(pause)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 5 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestASilentlyDeadListenerIsNoticedByTheHeartbeat stalls B's listening
// connection without closing it (no error ever reaches B) and checks that
// the missing heartbeats mark the feed down within about two Heartbeats:
// the bound README and SECURITY.md give for a silent network failure.
func TestASilentlyDeadListenerIsNoticedByTheHeartbeat(t *testing.T) {
	url := schemaURL(t)
	px, viaProxy := newProxy(t, url)
	const heartbeat = 200 * time.Millisecond
	b := openReplica(t, url, &pgstore.Options{ListenConnString: viaProxy, Heartbeat: heartbeat, ReconnectDelay: heartbeat})
	px.stall(true)
	start := time.Now()
	waitFor(t, "the heartbeat to notice the stalled connection", func() bool { return !b.store.FeedUp() })
	took := time.Since(start)
	t.Logf("a stalled listener was noticed after %v (Heartbeat %v)", took.Round(time.Millisecond), heartbeat)
	if took > 3*heartbeat+300*time.Millisecond {
		t.Fatalf("noticed after %v, want within about 2 Heartbeats (3 allowed for a loaded machine)", took)
	}
	px.stall(false)
	px.cut() // the stalled connection is dead to B already; drop it and let B reconnect
	px.restore()
	waitFor(t, "the feed to come back", b.store.FeedUp)
}
