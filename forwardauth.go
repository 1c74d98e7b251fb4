package apitoken

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// The headers of forward authentication (Guard.ForwardAuth).
const (
	// headerOriginalURI is the request URI of the forwarded request as
	// nginx configurations conventionally send it to auth_request
	// (proxy_set_header X-Original-URI $request_uri).
	headerOriginalURI = "X-Original-URI"
	// headerForwardedURI is the request URI of the forwarded request as
	// Caddy's forward_auth and Traefik's ForwardAuth send it.
	headerForwardedURI = "X-Forwarded-Uri"

	// headerAuthAccount names the verified credential's account in a
	// ForwardAuth answer.
	headerAuthAccount = "X-Auth-Account"
	// headerAuthUser names the user acted for (empty for account tokens).
	headerAuthUser = "X-Auth-User"
	// headerAuthTokenID is the credential's non-secret ID.
	headerAuthTokenID = "X-Auth-Token-Id"
	// headerAuthPrivilege is the effective privilege: read-only, normal or
	// admin.
	headerAuthPrivilege = "X-Auth-Privilege"
	// headerAuthApp is the application the token was verified for (empty
	// for sessions).
	headerAuthApp = "X-Auth-App"
	// headerAuthScopes is the effective scopes, separated by spaces.
	headerAuthScopes = "X-Auth-Scopes"
	// headerAuthRequestURI is the forwarded request URI with every token
	// query parameter removed (and { and } percent-encoded), sent when the
	// forwarded request's URI is known (headerOriginalURI or
	// headerForwardedURI): a proxy that forwards this URI upstream, rather
	// than the client's, keeps a ?token= secret out of the upstream's URLs
	// and logs.
	headerAuthRequestURI = "X-Auth-Request-Uri"
	// headerAuthRequestQuery is the query of headerAuthRequestURI with
	// its leading '?', or empty when no query remains, for proxies that
	// rewrite only the query and keep their own path (Caddy 2.6:
	// rewrite * {http.request.uri.path}{http.request.header.X-Auth-Request-Query}?).
	headerAuthRequestQuery = "X-Auth-Request-Query"
)

// ForwardAuth returns the handler a reverse proxy calls to authenticate a
// request before forwarding it: nginx's auth_request, Caddy's forward_auth,
// Traefik's ForwardAuth. It reads the credential as the Guard does, from
// the forwarded request's headers (the proxy passes them on) and, when
// GuardOptions.QueryToken is on, from the token parameter of the
// forwarded request's URI (X-Original-URI, as nginx configurations
// conventionally send it, or X-Forwarded-Uri, as Caddy and Traefik do) as
// well as its own URL. It runs the Guard's checks (locked sessions are
// refused) and answers 200 with no body and the identity headers, each
// sent, empty where it does not apply:
//
//	X-Auth-Account        the verified credential's account
//	X-Auth-User           the user acted for (empty for account tokens)
//	X-Auth-Token-Id       the credential's non-secret ID
//	X-Auth-Privilege      the effective privilege: read-only, normal or admin
//	X-Auth-App            the application verified for (empty for sessions)
//	X-Auth-Scopes         the effective scopes, separated by spaces
//	X-Auth-Request-Uri    the forwarded URI with every token parameter removed
//	                      (and { and } percent-encoded), when it is known
//	X-Auth-Request-Query  its query with the leading '?', or empty
//
// A proxy that forwards X-Auth-Request-Uri upstream, rather than the
// client's URI, keeps a ?token= secret out of the upstream's URLs and
// logs; X-Auth-Request-Query serves proxies that rewrite only the query
// (Caddy 2.6: rewrite * {http.request.uri.path}{http.request.header.X-Auth-Request-Query}?).
// A refusal is the Guard's own (OnDeny, OnError; by default the uniform
// 401 and 403 bodies). No answer ever holds the token.
//
// The proxy must copy the identity headers onto the upstream request,
// overwriting any the client sent, and should drop the credential headers
// (Authorization, GuardOptions.Headers) from the upstream request. nginx
// passes only 401 and 403 of an auth_request on to the client and turns
// any other refusal into 500; Caddy passes every refusal on as it is.
// Privilege gates (Require, RequireWriteUnlessSafe) are the upstream's to
// apply from X-Auth-Privilege. A scope gate can be asked of ForwardAuth
// itself: each "scope" parameter of the URL the proxy calls it at
// (auth_request /auth?scope=documents:read) names a scope the credential
// must hold, else the answer is 403 insufficient_scope.
//
// The client address, which token allow-lists are checked against, is
// the proxy's unless GuardOptions.TrustedProxies names the proxy and it
// sends X-Forwarded-For (nginx: proxy_set_header X-Forwarded-For
// $proxy_add_x_forwarded_for). Without that, a token with an allow-list
// works only if the proxy's own address is in it.
func (g *Guard) ForwardAuth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uri := r.Header.Get(headerOriginalURI)
		if uri == "" {
			uri = r.Header.Get(headerForwardedURI)
		}
		c, err := g.extractFrom(r.Header, r.URL.RawQuery,
			uriQuery(r.Header.Get(headerOriginalURI)), uriQuery(r.Header.Get(headerForwardedURI)))
		p, ok := g.authenticate(w, r, c, err, false)
		if !ok {
			return
		}
		if !holdsAskedScopes(p, r.URL.RawQuery) {
			g.fail(w, r, errInsufficientScope)
			return
		}
		// Every identity header is sent, empty when it does not apply, so
		// that a proxy that copies them finds each one (Caddy 2.6 would
		// otherwise copy its own placeholder text).
		h := w.Header()
		h.Set(headerAuthAccount, p.Account)
		h.Set(headerAuthUser, p.UserID)
		h.Set(headerAuthTokenID, p.TokenID)
		h.Set(headerAuthPrivilege, p.Privilege.String())
		h.Set(headerAuthApp, p.App)
		h.Set(headerAuthScopes, strings.Join(p.Scopes, " "))
		if uri != "" {
			if c.fromQuery {
				uri = withoutQueryToken(uri)
			}
			uri = braceEscaper.Replace(uri)
			h.Set(headerAuthRequestURI, uri)
			query := ""
			if i := strings.IndexByte(uri, '?'); i >= 0 && i+1 < len(uri) {
				query = uri[i:]
			}
			h.Set(headerAuthRequestQuery, query)
		}
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}

// holdsAskedScopes reports whether p holds every scope the "scope"
// parameters of raw (ForwardAuth's own query) name, each a space-separated
// list.
func holdsAskedScopes(p Principal, raw string) bool {
	if !strings.Contains(raw, "scope") && !strings.Contains(raw, "%") {
		return true // the common case: nothing asked, nothing parsed
	}
	q, _ := url.ParseQuery(raw)
	for _, v := range q["scope"] {
		for _, s := range strings.Fields(v) {
			if !p.HasScope(s) {
				return false
			}
		}
	}
	return true
}

// braceEscaper percent-encodes { and } (which mean the same encoded), so
// that a proxy that expands placeholders in a URI it rewrites to, as Caddy
// does, finds none that the client wrote.
var braceEscaper = strings.NewReplacer("{", "%7B", "}", "%7D")

// uriQuery returns the raw query of a request URI ("/path?query#frag").
func uriQuery(uri string) string {
	_, q, _ := strings.Cut(uri, "?")
	q, _, _ = strings.Cut(q, "#")
	return q
}

// withoutQueryToken returns a request URI with every token parameter
// removed from its query (and its fragment, which a request URI should
// not have, dropped with it).
func withoutQueryToken(uri string) string {
	path, q, _ := strings.Cut(uri, "?")
	q, _, _ = strings.Cut(q, "#")
	if q = removeQueryParam(q, "token"); q != "" {
		return path + "?" + q
	}
	return path
}

// NewContext returns a copy of ctx that carries p, where FromContext finds
// it. It is for integrations that authenticate outside the Guard, such as
// a gRPC interceptor, so that handlers read the Principal one way.
func NewContext(ctx context.Context, p Principal) context.Context {
	return &principalContext{Context: ctx, p: p}
}
