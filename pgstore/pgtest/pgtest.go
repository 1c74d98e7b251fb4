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
	"errors"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/apitoken/apitoken/storetest"
)

// OtherDatabaseName is the second database OtherDatabase returns, for tests
// of a store whose listening connection reaches the wrong database.
const OtherDatabaseName = "apitoken_test_other"

// ServerURL returns APITOKEN_PG_URL, or skips (fails under
// APITOKEN_REQUIRE_PG=1) when it is not set.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("APITOKEN_PG_URL")
	if u == "" {
		msg := "no PostgreSQL: set APITOKEN_PG_URL=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable to run this test"
		storetest.SkipUnlessRequired(tb, "APITOKEN_REQUIRE_PG", msg)
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

// OtherDatabase returns a connection string for a database on
// APITOKEN_PG_URL's server other than APITOKEN_PG_URL's own:
// OtherDatabaseName, created if it does not exist (which needs CREATEDB;
// CI creates it beforehand). It is left in place, empty, for the next run.
// Without APITOKEN_PG_URL, or if the database can be neither found nor
// created, the test skips (fails under APITOKEN_REQUIRE_PG=1).
func OtherDatabase(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("APITOKEN_PG_URL must be a URL: %v", err)
	}
	if u.Path == "/"+OtherDatabaseName {
		tb.Fatalf("APITOKEN_PG_URL names %s, the database tests use as the other one", OtherDatabaseName)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connecting to APITOKEN_PG_URL: %v", err)
	}
	defer c.Close(ctx)
	var exists bool
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, OtherDatabaseName).Scan(&exists); err != nil {
		tb.Fatalf("looking for database %s: %v", OtherDatabaseName, err)
	}
	if !exists {
		_, err := c.Exec(ctx, "CREATE DATABASE "+OtherDatabaseName)
		var pg *pgconn.PgError
		if err != nil && !(errors.As(err, &pg) && pg.Code == "42P04") { // duplicate_database: another test made it
			msg := "no second database: create " + OtherDatabaseName + " (owned by APITOKEN_PG_URL's user) or give that user CREATEDB: " + err.Error()
			storetest.SkipUnlessRequired(tb, "APITOKEN_REQUIRE_PG", msg)
		}
	}
	u.Path = "/" + OtherDatabaseName
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	return u.String()
}
