package secretscanning_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

// newManager is a Manager over a counting memstore.
func newManager(tb testing.TB, o *apitoken.Options) (*apitoken.Manager, *storetest.Counting) {
	tb.Helper()
	s := storetest.NewCounting(memstore.New())
	m, err := apitoken.New(s, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m, s
}

// issueAPIToken adds a normal user to account acme and issues an API
// token for them.
func issueAPIToken(tb testing.TB, m *apitoken.Manager) apitoken.Issued {
	tb.Helper()
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "a@example.com", Role: apitoken.Normal})
	if err != nil {
		tb.Fatal(err)
	}
	iss, err := m.IssueFor(ctx, "acme", u.ID, apitoken.IssueRequest{})
	if err != nil {
		tb.Fatal(err)
	}
	return iss
}

// mustGenerate returns a well-formed token no Manager issued.
func mustGenerate() string {
	s, err := apitoken.Format{}.Generate(apitoken.KindAPI)
	if err != nil {
		panic(err)
	}
	return s
}

// jsonDecode decodes b into v, refusing fields v does not have.
func jsonDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
