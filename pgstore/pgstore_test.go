package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

var ctx = context.Background()

// The tests need a PostgreSQL server: APITOKEN_PG_URL names a database the
// tests may create schemas in. Without it they skip, unless
// APITOKEN_REQUIRE_PG=1 (set by CI), which turns the skip into a failure.
func serverURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("APITOKEN_PG_URL")
	if u == "" {
		msg := "no PostgreSQL: set APITOKEN_PG_URL=postgres://user:pass@127.0.0.1:5432/db?sslmode=disable to run the pgstore tests"
		if os.Getenv("APITOKEN_REQUIRE_PG") == "1" {
			tb.Fatal(msg + " (APITOKEN_REQUIRE_PG=1 makes this a failure)")
		}
		tb.Skip(msg)
	}
	return u
}

// schemaURL creates a fresh schema, dropped after the test, and returns a
// connection string whose search_path selects it: each test gets an empty
// database of its own.
func schemaURL(tb testing.TB) string {
	tb.Helper()
	base := serverURL(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "apitoken_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connecting to APITOKEN_PG_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Error(err)
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

func open(tb testing.TB, connString string) *pgstore.Store {
	tb.Helper()
	s, err := pgstore.Open(ctx, connString, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func newStore(tb testing.TB) apitoken.Store { return open(tb, schemaURL(tb)) }

func TestStore(t *testing.T) { storetest.Run(t, newStore) }

func TestLifecycle(t *testing.T) {
	storetest.RunLifecycle(t, newStore, &storetest.LifecycleConfig{Sequences: 100, Rounds: 1000})
}

func TestStress(t *testing.T) {
	d := 10 * time.Second
	if testing.Short() {
		d = 2 * time.Second
	}
	storetest.Stress(t, newStore, d)
}

func TestMigrationsApplyOnceAndNewerSchemasAreRefused(t *testing.T) {
	url := schemaURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs { // instances starting together
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(ctx, url, nil)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n, max int
	if err := c.QueryRow(ctx, "SELECT count(*), max(version) FROM apitoken_schema").Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != pgstore.SchemaVersion() || max != pgstore.SchemaVersion() {
		t.Fatalf("schema rows %d, max %d; want %d once each", n, max, pgstore.SchemaVersion())
	}
	if _, err := c.Exec(ctx, "INSERT INTO apitoken_schema VALUES ($1, 0)", max+1); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(ctx, url, nil); !errorsIs(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("opening a newer schema: %v, want ErrSchemaTooNew", err)
	}
}

func TestABadConnectionStringDoesNotEchoThePassword(t *testing.T) {
	_, err := pgstore.Open(ctx, "postgres://u:s3cretPassw0rd@127.0.0.1:5432/db?sslmode=bogus", nil)
	if err == nil || contains(err.Error(), "s3cretPassw0rd") {
		t.Fatalf("error %v", err)
	}
}
