package pgstore_test

import (
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/jackc/pgx/v5"
)

// benchStore returns a store with 10,000 API tokens and the secret of one.
func benchStore(b *testing.B, cacheSize int) (*apitoken.Manager, string, string) {
	b.Helper()
	url := schemaURL(b)
	s, err := pgstore.Open(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey, CacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(); s.Close() })
	u, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "bench@example.com", Role: apitoken.Admin})
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	admin, err := m.Verify(ctx, l.Secret, "")
	if err != nil {
		b.Fatal(err)
	}
	var secret string
	for i := range 10_000 {
		iss, err := m.Issue(ctx, admin, apitoken.IssueRequest{Owner: apitoken.OwnerAccount})
		if err != nil {
			b.Fatal(err)
		}
		if i == 5000 {
			secret = iss.Secret
		}
	}
	for range 2 { // record the default app, then warm
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			b.Fatal(err)
		}
	}
	return m, secret, url
}

// BenchmarkColdVerify is Verify with the cache off (one query by hash per
// call) next to the floor: a bare pgx query of one row by primary key.
func BenchmarkColdVerify(b *testing.B) {
	m, secret, url := benchStore(b, -1)
	b.Run("apitoken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Verify(ctx, secret, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-pgx-by-primary-key", func(b *testing.B) {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		h := m.HashOf(secret)
		var id string
		if err := conn.QueryRow(ctx, "SELECT id FROM apitoken_tokens WHERE hash = $1", h[:]).Scan(&id); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			var hint string
			if err := conn.QueryRow(ctx, "SELECT hint FROM apitoken_tokens WHERE id = $1", id).Scan(&hint); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHotVerify is Verify served from the cache, as on bolt.
func BenchmarkHotVerify(b *testing.B) {
	m, secret, _ := benchStore(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, secret, ""); err != nil {
			b.Fatal(err)
		}
	}
}
