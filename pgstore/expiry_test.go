package pgstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
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
