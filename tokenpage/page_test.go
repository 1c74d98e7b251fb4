package tokenpage_test

import (
	"encoding/base32"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/tokenpage"
)

var (
	rowRE    = regexp.MustCompile(`<tbody class="token" id="token-([^"]+)"`)
	descRE   = regexp.MustCompile(`<span class="desc">([^<]*)</span>`)
	olderRE  = regexp.MustCompile(`href="([^"]*)" id="older"`)
	confirmQ = regexp.MustCompile(`<p id="confirm-q">([^<]*)</p>`)
)

// signedInAs starts a session for the named user of s, for issuing
// tokens from Go.
func (s *site) principal(name string) apitoken.Principal {
	s.t.Helper()
	users, err := s.m.ListUsers(ctx, s.admin(), apitoken.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	for _, u := range users.Items {
		if u.Name == name {
			l, err := s.m.StartSession(ctx, u.ID)
			if err != nil {
				s.t.Fatal(err)
			}
			p, err := s.m.Verify(ctx, l.Secret, "")
			if err != nil {
				s.t.Fatal(err)
			}
			return p
		}
	}
	s.t.Fatalf("no user %s", name)
	return apitoken.Principal{}
}

func (s *site) admin() apitoken.Principal {
	s.t.Helper()
	l, err := s.l.Login(ctx, "admin@example.com", "admin password", netipZero)
	if err != nil {
		s.t.Fatal(err)
	}
	p, err := s.m.Verify(ctx, l.Secret, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

func (s *site) issue(p apitoken.Principal, req apitoken.IssueRequest) apitoken.Issued {
	s.t.Helper()
	iss, err := s.m.Issue(ctx, p, req)
	if err != nil {
		s.t.Fatal(err)
	}
	return iss
}

// TestTheTableIsNewestFirstAndPages walks a listing of 250 tokens through
// the "Older" links: 25 rows a page, newest first, every token once.
func TestTheTableIsNewestFirstAndPages(t *testing.T) {
	s := newSite(t)
	dev := s.principal("dev@example.com")
	for i := range 250 {
		s.issue(dev, apitoken.IssueRequest{Description: fmt.Sprintf("token %03d", i)})
	}
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	seen := map[string]bool{}
	var order []string
	path, pages := "/", 0
	for path != "" {
		status, body := b.get(path)
		if status != 200 {
			t.Fatalf("%s: %d", path, status)
		}
		pages++
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if len(rows) != 25 {
			t.Fatalf("page %d has %d rows, want 25", pages, len(rows))
		}
		for _, r := range rows {
			if seen[r[1]] {
				t.Fatalf("token %s shown twice", r[1])
			}
			seen[r[1]] = true
		}
		for _, d := range descRE.FindAllStringSubmatch(body, -1) {
			order = append(order, d[1])
		}
		path = ""
		if m := olderRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
		}
	}
	if pages != 10 || len(seen) != 250 {
		t.Fatalf("%d pages, %d tokens; want 10 and 250", pages, len(seen))
	}
	for i, d := range order {
		if want := fmt.Sprintf("token %03d", 249-i); d != want {
			t.Fatalf("row %d is %q, want %q: not newest first", i, d, want)
		}
	}
}

// BenchmarkFirstPage250 renders the table's first page for a user with
// 250 tokens, in the handler (server time, no network), and reports the
// HTML's size: what the browser receives before its first paint, besides
// the one stylesheet.
func BenchmarkFirstPage250(b *testing.B) {
	store := memstoreNew()
	m, err := apitoken.New(store, &apitoken.Options{HashKey: []byte("tokenpage test key, 32 bytes....")})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	logins, err := login.New(m, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	u, err := logins.AddUser(ctx, login.NewUser{Account: "acme", Name: "dev@example.com", Password: "dev password", Role: apitoken.Normal})
	if err != nil {
		b.Fatal(err)
	}
	l, err := m.StartSession(ctx, u.ID)
	if err != nil {
		b.Fatal(err)
	}
	p, _ := m.Verify(ctx, l.Secret, "")
	for i := range 250 {
		if _, err := m.Issue(ctx, p, apitoken.IssueRequest{Description: fmt.Sprintf("token %03d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	h := tokenpage.New(m, &tokenpage.Options{Login: logins})
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: "apitoken_session", Value: l.Secret})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "html-bytes")
	b.ReportMetric(float64(len(rowRE.FindAllString(httptestBody(h, req), -1))), "rows")
}

func httptestBody(h http.Handler, req *http.Request) string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Body.String()
}

// TestConfirmationsNameTheTokenAtTheToken: retire, rotate and promote ask
// inside the row of the token clicked, naming it by description and hint,
// even when two tokens share a description; nothing happens until yes.
func TestConfirmationsNameTheTokenAtTheToken(t *testing.T) {
	s := newSite(t)
	admin := s.principal("admin@example.com")
	a := s.issue(admin, apitoken.IssueRequest{Description: "ci deploy bot"})
	twin := s.issue(admin, apitoken.IssueRequest{Description: "ci deploy bot"})
	b := s.browser()
	b.signIn("admin@example.com", "admin password")
	for _, tc := range []struct {
		action string
		form   url.Values
		words  string
	}{
		{"retire", url.Values{}, "Retire"},
		{"rotate", url.Values{"grace": {"24h"}}, "1 day"},
		{"promote", url.Values{}, "account token"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			status, body := b.post("/tokens/"+twin.Token.ID+"/"+tc.action, tc.form, "same-origin")
			if status != 200 {
				t.Fatalf("%d", status)
			}
			row := body[strings.Index(body, `id="token-`+twin.Token.ID+`"`):]
			row = row[:strings.Index(row, "</tbody>")]
			q := confirmQ.FindStringSubmatch(row)
			if q == nil {
				t.Fatalf("the confirmation is not in the twin's row")
			}
			question := html.UnescapeString(q[1])
			if !strings.Contains(question, "ci deploy bot") || !strings.Contains(question, twin.Token.Hint) || !strings.Contains(question, tc.words) {
				t.Fatalf("the question %q does not name the token (%s)", question, twin.Token.Hint)
			}
			if strings.Count(body, `id="confirm"`) != 1 {
				t.Fatal("more than one confirmation")
			}
		})
	}
	if got, err := s.m.Get(ctx, admin, twin.Token.ID); err != nil || got.Owner != apitoken.OwnerUser {
		t.Fatalf("asking changed the token: %+v, %v", got, err)
	}
	if _, err := s.m.Verify(ctx, twin.Secret, ""); err != nil {
		t.Fatalf("asking to rotate or retire changed the secret: %v", err)
	}
	status, body := b.post("/tokens/"+twin.Token.ID+"/retire", url.Values{"confirm": {"yes"}}, "same-origin")
	if status != 200 || !strings.Contains(body, twin.Token.Hint) || !strings.Contains(body, "Revoked") {
		t.Fatalf("after retiring: %d, the notice does not name the token", status)
	}
	if _, err := s.m.Verify(ctx, a.Secret, ""); err != nil {
		t.Fatalf("the other token of the same name stopped: %v", err)
	}
}

// TestFiltersSearchAndApprovals: an admin's filters, a search, a user
// who asks for the account's tokens and gets only theirs, and the
// applications waiting for approval at the top.
func TestFiltersSearchAndApprovals(t *testing.T) {
	s := newSite(t)
	admin, dev := s.principal("admin@example.com"), s.principal("dev@example.com")
	s.issue(admin, apitoken.IssueRequest{Description: "admin's own"})
	s.issue(admin, apitoken.IssueRequest{Description: "shared export", Owner: apitoken.OwnerAccount})
	waiting := s.issue(dev, apitoken.IssueRequest{Description: "dev's deploy", DefaultAppState: apitoken.Pending})
	if _, err := s.m.Verify(ctx, waiting.Secret, "grafana"); err == nil {
		t.Fatal("a pending app was accepted")
	}
	ab := s.browser()
	ab.signIn("admin@example.com", "admin password")
	db := s.browser()
	db.signIn("dev@example.com", "dev password")
	for _, tc := range []struct {
		name string
		b    *browser
		path string
		want []string
	}{
		{"an admin sees all by default", ab, "/", []string{"dev&#39;s deploy", "shared export", "admin&#39;s own"}},
		{"an admin's own", ab, "/?show=mine", []string{"admin&#39;s own"}},
		{"the account's", ab, "/?show=account", []string{"shared export"}},
		{"a search", ab, "/?q=EXPORT", []string{"shared export"}},
		{"a search that finds nothing", ab, "/?q=nothing", nil},
		{"a user asking for the account's gets their own", db, "/?show=account", []string{"dev&#39;s deploy"}},
		{"a user asking for all gets their own", db, "/?show=all", []string{"dev&#39;s deploy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, body := tc.b.get(tc.path)
			var got []string
			for _, d := range descRE.FindAllStringSubmatch(body, -1) {
				got = append(got, d[1])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("rows %q, want %q", got, tc.want)
			}
		})
	}
	for _, b := range []*browser{ab, db} {
		_, body := b.get("/")
		if !strings.Contains(body, "1 application is waiting for your approval") || !strings.Contains(body, `data-app="grafana"`) || !strings.Contains(body, `aria-label="Allow grafana on `+waiting.Token.Hint+`"`) {
			t.Fatalf("the waiting application is not announced at the top:\n%s", body)
		}
	}
	status, _ := db.post("/tokens/"+waiting.Token.ID+"/apps", url.Values{"app": {"grafana"}, "state": {"allow"}, "back": {"show=mine&q=deploy"}}, "same-origin")
	if status != 200 {
		t.Fatalf("allowing: %d", status)
	}
	if _, err := s.m.Verify(ctx, waiting.Secret, "grafana"); err != nil {
		t.Fatalf("after allowing: %v", err)
	}
	if _, body := db.get("/"); strings.Contains(body, "waiting for your approval") {
		t.Fatal("the banner stays after allowing")
	}
}

// TestTheAccountArea: who is signed in, the QR code from the hook, the
// MFA confirm step, the password change with the current password, and
// "sign out everywhere else".
func TestTheAccountArea(t *testing.T) {
	s := newSite(t)
	var qrText string
	srv := httptest.NewServer(tokenpage.New(s.m, &tokenpage.Options{Login: s.l, QRCode: func(text string) ([][]bool, error) {
		qrText = text
		return [][]bool{{true, false}, {false, true}}, nil
	}}))
	t.Cleanup(srv.Close)
	s.srv = srv
	other := s.principal("dev@example.com") // another session of dev's
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	status, body := b.get("/account")
	if status != 200 || !strings.Contains(body, `id="who-name">dev@example.com<`) || strings.Count(body, `class="session"`) != 2 {
		t.Fatalf("account: %d, want who is signed in and two sessions\n%s", status, body)
	}
	_, body = b.post("/account/mfa/enrol", nil, "same-origin")
	secret := regexp.MustCompile(`id="mfa-secret" type="text" readonly value="([A-Z2-7]+)"`).FindStringSubmatch(body)
	if secret == nil || !strings.Contains(body, `<svg class="qr"`) || !strings.Contains(body, `d="M4 4h1v1h-1zM5 5h1v1h-1z"`) || !strings.HasPrefix(qrText, "otpauth://") {
		t.Fatalf("enrolment shows no key or QR code (hook saw %q)\n%s", qrText, body)
	}
	key, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret[1])
	if status, body := b.post("/account/mfa/confirm", url.Values{"code": {"000000"}}, "same-origin"); status != http.StatusUnauthorized && status != http.StatusBadRequest || !strings.Contains(body, "not valid") {
		t.Fatalf("a wrong code: %d", status)
	}
	if status, body := b.post("/account/mfa/confirm", url.Values{"code": {login.TOTPCode(key, time.Now())}}, "same-origin"); status != 200 || !strings.Contains(body, "Two-factor authentication is on") {
		t.Fatalf("confirming: %d\n%s", status, body)
	}
	if _, err := s.m.Sessions(ctx, other); err == nil {
		t.Fatal("turning MFA on kept dev's other session")
	}
	if status, body := b.post("/account/password", url.Values{"current_password": {"wrong"}, "new_password": {"new dev password"}, "repeat_password": {"new dev password"}}, "same-origin"); status != http.StatusUnauthorized || !strings.Contains(body, "current password is not right") {
		t.Fatalf("a wrong current password: %d", status)
	}
	if status, body := b.post("/account/password", url.Values{"current_password": {"dev password"}, "new_password": {"new dev password"}, "repeat_password": {"other"}}, "same-origin"); status != http.StatusBadRequest || !strings.Contains(body, "differ") {
		t.Fatalf("a repetition that differs: %d", status)
	}
	status, body = b.post("/account/password", url.Values{"current_password": {"dev password"}, "new_password": {"new dev password"}, "repeat_password": {"new dev password"}}, "same-origin")
	if status != 200 || !strings.Contains(body, `id="unlock"`) && !strings.Contains(body, "Password changed") {
		t.Fatalf("changing the password: %d\n%s", status, body)
	}
	if _, err := s.l.Login(ctx, "dev@example.com", "new dev password", netipZero); err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// Sign out everywhere else, as the admin with no MFA.
	third := s.principal("admin@example.com")
	ab := s.browser()
	ab.signIn("admin@example.com", "admin password")
	if status, body := ab.post("/account/sessions/end-others", nil, "same-origin"); status != 200 || !strings.Contains(body, "Signed out everywhere else") || strings.Count(body, `class="session"`) != 1 {
		t.Fatalf("sign out everywhere else: %d\n%s", status, body)
	}
	if _, err := s.m.Sessions(ctx, third); err == nil {
		t.Fatal("another session of the admin survived")
	}
	if status, _ := ab.get("/"); status != 200 {
		t.Fatalf("this session ended too: %d", status)
	}
}

func TestRelativeTimes(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{now.Add(-20 * time.Second), "just now"},
		{now.Add(-5 * time.Minute), "5 minutes ago"},
		{now.Add(59*time.Minute + 50*time.Second), "in 1 hour"},
		{now.Add(-25 * time.Hour), "1 day ago"},
		{now.Add(90 * 24 * time.Hour), "in 3 months"},
		{now.Add(365 * 24 * time.Hour), "in 1 year"},
		{now.Add(10*365*24*time.Hour - time.Minute), "in 10 years"},
	} {
		if got := tokenpage.Relative(now, tc.t); got != tc.want {
			t.Errorf("%v from now: %q, want %q", tc.t.Sub(now), got, tc.want)
		}
	}
}

// TestTextFromUsersIsEscaped: a description, an application name and a
// search reach the page as text, never as markup, in every place they are
// shown (the table, the approvals, a confirmation, the empty search).
func TestTextFromUsersIsEscaped(t *testing.T) {
	s := newSite(t)
	dev := s.principal("dev@example.com")
	const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>"'`
	iss := s.issue(dev, apitoken.IssueRequest{Description: evil, DefaultAppState: apitoken.Pending})
	s.m.Verify(ctx, iss.Secret, "<b>app</b>")
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	_, home := b.get("/")
	_, confirm := b.post("/tokens/"+iss.Token.ID+"/retire", url.Values{"back": {"q=" + evil}}, "same-origin")
	_, search := b.get("/?q=" + url.QueryEscape(evil))
	for name, page := range map[string]string{"home": home, "confirm": confirm, "search": search} {
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>app</b>"} {
			if strings.Contains(page, raw) {
				t.Errorf("%s: %q reached the page as markup", name, raw)
			}
		}
	}
	if !strings.Contains(home, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(home, "&lt;b&gt;app&lt;/b&gt;") {
		t.Fatal("the escaped text is missing from the page")
	}
}
