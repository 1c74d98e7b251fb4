package apitoken

import (
	"errors"
	"net/http"
)

// Sentinel errors. Compare with errors.Is: the library wraps them with
// context, and stores wrap them with their own detail. None of them, nor any
// error the library returns, ever contains a token secret.
var (
	// ErrMalformed means the presented string is not a token of this
	// library's format: wrong length, characters, prefix or checksum. It is
	// decided before any store lookup. A request that carries two different
	// tokens (say a header and a query parameter) fails with an error that
	// matches it too, answered with HTTP 400, code ambiguous_credentials.
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

	// ErrInsufficientPrivilege means the caller's effective privilege is
	// below what the operation needs, or the operation asks for more than
	// the caller has (HTTP 403, code insufficient_privilege). Its precise
	// case "session required" matches it too: a password or second-factor
	// change asked by a credential that may not make it, since such changes
	// come only from an unlocked session of the user (or, for a password
	// reset, an admin's session), never from an API token (HTTP 403, code
	// session_required).
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

	// ErrAlreadyAccountToken means a promote found the token already owned
	// by the account. Promotion is irreversible and happens once.
	ErrAlreadyAccountToken = errors.New("apitoken: token is already an account token")

	// ErrInvalidArgument means an option or field is out of range: an
	// unset privilege, an over-long description, an expiry in the past.
	// Stores return it, too, for an update that changes a field they keep
	// fixed for a record's life (ID, hash, kind, account).
	ErrInvalidArgument = errors.New("apitoken: invalid argument")

	// ErrLimitReached means a user already holds the most live API tokens
	// Options.MaxTokensPerUser allows (HTTP 409, code limit_reached):
	// revoke one first. Its precise case "too many applications" matches it
	// too: the token already records the most application names
	// Options.MaxApps allows, and a new name is refused and not stored
	// (HTTP 403, code too_many_apps).
	ErrLimitReached = errors.New("apitoken: the user holds the most live API tokens allowed; revoke one first")

	// ErrClosed means the Manager or store was closed.
	ErrClosed = errors.New("apitoken: closed")
)

// The precise cases of sentinels: each matches its sentinel with errors.Is
// and carries its own HTTP answer.
var (
	errTooManyApps = &refinedError{ErrLimitReached, "apitoken: too many applications for this token",
		HTTPError{http.StatusForbidden, codeTooManyApps, "this token has reached its limit of applications"}}
	errSessionRequired = &refinedError{ErrInsufficientPrivilege, "apitoken: credential changes need a signed-in session of the user",
		HTTPError{http.StatusForbidden, codeSessionRequired, "password and MFA changes need a signed-in session of the user"}}
	errAmbiguousCredentials = &refinedError{ErrMalformed, "apitoken: request carries two different tokens",
		HTTPError{http.StatusBadRequest, codeAmbiguousCredentials, "the request carries two different tokens"}}
)

// refinedError is a precise case of a sentinel error: errors.Is matches
// the sentinel, and HTTPErrorOf answers with the case's own status and code.
type refinedError struct {
	sentinel error
	msg      string
	answer   HTTPError
}

func (e *refinedError) Error() string        { return e.msg }
func (e *refinedError) Unwrap() error        { return e.sentinel }
func (e *refinedError) HTTPError() HTTPError { return e.answer }
