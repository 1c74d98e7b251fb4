// Package bolt is the default apitoken.Store: one bbolt file, no server.
//
// Import it under an alias so it does not collide with the name many
// programs already use for bbolt itself:
//
//	import tokenbolt "github.com/apitoken/apitoken/bolt"
//
//	store, err := tokenbolt.Open("apitoken.db", nil)
//
// Every method is one bbolt transaction, so no partial record can exist;
// every acknowledged write is fsynced (unless Options.NoSync); a second
// process opening the same file gets ErrLocked after Options.Timeout; the
// file records a schema version and a newer one is refused. Records hold
// token hashes, never secrets.
package bolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/apitoken/apitoken"
)

// SchemaVersion is the layout this package writes. It reads every
// earlier one too:
//
//   - 1: the ID index maps a token ID to its full 32-byte hash.
//   - 2: new ID index entries hold the hash's first 8 bytes, and a lookup
//     by ID seeks the records bucket by that prefix (about 24 bytes less
//     per token; IDs also arrive in creation order, so the index is
//     packed). Version-1 entries stay valid; a version-1 file opened for
//     writing is marked version 2, so older code then refuses it rather
//     than misread the short entries.
//   - 3: sessions are indexed apart from API tokens (so listing one kind
//     never reads the other), and two indexes serve purges: every token
//     by kind and end (revocation or expiry), and sessions by latest
//     activity. A version-2 file opened for writing is migrated in one
//     transaction; opened read-only it is read as it is, and listings of
//     sessions find none.
const SchemaVersion = 3

var (
	// ErrLocked means another process holds the file open.
	ErrLocked = errors.New("bolt: database file is locked by another process")
	// ErrSchemaTooNew means the file was written by a newer version of
	// this package; it is not opened, so nothing is damaged.
	ErrSchemaTooNew = errors.New("bolt: database schema is newer than this code")
)

var (
	bucketMeta        = []byte("meta")
	bucketTokens      = []byte("tokens")    // hash -> token record: verification is one lookup
	bucketTokenIDs    = []byte("token_ids") // ID -> hash prefix (idRefLen bytes) or, from schema 1, the hash
	bucketByAccount   = []byte("tokens_by_account")
	bucketByUser      = []byte("tokens_by_user")
	bucketUsers       = []byte("users")      // ID -> user record
	bucketUserNames   = []byte("user_names") // name -> ID
	bucketUsersByAcct = []byte("users_by_account")
	// From schema 3: tokens_by_account and tokens_by_user index API
	// tokens only.
	bucketSessByAcct = []byte("sessions_by_account")
	bucketSessByUser = []byte("sessions_by_user")
	bucketEnds       = []byte("token_ends")       // kind, end, ID -> nil
	bucketActivity   = []byte("session_activity") // latest activity, ID -> nil
	keySchema        = []byte("schema_version")
	v2Buckets        = [][]byte{bucketMeta, bucketTokens, bucketTokenIDs, bucketByAccount, bucketByUser, bucketUsers, bucketUserNames, bucketUsersByAcct}
	v3Buckets        = [][]byte{bucketSessByAcct, bucketSessByUser, bucketEnds, bucketActivity}
	allBuckets       = append(append([][]byte(nil), v2Buckets...), v3Buckets...)
)

// Options configures Open. A nil *Options means defaults.
type Options struct {
	// Timeout is how long Open waits for another process's lock before
	// failing with ErrLocked. Default 500 ms.
	Timeout time.Duration
	// NoSync skips fsync on commit: faster, but a crash can lose
	// acknowledged writes. For tests only. Default false.
	NoSync bool
	// MaxSize caps the file in bytes; writes that would grow past it fail.
	// Default 0 (no cap).
	MaxSize int
	// ReadOnly opens the file for reading only; every write fails.
	ReadOnly bool
	// MaxBatchDelay is how long concurrent CreateToken calls wait to share
	// one commit (and one fsync); a call with no other in flight commits
	// at once. Default 2 ms.
	MaxBatchDelay time.Duration
	// FileMode is the mode of a newly created file. Default 0600.
	FileMode fs.FileMode
}

// Store is an apitoken.Store in one bbolt file. It is safe for concurrent
// use by one process.
type Store struct {
	db     *bbolt.DB
	path   string
	closed atomic.Bool
	// batching counts batch calls in flight.
	batching atomic.Int32
	// failCommit, when set by tests, fails write transactions just before
	// commit, to prove that nothing partial is left behind.
	failCommit func() error
}

var _ apitoken.Store = (*Store)(nil)

// Open opens or creates the store at path.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = 500 * time.Millisecond
	}
	if o.MaxBatchDelay == 0 {
		o.MaxBatchDelay = 2 * time.Millisecond
	}
	if o.FileMode == 0 {
		o.FileMode = 0o600
	}
	db, err := bbolt.Open(path, o.FileMode, &bbolt.Options{
		Timeout: o.Timeout, NoSync: o.NoSync, MaxSize: o.MaxSize, ReadOnly: o.ReadOnly,
		FreelistType: bbolt.FreelistMapType, InitialMmapSize: initialMapping(path, o.ReadOnly),
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, o.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	db.MaxBatchDelay = o.MaxBatchDelay
	s := &Store{db: db, path: path}
	if err := s.initSchema(o.ReadOnly); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// initialMapping is the size bbolt maps the file with at first. A commit
// that grows the file past its mapping remaps it, and a remap waits for
// every open read transaction and holds off new ones: verifications that
// read the file stall behind it. A mapping of twice the file, at least
// 1 GiB, makes that rare; on a 64-bit system it reserves address space,
// not memory. Windows grows the file itself to the mapping, and a 32-bit
// system has little address space, so both keep bbolt's default there.
func initialMapping(path string, readOnly bool) int {
	if readOnly || runtime.GOOS == "windows" || strconv.IntSize < 64 {
		return 0
	}
	size := int64(1 << 30)
	if fi, err := os.Stat(path); err == nil && 2*fi.Size() > size {
		size = 2 * fi.Size()
	}
	return int(size)
}

func (s *Store) initSchema(readOnly bool) error {
	check := func(tx *bbolt.Tx) (bool, error) {
		meta := bucket(tx, bucketMeta)
		if meta == nil {
			return false, nil
		}
		v, n := binary.Uvarint(meta.Get(keySchema))
		if n <= 0 {
			return false, fmt.Errorf("%w: %s has no readable schema version", ErrCorrupt, s.path)
		}
		if v > SchemaVersion {
			return false, fmt.Errorf("%w: %s has schema %d, this code knows %d", ErrSchemaTooNew, s.path, v, SchemaVersion)
		}
		need := v2Buckets
		if v >= 3 {
			need = allBuckets
		}
		for _, b := range need {
			if tx.Bucket(b) == nil {
				return false, fmt.Errorf("%w: %s lacks bucket %s", ErrCorrupt, s.path, b)
			}
		}
		return v == SchemaVersion || readOnly, nil
	}
	var ready bool
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		ready, err = check(tx)
		return err
	})
	if err != nil || ready {
		return err
	}
	if readOnly {
		return fmt.Errorf("bolt: %s is not initialised and was opened read-only", s.path)
	}
	// A new file, or an older schema to bring to this one: the ID index of
	// schema 1 is read as it is; schema 3's indexes are built from the
	// records.
	return s.db.Update(func(tx *bbolt.Tx) error {
		if ok, err := check(tx); err != nil || ok {
			return err
		}
		var old uint64
		if meta := tx.Bucket(bucketMeta); meta != nil {
			old, _ = binary.Uvarint(meta.Get(keySchema))
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if old != 0 && old < 3 {
			if err := reindexForSchema3(tx); err != nil {
				return fmt.Errorf("bolt: migrating %s to schema 3: %w", s.path, err)
			}
		}
		return bucket(tx, bucketMeta).Put(keySchema, binary.AppendUvarint(nil, SchemaVersion))
	})
}

// reindexForSchema3 moves sessions out of the API token indexes and
// builds the purge indexes, record by record.
func reindexForSchema3(tx *bbolt.Tx) error {
	c := bucket(tx, bucketTokens).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		t, err := decodeToken(apitoken.Hash(k), v)
		if err != nil {
			return errors.Join(ErrCorrupt, err)
		}
		if t.Kind == apitoken.KindSession { // schema 2 listed them with API tokens
			if err := bucket(tx, bucketByAccount).Delete(accountKey(t.Account, t.Created, t.ID)); err != nil {
				return err
			}
			if err := bucket(tx, bucketByUser).Delete(userKey(t.Account, t.UserID, t.Created, t.ID)); err != nil {
				return err
			}
		}
		for _, e := range indexEntries(t) {
			if e.key == nil || (t.Kind == apitoken.KindAPI && (bytes.Equal(e.bucket, bucketByAccount) || bytes.Equal(e.bucket, bucketByUser))) {
				continue
			}
			if err := bucket(tx, e.bucket).Put(e.key, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.path }

// Close closes the file. Calling it twice is safe.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}

func (s *Store) ready(ctx context.Context) error {
	if s.closed.Load() {
		return apitoken.ErrClosed
	}
	return ctx.Err()
}

func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return mapErr(s.db.View(fn))
}

func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	return mapErr(s.db.Update(s.withCommitHook(fn)))
}

// batch is update through bbolt's Batch when other batch calls are in
// flight, so that concurrent callers share one commit. A call with none
// in flight commits at once, rather than wait MaxBatchDelay for company
// that is not coming. fn may run more than once, so it must not have
// side effects outside tx.
func (s *Store) batch(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
	}
	defer s.batching.Add(-1)
	if s.batching.Add(1) == 1 {
		return mapErr(s.db.Update(s.withCommitHook(fn)))
	}
	return mapErr(s.db.Batch(s.withCommitHook(fn)))
}

func (s *Store) withCommitHook(fn func(tx *bbolt.Tx) error) func(tx *bbolt.Tx) error {
	if s.failCommit == nil {
		return fn
	}
	return func(tx *bbolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.failCommit()
	}
}

// appendFill packs the pages of the time-ordered index buckets, whose keys
// arrive (almost) in order (record IDs begin with their creation time),
// instead of bbolt's default 0.5, which leaves every split page half
// empty. Buckets with random keys (names) keep the default: measured
// there, a high fill splits overfull pages into a full one and a
// near-empty one and made the file larger.
const appendFill = 0.95

// recordFill is appendFill for the token records, whose keys (hashes) also
// begin with the issue time (see apitoken.Hash). It leaves a tenth of each
// page for records to grow in place after they are written: a first use
// sets LastUsed (10 bytes), a revocation sets Revoked, a new application
// adds its name and times. A page that still overflows splits there into
// a full page and a nearly empty one. Hashes of tokens from before issue
// times are random; inserting those into packed pages would make the file
// larger, but they are only ever updated now, never inserted.
const recordFill = 0.9

var fills = map[string]float64{string(bucketTokens): recordFill, string(bucketTokenIDs): appendFill,
	string(bucketByAccount): appendFill, string(bucketByUser): appendFill, string(bucketUsersByAcct): appendFill}

// bucket returns the named bucket, with the fill percentage above set in
// write transactions.
func bucket(tx *bbolt.Tx, name []byte) *bbolt.Bucket {
	b := tx.Bucket(name)
	if b == nil || !tx.Writable() {
		return b
	}
	if f, ok := fills[string(name)]; ok {
		b.FillPercent = f
	}
	return b
}

func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return apitoken.ErrClosed
	}
	return err
}

// CreateToken implements apitoken.TokenStore. Concurrent calls share
// commits (bbolt's Batch), so many issuers do not pay one fsync each.
func (s *Store) CreateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	c := t.Clone()
	c.Version = 1
	err := s.batch(ctx, func(tx *bbolt.Tx) error {
		if bucket(tx, bucketTokenIDs).Get([]byte(c.ID)) != nil || bucket(tx, bucketTokens).Get(c.Hash[:]) != nil {
			return apitoken.ErrDuplicate
		}
		return putToken(tx, nil, c)
	})
	if err == nil {
		t.Version = 1
	}
	return err
}

// putToken writes t and its index entries, removing old's where they
// differ.
func putToken(tx *bbolt.Tx, old, t *apitoken.Token) error {
	if err := bucket(tx, bucketTokens).Put(t.Hash[:], encodeToken(t)); err != nil {
		return err
	}
	if old == nil {
		if err := bucket(tx, bucketTokenIDs).Put([]byte(t.ID), t.Hash[:idRefLen]); err != nil {
			return err
		}
	}
	return moveIndex(tx, old, t)
}

// indexEntry is one index key of a token; key is nil where the token has
// no entry in that bucket.
type indexEntry struct {
	bucket, key []byte
}

// indexEntries returns a token's entries in every index, in a fixed
// order: by account and by user (in the API token or the session
// buckets), by end, and, for sessions, by latest activity.
func indexEntries(t *apitoken.Token) [5]indexEntry {
	acct, user, byAcct, byUser := accountKey(t.Account, t.Created, t.ID), []byte(nil), bucketByAccount, bucketByUser
	if t.UserID != "" {
		user = userKey(t.Account, t.UserID, t.Created, t.ID)
	}
	var activity []byte
	if t.Kind == apitoken.KindSession {
		byAcct, byUser = bucketSessByAcct, bucketSessByUser
		activity = appendTimeID(nil, t.Activity(), t.ID)
	}
	return [5]indexEntry{
		{byAcct, acct}, {byUser, user},
		{bucketEnds, appendTimeID([]byte{byte(t.Kind)}, t.End(), t.ID)},
		{bucketActivity, activity},
	}
}

// moveIndex moves a token's index entries from those of old to those of t
// (nil old: a new token; nil t: a deleted one), touching only entries that
// differ.
func moveIndex(tx *bbolt.Tx, old, t *apitoken.Token) error {
	var from, to [5]indexEntry
	if old != nil {
		from = indexEntries(old)
	}
	if t != nil {
		to = indexEntries(t)
	}
	for i := range from {
		if bytes.Equal(from[i].bucket, to[i].bucket) && bytes.Equal(from[i].key, to[i].key) {
			continue
		}
		if from[i].key != nil {
			if err := bucket(tx, from[i].bucket).Delete(from[i].key); err != nil {
				return err
			}
		}
		if to[i].key != nil {
			if err := bucket(tx, to[i].bucket).Put(to[i].key, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// idRefLen is how many bytes of a token's hash its ID index entry holds
// (schema 2). Tokens whose hashes share them are told apart by the ID in
// their records, at the cost of decoding one more record in TokenByID.
// Six of the 8 bytes are the issue time (see apitoken.Hash), so only
// tokens issued in the same millisecond can share them, a pair with odds
// of 1 in 65,536; older tokens' hashes are random, with odds of 2^-64.
const idRefLen = 8

// getToken returns the record with ID id.
func getToken(tx *bbolt.Tx, id []byte) (*apitoken.Token, error) {
	ref := bucket(tx, bucketTokenIDs).Get(id)
	if ref == nil {
		return nil, apitoken.ErrNotFound
	}
	var t *apitoken.Token
	var err error
	switch len(ref) {
	case len(apitoken.Hash{}): // schema 1
		t, err = getTokenByHash(tx, apitoken.Hash(ref))
	case idRefLen:
		t, err = tokenByHashPrefix(tx, ref, id)
	default:
		return nil, fmt.Errorf("%w: ID index entry %q is not a hash reference", ErrCorrupt, id)
	}
	if errors.Is(err, apitoken.ErrNotFound) {
		return nil, fmt.Errorf("%w: ID index points at a missing token %q", ErrCorrupt, id)
	}
	if err == nil && t.ID != string(id) {
		return nil, fmt.Errorf("%w: ID index and token %q disagree", ErrCorrupt, id)
	}
	return t, err
}

// tokenByHashPrefix returns the record with ID id among those whose hash
// begins with prefix, or the first of them if none has that ID (for the
// caller to report), or ErrNotFound if there are none.
func tokenByHashPrefix(tx *bbolt.Tx, prefix, id []byte) (*apitoken.Token, error) {
	var first *apitoken.Token
	c := bucket(tx, bucketTokens).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(apitoken.Hash{}) {
			return nil, fmt.Errorf("%w: token key %x is not a hash", ErrCorrupt, k)
		}
		t, err := decodeToken(apitoken.Hash(k), v)
		if err != nil {
			return nil, fmt.Errorf("token under hash %x: %w", k[:4], err)
		}
		if t.ID == string(id) {
			return t, nil
		}
		if first == nil {
			first = t
		}
	}
	if first == nil {
		return nil, apitoken.ErrNotFound
	}
	return first, nil
}

// getTokenByHash returns the record stored under h.
func getTokenByHash(tx *bbolt.Tx, h apitoken.Hash) (*apitoken.Token, error) {
	v := bucket(tx, bucketTokens).Get(h[:])
	if v == nil {
		return nil, apitoken.ErrNotFound
	}
	t, err := decodeToken(h, v)
	if err != nil {
		// A copy of the prefix, so that h stays on the stack on every call.
		return nil, fmt.Errorf("token under hash %x: %w", [4]byte(h[:4]), err)
	}
	return t, nil
}

// TokenByHash implements apitoken.TokenStore.
func (s *Store) TokenByHash(ctx context.Context, h apitoken.Hash) (*apitoken.Token, error) {
	var t *apitoken.Token
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		t, err = getTokenByHash(tx, h)
		return err
	})
	return t, err
}

// TokenByID implements apitoken.TokenStore.
func (s *Store) TokenByID(ctx context.Context, id string) (*apitoken.Token, error) {
	var t *apitoken.Token
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		t, err = getToken(tx, []byte(id))
		return err
	})
	return t, err
}

// ListTokens implements apitoken.TokenStore. API tokens and sessions have
// indexes of their own; a listing of both merges the two.
func (s *Store) ListTokens(ctx context.Context, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	var out []*apitoken.Token
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if q.Account == "" && q.Unwarned && !q.ExpiresBefore.IsZero() {
			var err error
			out, err = listExpiring(tx, q)
			return err
		}
		for _, kind := range []apitoken.Kind{apitoken.KindAPI, apitoken.KindSession} {
			if q.Kind != 0 && q.Kind != kind {
				continue
			}
			ts, err := listIndex(tx, q, kind)
			if err != nil {
				return err
			}
			out = append(out, ts...)
		}
		return nil
	})
	if err != nil || q.Kind != 0 {
		return out, err
	}
	return sortPage(out, q), nil
}

// sortPage puts ts in q's listing order and keeps q.Limit of them.
func sortPage(out []*apitoken.Token, q apitoken.TokenQuery) []*apitoken.Token {
	slices.SortFunc(out, func(a, b *apitoken.Token) int {
		c := cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
		if q.Newest {
			return -c
		}
		return c
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// listExpiring answers an expiry warning query of every account (see
// apitoken.TokenQuery.Unwarned) from the end index: a live record's end is
// its expiry, so it reads only the records of the kinds asked for that
// expire within the range, reported or not.
func listExpiring(tx *bbolt.Tx, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	b := tx.Bucket(bucketEnds)
	if b == nil {
		return nil, nil // a schema-2 file opened read-only
	}
	var out []*apitoken.Token
	for _, kind := range []apitoken.Kind{apitoken.KindAPI, apitoken.KindSession} {
		if q.Kind != 0 && q.Kind != kind {
			continue
		}
		prefix := []byte{byte(kind)}
		end := appendTimeID(bytes.Clone(prefix), q.ExpiresBefore, "")
		c := b.Cursor()
		for k, _ := c.Seek(appendTimeID(bytes.Clone(prefix), q.ExpiresAfter, "")); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
			if len(k) < len(prefix)+8 {
				return nil, fmt.Errorf("%w: short end index key", ErrCorrupt)
			}
			t, err := getToken(tx, k[len(prefix)+8:])
			if err != nil {
				return nil, fmt.Errorf("listing: %w", errors.Join(ErrCorrupt, err))
			}
			if t.Kind == kind && q.Expiring(t) && (q.After.ID == "" || comesAfter(t.Position(), q.After, q.Newest)) {
				out = append(out, t)
			}
		}
	}
	return sortPage(out, q), nil
}

// comesAfter reports whether p comes after the listing position after:
// later in (Created, ID) order, or earlier when newest.
func comesAfter(p, after apitoken.Position, newest bool) bool {
	if newest {
		return p.Before(after)
	}
	return after.Before(p)
}

// listIndex lists the tokens of one kind that q selects, from that kind's
// index, starting after q.After.
func listIndex(tx *bbolt.Tx, q apitoken.TokenQuery, kind apitoken.Kind) ([]*apitoken.Token, error) {
	name, prefix := bucketByAccount, appendPart(nil, q.Account)
	if q.UserID != "" {
		name, prefix = bucketByUser, appendPart(prefix, q.UserID)
	}
	if kind == apitoken.KindSession {
		name = map[bool][]byte{false: bucketSessByAcct, true: bucketSessByUser}[q.UserID != ""]
	}
	b := tx.Bucket(name)
	if b == nil {
		return nil, nil // a schema-2 file opened read-only: sessions are in the API indexes
	}
	var out []*apitoken.Token
	c := b.Cursor()
	k, step := seekAfter(c, prefix, q.After, q.Newest)
	for ; k != nil && bytes.HasPrefix(k, prefix) && (q.Limit <= 0 || len(out) < q.Limit); k, _ = step() {
		if len(k) < len(prefix)+8 {
			return nil, fmt.Errorf("%w: short index key", ErrCorrupt)
		}
		t, err := getToken(tx, k[len(prefix)+8:])
		if err != nil {
			return nil, fmt.Errorf("listing: %w", errors.Join(ErrCorrupt, err))
		}
		if t.Account != q.Account || (q.UserID != "" && t.UserID != q.UserID) {
			return nil, fmt.Errorf("%w: index entry disagrees with token %q", ErrCorrupt, t.ID)
		}
		if t.Kind == kind && q.Expiring(t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// seekAfter positions c at the first key under prefix that comes after
// the listing position after in the listing's order, ascending or (newest)
// descending, or at the first key under prefix in that order when after
// has no ID. It returns that key, or nil, and the step that moves c on in
// the same order (c.Next or c.Prev); callers stop at the first key without
// the prefix.
func seekAfter(c *bbolt.Cursor, prefix []byte, after apitoken.Position, newest bool) (k []byte, step func() ([]byte, []byte)) {
	var start []byte
	if after.ID != "" {
		start = appendTimeID(bytes.Clone(prefix), after.Created, after.ID)
	}
	if !newest {
		if start == nil {
			k, _ = c.Seek(prefix)
			return k, c.Next
		}
		k, _ = c.Seek(start)
		if bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		return k, c.Next
	}
	// Descending: the last key before start, or before the end of the
	// prefix's range when there is no position.
	if start == nil {
		start = prefixEnd(prefix)
	}
	if start != nil {
		if k, _ = c.Seek(start); k != nil {
			k, _ = c.Prev()
			return k, c.Prev
		}
	}
	k, _ = c.Last()
	return k, c.Prev
}

// prefixEnd returns the smallest key after every key that begins with
// prefix, or nil if there is none (prefix is all 0xff bytes).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// PurgeTokens implements apitoken.TokenStore: it walks the end index (and,
// for IdleBefore, the activity index) from the oldest entry, so it reads
// only what it removes, and removes one batch in one transaction.
func (s *Store) PurgeTokens(ctx context.Context, q apitoken.PurgeQuery) (int, error) {
	if q.Limit < 1 {
		return 0, fmt.Errorf("%w: a purge needs a limit", apitoken.ErrInvalidArgument)
	}
	n := 0
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		n = 0
		ids := map[string]bool{}
		var order []string
		collect := func(name, prefix []byte, before time.Time) error {
			end := appendTimeID(bytes.Clone(prefix), before, "")
			c := bucket(tx, name).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.Compare(k, end) < 0 && len(order) < q.Limit; k, _ = c.Next() {
				if len(k) < len(prefix)+8 {
					return fmt.Errorf("%w: short %s key", ErrCorrupt, name)
				}
				if id := string(k[len(prefix)+8:]); !ids[id] {
					ids[id] = true
					order = append(order, id)
				}
			}
			return nil
		}
		if err := collect(bucketEnds, []byte{byte(q.Kind)}, q.EndedBefore); err != nil {
			return err
		}
		if !q.IdleBefore.IsZero() && q.Kind == apitoken.KindSession {
			if err := collect(bucketActivity, nil, q.IdleBefore); err != nil {
				return err
			}
		}
		for _, id := range order {
			if err := deleteToken(tx, id); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// UpdateToken implements apitoken.TokenStore.
func (s *Store) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	if err := t.Validate(); err != nil {
		return err
	}

	c := t.Clone()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getToken(tx, []byte(c.ID))
		if err != nil {
			return err
		}
		switch {
		case old.Version != c.Version:
			// First: a record read before a RehashToken has the old
			// hash, and its writer must re-read, not be told it changed
			// the hash.
			return apitoken.ErrConflict
		case old.Hash != c.Hash || old.HashKeyID != c.HashKeyID || old.Kind != c.Kind || old.Account != c.Account:
			return errImmutable
		}
		c.Version++
		return putToken(tx, old, c)
	})
	if err == nil {
		t.Version = c.Version
	}
	return err
}

// RehashToken implements apitoken.TokenStore: records are keyed by hash,
// so the record moves from its old key to h (and its ID index entry with
// it) in one transaction.
func (s *Store) RehashToken(ctx context.Context, t *apitoken.Token, h apitoken.Hash, keyID uint32) error {
	var version uint64
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getToken(tx, []byte(t.ID))
		if err != nil {
			return err
		}
		if old.Version != t.Version {
			return apitoken.ErrConflict
		}
		b := bucket(tx, bucketTokens)
		if b.Get(h[:]) != nil {
			return apitoken.ErrDuplicate
		}
		c := old.Clone()
		c.Hash, c.HashKeyID = h, keyID
		c.Version++
		version = c.Version
		if err := b.Delete(old.Hash[:]); err != nil {
			return err
		}
		if err := b.Put(h[:], encodeToken(c)); err != nil {
			return err
		}
		return bucket(tx, bucketTokenIDs).Put([]byte(c.ID), h[:idRefLen])
	})
	if err == nil {
		t.Hash, t.HashKeyID, t.Version = h, keyID, version
	}
	return err
}

// CommitEmpty is the optional Store method apitoken.Store describes: it commits a write
// transaction that changes no record. An empty bbolt commit writes only the
// freelist and meta pages; to cost what a one-record UpdateToken costs it
// also puts the last token record back with its own bytes, so the commit
// writes that record's leaf and branch pages too, and fsyncs as a write
// does (unless Options.NoSync). Nothing a reader sees changes: not the
// record, its Version nor any index. bbolt runs one write transaction at a
// time, so the bytes put back are the current ones.
func (s *Store) CommitEmpty(ctx context.Context) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := bucket(tx, bucketTokens)
		k, v := b.Cursor().Last()
		if k == nil {
			return nil
		}
		return b.Put(bytes.Clone(k), bytes.Clone(v))
	})
}

// DeleteToken implements apitoken.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error { return deleteToken(tx, id) })
}

// deleteToken removes a token and its index entries; a missing ID is not
// an error.
func deleteToken(tx *bbolt.Tx, id string) error {
	old, err := getToken(tx, []byte(id))
	if errors.Is(err, apitoken.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := bucket(tx, bucketTokens).Delete(old.Hash[:]); err != nil {
		return err
	}
	if err := bucket(tx, bucketTokenIDs).Delete([]byte(id)); err != nil {
		return err
	}
	return moveIndex(tx, old, nil)
}

// TouchTokens implements apitoken.TokenStore: the whole batch is one
// transaction.
func (s *Store) TouchTokens(ctx context.Context, touches []apitoken.Touch) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		b := bucket(tx, bucketTokens)
		for _, tc := range touches {
			t, err := getToken(tx, []byte(tc.ID))
			if errors.Is(err, apitoken.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			before := t.Activity()
			tc.Apply(t)
			if err := b.Put(t.Hash[:], encodeToken(t)); err != nil {
				return err
			}
			if t.Kind == apitoken.KindSession && !t.Activity().Equal(before) {
				old := appendTimeID(nil, before, t.ID)
				if err := bucket(tx, bucketActivity).Delete(old); err != nil {
					return err
				}
				if err := bucket(tx, bucketActivity).Put(appendTimeID(nil, t.Activity(), t.ID), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func getUser(tx *bbolt.Tx, id []byte) (*apitoken.User, error) {
	v := bucket(tx, bucketUsers).Get(id)
	if v == nil {
		return nil, apitoken.ErrNotFound
	}
	u, err := decodeUser(v)
	if err != nil {
		return nil, fmt.Errorf("user %q: %w", id, err)
	}
	if u.ID != string(id) {
		return nil, fmt.Errorf("%w: user stored under %q has ID %q", ErrCorrupt, id, u.ID)
	}
	return u, nil
}

func userAcctKey(u *apitoken.User) []byte { return accountKey(u.Account, u.Created, u.ID) }

// CreateUser implements apitoken.UserStore.
func (s *Store) CreateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	c := u.Clone()
	c.Version = 1
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		if bucket(tx, bucketUsers).Get([]byte(c.ID)) != nil || bucket(tx, bucketUserNames).Get([]byte(c.Name)) != nil {
			return apitoken.ErrDuplicate
		}
		if err := bucket(tx, bucketUsers).Put([]byte(c.ID), encodeUser(c)); err != nil {
			return err
		}
		if err := bucket(tx, bucketUserNames).Put([]byte(c.Name), []byte(c.ID)); err != nil {
			return err
		}
		return bucket(tx, bucketUsersByAcct).Put(userAcctKey(c), nil)
	})
	if err == nil {
		u.Version = 1
	}
	return err
}

// UserByID implements apitoken.UserStore.
func (s *Store) UserByID(ctx context.Context, id string) (*apitoken.User, error) {
	var u *apitoken.User
	err := s.view(ctx, func(tx *bbolt.Tx) (err error) {
		u, err = getUser(tx, []byte(id))
		return err
	})
	return u, err
}

// UserByName implements apitoken.UserStore.
func (s *Store) UserByName(ctx context.Context, name string) (*apitoken.User, error) {
	var u *apitoken.User
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		id := bucket(tx, bucketUserNames).Get([]byte(name))
		if id == nil {
			return apitoken.ErrNotFound
		}
		var err error
		if u, err = getUser(tx, id); errors.Is(err, apitoken.ErrNotFound) {
			return fmt.Errorf("%w: name index points at missing user", ErrCorrupt)
		} else if err == nil && u.Name != name {
			return fmt.Errorf("%w: name index and user %q disagree", ErrCorrupt, id)
		}
		return err
	})
	return u, err
}

// ListUsers implements apitoken.UserStore.
func (s *Store) ListUsers(ctx context.Context, q apitoken.UserQuery) ([]*apitoken.User, error) {
	var out []*apitoken.User
	prefix := appendPart(nil, q.Account)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := bucket(tx, bucketUsersByAcct).Cursor()
		k, step := seekAfter(c, prefix, q.After, false)
		for ; k != nil && bytes.HasPrefix(k, prefix) && (q.Limit <= 0 || len(out) < q.Limit); k, _ = step() {
			if len(k) < len(prefix)+8 {
				return fmt.Errorf("%w: short index key", ErrCorrupt)
			}
			u, err := getUser(tx, k[len(prefix)+8:])
			if err != nil {
				return errors.Join(ErrCorrupt, err)
			}
			out = append(out, u)
		}
		return nil
	})
	return out, err
}

// UpdateUser implements apitoken.UserStore.
func (s *Store) UpdateUser(ctx context.Context, u *apitoken.User) error {
	if err := u.Validate(); err != nil {
		return err
	}

	c := u.Clone()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getUser(tx, []byte(c.ID))
		if err != nil {
			return err
		}
		switch {
		case old.Account != c.Account:
			return errImmutable
		case old.Version != c.Version:
			return apitoken.ErrConflict
		}
		names := bucket(tx, bucketUserNames)
		if id := names.Get([]byte(c.Name)); id != nil && string(id) != c.ID {
			return apitoken.ErrDuplicate
		}
		c.Version++
		if old.Name != c.Name {
			if err := names.Delete([]byte(old.Name)); err != nil {
				return err
			}
			if err := names.Put([]byte(c.Name), []byte(c.ID)); err != nil {
				return err
			}
		}
		if !old.Created.Equal(c.Created) {
			if err := bucket(tx, bucketUsersByAcct).Delete(userAcctKey(old)); err != nil {
				return err
			}
			if err := bucket(tx, bucketUsersByAcct).Put(userAcctKey(c), nil); err != nil {
				return err
			}
		}
		return bucket(tx, bucketUsers).Put([]byte(c.ID), encodeUser(c))
	})
	if err == nil {
		u.Version = c.Version
	}
	return err
}

// DeleteUser implements apitoken.UserStore.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getUser(tx, []byte(id))
		if errors.Is(err, apitoken.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := bucket(tx, bucketUsers).Delete([]byte(id)); err != nil {
			return err
		}
		if err := bucket(tx, bucketUserNames).Delete([]byte(old.Name)); err != nil {
			return err
		}
		return bucket(tx, bucketUsersByAcct).Delete(userAcctKey(old))
	})
}

// errImmutable is the answer to an update that changes a field kept fixed
// for a record's life (ID, hash, kind, account).
var errImmutable = fmt.Errorf("%w: a record's ID, hash, kind and account never change", apitoken.ErrInvalidArgument)
