package apitoken_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

// The host signs a user in its own way (single sign-on here), starts a
// session for them, and the user issues a read-only API token for a CI
// job, which then verifies in place of the session. Revoking it stops it
// at once. (Package login has the same flow with the library's own
// password login.)
func Example() {
	ctx := context.Background()
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()

	mary, _ := m.AddUser(ctx, apitoken.NewUser{Account: "default", Name: "mary@example.com", Role: apitoken.Normal})
	// In an HTTP handler, once the host's sign-in says this is Mary:
	started, _ := m.StartSession(ctx, mary.ID)
	session, _ := m.Verify(ctx, started.Secret, "")

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

// A host whose users sign in its own way issues a token for one of them,
// keeping its users in its own directory: the store holds no user record.
func ExampleManager_IssueFor() {
	ctx := context.Background()
	users := storetest.NewHostUsers() // the host's own directory
	users.Set(apitoken.User{ID: "u-42", Account: "acme", Role: apitoken.Normal})
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config"), Users: users})
	defer m.Close()

	issued, _ := m.IssueFor(ctx, "acme", "u-42", apitoken.IssueRequest{Description: "deploy bot"})
	p, _ := m.Verify(ctx, issued.Secret, "")
	fmt.Println(p.UserID, p.Privilege)

	_, err := m.IssueFor(ctx, "acme", "u-42", apitoken.IssueRequest{Privilege: apitoken.Admin})
	fmt.Println(errors.Is(err, apitoken.ErrInsufficientPrivilege))
	// Output:
	// u-42 normal
	// true
}

// The Guard protects a mux: a valid token reaches the handler, which reads
// the Principal; a missing one gets the uniform 401.
func ExampleGuard() {
	ctx := context.Background()
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()
	issued, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.ReadOnly})

	guard := apitoken.NewGuard(m, nil)
	mux := http.NewServeMux()
	mux.Handle("GET /reports", guard.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := apitoken.FromContext(r.Context())
		fmt.Fprintf(w, "reports for %s (%v)", p.Account, p.Privilege)
	})))

	for _, auth := range []string{"Bearer " + issued.Secret, ""} {
		req := httptest.NewRequest("GET", "/reports", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 reports for acme (read-only)
	// 401 {"error":{"code":"invalid_token","message":"missing or invalid token"}}
}

// Rotating gives a new secret with the same settings; the old one works
// until the grace period ends.
func ExampleManager_Rotate() {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config"), Now: clock.Now})
	defer m.Close()
	admin, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin})
	caller, _ := m.Verify(ctx, admin.Secret, "")
	old, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Normal, Description: "billing export"})

	next, _ := m.Rotate(ctx, caller, old.Token.ID, time.Hour)
	fmt.Println(next.Token.Description, next.Token.Lineage == old.Token.ID)
	_, err := m.Verify(ctx, old.Secret, "")
	fmt.Println("old secret during the grace:", err)
	clock.Advance(time.Hour)
	_, err = m.Verify(ctx, old.Secret, "")
	fmt.Println("old secret after it:", err)
	// Output:
	// billing export true
	// old secret during the grace: <nil>
	// old secret after it: apitoken: token expired
}

// A token issued with a pending default app state works for an application
// only once its owner allows it.
func ExampleManager_SetAppState() {
	ctx := context.Background()
	m, _ := apitoken.New(memstore.New(), &apitoken.Options{HashKey: []byte("load 32 random bytes from config")})
	defer m.Close()
	admin, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.Admin})
	owner, _ := m.Verify(ctx, admin.Secret, "")
	tok, _ := m.IssueFor(ctx, "acme", "", apitoken.IssueRequest{Privilege: apitoken.ReadOnly, DefaultAppState: apitoken.Pending})

	_, err := m.Verify(ctx, tok.Secret, "grafana")
	fmt.Println(err)
	m.SetAppState(ctx, owner, tok.Token.ID, "grafana", apitoken.Allow)
	_, err = m.Verify(ctx, tok.Secret, "grafana")
	fmt.Println(err)
	// Output:
	// apitoken: application pending approval
	// <nil>
}
