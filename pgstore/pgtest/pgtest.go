// Package pgtest gives tests a fresh, empty PostgreSQL schema of their own.
//
// The server comes from APITOKEN_PG_URL (a database the tests may create
// schemas in). Without it tests skip with a message, unless
// APITOKEN_REQUIRE_PG=1 (set by CI), which makes the skip a failure.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ServerURL returns APITOKEN_PG_URL, or skips (fails under
// APITOKEN_REQUIRE_PG=1) when it is not set.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("APITOKEN_PG_URL")
	if u == "" {
		msg := "no PostgreSQL: set APITOKEN_PG_URL=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable to run this test"
		if os.Getenv("APITOKEN_REQUIRE_PG") == "1" {
			tb.Fatal(msg + " (APITOKEN_REQUIRE_PG=1 makes this a failure)")
		}
		tb.Skip(msg)
	}
	return u
}

// Schema creates a schema with a random name, drops it when the test ends,
// and returns a connection string whose search_path selects it.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "apitoken_test_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("creating a test schema on APITOKEN_PG_URL: %v", err)
	}
	tb.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("dropping the test schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("APITOKEN_PG_URL must be a URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
