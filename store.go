package apitoken

import (
	"context"
	"time"
)

// Store persists tokens and users. It holds no policy: expiry, privilege,
// visibility and app approval are decided by the Manager, once, whatever the
// store. Implementations must be safe for concurrent use, must return copies
// the caller owns, and must make each method one atomic operation (no
// partial records on failure). The storetest package checks all of this:
// run storetest.Run against any new implementation.
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
	// It fails with ErrDuplicate if the ID or the hash is already stored.
	CreateToken(ctx context.Context, t *Token) error

	// TokenByHash returns the record with hash h, or ErrNotFound.
	TokenByHash(ctx context.Context, h Hash) (*Token, error)

	// TokenByID returns the record with ID id, or ErrNotFound.
	TokenByID(ctx context.Context, id string) (*Token, error)

	// ListTokens returns the records of account q.Account (required),
	// restricted to those owned by user q.UserID when it is non-empty,
	// ordered by Created then ID. Revoked and expired records are
	// included: filtering is policy.
	ListTokens(ctx context.Context, q TokenQuery) ([]*Token, error)

	// UpdateToken replaces the stored record with ID t.ID if its Version
	// still equals t.Version, then sets t.Version to the new version
	// (old + 1). A stale version fails with ErrConflict, a missing ID
	// with ErrNotFound, a changed ID, Hash, Kind or Account with
	// ErrImmutable. Exactly one of several concurrent updates from the
	// same version succeeds.
	UpdateToken(ctx context.Context, t *Token) error

	// DeleteToken removes the record with ID id. Deleting a missing ID is
	// not an error.
	DeleteToken(ctx context.Context, id string) error

	// TouchTokens records usage in one batch: for each Touch, LastUsed
	// (and the named app's LastSeen) move forward to Touch.At, never
	// back. It does not change Version, so it never makes a concurrent
	// UpdateToken fail. Unknown IDs and app names are skipped.
	TouchTokens(ctx context.Context, touches []Touch) error
}

// TokenQuery selects records for TokenStore.ListTokens.
type TokenQuery struct {
	// Account is required.
	Account string
	// UserID, when set, keeps only tokens whose UserID equals it.
	UserID string
}

// Touch is one usage record for TokenStore.TouchTokens.
type Touch struct {
	// ID is the token's ID.
	ID string
	// At is the time of the latest use.
	At time.Time
	// App is the application name of the latest use, or empty.
	App string
}

// UserStore persists users, indexed by ID and by unique name.
type UserStore interface {
	// CreateUser stores a new user with Version 1 (u.Version is set). It
	// fails with ErrDuplicate if the ID or the name is taken.
	CreateUser(ctx context.Context, u *User) error

	// UserByID returns the user with ID id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)

	// UserByName returns the user named name, or ErrNotFound.
	UserByName(ctx context.Context, name string) (*User, error)

	// ListUsers returns the users of account, ordered by Created then ID.
	ListUsers(ctx context.Context, account string) ([]*User, error)

	// UpdateUser replaces the user with ID u.ID if its Version still
	// equals u.Version, then sets u.Version to the new version. Stale
	// versions fail with ErrConflict, missing IDs with ErrNotFound, a
	// changed ID or Account with ErrImmutable, a name taken by another
	// user with ErrDuplicate.
	UpdateUser(ctx context.Context, u *User) error

	// DeleteUser removes the user with ID id; their tokens stay stored but
	// fail verification. Deleting a missing ID is not an error.
	DeleteUser(ctx context.Context, id string) error
}

// ApplyTouch moves t.LastUsed, and the LastSeen of the app named tc.App,
// forward to tc.At; it never moves them back. Stores call it from
// TouchTokens so that every store applies usage the same way.
func ApplyTouch(t *Token, tc Touch) {
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

// EmptyCommitter is an optional interface of a Store whose writes cost a
// durable commit (bolt fsyncs every one). CommitEmpty commits a write
// transaction that changes no record: it costs about what a one-record
// write costs and leaves every record as it was. Manager.RevokeSecret calls
// it when it has nothing to write (the token was already revoked, or is
// unknown), so that the time of its answer does not tell a live token from
// the others. A store whose writes cost about what its reads do need not
// implement it.
type EmptyCommitter interface {
	CommitEmpty(ctx context.Context) error
}
