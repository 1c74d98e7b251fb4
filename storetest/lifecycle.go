package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/login"
)

// LifecycleConfig tunes RunLifecycle for slower stores. The zero value runs
// everything at full size.
type LifecycleConfig struct {
	// Sequences is the number of random action sequences of the property
	// test. Default 10,000 when Long reports true, else 200.
	Sequences int
	// Rounds is the number of verify-revoke-verify rounds of the cache
	// test. Default 10,000 when Long reports true, else 300.
	Rounds int
}

// RunLifecycle runs the library's policy suite (issuance, verification,
// visibility, revoke, promote, update, rotate, app approval, usage, users
// and sessions) over stores from newStore. Every Store runs it, so policy
// behaves the same whatever persists it.
func RunLifecycle(t *testing.T, newStore NewStoreFunc, cfg *LifecycleConfig) {
	var c LifecycleConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Sequences == 0 {
		c.Sequences = 10_000
		if !Long() {
			c.Sequences = 200
		}
	}
	if c.Rounds == 0 {
		c.Rounds = 10_000
		if !Long() {
			c.Rounds = 300
		}
	}
	for _, lc := range lifecycleCases {
		t.Run(lc.name, func(t *testing.T) { lc.run(t, newStore, c) })
	}
}

type lifecycleCase struct {
	name string
	run  func(t *testing.T, newStore NewStoreFunc, c LifecycleConfig)
}

// Clock is a settable clock for Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is one Manager over one fresh store, with a fake clock.
type env struct {
	t     testing.TB
	store *Counting
	m     *apitoken.Manager
	l     *login.Service // password login and MFA over m
	clock *Clock
	mu    sync.Mutex
	evs   []apitoken.Event
}

func newEnv(t testing.TB, newStore NewStoreFunc, tweak func(*apitoken.Options)) *env {
	e := &env{t: t, store: NewCounting(newStore(t)), clock: NewClock(base)}
	o := &apitoken.Options{
		HashKey:       []byte("storetest hash key, 32 bytes...."),
		Now:           e.clock.Now,
		FlushInterval: time.Hour, // tests flush by hand
		OnEvent: func(ev apitoken.Event) {
			e.mu.Lock()
			e.evs = append(e.evs, ev)
			e.mu.Unlock()
		},
	}
	if tweak != nil {
		tweak(o)
	}
	m, err := apitoken.New(e.store, o)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(func() { m.Close() })
	if e.l, err = login.New(m, e.store, nil); err != nil {
		t.Fatal(err)
	}
	return e
}

var userSeq atomic.Int64

// user adds a user without a password (no argon2 cost).
func (e *env) user(role apitoken.Privilege) *apitoken.User {
	e.t.Helper()
	return e.userIn("acme", role)
}

// userIn adds a user of role to account, without a password.
func (e *env) userIn(account string, role apitoken.Privilege) *apitoken.User {
	e.t.Helper()
	u, err := e.m.AddUser(ctx, apitoken.NewUser{Account: account, Name: fmt.Sprintf("u%d@example.com", userSeq.Add(1)), Role: role})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// session starts an unlocked session for u and returns its principal.
func (e *env) session(u *apitoken.User) (string, apitoken.Principal) {
	e.t.Helper()
	l, err := e.m.StartSession(ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Secret, e.verify(l.Secret)
}

func (e *env) verify(secret string) apitoken.Principal {
	e.t.Helper()
	p, err := e.m.Verify(ctx, secret, "")
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	return p
}

func (e *env) issue(caller apitoken.Principal, req apitoken.IssueRequest) apitoken.Issued {
	e.t.Helper()
	iss, err := e.m.Issue(ctx, caller, req)
	if err != nil {
		e.t.Fatalf("issue %+v: %v", req, err)
	}
	return iss
}

// token issues a token with req for a fresh caller of role and returns the
// token's secret and principal.
func (e *env) token(caller apitoken.Principal, req apitoken.IssueRequest) (string, apitoken.Principal) {
	e.t.Helper()
	iss := e.issue(caller, req)
	return iss.Secret, e.verify(iss.Secret)
}

func errName(err error) string {
	// The precise cases of sentinels are told apart by their HTTP codes.
	switch apitoken.HTTPErrorOf(err).Code {
	case "session_required":
		return "apitoken: credential changes need a signed-in session of the user"
	case "too_many_apps":
		return "apitoken: too many applications for this token"
	}
	for _, s := range []error{
		apitoken.ErrNotFound, apitoken.ErrInsufficientPrivilege, apitoken.ErrInvalidArgument,
		apitoken.ErrAlreadyAccountToken, apitoken.ErrRevoked, apitoken.ErrExpired, apitoken.ErrUnknown,
		apitoken.ErrUserDisabled, apitoken.ErrAppPending, apitoken.ErrAppDenied, apitoken.ErrLimitReached,
		apitoken.ErrMalformed, apitoken.ErrSessionLocked, login.ErrBadCredentials,
		login.ErrMFABlocked, login.ErrThrottled, login.ErrBadMFACode,
	} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err == nil {
		return "ok"
	}
	return "unexpected: " + err.Error()
}

func ptr[T any](v T) *T { return &v }

var privs = []apitoken.Privilege{apitoken.ReadOnly, apitoken.Normal, apitoken.Admin}

var lifecycleCases = []lifecycleCase{
	{"Issuing follows the privilege ceiling of the creating credential", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, admin := e.session(e.user(apitoken.Admin))
		ok, ro, ins := "ok", errName(apitoken.ErrInsufficientPrivilege), errName(apitoken.ErrInsufficientPrivilege)
		want := map[apitoken.Privilege]map[apitoken.Privilege]string{
			apitoken.ReadOnly: {apitoken.ReadOnly: ro, apitoken.Normal: ro, apitoken.Admin: ro},
			apitoken.Normal:   {apitoken.ReadOnly: ok, apitoken.Normal: ok, apitoken.Admin: ins},
			apitoken.Admin:    {apitoken.ReadOnly: ok, apitoken.Normal: ok, apitoken.Admin: ok},
		}
		for _, creator := range privs {
			_, cred := e.token(admin, apitoken.IssueRequest{Privilege: creator})
			for _, req := range privs {
				iss, err := e.m.Issue(ctx, cred, apitoken.IssueRequest{Privilege: req})
				if got := errName(err); got != want[creator][req] {
					t.Errorf("credential %v requesting %v: %s, want %s", creator, req, got, want[creator][req])
				}
				if err == nil && iss.Token.Privilege != req {
					t.Errorf("credential %v requesting %v got %v", creator, req, iss.Token.Privilege)
				}
			}
		}
		// A session is capped by its user's role in the same way.
		_, normal := e.session(e.user(apitoken.Normal))
		for _, tc := range []struct {
			name   string
			caller apitoken.Principal
			req    apitoken.IssueRequest
			want   string
			check  func(*apitoken.Token) bool
		}{
			{"a normal session asking for admin is refused", normal, apitoken.IssueRequest{Privilege: apitoken.Admin}, ins, nil},
			{"an unset request defaults to the caller's privilege", normal, apitoken.IssueRequest{}, ok,
				func(tk *apitoken.Token) bool {
					return tk.Privilege == apitoken.Normal && tk.Owner == apitoken.OwnerUser
				}},
			{"an invalid privilege value is refused", normal, apitoken.IssueRequest{Privilege: 9}, errName(apitoken.ErrInvalidArgument), nil},
			{"a normal caller cannot create an account token", normal, apitoken.IssueRequest{Owner: apitoken.OwnerAccount}, ins, nil},
			{"an admin creates an account token with no user", admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: apitoken.Normal}, ok,
				func(tk *apitoken.Token) bool { return tk.Owner == apitoken.OwnerAccount && tk.UserID == "" }},
			{"an over-long description is refused", normal, apitoken.IssueRequest{Description: string(make([]byte, 257))}, errName(apitoken.ErrInvalidArgument), nil},
			{"an expiry in the past is refused", normal, apitoken.IssueRequest{Expires: base.Add(-time.Second)}, errName(apitoken.ErrInvalidArgument), nil},
			{"an expiry beyond the maximum is refused", normal, apitoken.IssueRequest{Expires: base.Add(defaultExpiry + time.Second)}, errName(apitoken.ErrInvalidArgument), nil},
			{"the default expiry is ten years", normal, apitoken.IssueRequest{}, ok,
				func(tk *apitoken.Token) bool {
					return tk.Expires.Equal(base.Add(defaultExpiry)) && tk.Type == "generic"
				}},
			{"an unset default app state becomes allow", normal, apitoken.IssueRequest{}, ok,
				func(tk *apitoken.Token) bool { return tk.DefaultAppState == apitoken.Allow }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				iss, err := e.m.Issue(ctx, tc.caller, tc.req)
				if got := errName(err); got != tc.want {
					t.Fatalf("got %s, want %s", got, tc.want)
				}
				if tc.check != nil && !tc.check(iss.Token) {
					t.Fatalf("record %+v", iss.Token)
				}
			})
		}
		// An account token: its own issuance defaults to account ownership.
		_, acct := e.token(admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
		if iss := e.issue(acct, apitoken.IssueRequest{}); iss.Token.Owner != apitoken.OwnerAccount {
			t.Errorf("an admin account token issued a %v token", iss.Token.Owner)
		}
		if _, err := e.m.Issue(ctx, acct, apitoken.IssueRequest{Owner: apitoken.OwnerUser}); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("an account token issued a user token: %v", err)
		}
		_, acctNormal := e.token(admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: apitoken.Normal})
		if _, err := e.m.Issue(ctx, acctNormal, apitoken.IssueRequest{}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Errorf("a normal account token issued an account token: %v", err)
		}
	}},
	{"The secret is returned once and never stored", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Normal))
		iss := e.issue(s, apitoken.IssueRequest{Description: "ci"})
		if !apitoken.Pattern.MatchString(iss.Secret) {
			t.Fatalf("secret %q does not match Pattern", iss.Secret)
		}
		rec, err := e.store.TokenByID(ctx, iss.Token.ID)
		must(t, err)
		if rec.Hash != e.m.HashOf(iss.Secret) || rec.Hint != iss.Secret[:4]+"..."+iss.Secret[len(iss.Secret)-4:] {
			t.Fatalf("stored hash or hint wrong: %+v", rec)
		}
		if fmt.Sprintf("%+v", rec) == "" || containsSecret(fmt.Sprintf("%+v", rec), iss.Secret) {
			t.Fatal("the stored record contains the secret")
		}
		list, err := e.m.List(ctx, s, apitoken.ListOptions{})
		must(t, err)
		if len(list.Items) != 1 || containsSecret(fmt.Sprintf("%+v", list.Items[0]), iss.Secret) {
			t.Fatal("the listing shows the secret")
		}
	}},
	{"No live token ever exceeds its owner's role or the credential that granted it", runPropertyTest},
	{"Tokens a caller may not see behave exactly like unknown IDs", runVisibilityMatrix},
	{"A revoke is seen by every verification that starts after it returns", func(t *testing.T, ns NewStoreFunc, c LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Normal))
		stale := 0
		for range c.Rounds {
			iss := e.issue(s, apitoken.IssueRequest{})
			e.verify(iss.Secret) // records the default app
			e.verify(iss.Secret) // now cached with its app: the next verify reads nothing
			must(t, e.m.Revoke(ctx, s, iss.Token.ID))
			if _, err := e.m.Verify(ctx, iss.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
				stale++
			}
		}
		if stale != 0 {
			t.Fatalf("%d of %d revoked tokens still verified", stale, c.Rounds)
		}
		// 32 verifiers race one revoker; a verification that began after
		// Revoke returned must fail.
		for round := range 20 {
			iss := e.issue(s, apitoken.IssueRequest{})
			e.verify(iss.Secret)
			var revoked atomic.Bool
			var lateAccepts atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range 32 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						after := revoked.Load()
						_, err := e.m.Verify(ctx, iss.Secret, "")
						if after && err == nil {
							lateAccepts.Add(1)
						}
					}
				})
			}
			time.Sleep(time.Duration(rand.IntN(3)+1) * time.Millisecond)
			must(t, e.m.Revoke(ctx, s, iss.Token.ID))
			revoked.Store(true)
			time.Sleep(2 * time.Millisecond)
			close(stop)
			wg.Wait()
			if n := lateAccepts.Load(); n != 0 {
				t.Fatalf("round %d: %d verifications that began after the revoke accepted", round, n)
			}
		}
	}},
	{"Exactly one of 64 concurrent promotes succeeds", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, admin := e.session(e.user(apitoken.Admin))
		_, user := e.session(e.user(apitoken.Normal))
		iss := e.issue(user, apitoken.IssueRequest{})
		var wins, already atomic.Int32
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				_, err := e.m.Promote(ctx, admin, iss.Token.ID)
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, apitoken.ErrAlreadyAccountToken):
					already.Add(1)
				default:
					t.Errorf("promote: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || already.Load() != 63 {
			t.Fatalf("%d promotes succeeded and %d saw it done, want 1 and 63", wins.Load(), already.Load())
		}
		p := e.verify(iss.Secret)
		if p.Owner != apitoken.OwnerAccount || p.UserID != "" {
			t.Fatalf("promoted token verifies as %+v", p)
		}
		if _, err := e.m.Get(ctx, user, iss.Token.ID); !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("the former owner still sees the account token: %v", err)
		}
	}},
	{"App approval follows the default state and each recorded app's own state", runAppApprovalTable},
	{"Invalid tokens never record apps and the app cap holds under a flood", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, func(o *apitoken.Options) { o.MaxApps = 8 })
		_, s := e.session(e.user(apitoken.Normal))
		revoked := e.issue(s, apitoken.IssueRequest{})
		must(t, e.m.Revoke(ctx, s, revoked.Token.ID))
		expiring := e.issue(s, apitoken.IssueRequest{Expires: base.Add(time.Minute)})
		e.clock.Advance(time.Minute)
		bad := []string{revoked.Secret, expiring.Secret, "atk_nonsense", expiring.Secret[:len(expiring.Secret)-1] + "x"}
		for i := range 100 {
			for _, b := range bad {
				if _, err := e.m.Verify(ctx, b, fmt.Sprint("app", i)); err == nil {
					t.Fatal("an invalid token verified")
				}
			}
		}
		for _, id := range []string{revoked.Token.ID, expiring.Token.ID} {
			rec, err := e.store.TokenByID(ctx, id)
			must(t, err)
			if len(rec.Apps) != 0 {
				t.Fatalf("an invalid token recorded %d apps", len(rec.Apps))
			}
		}
		live := e.issue(s, apitoken.IssueRequest{})
		var refused atomic.Int32
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				_, err := e.m.Verify(ctx, live.Secret, fmt.Sprint("flood", i))
				if errors.Is(err, apitoken.ErrLimitReached) {
					refused.Add(1)
				} else if err != nil {
					t.Errorf("flood verify: %v", err)
				}
			})
		}
		wg.Wait()
		rec, err := e.store.TokenByID(ctx, live.Token.ID)
		must(t, err)
		if len(rec.Apps) != 8 || refused.Load() != 192 {
			t.Fatalf("%d apps recorded and %d refused, want 8 and 192", len(rec.Apps), refused.Load())
		}
		if _, err := e.m.Verify(ctx, live.Secret, string(make([]byte, 65))); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("an over-long app name: %v", err)
		}
	}},
	{"A rotated secret works until the grace ends and grace zero revokes at once", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		owner := e.user(apitoken.Normal)
		_, s := e.session(owner)
		old := e.issue(s, apitoken.IssueRequest{Description: "deploy", Privilege: apitoken.ReadOnly, DefaultAppState: apitoken.Pending})
		next, err := e.m.Rotate(ctx, s, old.Token.ID, time.Hour)
		must(t, err)
		if next.Token.Lineage != old.Token.ID || next.Token.ID == old.Token.ID || next.Secret == old.Secret ||
			next.Token.Description != "deploy" || next.Token.Privilege != apitoken.ReadOnly || next.Token.DefaultAppState != apitoken.Pending {
			t.Fatalf("rotated record %+v does not carry the lineage and settings", next.Token)
		}
		e.clock.Advance(time.Hour - time.Nanosecond)
		if _, err := e.m.Verify(ctx, old.Secret, ""); !errors.Is(err, apitoken.ErrAppPending) {
			t.Fatalf("old secret inside the grace: %v, want it to verify (and meet its pending app)", err)
		}
		e.clock.Advance(time.Nanosecond)
		if _, err := e.m.Verify(ctx, old.Secret, ""); !errors.Is(err, apitoken.ErrExpired) {
			t.Fatalf("old secret at the end of the grace: %v, want ErrExpired", err)
		}
		if _, err := e.m.Verify(ctx, next.Secret, ""); !errors.Is(err, apitoken.ErrAppPending) {
			t.Fatalf("new secret: %v", err)
		}
		_, s = e.session(e.user(apitoken.Normal)) // the first session idled out; an admin's would do too
		_, err = e.m.Rotate(ctx, s, next.Token.ID, 0)
		if !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("another user rotated the token: %v", err)
		}
		_, s = e.session(owner)
		again, err := e.m.Rotate(ctx, s, next.Token.ID, 0)
		must(t, err)
		if again.Token.Lineage != old.Token.ID {
			t.Fatalf("lineage %q, want %q", again.Token.Lineage, old.Token.ID)
		}
		if _, err := e.m.Verify(ctx, next.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
			t.Fatalf("grace 0: old secret gives %v, want ErrRevoked", err)
		}
		if _, err := e.m.Rotate(ctx, s, again.Token.ID, -time.Second); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("negative grace: %v", err)
		}
	}},
	{"Listings show a use at once and verification writes nothing", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Normal))
		iss := e.issue(s, apitoken.IssueRequest{})
		unused := e.issue(s, apitoken.IssueRequest{})
		must(t, e.m.Flush(ctx))
		e.clock.Advance(time.Second)
		e.verify(iss.Secret) // records the default app, caches
		list, err := e.m.List(ctx, s, apitoken.ListOptions{})
		must(t, err)
		lastUsed := map[string]time.Time{}
		for _, tk := range list.Items {
			lastUsed[tk.ID] = tk.LastUsed
		}
		if len(list.Items) != 2 || !lastUsed[iss.Token.ID].Equal(base.Add(time.Second)) || !lastUsed[unused.Token.ID].IsZero() {
			t.Fatalf("listed before any timed flush: %v, want the use a second ago and the unused token never used", lastUsed)
		}
		e.clock.Advance(time.Minute)
		e.verify(iss.Secret) // a hot use, held by the cache
		got, err := e.m.Get(ctx, s, iss.Token.ID)
		must(t, err)
		if !got.LastUsed.Equal(base.Add(time.Minute+time.Second)) || !got.Apps[0].LastSeen.Equal(got.LastUsed) {
			t.Fatalf("Get right after a cached use: LastUsed %v, app LastSeen %v", got.LastUsed, got.Apps[0].LastSeen)
		}
		e.clock.Advance(time.Minute)
		e.verify(iss.Secret) // recording the app invalidated the cache: warm it again
		reads, writes := e.store.Reads(), e.store.Writes()
		for range 1000 {
			e.verify(iss.Secret)
		}
		if r, w := e.store.Reads()-reads, e.store.Writes()-writes; r != 0 || w != 0 {
			t.Fatalf("1000 hot verifications made %d store reads and %d writes, want 0 and 0", r, w)
		}
		must(t, e.m.Flush(ctx))
		if w := e.store.Writes() - writes; w != 1 {
			t.Fatalf("the flush made %d writes, want 1 batch", w)
		}
		got, err = e.m.Get(ctx, s, iss.Token.ID)
		must(t, err)
		if at := base.Add(2*time.Minute + time.Second); !got.LastUsed.Equal(at) || !got.Apps[0].LastSeen.Equal(at) {
			t.Fatalf("after flush LastUsed %v, app LastSeen %v, want %v", got.LastUsed, got.Apps[0].LastSeen, at)
		}
	}},
	{"Last use recorded while cached survives the record leaving the cache before a flush", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Normal))
		iss := e.issue(s, apitoken.IssueRequest{})
		e.verify(iss.Secret) // records the default app
		e.verify(iss.Secret) // caches
		e.clock.Advance(time.Minute)
		e.verify(iss.Secret) // a hot use, held in the cache
		desc := "changed"
		_, err := e.m.Update(ctx, s, iss.Token.ID, apitoken.TokenUpdate{Description: &desc}) // drops the cached record
		must(t, err)
		must(t, e.m.Flush(ctx))
		got, err := e.m.Get(ctx, s, iss.Token.ID)
		must(t, err)
		if !got.LastUsed.Equal(base.Add(time.Minute)) {
			t.Fatalf("LastUsed %v after the cached record was dropped, want %v", got.LastUsed, base.Add(time.Minute))
		}
	}},
	{"Logout ends only that session and disabling a user ends sessions and user tokens", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, admin := e.session(e.user(apitoken.Admin))
		u := e.user(apitoken.Normal)
		sess1, s1 := e.session(u)
		sess2, _ := e.session(u)
		tok := e.issue(s1, apitoken.IssueRequest{})
		acct := e.issue(admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
		must(t, e.m.Logout(ctx, s1))
		must(t, e.m.Logout(ctx, s1)) // twice is harmless
		if _, err := e.m.Verify(ctx, sess1, ""); err == nil {
			t.Fatal("a logged-out session verified")
		}
		e.verify(sess2)
		e.verify(tok.Secret)
		if err := e.m.Logout(ctx, e.verify(tok.Secret)); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("logout with an API token: %v", err)
		}
		e.clock.Advance(time.Second)
		_, err := e.m.UpdateUser(ctx, admin, u.ID, apitoken.UserUpdate{Disabled: ptr(true)})
		must(t, err)
		for name, secret := range map[string]string{"session": sess2, "user token": tok.Secret} {
			if _, err := e.m.Verify(ctx, secret, ""); !errors.Is(err, apitoken.ErrUserDisabled) {
				t.Errorf("%s of a disabled user: %v, want ErrUserDisabled", name, err)
			}
		}
		e.verify(acct.Secret)
		// Re-enabling brings user tokens back but not the old sessions.
		_, err = e.m.UpdateUser(ctx, admin, u.ID, apitoken.UserUpdate{Disabled: ptr(false)})
		must(t, err)
		e.verify(tok.Secret)
		if _, err := e.m.Verify(ctx, sess2, ""); !errors.Is(err, apitoken.ErrRevoked) {
			t.Fatalf("a session ended by disable came back: %v", err)
		}
		must(t, e.m.DeleteUser(ctx, admin, u.ID))
		if _, err := e.m.Verify(ctx, tok.Secret, ""); !errors.Is(err, apitoken.ErrUserDisabled) {
			t.Fatalf("user token of a deleted user: %v", err)
		}
		e.verify(acct.Secret)
	}},
	{"A demoted owner caps their tokens at once", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, admin := e.session(e.user(apitoken.Admin))
		u := e.user(apitoken.Admin)
		_, us := e.session(u)
		tok := e.issue(us, apitoken.IssueRequest{})
		if p := e.verify(tok.Secret); p.Privilege != apitoken.Admin {
			t.Fatalf("privilege %v", p.Privilege)
		}
		_, err := e.m.UpdateUser(ctx, admin, u.ID, apitoken.UserUpdate{Role: ptr(apitoken.ReadOnly)})
		must(t, err)
		if p := e.verify(tok.Secret); p.Privilege != apitoken.ReadOnly {
			t.Fatalf("after demotion the token verifies as %v", p.Privilege)
		}
		if _, err := e.m.Issue(ctx, us, apitoken.IssueRequest{}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Fatalf("a demoted session issued a token: %v", err)
		}
	}},
	{"Session idle and absolute timeouts end exactly at their limits", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		u := e.user(apitoken.Normal)
		idle, _ := e.session(u)
		e.clock.Advance(defaultIdleTimeout - time.Nanosecond)
		e.verify(idle) // accepted one nanosecond before the limit; this use resets the idle clock
		e.clock.Advance(defaultIdleTimeout - time.Nanosecond)
		e.verify(idle)
		must(t, e.m.Flush(ctx)) // the idle clock survives a flush
		e.clock.Advance(defaultIdleTimeout)
		if _, err := e.m.Verify(ctx, idle, ""); !errors.Is(err, apitoken.ErrExpired) {
			t.Fatalf("at the idle limit: %v, want ErrExpired", err)
		}
		busy, _ := e.session(u)
		start := e.clock.Now()
		for e.clock.Now().Add(10 * time.Minute).Before(start.Add(defaultAbsoluteTimeout)) {
			e.clock.Advance(10 * time.Minute)
			e.verify(busy)
		}
		e.clock.Advance(start.Add(defaultAbsoluteTimeout - time.Nanosecond).Sub(e.clock.Now()))
		e.verify(busy)
		e.clock.Advance(time.Nanosecond)
		if _, err := e.m.Verify(ctx, busy, ""); !errors.Is(err, apitoken.ErrExpired) {
			t.Fatalf("continuous use at the absolute limit: %v, want ErrExpired", err)
		}
	}},
	{"An operation cancelled at any point is committed fully or not at all", runCancellation},
	{"Passwords, second factors and approvals change only through the right credential", runCredentialTable},
	{"MFA guessing is bounded per window and capped until an admin clears it", runMFABudget},
	{"A rotation keeps the approvals changed while it ran", runRotationKeepsRacingDenies},
	{"Listings page through every visible token once, in order", runListingPages},
	{"Listings newest first page back through every visible token once, reading a page's worth", runListingNewest},
	{"A host issues for its own users within their role", runIssueFor},
	{"Caps bound live sessions and tokens per user and a purge removes what has ended", runCapsAndPurge},
	{"A user's stored history stays within the token cap", runHistoryPerUserIsBounded},
	{"Events report changes and failures without secrets", func(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Admin))
		iss := e.issue(s, apitoken.IssueRequest{DefaultAppState: apitoken.Pending})
		e.m.Verify(ctx, iss.Secret, "grafana")
		_, err := e.m.SetAppState(ctx, s, iss.Token.ID, "grafana", apitoken.Allow)
		must(t, err)
		_, err = e.m.Update(ctx, s, iss.Token.ID, apitoken.TokenUpdate{Privilege: ptr(apitoken.ReadOnly)})
		must(t, err)
		_, err = e.m.Promote(ctx, s, iss.Token.ID)
		must(t, err)
		must(t, e.m.Revoke(ctx, s, iss.Token.ID))
		e.m.Verify(ctx, iss.Secret, "grafana")
		var got []string
		e.mu.Lock()
		for _, ev := range e.evs {
			got = append(got, ev.Type.String())
			if containsSecret(fmt.Sprintf("%+v %v", ev, ev.Err), iss.Secret) {
				t.Errorf("event %v carries the secret", ev.Type)
			}
		}
		e.mu.Unlock()
		for _, want := range []string{"token.created", "app.recorded", "verify.failed", "app.allowed", "token.privilege_changed", "token.promoted", "token.revoked"} {
			if !slices.Contains(got, want) {
				t.Errorf("no %s event in %v", want, got)
			}
		}
	}},
}

func containsSecret(s, secret string) bool {
	body := secret[4 : len(secret)-6]
	for i := 0; i+len(body) <= len(s); i++ {
		if s[i:i+len(body)] == body {
			return true
		}
	}
	return false
}

// runVisibilityMatrix checks actors x objects x operations. A cell is one
// of: the operation's success, ErrNotFound (the token is invisible: the same
// answer as for an unknown ID), ErrInsufficientPrivilege (visible, but the
// credential may not do this), or ErrAlreadyAccountToken.
func runVisibilityMatrix(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	const (
		ok  = "ok"
		nf  = "apitoken: not found"
		ins = "apitoken: insufficient privilege"
		acc = "apitoken: token is already an account token"
	)
	actors := []string{"admin", "user A", "user B", "A's read-only token", "a normal account token"}
	objects := []string{"A's token", "B's token", "an account token", "an unknown ID"}
	ops := []string{"get", "revoke", "promote", "update", "set app state"}
	// want[actor][object] for get, revoke, promote, update, set app state.
	want := map[string]map[string][5]string{
		"admin": {
			"A's token": {ok, ok, ok, ok, ok}, "B's token": {ok, ok, ok, ok, ok},
			"an account token": {ok, ok, acc, ok, ok}, "an unknown ID": {nf, nf, nf, nf, nf},
		},
		"user A": {
			"A's token": {ok, ok, ins, ok, ok}, "B's token": {nf, nf, nf, nf, nf},
			"an account token": {nf, nf, nf, nf, nf}, "an unknown ID": {nf, nf, nf, nf, nf},
		},
		"user B": {
			"A's token": {nf, nf, nf, nf, nf}, "B's token": {ok, ok, ins, ok, ok},
			"an account token": {nf, nf, nf, nf, nf}, "an unknown ID": {nf, nf, nf, nf, nf},
		},
		"A's read-only token": {
			"A's token": {ok, ins, ins, ins, ins}, "B's token": {nf, nf, nf, nf, nf},
			"an account token": {nf, nf, nf, nf, nf}, "an unknown ID": {nf, nf, nf, nf, nf},
		},
		"a normal account token": {
			"A's token": {nf, nf, nf, nf, nf}, "B's token": {nf, nf, nf, nf, nf},
			"an account token": {nf, nf, nf, nf, nf}, "an unknown ID": {nf, nf, nf, nf, nf},
		},
	}
	wantList := map[string][]string{
		"admin": {"A's token", "B's token", "an account token"}, "user A": {"A's token"},
		"user B": {"B's token"}, "A's read-only token": {"A's token"}, "a normal account token": nil,
	}
	// Every cell has an account of its own in one store: its operations
	// cannot reach another cell's tokens, which the cells check too (an
	// admin lists only its own account's tokens).
	shared := newEnv(t, ns, nil)
	cells := 0
	for _, actorName := range actors {
		for oi, objName := range objects {
			for opi, op := range ops {
				cells++
				account := fmt.Sprintf("matrix-%d", cells)
				t.Run(fmt.Sprintf("%s %s %s", actorName, op, objName), func(t *testing.T) {
					t.Parallel()
					e := &env{t: t, store: shared.store, m: shared.m, l: shared.l, clock: shared.clock}
					_, admin := e.session(e.userIn(account, apitoken.Admin))
					_, a := e.session(e.userIn(account, apitoken.Normal))
					_, b := e.session(e.userIn(account, apitoken.Normal))
					objs := []apitoken.Issued{
						e.issue(a, apitoken.IssueRequest{Privilege: apitoken.ReadOnly}),
						e.issue(b, apitoken.IssueRequest{Privilege: apitoken.ReadOnly}),
						e.issue(admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: apitoken.ReadOnly}),
					}
					for _, o := range objs {
						e.m.Verify(ctx, o.Secret, "ci") // record an app to set
					}
					_, aRO := e.token(a, apitoken.IssueRequest{Privilege: apitoken.ReadOnly})
					_, acctTok := e.token(admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount, Privilege: apitoken.Normal})
					callers := map[string]apitoken.Principal{"admin": admin, "user A": a, "user B": b, "A's read-only token": aRO, "a normal account token": acctTok}
					caller := callers[actorName]
					id := "unknownID0000000"
					if oi < 3 {
						id = objs[oi].Token.ID
					}
					var err error
					switch op {
					case "get":
						_, err = e.m.Get(ctx, caller, id)
					case "revoke":
						err = e.m.Revoke(ctx, caller, id)
					case "promote":
						_, err = e.m.Promote(ctx, caller, id)
					case "update":
						_, err = e.m.Update(ctx, caller, id, apitoken.TokenUpdate{Description: ptr("x")})
					case "set app state":
						_, err = e.m.SetAppState(ctx, caller, id, "ci", apitoken.Deny)
					}
					if got := errName(err); got != want[actorName][objName][opi] {
						t.Fatalf("got %s, want %s", got, want[actorName][objName][opi])
					}
					if errors.Is(err, apitoken.ErrNotFound) && err != apitoken.ErrNotFound {
						t.Fatalf("not-found answer %q differs from the unknown-ID answer", err)
					}
					if opi == 0 && oi == 0 { // list, once per actor
						list, err := e.m.List(ctx, caller, apitoken.ListOptions{})
						must(t, err)
						names := map[string]string{objs[0].Token.ID: "A's token", objs[1].Token.ID: "B's token", objs[2].Token.ID: "an account token"}
						var got []string
						for _, tk := range list.Items {
							if n, ok := names[tk.ID]; ok {
								got = append(got, n)
							}
						}
						slices.Sort(got) // equal Created times: order by ID is random here
						if fmt.Sprint(got) != fmt.Sprint(wantList[actorName]) {
							t.Fatalf("list shows %v, want %v", got, wantList[actorName])
						}
					}
				})
			}
		}
	}
}

func runAppApprovalTable(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	outcome := map[apitoken.AppState]error{apitoken.Allow: nil, apitoken.Pending: apitoken.ErrAppPending, apitoken.Deny: apitoken.ErrAppDenied}
	for _, def := range []apitoken.AppState{apitoken.Allow, apitoken.Pending, apitoken.Deny} {
		for _, app := range []string{"new", "pending", "allowed", "denied"} {
			t.Run(fmt.Sprintf("default %v with a %s app", def, app), func(t *testing.T) {
				e := newEnv(t, ns, nil)
				_, s := e.session(e.user(apitoken.Normal))
				iss := e.issue(s, apitoken.IssueRequest{DefaultAppState: apitoken.Pending})
				want := outcome[def]
				switch app {
				case "pending":
					e.m.Verify(ctx, iss.Secret, app) // recorded as pending
					want = apitoken.ErrAppPending
				case "allowed", "denied":
					e.m.Verify(ctx, iss.Secret, app)
					st := map[string]apitoken.AppState{"allowed": apitoken.Allow, "denied": apitoken.Deny}[app]
					_, err := e.m.SetAppState(ctx, s, iss.Token.ID, app, st)
					must(t, err)
					want = outcome[st]
				}
				_, err := e.m.Update(ctx, s, iss.Token.ID, apitoken.TokenUpdate{DefaultAppState: &def})
				must(t, err)
				for range 2 { // the first use records, the second reads the record
					_, err = e.m.Verify(ctx, iss.Secret, app)
					if errName(err) != errName(want) {
						t.Fatalf("got %v, want %v", err, want)
					}
				}
				rec, err := e.store.TokenByID(ctx, iss.Token.ID)
				must(t, err)
				if len(rec.Apps) != 1 || rec.Apps[0].Name != app {
					t.Fatalf("apps recorded: %+v", rec.Apps)
				}
			})
		}
	}
	t.Run("sessions are not subject to app approval", func(t *testing.T) {
		e := newEnv(t, ns, nil)
		sess, _ := e.session(e.user(apitoken.Normal))
		if _, err := e.m.Verify(ctx, sess, "anything"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("set app state accepts only allow or deny of a recorded app", func(t *testing.T) {
		e := newEnv(t, ns, nil)
		_, s := e.session(e.user(apitoken.Normal))
		iss := e.issue(s, apitoken.IssueRequest{})
		e.m.Verify(ctx, iss.Secret, "ci")
		if _, err := e.m.SetAppState(ctx, s, iss.Token.ID, "ci", apitoken.Pending); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Fatalf("pending: %v", err)
		}
		if _, err := e.m.SetAppState(ctx, s, iss.Token.ID, "never-seen", apitoken.Allow); !errors.Is(err, apitoken.ErrNotFound) {
			t.Fatalf("unrecorded app: %v", err)
		}
	})
}

// propertyScopes is the scope vocabulary of the property test.
var propertyScopes = map[apitoken.Privilege][]string{
	apitoken.ReadOnly: {"documents:read", "keys:read"},
	apitoken.Normal:   {"documents:write", "keys:manage"},
	apitoken.Admin:    {"users:manage"},
}

// roleScopes is the set of scopes role p holds under propertyScopes: its
// own and the lower roles'.
func roleScopes(p apitoken.Privilege) map[string]bool {
	out := map[string]bool{}
	for q := apitoken.ReadOnly; q <= p && p.Valid(); q++ {
		for _, s := range propertyScopes[q] {
			out[s] = true
		}
	}
	return out
}

// setOf returns the scopes as a set.
func setOf(scopes []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range scopes {
		out[s] = true
	}
	return out
}

// randomScopes returns a random subset of the vocabulary, or none.
func randomScopes(rng *rand.Rand) []string {
	var out []string
	for _, names := range [][]string{propertyScopes[apitoken.ReadOnly], propertyScopes[apitoken.Normal], propertyScopes[apitoken.Admin]} {
		for _, n := range names {
			if rng.IntN(3) == 0 {
				out = append(out, n)
			}
		}
	}
	return out
}

// runPropertyTest runs random sequences of 50 actions and checks after each
// one that every token that verifies is within its owner's current role and
// within the privilege of the credential that last granted its privilege,
// and that it holds no scope beyond its effective privilege's, its owner's
// role's, or the scopes held by the credentials that granted them.
func runPropertyTest(t *testing.T, ns NewStoreFunc, c LifecycleConfig) {
	violations, actions, narrowed := 0, 0, 0
	for seq := range c.Sequences {
		rng := rand.New(rand.NewPCG(uint64(seq), 42))
		e := newEnv(t, ns, func(o *apitoken.Options) { o.CacheSize = 1000; o.Scopes = propertyScopes })
		rootUser := e.user(apitoken.Admin)
		_, root := e.session(rootUser)
		users := []*apitoken.User{e.user(apitoken.Admin), e.user(apitoken.Normal), e.user(apitoken.ReadOnly)}
		type cred struct {
			secret  string
			id      string
			granted apitoken.Privilege // privilege of the credential that last set this one's
			scopes  map[string]bool    // scopes held by the credentials that granted this one's
		}
		var creds []cred
		for _, u := range users {
			s, p := e.session(u)
			creds = append(creds, cred{s, p.TokenID, u.Role, roleScopes(apitoken.Admin)}) // a session is capped by its role alone
		}
		pick := func() cred { return creds[rng.IntN(len(creds))] }
		caller := func(cr cred) (apitoken.Principal, bool) {
			p, err := e.m.Verify(ctx, cr.secret, "")
			return p, err == nil
		}
		for range 50 {
			actions++
			switch rng.IntN(10) {
			case 0, 1: // issue from a session or a token
				cr := pick()
				if p, ok := caller(cr); ok {
					req := apitoken.IssueRequest{Privilege: privs[rng.IntN(3)], Scopes: randomScopes(rng)}
					if rng.IntN(4) == 0 {
						req.Owner = apitoken.OwnerAccount
					}
					if iss, err := e.m.Issue(ctx, p, req); err == nil {
						creds = append(creds, cred{iss.Secret, iss.Token.ID, p.Privilege, setOf(p.Scopes)})
					}
				}
			case 2: // change a user's role
				u := users[rng.IntN(len(users))]
				e.clock.Advance(time.Millisecond)
				if _, err := e.m.UpdateUser(ctx, root, u.ID, apitoken.UserUpdate{Role: ptr(privs[rng.IntN(3)])}); err != nil {
					t.Fatal(err)
				}
			case 3: // disable or re-enable a user
				u := users[rng.IntN(len(users))]
				e.clock.Advance(time.Millisecond)
				if _, err := e.m.UpdateUser(ctx, root, u.ID, apitoken.UserUpdate{Disabled: ptr(rng.IntN(2) == 0)}); err != nil {
					t.Fatal(err)
				}
			case 4: // promote
				e.m.Promote(ctx, root, pick().id)
			case 5: // revoke, by a random credential
				if p, ok := caller(pick()); ok {
					e.m.Revoke(ctx, p, pick().id)
				}
			case 6: // rotate
				cr := pick()
				if p, ok := caller(pick()); ok {
					if iss, err := e.m.Rotate(ctx, p, cr.id, time.Duration(rng.IntN(2))*time.Minute); err == nil {
						creds = append(creds, cred{iss.Secret, iss.Token.ID, min(cr.granted, p.Privilege), intersect(cr.scopes, setOf(p.Scopes))})
					}
				}
			case 8: // the host issues for a user on its own authority
				u, err := e.store.UserByID(ctx, users[rng.IntN(len(users))].ID)
				must(t, err)
				req := apitoken.IssueRequest{Privilege: privs[rng.IntN(3)], Scopes: randomScopes(rng)}
				if iss, err := e.m.IssueFor(ctx, u.Account, u.ID, req); err == nil {
					creds = append(creds, cred{iss.Secret, iss.Token.ID, min(req.Privilege, u.Role), roleScopes(u.Role)}) // the host's authority: the user's role now
				}
			case 7: // update privilege
				i := rng.IntN(len(creds))
				if p, ok := caller(pick()); ok {
					np := privs[rng.IntN(3)]
					if _, err := e.m.Update(ctx, p, creds[i].id, apitoken.TokenUpdate{Privilege: &np}); err == nil {
						creds[i].granted = p.Privilege
						creds[i].scopes = union(creds[i].scopes, setOf(p.Scopes)) // scopes it kept, and any the updater gave
					}
				}
			case 9: // change scopes
				i := rng.IntN(len(creds))
				if p, ok := caller(pick()); ok {
					sc := randomScopes(rng)
					if _, err := e.m.Update(ctx, p, creds[i].id, apitoken.TokenUpdate{Scopes: &sc}); err == nil {
						creds[i].scopes = union(creds[i].scopes, setOf(p.Scopes))
					}
				}
			}
			e.clock.Advance(time.Second)
			for _, cr := range creds {
				p, err := e.m.Verify(ctx, cr.secret, "")
				if err != nil {
					continue
				}
				ceiling := cr.granted
				if p.Owner == apitoken.OwnerUser {
					u, err := e.store.UserByID(ctx, p.UserID)
					if err != nil || u.Disabled {
						violations++
						continue
					}
					ceiling = min(ceiling, u.Role)
				}
				if p.Privilege > ceiling || !p.Privilege.Valid() {
					violations++
				}
				if len(p.Scopes) < len(roleScopes(p.Privilege)) {
					narrowed++ // a verification whose scopes are narrower than its privilege's
				}
				allowed := intersect(cr.scopes, roleScopes(min(ceiling, p.Privilege)))
				for _, s := range p.Scopes {
					if !allowed[s] {
						violations++
					}
				}
			}
		}
		e.m.Close()
		e.store.Close() // release it now, not at the end of the test: a server store holds connections
	}
	if violations != 0 {
		t.Fatalf("%d violations in %d sequences (%d actions)", violations, c.Sequences, actions)
	}
	t.Logf("%d sequences, %d actions, %d verifications with narrowed scopes, 0 violations", c.Sequences, actions, narrowed)
}

func intersect(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for s := range a {
		if b[s] {
			out[s] = true
		}
	}
	return out
}

func union(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for s := range a {
		out[s] = true
	}
	for s := range b {
		out[s] = true
	}
	return out
}

// runCancellation cancels the context after a random number of store calls
// inside issue, revoke, rotate and login, and checks that each operation
// either returned success, committed, and fired its event once, or returned
// an error and left no trace.
func runCancellation(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, func(o *apitoken.Options) { o.CacheSize = -1 })
	const pw = "cancellation password"
	u, err := e.l.AddUser(ctx, login.NewUser{Account: "acme", Name: "cancel@example.com", Password: pw, Role: apitoken.Admin})
	must(t, err)
	_, s := e.session(u)
	count := func(ty event.Type) int {
		e.mu.Lock()
		defer e.mu.Unlock()
		n := 0
		for _, ev := range e.evs {
			if ev.Type == ty {
				n++
			}
		}
		return n
	}
	tokens := func() int {
		all, err := e.store.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
		must(t, err)
		return len(all)
	}
	committed, aborted := 0, 0
	for trial := range 120 {
		cctx, cancel := context.WithCancel(ctx)
		calls := rand.IntN(6)
		var n atomic.Int64
		arm := func() { // cancel once the operation has made calls store calls
			e.store.OnCall = func() {
				if n.Add(1) > int64(calls) {
					cancel()
				}
			}
		}
		arm()
		before := tokens()
		switch trial % 4 {
		case 0:
			evs := count(event.Created)
			iss, err := e.m.Issue(cctx, s, apitoken.IssueRequest{})
			e.store.OnCall = nil
			if err == nil {
				committed++
				if _, verr := e.m.Verify(ctx, iss.Secret, ""); verr != nil || tokens() != before+1 || count(event.Created) != evs+1 {
					t.Fatalf("issue succeeded but: verify %v, %d→%d tokens, events %d→%d", verr, before, tokens(), evs, count(event.Created))
				}
			} else {
				aborted++
				if tokens() != before || count(event.Created) != evs {
					t.Fatalf("issue failed (%v) but left %d→%d tokens, events %d→%d", err, before, tokens(), evs, count(event.Created))
				}
			}
		case 1:
			e.store.OnCall = nil
			victim := e.issue(s, apitoken.IssueRequest{})
			arm()
			evs := count(event.Revoked)
			err := e.m.Revoke(cctx, s, victim.Token.ID)
			e.store.OnCall = nil
			_, verr := e.m.Verify(ctx, victim.Secret, "")
			if err == nil {
				committed++
				if !errors.Is(verr, apitoken.ErrRevoked) || count(event.Revoked) != evs+1 {
					t.Fatalf("revoke succeeded but verify %v, events %d→%d", verr, evs, count(event.Revoked))
				}
			} else {
				aborted++
				if verr != nil || count(event.Revoked) != evs {
					t.Fatalf("revoke failed (%v) but verify %v, events %d→%d", err, verr, evs, count(event.Revoked))
				}
			}
		case 2:
			e.store.OnCall = nil
			old := e.issue(s, apitoken.IssueRequest{})
			before = tokens()
			arm()
			evs := count(event.Rotated)
			iss, err := e.m.Rotate(cctx, s, old.Token.ID, 0)
			e.store.OnCall = nil
			_, oldErr := e.m.Verify(ctx, old.Secret, "")
			if err == nil {
				committed++
				_, newErr := e.m.Verify(ctx, iss.Secret, "")
				if newErr != nil || !errors.Is(oldErr, apitoken.ErrRevoked) || tokens() != before+1 || count(event.Rotated) != evs+1 {
					t.Fatalf("rotate succeeded but new %v, old %v, %d→%d tokens", newErr, oldErr, before, tokens())
				}
			} else {
				aborted++
				if oldErr != nil || tokens() != before || count(event.Rotated) != evs {
					t.Fatalf("rotate failed (%v) but old %v, %d→%d tokens, events %d→%d", err, oldErr, before, tokens(), evs, count(event.Rotated))
				}
			}
		case 3:
			evs := count(event.Login)
			l, err := e.l.Login(cctx, u.Name, pw, netip.Addr{})
			e.store.OnCall = nil
			if err == nil {
				committed++
				if _, verr := e.m.Verify(ctx, l.Secret, ""); verr != nil || tokens() != before+1 || count(event.Login) != evs+1 {
					t.Fatalf("login succeeded but verify %v, %d→%d tokens", verr, before, tokens())
				}
			} else {
				aborted++
				if tokens() != before || count(event.Login) != evs {
					t.Fatalf("login failed (%v) but left %d→%d tokens, events %d→%d", err, before, tokens(), evs, count(event.Login))
				}
			}
		}
		cancel()
	}
	if committed == 0 || aborted == 0 {
		t.Fatalf("%d committed and %d aborted: the cancellation points did not cover both outcomes", committed, aborted)
	}
}
