package apitoken_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// touchGate is a store whose TouchTokens, once armed, blocks until
// released, or fails when fail is set.
type touchGate struct {
	apitoken.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{} // closed when a blocked TouchTokens has started
	release chan struct{}
	fail    int // fail the fail-th call from now (1: the next)
	calls   []int
}

var errTouch = errors.New("touch refused")

func (g *touchGate) TouchTokens(ctx context.Context, ts []apitoken.Touch) error {
	g.mu.Lock()
	g.calls = append(g.calls, len(ts))
	armed := g.armed
	g.armed = false
	fail := g.fail == 1
	if g.fail > 0 {
		g.fail--
	}
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	if fail {
		return errTouch
	}
	return g.Store.TouchTokens(ctx, ts)
}

// While a flush's store write is under way, verification must not wait
// for it: a cached token, one read from the store and a session all
// verify, a token is issued and another revoked, while TouchTokens is
// held.
func TestVerifyDoesNotWaitForAFlushWrite(t *testing.T) {
	g := &touchGate{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	m, err := apitoken.New(g, &apitoken.Options{FlushInterval: time.Hour, PurgeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hot := issueAPIToken(t, m)
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin := verified(t, m, l.Secret, "")
	cold, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		verified(t, m, hot.Secret, "") // records the default app, then cached with a pending use
	}
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
	flushed := make(chan error, 1)
	go func() { flushed <- m.Flush(ctx) }()
	<-g.entered // the flush holds its store write from here until release

	verified(t, m, hot.Secret, "")
	verified(t, m, cold.Secret, "")
	verified(t, m, l.Secret, "")
	if _, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount}); err != nil {
		t.Fatal(err)
	}
	if err := m.Revoke(ctx, admin, cold.Token.ID); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
}

// A flush writes in bounded batches; when one fails, that batch and the
// ones after it are kept and written by the next flush, and nothing is
// lost.
func TestFlushWritesInBatchesAndKeepsWhatFailed(t *testing.T) {
	g := &touchGate{Store: memstore.New()}
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	m, err := apitoken.New(g, &apitoken.Options{FlushInterval: time.Hour, PurgeInterval: -1, CacheSize: -1,
		MaxTokensPerUser: -1, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin := verified(t, m, l.Secret, "")
	const n = 3*4096 + 10
	ids, secrets := make([]string, n), make([]string, n)
	for i := range ids {
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
		if err != nil {
			t.Fatal(err)
		}
		ids[i], secrets[i] = iss.Token.ID, iss.Secret
		verified(t, m, iss.Secret, "") // records the default app
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	used := clock.Now()
	for _, s := range secrets {
		verified(t, m, s, "") // a pending use
	}
	g.mu.Lock()
	g.calls, g.fail = nil, 2
	g.mu.Unlock()
	if err := m.Flush(ctx); !errors.Is(err, errTouch) {
		t.Fatalf("flush with a failing batch: %v", err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	calls := g.calls
	g.mu.Unlock()
	total := 0
	for _, c := range calls {
		if c > 4096 {
			t.Errorf("a batch of %d uses", c)
		}
		total += c
	}
	if len(calls) < 5 || total < n+4096 {
		t.Errorf("batches %v: want the failed batch and those after it written again", calls)
	}
	for _, id := range ids {
		tok, err := g.Store.TokenByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !tok.LastUsed.Equal(used) {
			t.Fatalf("token %s: last used %v, want %v", id, tok.LastUsed, used)
		}
	}
}

// A full usage log is folded in the background even while a flush's
// store write is under way: otherwise, with the loop stuck in the write,
// the verification that fills the next log folds both itself, on the
// verification path. Here the background flush is held in TouchTokens
// while a token verified with the cache off fills one log; that log must
// still be folded.
func TestUsageLogsFoldWhileAFlushWriteIsHeld(t *testing.T) {
	g := &touchGate{Store: memstore.New(), armed: true, entered: make(chan struct{}), release: make(chan struct{})}
	m, err := apitoken.New(g, &apitoken.Options{FlushInterval: time.Millisecond, PurgeInterval: -1, CacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		close(g.release)
		m.Close()
	}()
	iss := issueAPIToken(t, m) // its session's use reaches the flush below
	<-g.entered                // the background flush holds its store write from here
	for range 4096 {           // one usage log's worth
		verified(t, m, iss.Secret, "")
	}
	for apitoken.UsageLogWaiting(m) { // before the fold goroutine: waited forever
		runtime.Gosched()
	}
}

// A cached token's stored last use lags its latest by less than
// Options.LastUsedResolution: a listing (and the background flush)
// writes a token's first use and a use after a quiet spell at once, and
// newer uses once they are a resolution past the stored one; Flush and
// Close write every use. With the cache off, or a negative resolution,
// a listing shows every use.
func TestListingsShowUsesToWithinTheResolution(t *testing.T) {
	const res = time.Minute
	for _, tc := range []struct {
		name  string
		opts  apitoken.Options
		exact bool // every listing shows the latest use
	}{
		{"cached, default resolution", apitoken.Options{}, false},
		{"cached, negative resolution", apitoken.Options{LastUsedResolution: -1}, true},
		{"cache off", apitoken.Options{CacheSize: -1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
			store := memstore.New()
			o := tc.opts
			o.Now, o.FlushInterval, o.PurgeInterval = clock.Now, time.Hour, -1
			m, err := apitoken.New(store, &o)
			if err != nil {
				t.Fatal(err)
			}
			caller, iss := issueWithSession(t, m)
			use := func() time.Time {
				t.Helper()
				if _, err := m.Verify(ctx, iss.Secret, ""); err != nil {
					t.Fatal(err)
				}
				return clock.Now()
			}
			listed := func() time.Time {
				t.Helper()
				p, err := m.List(ctx, caller, apitoken.ListOptions{})
				if err != nil || len(p.Items) != 1 {
					t.Fatalf("listing: %v, %d items", err, len(p.Items))
				}
				return p.Items[0].LastUsed
			}
			expect := func(what string, got, latest, lagging time.Time) {
				t.Helper()
				want := lagging
				if tc.exact {
					want = latest
				}
				if !got.Equal(want) {
					t.Fatalf("%s: listed last use %v, want %v (latest use %v)", what, got, want, latest)
				}
			}

			clock.Advance(time.Second)
			first := use()
			expect("the first use", listed(), first, first)
			clock.Advance(10 * time.Second)
			second := use()
			expect("a use 10 s after a stored one", listed(), second, first)
			clock.Advance(res)
			third := use()
			expect("a use a resolution after the stored one", listed(), third, third)
			clock.Advance(time.Second)
			fourth := use()
			expect("a use a second after the stored one", listed(), fourth, third)
			if err := m.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			expect("after Flush", listed(), fourth, fourth)
			clock.Advance(2 * time.Second)
			last := use()
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := store.TokenByID(ctx, iss.Token.ID)
			if err != nil || !got.LastUsed.Equal(last) {
				t.Fatalf("after Close the stored last use is %v (%v), want %v", got.LastUsed, err, last)
			}
		})
	}
}
