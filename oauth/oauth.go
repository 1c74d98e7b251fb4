// Package oauth serves OAuth 2.0 token introspection (RFC 7662) and token
// revocation (RFC 7009) over an apitoken Manager, for services that check
// tokens issued elsewhere. It is built on the apitoken package's exported
// API: Manager.Introspect and Manager.RevokeSecret.
package oauth

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/apitoken/apitoken"
)

// DefaultMaxFormBody bounds the form body of the introspection and
// revocation endpoints, in bytes, when their options leave it at zero. A
// token and a type hint take well under 1 KiB.
const DefaultMaxFormBody = 4 << 10

// Introspection is what token introspection (RFC 7662) says of a token.
// Its JSON form is the RFC's response: a token that is not valid for the
// caller is exactly {"active":false}, whatever the reason.
type Introspection struct {
	// Active is true only for a token that verifies.
	Active bool `json:"active"`
	// Subject is the user acted for, or the account for an account token
	// (Owner tells which).
	Subject string `json:"sub,omitempty"`
	// Expires is when the token stops working, in Unix seconds: its
	// expiry, or for a session the earlier of its absolute and idle ends.
	Expires int64 `json:"exp,omitempty"`
	// IssuedAt is when the token was issued, in Unix seconds.
	IssuedAt int64 `json:"iat,omitempty"`
	// TokenType is "Bearer": every token of this library is a bearer token.
	TokenType string `json:"token_type,omitempty"`
	// TokenID is the token's non-secret ID (the RFC's jti).
	TokenID string `json:"jti,omitempty"`
	// Account is the account the token acts in.
	Account string `json:"account,omitempty"`
	// Owner is "user" or "account".
	Owner string `json:"owner,omitempty"`
	// Kind is "api" or "session".
	Kind string `json:"kind,omitempty"`
	// Privilege is the effective privilege: "read-only", "normal" or
	// "admin". The library has no OAuth scopes, so there is no scope
	// member.
	Privilege string `json:"privilege,omitempty"`
}

// introspection is the RFC 7662 answer for what Manager.Introspect
// returned.
func introspection(p apitoken.Principal, issued, expires time.Time) Introspection {
	if p.TokenID == "" {
		return Introspection{}
	}
	in := Introspection{Active: true, Subject: p.UserID, TokenType: "Bearer", TokenID: p.TokenID,
		Account: p.Account, Owner: p.Owner.String(), Kind: p.Kind.String(), Privilege: p.Privilege.String(),
		Expires: expires.Unix(), IssuedAt: issued.Unix()}
	if p.Owner == apitoken.OwnerAccount {
		in.Subject = p.Account
	}
	return in
}

// inactiveBody is the one answer for every token that is not valid.
var inactiveBody = []byte(`{"active":false}`)

// Errors of the introspection and revocation request parser.
var (
	errFormMethod    = errors.New("use POST")
	errFormType      = errors.New("the body must be application/x-www-form-urlencoded")
	errFormTooLarge  = errors.New("request body too large")
	errFormSyntax    = errors.New("the body is not a valid form")
	errFormNoToken   = errors.New("the token parameter is missing")
	errFormRepeated  = errors.New("a parameter is repeated")
	errFormReadError = errors.New("reading the request body failed")
)

// tokenForm reads the form-encoded body of an introspection (RFC 7662) or
// revocation (RFC 7009) request: a POST whose body, at most max bytes,
// holds exactly one non-empty token parameter and at most one
// token_type_hint (read and ignored, as the RFCs allow). Other parameters
// are ignored. The URL's query is never read: a token there would already
// be in logs, and the Guard may have taken the caller's own credential
// from it. A parser error never holds the input.
func tokenForm(w http.ResponseWriter, r *http.Request, max int64) (string, error) {
	if r.Method != http.MethodPost {
		return "", errFormMethod
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return "", errFormType
	}
	if r.ContentLength > max {
		return "", errFormTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", errFormTooLarge
		}
		return "", errFormReadError
	}
	return parseTokenForm(string(body))
}

// parseTokenForm is tokenForm's parser of the body itself.
func parseTokenForm(body string) (string, error) {
	form, err := url.ParseQuery(body)
	if err != nil {
		return "", errFormSyntax
	}
	if len(form["token"]) > 1 || len(form["token_type_hint"]) > 1 {
		return "", errFormRepeated // RFC 6749 3.1: no parameter more than once
	}
	tok := form.Get("token")
	if tok == "" {
		return "", errFormNoToken
	}
	return tok, nil
}

// writeFormError answers a parser error in the library's JSON error shape.
func writeFormError(w http.ResponseWriter, err error, realm string) {
	e := apitoken.HTTPError{Status: http.StatusBadRequest, Code: "invalid_request", Message: err.Error()}
	switch err {
	case errFormMethod:
		w.Header().Set("Allow", http.MethodPost)
		e.Status = http.StatusMethodNotAllowed
	case errFormType:
		e.Status = http.StatusUnsupportedMediaType
	case errFormTooLarge:
		e.Status = http.StatusRequestEntityTooLarge
	}
	e.Write(w, realm)
}

// IntrospectionOptions configures IntrospectionHandler. The zero value
// means defaults.
type IntrospectionOptions struct {
	// Allow decides which authenticated callers may introspect. Default
	// AccountAdminToken: account tokens of admin privilege, the
	// credentials of services rather than people.
	Allow func(caller apitoken.Principal) bool
	// MaxBody bounds the request body in bytes. Default
	// DefaultMaxFormBody.
	MaxBody int64
	// Realm is named in WWW-Authenticate. Default "api".
	Realm string
}

// AccountAdminToken reports whether p is an account token of admin
// privilege: IntrospectionOptions.Allow's default.
func AccountAdminToken(p apitoken.Principal) bool {
	return p.Kind == apitoken.KindAPI && p.Owner == apitoken.OwnerAccount && p.Privilege.AtLeast(apitoken.Admin)
}

// IntrospectionHandler returns the token introspection endpoint of RFC
// 7662 over m. Mount it inside a Guard, which authenticates the caller:
//
//	mux.Handle("POST /introspect", g.Handler(oauth.IntrospectionHandler(m, nil)))
//
// A caller with no Principal in its context, or one that
// IntrospectionOptions.Allow refuses, gets 401 insufficient_privilege. The
// request is a form-encoded POST with token= (and an optional
// token_type_hint, ignored); the answer is Manager.Introspect's as JSON (see Introspection),
// and for every token that is not active, whatever the reason, the same
// bytes: {"active":false}. A malformed request gets 400 (405 for another
// method, 413 for a body over MaxBody, 415 for another content type); a
// store failure 500. Answers are never cached (Cache-Control: no-store).
func IntrospectionHandler(m *apitoken.Manager, opts *IntrospectionOptions) http.Handler {
	var o IntrospectionOptions
	if opts != nil {
		o = *opts
	}
	if o.Allow == nil {
		o.Allow = AccountAdminToken
	}
	o.MaxBody, o.Realm = orDefault(o.MaxBody, DefaultMaxFormBody), orDefault(o.Realm, "api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		caller, ok := apitoken.FromContext(r.Context())
		if !ok || !o.Allow(caller) {
			apitoken.HTTPError{Status: http.StatusUnauthorized, Code: "insufficient_privilege",
				Message: "this credential may not introspect tokens"}.Write(w, o.Realm)
			return
		}
		tok, err := tokenForm(w, r, o.MaxBody)
		if err != nil {
			writeFormError(w, err, o.Realm)
			return
		}
		p, issued, expires, err := m.Introspect(r.Context(), caller, tok)
		if err != nil {
			apitoken.HTTPErrorOf(err).Write(w, o.Realm)
			return
		}
		body := inactiveBody
		if in := introspection(p, issued, expires); in.Active {
			if body, err = json.Marshal(in); err != nil {
				apitoken.HTTPErrorOf(err).Write(w, o.Realm)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
}

// RevocationOptions configures RevocationHandler. The zero value means
// defaults.
type RevocationOptions struct {
	// MaxBody bounds the request body in bytes. Default
	// DefaultMaxFormBody.
	MaxBody int64
	// Realm is named in WWW-Authenticate. Default "api".
	Realm string
}

// RevocationHandler returns the token revocation endpoint of RFC 7009 over
// m: a form-encoded POST with token= (and an optional token_type_hint,
// ignored) revokes that token by possession (Manager.RevokeSecret), with
// no other credential, and answers 200 with an empty body whatever the
// token's state: live, already revoked, unknown or not a token at all, as
// RFC 7009 section 2.2 says. A malformed request gets 400 (405, 413, 415
// as for IntrospectionHandler); a store failure 500.
func RevocationHandler(m *apitoken.Manager, opts *RevocationOptions) http.Handler {
	var o RevocationOptions
	if opts != nil {
		o = *opts
	}
	o.MaxBody, o.Realm = orDefault(o.MaxBody, DefaultMaxFormBody), orDefault(o.Realm, "api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		tok, err := tokenForm(w, r, o.MaxBody)
		if err != nil {
			writeFormError(w, err, o.Realm)
			return
		}
		if err := m.RevokeSecret(r.Context(), tok); err != nil && !errors.Is(err, apitoken.ErrMalformed) {
			apitoken.HTTPErrorOf(err).Write(w, o.Realm)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// orDefault returns v, or def if v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
