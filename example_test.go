package apitoken_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// A user logs in, issues a read-only API token for a CI job, and the token
// then verifies in place of the session. Revoking it stops it at once.
func Example() {
	ctx := context.Background()
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()

	m.AddUser(ctx, apitoken.NewUser{Account: "default", Name: "mary@example.com", Password: "#32Password1!", Role: apitoken.Normal})
	// In an HTTP handler: apitoken.ClientAddr(r, trustedProxies).
	client := netip.MustParseAddr("192.0.2.10")
	login, _ := m.Login(ctx, "mary@example.com", "#32Password1!", client)
	session, _ := m.Verify(ctx, login.Secret, "")

	issued, _ := m.Issue(ctx, session, apitoken.IssueRequest{Description: "CI", Privilege: apitoken.ReadOnly})
	p, err := m.Verify(ctx, issued.Secret, "ci-runner")
	fmt.Println(p.Privilege, p.App, err)

	_, err = m.Issue(ctx, p, apitoken.IssueRequest{})
	fmt.Println(errors.Is(err, apitoken.ErrInsufficientPrivilege))

	m.Revoke(ctx, session, issued.Token.ID)
	_, err = m.Verify(ctx, issued.Secret, "ci-runner")
	fmt.Println(err)
	// Output:
	// read-only ci-runner <nil>
	// true
	// apitoken: token revoked
}

// Pattern finds tokens in text, for secret scanning.
func ExamplePattern() {
	token, _ := apitoken.Format{}.Generate(apitoken.KindAPI)
	leaked := "config: token=" + token + " # oops"
	fmt.Println(apitoken.Pattern.MatchString(leaked), apitoken.Pattern.MatchString("token=atk_tooShort"))
	// Output: true false
}
