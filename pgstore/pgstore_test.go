package pgstore_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/pgstore/pgtest"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

var ctx = context.Background()

// schemaURL is a fresh schema per test on APITOKEN_PG_URL's server, or a
// skip (a failure under APITOKEN_REQUIRE_PG=1).
var schemaURL = pgtest.Schema

func open(tb testing.TB, connString string) *pgstore.Store {
	tb.Helper()
	s, err := pgstore.Open(ctx, connString, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store on an emptied schema an earlier test may have
// used: the suites' hundreds of stores then cost no schema creation and
// migration each.
func newStore(tb testing.TB) apitoken.Store { return open(tb, pgtest.Recycled(tb)) }

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStore(t *testing.T) { storetest.Run(t, newStore) }

// Each property sequence and each revoke round is several network round
// trips, so the suite runs at small sizes: 10 sequences and 100 rounds by
// default, 100 and 1,000 at the long size.
func TestLifecycle(t *testing.T) {
	cfg := &storetest.LifecycleConfig{Sequences: 10, Rounds: 100}
	if storetest.Long() {
		cfg = &storetest.LifecycleConfig{Sequences: 100, Rounds: 1000}
	}
	storetest.RunLifecycle(t, newStore, cfg)
}

func TestStress(t *testing.T) {
	d := 10 * time.Second
	if !storetest.Long() {
		d = time.Second
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
