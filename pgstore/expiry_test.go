package pgstore_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

// A row written the way a schema-4 store wrote it, without the expiry
// warning column, reads with no warning time and is found by the warning
// query; that query, over 6,000 analysed records, reads the partial index
// of migration 5 rather than the table.
func TestRowsWithoutAnExpiryWarningAndTheWarningIndex(t *testing.T) {
	url := schemaURL(t)
	s := open(t, url)
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	now := storetest.Token(1, "", "").Created
	old := storetest.Token(1, "acme", "u1")
	old.Expires = now.Add(48 * time.Hour)
	if _, err := c.Exec(ctx, `INSERT INTO apitoken_tokens (id, hash, hint, kind, owner, account, user_id, created_by,
		parent, lineage, description, type, privilege, default_app_state, apps, created, last_used, expires, revoked,
		unlocked, version, origin) VALUES ($1, $2, $3, 2, 1, 'acme', 'u1', 'u1', '', $1, 'old', 'generic', 2, 1, '[]', $4, NULL, $5, NULL, false, 1, '')`,
		old.ID, old.Hash[:], old.Hint, old.Created.UnixNano(), old.Expires.UnixNano()); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByID(ctx, old.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiryWarned.IsZero() || !got.Expires.Equal(old.Expires) {
		t.Fatalf("an old row read as %+v", got)
	}
	q := apitoken.TokenQuery{Kind: apitoken.KindAPI, Unwarned: true, ExpiresAfter: now, ExpiresBefore: now.Add(7 * 24 * time.Hour), Limit: 100}
	if ts, err := s.ListTokens(ctx, q); err != nil || len(ts) != 1 || ts[0].ID != old.ID {
		t.Fatalf("the warning query found %v, %v; want the old row", ts, err)
	}

	var batch []*apitoken.Token
	for n := 2; n <= 6000; n++ {
		tk := storetest.Token(n, []string{"acme", "beta", "gamma"}[n%3], "")
		tk.Version = 1
		if n%100 == 0 {
			tk.Expires = now.Add(time.Duration(n) * time.Minute)
		}
		batch = append(batch, tk)
	}
	if _, err := s.ImportTokens(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "ANALYZE apitoken_tokens"); err != nil {
		t.Fatal(err)
	}
	sql, args, err := pgstore.ListTokensSQL(q)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "apitoken_tokens_to_warn") {
		t.Fatalf("the warning query does not use the warning index; the plan is\n%s", plan)
	}
	t.Logf("%s", plan)
}

// Two instances on one database, each purging (and so warning) at the
// same time, report each token about to expire exactly once between them,
// at most 100 a pass, and neither reports it again, nor does a third
// instance started later.
func TestExpiryWarningsAcrossInstancesAreSentOnce(t *testing.T) {
	url := schemaURL(t)
	var mu sync.Mutex
	reported := map[string]int{}
	passes := 0
	open := func() *apitoken.Manager {
		s, err := pgstore.Open(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := apitoken.New(s, &apitoken.Options{HashKey: hashKey, PurgeInterval: -1, OnEvent: func(e apitoken.Event) {
			if e.Type == event.Expiring {
				mu.Lock()
				reported[e.TokenID]++
				mu.Unlock()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); s.Close() })
		return m
	}
	a, b := open(), open()
	want := map[string]bool{}
	for i := range 240 {
		d := 3 * 24 * time.Hour
		if i%4 == 0 {
			d = 30 * 24 * time.Hour // outside the window
		}
		iss, err := a.IssueFor(ctx, []string{"acme", "beta"}[i%2], "", apitoken.IssueRequest{Privilege: apitoken.Normal, Expires: time.Now().Add(d)})
		if err != nil {
			t.Fatal(err)
		}
		if i%4 != 0 {
			want[iss.Token.ID] = true
		}
	}
	for range 4 {
		var wg sync.WaitGroup
		for _, m := range []*apitoken.Manager{a, b} {
			wg.Go(func() {
				if _, err := m.Purge(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		passes++
	}
	if _, err := open().Purge(ctx); err != nil { // a restart
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != len(want) {
		t.Fatalf("%d tokens reported in %d passes, want %d", len(reported), passes, len(want))
	}
	for id, n := range reported {
		if n != 1 || !want[id] {
			t.Fatalf("token %s reported %d times (in the window: %v)", id, n, want[id])
		}
	}
}
