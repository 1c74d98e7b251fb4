package apitoken

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/apitoken/apitoken/changefeed"
	"github.com/apitoken/apitoken/event"
	"github.com/apitoken/apitoken/internal/cache"
	"github.com/apitoken/apitoken/internal/tokenhash"
	"github.com/apitoken/apitoken/internal/usage"
)

// Defaults for Options fields left at their zero value.
const (
	defaultExpiry           = 10 * 365 * 24 * time.Hour
	defaultExpiryWarning    = 7 * 24 * time.Hour
	defaultMaxDescription   = 256
	defaultMaxAppName       = 64
	defaultMaxApps          = 32
	defaultAppName          = "default"
	defaultTypeLabel        = "generic"
	defaultFlushInterval    = 30 * time.Second
	defaultLastUsedStep     = time.Minute
	defaultCacheSize        = 100_000
	defaultFallbackCacheTTL = time.Second
	defaultMaxRotateGrace   = 30 * 24 * time.Hour
	defaultIdleTimeout      = 30 * time.Minute
	defaultAbsoluteTimeout  = 12 * time.Hour
)

// minHashKey is the shortest Options.HashKey New accepts, in bytes: as
// long as the HMAC-SHA256 output, so the key is no weaker than the hash.
const minHashKey = 32

// Options configures a Manager. The zero value means defaults throughout;
// each field states its own.
type Options struct {
	// HashKey keys the HMAC-SHA256 under which token hashes are stored,
	// and the keys derived from it (DeriveKey; package login seals MFA
	// secrets under one). Use 32 random bytes from the host's
	// secret configuration; New refuses a key shorter than 32
	// bytes). Empty selects plain SHA-256 and unsealed MFA secrets: still
	// no secret at rest, but anyone holding the database can then confirm
	// a token they already have (see Hash). With a keyring (HashKeys) it
	// keys only the records made before the keyring (key ID 0); new
	// tokens and DeriveKey use the ring's current key.
	HashKey []byte
	// HashKeys is a keyring: hash keys by ID (1 and up; at most 8 keys of
	// at least 32 bytes each), of which CurrentHashKey hashes new
	// tokens. A key's records are stored in a form another key can take
	// over without the tokens (see docs/operations.md, "Rotating the hash
	// key"): a token found under an older key moves to the current key
	// when it is verified, and Manager.RekeyHashes moves the rest. Once
	// Manager.HashKeyCounts shows no record under a key, drop it.
	//
	// HashKey stays the key of the records made before the keyring (key
	// ID 0, see Token.HashKeyID); they move on use only. With a keyring
	// and no HashKey such records are not read. Default: no keyring.
	HashKeys map[uint32][]byte
	// CurrentHashKey is the ID of the key of HashKeys that hashes new
	// tokens and derives new keys (DeriveKey). Required with HashKeys.
	CurrentHashKey uint32
	// Format is the token string format. Default: Format{}.
	Format Format
	// Users is the directory of users: verification, StartSession,
	// IssueFor, listings and the token page read a user's account, current
	// role and disabled flag from it. Default: the Store's own user
	// records. A host with its own users implements Users (only ID,
	// Account, Role and Disabled of the returned User are read) and calls
	// Manager.InvalidateUser when a user changes; it then writes no user
	// record into the Store. Password login and MFA (package login)
	// and the user management calls (AddUser, CreateUser, UpdateUser...)
	// work on the Store's records only.
	Users Users
	// Scopes declares the host's scope vocabulary and which scopes each
	// role (privilege) holds: Scopes[Normal] lists the scopes a Normal
	// credential holds beyond those of ReadOnly, and so on up; a role
	// holds its own scopes and every scope of the roles below it. The
	// vocabulary is every name listed: at most 64 names, each 1 to 64
	// bytes of ASCII letters, digits and ":._-/". A token may carry a
	// subset (IssueRequest.Scopes); its effective scopes (Principal.Scopes)
	// are capped by the scopes of its effective privilege at every
	// verification. Default nil: no scopes; every Principal has none.
	Scopes map[Privilege][]string

	// DefaultExpiry is the lifetime of an API token issued without an
	// expiry. Default 10 years, or MaxExpiry if that is
	// shorter.
	DefaultExpiry time.Duration
	// MaxExpiry is the longest lifetime a caller may ask for. Default
	// DefaultExpiry. A DefaultExpiry above it is lowered to it.
	MaxExpiry time.Duration
	// ExpiryPolicy, when set, governs the lifetimes of new API tokens per
	// account: max, when positive, is the longest lifetime a token of the
	// account may have (MaxExpiry still bounds it), and required means a
	// caller must choose an expiry (IssueRequest.Expires) rather than take
	// the default. Without a required expiry, the default is lowered to
	// max. Issue and IssueFor refuse a request outside the policy with
	// ErrInvalidArgument naming the rule; Rotate shortens the new
	// secret's expiry to max from now. It is called on every issue and
	// rotation and must be fast and safe for concurrent use. Default nil:
	// DefaultExpiry and MaxExpiry alone, for every account.
	ExpiryPolicy func(account string) (max time.Duration, required bool)
	// ExpiryWarning is how long before its expiry a live API token is
	// reported, once, with event.Expiring (see Manager.Purge). Default 7
	// days; negative disables the warnings.
	ExpiryWarning time.Duration
	// MaxDescription bounds descriptions in bytes. Default 256.
	MaxDescription int
	// MaxAppName bounds application names in bytes. Default 64.
	MaxAppName int
	// MaxApps bounds the application names recorded per token; further new
	// names are refused with ErrLimitReached (code too_many_apps). Default 32.
	MaxApps int
	// DefaultApp is the application name of a verification that names
	// none. Default "default".
	DefaultApp string
	// MaxRotateGrace bounds the grace period of Rotate. Default 30 days.
	MaxRotateGrace time.Duration

	// FlushInterval is how often last-used data is written to the store
	// (it is also written on Close). Default 30 s.
	FlushInterval time.Duration
	// LastUsedResolution is how far a cached API token's stored last use
	// may lag its latest one: the background flush, a purge and a listing
	// write a cached token's newer uses only once they are at least its
	// step past the stored one (a step between half this and this, fixed
	// per token, so that tokens first written together come due apart).
	// A token's first use, a use after a longer quiet spell, and the
	// last uses (of every application) of a token that has since been
	// quiet for a step are written by the next flush or listing, so the
	// stored times never lag by more than a step and a FlushInterval. A
	// token verified without pause is then written about once a step
	// rather than on every flush, which keeps a large busy set from rewriting most of a bolt
	// file every FlushInterval. Flush and Close write every pending use.
	// Default 1 minute; negative writes every use on every flush.
	LastUsedResolution time.Duration
	// CacheSize bounds the verification cache in tokens. Default 100,000;
	// negative disables the cache (every verification reads the store).
	CacheSize int
	// FallbackCacheTTL is how long a cached record may serve while a
	// shared store's change feed is down (see changefeed.Feed), which bounds
	// how long another process's revoke can go unseen. Default 1 s.
	FallbackCacheTTL time.Duration

	// Retention is how long revoked and expired API tokens (rotated-out
	// secrets included) stay stored, for audits and listings of recent
	// revocations, before a purge removes them. Default 30 days.
	Retention time.Duration
	// PurgeInterval is how often the Manager runs Purge in its background
	// loop. Default 1 h; negative disables it (run Purge yourself, for
	// example from one instance only).
	PurgeInterval time.Duration
	// MaxSessionsPerUser caps a user's live sessions: a new session ends
	// the oldest ones beyond it, sessions still locked awaiting MFA before
	// unlocked ones. Default 100; negative: no cap.
	MaxSessionsPerUser int
	// MaxTokensPerUser caps a user's live API tokens: issuing one more
	// fails with ErrLimitReached. It also bounds the user's stored
	// history: once live and ended tokens together reach it, issuing
	// removes the oldest ended ones before Retention is up. Default 1,000;
	// negative: no cap.
	MaxTokensPerUser int

	// SessionIdleTimeout ends a session unused this long (behaviour rule
	// 23). Default 30 minutes.
	SessionIdleTimeout time.Duration
	// SessionAbsoluteTimeout ends a session this long after it started,
	// however busy. Default 12 hours. Password login, its throttling and
	// MFA are configured in package login.
	SessionAbsoluteTimeout time.Duration

	// Logger, if set, logs every Event: failures at Warn, the rest at
	// Info, the event's dotted name as the message and only non-secret
	// attributes (IDs, account, application, state, privilege, reason).
	// Default nil: nothing is logged.
	Logger *slog.Logger
	// OnEvent receives every Event synchronously (after Logger); it must
	// not block. Default nil.
	OnEvent func(Event)
	// ObserveVerify receives one VerifyObservation per Manager.Verify
	// (outcome, kind, cache hit, and the duration of a random sample), for
	// metrics adapters such as module otelapitoken. It is called
	// synchronously on the verifying goroutine, after the verification and
	// before its event.VerifyFailed (if any); it must not block and must be
	// safe for concurrent use. Default nil: the Manager builds no
	// observation and reads no clock for one.
	ObserveVerify func(VerifyObservation)
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Rand is the entropy source for secrets and IDs. Default
	// crypto/rand.Reader. Replace it only in tests.
	Rand io.Reader
}

// Users is what verification needs to know of a token's owner. The Store
// implements it; a host with its own user database can supply its own.
type Users interface {
	// UserByID returns the user with ID id, or an error wrapping
	// ErrNotFound if there is none.
	UserByID(ctx context.Context, id string) (*User, error)
}

// Manager issues, verifies and manages tokens over a Store. All policy
// (privileges, visibility, expiry, app approval, sessions) lives here, so
// every store behaves the same. It is safe for concurrent use. Close it to
// stop its background flush and write pending last-used data.
type Manager struct {
	store  Store
	users  Users
	opts   Options
	format Format
	ring   keyring
	scopes *scopeVocab
	cache  tokenCache
	usage  usageTracker

	unsubscribe func() // from the store's changefeed.Feed, if it has one
	closeOnce   sync.Once
	stop        chan struct{}
	done        chan struct{} // closed when flushLoop has returned
	foldDone    chan struct{} // closed when foldLoop has returned
	flushing    chan struct{} // holds one value while a flush runs
}

// New returns a Manager over store. A nil opts means defaults. It starts
// two goroutines (the last-used flush and the purge; the usage tracker's
// folds) that Close stops. Invalid options, such as a HashKey that is
// neither empty nor at least 32 bytes, are ErrInvalidArgument.
func New(store Store, opts *Options) (*Manager, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if store == nil {
		return nil, fmt.Errorf("%w: nil Store", ErrInvalidArgument)
	}
	o.HashKeys = cloneKeys(o.HashKeys)
	ring, err := newKeyring(&o)
	if err != nil {
		return nil, err
	}
	f, err := o.Format.withDefaults()
	if err != nil {
		return nil, err
	}
	if o.DefaultExpiry == 0 && o.MaxExpiry > 0 {
		o.DefaultExpiry = min(defaultExpiry, o.MaxExpiry)
	}
	setDefault(&o.DefaultExpiry, defaultExpiry)
	setDefault(&o.MaxExpiry, o.DefaultExpiry)
	setDefault(&o.ExpiryWarning, defaultExpiryWarning)
	setDefault(&o.MaxDescription, defaultMaxDescription)
	setDefault(&o.MaxAppName, defaultMaxAppName)
	setDefault(&o.MaxApps, defaultMaxApps)
	setDefault(&o.DefaultApp, defaultAppName)
	setDefault(&o.MaxRotateGrace, defaultMaxRotateGrace)
	setDefault(&o.FlushInterval, defaultFlushInterval)
	setDefault(&o.LastUsedResolution, defaultLastUsedStep)
	o.LastUsedResolution = max(o.LastUsedResolution, 0)
	setDefault(&o.CacheSize, defaultCacheSize)
	setDefault(&o.FallbackCacheTTL, defaultFallbackCacheTTL)
	setDefault(&o.Retention, defaultRetention)
	setDefault(&o.PurgeInterval, defaultPurgeInterval)
	setDefault(&o.MaxSessionsPerUser, defaultMaxSessionsPerUser)
	setDefault(&o.MaxTokensPerUser, defaultMaxTokensPerUser)
	setDefault(&o.SessionIdleTimeout, defaultIdleTimeout)
	setDefault(&o.SessionAbsoluteTimeout, defaultAbsoluteTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.DefaultExpiry > o.MaxExpiry {
		return nil, fmt.Errorf("%w: DefaultExpiry above MaxExpiry", ErrInvalidArgument)
	}
	if len(o.DefaultApp) > o.MaxAppName {
		return nil, fmt.Errorf("%w: DefaultApp longer than MaxAppName", ErrInvalidArgument)
	}
	vocab, err := newScopeVocab(o.Scopes)
	if err != nil {
		return nil, err
	}
	users := o.Users
	if users == nil {
		users = store
	}
	ut := usage.New()
	m := &Manager{
		store:  store,
		users:  users,
		opts:   o,
		format: f,
		ring:   ring,
		scopes: vocab,
		cache:  tokenCache{cache.New(o.CacheSize, o.FallbackCacheTTL, o.Now, ut.Touch)},
		usage:  usageTracker{ut},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),

		foldDone: make(chan struct{}), flushing: make(chan struct{}, 1),
	}
	if feed, ok := store.(changefeed.Feed); ok {
		m.unsubscribe = feed.Subscribe(m.applyChange)
	}
	go m.flushLoop()
	go m.foldLoop()
	return m, nil
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Close stops the background flush and writes pending last-used data. It
// does not close the Store, which the caller owns. Calling it twice is safe.
func (m *Manager) Close() error {
	var err error
	m.closeOnce.Do(func() {
		if m.unsubscribe != nil {
			m.unsubscribe()
		}
		close(m.stop)
		<-m.done
		<-m.foldDone
		err = m.Flush(context.Background())
	})
	return err
}

func (m *Manager) flushLoop() {
	defer close(m.done)
	t := time.NewTicker(m.opts.FlushInterval)
	defer t.Stop()
	var purge <-chan time.Time
	if m.opts.PurgeInterval > 0 {
		pt := time.NewTicker(m.opts.PurgeInterval)
		defer pt.Stop()
		purge = pt.C
	}
	for {
		select {
		case <-m.stop:
			return
		case <-purge:
			m.purgeInBackground()
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), m.opts.FlushInterval)
			if err := m.flush(ctx, m.opts.LastUsedResolution); err != nil {
				m.emit(Event{Type: event.FlushFailed, Err: err})
			}
			cancel()
		}
	}
}

// foldLoop folds the usage tracker's full logs as they are handed over.
// It is apart from flushLoop so that a flush's store write, which on
// bolt can take seconds, never delays a fold: while a log waits, the
// verification that fills the next one folds both itself.
func (m *Manager) foldLoop() {
	defer close(m.foldDone)
	for {
		select {
		case <-m.stop:
			return
		case <-m.usage.Wake():
			m.usage.FoldWaiting()
		}
	}
}

// Flush writes every pending use to the store, in batches of at most
// 4,096 uses (one TouchTokens call each), so that the store's other
// writes (issuing, revoking) wait for one batch rather than the whole
// flush. Verification never waits for it. On failure the batches not
// written are kept and retried by the next flush. The background flush
// writes cached tokens' uses at Options.LastUsedResolution instead.
func (m *Manager) Flush(ctx context.Context) error { return m.flush(ctx, 0) }

// flush is Flush writing cached tokens' uses only once due at resolution
// (0: all of them).
//
// Flushes run one at a time: a listing (or Close) that starts while
// another flush writes waits for it, since the uses that flush took are
// in neither memory nor the store until its write is done.
func (m *Manager) flush(ctx context.Context, resolution time.Duration) error {
	select {
	case m.flushing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.flushing }()
	batch := m.usage.take(m.cache, resolution)
	for len(batch) > 0 {
		n := min(len(batch), flushBatch)
		if err := m.store.TouchTokens(ctx, batch[:n]); err != nil {
			m.usage.putBack(batch)
			return fmt.Errorf("apitoken: flushing last-used data: %w", err)
		}
		batch = batch[n:]
	}
	return nil
}

// flushBatch bounds the uses one TouchTokens call of a flush writes.
const flushBatch = 4096

// HashOf returns the hash a new record of token gets under this
// Manager's current hash key and Format (see Hash and Options.HashKeys).
// It is for tests and migrations; stores index tokens by it.
func (m *Manager) HashOf(token string) Hash {
	h, _ := m.recordHash(token)
	return h
}

// recordHash returns the hash and hash key ID a new record of token gets.
func (m *Manager) recordHash(token string) (Hash, uint32) {
	_, issued, err := m.format.parse(token)
	if err != nil {
		issued = noIssueTime
	}
	return m.newHash(token, issued)
}

// InvalidateUser drops what the verification cache holds about user id.
// The Manager calls it itself for changes it makes; a host with its own
// Users must call it, before the change is reported done, whenever a user's
// role, disabled flag or existence changes.
func (m *Manager) InvalidateUser(id string) { m.cache.invalidateUser(id) }

func (m *Manager) now() time.Time { return m.opts.Now() }

// DeriveKey returns a 32-byte key for purpose label derived from the
// current hash key (HMAC-SHA256(key, label); the key is
// HashKeys[CurrentHashKey] with a keyring, else HashKey), or nil when the
// Manager has no hash key. Data that must outlive a key rotation should
// record which key sealed it: see DeriveKeyring. It is for code built on the Manager that needs a key of
// its own without a second secret to configure: package login seals MFA
// secrets under DeriveKey("apitoken mfa secret v1"). Use a distinct label
// per purpose; the hash key itself never leaves the Manager.
//
// A token's stored hash is the same HMAC of the token string, so a label
// must not be one: DeriveKey panics on a label made only of the characters
// a token can hold (letters, digits and '_'). Put a space or punctuation
// in it, as above.
//
// The label of the keyring's permutation key (tokenhash.PermutationLabel,
// "apitoken hash permutation v1") is refused the same way.
func (m *Manager) DeriveKey(label string) []byte {
	checkDeriveLabel(label)
	key := m.currentKey()
	if len(key) == 0 {
		return nil
	}
	return deriveKey(key, label)
}

// checkDeriveLabel panics on a label DeriveKey must not derive a key for.
func checkDeriveLabel(label string) {
	if tokenShaped(label) {
		panic("apitoken: DeriveKey label " + strconv.Quote(label) + " could be a token; give it a space or punctuation")
	}
	if label == tokenhash.PermutationLabel {
		panic("apitoken: DeriveKey label " + strconv.Quote(label) + " is the keyring's own")
	}
}

// cloneKeys copies a keyring so that the caller's later changes do not
// reach the Manager.
func cloneKeys(keys map[uint32][]byte) map[uint32][]byte {
	if keys == nil {
		return nil
	}
	c := make(map[uint32][]byte, len(keys))
	for id, k := range keys {
		c[id] = bytes.Clone(k)
	}
	return c
}

// newID returns a 16-character record ID: the creation time in
// milliseconds as 8 base62 digits (most significant first, so IDs sort by
// creation until the year 8000), then 8 random base62 characters (47 bits).
// IDs are not secrets. Ordered IDs keep a B-tree index on ID appending at
// one end, as UUIDv7 and ULID do: bbolt's ID index fills its pages 95%
// instead of the two-thirds random keys leave, and PostgreSQL's primary key
// index stays as dense. Two IDs collide only if made in the same
// millisecond with the same 47 random bits; a store refuses the second
// (ErrDuplicate).
func (m *Manager) newID(created time.Time) (string, error) {
	var b [16]byte
	putBase62(b[:timeDigits], unixMilli(created))
	if err := randomBase62(m.opts.Rand, b[timeDigits:]); err != nil {
		return "", err
	}
	return string(b[:]), nil
}

// maxUpdateAttempts bounds compare-and-update retries under contention.
const maxUpdateAttempts = 32

// updateToken applies fn to the current record of id and stores it with a
// compare-and-update, retrying on ErrConflict. fn sees a private copy and
// may refuse with an error. The cache entry is dropped before returning,
// whatever the outcome, so no later verification sees the old record.
func (m *Manager) updateToken(ctx context.Context, id string, fn func(*Token) error) (*Token, error) {
	return compareAndUpdate(ctx, id, m.store.TokenByID, fn, m.store.UpdateToken,
		func(t *Token) { m.cache.invalidateToken(t.Hash) })
}

// updateUser is updateToken for users.
func (m *Manager) updateUser(ctx context.Context, id string, fn func(*User) error) (*User, error) {
	return compareAndUpdate(ctx, id, m.store.UserByID, fn, m.store.UpdateUser,
		func(*User) { m.cache.invalidateUser(id) })
}

// compareAndUpdate is the read-modify-write loop behind every change: load,
// apply fn, store if the version is unchanged, invalidate, and retry a
// bounded number of times when another writer won.
func compareAndUpdate[T any](ctx context.Context, id string,
	load func(context.Context, string) (T, error), fn func(T) error,
	store func(context.Context, T) error, invalidate func(T)) (T, error) {
	var zero T
	for range maxUpdateAttempts {
		rec, err := load(ctx, id)
		if err != nil {
			return zero, storeErr(err)
		}
		if err := fn(rec); err != nil {
			return zero, err
		}
		err = store(ctx, rec)
		invalidate(rec)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return zero, storeErr(err)
		}
		return rec, nil
	}
	return zero, ErrConflict
}

// StoreError marks an error that came from the Store (an outage, a full
// disk) rather than from policy. HTTP layers answer it with 500 and never
// show its text.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "apitoken: store: " + e.Err.Error() }

// Unwrap returns the store's error.
func (e *StoreError) Unwrap() error { return e.Err }

// storeErr passes the library's own sentinels through and wraps anything
// else as a StoreError.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrDuplicate), errors.Is(err, ErrConflict),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	var se *StoreError
	if errors.As(err, &se) {
		return err
	}
	return &StoreError{Err: err}
}

// tokenShaped reports whether s holds only characters a token can, so that
// some token string could equal it.
func tokenShaped(s string) bool {
	for _, c := range []byte(s) {
		if !(c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
