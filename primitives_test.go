package apitoken_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/storetest"
)

// The trusted-host calls that layers such as package login are built on.

// primitivesEnv is a Manager with a fake clock, a normal user with an
// unlocked session and an API token, and the events seen.
type primitivesEnv struct {
	m       *apitoken.Manager
	s       *storetest.Counting
	clock   *storetest.Clock
	user    *apitoken.User
	session apitoken.Principal
	token   apitoken.Principal
	events  *[]apitoken.Event
	// tokenSecret is a token of the user, issued and cached on first use.
	tokenSecret string
}

func newPrimitivesEnv(t *testing.T) *primitivesEnv {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var evs []apitoken.Event
	m, s := newManager(t, &apitoken.Options{Now: clock.Now, OnEvent: func(e apitoken.Event) { evs = append(evs, e) }})
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "p@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	iss, err := m.Issue(ctx, sp, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tp, err := m.Verify(ctx, iss.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	return &primitivesEnv{m: m, s: s, clock: clock, user: u, session: sp, token: tp, events: &evs}
}

// lockedSession gives the user a second factor on the record (as package
// login would) and starts a session, which is locked.
func (e *primitivesEnv) lockedSession(t *testing.T) (string, apitoken.Principal) {
	t.Helper()
	if _, err := e.m.EditUser(ctx, e.user.ID, func(u *apitoken.User) error { u.MFASecret = []byte("sealed"); return nil }); err != nil {
		t.Fatal(err)
	}
	l, err := e.m.StartSession(ctx, e.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.m.Verify(ctx, l.Secret, "")
	if !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatalf("a session of a user with a second factor: %v, want it locked", err)
	}
	return l.Secret, p
}

func TestAuthorizeReturnsTheCallerAsItStandsNow(t *testing.T) {
	e := newPrimitivesEnv(t)
	got, err := e.m.Authorize(ctx, e.session)
	if err != nil || got.TokenID != e.session.TokenID || got.Kind != apitoken.KindSession || got.UserID != e.user.ID || got.Account != "acme" || got.Privilege != apitoken.Normal {
		t.Fatalf("an unlocked session: %+v, %v", got, err)
	}
	_, locked := e.lockedSession(t)
	if got, err := e.m.Authorize(ctx, locked); !errors.Is(err, apitoken.ErrSessionLocked) || got.TokenID != locked.TokenID || got.UserID != e.user.ID {
		t.Fatalf("a locked session: %+v, %v; want its principal with ErrSessionLocked", got, err)
	}
	ro := apitoken.ReadOnly
	admin, err := e.m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	al, _ := e.m.StartSession(ctx, admin.ID)
	ap, _ := e.m.Verify(ctx, al.Secret, "")
	if _, err := e.m.UpdateUser(ctx, ap, e.user.ID, apitoken.UserUpdate{Role: &ro}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.m.Authorize(ctx, e.token); err != nil || got.Privilege != apitoken.ReadOnly || got.Kind != apitoken.KindAPI {
		t.Fatalf("a token of a demoted user: %+v, %v; want read-only now", got, err)
	}
	if _, err := e.m.Authorize(ctx, apitoken.Principal{TokenID: "nope"}); !errors.Is(err, apitoken.ErrUnknown) {
		t.Fatalf("an unknown credential: %v", err)
	}
}

func TestRequireSessionOfIsTheOwnCredentialsRule(t *testing.T) {
	for _, c := range []struct {
		name string
		p    apitoken.Principal
		user string
		want error
	}{
		{"the user's session", apitoken.Principal{Kind: apitoken.KindSession, UserID: "u1"}, "u1", nil},
		{"another user's session", apitoken.Principal{Kind: apitoken.KindSession, UserID: "u2"}, "u1", apitoken.ErrInsufficientPrivilege},
		{"the user's own API token", apitoken.Principal{Kind: apitoken.KindAPI, UserID: "u1", Privilege: apitoken.Admin}, "u1", apitoken.ErrInsufficientPrivilege},
		{"an account token", apitoken.Principal{Kind: apitoken.KindAPI, Privilege: apitoken.Admin}, "", apitoken.ErrInsufficientPrivilege},
		{"no user at all", apitoken.Principal{Kind: apitoken.KindSession}, "", apitoken.ErrInsufficientPrivilege},
	} {
		if err := c.p.RequireSessionOf(c.user); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestUnlockSessionUnlocksOnlyLiveSessions(t *testing.T) {
	e := newPrimitivesEnv(t)
	secret, locked := e.lockedSession(t)
	if err := e.m.UnlockSession(ctx, e.token.TokenID); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Fatalf("an API token: %v, want ErrInvalidArgument", err)
	}
	if err := e.m.UnlockSession(ctx, "nope"); !errors.Is(err, apitoken.ErrUnknown) {
		t.Fatalf("an unknown ID: %v", err)
	}
	n := len(*e.events)
	if err := e.m.UnlockSession(ctx, locked.TokenID); err != nil {
		t.Fatal(err)
	}
	if p, err := e.m.Verify(ctx, secret, ""); err != nil || !p.Unlocked {
		t.Fatalf("after UnlockSession: %+v, %v", p, err)
	}
	if len(*e.events) != n+1 || (*e.events)[n].Type != event.Unlocked || (*e.events)[n].TokenID != locked.TokenID {
		t.Fatalf("events after unlocking: %v", (*e.events)[n:])
	}
	if err := e.m.UnlockSession(ctx, locked.TokenID); err != nil || len(*e.events) != n+1 {
		t.Fatalf("unlocking again: %v, %d new events; want nothing done", err, len(*e.events)-n)
	}
	_, expired := e.lockedSession(t)
	e.clock.Advance(30 * time.Minute) // the default idle timeout
	if err := e.m.UnlockSession(ctx, expired.TokenID); !errors.Is(err, apitoken.ErrExpired) {
		t.Fatalf("an idle session: %v, want ErrExpired", err)
	}
}

func TestEndSessionsKeepsOneAndTheTokens(t *testing.T) {
	e := newPrimitivesEnv(t)
	var secrets []string
	for range 3 {
		l, err := e.m.StartSession(ctx, e.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, l.Secret)
	}
	keep, _ := e.m.Verify(ctx, secrets[0], "")
	n, err := e.m.EndSessions(ctx, "acme", e.user.ID, keep.TokenID)
	if err != nil || n != 3 { // the env's session and two of the three
		t.Fatalf("ended %d, %v; want 3", n, err)
	}
	if _, err := e.m.Verify(ctx, secrets[0], ""); err != nil {
		t.Fatalf("the kept session: %v", err)
	}
	for _, s := range secrets[1:] {
		if _, err := e.m.Verify(ctx, s, ""); err == nil {
			t.Fatal("a session that should have ended verifies")
		}
	}
	if _, err := e.m.Authorize(ctx, e.token); err != nil {
		t.Fatalf("the user's API token: %v", err)
	}
	if n, err := e.m.EndSessions(ctx, "acme", e.user.ID, ""); err != nil || n != 1 {
		t.Fatalf("ending all: %d, %v; want the kept one", n, err)
	}
}

func TestEditUserIsSeenByTheNextVerification(t *testing.T) {
	e := newPrimitivesEnv(t)
	if _, err := e.m.Authorize(ctx, e.token); err != nil { // cached
		t.Fatal(err)
	}
	refused := errors.New("refused")
	if _, err := e.m.EditUser(ctx, e.user.ID, func(u *apitoken.User) error { u.Disabled = true; return refused }); err != refused {
		t.Fatalf("a refusing change: %v, want its own error", err)
	}
	if _, err := e.m.Verify(ctx, tokenSecretOf(t, e), ""); err != nil {
		t.Fatalf("a refused change applied: %v", err)
	}
	u, err := e.m.EditUser(ctx, e.user.ID, func(u *apitoken.User) error { u.Disabled = true; return nil })
	if err != nil || !u.Disabled {
		t.Fatalf("%+v, %v", u, err)
	}
	if _, err := e.m.Verify(ctx, tokenSecretOf(t, e), ""); !errors.Is(err, apitoken.ErrUserDisabled) {
		t.Fatalf("a disabled user's token after EditUser: %v, want ErrUserDisabled at once", err)
	}
	if _, err := e.m.EditUser(ctx, "nope", func(*apitoken.User) error { return nil }); !errors.Is(err, apitoken.ErrNotFound) {
		t.Fatalf("an unknown user: %v", err)
	}
}

// tokenSecretOf returns a token of the env's user, issued and verified
// (so cached) on first use.
func tokenSecretOf(t *testing.T, e *primitivesEnv) string {
	t.Helper()
	if e.tokenSecret == "" {
		iss, err := e.m.Issue(ctx, e.session, apitoken.IssueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		e.tokenSecret = iss.Secret
		if _, err := e.m.Verify(ctx, iss.Secret, ""); err != nil { // cached
			t.Fatal(err)
		}
	}
	return e.tokenSecret
}

func TestDeriveKeyIsHMACOfTheHashKey(t *testing.T) {
	key := []byte("a 32-byte hash key for deriving!")
	m, _ := newManager(t, &apitoken.Options{HashKey: key})
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("label one"))
	if got := m.DeriveKey("label one"); !hmac.Equal(got, mac.Sum(nil)) || len(got) != 32 {
		t.Fatalf("DeriveKey = %x, want HMAC-SHA256(HashKey, label)", got)
	}
	if hmac.Equal(m.DeriveKey("label one"), m.DeriveKey("label two")) {
		t.Fatal("two labels give one key")
	}
	keyless, _ := newManager(t, nil)
	if k := keyless.DeriveKey("label one"); k != nil {
		t.Fatalf("a Manager without a HashKey derived %x", k)
	}
}

// A label a token could equal would give a key equal to that token's
// stored hash, so DeriveKey refuses one.
func TestDeriveKeyRefusesTokenShapedLabels(t *testing.T) {
	m, _ := newManager(t, &apitoken.Options{HashKey: []byte("a 32-byte hash key for deriving!")})
	for _, label := range []string{"", "sealkey", "atk_abc123", "atk_0Vce12O5IiYLzyquHcQ9mXb3kQz7Rr2PpT1wLcV8nYd4s"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeriveKey(%q) did not panic", label)
				}
			}()
			m.DeriveKey(label)
		}()
	}
	for _, label := range []string{"apitoken mfa secret v1", "host/session-key", "a.b"} {
		if k := m.DeriveKey(label); len(k) != 32 {
			t.Errorf("DeriveKey(%q) = %x", label, k)
		}
	}
}

// ownAnswer is an error of a package built on this one, with its answer.
type ownAnswer struct{}

func (ownAnswer) Error() string { return "x: teapot" }
func (ownAnswer) HTTPError() apitoken.HTTPError {
	return apitoken.HTTPError{Status: http.StatusTeapot, Code: "teapot", Message: "short and stout"}
}

func TestHTTPErrorOfHonoursAnErrorsOwnAnswer(t *testing.T) {
	for _, err := range []error{ownAnswer{}, fmt.Errorf("wrapped: %w", ownAnswer{})} {
		if he := apitoken.HTTPErrorOf(err); he.Status != http.StatusTeapot || he.Code != "teapot" || he.Message != "short and stout" {
			t.Errorf("%v: %+v", err, he)
		}
	}
	rec := httptest.NewRecorder()
	apitoken.HTTPError{Status: http.StatusServiceUnavailable, Code: "busy", Message: "busy"}.Write(rec, "api")
	if rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("a 503 without Retry-After: %v", rec.Header())
	}
}

func TestManagerCreateUserTakesNoPasswordHash(t *testing.T) {
	e := newPrimitivesEnv(t)
	admin, err := e.m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"})
	if err != nil || admin.PasswordHash == "" {
		t.Fatalf("AddUser with a hash: %+v, %v", admin, err)
	}
	al, _ := e.m.StartSession(ctx, admin.ID)
	ap, _ := e.m.Verify(ctx, al.Secret, "")
	if _, err := e.m.CreateUser(ctx, ap, apitoken.NewUser{Name: "h@example.com", Role: apitoken.Normal, PasswordHash: admin.PasswordHash}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Fatalf("CreateUser with a hash: %v, want ErrInsufficientPrivilege (session required)", err)
	}
	if _, err := e.s.UserByName(ctx, "h@example.com"); !errors.Is(err, apitoken.ErrNotFound) {
		t.Fatalf("the refused user was stored: %v", err)
	}
}
