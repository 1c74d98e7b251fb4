package login_test

import (
	"context"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

var ctx = context.Background()

// newService returns a login Service, and its Manager, over a fresh
// counting memstore. Nil options mean defaults.
func newService(tb testing.TB, o *apitoken.Options, lo *login.Options) (*login.Service, *apitoken.Manager) {
	tb.Helper()
	s := storetest.NewCounting(memstore.New())
	m, err := apitoken.New(s, o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	l, err := login.New(m, s, lo)
	if err != nil {
		tb.Fatal(err)
	}
	return l, m
}
