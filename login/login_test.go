package login_test

import (
	"encoding/base32"
	"errors"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

func TestTOTPMatchesRFC6238AppendixBSHA1Vectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		if got := login.TOTPCodeDigits(secret, v.unix/30, 8); got != v.want {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.want)
		}
	}
}

type sessionEnv struct {
	m     *apitoken.Manager
	l     *login.Service
	clock *storetest.Clock
	user  *apitoken.User
}

const password = "correct horse battery staple"

func newSessionEnv(t *testing.T) *sessionEnv {
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	l, m := newService(t, &apitoken.Options{Now: clock.Now}, nil)
	u, err := l.AddUser(ctx, login.NewUser{Account: "default", Name: "mary@example.com", Password: password, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	return &sessionEnv{m: m, l: l, clock: clock, user: u}
}

func (e *sessionEnv) login(t *testing.T) (apitoken.Issued, apitoken.Principal) {
	t.Helper()
	l, err := e.l.Login(ctx, e.user.Name, password, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.m.Verify(ctx, l.Secret, "")
	if err != nil && !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatal(err)
	}
	return l, p
}

func TestLoginAndPasswordRules(t *testing.T) {
	e := newSessionEnv(t)
	l, p := e.login(t)
	if !l.Token.Unlocked || l.User.Account != "default" || p.Kind != apitoken.KindSession || p.Privilege != apitoken.Normal {
		t.Fatalf("login %+v, principal %+v", l.Token, p)
	}
	if !strings.HasPrefix(l.Secret, "ats_") || !strings.HasPrefix(l.User.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("session %q, hash %q", l.Secret[:4], l.User.PasswordHash[:20])
	}
	if _, err := e.l.Login(ctx, e.user.Name, "wrong password", netip.Addr{}); !errors.Is(err, login.ErrBadCredentials) {
		t.Errorf("a wrong password: %v", err)
	}
	if _, err := e.l.Login(ctx, e.user.Name, strings.Repeat("x", 1025), netip.Addr{}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("an over-long password is not an explicit error: %v", err)
	}
	if _, err := e.l.AddUser(ctx, login.NewUser{Account: "default", Name: "short@example.com", Password: "short", Role: apitoken.Normal}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a 5-byte password was accepted: %v", err)
	}
	if _, err := e.l.AddUser(ctx, login.NewUser{Account: "default", Name: "long@example.com", Password: strings.Repeat("x", 1025), Role: apitoken.Normal}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("a 1025-byte password was accepted: %v", err)
	}
}

func TestNewRefusesWeakArgon2Parameters(t *testing.T) {
	m, err := apitoken.New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for name, o := range map[string]login.Options{
		"weak memory":                 {Argon2: login.Argon2Params{MemoryKiB: 1024}},
		"one pass":                    {Argon2: login.Argon2Params{Time: 1}},
		"a minimum above the maximum": {MinPasswordLength: 100, MaxPasswordLength: 50},
	} {
		if _, err := login.New(m, memstore.New(), &o); !errors.Is(err, apitoken.ErrInvalidArgument) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestUnknownNameAndWrongPasswordLookTheSame(t *testing.T) {
	e := newSessionEnv(t)
	const rounds = 15
	var unknown, wrong []time.Duration
	for i := range rounds * 2 {
		name := e.user.Name
		if i%2 == 0 {
			name = "nobody@example.com"
		}
		if i%8 == 7 {
			e.clock.Advance(time.Hour) // a long gap restarts the failure count: stay clear of the throttle
		}
		start := time.Now()
		_, err := e.l.Login(ctx, name, "wrong password", netip.Addr{})
		d := time.Since(start)
		if err != login.ErrBadCredentials {
			t.Fatalf("login as %s: %v, want exactly ErrBadCredentials", name, err)
		}
		if i%2 == 0 {
			unknown = append(unknown, d)
		} else {
			wrong = append(wrong, d)
		}
	}
	slices.Sort(unknown)
	slices.Sort(wrong)
	mu, mw := unknown[rounds/2], wrong[rounds/2]
	ratio := float64(mu) / float64(mw)
	t.Logf("median login time: unknown name %v, wrong password %v (ratio %.2f)", mu, mw, ratio)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("unknown-name logins take %.2fx the time of wrong-password logins", ratio)
	}
}

func TestFailedLoginsAreThrottledWithoutHashing(t *testing.T) {
	e := newSessionEnv(t)
	for range 10 {
		if _, err := e.l.Login(ctx, e.user.Name, "wrong password", netip.Addr{}); !errors.Is(err, login.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	runs := e.l.HashRuns()
	if _, err := e.l.Login(ctx, e.user.Name, password, netip.Addr{}); !errors.Is(err, login.ErrThrottled) {
		t.Fatalf("the attempt after the limit: %v, want ErrThrottled", err)
	}
	if e.l.HashRuns() != runs {
		t.Fatal("a throttled attempt ran the hash")
	}
	e.clock.Advance(5*time.Minute - time.Nanosecond)
	if _, err := e.l.Login(ctx, e.user.Name, password, netip.Addr{}); !errors.Is(err, login.ErrThrottled) {
		t.Fatalf("inside the back-off: %v", err)
	}
	e.clock.Advance(time.Nanosecond)
	e.login(t)
	// Success reset the count: nine failures do not throttle.
	for range 9 {
		e.l.Login(ctx, e.user.Name, "wrong password", netip.Addr{})
	}
	e.login(t)
}

func TestMFALocksSessionsUntilAFreshCode(t *testing.T) {
	e := newSessionEnv(t)
	_, p := e.login(t)
	enr, err := e.l.EnrollMFA(ctx, p, "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(enr.URL)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != enr.Secret {
		t.Fatalf("enrolment URL %q", enr.URL)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(enr.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := e.login(t); !l.Token.Unlocked {
		t.Fatal("a pending MFA secret locked a login before it was confirmed")
	}
	if err := e.l.ConfirmMFA(ctx, p, login.TOTPCode(secret, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the steps the confirmation spent
	code := func(stepOffset int64) string {
		return login.TOTPCode(secret, e.clock.Now().Add(time.Duration(stepOffset)*30*time.Second))
	}
	l, locked := e.login(t)
	if l.Token.Unlocked || locked.Unlocked {
		t.Fatal("an enrolled user's session starts unlocked")
	}
	if _, err := e.m.Verify(ctx, l.Secret, ""); !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatalf("locked session verifies with %v", err)
	}
	if _, err := e.m.Issue(ctx, locked, apitoken.IssueRequest{}); !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatalf("a locked session issued a token: %v", err)
	}
	if err := e.l.Unlock(ctx, locked, code(-2)); !errors.Is(err, login.ErrBadMFACode) {
		t.Fatalf("a code two steps old: %v", err)
	}
	if err := e.l.Unlock(ctx, locked, "12345"); !errors.Is(err, login.ErrBadMFACode) {
		t.Fatalf("a 5-digit code: %v", err)
	}
	c := code(-1) // one step of drift is allowed
	if err := e.l.Unlock(ctx, locked, c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Issue(ctx, locked, apitoken.IssueRequest{}); err != nil {
		t.Fatalf("unlocked session: %v", err)
	}
	_, locked2 := e.login(t)
	if err := e.l.Unlock(ctx, locked2, c); !errors.Is(err, login.ErrBadMFACode) {
		t.Fatalf("a replayed code: %v", err)
	}
	// That was the third wrong code in this window: the next waits a minute.
	if err := e.l.Unlock(ctx, locked2, code(0)); !errors.Is(err, login.ErrThrottled) {
		t.Fatalf("a fourth code at once: %v, want ErrThrottled", err)
	}
	e.clock.Advance(time.Minute)
	if err := e.l.Unlock(ctx, locked2, code(0)); err != nil {
		t.Fatalf("a fresh code: %v", err)
	}
	if err := e.m.Logout(ctx, locked2); err != nil {
		t.Fatal(err)
	}
	_, locked3 := e.login(t)
	if err := e.m.Logout(ctx, locked3); err != nil {
		t.Fatalf("a locked session could not log out: %v", err)
	}
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	e := newSessionEnv(t)
	l, p := e.login(t)
	tok, err := e.m.Issue(ctx, p, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	newPW := "another long password"
	if _, err := e.l.UpdateUser(ctx, p, e.user.ID, login.UserUpdate{Password: &newPW, CurrentPassword: password}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Verify(ctx, l.Secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("session after password change: %v", err)
	}
	if _, err := e.m.Verify(ctx, tok.Secret, ""); err != nil {
		t.Fatalf("API token after password change: %v", err)
	}
	e.clock.Advance(time.Second)
	if _, err := e.l.Login(ctx, e.user.Name, newPW, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLogin(b *testing.B) {
	m, _ := newService(b, nil, nil)
	u, _ := m.AddUser(ctx, login.NewUser{Account: "default", Name: "bench@example.com", Password: password, Role: apitoken.Normal})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Login(ctx, u.Name, password, netip.Addr{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMFASecretsAreSealedAtRest(t *testing.T) {
	s := storetest.NewCounting(memstore.New())
	m, err := apitoken.New(s, &apitoken.Options{HashKey: []byte("a 32-byte key for sealing tests!")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := login.New(m, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := m.AddUser(ctx, apitoken.NewUser{Account: "a", Name: "n@example.com", Role: apitoken.Normal})
	ls, _ := m.StartSession(ctx, u.ID)
	p, _ := m.Verify(ctx, ls.Secret, "")
	secret := storetest.EnableMFA(t, l, p, time.Now().Add(-30*time.Second)) // leaves the current step unspent
	stored, _ := s.UserByID(ctx, u.ID)
	if len(stored.MFASecret) == 0 || strings.Contains(string(stored.MFASecret), string(secret)) {
		t.Fatal("the stored MFA secret is not sealed")
	}
	// The same sealed bytes open nothing under another key.
	other, _ := apitoken.New(s, &apitoken.Options{HashKey: []byte("another 32-byte key for tests!!!")})
	defer other.Close()
	otherLogin, err := login.New(other, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	locked, _ := other.StartSession(ctx, u.ID)
	lp, _ := other.Verify(ctx, locked.Secret, "")
	if err := otherLogin.Unlock(ctx, lp, login.TOTPCode(secret, time.Now())); err == nil {
		t.Fatal("a secret sealed under one key opened under another")
	}
	locked, _ = m.StartSession(ctx, u.ID)
	lp, _ = m.Verify(ctx, locked.Secret, "")
	if err := l.Unlock(ctx, lp, login.TOTPCode(secret, time.Now())); err != nil {
		t.Fatalf("unlock with the right key: %v", err)
	}
}

// A password login is reported once, as event.Login (by
// Manager.StartSession), and a failed one only as event.LoginFailed.
func TestLoginIsReportedOnce(t *testing.T) {
	var mu sync.Mutex
	var seen []apitoken.Event
	l, _ := newService(t, &apitoken.Options{OnEvent: func(e apitoken.Event) {
		mu.Lock()
		seen = append(seen, e)
		mu.Unlock()
	}}, nil)
	const name, password = "a@example.com", "correct horse battery staple"
	if _, err := l.AddUser(ctx, login.NewUser{Account: "acme", Name: name, Password: password, Role: apitoken.Normal}); err != nil {
		t.Fatal(err)
	}
	count := func() (logins []string, failed int) {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range seen {
			switch e.Type {
			case event.Login:
				logins = append(logins, e.TokenID)
			case event.LoginFailed:
				failed++
			}
		}
		seen = nil
		return logins, failed
	}
	count()
	iss, err := l.Login(ctx, name, password, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if logins, failed := count(); !slices.Equal(logins, []string{iss.Token.ID}) || failed != 0 {
		t.Errorf("a login reported logins %v and %d failures, want [%s] and none", logins, failed, iss.Token.ID)
	}
	if _, err := l.Login(ctx, name, "wrong password", netip.Addr{}); !errors.Is(err, login.ErrBadCredentials) {
		t.Fatal(err)
	}
	if logins, failed := count(); len(logins) != 0 || failed != 1 {
		t.Errorf("a failed login reported logins %v and %d failures, want none and 1", logins, failed)
	}
}
