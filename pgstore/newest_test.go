package pgstore_test

import (
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

// TestNewestFirstListingsScanAnIndexBackward asks PostgreSQL for the plans
// of the listings the Manager makes, newest first and oldest first, from
// the start and after a position, over 6,000 analysed records: each must
// be a scan of a migration-3 index (backward when newest first) with no
// sort, so a page reads about a page of rows.
func TestNewestFirstListingsScanAnIndexBackward(t *testing.T) {
	url := schemaURL(t)
	s := open(t, url)
	var batch []*apitoken.Token
	for n := 1; n <= 6000; n++ {
		tk := storetest.Token(n, "acme", []string{"u1", "u2", "u3", ""}[n%4])
		if n%3 == 0 && tk.UserID != "" {
			tk = storetest.Session(n, "acme", tk.UserID)
		}
		tk.Version = 1
		batch = append(batch, tk)
	}
	if _, err := s.ImportTokens(ctx, batch); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "ANALYZE apitoken_tokens"); err != nil {
		t.Fatal(err)
	}
	mid := storetest.Token(3001, "", "").Position()
	for _, tc := range []struct {
		q     apitoken.TokenQuery
		index string
	}{
		{apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI, Limit: 26, Newest: true}, "apitoken_tokens_by_account"},
		{apitoken.TokenQuery{Account: "acme", Kind: apitoken.KindAPI, Limit: 26, Newest: true, After: mid}, "apitoken_tokens_by_account"},
		{apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI, Limit: 26, Newest: true}, "apitoken_tokens_by_user"},
		{apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindSession, Limit: 26, Newest: true, After: mid}, "apitoken_tokens_by_user"},
		{apitoken.TokenQuery{Account: "acme", UserID: "u1", Kind: apitoken.KindAPI, Limit: 26, After: mid}, "apitoken_tokens_by_user"},
	} {
		sql, args, err := pgstore.ListTokensSQL(tc.q)
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
		scan := "Index Scan using " + tc.index
		if tc.q.Newest {
			scan = "Index Scan Backward using " + tc.index
		}
		if !strings.Contains(plan, scan) || strings.Contains(plan, "Sort") {
			t.Errorf("%+v: want %q and no sort, the plan is\n%s", tc.q, scan, plan)
		} else {
			t.Logf("%+v:\n%s", tc.q, plan)
		}
	}
}
