package tokenpage_test

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/login"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/migrate"
	"github.com/apitoken/apitoken/storetest"
	"github.com/apitoken/apitoken/tokenpage"
)

// bigAccount is the page over account acme of a Counting store holding n
// API tokens put in through the store's importer (issuing thousands
// through the Manager would be slow and pass the per-user cap): token i
// (1 is the oldest) is the admin's, dev's or the account's in turn, and
// tweak may change it. The page is viewed as the admin.
type bigAccount struct {
	h      http.Handler
	c      *storetest.Counting
	m      *apitoken.Manager
	cookie string
}

func newBigAccount(tb testing.TB, st apitoken.Store, n int, tweak func(i int, t *apitoken.Token)) *bigAccount {
	tb.Helper()
	c := storetest.NewCounting(st)
	m, err := apitoken.New(c, &apitoken.Options{HashKey: []byte("tokenpage test key, 32 bytes....")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	admin, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "admin@example.com", Role: apitoken.Admin})
	if err != nil {
		tb.Fatal(err)
	}
	dev, err := m.AddUser(ctx, apitoken.NewUser{Account: "acme", Name: "dev@example.com", Role: apitoken.Normal})
	if err != nil {
		tb.Fatal(err)
	}
	var batch []*apitoken.Token
	for i := 1; i <= n; i++ {
		tk := storetest.Token(i, "acme", []string{admin.ID, dev.ID, ""}[i%3])
		tk.Version, tk.Description = 1, fmt.Sprintf("token %05d", i)
		if tweak != nil {
			tweak(i, tk)
		}
		batch = append(batch, tk)
		if len(batch) == 5000 || i == n {
			if _, err := st.(migrate.Importer).ImportTokens(ctx, batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	l, err := m.StartSession(ctx, admin.ID)
	if err != nil {
		tb.Fatal(err)
	}
	logins, err := login.New(m, c, nil) // the page's default way in
	if err != nil {
		tb.Fatal(err)
	}
	return &bigAccount{h: tokenpage.New(m, &tokenpage.Options{Login: logins}), c: c, m: m, cookie: l.Secret}
}

// get serves path to the admin and returns the page and how many records
// the store's listings returned for it.
func (a *bigAccount) get(tb testing.TB, path string) (string, int64) {
	tb.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: "apitoken_session", Value: a.cookie})
	rec := httptest.NewRecorder()
	before := a.c.Listed()
	a.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		tb.Fatalf("%s: status %d", path, rec.Code)
	}
	return rec.Body.String(), a.c.Listed() - before
}

var (
	newerRE  = regexp.MustCompile(`href="([^"]*)" id="newer"`)
	newestRE = regexp.MustCompile(`href="([^"]*)" id="newest"`)
)

func link(re *regexp.Regexp, body string) string {
	if m := re.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func descs(body string) []string {
	var out []string
	for _, d := range descRE.FindAllStringSubmatch(body, -1) {
		out = append(out, d[1])
	}
	return out
}

// TestAViewReadsAboutOnePage: over 3,000 tokens, the first page reads the
// banner's 1,000 newest (its rows among them), an older page that plus
// about a page, and the "Older" links walk every token once, newest
// first, while "Newer" walks back through the same pages and "Newest"
// returns to the first. Before the store could list newest first, every
// view read all 3,000.
func TestAViewReadsAboutOnePage(t *testing.T) {
	const n = 3000
	a := newBigAccount(t, memstore.New(), n, nil)
	var pages [][]string
	path := "/"
	for path != "" {
		body, read := a.get(t, path)
		limit := int64(1001) // the banner's call: 1,000 and one to see more
		if len(pages) > 0 {
			limit += 26 + 1 // a page, one more to see an older page, one to see more
		}
		if read > limit {
			t.Fatalf("page %d read %d records, want at most %d", len(pages)+1, read, limit)
		}
		rows := descs(body)
		if len(rows) != 25 {
			t.Fatalf("page %d has %d rows", len(pages)+1, len(rows))
		}
		pages = append(pages, rows)
		if len(pages) >= 3 && link(newestRE, body) != "/?show=all" {
			t.Fatalf("page %d has no link to the newest: %q", len(pages), link(newestRE, body))
		}
		path = link(olderRE, body)
		if len(pages) == 4 {
			break // enough to show the cost does not grow
		}
	}
	var all []string
	for _, p := range pages {
		all = append(all, p...)
	}
	for i, d := range all {
		if want := fmt.Sprintf("token %05d", n-i); d != want {
			t.Fatalf("row %d is %q, want %q: not newest first, every token once", i, d, want)
		}
	}
	// Back through "Newer": the same pages, in reverse.
	body := mustGet(t, a, pages, 3)
	if first, _ := a.get(t, link(newestRE, body)); !slices.Equal(descs(first), pages[0]) {
		t.Fatalf("Newest from page 4 shows %q", descs(first))
	}
	for i := 3; i >= 1; i-- {
		path := link(newerRE, body)
		if path == "" {
			t.Fatalf("page %d has no Newer link", i+1)
		}
		var read int64
		body, read = a.get(t, path)
		if got := descs(body); !slices.Equal(got, pages[i-1]) {
			t.Fatalf("Newer from page %d shows %q, want page %d's %q", i+1, got, i, pages[i-1])
		}
		if read > 1001+26+1 {
			t.Fatalf("a Newer view read %d records", read)
		}
	}
	if link(newerRE, body) != "" || link(olderRE, body) == "" {
		t.Fatal("back on the first page, it still offers Newer, or no longer Older")
	}
}

// mustGet returns the body of page i (0-based) reached through Older
// links from the first.
func mustGet(t *testing.T, a *bigAccount, pages [][]string, i int) string {
	t.Helper()
	body, _ := a.get(t, "/")
	for range i {
		body, _ = a.get(t, link(olderRE, body))
	}
	if got := descs(body); !slices.Equal(got, pages[i]) {
		t.Fatalf("page %d changed: %q", i+1, got)
	}
	return body
}

// TestASearchReadsOnInBoundedSteps: a search that matches only the
// oldest of 7,000 tokens stops after a bounded read, says so and offers
// "Older" to read on; that finds it. A cursor the Manager did not make
// shows the first page.
func TestASearchReadsOnInBoundedSteps(t *testing.T) {
	const n = 7000
	a := newBigAccount(t, memstore.New(), n, func(i int, tk *apitoken.Token) {
		if i == 1 {
			tk.Description = "the needle"
		}
	})
	// Each listing call reads one record more than it returns, to see
	// whether more follow: a dozen calls here.
	body, read := a.get(t, "/?q=needle")
	if len(descs(body)) != 0 || !strings.Contains(body, `id="truncated"`) || read > 1001+5000+12 {
		t.Fatalf("the first view: rows %q, read %d, truncated notice: %v", descs(body), read, strings.Contains(body, `id="truncated"`))
	}
	body, read = a.get(t, link(olderRE, body))
	if got := descs(body); !slices.Equal(got, []string{"the needle"}) || strings.Contains(body, `id="truncated"`) || link(olderRE, body) != "" || read > 1001+1000+12 {
		t.Fatalf("reading on: rows %q, read %d, older %q", got, read, link(olderRE, body))
	}
	for _, path := range []string{"/?before=AAAA", "/?after=AAAA", "/?before=" + strings.Repeat("A", 129), "/?after=" + strings.TrimPrefix(link(olderRE, mustFirst(t, a)), "/?before=")} {
		body, _ := a.get(t, path)
		if got := descs(body); len(got) != 25 || got[0] != fmt.Sprintf("token %05d", n) || link(newerRE, body) != "" {
			t.Fatalf("%s: rows from %q, newer %q; want the first page", path, got, link(newerRE, body))
		}
	}
}

// mustFirst returns the first page with no filter.
func mustFirst(t *testing.T, a *bigAccount) string {
	t.Helper()
	body, _ := a.get(t, "/?show=all")
	return body
}

// TestTheBannerReadsTheNewestTokens: applications waiting on the newest
// 1,000 tokens are announced on every page; one waiting on an older token
// is not, the banner says how far it looked, and that token's row still
// shows it.
func TestTheBannerReadsTheNewestTokens(t *testing.T) {
	const n = 1500
	a := newBigAccount(t, memstore.New(), n, func(i int, tk *apitoken.Token) {
		if name := map[int]string{1400: "grafana", 10: "jenkins"}[i]; name != "" {
			tk.Apps = []apitoken.App{{Name: name, State: apitoken.Pending, FirstSeen: tk.Created, LastSeen: tk.Created}}
		}
	})
	first, _ := a.get(t, "/")
	second, _ := a.get(t, link(olderRE, first))
	for name, body := range map[string]string{"first": first, "second": second} {
		if !strings.Contains(body, "1 application is waiting for your approval") || !strings.Contains(body, `data-app="grafana"`) ||
			strings.Contains(body, `data-app="jenkins"`) || !strings.Contains(body, `id="pending-scanned"`) {
			t.Fatalf("the %s page's banner is wrong:\n%s", name, body)
		}
	}
	body, _ := a.get(t, "/?q=token+00010")
	if got := descs(body); !slices.Equal(got, []string{"token 00010"}) || !strings.Contains(body, "1 waiting") {
		t.Fatalf("the old token's row: %q, waiting badge: %v", got, strings.Contains(body, "1 waiting"))
	}
}

// Tokens that stop within a week carry a badge in their row, and a banner
// above the table counts them; with none, there is neither.
func TestTokensAboutToExpireAreMarkedAndCounted(t *testing.T) {
	soon := map[int]bool{10: true, 20: true, 30: true}
	a := newBigAccount(t, memstore.New(), 30, func(i int, tk *apitoken.Token) {
		switch {
		case soon[i]:
			tk.Expires = time.Now().Add(3 * 24 * time.Hour)
		case i == 7:
			tk.Expires = time.Now().Add(10 * 24 * time.Hour) // beyond the week
		}
	})
	page, _ := a.get(t, "/")
	if !strings.Contains(page, `id="expiring"`) || !strings.Contains(page, "3 tokens expire within 7 days") {
		t.Fatalf("no banner counting 3 tokens:\n%s", page)
	}
	rows := regexp.MustCompile(`(?s)<tr[^>]*>.*?</tr>`).FindAllString(page, -1)
	marked := 0
	for _, r := range rows {
		if !strings.Contains(r, "Expires soon") {
			continue
		}
		marked++
		ok := false
		for i := range soon {
			ok = ok || strings.Contains(r, fmt.Sprintf("token %05d", i))
		}
		if !ok {
			t.Errorf("a row marked as expiring soon is not one of 10, 20, 30:\n%s", r)
		}
	}
	if marked != len(soon) {
		t.Fatalf("%d rows marked, want %d", marked, len(soon))
	}

	one := newBigAccount(t, memstore.New(), 5, func(i int, tk *apitoken.Token) {
		if i == 2 {
			tk.Expires = time.Now().Add(time.Hour)
		}
	})
	if page, _ := one.get(t, "/"); !strings.Contains(page, "1 token expires within 7 days") {
		t.Fatalf("no banner for one token:\n%s", page)
	}
	none := newBigAccount(t, memstore.New(), 5, nil)
	if page, _ := none.get(t, "/"); strings.Contains(page, `id="expiring"`) || strings.Contains(page, "Expires soon") {
		t.Fatalf("a banner or badge with no token about to expire:\n%s", page)
	}
}

// Under an account's expiry rule the create step offers only lifetimes
// within its maximum, and a posted one beyond it is refused with the rule.
func TestTheCreateStepFollowsTheAccountsExpiryRule(t *testing.T) {
	s := newSiteWith(t, func(o *apitoken.Options) {
		o.ExpiryPolicy = func(account string) (time.Duration, bool) {
			if account == "acme" {
				return 30 * 24 * time.Hour, true
			}
			return 0, false
		}
	})
	b := s.browser()
	b.signIn("dev@example.com", "dev password")
	_, body := b.get("/new")
	if !strings.Contains(body, "7 days") || !strings.Contains(body, "30 days") || strings.Contains(body, "90 days") || strings.Contains(body, "1 year") {
		t.Fatalf("the create step offers lifetimes beyond 30 days, or not those within:\n%s", body)
	}
	for _, form := range []url.Values{
		{"description": {"ci"}, "privilege": {"normal"}, "expires": {"2160h"}},
		{"description": {"ci"}, "privilege": {"normal"}},
		{"description": {"ci"}, "privilege": {"normal"}, "expires": {"custom"}, "expires_on": {time.Now().UTC().Add(60 * 24 * time.Hour).Format("2006-01-02")}},
	} {
		status, body := b.post("/tokens", form, "same-origin")
		if status != 400 || secretRE.MatchString(body) || !strings.Contains(body, "30 days") && !strings.Contains(body, "longest lifetime") {
			t.Fatalf("%v: %d, want a refusal naming the rule\n%s", form, status, body)
		}
	}
	status, body := b.post("/tokens", url.Values{"description": {"ci"}, "privilege": {"normal"}, "expires": {"720h"}}, "same-origin")
	if status != 200 || !secretRE.MatchString(body) {
		t.Fatalf("30 days: %d\n%s", status, body)
	}
}
