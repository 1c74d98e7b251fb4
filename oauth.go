package apitoken

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
)

// DefaultMaxFormBody bounds the form body of the introspection and
// revocation endpoints, in bytes, when their options leave it at zero. A
// token and a type hint take well under 1 KiB.
const DefaultMaxFormBody = 4 << 10

// inactiveBody is the one answer for every token that is not valid.
var inactiveBody = []byte(`{"active":false}`)

// Errors of the introspection and revocation request parser.
var (
	errFormMethod    = errors.New("apitoken: use POST")
	errFormType      = errors.New("apitoken: the body must be application/x-www-form-urlencoded")
	errFormTooLarge  = errors.New("apitoken: request body too large")
	errFormSyntax    = errors.New("apitoken: the body is not a valid form")
	errFormNoToken   = errors.New("apitoken: the token parameter is missing")
	errFormRepeated  = errors.New("apitoken: a parameter is repeated")
	errFormReadError = errors.New("apitoken: reading the request body failed")
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
	e := HTTPError{Status: http.StatusBadRequest, Code: CodeInvalidRequest, Message: err.Error()[len("apitoken: "):]}
	switch err {
	case errFormMethod:
		w.Header().Set("Allow", http.MethodPost)
		e.Status = http.StatusMethodNotAllowed
	case errFormType:
		e.Status = http.StatusUnsupportedMediaType
	case errFormTooLarge:
		e.Status = http.StatusRequestEntityTooLarge
	}
	WriteError(w, e, realm)
}

// IntrospectionOptions configures IntrospectionHandler. The zero value
// means defaults.
type IntrospectionOptions struct {
	// Allow decides which authenticated callers may introspect. Default
	// AccountAdminToken: account tokens of admin privilege, the
	// credentials of services rather than people.
	Allow func(caller Principal) bool
	// MaxBody bounds the request body in bytes. Default
	// DefaultMaxFormBody.
	MaxBody int64
	// Realm is named in WWW-Authenticate. Default "api".
	Realm string
}

// AccountAdminToken reports whether p is an account token of admin
// privilege: IntrospectionOptions.Allow's default.
func AccountAdminToken(p Principal) bool {
	return p.Kind == KindAPI && p.Owner == OwnerAccount && p.Privilege.AtLeast(Admin)
}

// IntrospectionHandler returns the token introspection endpoint of RFC
// 7662 over m. Mount it inside a Guard, which authenticates the caller:
//
//	mux.Handle("POST /introspect", g.Handler(m.IntrospectionHandler(nil)))
//
// A caller with no Principal in its context, or one that
// IntrospectionOptions.Allow refuses, gets 401 insufficient_privilege. The
// request is a form-encoded POST with token= (and an optional
// token_type_hint, ignored); the answer is Manager.Introspect's as JSON,
// and for every token that is not active, whatever the reason, the same
// bytes: {"active":false}. A malformed request gets 400 (405 for another
// method, 413 for a body over MaxBody, 415 for another content type); a
// store failure 500. Answers are never cached (Cache-Control: no-store).
func (m *Manager) IntrospectionHandler(opts *IntrospectionOptions) http.Handler {
	var o IntrospectionOptions
	if opts != nil {
		o = *opts
	}
	if o.Allow == nil {
		o.Allow = AccountAdminToken
	}
	setDefault(&o.MaxBody, DefaultMaxFormBody)
	setDefault(&o.Realm, "api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		caller, ok := FromContext(r.Context())
		if !ok || !o.Allow(caller) {
			WriteError(w, HTTPError{Status: http.StatusUnauthorized, Code: CodeInsufficientPrivilege,
				Message: "this credential may not introspect tokens"}, o.Realm)
			return
		}
		tok, err := tokenForm(w, r, o.MaxBody)
		if err != nil {
			writeFormError(w, err, o.Realm)
			return
		}
		in, err := m.Introspect(r.Context(), caller, tok)
		if err != nil {
			WriteError(w, HTTPErrorOf(err), o.Realm)
			return
		}
		body := inactiveBody
		if in.Active {
			if body, err = json.Marshal(in); err != nil {
				WriteError(w, HTTPErrorOf(err), o.Realm)
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
func (m *Manager) RevocationHandler(opts *RevocationOptions) http.Handler {
	var o RevocationOptions
	if opts != nil {
		o = *opts
	}
	setDefault(&o.MaxBody, DefaultMaxFormBody)
	setDefault(&o.Realm, "api")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		tok, err := tokenForm(w, r, o.MaxBody)
		if err != nil {
			writeFormError(w, err, o.Realm)
			return
		}
		if err := m.RevokeSecret(r.Context(), tok); err != nil && !errors.Is(err, ErrMalformed) {
			WriteError(w, HTTPErrorOf(err), o.Realm)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}
