package apitoken_test

import (
	"encoding/base32"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/storetest"
)

// sessionEnv is a Manager with password login over a memstore, a fake
// clock and one user with a password.
type sessionEnv struct {
	m     *apitoken.Manager
	l     *login.Service
	clock *storetest.Clock
	user  *apitoken.User
}

const password = "correct horse battery staple"

func newSessionEnv(t *testing.T) *sessionEnv {
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	m, s := newManager(t, &apitoken.Options{Now: clock.Now})
	l, err := login.New(m, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.AddUser(ctx, login.NewUser{Account: "default", Name: "mary@example.com", Password: password, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	return &sessionEnv{m: m, l: l, clock: clock, user: u}
}

// login logs the user in with the password and returns the session and
// its principal (a locked one for an MFA user).
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

func TestSessionsListsOnlyTheCallersOwnLiveSessions(t *testing.T) {
	e := newSessionEnv(t)
	_, p1 := e.login(t)
	e.clock.Advance(time.Second)
	_, p2 := e.login(t)
	other, err := e.l.AddUser(ctx, login.NewUser{Account: "default", Name: "other@example.com", Password: password, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.StartSession(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	ss, err := e.m.Sessions(ctx, p2)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].ID != p1.TokenID || ss[1].ID != p2.TokenID {
		t.Fatalf("sessions %v, want the user's two, oldest first", ids(ss))
	}
	for _, s := range ss {
		if s.Hash != (apitoken.Hash{}) || s.UserID != e.user.ID || s.Kind != apitoken.KindSession {
			t.Fatalf("listed session %+v", s)
		}
	}
	if err := e.m.Logout(ctx, p1); err != nil {
		t.Fatal(err)
	}
	if ss, _ := e.m.Sessions(ctx, p2); len(ss) != 1 || ss[0].ID != p2.TokenID {
		t.Fatalf("after a logout: %v", ids(ss))
	}
}

func TestEndOtherSessionsKeepsOnlyTheCallers(t *testing.T) {
	e := newSessionEnv(t)
	l1, _ := e.login(t)
	l2, _ := e.login(t)
	_, keep := e.login(t)
	tok, err := e.m.Issue(ctx, keep, apitoken.IssueRequest{Description: "stays"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.m.EndOtherSessions(ctx, keep)
	if err != nil || n != 2 {
		t.Fatalf("ended %d, %v; want 2", n, err)
	}
	for _, s := range []string{l1.Secret, l2.Secret} {
		if _, err := e.m.Verify(ctx, s, ""); err == nil {
			t.Fatal("another session still verifies")
		}
	}
	if _, err := e.m.Verify(ctx, tok.Secret, ""); err != nil {
		t.Fatalf("an API token stopped with the sessions: %v", err)
	}
	if ss, _ := e.m.Sessions(ctx, keep); len(ss) != 1 || ss[0].ID != keep.TokenID {
		t.Fatalf("left: %v", ids(ss))
	}
	if n, err := e.m.EndOtherSessions(ctx, keep); n != 0 || err != nil {
		t.Fatalf("a second time: %d, %v", n, err)
	}
}

// Who may list and end a user's sessions and read their profile: an
// unlocked session of that user only.
func TestOwnSessionCallsNeedAnUnlockedSessionOfTheUser(t *testing.T) {
	e := newSessionEnv(t)
	_, session := e.login(t)
	iss, err := e.m.Issue(ctx, session, apitoken.IssueRequest{Description: "own token"})
	if err != nil {
		t.Fatal(err)
	}
	apiToken, err := e.m.Verify(ctx, iss.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	enrolled := newSessionEnv(t)
	_, es := enrolled.login(t)
	enrol, err := enrolled.l.EnrollMFA(ctx, es, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := enrolled.l.ConfirmMFA(ctx, es, login.TOTPCode(mustBase32(t, enrol.Secret), enrolled.clock.Now())); err != nil {
		t.Fatal(err)
	}
	_, locked := enrolled.login(t)
	for _, tc := range []struct {
		name   string
		m      *apitoken.Manager
		caller apitoken.Principal
		want   error
	}{
		{"the user's unlocked session may", e.m, session, nil},
		{"the user's own API token may not", e.m, apiToken, apitoken.ErrInsufficientPrivilege},
		{"a locked session may not", enrolled.m, locked, apitoken.ErrSessionLocked},
		{"an unknown credential may not", e.m, apitoken.Principal{TokenID: "nope"}, apitoken.ErrUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err1 := tc.m.Sessions(ctx, tc.caller)
			_, err2 := tc.m.Profile(ctx, tc.caller)
			_, err3 := tc.m.EndOtherSessions(ctx, tc.caller)
			for _, err := range []error{err1, err2, err3} {
				if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("got %v, want %v", err, tc.want)
				}
			}
		})
	}
}

func TestProfileSaysWhoAndWhichCredentials(t *testing.T) {
	e := newSessionEnv(t)
	_, p := e.login(t)
	got, err := e.m.Profile(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := apitoken.Profile{UserID: e.user.ID, Account: "default", Name: "mary@example.com", Role: apitoken.Normal, Password: true}
	if got != want {
		t.Fatalf("profile %+v, want %+v", got, want)
	}
	if _, err := e.l.EnrollMFA(ctx, p, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.m.Profile(ctx, p); !got.MFAPending || got.MFA {
		t.Fatalf("after enrolling: %+v", got)
	}
}

func TestExpiryLimitsAreTheOptionsAfterDefaults(t *testing.T) {
	m, _ := newManager(t, &apitoken.Options{MaxExpiry: 90 * 24 * time.Hour})
	if def, max := m.ExpiryLimits(); def != 90*24*time.Hour || max != 90*24*time.Hour {
		t.Fatalf("limits %v, %v", def, max)
	}
	m, _ = newManager(t, nil)
	const tenYears = 10 * 365 * 24 * time.Hour // the documented default
	if def, max := m.ExpiryLimits(); def != tenYears || max != tenYears {
		t.Fatalf("default limits %v, %v", def, max)
	}
}

func mustBase32(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ids(ts []*apitoken.Token) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
