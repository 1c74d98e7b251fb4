package tokenpage_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
	"github.com/apitoken/apitoken/tokenpage"
)

var ctx = context.Background()

type site struct {
	t   *testing.T
	m   *apitoken.Manager
	l   *login.Service
	srv *httptest.Server
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, nil)
}

// newSiteWith is newSite with the Manager's options changed by edit (nil:
// none).
func newSiteWith(t *testing.T, edit func(*apitoken.Options)) *site {
	t.Helper()
	store := memstore.New()
	opts := &apitoken.Options{HashKey: []byte("tokenpage test key, 32 bytes....")}
	if edit != nil {
		edit(opts)
	}
	m, err := apitoken.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	logins, err := login.New(m, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []login.NewUser{
		{Account: "acme", Name: "admin@example.com", Password: "admin password", Role: apitoken.Admin},
		{Account: "acme", Name: "dev@example.com", Password: "dev password", Role: apitoken.Normal},
		{Account: "acme", Name: "ro@example.com", Password: "ro password", Role: apitoken.ReadOnly},
	} {
		if _, err := logins.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(tokenpage.New(m, &tokenpage.Options{Login: logins}))
	t.Cleanup(srv.Close)
	return &site{t: t, m: m, l: logins, srv: srv}
}

// browser is a client with a cookie jar that sends what a browser sends on
// a same-origin form post.
type browser struct {
	s *site
	c *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{s: s, c: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.s.t.Helper()
	resp, err := b.c.Get(b.s.srv.URL + path)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values, site string) (int, string) {
	b.s.t.Helper()
	req, _ := http.NewRequest("POST", b.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	if site == "same-origin" {
		req.Header.Set("Origin", b.s.srv.URL)
	} else {
		req.Header.Set("Origin", "https://evil.example")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *browser) signIn(name, password string) string {
	b.s.t.Helper()
	status, body := b.post("/login", url.Values{"name": {name}, "password": {password}}, "same-origin")
	if status != 200 || !strings.Contains(body, "Create a token") && !strings.Contains(body, "No tokens yet") && !strings.Contains(body, `id="tokens-h"`) {
		b.s.t.Fatalf("sign in as %s: %d\n%s", name, status, body)
	}
	return body
}

var secretRE = regexp.MustCompile(`atk_[0-9A-Za-z]{57}`)

func TestSignInCreateAndTheSecretIsShownOnce(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	status, body := b.post("/tokens", url.Values{"description": {"ci"}, "privilege": {"normal"}, "app_state": {"pending"}}, "same-origin")
	if status != 200 {
		t.Fatalf("create: %d\n%s", status, body)
	}
	secret := secretRE.FindString(body)
	if secret == "" || !strings.Contains(body, "It will not be shown again") {
		t.Fatalf("the new secret and its warning are not on the page:\n%s", body)
	}
	if _, err := s.m.Verify(ctx, secret, "ci-bot"); err == nil {
		t.Fatal("a new app under default state pending was accepted")
	}
	_, body = b.get("/")
	if strings.Contains(body, secret) || secretRE.MatchString(body) {
		t.Fatal("the secret is shown a second time")
	}
	if !strings.Contains(body, `data-app="ci-bot"`) || !strings.Contains(body, "pending") {
		t.Fatalf("the app that tried the token is not listed:\n%s", body)
	}
}

func TestTheSessionCookieIsHttpOnlyAndStrict(t *testing.T) {
	s := newSite(t)
	form := url.Values{"name": {"dev@example.com"}, "password": {"dev password"}}
	req, _ := http.NewRequest("POST", s.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || !strings.HasPrefix(c.Value, "ats_") {
		t.Fatalf("cookie %+v", c)
	}
	for name, want := range map[string]string{
		"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s %q, want %q", name, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
}

func TestUnderTLSTheSessionCookieIsSecure(t *testing.T) {
	s := newSite(t)
	srv := httptest.NewTLSServer(tokenpage.New(s.m, &tokenpage.Options{Login: s.l}))
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"name": {"dev@example.com"}, "password": {"dev password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || !cs[0].HttpOnly {
		t.Fatalf("cookies under TLS: %+v", cs)
	}
}

func TestCrossOriginPostsAreRefusedAndChangeNothing(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	b.signIn("admin@example.com", "admin password")
	for _, tc := range []struct{ path string }{{"/tokens"}, {"/logout"}, {"/login"}} {
		status, _ := b.post(tc.path, url.Values{"description": {"forged"}, "owner": {"account"}, "name": {"admin@example.com"}, "password": {"admin password"}}, "cross-site")
		if status != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d, want 403", tc.path, status)
		}
	}
	_, body := b.get("/")
	if strings.Contains(body, "forged") || !strings.Contains(body, "No tokens yet") {
		t.Fatal("a cross-origin post changed something")
	}
}

func TestWhatEachRoleSeesAndMayDo(t *testing.T) {
	s := newSite(t)
	admin := s.browser()
	admin.signIn("admin@example.com", "admin password")
	if status, body := admin.post("/tokens", url.Values{"description": {"account-wide"}, "owner": {"account"}}, "same-origin"); status != 200 {
		t.Fatalf("admin creates an account token: %d\n%s", status, body)
	}
	dev := s.browser()
	body := dev.signIn("dev@example.com", "dev password")
	if strings.Contains(body, "account-wide") || strings.Contains(body, "promote") || strings.Contains(body, `name="owner"`) {
		t.Fatal("a normal user sees an account token, a promote button or the owner choice")
	}
	if strings.Contains(body, `value="admin"`) {
		t.Fatal("a normal user is offered the admin privilege")
	}
	// The create step is its own page: the same rules hold there.
	if status, newPage := dev.get("/new"); status != 200 || strings.Contains(newPage, `value="admin"`) || strings.Contains(newPage, `name="owner"`) || !strings.Contains(newPage, "Create a token") {
		t.Fatalf("a normal user's create step (%d) offers admin or the owner choice, or is missing", status)
	}
	// The server re-checks what the form offers: a forged choice is refused.
	status, body := dev.post("/tokens", url.Values{"privilege": {"admin"}}, "same-origin")
	if status != http.StatusForbidden || !strings.Contains(body, "You are not allowed to do that.") {
		t.Fatalf("a normal user asking for an admin token: %d", status)
	}
	status, _ = dev.post("/tokens", url.Values{"owner": {"account"}}, "same-origin")
	if status != http.StatusForbidden {
		t.Fatalf("a normal user asking for an account token: %d", status)
	}
	ro := s.browser()
	body = ro.signIn("ro@example.com", "ro password")
	if strings.Contains(body, "Create a token") || strings.Contains(body, `id="new-token"`) {
		t.Fatal("a read-only user is offered the create form")
	}
	if status, newPage := ro.get("/new"); status != http.StatusForbidden || strings.Contains(newPage, `id="create"`) {
		t.Fatalf("a read-only user opening the create step: %d", status)
	}
	if status, _ := ro.post("/tokens", url.Values{}, "same-origin"); status != http.StatusForbidden {
		t.Fatalf("a read-only user creating a token: %d", status)
	}
}

func TestErrorsAreMessagesNotTraces(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	status, body := b.post("/login", url.Values{"name": {"dev@example.com"}, "password": {"wrong"}}, "same-origin")
	if status != http.StatusUnauthorized || !strings.Contains(body, "Wrong name or password.") {
		t.Fatalf("wrong password: %d", status)
	}
	b.signIn("dev@example.com", "dev password")
	status, body = b.post("/tokens/doesNotExist0000/retire", url.Values{"confirm": {"yes"}}, "same-origin")
	if status != http.StatusNotFound || !strings.Contains(body, "no longer exists") {
		t.Fatalf("retiring an unknown token: %d", status)
	}
	status, body = b.post("/tokens", url.Values{"privilege": {"superuser"}}, "same-origin")
	if status != http.StatusBadRequest || strings.Contains(body, "goroutine") {
		t.Fatalf("a bad privilege: %d", status)
	}
	status, _ = b.post("/tokens", url.Values{"description": {strings.Repeat("x", 20<<10)}}, "same-origin")
	if status != http.StatusBadRequest {
		t.Fatalf("an oversized form: %d", status)
	}
}

var (
	controlRE = regexp.MustCompile(`<(input|select)\b[^>]*>`)
	idRE      = regexp.MustCompile(`\bid="([^"]+)"`)
)

// Every visible input and select has a label naming its id.
func TestEveryControlHasALabel(t *testing.T) {
	s := newSite(t)
	b := s.browser()
	_, signIn := b.get("/")
	b.signIn("admin@example.com", "admin password")
	_, created := b.post("/tokens", url.Values{"description": {"x"}}, "same-origin")
	if _, err := s.m.Verify(ctx, secretRE.FindString(created), "ci-bot"); err != nil {
		t.Fatal(err)
	}
	_, home := b.get("/")
	_, newPage := b.get("/new")
	_, account := b.get("/account")
	_, enrol := b.post("/account/mfa/enrol", nil, "same-origin")
	for _, page := range []string{signIn, created, home, newPage, account, enrol} {
		for _, tag := range controlRE.FindAllString(page, -1) {
			if strings.Contains(tag, `type="hidden"`) {
				continue
			}
			m := idRE.FindStringSubmatch(tag)
			if m == nil || !strings.Contains(page, `for="`+m[1]+`"`) {
				t.Errorf("control without a label: %s", tag)
			}
		}
	}
}

// TestTheHostSignsPeopleIn mounts the page with the host's own sign-in
// (SignedInAs reading a stand-in for an SSO cookie) and its own user
// directory: no password form; a signed-in host user lists, creates and
// retires tokens; when the host signs them out, or in as someone else, the
// page's session follows; the store holds no user record.
func TestTheHostSignsPeopleIn(t *testing.T) {
	dir := storetest.NewHostUsers()
	dir.Set(apitoken.User{ID: "alice", Account: "acme", Role: apitoken.Normal})
	dir.Set(apitoken.User{ID: "bob", Account: "acme", Role: apitoken.Normal})
	store := memstore.New()
	m, err := apitoken.New(store, &apitoken.Options{HashKey: []byte("tokenpage test key, 32 bytes...."), Users: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	page := tokenpage.New(m, &tokenpage.Options{
		SignedInAs: func(r *http.Request) string {
			c, err := r.Cookie("sso") // a stand-in for the host's single sign-on
			if err != nil {
				return ""
			}
			return c.Value
		},
		SignInURL: "/sso/login",
	})
	srv := httptest.NewServer(page)
	t.Cleanup(srv.Close)
	s := &site{t: t, m: m, srv: srv}
	b := s.browser()
	u, _ := url.Parse(srv.URL)
	signInAs := func(id string) { b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sso", Value: id, Path: "/"}}) }

	status, body := b.get("/")
	if status != 200 || strings.Contains(body, `type="password"`) || !strings.Contains(body, `href="/sso/login"`) {
		t.Fatalf("signed out: %d, want the host's sign-in link and no password form\n%s", status, body)
	}
	if status, _ := b.post("/login", url.Values{"name": {"alice"}, "password": {"x"}}, "same-origin"); status != http.StatusNotFound {
		t.Fatalf("the password form's route answers %d with host sign-in", status)
	}
	signInAs("alice")
	status, body = b.post("/tokens", url.Values{"description": {"ci"}, "privilege": {"read-only"}}, "same-origin")
	secret := secretRE.FindString(body)
	if status != 200 || secret == "" {
		t.Fatalf("alice creates a token: %d\n%s", status, body)
	}
	p, err := m.Verify(ctx, secret, "")
	if err != nil || p.UserID != "alice" || p.Privilege != apitoken.ReadOnly {
		t.Fatalf("alice's token verifies as %+v, %v", p, err)
	}
	_, body = b.get("/")
	if !strings.Contains(body, p.TokenID) {
		t.Fatalf("alice's listing lacks her token:\n%s", body)
	}
	signInAs("bob") // the host now says bob
	_, body = b.get("/")
	if strings.Contains(body, p.TokenID) {
		t.Fatal("bob sees alice's token: the page kept alice's session")
	}
	signInAs("alice")
	if status, body := b.post("/tokens/"+p.TokenID+"/retire", url.Values{"confirm": {"yes"}}, "same-origin"); status != 200 && status != http.StatusSeeOther {
		t.Fatalf("retire: %d\n%s", status, body)
	}
	if _, err := m.Verify(ctx, secret, ""); !errors.Is(err, apitoken.ErrRevoked) {
		t.Fatalf("after retiring on the page the token verifies with %v", err)
	}
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "sso", Value: "", Path: "/", MaxAge: -1}})
	if _, body := b.get("/"); !strings.Contains(body, `id="host-signin"`) {
		t.Fatalf("after the host signed alice out the page still shows her tokens:\n%s", body)
	}
	if users, _ := store.ListUsers(ctx, apitoken.UserQuery{Account: "acme"}); len(users) != 0 {
		t.Fatalf("the store holds %d user records", len(users))
	}
}

// A page with no way to sign anyone in is a set-up mistake, caught at New
// rather than shown as a sign-in form that cannot work.
func TestNewNeedsASignIn(t *testing.T) {
	m, err := apitoken.New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	defer func() {
		if recover() == nil {
			t.Fatal("New with neither Login nor SignedInAs did not panic")
		}
	}()
	tokenpage.New(m, nil)
}
