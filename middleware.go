package apitoken

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/apitoken/apitoken/internal/clientaddr"
)

// Verifier is what the middleware needs: *Manager implements it.
type Verifier interface {
	// Verify checks token for application app; see Manager.Verify.
	Verify(ctx context.Context, token, app string) (Principal, error)
}

// GuardOptions configures a Guard. The zero value means defaults.
type GuardOptions struct {
	// Headers are extra request headers that may carry the token as their
	// whole value, e.g. "X-Circonus-Auth-Token". Authorization (Bearer,
	// and Basic when enabled) is always read.
	Headers []string
	// QueryToken enables the token query parameter (?token=...). Off by
	// default: URLs end up in logs and Referer headers. When a token comes
	// this way the parameter is removed from the request the next handler
	// sees and the response gets Cache-Control: no-store and
	// Referrer-Policy: no-referrer.
	QueryToken bool
	// Basic enables HTTP Basic with the application name as user and the
	// token as password, as Circonus clients send it.
	Basic bool
	// AppHeaders name the application, first non-empty wins. Default
	// "X-App-Name". A Basic user name is used when no header names one;
	// with neither, the Verifier's default name applies.
	AppHeaders []string
	// Realm is named in WWW-Authenticate. Default "api".
	Realm string
	// OnDeny writes 4xx refusals; default e.Write. reason is why the
	// request was refused (it wraps one of the sentinels Manager.Verify
	// lists, or ErrInsufficientPrivilege), for logs: it holds no secret.
	OnDeny func(w http.ResponseWriter, r *http.Request, e HTTPError, reason error)
	// OnError writes 5xx failures (a store outage); default e.Write. The
	// response must not include reason's text.
	OnError func(w http.ResponseWriter, r *http.Request, e HTTPError, reason error)
	// TrustedProxies are the reverse proxies (or, for ForwardAuth, the
	// proxy that calls it) whose X-Forwarded-For gives the client address
	// that token allow-lists (Token.AllowedCIDRs) are checked against and
	// LastUsedIP records. Default none: the address is the connection's
	// peer and the header is never read.
	TrustedProxies []netip.Prefix
}

// addrVerifier is a Verifier that also takes the client address:
// *Manager. The Guard passes the address to one, so that allow-lists
// apply; a Verifier without it is called without, and refuses tokens
// with allow-lists.
type addrVerifier interface {
	VerifyFrom(ctx context.Context, token, app string, addr netip.Addr) (Principal, error)
}

// Guard authenticates requests with tokens. Build it with NewGuard, wrap
// handlers with Handler (or AllowLocked for unlock and logout routes), and
// add privilege gates with Require and RequireWriteUnlessSafe.
type Guard struct {
	v    Verifier
	av   addrVerifier // v, if it takes addresses
	opts GuardOptions
}

// NewGuard returns a Guard over v. A nil opts means defaults.
func NewGuard(v Verifier, opts *GuardOptions) *Guard {
	var o GuardOptions
	if opts != nil {
		o = *opts
	}
	if len(o.AppHeaders) == 0 {
		o.AppHeaders = []string{"X-App-Name"}
	}
	setDefault(&o.Realm, "api")
	o.Headers = append([]string(nil), o.Headers...)
	for i, h := range o.Headers {
		o.Headers[i] = http.CanonicalHeaderKey(h)
	}
	o.TrustedProxies = append([]netip.Prefix(nil), o.TrustedProxies...)
	g := &Guard{v: v, opts: o}
	g.av, _ = v.(addrVerifier)
	return g
}

type ctxKey int

const principalKey ctxKey = 0

// FromContext returns the Principal the Guard put in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	pc, ok := ctx.Value(principalKey).(*principalContext)
	if !ok {
		return Principal{}, false
	}
	return pc.p, true
}

// principalContext is a context carrying a Principal. Its Value answers
// principalKey with the principalContext itself, so storing and reading a
// Principal costs this one allocation and no boxing.
type principalContext struct {
	context.Context
	p Principal
}

func (c *principalContext) Value(key any) any {
	if key == principalKey {
		return c
	}
	return c.Context.Value(key)
}

// errMissingToken means the request carried no token at all.
var errMissingToken = errors.New("apitoken: no token in request")

// credentials is what extract finds in a request.
type credentials struct {
	token     string
	app       string
	fromQuery bool
}

// extract finds the request's token and application name without
// verifying anything. Every place a token can be is read; two different
// tokens are ErrMalformed (code ambiguous_credentials).
func (g *Guard) extract(r *http.Request) (credentials, error) {
	return g.extractFrom(r.Header, r.URL.RawQuery)
}

// extractFrom is extract over headers h and raw query strings (read only
// when QueryToken is on): the request's own, and for forward
// authentication the forwarded request's too.
func (g *Guard) extractFrom(h http.Header, rawQueries ...string) (credentials, error) {
	var c credentials
	var basicUser string
	add := func(tok string) error {
		tok = strings.TrimSpace(tok)
		switch {
		case tok == "":
			return nil
		case c.token == "":
			c.token = tok
		case c.token != tok:
			return errAmbiguousCredentials
		}
		return nil
	}
	for _, v := range h.Values("Authorization") {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(v), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			if err := add(rest); err != nil {
				return c, err
			}
		case strings.EqualFold(scheme, "Basic") && g.opts.Basic:
			user, pass, ok := parseBasic(strings.TrimSpace(rest))
			if !ok {
				return c, ErrMalformed
			}
			basicUser = user
			if err := add(pass); err != nil {
				return c, err
			}
		default:
			return c, ErrMalformed // an Authorization scheme we do not take
		}
	}
	for _, name := range g.opts.Headers {
		for _, v := range h.Values(name) {
			if err := add(v); err != nil {
				return c, err
			}
		}
	}
	for _, raw := range rawQueries {
		if !g.opts.QueryToken || raw == "" {
			continue
		}
		q, err := url.ParseQuery(raw)
		if err != nil && !q.Has("token") {
			q = nil // an unparsable query without a token is the handler's business
		}
		for _, v := range q["token"] {
			c.fromQuery = true
			if err := add(v); err != nil {
				return c, err
			}
		}
	}
	if c.token == "" {
		return c, errMissingToken
	}
	for _, name := range g.opts.AppHeaders {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			c.app = v
			break
		}
	}
	if c.app == "" {
		c.app = basicUser
	}
	return c, nil
}

func parseBasic(s string) (user, pass string, ok bool) {
	if len(s) > 4*maxTokenLength {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(b), ":")
}

// Check authenticates r without writing a response or changing r: it
// extracts the token and application name and verifies them. It is the
// Guard's whole decision, for tests and custom integrations. A locked
// session returns its Principal with ErrSessionLocked.
func (g *Guard) Check(r *http.Request) (Principal, error) {
	c, err := g.extract(r)
	if err != nil {
		return Principal{}, err
	}
	return g.verify(r, c)
}

// verify verifies c, from r's client address when the Verifier takes
// one.
func (g *Guard) verify(r *http.Request, c credentials) (Principal, error) {
	if g.av != nil {
		return g.av.VerifyFrom(r.Context(), c.token, c.app, clientaddr.Of(r, g.opts.TrustedProxies))
	}
	return g.v.Verify(r.Context(), c.token, c.app)
}

// Handler returns middleware that lets through only requests with a valid
// token (and an unlocked session), with the Principal in the context.
func (g *Guard) Handler(next http.Handler) http.Handler { return g.handler(next, false) }

// AllowLocked is Handler for the routes a locked session may use: MFA
// unlock and logout.
func (g *Guard) AllowLocked(next http.Handler) http.Handler { return g.handler(next, true) }

func (g *Guard) handler(next http.Handler, allowLocked bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := g.extract(r)
		if p, ok := g.authenticate(w, r, c, err, allowLocked); ok {
			next.ServeHTTP(w, g.downstream(r, p, c.fromQuery))
		}
	})
}

// authenticate finishes the authentication of r from the credentials
// extraction found in it (c, or the extraction's error err): it verifies
// them, answers a refusal itself, and reports whether r may go on. Handler
// and ForwardAuth share it.
func (g *Guard) authenticate(w http.ResponseWriter, r *http.Request, c credentials, err error, allowLocked bool) (Principal, bool) {
	if c.fromQuery {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
	}
	var p Principal
	if err == nil {
		p, err = g.verify(r, c)
		if allowLocked && errors.Is(err, ErrSessionLocked) {
			err = nil
		}
	}
	if err != nil {
		g.fail(w, r, err)
		return p, false
	}
	return p, true
}

// downstream is the request the next handler sees: the Principal in its
// context and every credential removed, so no secret travels further.
// The credential headers are deleted from r's own header map rather than
// from a copy: no handler after the Guard sees the secret, nor does
// middleware outside it once the request has been handled, and the hot
// path copies no header.
func (g *Guard) downstream(r *http.Request, p Principal, fromQuery bool) *http.Request {
	delete(r.Header, "Authorization")
	for _, h := range g.opts.Headers { // canonical since NewGuard
		delete(r.Header, h)
	}
	r2 := r.WithContext(NewContext(r.Context(), p))
	if fromQuery {
		// Removed from r's own URL too, like the headers: middleware
		// outside the Guard must not log the secret afterwards.
		r.URL.RawQuery = removeQueryParam(r.URL.RawQuery, "token")
		r.RequestURI = r.URL.RequestURI()
		r.Form, r.PostForm = nil, nil
		r2.URL, r2.RequestURI, r2.Form, r2.PostForm = r.URL, r.RequestURI, nil, nil
	}
	return r2
}

// removeQueryParam drops every name=... pair from a raw query, keeping the
// rest byte for byte.
func removeQueryParam(raw, name string) string {
	var kept []string
	for _, pair := range strings.Split(raw, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name || k == name {
			continue
		}
		if pair != "" {
			kept = append(kept, pair)
		}
	}
	return strings.Join(kept, "&")
}

// fail answers a refused request through OnDeny or OnError.
func (g *Guard) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := HTTPErrorOf(err)
	switch {
	case e.Status >= 500 && g.opts.OnError != nil:
		g.opts.OnError(w, r, e, err)
	case e.Status < 500 && g.opts.OnDeny != nil:
		g.opts.OnDeny(w, r, e, err)
	default:
		e.Write(w, g.opts.Realm)
	}
}

// Require returns a gate that lets through only principals with at least
// privilege min; others get 403 insufficient_privilege. Use it inside
// Handler.
func (g *Guard) Require(min Privilege) func(http.Handler) http.Handler {
	return g.gate(func(*http.Request) Privilege { return min })
}

// RequireWriteUnlessSafe returns a gate that lets read-only credentials
// through on GET, HEAD and OPTIONS only; other methods need Normal.
func (g *Guard) RequireWriteUnlessSafe() func(http.Handler) http.Handler {
	return g.gate(func(r *http.Request) Privilege {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return ReadOnly
		}
		return Normal
	})
}

// errInsufficientScope refuses a credential without the scope a
// RequireScope gate asks for: 403 insufficient_scope.
var errInsufficientScope = &refinedError{ErrInsufficientPrivilege, "apitoken: the credential lacks a required scope",
	HTTPError{http.StatusForbidden, codeInsufficientScope, "this credential lacks a scope the request needs"}}

// RequireScope returns a gate that lets through only principals whose
// effective scopes (Principal.Scopes) include every one of scopes; others
// get 403 insufficient_scope. Use it inside Handler. A scope the
// Manager's vocabulary does not declare is held by nobody, so such a gate
// refuses everyone.
func (g *Guard) RequireScope(scopes ...string) func(http.Handler) http.Handler {
	scopes = append([]string(nil), scopes...)
	return func(next http.Handler) http.Handler {
		return g.gate(func(*http.Request) Privilege { return ReadOnly })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := FromContext(r.Context()) // gate checked it is there
			for _, s := range scopes {
				if !p.HasScope(s) {
					g.fail(w, r, errInsufficientScope)
					return
				}
			}
			next.ServeHTTP(w, r)
		}))
	}
}

func (g *Guard) gate(min func(*http.Request) Privilege) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := FromContext(r.Context())
			if !ok {
				g.fail(w, r, errMissingToken) // a gate outside Handler fails closed
				return
			}
			if p.Kind == KindSession && !p.Unlocked {
				// AllowLocked lets a locked session reach unlock and logout
				// routes; a privilege gate is never one of them.
				g.fail(w, r, ErrSessionLocked)
				return
			}
			if !p.Privilege.AtLeast(min(r)) {
				g.fail(w, r, ErrInsufficientPrivilege)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
