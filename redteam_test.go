package apitoken_test

import (
	"errors"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
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

// The per-user cap on live API tokens (behaviour rule 8) holds for
// rotations with a grace period too: each leaves the old secret live, and
// the same old secret may be rotated again while its grace runs.
func TestRotationsWithGraceStayWithinTheTokenCap(t *testing.T) {
	m, _ := newManager(t, &apitoken.Options{MaxTokensPerUser: 3})
	iss := issueAPIToken(t, m)
	p := verified(t, m, iss.Secret, "")
	for range 10 {
		if _, err := m.Rotate(ctx, p, iss.Token.ID, time.Hour); err != nil {
			if errors.Is(err, apitoken.ErrLimitReached) {
				break
			}
			t.Fatal(err)
		}
	}
	page, err := m.List(ctx, p, apitoken.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) > 3 {
		t.Fatalf("%d live API tokens for one user, cap 3", len(page.Items))
	}
}

// Purge removes sessions idle past the timeout; a session used recently
// is live even while its last use is still waiting in memory for the next
// flush, and Purge must not delete it.
func TestPurgeKeepsASessionWhoseLastUseIsNotFlushedYet(t *testing.T) {
	clock := storetest.NewClock(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	m, _ := newManager(t, &apitoken.Options{Now: clock.Now, FlushInterval: time.Hour, PurgeInterval: -1, CacheSize: -1})
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "mary@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(29 * time.Minute)
	verified(t, m, l.Secret, "") // used: live until 59 minutes from the start
	clock.Advance(2 * time.Minute)
	if _, err := m.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, l.Secret, ""); err != nil {
		t.Fatalf("a session used 2 minutes ago fails after a purge: %v", err)
	}
}

// TestATokenCannotApproveItsAppsThroughATokenItIssued: a token issues a
// child and uses it to allow its own pending application or loosen its own
// default app state; both are refused, and so are a grandchild, a sibling
// and the parent approving for the child. A token from outside the family
// (issued by the owner's session) still may.
func TestATokenCannotApproveItsAppsThroughATokenItIssued(t *testing.T) {
	m, _ := newManager(t, nil)
	iss := issueAPIToken(t, m)
	l, err := m.StartSession(ctx, iss.Token.UserID)
	if err != nil {
		t.Fatal(err)
	}
	owner := verified(t, m, l.Secret, "")
	verified(t, m, iss.Secret, "ci") // "ci" recorded as allowed
	pending := apitoken.Pending
	if _, err := m.Update(ctx, owner, iss.Token.ID, apitoken.TokenUpdate{DefaultAppState: &pending}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(ctx, iss.Secret, "evil"); !errors.Is(err, apitoken.ErrAppPending) {
		t.Fatalf("%v", err)
	}
	tok := verified(t, m, iss.Secret, "ci")
	child, err := m.Issue(ctx, tok, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cp := verified(t, m, child.Secret, "")
	grandchild, err := m.Issue(ctx, cp, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sibling, err := m.Issue(ctx, tok, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	allow := apitoken.Allow
	for name, cred := range map[string]apitoken.Principal{
		"a child":      cp,
		"a grandchild": verified(t, m, grandchild.Secret, ""),
		"a sibling":    verified(t, m, sibling.Secret, ""),
	} {
		if _, err := m.SetAppState(ctx, cred, iss.Token.ID, "evil", apitoken.Allow); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Errorf("%s allowed the issuing token's pending app: %v", name, err)
		}
		if _, err := m.Update(ctx, cred, iss.Token.ID, apitoken.TokenUpdate{DefaultAppState: &allow}); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
			t.Errorf("%s loosened the issuing token's default app state: %v", name, err)
		}
	}
	verified(t, m, child.Secret, "child-app") // recorded under the child's default, allow
	if _, err := m.SetAppState(ctx, tok, child.Token.ID, "child-app", apitoken.Deny); !errors.Is(err, apitoken.ErrInsufficientPrivilege) {
		t.Errorf("the parent changed its child's approvals: %v", err)
	}
	outsider, err := m.Issue(ctx, owner, apitoken.IssueRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetAppState(ctx, verified(t, m, outsider.Secret, ""), iss.Token.ID, "evil", apitoken.Allow); err != nil {
		t.Errorf("another credential of the owner, from outside the family, may approve: %v", err)
	}
}
