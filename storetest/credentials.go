package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// Passwords of the credential table's users.
const (
	tablePassword = "table password, long enough"
	newPassword   = "a new password, long enough"
)

// tablePasswordHash is the first subject's stored hash of tablePassword.
var tablePasswordHash atomic.Pointer[string]

// credentialSubject is one cell's user, its credential and what the
// operations act on.
type credentialSubject struct {
	e      *env
	user   *apitoken.User
	cred   apitoken.Principal // the credential under test
	self   apitoken.Principal // an unlocked session of the same user, for set-up
	secret []byte             // the active TOTP secret, when the user has one
	target string             // the token whose approvals the credential tries to change
	other  *apitoken.User     // another user of the account, for resets
}

// code returns a fresh code of the active secret: the clock moves past
// every step spent so far first.
func (s *credentialSubject) code() string {
	s.e.clock.Advance(time.Minute)
	return login.TOTPCode(s.secret, s.e.clock.Now())
}

// credentialKinds builds the credential of each kind for a user of role
// priv; API tokens belong to an admin and carry privilege priv, the
// take-over case (a normal token of an admin).
var credentialKinds = []struct {
	name  string
	build func(e *env, priv apitoken.Privilege) *credentialSubject
}{
	{"unlocked session", func(e *env, priv apitoken.Privilege) *credentialSubject {
		s := newCredentialSubject(e, priv)
		s.cred = s.self
		return s
	}},
	{"locked session", func(e *env, priv apitoken.Privilege) *credentialSubject {
		s := newCredentialSubject(e, priv)
		s.secret = EnableMFA(e.t, e.l, s.self, e.clock.Now())
		l, err := e.m.StartSession(ctx, s.user.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		s.cred, err = e.m.Verify(ctx, l.Secret, "")
		if !errors.Is(err, apitoken.ErrSessionLocked) {
			e.t.Fatalf("an MFA user's session: %v, want it locked", err)
		}
		return s
	}},
	{"API token", func(e *env, priv apitoken.Privilege) *credentialSubject {
		s := newCredentialSubject(e, apitoken.Admin)
		iss := e.issue(s.self, apitoken.IssueRequest{Privilege: priv, DefaultAppState: apitoken.Pending})
		s.cred = tokenPrincipal(e, s.self, iss)
		s.target = iss.Token.ID
		return s
	}},
}

// newCredentialSubject adds a user of role with a password and a token
// with a pending application, the target of sessions' approval operations
// (API tokens aim at themselves). A read-only user cannot issue tokens, so
// that user is made normal, issues it, and is then demoted by an admin.
func newCredentialSubject(e *env, role apitoken.Privilege) *credentialSubject {
	e.t.Helper()
	name, r := fmt.Sprintf("c%d@example.com", userSeq.Add(1)), max(role, apitoken.Normal)
	var u *apitoken.User
	var err error
	if h := tablePasswordHash.Load(); h != nil {
		// The same hash of tablePassword (its salt included) serves every
		// subject after the first: argon2id is the slow part of the table,
		// and the table is about who may change credentials, not hashing.
		u, err = e.m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: r, PasswordHash: *h})
	} else {
		u, err = e.l.AddUser(ctx, login.NewUser{Account: "acme", Name: name, Role: r, Password: tablePassword})
		if err == nil {
			tablePasswordHash.CompareAndSwap(nil, &u.PasswordHash)
		}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	_, self := e.session(u)
	iss := e.issue(self, apitoken.IssueRequest{DefaultAppState: apitoken.Pending})
	tokenPrincipal(e, self, iss)
	if role < u.Role {
		_, admin := e.session(e.user(apitoken.Admin))
		if u, err = e.m.UpdateUser(ctx, admin, u.ID, apitoken.UserUpdate{Role: &role}); err != nil {
			e.t.Fatal(err)
		}
		_, self = e.session(u)
	}
	return &credentialSubject{e: e, user: u, self: self, target: iss.Token.ID}
}

// tokenPrincipal uses a token issued with a pending default app state by
// two applications: "grafana" stays pending, and the default application
// is allowed by the owner's session, as a token's owner would allow the
// one program they meant it for. It returns the token's principal as that
// allowed application presents it.
func tokenPrincipal(e *env, owner apitoken.Principal, iss apitoken.Issued) apitoken.Principal {
	e.t.Helper()
	for _, app := range []string{"grafana", defaultAppName} {
		if _, err := e.m.Verify(ctx, iss.Secret, app); !errors.Is(err, apitoken.ErrAppPending) {
			e.t.Fatalf("first use by %s: %v, want ErrAppPending", app, err)
		}
	}
	if _, err := e.m.SetAppState(ctx, owner, iss.Token.ID, defaultAppName, apitoken.Allow); err != nil {
		e.t.Fatal(err)
	}
	p, err := e.m.Verify(ctx, iss.Secret, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// credentialOps are the operations of the table. Each returns the
// operation's error; a nil error must have had its effect, checked by the
// operation itself.
var credentialOps = []struct {
	name string
	prep func(s *credentialSubject) // state the operation needs, made by the user's own session
	run  func(s *credentialSubject) error
}{
	{"change own password", nil, func(s *credentialSubject) error {
		_, err := s.e.l.UpdateUser(ctx, s.cred, s.user.ID, login.UserUpdate{Password: ptr(newPassword), CurrentPassword: tablePassword})
		return err
	}},
	{"change own password without the current one", nil, func(s *credentialSubject) error {
		_, err := s.e.l.UpdateUser(ctx, s.cred, s.user.ID, login.UserUpdate{Password: ptr(newPassword)})
		return err
	}},
	{"change own password with a wrong current one", nil, func(s *credentialSubject) error {
		_, err := s.e.l.UpdateUser(ctx, s.cred, s.user.ID, login.UserUpdate{Password: ptr(newPassword), CurrentPassword: "not the password"})
		return err
	}},
	{"reset another user's password", func(s *credentialSubject) {
		s.other = s.e.user(apitoken.Normal)
	}, func(s *credentialSubject) error {
		_, err := s.e.l.UpdateUser(ctx, s.cred, s.other.ID, login.UserUpdate{Password: ptr(newPassword)})
		return err
	}},
	{"enrol MFA", nil, func(s *credentialSubject) error {
		_, err := s.e.l.EnrollMFA(ctx, s.cred, "")
		return err
	}},
	{"confirm MFA", func(s *credentialSubject) {
		if s.secret != nil {
			return // a locked session's user is enrolled already
		}
		enr, err := s.e.l.EnrollMFA(ctx, s.self, "")
		if err != nil {
			s.e.t.Fatal(err)
		}
		s.secret = decodeSecret(s.e.t, enr.Secret)
	}, func(s *credentialSubject) error {
		return s.e.l.ConfirmMFA(ctx, s.cred, login.TOTPCode(s.secret, s.e.clock.Now()))
	}},
	{"replace MFA", enableOnce, func(s *credentialSubject) error {
		_, err := s.e.l.EnrollMFA(ctx, s.cred, s.code())
		return err
	}},
	{"remove MFA", enableOnce, func(s *credentialSubject) error {
		return s.e.l.RemoveMFA(ctx, s.cred, s.code())
	}},
	{"allow its own pending app", nil, func(s *credentialSubject) error {
		_, err := s.e.m.SetAppState(ctx, s.cred, s.target, "grafana", apitoken.Allow)
		return err
	}},
	{"loosen its own default app state", nil, func(s *credentialSubject) error {
		_, err := s.e.m.Update(ctx, s.cred, s.target, apitoken.TokenUpdate{DefaultAppState: ptr(apitoken.Allow)})
		return err
	}},
}

// enableOnce gives the subject's user an active TOTP secret unless it has
// one.
func enableOnce(s *credentialSubject) {
	if s.secret == nil {
		s.secret = EnableMFA(s.e.t, s.e.l, s.self, s.e.clock.Now())
	}
}

// runCredentialTable checks who may change passwords, second factors and
// approvals: credential kind x privilege x operation, each cell's exact
// outcome, and for refusals that nothing changed.
func runCredentialTable(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	const (
		ok       = "ok"
		locked   = "apitoken: session locked until MFA unlock"
		session  = "apitoken: credential changes need a signed-in session of the user"
		priv     = "apitoken: insufficient privilege"
		ownApprv = "apitoken: insufficient privilege (its own approvals)"
		invalid  = "apitoken: invalid argument"
		badCred  = "apitoken: invalid name or password"
		notFound = "apitoken: not found"
	)
	want := map[string]map[apitoken.Privilege][]string{ // per kind and privilege, one outcome per operation
		// own password: right current, none, wrong current; reset another's;
		// MFA: enrol, confirm, replace, remove; own approvals: app, default
		"unlocked session": {
			apitoken.ReadOnly: {ok, invalid, badCred, notFound, ok, ok, ok, ok, priv, priv},
			apitoken.Normal:   {ok, invalid, badCred, notFound, ok, ok, ok, ok, ok, ok},
			apitoken.Admin:    {ok, invalid, badCred, ok, ok, ok, ok, ok, ok, ok},
		},
		"locked session": {
			apitoken.ReadOnly: {locked, locked, locked, locked, locked, locked, locked, locked, locked, locked},
			apitoken.Normal:   {locked, locked, locked, locked, locked, locked, locked, locked, locked, locked},
			apitoken.Admin:    {locked, locked, locked, locked, locked, locked, locked, locked, locked, locked},
		},
		"API token": {
			apitoken.ReadOnly: {session, session, session, notFound, session, session, session, session, priv, priv},
			apitoken.Normal:   {session, session, session, notFound, session, session, session, session, ownApprv, ownApprv},
			apitoken.Admin:    {session, session, session, session, session, session, session, session, ownApprv, ownApprv},
		},
	}
	e := newEnv(t, ns, nil)
	for _, kind := range credentialKinds {
		for _, p := range privs {
			for i, op := range credentialOps {
				t.Run(fmt.Sprintf("%s of a %v credential: %s", kind.name, p, op.name), func(t *testing.T) {
					e.t = t
					s := kind.build(e, p)
					if op.prep != nil {
						op.prep(s)
					}
					before := snapshot(e, s)
					err := op.run(s)
					got := errName(err)
					if err != nil && strings.Contains(err.Error(), "its own application approvals") {
						got += " (its own approvals)"
					}
					if w := want[kind.name][p][i]; got != w {
						t.Fatalf("got %s, want %s", got, w)
					}
					after := snapshot(e, s)
					if changed := before != after; changed != (err == nil) {
						t.Fatalf("outcome %s but the records changed: %v (before %q, after %q)", got, changed, before, after)
					}
				})
			}
		}
	}
}

// snapshot summarises what the table's operations may change: the user's
// password and second factor, and the target token's approvals.
func snapshot(e *env, s *credentialSubject) string {
	u, err := e.store.UserByID(ctx, s.user.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := fmt.Sprintf("pw=%s mfa=%x pending=%x", u.PasswordHash, u.MFASecret, u.MFAPending)
	if s.other != nil {
		o, err := e.store.UserByID(ctx, s.other.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		out += " other pw=" + o.PasswordHash
	}
	tk, err := e.store.TokenByID(ctx, s.target)
	if err != nil {
		e.t.Fatal(err)
	}
	return out + fmt.Sprintf(" default=%v apps=%v", tk.DefaultAppState, tk.Apps)
}

// runMFABudget checks the MFA guessing budget with a fake clock: the
// window's back-off and ceiling, shared by two Managers over one store; the
// hard cap of consecutive failures, after which even the right code is
// refused; and that an admin (or a password reset) clears it.
func runMFABudget(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	e := newEnv(t, ns, nil)
	secondM, err := apitoken.New(e.store, &apitoken.Options{HashKey: []byte("storetest hash key, 32 bytes...."), Now: e.clock.Now, FlushInterval: time.Hour})
	must(t, err)
	defer secondM.Close()
	second, err := login.New(secondM, e.store, nil)
	must(t, err)
	u := e.user(apitoken.Normal)
	_, self := e.session(u)
	secret := EnableMFA(t, e.l, self, e.clock.Now())
	lockedSession := func(m *apitoken.Manager) apitoken.Principal {
		t.Helper()
		l, err := m.StartSession(ctx, u.ID)
		must(t, err)
		p, err := m.Verify(ctx, l.Secret, "")
		if !errors.Is(err, apitoken.ErrSessionLocked) {
			t.Fatalf("session of an MFA user: %v", err)
		}
		return p
	}
	wrong := func(step time.Time) string { // a code that is none of the three accepted steps'
		for c := 0; ; c++ {
			s := fmt.Sprintf("%06d", c)
			if s != login.TOTPCode(secret, step.Add(-30*time.Second)) && s != login.TOTPCode(secret, step) && s != login.TOTPCode(secret, step.Add(30*time.Second)) {
				return s
			}
		}
	}
	managers := []*apitoken.Manager{e.m, secondM}
	logins := []*login.Service{e.l, second}
	p := lockedSession(e.m)
	failures := 0
	// One window: three codes at once, then 1, 2, 4, … minutes after its
	// first failure, alternating instances; the eleventh is refused.
	windowStart := e.clock.Now()
	for i := range 10 {
		m, l := managers[i%2], logins[i%2]
		if i >= 3 {
			at := windowStart.Add(time.Minute << (i - 3))
			e.clock.Advance(at.Sub(e.clock.Now()) - time.Second)
			p = lockedSession(m) // the back-off outlasts the idle timeout
			if err := l.Unlock(ctx, p, wrong(e.clock.Now())); !errors.Is(err, login.ErrThrottled) {
				t.Fatalf("code %d a second early: %v, want ErrThrottled", i+1, err)
			}
			e.clock.Advance(time.Second)
		}
		if err := l.Unlock(ctx, p, wrong(e.clock.Now())); !errors.Is(err, login.ErrBadMFACode) {
			t.Fatalf("wrong code %d: %v, want ErrBadMFACode", i+1, err)
		}
		failures++
	}
	right := func() string { return login.TOTPCode(secret, e.clock.Now()) }
	if err := second.Unlock(ctx, p, right()); !errors.Is(err, login.ErrThrottled) {
		t.Fatalf("the right code after the window's ceiling: %v, want ErrThrottled", err)
	}
	// Window after window, the run of failures reaches the hard cap.
	for failures < 100 {
		e.clock.Advance(24 * time.Hour)
		p = lockedSession(e.m) // sessions idle out between windows
		for range 3 {
			if err := e.l.Unlock(ctx, p, wrong(e.clock.Now())); !errors.Is(err, login.ErrBadMFACode) {
				t.Fatalf("wrong code after %d failures: %v", failures, err)
			}
			failures++
			if failures == 100 {
				break
			}
		}
		for failures < 100 && failures%10 != 0 {
			e.clock.Advance(time.Hour) // past every back-off step of a window
			p = lockedSession(e.m)
			if err := e.l.Unlock(ctx, p, wrong(e.clock.Now())); !errors.Is(err, login.ErrBadMFACode) {
				t.Fatalf("wrong code after %d failures: %v", failures, err)
			}
			failures++
		}
	}
	e.clock.Advance(48 * time.Hour)
	p = lockedSession(secondM)
	if err := second.Unlock(ctx, p, right()); !errors.Is(err, login.ErrMFABlocked) {
		t.Fatalf("the right code after %d failures: %v, want ErrMFABlocked", failures, err)
	}
	stored, err := e.store.UserByID(ctx, u.ID)
	must(t, err)
	if stored.MFAFailures != 100 {
		t.Fatalf("stored failures %d, want 100", stored.MFAFailures)
	}
	// An admin clears the block; API tokens may not.
	adminUser := e.user(apitoken.Admin)
	_, admin := e.session(adminUser)
	adminToken := e.issue(admin, apitoken.IssueRequest{})
	tp, err := e.m.Verify(ctx, adminToken.Secret, "")
	must(t, err)
	if _, err := e.l.UpdateUser(ctx, tp, u.ID, login.UserUpdate{ClearMFAFailures: true}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("an admin token cleared the MFA block: %v", err)
	}
	_, err = e.l.UpdateUser(ctx, admin, u.ID, login.UserUpdate{ClearMFAFailures: true})
	must(t, err)
	must(t, second.Unlock(ctx, p, right()))
	// A password reset by an admin clears it too.
	stored, err = e.store.UserByID(ctx, u.ID)
	must(t, err)
	stored.MFAFailures = 100
	must(t, e.store.UpdateUser(ctx, stored))
	e.m.InvalidateUser(u.ID)
	_, err = e.l.UpdateUser(ctx, admin, u.ID, login.UserUpdate{Password: ptr(newPassword)})
	must(t, err)
	e.clock.Advance(time.Minute)
	must(t, e.l.Unlock(ctx, lockedSession(e.m), right()))
}

// hookedCreate is a Store that runs afterCreate once, after the next
// CreateToken succeeds: the moment between a rotation's new record and the
// retiring of the old one.
type hookedCreate struct {
	apitoken.Store
	afterCreate func()
}

func (h *hookedCreate) CreateToken(ctx context.Context, t *apitoken.Token) error {
	err := h.Store.CreateToken(ctx, t)
	if f := h.afterCreate; err == nil && f != nil {
		h.afterCreate = nil
		f()
	}
	return err
}

// runRotationKeepsRacingDenies denies an application, and then changes
// the default app state, of a token while it is being rotated, between
// the new record's creation and the old one's retirement: the new secret
// must carry both changes.
func runRotationKeepsRacingDenies(t *testing.T, ns NewStoreFunc, _ LifecycleConfig) {
	hooked := &hookedCreate{}
	e := newEnv(t, func(tb testing.TB) apitoken.Store { hooked.Store = ns(tb); return hooked }, nil)
	_, s := e.session(e.user(apitoken.Normal))
	old := e.issue(s, apitoken.IssueRequest{})
	e.verify(old.Secret)                     // records the default app, allowed
	_, _ = e.m.Verify(ctx, old.Secret, "ci") // and "ci", allowed
	hooked.afterCreate = func() {
		if _, err := e.m.SetAppState(ctx, s, old.Token.ID, "ci", apitoken.Deny); err != nil {
			t.Errorf("deny during the rotation: %v", err)
		}
		if _, err := e.m.Update(ctx, s, old.Token.ID, apitoken.TokenUpdate{DefaultAppState: ptr(apitoken.Pending)}); err != nil {
			t.Errorf("default app state during the rotation: %v", err)
		}
	}
	next, err := e.m.Rotate(ctx, s, old.Token.ID, time.Hour)
	must(t, err)
	if hooked.afterCreate != nil {
		t.Fatal("the race was not staged: Rotate created no token")
	}
	if _, err := e.m.Verify(ctx, next.Secret, "ci"); !errors.Is(err, apitoken.ErrAppDenied) {
		t.Fatalf("the new secret for the app denied during rotation: %v, want ErrAppDenied", err)
	}
	if _, err := e.m.Verify(ctx, next.Secret, "newcomer"); !errors.Is(err, apitoken.ErrAppPending) {
		t.Fatalf("the new secret for a new app after the default became pending: %v, want ErrAppPending", err)
	}
	e.verify(next.Secret) // the default app stays allowed
}
