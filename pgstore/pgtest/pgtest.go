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
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
// and returns a connection string whose search_path selects it. The schema
// is new: nothing, not even the store's migrations, has run in it. Tests
// that only need an empty store use Recycled, which is much cheaper.
func Schema(tb testing.TB) string {
	tb.Helper()
	schema := createSchema(tb)
	tb.Cleanup(func() {
		if err := dropSchema(schema); err != nil {
			tb.Errorf("dropping the test schema: %v", err)
		}
	})
	return schemaURL(tb, schema)
}

// Recycled returns a connection string for a schema holding an empty
// store: either a new schema, as Schema gives, or one an earlier test of
// this process used, whose tables were emptied when that test ended (after
// its own cleanups, so after the store it opened was closed). Reusing
// schemas skips creating, migrating and dropping one per test, which is
// most of a short PostgreSQL test's time. The tables stay, so a test of
// migrations needs Schema instead.
//
// The test binary's TestMain must call Main, which drops the recycled
// schemas when the tests are done; without it Recycled fails the test.
func Recycled(tb testing.TB) string {
	tb.Helper()
	ServerURL(tb)
	recycled.Lock()
	if !recycled.inMain {
		recycled.Unlock()
		tb.Fatal("pgtest.Recycled needs TestMain to call pgtest.Main, which drops the recycled schemas")
	}
	var schema string
	if n := len(recycled.free); n > 0 {
		schema, recycled.free = recycled.free[n-1], recycled.free[:n-1]
	}
	recycled.Unlock()
	if schema == "" {
		schema = createSchema(tb)
		recycled.Lock()
		recycled.all = append(recycled.all, schema)
		recycled.Unlock()
	}
	tb.Cleanup(func() {
		if err := emptySchema(schema); err != nil {
			tb.Errorf("emptying the test schema %s: %v", schema, err)
			return // not reused; Main drops it
		}
		recycled.Lock()
		recycled.free = append(recycled.free, schema)
		recycled.Unlock()
	})
	return schemaURL(tb, schema)
}

// keptTable is the store's record of applied migrations: a recycled
// schema keeps it, so the store finds its tables already migrated.
const keptTable = "apitoken_schema"

var recycled struct {
	sync.Mutex
	inMain bool
	all    []string // every schema Recycled created
	free   []string // the emptied ones, ready for the next test
}

// Main runs m's tests and then drops the schemas Recycled created, and
// returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M) int {
	recycled.Lock()
	recycled.inMain = true
	recycled.Unlock()
	code := m.Run()
	recycled.Lock()
	all := recycled.all
	recycled.all, recycled.free = nil, nil
	recycled.Unlock()
	for _, schema := range all {
		if err := dropSchema(schema); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: dropping the test schema %s: %v\n", schema, err)
			if code == 0 {
				code = 1
			}
		}
	}
	if admin.pool != nil {
		admin.pool.Close()
	}
	return code
}

// admin is one small pool per test process for creating, emptying and
// dropping schemas, so that these do not pay for a new authenticated
// connection each time.
var admin struct {
	sync.Mutex
	pool *pgxpool.Pool
}

func adminPool() (*pgxpool.Pool, error) {
	admin.Lock()
	defer admin.Unlock()
	if admin.pool != nil {
		return admin.pool, nil
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv("APITOKEN_PG_URL"))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	admin.pool = p
	return p, nil
}

func adminExec(sql string) error {
	p, err := adminPool()
	if err != nil {
		return err
	}
	_, err = p.Exec(context.Background(), sql)
	return err
}

// createSchema creates a schema with a random name and returns the name.
func createSchema(tb testing.TB) string {
	tb.Helper()
	ServerURL(tb)
	var b [6]byte
	rand.Read(b[:])
	schema := "apitoken_test_" + hex.EncodeToString(b[:])
	if err := adminExec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("creating a test schema on APITOKEN_PG_URL: %v", err)
	}
	return schema
}

func dropSchema(schema string) error { return adminExec("DROP SCHEMA " + schema + " CASCADE") }

// emptySchema removes every row from schema's tables but keptTable, and
// restarts their sequences.
func emptySchema(schema string) error {
	p, err := adminPool()
	if err != nil {
		return err
	}
	ctx := context.Background()
	rows, err := p.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = $1 AND tablename <> $2`, schema, keptTable)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	for i, t := range tables {
		tables[i] = schema + "." + t
	}
	// A store a test left open could hold a lock: give up rather than
	// hang, and the schema is not reused.
	return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '5s'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")+" RESTART IDENTITY CASCADE")
		return err
	})
}

// schemaURL is APITOKEN_PG_URL with a search_path selecting schema.
func schemaURL(tb testing.TB, schema string) string {
	tb.Helper()
	u, err := url.Parse(ServerURL(tb))
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
