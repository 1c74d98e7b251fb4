// Package tokenpage is an "API Tokens" page host applications mount: the
// signed-in user sees the tokens they may see in a compact table, newest
// first, filtered (theirs, the account's, all for admins) and searched by
// description, a page at a time; allows or denies the applications waiting
// for approval, listed at the top; creates user tokens (account tokens when
// admin) with the least privilege preselected; changes privilege and
// default app state, rotates, retires and (admins) promotes, each
// confirmation shown at the token it names. An account area says who is
// signed in, enrols a second factor (with a QR code when Options.QRCode is
// set), changes the password and lists the user's sessions with "sign out
// everywhere else". It is server-rendered HTML over a Manager, light or
// dark as the browser prefers, with one small script for copying a new
// secret; everything works without it.
//
//	mux.Handle("/", tokenpage.New(m, &tokenpage.Options{Login: logins}))
//
// Mounted below the root, strip the prefix and say where it lives:
//
//	mux.Handle("/tokens/", http.StripPrefix("/tokens", tokenpage.New(m, &tokenpage.Options{BasePath: "/tokens/", Login: logins})))
//
// People sign in with the password form of package login (Options.Login),
// or with the host's own sign-in (Options.SignedInAs).
//
// Security: the session is a session token in an HttpOnly, SameSite=Strict
// cookie (Secure under TLS); cross-origin form posts are refused by
// net/http's CrossOriginProtection; every action goes through the Manager,
// which checks the policy again; pages are never cached; a new secret is
// shown once and never stored. Errors are shown as fixed messages.
package tokenpage

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
)

//go:embed templates/*.html static/*
var assets embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"when": exact, "rel": relative, "iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"date":    func(t time.Time) string { return t.UTC().Format("Jan 2, 2006") },
	"initial": initial,
}).ParseFS(assets, "templates/*.html"))

// Options configures the page. A nil *Options means defaults.
type Options struct {
	// BasePath is the URL path the page is mounted at, ending in "/".
	// Default "/". The handler itself expects paths with the prefix
	// stripped (see the package example).
	BasePath string
	// CookieName names the session cookie. Default "apitoken_session".
	CookieName string
	// Title is the page heading. Default "API tokens".
	Title string
	// Logger receives unexpected failures (store errors), never a secret.
	// Default: slog.Default().
	Logger *slog.Logger
	// TrustedProxies are the reverse proxies whose X-Forwarded-For the
	// login form believes when it tells login.Service.Login the client's
	// address (see login.ClientAddr). Default none: the connection's
	// address.
	TrustedProxies []netip.Prefix

	// Login is the password login of the library's own user records: the
	// page's sign-in form, its MFA code step, and the account area's
	// password change and second factor. It is the default way in: set
	// either Login or SignedInAs (New panics with neither). With
	// SignedInAs set too, the form is not shown and Login serves only the
	// account area.
	Login *login.Service

	// SignedInAs, when set, takes people's sign-in from the host instead
	// of the password form: it returns the ID of the user request r is
	// signed in as (from the host's single sign-on cookie, say), or "" if
	// nobody is. The page then starts a session for that user
	// (Manager.StartSession, which reads the host's directory,
	// apitoken.Options.Users) and keeps it in its cookie; when the host's
	// answer changes, the page's session ends with it. No password form is
	// shown. Default nil: the password form of Options.Login.
	SignedInAs func(r *http.Request) (userID string)
	// SignInURL is where the page sends people who are not signed in when
	// SignedInAs is set: the host's sign-in page. Default: none, the page
	// just says that nobody is signed in.
	SignInURL string

	// QRCode, when set, encodes text (an otpauth:// URL) as a QR code and
	// returns its modules, rows of columns, true for dark, without the
	// quiet zone; the page draws them as an inline SVG beside the secret
	// when a user enrols MFA. It is a hook so that this package, in the
	// library's module, needs no QR dependency: plug in a QR library
	// (examples/server uses rsc.io/qr). Default nil: the secret and the
	// otpauth URL are shown as text only.
	QRCode func(text string) (modules [][]bool, err error)
	// PageSize is how many tokens a page of the table shows. Default 25,
	// at most 200.
	PageSize int
}

// Handler serves the page. Build it with New.
type Handler struct {
	m    *apitoken.Manager
	opts Options
	h    http.Handler
}

// New returns the page over m. It panics if opts sets neither Login nor
// SignedInAs: the page would have no way to sign anyone in.
func New(m *apitoken.Manager, opts *Options) *Handler {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Login == nil && o.SignedInAs == nil {
		panic("tokenpage: Options.Login (password login) or Options.SignedInAs (the host's sign-in) must be set")
	}
	if o.BasePath == "" {
		o.BasePath = "/"
	}
	if !strings.HasSuffix(o.BasePath, "/") {
		o.BasePath += "/"
	}
	if o.CookieName == "" {
		o.CookieName = "apitoken_session"
	}
	if o.Title == "" {
		o.Title = "API tokens"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PageSize <= 0 {
		o.PageSize = 25
	}
	o.PageSize = min(o.PageSize, 200)
	p := &Handler{m: m, opts: o}
	static, _ := fs.Sub(assets, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /new", p.signedInPage(p.newToken))
	mux.HandleFunc("GET /account", p.signedInPage(p.account))
	mux.HandleFunc("POST /account/password", p.signedIn(false, p.changePassword))
	mux.HandleFunc("POST /account/mfa/enrol", p.signedIn(false, p.enrolMFA))
	mux.HandleFunc("POST /account/mfa/confirm", p.signedIn(false, p.confirmMFA))
	mux.HandleFunc("POST /account/mfa/remove", p.signedIn(false, p.removeMFA))
	mux.HandleFunc("POST /account/sessions/end-others", p.signedIn(false, p.endOthers))
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /unlock", p.signedIn(true, p.unlock))
	mux.HandleFunc("POST /logout", p.signedIn(true, p.logout))
	mux.HandleFunc("POST /tokens", p.signedIn(false, p.create))
	mux.HandleFunc("POST /tokens/{id}/update", p.signedIn(false, p.update))
	mux.HandleFunc("POST /tokens/{id}/apps", p.signedIn(false, p.setApp))
	mux.HandleFunc("POST /tokens/{id}/rotate", p.signedIn(false, p.rotate))
	mux.HandleFunc("POST /tokens/{id}/retire", p.signedIn(false, p.retire))
	mux.HandleFunc("POST /tokens/{id}/promote", p.signedIn(false, p.promote))
	p.h = http.NewCrossOriginProtection().Handler(mux)
	return p
}

// ServeHTTP implements http.Handler.
func (p *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	p.h.ServeHTTP(w, r)
}

// maxFormField bounds every form value.
const maxFormField = 1024

// session returns the caller's session from the cookie: ok is false when
// there is none or it no longer verifies (the cookie is then cleared);
// locked sessions are returned with ErrSessionLocked.
func (p *Handler) session(w http.ResponseWriter, r *http.Request) (apitoken.Principal, error, bool) {
	host := ""
	if p.opts.SignedInAs != nil {
		if host = p.opts.SignedInAs(r); host == "" {
			p.endSession(w, r)
			return apitoken.Principal{}, nil, false
		}
	}
	if c, err := r.Cookie(p.opts.CookieName); err == nil && c.Value != "" {
		pr, err := p.m.Verify(r.Context(), c.Value, "")
		if pr.Kind == apitoken.KindSession && (err == nil || errors.Is(err, apitoken.ErrSessionLocked)) && (host == "" || pr.UserID == host) {
			return pr, err, true
		}
		if pr.Kind == apitoken.KindSession && (err == nil || errors.Is(err, apitoken.ErrSessionLocked)) {
			p.m.Logout(r.Context(), pr) // the host now says someone else is signed in
		}
		p.setCookie(w, r, "")
	}
	if host == "" {
		return apitoken.Principal{}, nil, false
	}
	l, err := p.m.StartSession(r.Context(), host)
	if err != nil {
		if !errors.Is(err, apitoken.ErrUserDisabled) {
			p.opts.Logger.Error("tokenpage: starting a session for the host's user", "err", err)
		}
		return apitoken.Principal{}, nil, false
	}
	pr, err := p.m.Verify(r.Context(), l.Secret, "")
	if err != nil && !errors.Is(err, apitoken.ErrSessionLocked) {
		return apitoken.Principal{}, nil, false
	}
	p.setCookie(w, r, l.Secret)
	return pr, err, true
}

// endSession ends the page's session, if the cookie holds a live one,
// and clears the cookie.
func (p *Handler) endSession(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(p.opts.CookieName)
	if err != nil || c.Value == "" {
		return
	}
	if pr, err := p.m.Verify(r.Context(), c.Value, ""); pr.Kind == apitoken.KindSession && (err == nil || errors.Is(err, apitoken.ErrSessionLocked)) {
		p.m.Logout(r.Context(), pr)
	}
	p.setCookie(w, r, "")
}

func (p *Handler) setCookie(w http.ResponseWriter, r *http.Request, secret string) {
	c := &http.Cookie{
		Name: p.opts.CookieName, Value: secret, Path: p.opts.BasePath,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
	if p.opts.SignedInAs != nil {
		// With the host's sign-in, a Strict cookie would be missing on
		// every arrival from another site (its SSO, a link), and each such
		// arrival would start another session. Lax keeps the page's
		// session on top-level navigations; posts from other origins are
		// refused by CrossOriginProtection either way.
		c.SameSite = http.SameSiteLaxMode
	}
	if secret == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// signedIn wraps an action that needs a session; allowLocked admits a
// session still waiting for its MFA code (unlock, logout).
func (p *Handler) signedIn(allowLocked bool, fn func(http.ResponseWriter, *http.Request, apitoken.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pr, err, ok := p.session(w, r)
		if !ok {
			p.render(w, r, http.StatusUnauthorized, &view{Error: "Your session has ended. Sign in again."})
			return
		}
		if err != nil && !allowLocked {
			p.render(w, r, http.StatusUnauthorized, &view{Locked: true, Error: "Enter your authentication code first."})
			return
		}
		if err := readForm(r); err != nil {
			p.fail(w, r, pr, err)
			return
		}
		fn(w, r, pr)
	}
}

// readForm parses the posted form (the body is already capped by
// ServeHTTP) and refuses any value over maxFormField bytes.
func readForm(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return apitoken.ErrInvalidArgument
	}
	for _, vs := range r.PostForm {
		for _, v := range vs {
			if len(v) > maxFormField {
				return apitoken.ErrInvalidArgument
			}
		}
	}
	return nil
}

// view is what the page template renders.
type view struct {
	Title, Base string
	HostSignIn  bool   // the host signs people in: no password form
	SignInURL   string // the host's sign-in page
	Error       string
	Notice      string
	SignedIn    bool
	Locked      bool
	Section     string // "tokens", "new" or "account"
	Now         time.Time
	Principal   apitoken.Principal
	Me          apitoken.Profile // who is signed in
	Grantable   []apitoken.Privilege
	AppStates   []apitoken.AppState
	Graces      []grace

	// The token table.
	List        listState
	Filters     []filterChoice
	Rows        []row
	Pending     []pendingApp // applications waiting for approval
	PendingMore int          // further waiting applications not listed
	// PendingScanned, when set, is how many of the newest tokens the
	// banner looked at: the caller can see more.
	PendingScanned int
	Newer          string // the newer page's address
	First          string // the first page's address, when this is not it
	Older          string // the older page's address; "" on the last
	ListURL        string // this page's address
	NotFirst       bool   // a newer page exists
	Truncated      bool   // the view read ScanLimit tokens before its page was full
	ScanLimit      int    // maxScan
	Confirm        *confirmation
	ConfirmTop     bool            // the confirmation's token is not on this page
	Retired        *apitoken.Token // the token just retired
	Secret         string          // a new secret, shown once
	SecretFor      *apitoken.Token // the token it belongs to

	// ExpiringSoon counts the tokens among the newest the banner read
	// (PendingScanned, when set, says how many) that stop within a week;
	// their rows carry a badge.
	ExpiringSoon int

	// The create step.
	Expiries         []expiryChoice
	MinDate, MaxDate string
	MaxDay           time.Time // MaxDate as a time

	// The account area.
	Sessions []*apitoken.Token
	Enrol    *login.MFAEnrolment
	QR       template.HTML // the enrolment's QR code, an inline SVG
}

// confirmation asks, at the token it names, before an action that cannot
// be undone.
type confirmation struct {
	Action, Question, Button string
	Token                    *apitoken.Token
	Grace                    string // rotate's grace period
}

type grace struct {
	Value, Label string
}

var graces = []grace{{"0s", "no time: it stops now"}, {"1h", "1 hour"}, {"24h", "1 day"}, {"168h", "7 days"}}

var appStates = []apitoken.AppState{apitoken.Allow, apitoken.Pending, apitoken.Deny}

// notices are the messages a redirect may ask for; the query names one,
// so no text from a request is ever echoed.
var notices = map[string]string{
	"updated": "Token updated.", "allowed": "Application allowed.", "denied": "Application denied.",
	"pending": "Application set to pending.", "retired": "Token retired. It no longer works.",
	"promoted": "Token promoted to an account token.", "signedout": "Signed out.", "unlocked": "Session unlocked.",
	"password": "Password changed. Your other sessions have ended.", "mfa-on": "Two-factor authentication is on. Your other sessions have ended.",
	"mfa-off": "Two-factor authentication is off. Your other sessions have ended.", "ended": "Signed out everywhere else.",
}

func (p *Handler) home(w http.ResponseWriter, r *http.Request) {
	v := &view{Notice: notices[r.URL.Query().Get("done")], List: parseListState(r.URL.Query())}
	pr, err, ok := p.session(w, r)
	switch {
	case !ok:
	case err != nil:
		v.SignedIn, v.Locked = true, true
	default:
		if err := p.fill(r.Context(), v, pr); err != nil {
			p.fail(w, r, pr, err)
			return
		}
	}
	p.render(w, r, http.StatusOK, v)
}

// signedInPage wraps a GET page that needs an unlocked session; others
// see the home page's sign-in or code step.
func (p *Handler) signedInPage(fn func(http.ResponseWriter, *http.Request, apitoken.Principal, *view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := &view{}
		pr, err, ok := p.session(w, r)
		switch {
		case !ok:
			p.render(w, r, http.StatusUnauthorized, v)
		case err != nil:
			v.SignedIn, v.Locked = true, true
			p.render(w, r, http.StatusUnauthorized, v)
		default:
			if err := p.fillCommon(r.Context(), v, pr); err != nil {
				p.fail(w, r, pr, err)
				return
			}
			fn(w, r, pr, v)
		}
	}
}

// fillCommon loads what every signed-in page shows: who is signed in.
func (p *Handler) fillCommon(ctx context.Context, v *view, pr apitoken.Principal) error {
	me, err := p.m.Profile(ctx, pr)
	if err != nil {
		return err
	}
	v.SignedIn, v.Principal, v.Me = true, pr, me
	v.Grantable, v.AppStates, v.Graces = pr.Grantable(), appStates, graces
	return nil
}

// fill loads the token table.
func (p *Handler) fill(ctx context.Context, v *view, pr apitoken.Principal) error {
	if err := p.fillCommon(ctx, v, pr); err != nil {
		return err
	}
	v.Section = "tokens"
	return p.fillList(ctx, v, pr)
}

func (p *Handler) render(w http.ResponseWriter, r *http.Request, status int, v *view) {
	v.Title, v.Base = p.opts.Title, p.opts.BasePath
	v.HostSignIn, v.SignInURL = p.opts.SignedInAs != nil, p.opts.SignInURL
	if v.Now.IsZero() {
		v.Now = time.Now()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := templates.ExecuteTemplate(w, "page.html", v); err != nil {
		p.opts.Logger.Error("tokenpage: rendering", "err", err)
	}
}

// fail shows err as a message on the page, never as a trace.
func (p *Handler) fail(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, err error) {
	he := apitoken.HTTPErrorOf(err)
	if ra := he.RetryAfter(); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	v := &view{Error: p.message(he, err)}
	if r.Method == http.MethodPost {
		v.List = parseListState(backQuery(r))
	}
	if pr.Kind == apitoken.KindSession && pr.Unlocked {
		if ferr := p.fill(r.Context(), v, pr); ferr != nil {
			v.SignedIn = false
		}
	}
	p.render(w, r, he.Status, v)
}

// messages are the page's words for the library's error codes. Codes not
// listed show the library's own message (fixed text, with any quoted input
// escaped by the template); internal errors show a fixed sentence and are
// logged.
var messages = map[string]string{
	"invalid_token":              "Your session has ended. Sign in again.",
	"session_locked":             "Enter your authentication code first.",
	"insufficient_privilege":     "You are not allowed to do that.",
	"not_found":                  "That token no longer exists, or you cannot see it.",
	login.CodeInvalidCredentials: "Wrong name or password.",
	login.CodeThrottled:          "Too many attempts. Wait a little and try again.",
	login.CodeBusy:               "The service is busy. Try again in a moment.",
	login.CodeInvalidMFACode:     "That code is not valid. Try the current one.",
	"too_many_apps":              "This token has reached its limit of applications.",
}

// message is what the page says about err.
func (p *Handler) message(he apitoken.HTTPError, err error) string {
	if m := messages[he.Code]; m != "" {
		return m
	}
	if he.Code == "internal_error" {
		p.opts.Logger.Error("tokenpage: unexpected failure", "err", err)
		return "Something went wrong. Try again."
	}
	return "Not done: " + he.Message + "."
}

func (p *Handler) redirect(w http.ResponseWriter, r *http.Request, done string) {
	target := p.opts.BasePath
	if done != "" {
		target += "?done=" + url.QueryEscape(done)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (p *Handler) login(w http.ResponseWriter, r *http.Request) {
	if p.opts.SignedInAs != nil {
		p.render(w, r, http.StatusNotFound, &view{Error: "Sign in through your organisation's sign-in page."})
		return
	}
	if err := readForm(r); err != nil {
		p.fail(w, r, apitoken.Principal{}, err)
		return
	}
	l, err := p.opts.Login.Login(r.Context(), r.PostForm.Get("name"), r.PostForm.Get("password"), login.ClientAddr(r, p.opts.TrustedProxies))
	if err != nil {
		p.fail(w, r, apitoken.Principal{}, err)
		return
	}
	p.setCookie(w, r, l.Secret)
	p.redirect(w, r, "")
}

func (p *Handler) unlock(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if p.opts.Login == nil {
		p.render(w, r, http.StatusNotFound, &view{SignedIn: true, Locked: true, Error: "Sign in through your organisation's sign-in page."})
		return
	}
	if err := p.opts.Login.Unlock(r.Context(), pr, r.PostForm.Get("code")); err != nil {
		he := apitoken.HTTPErrorOf(err)
		p.render(w, r, he.Status, &view{SignedIn: true, Locked: true, Error: p.message(he, err)})
		return
	}
	p.redirect(w, r, "unlocked")
}

func (p *Handler) logout(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	if err := p.m.Logout(r.Context(), pr); err != nil && !errors.Is(err, apitoken.ErrNotFound) {
		p.fail(w, r, pr, err)
		return
	}
	p.setCookie(w, r, "")
	p.redirect(w, r, "signedout")
}

// redirectTo sends the browser to the page at path (relative to the base)
// with the listing state back and a notice named by done.
func (p *Handler) redirectTo(w http.ResponseWriter, r *http.Request, path string, back listState, done string) {
	q := back.values()
	if done != "" {
		q.Set("done", done)
	}
	target := p.opts.BasePath + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (p *Handler) create(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	f := r.PostForm
	req := apitoken.IssueRequest{Description: f.Get("description"), Scopes: f["scope"]}
	var err error
	if req.Privilege, err = parseText[apitoken.Privilege](f.Get("privilege")); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	if req.DefaultAppState, err = parseText[apitoken.AppState](f.Get("app_state")); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	if o := f.Get("owner"); o != "" {
		if err := req.Owner.UnmarshalText([]byte(o)); err != nil {
			p.fail(w, r, pr, err)
			return
		}
	}
	if req.Expires, err = p.expiresFrom(pr.Account, f.Get("expires"), f.Get("expires_on"), time.Now()); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	iss, err := p.m.Issue(r.Context(), pr, req)
	if err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.showSecret(w, r, pr, iss, "Token created.")
}

// showSecret renders the page with a new secret, the only time it is shown.
func (p *Handler) showSecret(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, iss apitoken.Issued, notice string) {
	v := &view{Notice: notice, Secret: iss.Secret, SecretFor: iss.Token}
	if err := p.fill(r.Context(), v, pr); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.render(w, r, http.StatusOK, v)
}

// parseText reads an enum from its text form; empty is the zero value
// (the Manager's default).
func parseText[T any, PT interface {
	*T
	UnmarshalText([]byte) error
}](s string) (T, error) {
	var v T
	if s == "" {
		return v, nil
	}
	err := PT(&v).UnmarshalText([]byte(s))
	return v, err
}

func (p *Handler) update(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	var u apitoken.TokenUpdate
	if s := r.PostForm.Get("privilege"); s != "" {
		v, err := parseText[apitoken.Privilege](s)
		if err != nil {
			p.fail(w, r, pr, err)
			return
		}
		u.Privilege = &v
	}
	if s := r.PostForm.Get("app_state"); s != "" {
		v, err := parseText[apitoken.AppState](s)
		if err != nil {
			p.fail(w, r, pr, err)
			return
		}
		u.DefaultAppState = &v
	}
	if _, err := p.m.Update(r.Context(), pr, r.PathValue("id"), u); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.redirectTo(w, r, "", parseListState(backQuery(r)), "updated")
}

func (p *Handler) setApp(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	state, err := parseText[apitoken.AppState](r.PostForm.Get("state"))
	if err == nil && state == 0 {
		err = apitoken.ErrInvalidArgument
	}
	if err != nil {
		p.fail(w, r, pr, err)
		return
	}
	if _, err := p.m.SetAppState(r.Context(), pr, r.PathValue("id"), r.PostForm.Get("app"), state); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	done := map[apitoken.AppState]string{apitoken.Allow: "allowed", apitoken.Deny: "denied", apitoken.Pending: "pending"}[state]
	p.redirectTo(w, r, "", parseListState(backQuery(r)), done)
}

// named is how a confirmation names a token: its description and hint.
func named(t *apitoken.Token) string {
	d := t.Description
	if d == "" {
		d = "(no description)"
	}
	return "“" + d + "” (" + t.Hint + ")"
}

// confirmOr renders a confirmation at the token unless the form says
// confirm=yes; c.Token is filled in. It returns the token and whether to
// go on.
func (p *Handler) confirmOr(w http.ResponseWriter, r *http.Request, pr apitoken.Principal, id string, c confirmation, question func(string) string) (*apitoken.Token, bool) {
	// Only a token the caller may see gets a question; others get the
	// same answer as an unknown ID.
	t, err := p.m.Get(r.Context(), pr, id)
	if err != nil {
		p.fail(w, r, pr, err)
		return nil, false
	}
	if r.PostForm.Get("confirm") == "yes" {
		return t, true
	}
	c.Token, c.Question = t, question(named(t))
	v := &view{Confirm: &c, List: parseListState(backQuery(r))}
	if err := p.fill(r.Context(), v, pr); err != nil {
		p.fail(w, r, pr, err)
		return nil, false
	}
	p.render(w, r, http.StatusOK, v)
	return nil, false
}

func (p *Handler) rotate(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	g := r.PostForm.Get("grace")
	i := slices.IndexFunc(graces, func(x grace) bool { return x.Value == g })
	if i < 0 {
		p.fail(w, r, pr, apitoken.ErrInvalidArgument)
		return
	}
	id := r.PathValue("id")
	if _, ok := p.confirmOr(w, r, pr, id, confirmation{Action: "rotate", Button: "Yes, rotate it", Grace: g}, func(n string) string {
		if g == "0s" {
			return "Rotate " + n + "? It gets a new secret, and the old one stops working now."
		}
		return "Rotate " + n + "? It gets a new secret; the old one keeps working for " + graces[i].Label + "."
	}); !ok {
		return
	}
	d, _ := time.ParseDuration(g)
	iss, err := p.m.Rotate(r.Context(), pr, id, d)
	if err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.showSecret(w, r, pr, iss, "Token rotated. Replace the old secret before its grace period ends.")
}

func (p *Handler) retire(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	id := r.PathValue("id")
	t, ok := p.confirmOr(w, r, pr, id, confirmation{Action: "retire", Button: "Yes, retire it"}, func(n string) string {
		return "Retire " + n + "? Every program using it will be refused from now on. This cannot be undone."
	})
	if !ok {
		return
	}
	if err := p.m.Revoke(r.Context(), pr, id); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	// Rendered rather than redirected, so that the notice can name the
	// token: a retired token is no longer listed.
	t.Revoked = time.Now()
	v := &view{Notice: notices["retired"], Retired: t, List: parseListState(backQuery(r))}
	if err := p.fill(r.Context(), v, pr); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.render(w, r, http.StatusOK, v)
}

func (p *Handler) promote(w http.ResponseWriter, r *http.Request, pr apitoken.Principal) {
	id := r.PathValue("id")
	if _, ok := p.confirmOr(w, r, pr, id, confirmation{Action: "promote", Button: "Yes, promote it"}, func(n string) string {
		return "Promote " + n + " to an account token? It will belong to the account instead of its user, and keep working if they leave. This cannot be undone."
	}); !ok {
		return
	}
	if _, err := p.m.Promote(r.Context(), pr, id); err != nil {
		p.fail(w, r, pr, err)
		return
	}
	p.redirectTo(w, r, "", parseListState(backQuery(r)), "promoted")
}
