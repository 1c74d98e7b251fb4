// Package pgstore is an apitoken.Store on PostgreSQL, for hosts that run
// several instances against one database.
//
// Every method is one statement or one transaction. Compare-and-update
// (and so promote's single winner) is decided by the database, not by
// process memory. The store is also a changefeed.Feed: every change
// that can alter a verification's outcome is announced with NOTIFY in the
// same statement, so the verify caches of all Managers over the database
// drop the record when the change commits.
//
// The feed counts as up only while it is shown to work end to end: every
// Options.Heartbeat the store sends a heartbeat NOTIFY through its pool, on
// the channel its changes are announced on, and the feed is up only while
// the listening connection hears those heartbeats. When it has heard none
// for two Heartbeats (the connection is lost or silently stalled, the pool
// cannot write, or the listener reaches another database) the feed is
// reported down, the listening connection is replaced, and the Managers
// keep cached records only for their FallbackCacheTTL until a heartbeat is
// heard again.
//
// The schema is created and migrated on Open (embedded, versioned SQL files
// under migrations/), in the connection's search_path schema, under an
// advisory lock so that instances starting together do not race.
//
//	s, err := pgstore.Open(ctx, "postgres://app@db/app", nil)
//	m, err := apitoken.New(s, &apitoken.Options{HashKey: key})
package pgstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/changefeed"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

var (
	// ErrSchemaTooNew means the database was migrated by a newer version of
	// this package; the store is not opened, so nothing is damaged.
	ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this code")
	// ErrCorrupt means a stored row could not be decoded; the operation
	// fails closed.
	ErrCorrupt = errors.New("pgstore: corrupt record")
)

// Options configures Open. A nil *Options means defaults.
type Options struct {
	// Heartbeat is how often the store sends a heartbeat NOTIFY through its
	// pool for its own listening connection to hear. The change feed is up
	// only while that connection has heard one sent within the last two
	// Heartbeats; otherwise it is marked down (within two Heartbeats of the
	// last one heard) and the connection replaced. It should comfortably
	// exceed the time a NOTIFY takes from the pool to the listener, or the
	// feed will flap (each flap empties the Managers' caches). Default 1 s.
	Heartbeat time.Duration
	// ReconnectDelay is the longest wait between attempts to re-establish
	// the listening connection. Default 2 s.
	ReconnectDelay time.Duration
	// ListenConnString, when set, is where the listening connection goes
	// instead of connString: for pools behind a pooler in transaction mode
	// (PgBouncer), which cannot LISTEN. It must reach the same database:
	// one that reaches another never hears the store's heartbeats, so the
	// change feed stays down and Managers keep cached records only for
	// their FallbackCacheTTL.
	ListenConnString string
}

// Store is an apitoken.Store and changefeed.Feed on PostgreSQL. It is
// safe for concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	listenCfg *pgx.ConnConfig // for the dedicated listening connection
	channel   string          // NOTIFY channel, derived from the database and schema
	opts      Options

	feedMu sync.Mutex // serialises subscriber calls and guards the fields below
	feedUp bool
	subs   map[int]func(changefeed.Change)
	nextID int

	nonce           string         // random, per store: tells its own heartbeats from other instances'
	beatSeq         atomic.Uint64  // the last heartbeat sequence number sent
	heartbeatsHeard atomic.Uint64  // own heartbeats heard, for tests
	listening       atomic.Int64   // when the latest listening connection was established (Unix ns), for tests
	beats           sync.WaitGroup // heartbeats being sent
	firstUp         chan struct{}  // closed when the feed is first up
	firstUpOnce     sync.Once

	closed    atomic.Bool
	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var (
	_ apitoken.Store  = (*Store)(nil)
	_ changefeed.Feed = (*Store)(nil)
)

// Open connects to the database named by connString (a PostgreSQL URL or
// key=value string, as pgx accepts), applies pending migrations and starts
// listening for changes. It fails if the database cannot be reached, if the
// schema is newer than this code (ErrSchemaTooNew), or if the first
// listening connection cannot be established. It waits up to one Heartbeat
// for the listening connection to hear the store's first heartbeat; if it
// has not by then, Open still succeeds but the change feed starts down
// (FeedUp is false) until one is heard.
func Open(ctx context.Context, connString string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = time.Second
	}
	if o.ReconnectDelay <= 0 {
		o.ReconnectDelay = 2 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// pgx's parse errors can quote the connection string, password
		// included: say only that it did not parse.
		return nil, errors.New("pgstore: the connection string does not parse")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	var nonce [8]byte
	rand.Read(nonce[:])
	s := &Store{pool: pool, listenCfg: cfg.ConnConfig, opts: o, subs: map[int]func(changefeed.Change){},
		done: make(chan struct{}), firstUp: make(chan struct{}), nonce: hex.EncodeToString(nonce[:])}
	if o.ListenConnString != "" {
		if s.listenCfg, err = pgx.ParseConfig(o.ListenConnString); err != nil {
			pool.Close()
			return nil, errors.New("pgstore: ListenConnString does not parse")
		}
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	var db, schema string
	if err := pool.QueryRow(ctx, `SELECT current_database(), current_schema()`).Scan(&db, &schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	sum := sha256.Sum256([]byte(db + "\x00" + schema))
	s.channel = "apitoken_" + hex.EncodeToString(sum[:8])

	conn, err := s.listenConn(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: listening for changes: %w", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.listen(lctx, conn)
	wait := time.NewTimer(o.Heartbeat)
	defer wait.Stop()
	select {
	case <-s.firstUp:
	case <-wait.C: // not heard yet: open with the feed down
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("pgstore: %w", ctx.Err())
	}
	return s, nil
}

// Close stops listening and closes the connection pool. Calling it twice is
// safe.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.stop()
		<-s.done
		s.pool.Close()
	})
	return nil
}

// migrate applies the embedded migrations the database has not seen, in
// one transaction under an advisory lock.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('apitoken.migrate.' || current_schema(), 0))`); err != nil {
			return fmt.Errorf("pgstore: migrating: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS apitoken_schema (version integer PRIMARY KEY, applied bigint NOT NULL)`); err != nil {
			return fmt.Errorf("pgstore: migrating: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM apitoken_schema`).Scan(&have); err != nil {
			return fmt.Errorf("pgstore: migrating: %w", err)
		}
		if have > len(names) {
			return fmt.Errorf("%w: database at version %d, this code knows %d", ErrSchemaTooNew, have, len(names))
		}
		for i := have; i < len(names); i++ {
			sql, err := migrationFS.ReadFile(names[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", names[i], err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO apitoken_schema (version, applied) VALUES ($1, $2)`, i+1, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("pgstore: migrating: %w", err)
			}
		}
		return nil
	})
}

// SchemaVersion is the number of migrations this package carries: the
// version a database has after Open.
func SchemaVersion() int {
	names, _ := fs.Glob(migrationFS, "migrations/*.sql")
	return len(names)
}

// fail maps err for callers: ErrClosed once the store is closed, else
// mapErr.
func (s *Store) fail(err error) error {
	if err != nil && s.closed.Load() {
		return fmt.Errorf("%w: %v", apitoken.ErrClosed, err)
	}
	return mapErr(err)
}

// mapErr turns database errors into the apitoken sentinels the Store
// contract names.
func mapErr(err error) error {
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return apitoken.ErrNotFound
	case errors.As(err, &pg) && pg.Code == "23505": // unique_violation
		return apitoken.ErrDuplicate
	case errors.As(err, &pg) && pg.Code == "23514": // check_violation
		return fmt.Errorf("%w: %s", apitoken.ErrInvalidArgument, pg.ConstraintName)
	}
	return fmt.Errorf("pgstore: %w", err)
}

// tokenColumns lists the token columns in the order scanToken reads them.
const tokenColumns = `id, hash, hint, kind, owner, account, user_id, created_by, parent, lineage,
	description, type, privilege, default_app_state, apps, created, last_used, expires, revoked,
	unlocked, version, origin, expiry_warned, scopes, allowed_cidrs, last_used_ip, hash_key`

// CreateToken implements apitoken.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	args, err := tokenArgs(t, 1)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO apitoken_tokens (`+tokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)`, args...)
	if err != nil {
		return s.fail(err)
	}
	t.Version = 1
	return nil
}

// TokenByHash implements apitoken.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, h apitoken.Hash) (*apitoken.Token, error) {
	return s.queryToken(ctx, `SELECT `+tokenColumns+` FROM apitoken_tokens WHERE hash = $1`, h[:])
}

// TokenByID implements apitoken.TokenStore.
func (s *Store) TokenByID(ctx context.Context, id string) (*apitoken.Token, error) {
	return s.queryToken(ctx, `SELECT `+tokenColumns+` FROM apitoken_tokens WHERE id = $1`, id)
}

func (s *Store) queryToken(ctx context.Context, sql string, arg any) (*apitoken.Token, error) {
	rows, err := s.pool.Query(ctx, sql, arg)
	if err != nil {
		return nil, s.fail(err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanToken)
	return t, s.fail(err)
}

// ListTokens implements apitoken.TokenStore.
func (s *Store) ListTokens(ctx context.Context, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	sql, args, err := listTokensSQL(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.fail(err)
	}
	ts, err := pgx.CollectRows(rows, scanToken)
	return ts, s.fail(err)
}

// listTokensSQL is ListTokens' statement for q and its arguments. With a
// kind set, as the Manager always sets one, the indexes of migration 3
// serve either order: newest first is a backward scan of the same index.
func listTokensSQL(q apitoken.TokenQuery) (string, []any, error) {
	allAccounts := q.Account == "" && q.Unwarned && !q.ExpiresBefore.IsZero()
	if q.Account == "" && !allAccounts {
		return "", nil, fmt.Errorf("%w: ListTokens needs an account", apitoken.ErrInvalidArgument)
	}
	where, args := `account = $1`, []any{q.Account}
	if allAccounts {
		where, args = `TRUE`, nil
	}
	add := func(cond string, v any) {
		args = append(args, v)
		where += fmt.Sprintf(" AND "+cond, len(args))
	}
	if !q.ExpiresBefore.IsZero() {
		// Live records expiring in the range; the Unwarned form matches
		// the partial index of migration 5.
		for _, tm := range []time.Time{q.ExpiresBefore, q.ExpiresAfter} {
			if err := checkTime(tm); err != nil {
				return "", nil, err
			}
		}
		where += " AND revoked IS NULL"
		add("expires < $%d", q.ExpiresBefore.UnixNano())
		add("expires > $%d", q.ExpiresAfter.UnixNano())
		if q.Unwarned {
			where += " AND expiry_warned IS NULL"
		}
	}
	if q.UserID != "" {
		add("user_id = $%d", q.UserID)
	}
	switch {
	case q.Kind != 0 && q.Unwarned:
		where += fmt.Sprintf(" AND kind = %d", int16(q.Kind)) // a constant, for the partial index
	case q.Kind != 0:
		add("kind = $%d", int16(q.Kind))
	}
	after, order := ">", ` ORDER BY created, id`
	if q.Newest {
		after, order = "<", ` ORDER BY created DESC, id DESC`
	}
	if q.After.ID != "" {
		if err := checkTime(q.After.Created); err != nil {
			return "", nil, err
		}
		args = append(args, q.After.Created.UnixNano(), q.After.ID)
		where += fmt.Sprintf(" AND (created, id) %s ($%d, $%d)", after, len(args)-1, len(args))
	}
	sql := `SELECT ` + tokenColumns + ` FROM apitoken_tokens WHERE ` + where + order
	if q.Limit > 0 {
		sql += fmt.Sprintf(" LIMIT %d", q.Limit)
	}
	return sql, args, nil
}

// PurgeTokens implements apitoken.TokenStore: one statement that deletes a
// batch found through the end and activity indexes (migration 3), oldest
// first, and announces each deletion like DeleteToken.
func (s *Store) PurgeTokens(ctx context.Context, q apitoken.PurgeQuery) (int, error) {
	if q.Limit < 1 {
		return 0, fmt.Errorf("%w: a purge needs a limit", apitoken.ErrInvalidArgument)
	}
	for _, tm := range []time.Time{q.EndedBefore, q.IdleBefore} {
		if err := checkTime(tm); err != nil {
			return 0, err
		}
	}
	idle := any(nil)
	if !q.IdleBefore.IsZero() && q.Kind == apitoken.KindSession {
		idle = q.IdleBefore.UnixNano()
	}
	var n int
	err := s.pool.QueryRow(ctx, `WITH ended AS (
			(SELECT id FROM apitoken_tokens WHERE kind = $1 AND least(revoked, expires) < $2
				ORDER BY least(revoked, expires) LIMIT $4)
			UNION
			(SELECT id FROM apitoken_tokens WHERE kind = 1 AND $3::bigint IS NOT NULL
				AND greatest(created, last_used) < $3::bigint
				ORDER BY greatest(created, last_used) LIMIT $4)
			LIMIT $4),
		d AS (DELETE FROM apitoken_tokens WHERE id IN (SELECT id FROM ended) RETURNING hash)
		SELECT count(pg_notify($5, 't' || encode(hash, 'hex'))) FROM d`,
		int16(q.Kind), q.EndedBefore.UnixNano(), idle, q.Limit, s.channel).Scan(&n)
	return n, s.fail(err)
}

// UpdateToken implements apitoken.TokenStore: one statement that updates
// the row only at the expected version and announces the change.
func (s *Store) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	args, err := tokenArgs(t, t.Version)
	if err != nil {
		return err
	}
	args = append(args, s.channel)
	var version int64
	err = s.pool.QueryRow(ctx, `WITH u AS (
		UPDATE apitoken_tokens SET hint = $3, owner = $5, user_id = $7, created_by = $8, parent = $9,
			lineage = $10, description = $11, type = $12, privilege = $13, default_app_state = $14,
			apps = $15, created = $16, last_used = $17, expires = $18, revoked = $19, unlocked = $20,
			origin = $22, expiry_warned = $23, scopes = $24, allowed_cidrs = $25, last_used_ip = $26, version = version + 1
		WHERE id = $1 AND version = $21 AND hash = $2 AND kind = $4 AND account = $6 AND hash_key = $27
		RETURNING version, hash)
		SELECT version, pg_notify($28, 't' || encode(hash, 'hex')) IS NULL FROM u`, args...).Scan(&version, new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		return s.whyNotUpdated(ctx, t)
	}
	if err != nil {
		return s.fail(err)
	}
	t.Version = uint64(version)
	return nil
}

// whyNotUpdated tells a missing record from a stale version and from a
// changed immutable field, after an update matched no row. A stale version
// comes first: a record read before a RehashToken has the old hash, and
// its writer must re-read, not be told it changed the hash.
func (s *Store) whyNotUpdated(ctx context.Context, t *apitoken.Token) error {
	var hash []byte
	var kind int16
	var account string
	var hashKey, version int64
	err := s.pool.QueryRow(ctx, `SELECT hash, kind, account, hash_key, version FROM apitoken_tokens WHERE id = $1`, t.ID).Scan(&hash, &kind, &account, &hashKey, &version)
	if err != nil {
		return s.fail(err)
	}
	if version != int64(t.Version) {
		return apitoken.ErrConflict
	}
	if string(hash) != string(t.Hash[:]) || kind != int16(t.Kind) || account != t.Account || hashKey != int64(t.HashKeyID) {
		return errImmutable
	}
	return apitoken.ErrConflict
}

// RehashToken implements apitoken.TokenStore: one statement that moves
// the row to its new hash at the expected version and announces the old
// hash, under which other instances may have cached it.
func (s *Store) RehashToken(ctx context.Context, t *apitoken.Token, h apitoken.Hash, keyID uint32) error {
	var version int64
	err := s.pool.QueryRow(ctx, `WITH u AS (
		UPDATE apitoken_tokens t SET hash = $3, hash_key = $4, version = t.version + 1
		FROM apitoken_tokens o WHERE t.id = $1 AND t.version = $2 AND o.id = t.id
		RETURNING t.version, o.hash AS old)
		SELECT version, pg_notify($5, 't' || encode(old, 'hex')) IS NULL FROM u`,
		t.ID, int64(t.Version), h[:], int64(keyID), s.channel).Scan(&version, new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		var n int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM apitoken_tokens WHERE id = $1`, t.ID).Scan(&n); err != nil {
			return s.fail(err)
		}
		if n == 0 {
			return apitoken.ErrNotFound
		}
		return apitoken.ErrConflict
	}
	if err != nil {
		return s.fail(err)
	}
	t.Hash, t.HashKeyID, t.Version = h, keyID, uint64(version)
	return nil
}

// DeleteToken implements apitoken.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM apitoken_tokens WHERE id = $1 RETURNING hash)
		SELECT pg_notify($2, 't' || encode(hash, 'hex')) FROM d`, id, s.channel)
	return s.fail(err)
}

// TouchTokens implements apitoken.TokenStore: one transaction that locks
// the touched rows in ID order (so concurrent batches cannot deadlock),
// applies apitoken.Touch.Apply and writes last_used and apps back without
// changing the version. Usage never changes a verification's outcome, so
// it is not announced.
func (s *Store) TouchTokens(ctx context.Context, touches []apitoken.Touch) error {
	if len(touches) == 0 {
		return nil
	}
	ids := make([]string, len(touches))
	for i, tc := range touches {
		ids[i] = tc.ID
	}
	return s.fail(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+tokenColumns+` FROM apitoken_tokens
			WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		ts, err := pgx.CollectRows(rows, scanToken)
		if err != nil {
			return err
		}
		byID := make(map[string]*apitoken.Token, len(ts))
		for _, t := range ts {
			byID[t.ID] = t
		}
		for _, tc := range touches {
			if t := byID[tc.ID]; t != nil {
				tc.Apply(t)
			}
		}
		batch := &pgx.Batch{}
		for _, t := range ts {
			apps, err := encodeApps(t.Apps)
			if err != nil {
				return err
			}
			batch.Queue(`UPDATE apitoken_tokens SET last_used = $2, apps = $3, last_used_ip = $4 WHERE id = $1`,
				t.ID, nanos(t.LastUsed), apps, addrText(t.LastUsedIP))
		}
		return tx.SendBatch(ctx, batch).Close()
	}))
}

// userColumns lists the user columns in the order scanUser reads them.
const userColumns = `id, account, name, role, disabled, password_hash, mfa_secret, mfa_last_step,
	sessions_valid_after, created, mfa_pending, mfa_failures, mfa_window_start, mfa_window_failures,
	login_window_start, login_window_failures, version`

// CreateUser implements apitoken.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	args, err := userArgs(u)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO apitoken_users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 1)`, args...)
	if err != nil {
		return s.fail(err)
	}
	u.Version = 1
	return nil
}

// UserByID implements apitoken.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*apitoken.User, error) {
	return s.queryUser(ctx, `SELECT `+userColumns+` FROM apitoken_users WHERE id = $1`, id)
}

// UserByName implements apitoken.UserStore.
func (s *Store) UserByName(ctx context.Context, name string) (*apitoken.User, error) {
	return s.queryUser(ctx, `SELECT `+userColumns+` FROM apitoken_users WHERE name = $1`, name)
}

func (s *Store) queryUser(ctx context.Context, sql string, arg any) (*apitoken.User, error) {
	rows, err := s.pool.Query(ctx, sql, arg)
	if err != nil {
		return nil, s.fail(err)
	}
	u, err := pgx.CollectExactlyOneRow(rows, scanUser)
	return u, s.fail(err)
}

// ListUsers implements apitoken.UserStore.
func (s *Store) ListUsers(ctx context.Context, q apitoken.UserQuery) ([]*apitoken.User, error) {
	if err := checkTime(q.After.Created); err != nil {
		return nil, err
	}
	after := any(nil)
	if q.After.ID != "" {
		after = q.After.Created.UnixNano()
	}
	limit := any(nil)
	if q.Limit > 0 {
		limit = q.Limit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM apitoken_users
		WHERE account = $1 AND ($2::bigint IS NULL OR (created, id) > ($2::bigint, $3))
		ORDER BY created, id LIMIT $4`, q.Account, after, q.After.ID, limit)
	if err != nil {
		return nil, s.fail(err)
	}
	us, err := pgx.CollectRows(rows, scanUser)
	return us, s.fail(err)
}

// UpdateUser implements apitoken.UserStore: one statement, announced.
func (s *Store) UpdateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	args, err := userArgs(u)
	if err != nil {
		return err
	}
	args = append(args, int64(u.Version), s.channel)
	var version int64
	err = s.pool.QueryRow(ctx, `WITH u AS (
		UPDATE apitoken_users SET name = $3, role = $4, disabled = $5, password_hash = $6,
			mfa_secret = $7, mfa_last_step = $8, sessions_valid_after = $9, created = $10,
			mfa_pending = $11, mfa_failures = $12, mfa_window_start = $13, mfa_window_failures = $14,
			login_window_start = $15, login_window_failures = $16,
			version = version + 1
		WHERE id = $1 AND account = $2 AND version = $17
		RETURNING id, version)
		SELECT version, pg_notify($18, 'u' || id) IS NULL FROM u`, args...).Scan(&version, new(bool))
	if errors.Is(err, pgx.ErrNoRows) {
		var account string
		if err := s.pool.QueryRow(ctx, `SELECT account FROM apitoken_users WHERE id = $1`, u.ID).Scan(&account); err != nil {
			return s.fail(err)
		}
		if account != u.Account {
			return errImmutable
		}
		return apitoken.ErrConflict
	}
	if err != nil {
		return s.fail(err)
	}
	u.Version = uint64(version)
	return nil
}

// DeleteUser implements apitoken.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `WITH d AS (DELETE FROM apitoken_users WHERE id = $1 RETURNING id)
		SELECT pg_notify($2, 'u' || id) FROM d`, id, s.channel)
	return s.fail(err)
}

// Payload prefixes of notifications.
const (
	notifyToken     = 't' // followed by the token hash in hex
	notifyUser      = 'u' // followed by the user ID
	notifyHeartbeat = 'h' // followed by the sending store's nonce, '.', and a sequence number
)

// heartbeatPayload is the payload of heartbeat seq of the store with nonce.
func heartbeatPayload(nonce string, seq uint64) string {
	return string(notifyHeartbeat) + nonce + "." + strconv.FormatUint(seq, 10)
}

// parseHeartbeat reads a heartbeat payload, as heartbeatPayload writes it
// (and nothing else: ok is false for anything that does not read back the
// same). A heartbeat announces no change.
func parseHeartbeat(payload string) (nonce string, seq uint64, ok bool) {
	const nonceLen = 16 // hex of 8 bytes
	if len(payload) < 1+nonceLen+2 || payload[0] != notifyHeartbeat || payload[1+nonceLen] != '.' {
		return "", 0, false
	}
	nonce = payload[1 : 1+nonceLen]
	if _, err := hex.DecodeString(nonce); err != nil {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(payload[2+nonceLen:], 10, 64)
	if err != nil || heartbeatPayload(nonce, seq) != payload {
		return "", 0, false
	}
	return nonce, seq, true
}

// parseChange reads a change notification's payload; ok is false for
// anything this package did not write as a change (heartbeats included).
func parseChange(payload string) (c changefeed.Change, ok bool) {
	if payload == "" {
		return c, false
	}
	switch payload[0] {
	case notifyToken:
		b, err := hex.DecodeString(payload[1:])
		if err != nil || len(b) != len(c.Hash) {
			return c, false
		}
		c.Kind = changefeed.Token
		copy(c.Hash[:], b)
		return c, true
	case notifyUser:
		if len(payload) == 1 {
			return c, false
		}
		return changefeed.Change{Kind: changefeed.User, UserID: payload[1:]}, true
	}
	return c, false
}

// quoteIdent quotes a channel name for LISTEN.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// errImmutable is the answer to an update that changes a field kept fixed
// for a record's life (ID, hash, kind, account).
var errImmutable = fmt.Errorf("%w: a record's ID, hash, kind and account never change", apitoken.ErrInvalidArgument)
