package apitoken

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Store persists tokens and users. It holds no policy: expiry, privilege,
// visibility and app approval are decided by the Manager, once, whatever the
// store. Implementations must be safe for concurrent use, must return copies
// the caller owns, and must make each method one atomic operation (no
// partial records on failure). The storetest package checks all of this:
// run storetest.Run against any new implementation.
//
// A store whose writes cost a durable commit (bolt fsyncs every one) may
// also have the method CommitEmpty(ctx context.Context) error, committing a
// write transaction that changes no record: it costs about what a
// one-record write costs and leaves every record as it was.
// Manager.RevokeSecret calls it when it has nothing to write (the token was
// already revoked, or is unknown), so that the time of its answer does not
// tell a live token from the others. A store whose writes cost about what
// its reads do need not have it.
//
// Stores that several processes share may implement changefeed.Feed;
// stores that can be copied record for record implement migrate.Walker and
// migrate.Importer.
type Store interface {
	TokenStore
	UserStore
	// Close releases the store. Later calls may fail with ErrClosed.
	Close() error
}

// TokenStore persists token records, indexed by ID, by hash, by account
// and by owning user.
type TokenStore interface {
	// CreateToken stores a new record with Version 1 (t.Version is set).
	// It fails with ErrDuplicate if the ID or the hash is already stored,
	// and with Token.Validate's error for a record it could not read back.
	CreateToken(ctx context.Context, t *Token) error

	// TokenByHash returns the record with hash h, or ErrNotFound.
	TokenByHash(ctx context.Context, h Hash) (*Token, error)

	// TokenByID returns the record with ID id, or ErrNotFound.
	TokenByID(ctx context.Context, id string) (*Token, error)

	// ListTokens returns the records of account q.Account (required
	// but for the one case TokenQuery.Unwarned describes), restricted to
	// those owned by user q.UserID when it is non-empty, to kind q.Kind
	// when it is set and to q's expiry range when q.ExpiresBefore is set,
	// ordered by Created then ID (newest first when q.Newest is set),
	// starting after q.After in that order and at most q.Limit of them
	// (0: all). A store with ordered indexes reads about as many records
	// as it returns, in either order. Outside an expiry range, revoked
	// and expired records are included: filtering is policy. A listing of
	// one kind must not read records of the other (stores index sessions
	// apart), so sessions never slow a listing of API tokens.
	ListTokens(ctx context.Context, q TokenQuery) ([]*Token, error)

	// UpdateToken replaces the stored record with ID t.ID if its Version
	// still equals t.Version, then sets t.Version to the new version
	// (old + 1). A stale version fails with ErrConflict, a missing ID
	// with ErrNotFound, a changed ID, Hash, HashKeyID, Kind or Account,
	// or a record Token.Validate refuses, with ErrInvalidArgument.
	// Exactly one of several concurrent updates from the same version
	// succeeds.
	UpdateToken(ctx context.Context, t *Token) error

	// RehashToken moves the record with ID t.ID to hash h under hash key
	// keyID (a key rotation: the same secret, hashed under another key), if
	// its Version still equals t.Version: the record is then found by h
	// and no longer by its old hash, and t's Hash, HashKeyID and Version
	// (old + 1) are set. Every other field stays as stored; t's are not
	// read. A stale version fails with ErrConflict, a missing ID with
	// ErrNotFound, an h already stored for any record with ErrDuplicate.
	// A store with a changefeed.Feed announces the old hash.
	RehashToken(ctx context.Context, t *Token, h Hash, keyID uint32) error

	// DeleteToken removes the record with ID id. Deleting a missing ID is
	// not an error.
	DeleteToken(ctx context.Context, id string) error

	// TouchTokens records usage in one batch: for each Touch, LastUsed
	// (and the named app's LastSeen) move forward to Touch.At, never
	// back. It does not change Version, so it never makes a concurrent
	// UpdateToken fail. Unknown IDs and app names are skipped.
	TouchTokens(ctx context.Context, touches []Touch) error

	// PurgeTokens deletes up to q.Limit records of kind q.Kind that have
	// ended as q says, in one atomic batch, and returns how many it
	// deleted (fewer than q.Limit means none are left). It must find them
	// through an index, reading no live record, so that a purge costs
	// what it removes. The Manager decides the times; see PurgeQuery.
	PurgeTokens(ctx context.Context, q PurgeQuery) (int, error)
}

// TokenQuery selects records for TokenStore.ListTokens.
type TokenQuery struct {
	// Account is required.
	Account string
	// UserID, when set, keeps only tokens whose UserID equals it.
	UserID string
	// Kind, when set, keeps only records of that kind.
	Kind Kind
	// After, when its ID is set, starts the listing after that record's
	// place in the (Created, ID) order: a page's last record continues
	// the listing.
	After Position
	// Limit bounds how many records are returned; 0 means no bound.
	Limit int
	// Newest lists in descending (Created, ID) order; After then
	// continues after that position in this order, i.e. with older
	// records.
	Newest bool
	// ExpiresBefore, when set, keeps only records that are not revoked
	// and whose Expires is before it and after ExpiresAfter: the live
	// tokens about to lapse, when ExpiresAfter is now. The order and
	// paging stay those above.
	ExpiresBefore time.Time
	// ExpiresAfter is the lower bound of ExpiresBefore's range (records
	// expiring at it or earlier are left out); it is read only with
	// ExpiresBefore set.
	ExpiresAfter time.Time
	// Unwarned, with ExpiresBefore set, also keeps only records whose
	// ExpiryWarned is zero. Such a query may leave Account empty to
	// select records of every account: the Manager's expiry warnings
	// read those. A store should find them through an index rather than
	// by reading every record.
	Unwarned bool
}

// Expiring reports whether q's expiry range (ExpiresBefore, ExpiresAfter,
// Unwarned) keeps t; a query without ExpiresBefore keeps every record.
// Stores that filter in memory call it so that every store applies the
// range the same way.
func (q TokenQuery) Expiring(t *Token) bool {
	if q.ExpiresBefore.IsZero() {
		return true
	}
	return t.Revoked.IsZero() && t.Expires.Before(q.ExpiresBefore) && t.Expires.After(q.ExpiresAfter) &&
		(!q.Unwarned || t.ExpiryWarned.IsZero())
}

// Position is a place in the (Created, ID) order of listings.
type Position struct {
	Created time.Time
	ID      string
}

// Before reports whether p sorts before q.
func (p Position) Before(q Position) bool {
	if c := p.Created.Compare(q.Created); c != 0 {
		return c < 0
	}
	return p.ID < q.ID
}

// Position returns t's place in the listing order.
func (t *Token) Position() Position { return Position{Created: t.Created, ID: t.ID} }

// Position returns u's place in the listing order.
func (u *User) Position() Position { return Position{Created: u.Created, ID: u.ID} }

// Validate reports, with ErrInvalidArgument naming the field, a record
// holding a value no store can represent: a Kind, Owner, Privilege,
// DefaultAppState or application state outside its constants. Stores
// call it before every write (creates, updates and imports), so a bad
// record is refused whole rather than stored and then unreadable; the
// Manager never makes one.
func (t *Token) Validate() error {
	bad := func(field string, v uint8) error {
		return fmt.Errorf("%w: token record %q: %s %d is not one of its values", ErrInvalidArgument, t.ID, field, v)
	}
	switch {
	case t.Kind != KindSession && t.Kind != KindAPI:
		return bad("kind", uint8(t.Kind))
	case t.Owner != OwnerUser && t.Owner != OwnerAccount:
		return bad("owner", uint8(t.Owner))
	case !t.Privilege.Valid():
		return bad("privilege", uint8(t.Privilege))
	case !t.DefaultAppState.Valid():
		return bad("default app state", uint8(t.DefaultAppState))
	}
	for _, a := range t.Apps {
		if !a.State.Valid() {
			return bad("state of application "+strconv.Quote(a.Name)+",", uint8(a.State))
		}
	}
	return nil
}

// Validate reports, with ErrInvalidArgument, a user whose Role is none
// of the privileges; stores call it before every write, as
// Token.Validate.
func (u *User) Validate() error {
	if !u.Role.Valid() {
		return fmt.Errorf("%w: user %q: role %d is not one of its values", ErrInvalidArgument, u.ID, u.Role)
	}
	return nil
}

// PurgeQuery selects ended records for TokenStore.PurgeTokens.
type PurgeQuery struct {
	// Kind is KindSession or KindAPI (required).
	Kind Kind
	// EndedBefore selects records whose end (Token.End) is before it.
	EndedBefore time.Time
	// IdleBefore, when set, also selects records whose latest activity
	// (Token.Activity) is before it. The Manager sets it for sessions
	// only, from the idle timeout.
	IdleBefore time.Time
	// Limit bounds the batch (required, at least 1).
	Limit int
}

// End returns when t stopped or will stop working by itself: its
// revocation if that came first, else its expiry. Stores index it for
// PurgeTokens.
func (t *Token) End() time.Time {
	if !t.Revoked.IsZero() && t.Revoked.Before(t.Expires) {
		return t.Revoked
	}
	return t.Expires
}

// Activity returns t's latest activity: its last use, or its creation if
// it was never used after it. Stores index it for sessions, for
// PurgeTokens' IdleBefore.
func (t *Token) Activity() time.Time { return lastActivity(t.Created, t.LastUsed) }

// Touch is one usage record for TokenStore.TouchTokens.
type Touch struct {
	// ID is the token's ID.
	ID string
	// At is the time of the latest use.
	At time.Time
	// App is the application name of the latest use, or empty.
	App string
	// IP is the client address of the latest use, or the zero Addr when
	// the verification knew none.
	IP netip.Addr
}

// UserQuery selects users for UserStore.ListUsers.
type UserQuery struct {
	// Account is required.
	Account string
	// After, when its ID is set, starts after that user's place in the
	// (Created, ID) order.
	After Position
	// Limit bounds how many users are returned; 0 means no bound.
	Limit int
}

// UserStore persists users, indexed by ID and by unique name.
type UserStore interface {
	// CreateUser stores a new user with Version 1 (u.Version is set). It
	// fails with ErrDuplicate if the ID or the name is taken, and with
	// User.Validate's error for a user it could not read back.
	CreateUser(ctx context.Context, u *User) error

	// UserByID returns the user with ID id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)

	// UserByName returns the user named name, or ErrNotFound.
	UserByName(ctx context.Context, name string) (*User, error)

	// ListUsers returns the users of account q.Account, ordered by
	// Created then ID, starting after q.After and at most q.Limit of them
	// (0: all).
	ListUsers(ctx context.Context, q UserQuery) ([]*User, error)

	// UpdateUser replaces the user with ID u.ID if its Version still
	// equals u.Version, then sets u.Version to the new version. Stale
	// versions fail with ErrConflict, missing IDs with ErrNotFound, a
	// changed ID or Account, or a user User.Validate refuses, with
	// ErrInvalidArgument, a name taken by another user with ErrDuplicate.
	UpdateUser(ctx context.Context, u *User) error

	// DeleteUser removes the user with ID id; their tokens stay stored but
	// fail verification. Deleting a missing ID is not an error.
	DeleteUser(ctx context.Context, id string) error
}

// Apply moves t.LastUsed, and the LastSeen of the app named tc.App,
// forward to tc.At; it never moves them back. Stores call it from
// TouchTokens so that every store applies usage the same way.
func (tc Touch) Apply(t *Token) {
	if tc.IP.IsValid() && !tc.At.Before(t.LastUsed) {
		t.LastUsedIP = tc.IP
	}
	if tc.At.After(t.LastUsed) {
		t.LastUsed = tc.At
	}
	if tc.App == "" {
		return
	}
	if i := t.App(tc.App); i >= 0 && tc.At.After(t.Apps[i].LastSeen) {
		t.Apps[i].LastSeen = tc.At
	}
}

// emptyCommitter is the optional method of a Store described under Store:
// CommitEmpty.
type emptyCommitter interface {
	CommitEmpty(ctx context.Context) error
}
