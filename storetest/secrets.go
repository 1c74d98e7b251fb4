package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

// Secrets are token secrets of account "acme", one in each state a
// verifier, a middleware or an endpoint must tell apart.
type Secrets struct {
	Live     string // a normal user's token
	ReadOnly string // the same user's read-only token
	Revoked  string // revoked by its owner
	Expired  string // expired one second after it was issued
	Disabled string // its owner was disabled by an admin
	Pending  string // issued with a pending default application state
	Denied   string // issued with a denied default application state
	Locked   string // a session of a user with MFA, not unlocked
}

// IssueSecrets adds users to m (an admin, a normal user, a user it
// disables and a user with MFA, enrolled through logins) and returns one
// secret in each state. It advances clock past the expired token's
// expiry, so clock must be m's Options.Now.
func IssueSecrets(tb testing.TB, m *apitoken.Manager, logins *login.Service, clock *Clock) Secrets {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	session := func(role apitoken.Privilege, name string) apitoken.Principal {
		tb.Helper()
		u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: name, Role: role})
		must(err)
		l, err := m.StartSession(ctx, u.ID)
		must(err)
		p, err := m.Verify(ctx, l.Secret, "")
		must(err)
		return p
	}
	issue := func(p apitoken.Principal, req apitoken.IssueRequest) apitoken.Issued {
		tb.Helper()
		iss, err := m.Issue(ctx, p, req)
		must(err)
		return iss
	}
	var s Secrets
	admin := session(apitoken.Admin, "admin@example.com")
	user := session(apitoken.Normal, "user@example.com")
	s.Live = issue(user, apitoken.IssueRequest{}).Secret
	s.ReadOnly = issue(user, apitoken.IssueRequest{Privilege: apitoken.ReadOnly}).Secret
	rev := issue(user, apitoken.IssueRequest{})
	must(m.Revoke(ctx, user, rev.Token.ID))
	s.Revoked = rev.Secret
	s.Expired = issue(user, apitoken.IssueRequest{Expires: clock.Now().Add(time.Second)}).Secret
	s.Pending = issue(user, apitoken.IssueRequest{DefaultAppState: apitoken.Pending}).Secret
	s.Denied = issue(user, apitoken.IssueRequest{DefaultAppState: apitoken.Deny}).Secret
	leaver := session(apitoken.Normal, "leaver@example.com")
	s.Disabled = issue(leaver, apitoken.IssueRequest{}).Secret
	disabled := true
	_, err := m.UpdateUser(ctx, admin, leaver.UserID, apitoken.UserUpdate{Disabled: &disabled})
	must(err)
	mfa := session(apitoken.Normal, "mfa@example.com")
	EnableMFA(tb, logins, mfa, clock.Now())
	l, err := m.StartSession(ctx, mfa.UserID)
	must(err)
	s.Locked = l.Secret
	clock.Advance(time.Second) // the expiring token is now expired
	return s
}
