package pgstore_test

import (
	"testing"

	"github.com/apitoken/apitoken/pgstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/jackc/pgx/v5"
)

// TestRowsFromBeforeScopesReadUnchanged: a database at schema version 4
// (no scope, range or last-address columns) migrates on Open, and its
// token rows read back unscoped, unrestricted and with no last address.
func TestRowsFromBeforeScopesReadUnchanged(t *testing.T) {
	url := schemaURL(t)
	s := open(t, url)
	tk := storetest.Token(1, "acme", "u1")
	if err := s.CreateToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	// Back to version 5: the row as a version 5 database holds it.
	for _, q := range []string{
		"ALTER TABLE apitoken_tokens DROP COLUMN scopes, DROP COLUMN allowed_cidrs, DROP COLUMN last_used_ip",
		"DELETE FROM apitoken_schema WHERE version >= 6",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := pgstore.Open(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.TokenByID(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scopes != nil || got.AllowedCIDRs != nil || got.LastUsedIP.IsValid() || !got.Equal(tk) {
		t.Fatalf("an old row read as %+v", got)
	}
}
