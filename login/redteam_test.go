package login_test

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

// verified verifies secret (a session may be locked) and fails the test on
// any other error.
func verified(t *testing.T, m *apitoken.Manager, secret, app string) apitoken.Principal {
	t.Helper()
	p, err := m.Verify(ctx, secret, app)
	if err != nil && !errors.Is(err, apitoken.ErrSessionLocked) {
		t.Fatal(err)
	}
	return p
}

// An admin API token may manage users, but it may not give anyone a
// password: a user it creates with a password it chose would be a way to a
// session (an admin one, if it asks for the role), and an admin session may
// reset the token owner's password. SECURITY.md: no API token changes a
// password, its owner's or anyone's.
func TestAnAdminTokenCannotMintAPasswordThroughCreateUser(t *testing.T) {
	lg, m := newService(t, nil, nil)
	owner, err := lg.AddUser(ctx, login.NewUser{Account: "acme", Name: "owner@example.com", Password: password, Role: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lg.Login(ctx, owner.Name, password, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	sess := verified(t, m, l.Secret, "")
	iss, err := m.Issue(ctx, sess, apitoken.IssueRequest{Privilege: apitoken.Admin})
	if err != nil {
		t.Fatal(err)
	}
	tok := verified(t, m, iss.Secret, "")

	_, err = lg.CreateUser(ctx, tok, login.NewUser{Name: "sock@example.com", Password: "attacker password", Role: apitoken.Admin})
	if !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		// Show what the token could then do: sign in as its new admin and
		// reset the owner's password.
		ls, lerr := lg.Login(ctx, "sock@example.com", "attacker password", netip.Addr{})
		if lerr == nil {
			np := "the attacker's password for the owner"
			if _, uerr := lg.UpdateUser(ctx, verified(t, m, ls.Secret, ""), owner.ID, login.UserUpdate{Password: &np}); uerr == nil {
				if _, lerr := lg.Login(ctx, owner.Name, np, netip.Addr{}); lerr == nil {
					t.Errorf("an admin API token signed in as its owner: created an admin user with a password, reset the owner's password from its session")
				}
			}
		}
		t.Fatalf("CreateUser with a password from an API token: %v, want ErrInsufficientPrivilege (session required)", err)
	}
	// Nor through the Manager's own CreateUser with a hash made elsewhere,
	// from the token or even from the admin's session: passwords are
	// given only through this package, which applies the rule.
	hashed, err := lg.AddUser(ctx, login.NewUser{Account: "elsewhere", Name: "hash source", Password: "attacker password", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	for _, caller := range []apitoken.Principal{tok, sess} {
		if _, err := m.CreateUser(ctx, caller, apitoken.NewUser{Name: "sock2@example.com", PasswordHash: hashed.PasswordHash, Role: apitoken.Admin}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Fatalf("Manager.CreateUser with a password hash from %v: %v, want ErrInsufficientPrivilege (session required)", caller.Kind, err)
		}
	}
	if _, err := lg.Login(ctx, "sock2@example.com", "attacker password", netip.Addr{}); !errors.Is(err, login.ErrBadCredentials) {
		t.Fatalf("a user created with a hash through Manager.CreateUser logs in: %v", err)
	}
	// Without a password the token may still create users, and the owner's
	// session may create them with one.
	if _, err := lg.CreateUser(ctx, tok, login.NewUser{Name: "nopw@example.com", Role: apitoken.Normal}); err != nil {
		t.Errorf("CreateUser without a password from an admin token: %v", err)
	}
	if _, err := m.CreateUser(ctx, tok, apitoken.NewUser{Name: "nopw2@example.com", Role: apitoken.Normal}); err != nil {
		t.Errorf("Manager.CreateUser without a password from an admin token: %v", err)
	}
	if _, err := lg.CreateUser(ctx, sess, login.NewUser{Name: "pw@example.com", Password: "a password 1", Role: apitoken.Normal}); err != nil {
		t.Errorf("CreateUser with a password from an admin session: %v", err)
	}
}

// totpNow is the current code of a base32 secret from EnrollMFA.
func totpNow(t *testing.T, b32 string, now time.Time) string {
	t.Helper()
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(b32)
	if err != nil {
		t.Fatal(err)
	}
	return login.TOTPCode(secret, now)
}

// Someone with the password but not the second factor gets only locked
// sessions; logging in again and again must not end the owner's unlocked
// sessions through the per-user session cap.
func TestLockedLoginsDoNotEndTheOwnersUnlockedSessions(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	lg, m := newService(t, &apitoken.Options{Now: clock.Now, MaxSessionsPerUser: 3}, nil)
	u, err := lg.AddUser(ctx, login.NewUser{Account: "acme", Name: "mary@example.com", Password: password, Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lg.Login(ctx, u.Name, password, netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	owner := verified(t, m, l.Secret, "")
	enr, err := lg.EnrollMFA(ctx, owner, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.ConfirmMFA(ctx, owner, totpNow(t, enr.Secret, clock.Now())); err != nil {
		t.Fatal(err)
	}
	for i := range 5 { // the attacker: the password, no code
		clock.Advance(time.Second)
		al, err := lg.Login(ctx, u.Name, password, netip.MustParseAddr("192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		if al.Token.Unlocked {
			t.Fatal("an MFA user's login started unlocked")
		}
		if _, err := m.Verify(ctx, l.Secret, ""); err != nil {
			t.Fatalf("after %d locked logins the owner's unlocked session fails: %v", i+1, err)
		}
	}
}
