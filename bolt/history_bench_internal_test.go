package bolt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

// The Manager's documented defaults (apitoken.Options), which the records
// built here and the benchmarks' clocks follow.
const (
	libDefaultExpiry          = 10 * 365 * 24 * time.Hour
	libDefaultIdleTimeout     = 30 * time.Minute
	libDefaultAbsoluteTimeout = 12 * time.Hour
	libDefaultRetention       = 30 * 24 * time.Hour
)

// Measurements of bounded history on bolt: listings after churn, the file
// under login/expire/purge cycles, and a large purge beside verification.
// Tests run laptop-sized by default; APITOKEN_LONG=1 (set by CI) runs them
// at full size, and the benchmarks always do.

// longRun reports whether APITOKEN_LONG=1 asks tests for full sizes.
func longRun() bool { return os.Getenv("APITOKEN_LONG") == "1" }

var (
	histBase = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	histKey  = []byte("bolt history bench hash key, 32b")
)

// histEnv is one Manager over one bolt file with a fake clock, a Normal
// user, and secrets of that user's live API tokens.
type histEnv struct {
	path  string
	s     *Store
	m     *apitoken.Manager
	clock *storetest.Clock
	user  *apitoken.User
	// session is the ID of the user's session that issued the live
	// tokens; live holds their secrets.
	session string
	live    []string
}

// histOptions are the Manager options of these measurements: the fake
// clock, no background purge or flush (both run by hand), no caps (the
// fixtures hold far more than a user could keep live).
func histOptions(clock *storetest.Clock) *apitoken.Options {
	return &apitoken.Options{
		HashKey: histKey, Now: clock.Now, FlushInterval: time.Hour, PurgeInterval: -1,
		MaxSessionsPerUser: -1, MaxTokensPerUser: -1,
	}
}

// newHistEnv creates a file at path (bbolt options o) with a user, a
// session of theirs at histBase and live API tokens issued from it.
func newHistEnv(tb testing.TB, path string, o *Options, live int) *histEnv {
	tb.Helper()
	e := &histEnv{path: path, clock: storetest.NewClock(histBase)}
	e.open(tb, o, nil, nil)
	ctx := context.Background()
	u, err := e.m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "churn@example.com", Role: apitoken.Normal})
	if err != nil {
		tb.Fatal(err)
	}
	e.user = u
	l, err := e.m.StartSession(ctx, u.ID)
	if err != nil {
		tb.Fatal(err)
	}
	e.session = l.Token.ID
	p, err := e.m.Verify(ctx, l.Secret, "")
	if err != nil {
		tb.Fatal(err)
	}
	for range live {
		e.clock.Advance(time.Millisecond)
		iss, err := e.m.Issue(ctx, p, apitoken.IssueRequest{Description: "live"})
		if err != nil {
			tb.Fatal(err)
		}
		e.live = append(e.live, iss.Secret)
	}
	return e
}

// open (re)opens the file with bbolt options o and a Manager over it,
// through wrap if set, with histOptions changed by tweak if set.
func (e *histEnv) open(tb testing.TB, o *Options, wrap func(*Store) apitoken.Store, tweak func(*apitoken.Options)) {
	tb.Helper()
	s, err := Open(e.path, o)
	if err != nil {
		tb.Fatal(err)
	}
	var st apitoken.Store = s
	if wrap != nil {
		st = wrap(s)
	}
	opts := histOptions(e.clock)
	if tweak != nil {
		tweak(opts)
	}
	m, err := apitoken.New(st, opts)
	if err != nil {
		tb.Fatal(err)
	}
	e.s, e.m = s, m
}

func (e *histEnv) close(tb testing.TB) {
	tb.Helper()
	if err := e.m.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := e.s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// records makes records as the Manager would store them, without its
// per-call transactions: a fresh secret of the right kind stamped with the
// creation time, its keyed hash, an ID in the Manager's format.
type records struct {
	m   *apitoken.Manager
	u   *apitoken.User
	rng *rand.Rand
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// make returns the record of a session (as StartSession stores it) or of
// an API token issued by the user's session parent (as Issue stores it),
// created at created, and its secret.
func (r *records) make(tb testing.TB, kind apitoken.Kind, parent string, created time.Time) (*apitoken.Token, string) {
	secret, err := apitoken.Format{}.GenerateAt(kind, created)
	if err != nil {
		tb.Fatal(err)
	}
	var random [8]byte
	for i := range random {
		random[i] = base62[r.rng.IntN(len(base62))]
	}
	id := fixtureID(created, string(random[:]))
	t := &apitoken.Token{
		ID: id, Hash: r.m.HashOf(secret), Hint: secret[:strings.LastIndexByte(secret, '_')+1] + "..." + secret[len(secret)-4:],
		Kind: kind, Owner: apitoken.OwnerUser, Account: r.u.Account, UserID: r.u.ID, CreatedBy: r.u.ID,
		Lineage: id, Type: "generic", Privilege: r.u.Role, DefaultAppState: apitoken.Allow,
		Created: created, Version: 1,
	}
	if kind == apitoken.KindSession {
		t.Type, t.Unlocked, t.Expires = "session", true, created.Add(libDefaultAbsoluteTimeout)
	} else {
		t.Parent, t.Expires = parent, created.Add(libDefaultExpiry)
	}
	return t, secret
}

// insert writes n records from mk straight into the file, batch per write
// transaction, as the store's own CreateToken writes them (putToken).
func insert(tb testing.TB, s *Store, n, batch int, mk func(i int) *apitoken.Token) {
	tb.Helper()
	for start := 0; start < n; start += batch {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			for i := start; i < min(start+batch, n); i++ {
				if err := putToken(tx, nil, mk(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// churnSample holds the secrets of one churned session and one revoked
// token, for tests that check the Manager reads the fixture's records as
// its own.
type churnSample struct{ session, revoked string }

// buildChurn makes a file at path holding the user's 3 live API tokens,
// then sessions sessions and revoked API tokens of the same user, created
// after them a millisecond apart (the tokens issued by the user's session,
// each revoked a second after issue). The records go straight into the
// file, 1,000 per transaction, with fsync off: a fixture, not a
// measurement. It returns the closed env.
func buildChurn(tb testing.TB, path string, sessions, revoked int) (*histEnv, churnSample) {
	tb.Helper()
	e := newHistEnv(tb, path, &Options{NoSync: true}, 3)
	r := &records{m: e.m, u: e.user, rng: rand.New(rand.NewPCG(uint64(sessions), uint64(revoked)))}
	var sample churnSample
	from := e.clock.Now().Add(time.Second)
	insert(tb, e.s, sessions, 1000, func(i int) *apitoken.Token {
		t, secret := r.make(tb, apitoken.KindSession, "", from.Add(time.Duration(i)*time.Millisecond))
		if i == 0 {
			sample.session = secret
		}
		return t
	})
	insert(tb, e.s, revoked, 1000, func(i int) *apitoken.Token {
		t, secret := r.make(tb, apitoken.KindAPI, e.session, from.Add(time.Duration(i)*time.Millisecond))
		t.Revoked, t.Version = t.Created.Add(time.Second), 2 // as Revoke leaves it
		if i == 0 {
			sample.revoked = secret
		}
		return t
	})
	e.clock.Advance(time.Second + time.Duration(max(sessions, revoked))*time.Millisecond)
	e.close(tb)
	return e, sample
}

// listSide is one side of a listing comparison: an open env and the
// principal of its first live token, which lists the user's tokens.
type listSide struct {
	e *histEnv
	p apitoken.Principal
}

// openListSide reopens e's file with fsync on (as users run it), moves
// its clock by advance, purges if purge is set, and verifies the first
// live token for the principal that lists. It returns how many records
// the purge removed.
func openListSide(tb testing.TB, e *histEnv, advance time.Duration, purge bool) (*listSide, int) {
	tb.Helper()
	e.open(tb, nil, nil, nil)
	tb.Cleanup(func() { e.close(tb) })
	e.clock.Advance(advance)
	ctx := context.Background()
	n := 0
	if purge {
		var err error
		if n, err = e.m.Purge(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	p, err := e.m.Verify(ctx, e.live[0], "")
	if err != nil {
		tb.Fatal(err)
	}
	return &listSide{e: e, p: p}, n
}

// list lists the caller's tokens once, checks it got the 3 live ones, and
// returns how long Manager.List took.
func (l *listSide) list(tb testing.TB) time.Duration {
	start := time.Now()
	page, err := l.e.m.List(context.Background(), l.p, apitoken.ListOptions{})
	d := time.Since(start)
	if err != nil {
		tb.Fatal(err)
	}
	if len(page.Items) != len(l.e.live) || page.Next != "" {
		tb.Fatalf("listed %d tokens (next %q), want the %d live ones", len(page.Items), page.Next, len(l.e.live))
	}
	return d
}

// purgeAll is how far the clock moves for a purge to remove every churned
// record: past the sessions' idle timeout and the tokens' retention.
const purgeAll = libDefaultRetention + time.Hour

// BenchmarkListAfterChurn shows that history a user leaves behind does not
// slow the listing of their API tokens. Each case lists the user's 3 live
// tokens through Manager.List on a churned file and on a fresh one (the
// same user and tokens, no history), alternating both in the same loop
// (the order swapped every iteration) so that both see the same machine;
// ratio is churned/fresh, the figure to quote (target at most 1.5).
//
//   - purged: 100,000 sessions that idled out and 100,000 revoked API
//     tokens of the same user, removed by Manager.Purge once the idle
//     timeout and the retention have passed.
//   - sessions-unpurged: 100,000 sessions that idled out and are still
//     stored: sessions are indexed apart, so a listing of API tokens
//     never reads them even before a purge.
func BenchmarkListAfterChurn(b *testing.B) {
	const n = 100_000
	compare := func(b *testing.B, churned, fresh *listSide) {
		churned.list(b) // the first listing flushes the caller's verification
		fresh.list(b)
		var tc, tf time.Duration
		i := 0
		for b.Loop() {
			if i%2 == 0 {
				tc += churned.list(b)
				tf += fresh.list(b)
			} else {
				tf += fresh.list(b)
				tc += churned.list(b)
			}
			i++
		}
		b.ReportMetric(float64(tc.Nanoseconds())/float64(i), "churned-ns/op")
		b.ReportMetric(float64(tf.Nanoseconds())/float64(i), "fresh-ns/op")
		b.ReportMetric(float64(tc)/float64(tf), "ratio")
	}
	b.Run("purged", func(b *testing.B) {
		dir := b.TempDir()
		ce, _ := buildChurn(b, filepath.Join(dir, "churned.db"), n, n)
		fe, _ := buildChurn(b, filepath.Join(dir, "fresh.db"), 0, 0)
		churned, purged := openListSide(b, ce, purgeAll, true)
		fresh, _ := openListSide(b, fe, purgeAll, true)
		if purged != 2*n+1 { // and the session that issued the live tokens
			b.Fatalf("purged %d records, want %d", purged, 2*n+1)
		}
		compare(b, churned, fresh)
		fi, _ := os.Stat(ce.path)
		b.ReportMetric(float64(fi.Size())/(1<<20), "churned-file-MiB")
	})
	b.Run("sessions-unpurged", func(b *testing.B) {
		dir := b.TempDir()
		ce, _ := buildChurn(b, filepath.Join(dir, "churned.db"), n, 0)
		fe, _ := buildChurn(b, filepath.Join(dir, "fresh.db"), 0, 0)
		idle := libDefaultIdleTimeout + time.Minute // every session has ended
		churned, _ := openListSide(b, ce, idle, false)
		fresh, _ := openListSide(b, fe, idle, false)
		compare(b, churned, fresh)
	})
}

// TestListAfterChurn is BenchmarkListAfterChurn's fixture at 2,000
// sessions and 2,000 revoked tokens, checking behaviour, not time: the
// Manager reads the directly written records as its own (a churned
// session has idled out, a revoked token is revoked); before a purge the
// listing shows the 3 live tokens and the ended sessions are still
// stored; a purge after the idle timeout removes the sessions only, one
// after the retention the revoked tokens; then only the live tokens are
// left, they still list and verify, and the file checks clean.
func TestListAfterChurn(t *testing.T) {
	const n = 2_000
	ctx := context.Background()
	e, sample := buildChurn(t, filepath.Join(t.TempDir(), "churned.db"), n, n)
	side, _ := openListSide(t, e, libDefaultIdleTimeout+time.Minute, false)
	if _, err := e.m.Verify(ctx, sample.session, ""); err == nil {
		t.Fatal("a session idle for longer than the idle timeout verifies")
	}
	if _, err := e.m.Verify(ctx, sample.revoked, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("a revoked token verifies with %v, want ErrRevoked", err)
	}
	side.list(t)
	count := func(kind apitoken.Kind) int {
		ts, err := e.s.ListTokens(ctx, apitoken.TokenQuery{Account: e.user.Account, UserID: e.user.ID, Kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	if got := count(apitoken.KindSession); got != n+1 {
		t.Fatalf("%d sessions stored before the purge, want %d", got, n+1)
	}
	purge := func(want int) {
		t.Helper()
		got, err := e.m.Purge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("purged %d records, want %d", got, want)
		}
	}
	purge(n + 1) // every session, the issuing one too; the revoked tokens are retained
	if got := count(apitoken.KindAPI); got != n+3 {
		t.Fatalf("%d API tokens stored within the retention, want %d", got, n+3)
	}
	e.clock.Advance(purgeAll)
	purge(n)
	if s, a := count(apitoken.KindSession), count(apitoken.KindAPI); s != 0 || a != 3 {
		t.Fatalf("%d sessions and %d API tokens after the purges, want 0 and the 3 live ones", s, a)
	}
	// The verification cache may still answer ErrRevoked for the record
	// it read before the purge; either way the token is refused.
	if _, err := e.m.Verify(ctx, sample.revoked, ""); err == nil {
		t.Fatal("a purged token verifies")
	}
	if _, err := e.s.TokenByHash(ctx, e.m.HashOf(sample.revoked)); !errors.Is(err, apitoken.ErrNotFound) {
		t.Fatalf("a purged token is still stored: %v", err)
	}
	side.list(t)
	for _, secret := range e.live {
		if _, err := e.m.Verify(ctx, secret, ""); err != nil {
			t.Fatalf("a live token after the purge: %v", err)
		}
	}
	if err := e.s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// fileStats is the bolt file's size and bbolt's view of its pages.
type fileStats struct {
	cycles     int
	size       int64 // os.Stat: bbolt grows the file in steps and never shrinks it
	highWater  int64 // pages up to the highest in use, in bytes (tx.Size)
	free, pend int   // free pages, and pages freed but still held for readers
	pageSize   int
}

// inUse is how many pages below the high-water mark hold data.
func (f fileStats) inUse() int { return int(f.highWater)/f.pageSize - f.free - f.pend }

func statFile(tb testing.TB, s *Store, cycles int) fileStats {
	tb.Helper()
	fi, err := os.Stat(s.path)
	if err != nil {
		tb.Fatal(err)
	}
	st := fileStats{cycles: cycles, size: fi.Size()}
	s.db.View(func(tx *bbolt.Tx) error { st.highWater = tx.Size(); return nil })
	dbs := s.db.Stats()
	st.free, st.pend, st.pageSize = dbs.FreePageN, dbs.PendingPageN, s.db.Info().PageSize
	return st
}

// TestFileSizeUnderChurn shows that the bolt file stops growing under
// login/expire/purge cycles: freed pages are reused, so logins that end
// and are purged leave no trace in the file's size. Each round starts 100
// sessions at once (10 users, as concurrent logins: they share commits),
// moves the clock a quarter of the idle timeout, and purges; a session so
// lives about four rounds, and each purge removes the oldest round's. The
// file's size, its high-water mark and bbolt's free pages are logged after
// each quarter of the cycles (one cycle is one session started, expired
// and purged): 2,500 to 10,000 cycles by default (1,000 to 4,000 with
// -short), 25,000 to 100,000 with APITOKEN_LONG=1. After the first
// quarter the pages in use may not grow by more than a quarter a step,
// and the file and its high-water mark (the pages up to the highest bbolt
// ever used) by at most one of bbolt's growth steps; in practice the file
// stays the same size.
func TestFileSizeUnderChurn(t *testing.T) {
	cycles := 10_000
	switch {
	case longRun():
		cycles = 100_000
	case testing.Short():
		cycles = 4_000 // 100 concurrent logins a round are slow under -race
	}
	const users, perRound = 10, 100
	ctx := context.Background()
	// fsync off: it changes how long a commit takes, not which pages it
	// writes or frees, nor how bbolt grows the file.
	e := &histEnv{path: filepath.Join(t.TempDir(), "churn.db"), clock: storetest.NewClock(histBase)}
	e.open(t, &Options{NoSync: true}, nil, func(o *apitoken.Options) {
		o.MaxSessionsPerUser, o.MaxTokensPerUser = 0, 0 // the defaults, as deployed
	})
	defer e.close(t)
	var ids []string
	for i := range users {
		u, err := e.m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "user" + string(rune('a'+i)) + "@example.com", Role: apitoken.Normal})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var steps []fileStats
	purged := 0
	for done := 0; done < cycles; {
		errs := make(chan error, perRound)
		for j := range perRound {
			go func() {
				_, err := e.m.StartSession(ctx, ids[j%users])
				errs <- err
			}()
		}
		for range perRound {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		done += perRound
		e.clock.Advance(libDefaultIdleTimeout/4 + time.Second)
		n, err := e.m.Purge(ctx)
		if err != nil {
			t.Fatal(err)
		}
		purged += n
		if done%(cycles/4) == 0 {
			steps = append(steps, statFile(t, e.s, done))
		}
	}
	if stored := cycles - purged; stored < 0 || stored > 4*perRound {
		t.Fatalf("%d sessions started, %d purged: %d stored, want at most the last 4 rounds' %d", cycles, purged, stored, 4*perRound)
	}
	for _, st := range steps {
		t.Logf("after %6d cycles: file %7d bytes, high water %7d bytes, %4d pages in use, %4d free, %d pending", st.cycles, st.size, st.highWater, st.inUse(), st.free, st.pend)
	}
	// A file that kept what was purged would grow with the cycles, by
	// hundreds of pages a step at the least. The pages in use (below the
	// high-water mark, neither free nor pending) hold only the last
	// rounds' sessions, so they may not grow by more than a quarter a
	// step. The high-water mark moves by some pages now and then, more
	// under load: a page freed while a concurrent login's read
	// transaction is open stays pending until it ends, so a commit then
	// takes a new page; its peak settles, but it may reach the file's
	// end and make bbolt grow the file once (doubling while small).
	for i, st := range steps[1:] {
		if grown := st.inUse() - steps[i].inUse(); grown > steps[0].inUse()/4 {
			t.Errorf("%d more pages in use after %d cycles than after %d", grown, st.cycles, steps[i].cycles)
		}
		if st.size > 2*steps[0].size || st.highWater > 2*steps[0].highWater {
			t.Errorf("after %d cycles: file %d bytes, high water %d; after %d: %d and %d, more than one growth step", st.cycles, st.size, st.highWater, steps[0].cycles, steps[0].size, steps[0].highWater)
		}
	}
	if err := e.s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// timedStore times each PurgeTokens call: each is one bbolt write
// transaction, so the longest is the longest the purge held the writer.
type timedStore struct {
	*Store
	mu  sync.Mutex
	txs []time.Duration
}

func (t *timedStore) PurgeTokens(ctx context.Context, q apitoken.PurgeQuery) (int, error) {
	start := time.Now()
	n, err := t.Store.PurgeTokens(ctx, q)
	d := time.Since(start)
	t.mu.Lock()
	t.txs = append(t.txs, d)
	t.mu.Unlock()
	return n, err
}

// purgeReport is what measurePurge saw.
type purgeReport struct {
	removed  int
	purge    time.Duration
	txs      []time.Duration // each PurgeTokens call
	base     []time.Duration // verification latencies before the purge, sorted
	during   []time.Duration // and during it
	failures int64
	fileSize int64
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(int(float64(len(d))*q), len(d)-1)]
}

func (r purgeReport) String() string {
	return fmt.Sprintf("removed %d in %v (%d transactions, longest %v; file %d MiB); verifications before: %d, p50 %v p99 %v max %v; during: %d, p50 %v p99 %v max %v; failed %d",
		r.removed, r.purge.Round(time.Millisecond), len(r.txs), slices.Max(r.txs).Round(10*time.Microsecond), r.fileSize>>20,
		len(r.base), quantile(r.base, .5), quantile(r.base, .99), quantile(r.base, 1),
		len(r.during), quantile(r.during, .5), quantile(r.during, .99), quantile(r.during, 1), r.failures)
}

// hotTokens is how many live tokens the verifiers of measurePurge cycle
// through.
const hotTokens = 8

// buildRevoked makes a file at path holding a user's hotTokens live API
// tokens, then n API tokens of theirs revoked a second after issue, a
// millisecond apart, written straight into the file 1,000 per
// transaction with fsync off (a fixture, not a measurement). It returns
// the closed env.
func buildRevoked(tb testing.TB, path string, n int) *histEnv {
	tb.Helper()
	e := newHistEnv(tb, path, &Options{NoSync: true}, hotTokens)
	r := &records{m: e.m, u: e.user, rng: rand.New(rand.NewPCG(uint64(n), 7))}
	from := e.clock.Now().Add(time.Second)
	insert(tb, e.s, n, 1000, func(i int) *apitoken.Token {
		t, _ := r.make(tb, apitoken.KindAPI, e.session, from.Add(time.Duration(i)*time.Millisecond))
		t.Revoked, t.Version = t.Created.Add(time.Second), 2
		return t
	})
	e.clock.Advance(time.Second + time.Duration(n)*time.Millisecond)
	e.close(tb)
	return e
}

// measurePurge reopens e's file with fsync on, as users run it, and the
// verification cache off, so that every verification reads the file.
// Two goroutines verify the hot tokens in a loop, timing each call: for
// baseline with nothing else running, then while Manager.Purge removes
// every revoked record (the retention has passed on the fake clock).
func measurePurge(tb testing.TB, e *histEnv, baseline time.Duration) purgeReport {
	tb.Helper()
	timed := &timedStore{}
	e.open(tb, nil, func(s *Store) apitoken.Store { timed.Store = s; return timed },
		func(o *apitoken.Options) { o.CacheSize = -1 })
	defer e.close(tb)
	e.clock.Advance(purgeAll)
	ctx := context.Background()
	var (
		phase    atomic.Int32 // 0: baseline, 1: purging, 2: stop
		failures atomic.Int64
		lat      [2][2][]time.Duration // per goroutine, per phase
		wg       sync.WaitGroup
	)
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; ; i++ {
				ph := phase.Load()
				if ph == 2 {
					return
				}
				start := time.Now()
				_, err := e.m.Verify(ctx, e.live[i%len(e.live)], "")
				lat[g][ph] = append(lat[g][ph], time.Since(start))
				if err != nil {
					failures.Add(1)
				}
			}
		}()
	}
	time.Sleep(baseline)
	phase.Store(1)
	start := time.Now()
	removed, err := e.m.Purge(ctx)
	elapsed := time.Since(start)
	phase.Store(2)
	wg.Wait()
	if err != nil {
		tb.Fatal(err)
	}
	r := purgeReport{removed: removed, purge: elapsed, txs: timed.txs, failures: failures.Load(),
		base: slices.Concat(lat[0][0], lat[1][0]), during: slices.Concat(lat[0][1], lat[1][1])}
	slices.Sort(r.base)
	slices.Sort(r.during)
	if fi, err := os.Stat(e.path); err == nil {
		r.fileSize = fi.Size()
	}
	for _, secret := range e.live {
		if _, err := e.m.Verify(ctx, secret, ""); err != nil {
			tb.Fatalf("a hot token after the purge: %v", err)
		}
	}
	return r
}

// BenchmarkPurgeUnderVerify shows that purging a large history does not
// stall verification: 1,000,000 revoked API tokens past their retention
// are purged (batches of 1,000, one write transaction each, fsync on)
// while two goroutines verify 8 live tokens with the cache off, so every
// verification reads the file. It reports the purge's wall time
// (purge-s), the records removed, the verifiers' latency during the purge
// (verify-p50/p99/max-ns) against a baseline phase with no purge running
// first (base-p50/p99/max-ns), and the longest write transaction of the
// purge (longest-tx-ms). Building the file takes longer than the
// measurement and is not timed; one iteration is the measurement.
func BenchmarkPurgeUnderVerify(b *testing.B) {
	const n = 1_000_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), fmt.Sprintf("purge%d.db", i))
		e := buildRevoked(b, path, n)
		b.StartTimer()
		r := measurePurge(b, e, 5*time.Second)
		b.StopTimer()
		os.Remove(path)
		if r.removed != n+1 || r.failures != 0 { // and the session that issued the hot tokens
			b.Fatal(r)
		}
		b.Log(r)
		b.ReportMetric(r.purge.Seconds(), "purge-s")
		b.ReportMetric(float64(r.removed), "removed")
		b.ReportMetric(float64(len(r.txs)), "txs")
		b.ReportMetric(float64(slices.Max(r.txs).Microseconds())/1000, "longest-tx-ms")
		for _, m := range []struct {
			name string
			d    []time.Duration
		}{{"base", r.base}, {"verify", r.during}} {
			b.ReportMetric(float64(quantile(m.d, .5)), m.name+"-p50-ns")
			b.ReportMetric(float64(quantile(m.d, .99)), m.name+"-p99-ns")
			b.ReportMetric(float64(quantile(m.d, 1)), m.name+"-max-ns")
		}
		b.ReportMetric(float64(r.fileSize)/(1<<20), "file-MiB")
	}
}

// TestPurgeUnderVerify is BenchmarkPurgeUnderVerify at 5,000 revoked
// tokens (100,000 with APITOKEN_LONG=1), checking behaviour and logging
// the figures: the purge removes every revoked record and the issuing
// session, in batches of at most 1,000, while every verification of a
// live token succeeds.
func TestPurgeUnderVerify(t *testing.T) {
	n, baseline := 5_000, 200*time.Millisecond
	if longRun() {
		n, baseline = 100_000, 2*time.Second
	}
	e := buildRevoked(t, filepath.Join(t.TempDir(), "purge.db"), n)
	r := measurePurge(t, e, baseline)
	t.Log(r)
	if r.removed != n+1 {
		t.Fatalf("purged %d records, want %d", r.removed, n+1)
	}
	if r.failures != 0 || len(r.base) == 0 {
		t.Fatalf("%d of %d verifications failed", r.failures, len(r.base)+len(r.during))
	}
	// One call for the sessions, then one per 1,000 tokens and one that
	// finds fewer than 1,000 left.
	if want := 1 + n/1000 + 1; len(r.txs) != want {
		t.Fatalf("%d purge transactions, want %d", len(r.txs), want)
	}
}
