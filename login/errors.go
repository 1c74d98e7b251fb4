package login

import (
	"net/http"

	"github.com/apitoken/apitoken"
)

// Stable machine codes of this package's HTTP failures, beside the root
// package's. Clients switch on these, never on messages.
const (
	CodeInvalidCredentials = "invalid_credentials"
	CodeInvalidMFACode     = "invalid_mfa_code"
	CodeThrottled          = "throttled"
	CodeMFABlocked         = "mfa_blocked"
	CodeBusy               = "busy"
)

// Sentinel errors of password login and MFA. Compare with errors.Is. Each
// carries its HTTP answer (apitoken.HTTPErrorOf finds it), and none
// contains a secret.
var (
	// ErrBadCredentials means a login failed. Unknown names and wrong
	// passwords give this same error.
	ErrBadCredentials error = newError("apitoken: invalid name or password",
		http.StatusUnauthorized, CodeInvalidCredentials, "invalid name or password")

	// ErrThrottled means too many failed attempts: logins for one name
	// from one client address (until Options.Backoff ends), or for one
	// name from all addresses together (until Options.LoginFailureWindow
	// ends), or MFA codes (Options.MFAWindow). Attempts are refused
	// without checking the password or code.
	ErrThrottled error = newError("apitoken: too many failed attempts, try later",
		http.StatusTooManyRequests, CodeThrottled, "too many failed attempts, try later")

	// ErrBusy means a login was refused without checking the password
	// because the password hashing queue is full or no hashing slot freed
	// in time (Options.MaxQueuedHashes, MaxHashWait). It says nothing
	// about the account; retry after a moment (HTTP 503, code busy, with
	// Retry-After).
	ErrBusy error = newError("apitoken: too many logins in progress, try again shortly",
		http.StatusServiceUnavailable, CodeBusy, "too many logins in progress, try again shortly")

	// ErrBadMFACode means an MFA code was wrong, stale or already used.
	ErrBadMFACode error = newError("apitoken: invalid MFA code",
		http.StatusUnauthorized, CodeInvalidMFACode, "invalid MFA code")

	// ErrMFABlocked means a user reached Options.MaxMFAFailures wrong MFA
	// codes in a row: MFA is refused until an admin clears the count or
	// resets the user's password.
	ErrMFABlocked error = newError("apitoken: too many wrong MFA codes; an admin or a password reset must clear them",
		http.StatusForbidden, CodeMFABlocked, "too many wrong MFA codes: ask an admin to clear them or to reset your password")
)

// errBlockedNow is the wrong code that reached the cap: it is both
// ErrBadMFACode and ErrMFABlocked, and answers as the block.
var errBlockedNow = &loginError{
	msg:  ErrBadMFACode.Error() + " (" + ErrMFABlocked.Error() + ")",
	http: ErrMFABlocked.(*loginError).http,
	is:   []error{ErrBadMFACode, ErrMFABlocked},
}

// loginError is an error of this package with its HTTP answer.
type loginError struct {
	msg  string
	http apitoken.HTTPError
	is   []error // further sentinels it matches
}

func newError(msg string, status int, code, message string) *loginError {
	return &loginError{msg: msg, http: apitoken.HTTPError{Status: status, Code: code, Message: message}}
}

func (e *loginError) Error() string { return e.msg }

// HTTPError is the error's HTTP answer, read by apitoken.HTTPErrorOf.
func (e *loginError) HTTPError() apitoken.HTTPError { return e.http }

// Is matches the further sentinels the error stands for.
func (e *loginError) Is(target error) bool {
	for _, s := range e.is {
		if s == target {
			return true
		}
	}
	return false
}
