package apitoken

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Stable machine codes of HTTP failures. Clients switch on these, never on
// messages.
const (
	codeInvalidToken          = "invalid_token"
	codeSessionLocked         = "session_locked"
	codeAppPending            = "app_pending"
	codeAppDenied             = "app_denied"
	codeTooManyApps           = "too_many_apps"
	codeInsufficientPrivilege = "insufficient_privilege"
	codeInsufficientScope     = "insufficient_scope"
	codeAddressNotAllowed     = "address_not_allowed"
	codeAmbiguousCredentials  = "ambiguous_credentials"
	codeInvalidRequest        = "invalid_request"
	codeNotFound              = "not_found"
	codeConflict              = "conflict"
	codeDuplicate             = "duplicate"
	codeLimitReached          = "limit_reached"
	codeSessionRequired       = "session_required"
	codeInternal              = "internal_error"
)

// HTTPError is how the library answers a failure over HTTP: a status, a
// stable code and a message safe to show (it never contains a secret or a
// store's error text).
type HTTPError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the stable machine code clients switch on. HTTPErrorOf
	// answers with: invalid_token (401: a missing, malformed, unknown,
	// revoked or expired token, or one of a disabled user), session_locked
	// (401), app_pending (401), app_denied (403), too_many_apps (403),
	// session_required (403), insufficient_privilege (403),
	// insufficient_scope (403), address_not_allowed (403),
	// ambiguous_credentials (400), invalid_request (400), not_found (404),
	// limit_reached (409), duplicate (409), conflict (409) and
	// internal_error (500). Packages built on this one add their own (see
	// package login, secretscanning); docs/behaviour.md lists them all.
	Code string
	// Message is safe to show a client: no secret, no store error text.
	Message string
}

// errorBody is the JSON shape of every failure response.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// HTTPErrorOf maps an error from this library to its HTTP answer. Missing,
// malformed, unknown, revoked and expired tokens, and tokens of disabled
// users, all map to the same 401, so a client cannot tell them apart.
// An error that carries its own answer (a method HTTPError() HTTPError,
// as package login's errors have) gets that answer, so packages built on
// this one map their errors without this package knowing them. Anything
// unrecognised is a 500 whose message says nothing more.
func HTTPErrorOf(err error) HTTPError {
	var own interface{ HTTPError() HTTPError }
	if errors.As(err, &own) {
		return own.HTTPError()
	}
	var se *StoreError
	if errors.As(err, &se) {
		return HTTPError{http.StatusInternalServerError, codeInternal, "internal error"}
	}
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnknown), errors.Is(err, ErrRevoked),
		errors.Is(err, ErrExpired), errors.Is(err, ErrUserDisabled), errors.Is(err, errMissingToken):
		return HTTPError{http.StatusUnauthorized, codeInvalidToken, "missing or invalid token"}
	case errors.Is(err, ErrSessionLocked):
		return HTTPError{http.StatusUnauthorized, codeSessionLocked, "session locked: complete MFA or log out"}
	case errors.Is(err, ErrAppPending):
		return HTTPError{http.StatusUnauthorized, codeAppPending, "application pending approval by the token's owner"}
	case errors.Is(err, ErrAppDenied):
		return HTTPError{http.StatusForbidden, codeAppDenied, "application denied for this token"}
	case errors.Is(err, ErrInsufficientPrivilege):
		return HTTPError{http.StatusForbidden, codeInsufficientPrivilege, "insufficient privilege"}
	case errors.Is(err, ErrInvalidArgument):
		return HTTPError{http.StatusBadRequest, codeInvalidRequest, safeMessage(err)}
	case errors.Is(err, ErrNotFound):
		return HTTPError{http.StatusNotFound, codeNotFound, "not found"}
	case errors.Is(err, ErrLimitReached):
		return HTTPError{http.StatusConflict, codeLimitReached, "this user holds the most live API tokens allowed; revoke one first"}
	case errors.Is(err, ErrDuplicate):
		return HTTPError{http.StatusConflict, codeDuplicate, safeMessage(err)}
	case errors.Is(err, ErrConflict), errors.Is(err, ErrAlreadyAccountToken):
		return HTTPError{http.StatusConflict, codeConflict, safeMessage(err)}
	}
	return HTTPError{http.StatusInternalServerError, codeInternal, "internal error"}
}

// safeMessage returns the text of a policy error as a client reads it:
// without the "apitoken:" prefix of the library's sentinels and without
// the sentinel's own words where a more precise reason follows them
// ("invalid argument: description longer than 256 bytes" reads
// "description longer than 256 bytes"). Policy errors are built by this
// package from fixed text and bounded, quoted input; a StoreError is never
// passed here.
func safeMessage(err error) string {
	var se *StoreError
	if errors.As(err, &se) {
		return "internal error"
	}
	msg := err.Error()
	for _, s := range []error{ErrInvalidArgument, ErrDuplicate, ErrConflict, ErrInsufficientPrivilege, ErrAlreadyAccountToken} {
		if rest, ok := strings.CutPrefix(msg, s.Error()+": "); ok && errors.Is(err, s) {
			return rest
		}
	}
	return strings.TrimPrefix(msg, "apitoken: ")
}

// humanDuration writes d for people: "3650 days", "1 hour", "90 seconds",
// never Go's "87600h0m0s".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	}
	return unit(int64(d.Round(time.Second)/time.Second), "second")
}

// busyRetryAfter is the Retry-After value, in seconds, sent with a 503
// answer, such as package login's busy one: a login queue drains in well
// under a second.
const busyRetryAfter = "1"

// RetryAfter returns the Retry-After header value, in seconds, that a
// client should get with e, or "" if it should get none: only a 503 answer
// (such as package login's busy one) has one. Write sends it; a host
// that writes its own body for e (an HTML page) sets it itself.
func (e HTTPError) RetryAfter() string {
	if e.Status == http.StatusServiceUnavailable {
		return busyRetryAfter
	}
	return ""
}

// Write writes e as the JSON failure body,
// {"error": {"code": "...", "message": "..."}}. A 401 also gets a
// WWW-Authenticate challenge naming realm; a 503 gets Retry-After.
func (e HTTPError) Write(w http.ResponseWriter, realm string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	}
	if ra := e.RetryAfter(); ra != "" {
		h.Set("Retry-After", ra)
	}
	var body errorBody
	body.Error.Code, body.Error.Message = e.Code, e.Message
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(body)
}
