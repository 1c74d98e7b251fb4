package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/secretscanning"
	"github.com/apitoken/apitoken/tokenpage"
)

// server is the HTTP API over one Manager.
type server struct {
	m       *apitoken.Manager
	logins  *login.Service // password login and MFA of the Store's users
	store   apitoken.Store
	guard   *apitoken.Guard
	docs    []document
	log     *slog.Logger
	maxBody int64
	// trusted are the reverse proxies whose X-Forwarded-For gives the
	// client address (the -trusted-proxies flag).
	trusted []netip.Prefix
	// scan receives secret-scanning alerts; nil without
	// -secret-scanning-keys.
	scan *secretscanning.Handler
	// stopMetrics exports pending metrics and stops; nil without -metrics.
	stopMetrics func(context.Context) error
}

func newServer(m *apitoken.Manager, logins *login.Service, store apitoken.Store, logger *slog.Logger, maxBody int64) *server {
	return &server{
		m:       m,
		logins:  logins,
		store:   store,
		guard:   newGuard(m, nil),
		docs:    demoDocuments(),
		log:     logger,
		maxBody: maxBody,
	}
}

// newGuard returns the server's Guard; trusted are the reverse proxies
// whose X-Forwarded-For gives the client address, which token
// allow-lists are checked against.
func newGuard(m *apitoken.Manager, trusted []netip.Prefix) *apitoken.Guard {
	return apitoken.NewGuard(m, &apitoken.GuardOptions{
		Headers:        []string{"X-Circonus-Auth-Token"},
		QueryToken:     true, // the seeds pass ?token= on every call
		Basic:          true, // Circonus clients send app:token
		AppHeaders:     []string{"X-Circonus-App-Name", "X-App-Name"},
		TrustedProxies: trusted,
	})
}

// The server's scope vocabulary: what each role holds beyond the roles
// below it (apitoken.Options.Scopes). A token without scopes holds all
// of its privilege's, so the API behaves for it as it did before scopes.
const (
	scopeDocumentsRead  = "documents:read"
	scopeDocumentsWrite = "documents:write"
	scopeKeysRead       = "keys:read"
	scopeKeysManage     = "keys:manage"
	scopeUsersManage    = "users:manage"
)

var scopesByRole = map[apitoken.Privilege][]string{
	apitoken.ReadOnly: {scopeDocumentsRead, scopeKeysRead},
	apitoken.Normal:   {scopeDocumentsWrite, scopeKeysManage},
	apitoken.Admin:    {scopeUsersManage},
}

// routeScopes names the scope each route needs beyond its privilege
// rules; routes not listed need none (sign-in, MFA, which take a session
// anyway, and health checks).
var routeScopes = map[string]string{
	"POST /api/key":                 scopeKeysManage,
	"GET /api/key":                  scopeKeysRead,
	"DELETE /api/key/{id}":          scopeKeysManage, // by ID; revoking by possession needs nothing
	"PATCH /api/key/{id}":           scopeKeysManage,
	"POST /api/key/{id}/promote":    scopeKeysManage,
	"PUT /api/key/{id}/apps/{name}": scopeKeysManage,
	"POST /api/key/{id}/rotate":     scopeKeysManage,
	"POST /users":                   scopeUsersManage,
	"GET /users":                    scopeUsersManage,
	"POST /search":                  scopeDocumentsRead,
	"POST /introspect":              scopeKeysRead,
}

// roleHolds reports whether privilege p holds scope sc.
func roleHolds(p apitoken.Privilege, sc string) bool {
	for q := apitoken.ReadOnly; q <= p && p.Valid(); q++ {
		if slices.Contains(scopesByRole[q], sc) {
			return true
		}
	}
	return false
}

// requireScope gates next on scope sc, for credentials whose privilege
// holds sc but whose token was narrowed without it: they get 403
// insufficient_scope. A credential whose privilege lacks sc goes on to
// the handler, whose privilege rules refuse it as they always did (so an
// unscoped token gets the same answers as before scopes existed).
func (s *server) requireScope(sc string, next http.Handler) http.Handler {
	gated := s.guard.RequireScope(sc)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := principal(r); !p.HasScope(sc) && roleHolds(p.Privilege, sc) {
			gated.ServeHTTP(w, r) // refuses
			return
		}
		next.ServeHTTP(w, r)
	})
}

// declaredScopes are the scopes token t carries: its own, or all its
// privilege holds when it names none.
func declaredScopes(t *apitoken.Token) []string {
	if len(t.Scopes) > 0 {
		return t.Scopes
	}
	var out []string
	for p := apitoken.ReadOnly; p <= t.Privilege && t.Privilege.Valid(); p++ {
		out = append(out, scopesByRole[p]...)
	}
	slices.Sort(out)
	return out
}

// close flushes last-used data and closes the database.
func (s *server) close() {
	if err := s.m.Close(); err != nil {
		s.log.Error("flushing last-used data", "err", err)
	}
	s.store.Close()
	if s.stopMetrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.stopMetrics(ctx); err != nil {
			s.log.Error("exporting metrics", "err", err)
		}
	}
}

// route is one registered endpoint; the OpenAPI test walks this table.
type route struct {
	method, path string
	auth         authMode
	h            func(w http.ResponseWriter, r *http.Request) error
}

type authMode int

const (
	public      authMode = iota // no token
	authed                      // a token, an unlocked session
	lockedOK                    // a token, locked sessions too (unlock, logout)
	authHandled                 // the handler decides (revoke by possession)
)

const base = "/api/v1"

func (s *server) routeTable() []route {
	return []route{
		{"POST", "/login", public, s.login},
		{"POST", "/login/unlock", lockedOK, s.unlock},
		{"GET", "/logout", lockedOK, s.logout},
		{"POST", "/api/key", authed, s.createKey},
		{"GET", "/api/key", authed, s.listKeys},
		{"DELETE", "/api/key/{id}", authHandled, s.deleteKey},
		{"PATCH", "/api/key/{id}", authed, s.updateKey},
		{"POST", "/api/key/{id}/promote", authed, s.promoteKey},
		{"PUT", "/api/key/{id}/apps/{name}", authed, s.setAppState},
		{"POST", "/api/key/{id}/rotate", authed, s.rotateKey},
		{"POST", "/users", authed, s.createUser},
		{"GET", "/users", authed, s.listUsers},
		{"PATCH", "/users/{id}", authed, s.updateUser},
		{"POST", "/mfa", authed, s.enrollMFA},
		{"POST", "/mfa/confirm", authed, s.confirmMFA},
		{"DELETE", "/mfa", authed, s.removeMFA},
		{"POST", "/search", authed, s.search},
		{"GET", "/ping", authed, s.ok},   // the cheapest authenticated call
		{"GET", "/health", public, s.ok}, // the same without a credential
		{"GET", "/openapi.json", public, s.openAPI},
		// For services behind a reverse proxy, and services that did not
		// issue the tokens they see (proxies.go).
		{"GET", "/forward-auth", authHandled, s.forwardAuth},
		{"POST", "/introspect", authed, s.introspect},
		{"POST", "/revoke", public, s.revokeByPossession},
		{"POST", "/secret-scanning", authHandled, s.secretScanning}, // signed by the scanner
	}
}

// routes returns the server's handler: every route under /api/v1, wrapped
// by the Guard as its table says, with errors answered in the library's
// JSON shape and an access log that never records query strings or token
// strings.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routeTable() {
		h := s.handle(rt.h)
		if sc := routeScopes[rt.method+" "+rt.path]; sc != "" && rt.auth == authed {
			h = s.requireScope(sc, h)
		}
		switch rt.auth {
		case authed:
			h = s.guard.Handler(h)
		case lockedOK:
			h = s.guard.AllowLocked(h)
		}
		mux.Handle(rt.method+" "+base+rt.path, h)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		apitoken.HTTPError{Status: http.StatusNotFound, Code: "not_found", Message: "no such endpoint"}.Write(w, "api")
	})
	// The token management page for people, beside the API for programs.
	mux.Handle("/", tokenpage.New(s.m, &tokenpage.Options{Login: s.logins, Logger: s.log, TrustedProxies: s.trusted, QRCode: qrModules}))
	return s.accessLog(mux)
}

// handle adapts a handler that returns an error.
func (s *server) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeErr(w, r, err)
		}
	})
}

// writeErr answers err: body problems with their own status, everything
// else through the library's mapping. 5xx causes are logged, not sent.
func (s *server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var be *errBody
	if errors.As(err, &be) {
		apitoken.HTTPError{Status: be.status, Code: be.code, Message: be.msg}.Write(w, "api")
		return
	}
	e := apitoken.HTTPErrorOf(err)
	if e.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", redactPath(r.URL.Path), "err", err)
	}
	e.Write(w, "api")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		next.ServeHTTP(rec, r)
		s.log.Info("request", "method", r.Method, "path", redactPath(r.URL.Path), "status", rec.status, "ms", time.Since(start).Milliseconds())
	})
}

// redactPath hides token strings in a path (DELETE /api/key/<token>),
// wherever they are: apitoken.Redact, unlike apitoken.Pattern, also finds a
// token glued to letters, digits or underscores (/api/key/xatk_...) and one
// with a wrong checksum.
func redactPath(p string) string { return apitoken.Redact(p) }

func principal(r *http.Request) apitoken.Principal {
	p, _ := apitoken.FromContext(r.Context())
	return p
}

// --- sessions ---

type loginRequest struct {
	Name        string `json:"name"`
	Password    string `json:"password"`
	ReturnToken bool   `json:"returnToken"`
}

type userView struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Privilege apitoken.Privilege `json:"privilege"`
	Disabled  bool               `json:"disabled"`
	MFA       bool               `json:"mfa"`
	Created   time.Time          `json:"created"`
}

func viewUser(u *apitoken.User) userView {
	return userView{ID: u.ID, Name: u.Name, Privilege: u.Role, Disabled: u.Disabled, MFA: len(u.MFASecret) > 0, Created: u.Created.UTC()}
}

// rights lists what a role may do, as the seed's login response does.
func rights(p apitoken.Privilege) []string {
	r := []string{"documents.read"}
	if p.AtLeast(apitoken.Normal) {
		r = append(r, "documents.write", "apiKeys.manage")
	}
	if p.AtLeast(apitoken.Admin) {
		r = append(r, "apiKeys.account", "users.manage")
	}
	return r
}

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	l, err := s.logins.Login(r.Context(), req.Name, req.Password, login.ClientAddr(r, s.trusted))
	if err != nil {
		return err
	}
	resp := map[string]any{
		"logged": true, "isUnlocked": l.Token.Unlocked, "tenant": l.User.Account, "user": viewUser(l.User),
		"settings": map[string]any{"idleTimeoutSeconds": int(sessionIdleTimeout.Seconds())},
		"rights":   rights(l.User.Role),
	}
	if req.ReturnToken {
		resp["token"] = l.Secret
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) unlock(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if err := s.logins.Unlock(r.Context(), principal(r), req.Code); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"isUnlocked": true})
	return nil
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.Kind != apitoken.KindSession {
		return fmt.Errorf("%w: only a session token logs out; revoke API tokens with DELETE /api/key/{id}", apitoken.ErrInvalidArgument)
	}
	if err := s.m.Logout(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"logged": false})
	return nil
}

// mfaCode is the body of the MFA routes: a current code where one is
// needed (confirming, or replacing or removing an active secret).
type mfaCode struct {
	Code string `json:"code"`
}

// enrollMFA answers a pending secret; it counts for logins only once
// confirmed with POST /mfa/confirm.
func (s *server) enrollMFA(w http.ResponseWriter, r *http.Request) error {
	var req mfaCode
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	enr, err := s.logins.EnrollMFA(r.Context(), principal(r), req.Code)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"secret": enr.Secret, "otpauthUrl": enr.URL, "pending": true})
	return nil
}

func (s *server) confirmMFA(w http.ResponseWriter, r *http.Request) error {
	var req mfaCode
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if err := s.logins.ConfirmMFA(r.Context(), principal(r), req.Code); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"mfa": true})
	return nil
}

func (s *server) removeMFA(w http.ResponseWriter, r *http.Request) error {
	var req mfaCode
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if err := s.logins.RemoveMFA(r.Context(), principal(r), req.Code); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"mfa": false})
	return nil
}

// --- API keys ---

// keyView is a token as listings show it: the ID, never the secret.
type keyView struct {
	ID              string             `json:"id"`
	Description     string             `json:"description"`
	Created         time.Time          `json:"created"`
	LastUsed        *time.Time         `json:"lastUsed"`
	Expires         time.Time          `json:"expires"`
	APIKeyType      string             `json:"apiKeyType"`
	Privilege       apitoken.Privilege `json:"privilege"`
	Owner           apitoken.Owner     `json:"owner"`
	Hint            string             `json:"hint"`
	DefaultAppState apitoken.AppState  `json:"defaultAppState"`
	Lineage         string             `json:"lineage"`
	Apps            []appView          `json:"apps"`
	Scopes          []string           `json:"scopes"`
	AllowedCIDRs    []string           `json:"allowedCidrs"`
	LastUsedIP      *string            `json:"lastUsedIp"`
}

type appView struct {
	Name      string            `json:"name"`
	State     apitoken.AppState `json:"state"`
	FirstSeen time.Time         `json:"firstSeen"`
	LastSeen  time.Time         `json:"lastSeen"`
}

func viewKey(t *apitoken.Token) keyView {
	v := keyView{
		ID: t.ID, Description: t.Description, Created: t.Created.UTC(), Expires: t.Expires.UTC(),
		APIKeyType: t.Type, Privilege: t.Privilege, Owner: t.Owner, Hint: t.Hint,
		DefaultAppState: t.DefaultAppState, Lineage: t.Lineage, Apps: []appView{},
		Scopes: append([]string{}, declaredScopes(t)...), AllowedCIDRs: cidrTexts(t.AllowedCIDRs),
	}
	if !t.LastUsed.IsZero() {
		lu := t.LastUsed.UTC()
		v.LastUsed = &lu
	}
	if t.LastUsedIP.IsValid() {
		ip := t.LastUsedIP.String()
		v.LastUsedIP = &ip
	}
	for _, a := range t.Apps {
		v.Apps = append(v.Apps, appView{a.Name, a.State, a.FirstSeen.UTC(), a.LastSeen.UTC()})
	}
	return v
}

// issuedView is a new token: the seed's {id: <the token>} plus its record.
type issuedView struct {
	ID              string             `json:"id"`
	KeyID           string             `json:"keyId"`
	Description     string             `json:"description"`
	Privilege       apitoken.Privilege `json:"privilege"`
	Owner           apitoken.Owner     `json:"owner"`
	DefaultAppState apitoken.AppState  `json:"defaultAppState"`
	Created         time.Time          `json:"created"`
	Expires         time.Time          `json:"expires"`
	APIKeyType      string             `json:"apiKeyType"`
	Hint            string             `json:"hint"`
	Scopes          []string           `json:"scopes"`
	AllowedCIDRs    []string           `json:"allowedCidrs"`
}

func viewIssued(iss apitoken.Issued) issuedView {
	t := iss.Token
	return issuedView{
		ID: iss.Secret, KeyID: t.ID, Description: t.Description, Privilege: t.Privilege, Owner: t.Owner,
		DefaultAppState: t.DefaultAppState, Created: t.Created.UTC(), Expires: t.Expires.UTC(), APIKeyType: t.Type, Hint: t.Hint,
		Scopes: append([]string{}, declaredScopes(t)...), AllowedCIDRs: cidrTexts(t.AllowedCIDRs),
	}
}

// cidrTexts returns the ranges as CIDR text, [] for none.
func cidrTexts(ps []netip.Prefix) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// parseAllowedCIDRs reads allowedCidrs: CIDR ranges, or single
// addresses.
func parseAllowedCIDRs(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, c := range in {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil || a.Zone() != "" {
				return nil, badRequest("allowedCidrs: %q is not a CIDR range or an address", truncate(c))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

type createKeyRequest struct {
	Description     string             `json:"description"`
	Privilege       apitoken.Privilege `json:"privilege"`
	Expires         time.Time          `json:"expires"`
	DefaultAppState apitoken.AppState  `json:"defaultAppState"`
	Owner           apitoken.Owner     `json:"owner"`
	APIKeyType      string             `json:"apiKeyType"`
	Scopes          []string           `json:"scopes"`
	AllowedCIDRs    []string           `json:"allowedCidrs"`
}

func (s *server) createKey(w http.ResponseWriter, r *http.Request) error {
	var req createKeyRequest
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	cidrs, err := parseAllowedCIDRs(req.AllowedCIDRs)
	if err != nil {
		return err
	}
	iss, err := s.m.Issue(r.Context(), principal(r), apitoken.IssueRequest{
		Description: req.Description, Privilege: req.Privilege, Expires: req.Expires,
		DefaultAppState: req.DefaultAppState, Owner: req.Owner, Type: req.APIKeyType,
		Scopes: req.Scopes, AllowedCIDRs: cidrs,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewIssued(iss))
	return nil
}

// listOptions reads ?limit= and ?cursor= (both optional).
func listOptions(r *http.Request) (apitoken.ListOptions, error) {
	q := r.URL.Query()
	opts := apitoken.ListOptions{Cursor: q.Get("cursor")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxListLimit {
			return opts, badRequest("limit must be a whole number from 1 to %d", maxListLimit)
		}
		opts.Limit = n
	}
	return opts, nil
}

// writePage answers a listing page: {"results": [...], "next": "..."},
// next absent on the last page.
func writePage[T, V any](w http.ResponseWriter, page apitoken.Page[T], view func(T) V) {
	results := make([]V, 0, len(page.Items))
	for _, it := range page.Items {
		results = append(results, view(it))
	}
	body := map[string]any{"results": results}
	if page.Next != "" {
		body["next"] = page.Next
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	// ?expiringWithin=7d (or 48h): only the live tokens about to expire.
	if v, ok := r.URL.Query()["expiringWithin"]; ok {
		if len(v) != 1 {
			return badRequest("expiringWithin is given once")
		}
		if opts.ExpiringWithin, err = parseWindow(v[0]); err != nil {
			return badRequest("expiringWithin: %v", err)
		}
	}
	page, err := s.m.List(r.Context(), principal(r), opts)
	if err != nil {
		return err
	}
	writePage(w, page, viewKey)
	return nil
}

// deleteKey revokes by ID (the owner or an admin, authenticated) or, when
// the path holds a full token, by possession: that answer is 204 whether
// the token was live, revoked or unknown.
func (s *server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.m.RevokeSecret(r.Context(), id); err == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	} else if !errors.Is(err, apitoken.ErrMalformed) {
		return err
	}
	var err error
	s.guard.Handler(s.requireScope(routeScopes["DELETE /api/key/{id}"], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err = s.m.Revoke(r.Context(), principal(r), id); err == nil {
			w.WriteHeader(http.StatusNoContent)
		}
	}))).ServeHTTP(w, r)
	return err
}

type updateKeyRequest struct {
	Description     *string             `json:"description"`
	Privilege       *apitoken.Privilege `json:"privilege"`
	DefaultAppState *apitoken.AppState  `json:"defaultAppState"`
	Scopes          *[]string           `json:"scopes"`
	AllowedCIDRs    *[]string           `json:"allowedCidrs"`
}

func (s *server) updateKey(w http.ResponseWriter, r *http.Request) error {
	var req updateKeyRequest
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	u := apitoken.TokenUpdate{Description: req.Description, Privilege: req.Privilege, DefaultAppState: req.DefaultAppState,
		Scopes: req.Scopes}
	if req.AllowedCIDRs != nil {
		cidrs, err := parseAllowedCIDRs(*req.AllowedCIDRs)
		if err != nil {
			return err
		}
		u.AllowedCIDRs = &cidrs
	}
	t, err := s.m.Update(r.Context(), principal(r), r.PathValue("id"), u)
	return s.writeKey(w, t, err)
}

func (s *server) writeKey(w http.ResponseWriter, t *apitoken.Token, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewKey(t))
	return nil
}

func (s *server) promoteKey(w http.ResponseWriter, r *http.Request) error {
	t, err := s.m.Promote(r.Context(), principal(r), r.PathValue("id"))
	return s.writeKey(w, t, err)
}

func (s *server) setAppState(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		State apitoken.AppState `json:"state"`
	}
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	t, err := s.m.SetAppState(r.Context(), principal(r), r.PathValue("id"), r.PathValue("name"), req.State)
	return s.writeKey(w, t, err)
}

// grace is a rotation grace period: a Go duration string ("1h30m") or a
// number of seconds.
type grace time.Duration

func (g *grace) UnmarshalJSON(b []byte) error {
	var secs json.Number
	if err := json.Unmarshal(b, &secs); err == nil {
		n, err := strconv.ParseInt(string(secs), 10, 64)
		if err != nil || n < 0 || n > 1<<31 {
			return fmt.Errorf("%w: grace must be whole seconds or a duration like \"1h\"", apitoken.ErrInvalidArgument)
		}
		*g = grace(time.Duration(n) * time.Second)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("%w: grace must be whole seconds or a duration like \"1h\"", apitoken.ErrInvalidArgument)
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		return fmt.Errorf("%w: grace must be whole seconds or a duration like \"1h\"", apitoken.ErrInvalidArgument)
	}
	*g = grace(d)
	return nil
}

func (s *server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Grace grace `json:"grace"`
	}
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	iss, err := s.m.Rotate(r.Context(), principal(r), r.PathValue("id"), time.Duration(req.Grace))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewIssued(iss))
	return nil
}

// --- users ---

type createUserRequest struct {
	Name      string             `json:"name"`
	Password  string             `json:"password"`
	Privilege apitoken.Privilege `json:"privilege"`
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	u, err := s.logins.CreateUser(r.Context(), principal(r), login.NewUser{Name: req.Name, Password: req.Password, Role: req.Privilege})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewUser(u))
	return nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	opts, err := listOptions(r)
	if err != nil {
		return err
	}
	page, err := s.m.ListUsers(r.Context(), principal(r), opts)
	if err != nil {
		return err
	}
	writePage(w, page, viewUser)
	return nil
}

type updateUserRequest struct {
	Privilege        *apitoken.Privilege `json:"privilege"`
	Disabled         *bool               `json:"disabled"`
	Password         *string             `json:"password"`
	CurrentPassword  string              `json:"currentPassword"`
	ClearMFAFailures bool                `json:"clearMfaFailures"`
}

func (s *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var req updateUserRequest
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	// Role and disabling are the Manager's; password and MFA changes are
	// package login's, each applied on its own. One body asking for both
	// could be half applied (a new role kept, a wrong current password
	// refused), so it is refused whole before anything changes.
	id := r.PathValue("id")
	account := req.Privilege != nil || req.Disabled != nil
	credentials := req.Password != nil || req.ClearMFAFailures
	if account && credentials {
		return badRequest("change privilege or disabled, and password or MFA failures, in separate requests")
	}
	var u *apitoken.User
	var err error
	if p := principal(r); account && !p.HasScope(scopeUsersManage) && roleHolds(p.Privilege, scopeUsersManage) {
		return fmt.Errorf("%w: a role or disabled change needs scope %s", apitoken.ErrInsufficientPrivilege, scopeUsersManage)
	}
	if !credentials {
		if u, err = s.m.UpdateUser(r.Context(), principal(r), id, apitoken.UserUpdate{Role: req.Privilege, Disabled: req.Disabled}); err != nil {
			return err
		}
	}
	if credentials {
		if u, err = s.logins.UpdateUser(r.Context(), principal(r), id, login.UserUpdate{
			Password: req.Password, CurrentPassword: req.CurrentPassword, ClearMFAFailures: req.ClearMFAFailures,
		}); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, viewUser(u))
	return nil
}

// --- documents ---

type searchRequest struct {
	From int `json:"from"`
	Size int `json:"size"`
}

const maxSearchSize = 100

func (s *server) search(w http.ResponseWriter, r *http.Request) error {
	req := searchRequest{Size: 10}
	if err := decodeBody(w, r, s.maxBody, &req); err != nil {
		return err
	}
	if req.From < 0 || req.From > 1_000_000 || req.Size < 0 || req.Size > maxSearchSize {
		return badRequest("from must be between 0 and 1000000 and size between 0 and %d", maxSearchSize)
	}
	docs := visibleDocuments(s.docs, principal(r))
	page := docs[min(req.From, len(docs)):min(req.From+req.Size, len(docs))]
	users := map[string]any{}
	for _, d := range page {
		users[d.Author] = map[string]string{"name": d.Author}
	}
	writeJSON(w, http.StatusOK, map[string]any{"from": req.From, "total": len(docs), "results": page, "users": users})
	return nil
}

//go:embed openapi.json
var openAPIDoc []byte

// ok answers a fixed body: /ping proves a credential works, /health that
// the server is up (and, side by side, what authentication costs).
func (s *server) ok(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"ok":true}` + "\n"))
	return nil
}

func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPIDoc)
	return nil
}

// maxListLimit is the most records Manager.List returns in one page.
const maxListLimit = 1000
