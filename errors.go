package apitoken

import "errors"

// Sentinel errors. Compare with errors.Is: the library wraps them with
// context, and stores wrap them with their own detail. None of them, nor any
// error the library returns, ever contains a token secret.
var (
	// ErrMalformed means the presented string is not a token of this
	// library's format: wrong length, characters, prefix or checksum. It is
	// decided before any store lookup.
	ErrMalformed = errors.New("apitoken: malformed token")

	// ErrUnknown means the token is well formed but no store record has its
	// hash.
	ErrUnknown = errors.New("apitoken: unknown token")

	// ErrRevoked means the token was revoked (retired) or, for a session,
	// logged out.
	ErrRevoked = errors.New("apitoken: token revoked")

	// ErrExpired means the token's expiry, or a session's idle or absolute
	// timeout, has passed.
	ErrExpired = errors.New("apitoken: token expired")

	// ErrUserDisabled means the token or session belongs to a user who is
	// disabled or no longer exists. Account tokens never fail with it.
	ErrUserDisabled = errors.New("apitoken: user disabled or deleted")

	// ErrSessionLocked means a session awaits its MFA unlock and may only
	// unlock or log out.
	ErrSessionLocked = errors.New("apitoken: session locked until MFA unlock")

	// ErrAppPending means the token verified but the application it was
	// used by awaits approval (HTTP 401, code app_pending).
	ErrAppPending = errors.New("apitoken: application pending approval")

	// ErrAppDenied means the token verified but the application it was used
	// by is denied (HTTP 403, code app_denied).
	ErrAppDenied = errors.New("apitoken: application denied")

	// ErrTooManyApps means the token already records the maximum number of
	// application names; a new name is refused and not stored.
	ErrTooManyApps = errors.New("apitoken: too many applications for this token")

	// ErrInsufficientPrivilege means the caller's effective privilege is
	// below what the operation needs, or the operation asks for more than
	// the caller has.
	ErrInsufficientPrivilege = errors.New("apitoken: insufficient privilege")

	// ErrNotFound means a record does not exist, or exists but the caller
	// may not see it: the two are deliberately indistinguishable.
	ErrNotFound = errors.New("apitoken: not found")

	// ErrDuplicate means a store already holds a record with the same ID,
	// hash or user name.
	ErrDuplicate = errors.New("apitoken: duplicate record")

	// ErrConflict means a compare-and-update lost: the record changed since
	// it was read. Callers re-read and retry or give up.
	ErrConflict = errors.New("apitoken: record changed concurrently")

	// ErrImmutable means an update tried to change a field a store keeps
	// fixed for a record's life (ID, hash, kind, account).
	ErrImmutable = errors.New("apitoken: immutable field changed")

	// ErrAlreadyAccountToken means a promote found the token already owned
	// by the account. Promotion is irreversible and happens once.
	ErrAlreadyAccountToken = errors.New("apitoken: token is already an account token")

	// ErrInvalidArgument means an option or field is out of range: an
	// unset privilege, an over-long description, an expiry in the past.
	ErrInvalidArgument = errors.New("apitoken: invalid argument")

	// ErrSessionRequired means a password or second-factor change was
	// asked by a credential that may not make it: such changes come only
	// from an unlocked session of the user (or, for a password reset, an
	// admin's session), never from an API token.
	ErrSessionRequired = errors.New("apitoken: credential changes need a signed-in session of the user")

	// ErrLimitReached means a user already holds the most live API tokens
	// Options.MaxTokensPerUser allows (HTTP 409, code limit_reached):
	// revoke one first.
	ErrLimitReached = errors.New("apitoken: the user holds the most live API tokens allowed; revoke one first")

	// ErrClosed means the Manager or store was closed.
	ErrClosed = errors.New("apitoken: closed")
)
