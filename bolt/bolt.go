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
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
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
const SchemaVersion = 2

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
	keySchema         = []byte("schema_version")
	allBuckets        = [][]byte{bucketMeta, bucketTokens, bucketTokenIDs, bucketByAccount, bucketByUser, bucketUsers, bucketUserNames, bucketUsersByAcct}
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
	// one commit (and one fsync). Default 2 ms.
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
	// failCommit, when set by tests, fails write transactions just before
	// commit, to prove that nothing partial is left behind.
	failCommit func() error
}

var (
	_ apitoken.Store          = (*Store)(nil)
	_ apitoken.EmptyCommitter = (*Store)(nil)
)

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
		FreelistType: bbolt.FreelistMapType,
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
		for _, b := range allBuckets {
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
	// A new file, or an older schema to mark as this one: every older
	// layout is read as it is, so only the version changes.
	return s.db.Update(func(tx *bbolt.Tx) error {
		if ok, err := check(tx); err != nil || ok {
			return err
		}
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return bucket(tx, bucketMeta).Put(keySchema, binary.AppendUvarint(nil, SchemaVersion))
	})
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

// batch is update through bbolt's Batch: concurrent callers share one
// commit. fn may run more than once, so it must not have side effects
// outside tx.
func (s *Store) batch(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := s.ready(ctx); err != nil {
		return err
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

func indexKeys(t *apitoken.Token) (acct, user []byte) {
	acct = accountKey(t.Account, t.Created, t.ID)
	if t.UserID != "" {
		user = userKey(t.Account, t.UserID, t.Created, t.ID)
	}
	return acct, user
}

func moveIndex(tx *bbolt.Tx, old, t *apitoken.Token) error {
	var oldAcct, oldUser, newAcct, newUser []byte
	if old != nil {
		oldAcct, oldUser = indexKeys(old)
	}
	if t != nil {
		newAcct, newUser = indexKeys(t)
	}
	for _, p := range []struct {
		bucket   []byte
		old, new []byte
	}{{bucketByAccount, oldAcct, newAcct}, {bucketByUser, oldUser, newUser}} {
		if bytes.Equal(p.old, p.new) {
			continue
		}
		b := bucket(tx, p.bucket)
		if p.old != nil {
			if err := b.Delete(p.old); err != nil {
				return err
			}
		}
		if p.new != nil {
			if err := b.Put(p.new, nil); err != nil {
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

// ListTokens implements apitoken.TokenStore.
func (s *Store) ListTokens(ctx context.Context, q apitoken.TokenQuery) ([]*apitoken.Token, error) {
	var out []*apitoken.Token
	bucket, prefix := bucketByAccount, appendPart(nil, q.Account)
	if q.UserID != "" {
		bucket, prefix = bucketByUser, appendPart(prefix, q.UserID)
	}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if len(k) < len(prefix)+8 {
				return fmt.Errorf("%w: short index key", ErrCorrupt)
			}
			t, err := getToken(tx, k[len(prefix)+8:])
			if err != nil {
				return fmt.Errorf("listing: %w", errors.Join(ErrCorrupt, err))
			}
			if t.Account != q.Account || (q.UserID != "" && t.UserID != q.UserID) {
				return fmt.Errorf("%w: index entry disagrees with token %q", ErrCorrupt, t.ID)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// UpdateToken implements apitoken.TokenStore.
func (s *Store) UpdateToken(ctx context.Context, t *apitoken.Token) error {
	c := t.Clone()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getToken(tx, []byte(c.ID))
		if err != nil {
			return err
		}
		switch {
		case old.Hash != c.Hash || old.Kind != c.Kind || old.Account != c.Account:
			return apitoken.ErrImmutable
		case old.Version != c.Version:
			return apitoken.ErrConflict
		}
		c.Version++
		return putToken(tx, old, c)
	})
	if err == nil {
		t.Version = c.Version
	}
	return err
}

// CommitEmpty implements apitoken.EmptyCommitter: it commits a write
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
	return s.update(ctx, func(tx *bbolt.Tx) error {
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
	})
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
			apitoken.ApplyTouch(t, tc)
			if err := b.Put(t.Hash[:], encodeToken(t)); err != nil {
				return err
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
func (s *Store) ListUsers(ctx context.Context, account string) ([]*apitoken.User, error) {
	var out []*apitoken.User
	prefix := appendPart(nil, account)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := bucket(tx, bucketUsersByAcct).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
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
	c := u.Clone()
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		old, err := getUser(tx, []byte(c.ID))
		if err != nil {
			return err
		}
		switch {
		case old.Account != c.Account:
			return apitoken.ErrImmutable
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
