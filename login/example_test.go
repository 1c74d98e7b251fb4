package login_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
)

// A user logs in with a password, issues a read-only API token for a CI
// job, and the token then verifies in place of the session. Revoking it
// stops it at once.
func Example() {
	ctx := context.Background()
	store := memstore.New()
	m, _ := apitoken.New(store, &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()
	logins, _ := login.New(m, store, nil)

	logins.AddUser(ctx, login.NewUser{Account: "default", Name: "mary@example.com", Password: "#32Password1!", Role: apitoken.Normal})
	// In an HTTP handler: login.ClientAddr(r, trustedProxies).
	client := netip.MustParseAddr("192.0.2.10")
	started, _ := logins.Login(ctx, "mary@example.com", "#32Password1!", client)
	session, _ := m.Verify(ctx, started.Secret, "")

	issued, _ := m.Issue(ctx, session, apitoken.IssueRequest{Description: "CI", Privilege: apitoken.ReadOnly})
	p, err := m.Verify(ctx, issued.Secret, "ci-runner")
	fmt.Println(p.Privilege, p.App, err)

	_, err = m.Issue(ctx, p, apitoken.IssueRequest{})
	fmt.Println(errors.Is(err, apitoken.ErrInsufficientPrivilege))

	_, err = logins.Login(ctx, "mary@example.com", "not her password", client)
	fmt.Println(apitoken.HTTPErrorOf(err).Code)

	m.Revoke(ctx, session, issued.Token.ID)
	_, err = m.Verify(ctx, issued.Secret, "ci-runner")
	fmt.Println(err)
	// Output:
	// read-only ci-runner <nil>
	// true
	// invalid_credentials
	// apitoken: token revoked
}
