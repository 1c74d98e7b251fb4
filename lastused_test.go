package apitoken_test

// Tests of Options.LastUsedResolution: how far listings may lag uses,
// and that no use is ever lost.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// resolutionEnv is a Manager over memstore with a fake clock, an admin session
// and its caller.
type resolutionEnv struct {
	clock  *storetest.Clock
	store  apitoken.Store
	m      *apitoken.Manager
	caller apitoken.Principal
}

func newResolutionEnv(t *testing.T, store apitoken.Store, o apitoken.Options) *resolutionEnv {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	o.Now, o.PurgeInterval = clock.Now, -1
	o.SessionIdleTimeout, o.SessionAbsoluteTimeout = 1000*24*time.Hour, 1000*24*time.Hour
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Hour
	}
	m, err := apitoken.New(store, &o)
	if err != nil {
		t.Fatal(err)
	}
	return &resolutionEnv{clock: clock, store: store, m: m, caller: signIn(t, m, apitoken.Admin)}
}

func (e *resolutionEnv) issue(t *testing.T) apitoken.Issued {
	t.Helper()
	iss, err := e.m.Issue(ctx, e.caller, apitoken.IssueRequest{Expires: e.clock.Now().Add(300 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func (e *resolutionEnv) listed(t *testing.T, id string) *apitoken.Token {
	t.Helper()
	tok, err := e.m.Get(ctx, e.caller, id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func appSeen(t *testing.T, tok *apitoken.Token, app string) time.Time {
	t.Helper()
	i := tok.App(app)
	if i < 0 {
		t.Fatalf("token has no app %q", app)
	}
	return tok.Apps[i].LastSeen
}

// A cached token's flushed time is one for all its applications. An
// application's use that falls within the step after another
// application's flushed use, and is the token's last, is still written
// once the token has been quiet for a step: a listing 30 days later shows
// it, not the application's use before (a cleanup that denies
// applications not seen for some days would act on that).
func TestAnApplicationsLastSeenIsWrittenOnceTheTokenGoesQuiet(t *testing.T) {
	e := newResolutionEnv(t, memstore.New(), apitoken.Options{})
	defer e.m.Close()
	iss := e.issue(t)
	use := func(app string) time.Time {
		t.Helper()
		if _, err := e.m.Verify(ctx, iss.Secret, app); err != nil {
			t.Fatal(err)
		}
		return e.clock.Now()
	}
	use("b") // records app b (LastSeen now)
	e.listed(t, iss.Token.ID)
	e.clock.Advance(10 * 24 * time.Hour)
	use("a") // records app a; the token is re-read and cached afterwards
	e.clock.Advance(time.Second)
	use("a")
	e.listed(t, iss.Token.ID) // writes a's uses: the slot's flushed time is now
	e.clock.Advance(2 * time.Second)
	bUsed := use("b") // an established app, 2 s after a's flushed use
	e.clock.Advance(30 * 24 * time.Hour)
	tok := e.listed(t, iss.Token.ID)
	if got := appSeen(t, tok, "b"); !got.Equal(bUsed) {
		t.Errorf("30 days after app b's use, the listing says b was last seen %v (%v before its real last use %v); token LastUsed %v",
			got, bUsed.Sub(got), bUsed, tok.LastUsed)
	}
}

// The background flush, too, writes a quiet token's last uses, so a
// process that dies without Close loses at most a step and a flush
// interval of them.
func TestTheBackgroundFlushWritesAQuietTokensLastUses(t *testing.T) {
	store := memstore.New()
	e := newResolutionEnv(t, store, apitoken.Options{FlushInterval: 20 * time.Millisecond})
	defer e.m.Close()
	iss := e.issue(t)
	for _, app := range []string{"b", "a", "a"} {
		if _, err := e.m.Verify(ctx, iss.Secret, app); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	e.listed(t, iss.Token.ID)
	if _, err := e.m.Verify(ctx, iss.Secret, "b"); err != nil {
		t.Fatal(err)
	}
	bUsed := e.clock.Now()
	e.clock.Advance(24 * time.Hour)
	var seen time.Time
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got, err := store.TokenByID(ctx, iss.Token.ID) // a liveness bound over hundreds of flushes, not a speed target
		if err != nil {
			t.Fatal(err)
		}
		if seen = appSeen(t, got, "b"); seen.Equal(bUsed) {
			return
		}
	}
	t.Errorf("after a day of quiet and hundreds of background flushes, the store has app b last seen %v, its use was %v: a crash now loses it", seen, bUsed)
}

// failingTouches fails TouchTokens while fail is set.
type failingTouches struct {
	apitoken.Store
	fail atomic.Bool
}

func (f *failingTouches) TouchTokens(ctx context.Context, ts []apitoken.Touch) error {
	if f.fail.Load() && rand.IntN(2) == 0 {
		return errTouch
	}
	return f.Store.TouchTokens(ctx, ts)
}

// no use is lost. Many tokens verified concurrently from several
// goroutines (some with addresses), with listings and Purges at the
// resolution, Flushes, randomly failing store writes (putBack after Take
// advanced slot.active), invalidations (SetAppState) that spill slots,
// and a small cache that evicts: after Close every token's stored
// LastUsed and each application's LastSeen equal the latest use.
func TestNoUseIsLostUnderChurn(t *testing.T) {
	for _, res := range []time.Duration{time.Minute, time.Millisecond, -1} {
		t.Run(fmt.Sprint(res), func(t *testing.T) {
			store := &failingTouches{Store: memstore.New()}
			e := newResolutionEnv(t, store, apitoken.Options{CacheSize: 8, LastUsedResolution: res, FlushInterval: 5 * time.Millisecond})
			const n = 12
			var toks []apitoken.Issued
			for range n {
				toks = append(toks, e.issue(t))
			}
			apps := []string{"a", "b", "c"}
			var mu sync.Mutex
			latest := map[string]time.Time{} // id/app -> latest use
			var stop atomic.Bool
			var verifiers, churn sync.WaitGroup
			for w := range 4 {
				verifiers.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 1))
					for i := 0; i < 1500; i++ {
						k, app := r.IntN(n), apps[r.IntN(len(apps))]
						before := e.clock.Now() // <= the time verification records
						var err error
						if r.IntN(3) == 0 {
							_, err = e.m.VerifyFrom(ctx, toks[k].Secret, app, netip.AddrFrom4([4]byte{192, 0, 2, byte(r.IntN(3))}))
						} else {
							_, err = e.m.Verify(ctx, toks[k].Secret, app)
						}
						if err != nil {
							continue // a racing first use of an app (ErrConflict) etc.
						}
						mu.Lock()
						key := toks[k].Token.ID + "/" + app
						if before.After(latest[key]) {
							latest[key] = before
						}
						mu.Unlock()
					}
				})
			}
			churn.Go(func() {
				for !stop.Load() {
					e.clock.Advance(time.Duration(rand.IntN(40)) * time.Second)
					time.Sleep(100 * time.Microsecond)
				}
			})
			churn.Go(func() {
				for i := 0; !stop.Load(); i++ {
					store.fail.Store(i%5 == 0)
					switch i % 4 {
					case 0:
						_, _ = e.m.List(ctx, e.caller, apitoken.ListOptions{})
					case 1:
						_, _ = e.m.Purge(ctx)
					case 2:
						_ = e.m.Flush(ctx)
					case 3:
						_, _ = e.m.SetAppState(ctx, e.caller, toks[i%n].Token.ID, "a", apitoken.Allow)
					}
					time.Sleep(200 * time.Microsecond)
				}
			})
			verifiers.Wait()
			stop.Store(true)
			churn.Wait()
			if len(latest) < n*len(apps)/2 {
				t.Fatalf("only %d token/app pairs verified: the churn proves nothing", len(latest))
			}
			t.Logf("%d token/app pairs verified, clock advanced to %v", len(latest), e.clock.Now())
			store.fail.Store(false)
			if err := e.m.Close(); err != nil {
				t.Fatal(err)
			}
			for _, iss := range toks {
				got, err := store.TokenByID(ctx, iss.Token.ID)
				if err != nil {
					t.Fatal(err)
				}
				var want time.Time
				for _, app := range apps {
					l := latest[iss.Token.ID+"/"+app]
					if l.After(want) {
						want = l
					}
					if i := got.App(app); i >= 0 && l.After(got.Apps[i].LastSeen) {
						t.Errorf("%s app %s: stored LastSeen %v, latest use %v", iss.Token.ID, app, got.Apps[i].LastSeen, l)
					}
				}
				if want.After(got.LastUsed) {
					t.Errorf("%s: stored LastUsed %v, latest use %v", iss.Token.ID, got.LastUsed, want)
				}
			}
		})
	}
}

// for one application, at every listing the token's LastUsed lags
// this process's latest use by less than the resolution (random uses and
// quiet spells, listings in between), and a never-used token's first use
// lists at once.
func TestListedLastUseLagsLessThanTheResolution(t *testing.T) {
	const res = time.Minute
	e := newResolutionEnv(t, memstore.New(), apitoken.Options{LastUsedResolution: res})
	defer e.m.Close()
	iss := e.issue(t)
	r := rand.New(rand.NewPCG(3, 4))
	var latest time.Time
	lagged := 0
	for i := range 3000 {
		switch r.IntN(10) {
		case 0:
			e.clock.Advance(time.Duration(r.IntN(3*60)) * time.Minute) // a quiet spell
		default:
			e.clock.Advance(time.Duration(r.IntN(20_000)) * time.Millisecond)
		}
		if r.IntN(3) > 0 {
			if _, err := e.m.Verify(ctx, iss.Secret, ""); err != nil {
				t.Fatal(err)
			}
			latest = e.clock.Now()
		}
		if r.IntN(4) == 0 {
			got := e.listed(t, iss.Token.ID).LastUsed
			if latest.IsZero() != got.IsZero() || latest.Sub(got) >= res || got.After(latest) {
				t.Fatalf("step %d: listed %v, latest use %v (lag %v)", i, got, latest, latest.Sub(got))
			}
			if got.Before(latest) {
				lagged++
			}
		}
	}
	if lagged == 0 {
		t.Fatal("no listing lagged: the resolution was never exercised")
	}
	t.Logf("%d listings lagged", lagged)
}

// a use from a new client address (an attacker's, typically) is
// not held back by the resolution: it goes through the tracker, and the
// next listing shows its time and address.
func TestAUseFromANewAddressListsAtOnce(t *testing.T) {
	e := newResolutionEnv(t, memstore.New(), apitoken.Options{})
	defer e.m.Close()
	iss := e.issue(t)
	owner, thief := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	for range 3 {
		if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", owner); err != nil {
			t.Fatal(err)
		}
		e.listed(t, iss.Token.ID)
		e.clock.Advance(time.Second)
	}
	if _, err := e.m.VerifyFrom(ctx, iss.Secret, "", thief); err != nil {
		t.Fatal(err)
	}
	stolen := e.clock.Now()
	e.clock.Advance(time.Hour)
	tok := e.listed(t, iss.Token.ID)
	if !tok.LastUsed.Equal(stolen) || tok.LastUsedIP != thief {
		t.Fatalf("listed %v from %v, want the thief's use %v from %v", tok.LastUsed, tok.LastUsedIP, stolen, thief)
	}
}

// sessions are outside the resolution: a cached session used just
// before its idle timeout would end survives a Purge (its use is in the
// tracker, which every flush writes whole) and keeps verifying.
func TestSessionsAreOutsideTheResolution(t *testing.T) {
	e := newResolutionEnv(t, memstore.New(), apitoken.Options{})
	defer e.m.Close()
	const idle = 10 * time.Minute
	m, err := apitoken.New(e.store, &apitoken.Options{Now: e.clock.Now, PurgeInterval: -1, FlushInterval: time.Hour, SessionIdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.StartSession(ctx, e.caller.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		e.clock.Advance(idle - time.Second)
		if _, err := m.Verify(ctx, l.Secret, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second / 2)
	}
	if _, err := m.Verify(ctx, l.Secret, ""); err != nil {
		t.Fatalf("a session used within its idle timeout: %v", err)
	}
}

// A listing that starts while another flush's store write is in flight
// (the uses it took are then in neither memory nor the store) waits for
// that write, and so shows the use.
func TestAListingWaitsForAFlushInFlight(t *testing.T) {
	g := &touchGate{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	e := newResolutionEnv(t, g, apitoken.Options{})
	defer e.m.Close()
	iss := e.issue(t)
	if err := e.m.Flush(ctx); err != nil { // the admin session's use
		t.Fatal(err)
	}
	if _, err := e.m.Verify(ctx, iss.Secret, ""); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
	flushed := make(chan error)
	go func() { flushed <- e.m.Flush(ctx) }()
	<-g.entered
	listed := make(chan *apitoken.Token, 1)
	go func() { listed <- e.listed(t, iss.Token.ID) }()
	select {
	case <-listed:
		t.Fatal("a listing finished while another flush's write was in flight")
	case <-time.After(200 * time.Millisecond): // it waits: a liveness check, not a speed target
	}
	close(g.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if tok := <-listed; tok.LastUsed.IsZero() {
		t.Errorf("a listing during another flush's write shows the used token as never used")
	}
}
