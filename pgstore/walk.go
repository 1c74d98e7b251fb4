package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/migrate"
)

var (
	_ migrate.Walker   = (*Store)(nil)
	_ migrate.Importer = (*Store)(nil)
)

// WalkTokens implements migrate.Walker: one query per page through the
// primary key, in the ID column's collation order.
func (s *Store) WalkTokens(ctx context.Context, after string, limit int) ([]*apitoken.Token, error) {
	return walk(ctx, s, `SELECT `+tokenColumns+` FROM apitoken_tokens WHERE id > $1 ORDER BY id LIMIT $2`, after, limit, scanToken)
}

// WalkUsers implements migrate.Walker, like WalkTokens.
func (s *Store) WalkUsers(ctx context.Context, after string, limit int) ([]*apitoken.User, error) {
	return walk(ctx, s, `SELECT `+userColumns+` FROM apitoken_users WHERE id > $1 ORDER BY id LIMIT $2`, after, limit, scanUser)
}

// walk runs query, which selects up to $2 records with IDs after $1, and
// scans its rows with scan.
func walk[T any](ctx context.Context, s *Store, query, after string, limit int, scan pgx.RowToFunc[T]) ([]T, error) {
	if limit < 1 {
		return nil, fmt.Errorf("%w: a walk needs a limit", apitoken.ErrInvalidArgument)
	}
	rows, err := s.pool.Query(ctx, query, after, limit)
	if err != nil {
		return nil, s.fail(err)
	}
	rs, err := pgx.CollectRows(rows, scan)
	return rs, s.fail(err)
}

// ImportTokens implements migrate.Importer: one transaction that inserts
// the batch with one statement (skipping IDs and hashes already stored),
// then reads back the records it skipped and fails unless each is stored
// equal.
func (s *Store) ImportTokens(ctx context.Context, ts []*apitoken.Token) (int, error) {
	for _, t := range ts { // the whole batch or nothing
		if err := t.Validate(); err != nil {
			return 0, err
		}
	}

	if len(ts) == 0 {
		return 0, nil
	}
	types := []string{"text", "bytea", "text", "int2", "int2", "text", "text", "text", "text", "text",
		"text", "text", "int2", "int2", "text", "int8", "int8", "int8", "int8", "bool", "int8", "text", "int8",
		"text", "text", "text", "int8"}
	cols := make([][]any, len(types)) // one per column of tokenColumns
	for _, t := range ts {
		if t.Version < 1 {
			return 0, fmt.Errorf("%w: token %q has no version", apitoken.ErrInvalidArgument, t.ID)
		}
		args, err := tokenArgs(t, t.Version)
		if err != nil {
			return 0, err
		}
		for i, a := range args {
			cols[i] = append(cols[i], a)
		}
	}
	// The apps column travels as text and is cast to jsonb.
	for i, a := range cols[14] {
		cols[14][i] = string(a.([]byte))
	}
	// The scopes and allowed ranges (text arrays, which unnest would
	// flatten) travel as JSON arrays and are unpacked in SQL.
	for _, c := range tokenArrayColumns {
		for i, a := range cols[c] {
			b, err := json.Marshal(a.([]string))
			if err != nil {
				return 0, err
			}
			cols[c][i] = string(b)
		}
	}
	return s.importRows(ctx, "apitoken_tokens", tokenColumns, types, cols, len(ts),
		func(ctx context.Context, tx pgx.Tx, ids []string) error {
			rows, err := tx.Query(ctx, `SELECT `+tokenColumns+` FROM apitoken_tokens WHERE id = ANY($1)`, ids)
			if err != nil {
				return err
			}
			stored, err := pgx.CollectRows(rows, scanToken)
			if err != nil {
				return err
			}
			byID := map[string]*apitoken.Token{}
			for _, t := range stored {
				byID[t.ID] = t
			}
			for _, t := range ts {
				if !contains(ids, t.ID) {
					continue
				}
				old := byID[t.ID]
				if old == nil {
					return fmt.Errorf("%w: the hash of token %q is stored under another ID", apitoken.ErrDuplicate, t.ID)
				}
				if !old.Equal(t) {
					return fmt.Errorf("%w: token %q is stored with other content", apitoken.ErrDuplicate, t.ID)
				}
			}
			return nil
		})
}

// ImportUsers implements migrate.Importer, like ImportTokens.
func (s *Store) ImportUsers(ctx context.Context, us []*apitoken.User) (int, error) {
	for _, u := range us { // the whole batch or nothing
		if err := u.Validate(); err != nil {
			return 0, err
		}
	}

	if len(us) == 0 {
		return 0, nil
	}
	cols := make([][]any, 17)
	for _, u := range us {
		if u.Version < 1 {
			return 0, fmt.Errorf("%w: user %q has no version", apitoken.ErrInvalidArgument, u.ID)
		}
		args, err := userArgs(u)
		if err != nil {
			return 0, err
		}
		for i, a := range append(args, int64(u.Version)) {
			cols[i] = append(cols[i], a)
		}
	}
	types := []string{"text", "text", "text", "int2", "bool", "text", "bytea", "int8", "int8", "int8",
		"bytea", "int4", "int8", "int4", "int8", "int4", "int8"}
	return s.importRows(ctx, "apitoken_users", userColumns, types, cols, len(us),
		func(ctx context.Context, tx pgx.Tx, ids []string) error {
			rows, err := tx.Query(ctx, `SELECT `+userColumns+` FROM apitoken_users WHERE id = ANY($1)`, ids)
			if err != nil {
				return err
			}
			stored, err := pgx.CollectRows(rows, scanUser)
			if err != nil {
				return err
			}
			byID := map[string]*apitoken.User{}
			for _, u := range stored {
				byID[u.ID] = u
			}
			for _, u := range us {
				if !contains(ids, u.ID) {
					continue
				}
				old := byID[u.ID]
				if old == nil {
					return fmt.Errorf("%w: the name of user %q is taken", apitoken.ErrDuplicate, u.ID)
				}
				if !old.Equal(u) {
					return fmt.Errorf("%w: user %q is stored with other content", apitoken.ErrDuplicate, u.ID)
				}
			}
			return nil
		})
}

// tokenArrayColumns are the indexes in tokenColumns of the text array
// columns (scopes, allowed_cidrs).
var tokenArrayColumns = []int{23, 24}

// importRows inserts n rows given column by column (cols[i] holds column
// i's values, of SQL type types[i]) into table, skipping rows that
// conflict with a stored one, then calls skipped with the IDs of the rows
// not inserted, in the same transaction: its error rolls the batch back.
func (s *Store) importRows(ctx context.Context, table, columns string, types []string, cols [][]any, n int,
	skipped func(ctx context.Context, tx pgx.Tx, ids []string) error) (int, error) {
	args := make([]any, len(cols))
	unnest, sel := "", ""
	for i := range cols {
		args[i] = cols[i]
		if i > 0 {
			unnest += ", "
			sel += ", "
		}
		unnest += fmt.Sprintf("$%d::%s[]", i+1, types[i])
		sel += fmt.Sprintf("c%d", i+1)
		if table == "apitoken_tokens" && i == 14 {
			sel += "::jsonb"
		}
		if table == "apitoken_tokens" && slices.Contains(tokenArrayColumns, i) {
			sel = strings.TrimSuffix(sel, fmt.Sprintf("c%d", i+1)) +
				fmt.Sprintf("ARRAY(SELECT jsonb_array_elements_text(c%d::jsonb))", i+1)
		}
	}
	names := ""
	for i := range cols {
		if i > 0 {
			names += ", "
		}
		names += fmt.Sprintf("c%d", i+1)
	}
	sql := `INSERT INTO ` + table + ` (` + columns + `)
		SELECT ` + sel + ` FROM unnest(` + unnest + `) AS r(` + names + `)
		ON CONFLICT DO NOTHING RETURNING id`
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		added = len(inserted)
		if added == n {
			return nil
		}
		done := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			done[id] = true
		}
		var rest []string
		for _, v := range cols[0] {
			if id := v.(string); !done[id] {
				rest = append(rest, id)
			}
		}
		return skipped(ctx, tx, rest)
	})
	if err != nil {
		if errors.Is(err, apitoken.ErrDuplicate) || errors.Is(err, apitoken.ErrInvalidArgument) {
			return 0, err
		}
		return 0, s.fail(err)
	}
	return added, nil
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Check verifies the database: its schema is the one this code writes,
// and every token and user row decodes into a valid record (stored hash
// of 32 bytes, valid enums and apps, a user-owned token with a user, an
// account token without one). PostgreSQL keeps its own indexes and
// constraints; Check reads every row once, a page at a time. It returns
// the problems found, joined.
func (s *Store) Check(ctx context.Context) error {
	var errs []error
	var have int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM apitoken_schema`).Scan(&have); err != nil {
		return s.fail(err)
	}
	if have != SchemaVersion() {
		errs = append(errs, fmt.Errorf("%w: schema version %d, this code writes %d", ErrCorrupt, have, SchemaVersion()))
	}
	const page = 1000
	for after := ""; ; {
		ts, err := s.WalkTokens(ctx, after, page)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, t := range ts {
			if err := checkToken(t); err != nil {
				errs = append(errs, err)
			}
		}
		if len(ts) < page {
			break
		}
		after = ts[len(ts)-1].ID
	}
	for after := ""; ; {
		us, err := s.WalkUsers(ctx, after, page)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		for _, u := range us {
			if !u.Role.Valid() || u.Name == "" || u.Account == "" {
				errs = append(errs, fmt.Errorf("%w: user %q", ErrCorrupt, u.ID))
			}
		}
		if len(us) < page {
			break
		}
		after = us[len(us)-1].ID
	}
	return errors.Join(errs...)
}

// checkToken reports a token row that no code of this package writes.
func checkToken(t *apitoken.Token) error {
	ok := (t.Kind == apitoken.KindAPI || t.Kind == apitoken.KindSession) && t.Privilege.Valid() &&
		t.DefaultAppState.Valid() && t.Account != "" && !t.Created.IsZero() &&
		((t.Owner == apitoken.OwnerUser && t.UserID != "") || (t.Owner == apitoken.OwnerAccount && t.UserID == "" && t.Kind == apitoken.KindAPI))
	if !ok {
		return fmt.Errorf("%w: token %q", ErrCorrupt, t.ID)
	}
	return nil
}
