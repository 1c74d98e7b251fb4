package bolt_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apitoken/apitoken"
)

// CommitEmpty changes nothing a reader can see: every record, with its
// Version, reads back the same, and an empty store is fine too.
func TestCommitEmptyChangesNoRecord(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "t.db"), nil)
	if err := s.CommitEmpty(ctx); err != nil {
		t.Fatalf("on an empty store: %v", err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: []byte("bolt commit-empty test key, 32 b")})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := m.Issue(ctx, p, apitoken.IssueRequest{Description: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := s.CommitEmpty(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, err := s.ListTokens(ctx, apitoken.TokenQuery{Account: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(before) < 5 || !reflect.DeepEqual(before, after) {
		t.Fatalf("records changed:\n%+v\n%+v", before, after)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
